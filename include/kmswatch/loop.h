/*
 * The engine's event loop: epoll for file descriptors, a timer heap, signals
 * through signalfd, and a thread-safe queue (woken by an eventfd) through which
 * other threads hand work to the engine. Only loop.c includes sys/epoll.h.
 */
#ifndef KMSWATCH_LOOP_H
#define KMSWATCH_LOOP_H

#include <stdint.h>

#define LOOP_READ  0x1u
#define LOOP_WRITE 0x2u
#define LOOP_ERROR 0x4u /* reported only: error or hang-up on the descriptor */

struct loop;
struct loop_timer;

typedef void (*loop_io_cb)(struct loop *l, int fd, unsigned events, void *arg);
typedef void (*loop_timer_cb)(struct loop *l, void *arg);
typedef void (*loop_signal_cb)(struct loop *l, int signo, void *arg);
typedef void (*loop_job_cb)(struct loop *l, void *arg);

/* Creates a loop; returns NULL with errno set. Caller frees with loop_free. */
struct loop *loop_new(void);
void loop_free(struct loop *l);

/* Watches fd for the given LOOP_READ/LOOP_WRITE events. Events for an fd that
 * was removed, or removed and re-added, during one poll round are dropped. */
int loop_fd_add(struct loop *l, int fd, unsigned events, loop_io_cb cb, void *arg);
int loop_fd_modify(struct loop *l, int fd, unsigned events);
void loop_fd_remove(struct loop *l, int fd);

/* One-shot timer; the handle is valid until the callback runs or the timer is
 * cancelled, whichever comes first. */
struct loop_timer *loop_timer_add(struct loop *l, uint64_t delay_ms, loop_timer_cb cb, void *arg);
void loop_timer_cancel(struct loop *l, struct loop_timer *t);

/* Blocks the signals and delivers them through the loop. */
int loop_signals(struct loop *l, const int *signals, int n, loop_signal_cb cb, void *arg);

/* Thread-safe: queues cb(arg) to run on the loop's thread. */
int loop_post(struct loop *l, loop_job_cb cb, void *arg);

/* Runs until loop_stop; returns 0, or -1 on an epoll failure. */
int loop_run(struct loop *l);
void loop_stop(struct loop *l);

/* Monotonic milliseconds, refreshed once per poll round. */
uint64_t loop_now(struct loop *l);
/* Wall clock, in seconds since the epoch, with sub-second precision. */
double loop_wall_time(void);
/* Monotonic milliseconds and microseconds read now. */
uint64_t loop_monotonic_ms(void);
uint64_t loop_monotonic_us(void);

#endif
