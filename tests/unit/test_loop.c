/*
 * Unit tests for the event loop: timer order and cancellation, timers added
 * by callbacks, jobs posted from other threads, descriptor events (including
 * one removed by another descriptor's callback in the same round), signals
 * through signalfd, and what runs after loop_stop.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kmswatch/loop.h"

#define ARRAY_LEN(a)    (sizeof(a) / sizeof((a)[0]))
#define SAFETY_MS       5000
#define MAX_EVENTS_SEEN 64

static struct loop *loop;

static void
setup(void)
{
	loop = loop_new();
	cr_assert_not_null(loop, "loop_new: %s", strerror(errno));
}

static void
teardown(void)
{
	loop_free(loop);
	loop = NULL;
}

TestSuite(loop, .init = setup, .fini = teardown, .timeout = 30);

/* The order in which callbacks ran, by id. */
struct trace {
	int ids[MAX_EVENTS_SEEN];
	size_t n;
};

static void
trace_add(struct trace *t, int id)
{
	cr_assert_lt(t->n, ARRAY_LEN(t->ids), "too many events");
	t->ids[t->n++] = id;
}

struct tagged {
	struct trace *trace;
	int id;
	bool stop; /* stop the loop after recording */
};

static void
on_tagged_timer(struct loop *l, void *arg)
{
	struct tagged *t = arg;
	trace_add(t->trace, t->id);
	if (t->stop)
		loop_stop(l);
}

static void
on_safety(struct loop *l, void *arg)
{
	bool *expired = arg;
	*expired = true;
	loop_stop(l);
}

/* Runs the loop until a callback stops it, failing after SAFETY_MS. */
static void
run_loop(void)
{
	bool expired = false;
	struct loop_timer *safety = loop_timer_add(loop, SAFETY_MS, on_safety, &expired);
	cr_assert_eq(loop_run(loop), 0);
	cr_assert_not(expired, "the loop was not stopped within %d ms", SAFETY_MS);
	loop_timer_cancel(loop, safety);
}

Test(loop, timers_fire_in_due_order)
{
	static const uint64_t delays[] = {60, 20, 40, 20, 0, 80};
	static const int want[] = {4, 1, 3, 2, 0, 5};
	struct trace tr = {.n = 0};
	struct tagged tags[ARRAY_LEN(delays)];
	for (size_t i = 0; i < ARRAY_LEN(delays); i++) {
		tags[i] = (struct tagged){.trace = &tr, .id = (int)i, .stop = false};
		loop_timer_add(loop, delays[i], on_tagged_timer, &tags[i]);
	}
	tags[5].stop = true;
	uint64_t t0 = loop_monotonic_ms();
	run_loop();
	cr_assert_geq(loop_monotonic_ms() - t0, 80, "the last timer fired early");
	cr_assert_eq(tr.n, ARRAY_LEN(want));
	cr_assert_arr_eq(tr.ids, want, sizeof(want));
}

/* Timers with the same due time fire in the order they were added. */
Test(loop, equal_due_times_in_insertion_order)
{
	struct trace tr = {.n = 0};
	struct tagged tags[48];
	for (size_t i = 0; i < ARRAY_LEN(tags); i++) {
		tags[i] = (struct tagged){.trace = &tr, .id = (int)i, .stop = false};
		loop_timer_add(loop, 5, on_tagged_timer, &tags[i]);
	}
	struct tagged last = {.trace = &tr, .id = 1000, .stop = true};
	loop_timer_add(loop, 20, on_tagged_timer, &last);
	run_loop();
	cr_assert_eq(tr.n, ARRAY_LEN(tags) + 1);
	for (size_t i = 0; i < ARRAY_LEN(tags); i++)
		cr_assert_eq(tr.ids[i], (int)i, "position %zu holds timer %d", i, tr.ids[i]);
}

/*
 * Many timers at a few due times, added in a scrambled order, with every
 * third one cancelled: the heap must still hand them out by (due, insertion).
 */
Test(loop, heap_order_with_cancellations)
{
	enum { N = 60 };
	static struct tagged tags[N];
	struct loop_timer *handles[N];
	struct trace tr = {.n = 0};
	int bucket[N];
	uint32_t x = 12345;
	uint64_t t0 = loop_monotonic_ms();
	for (int i = 0; i < N; i++) {
		x = x * 1103515245u + 12345u;
		bucket[i] = (int)((x >> 16) % 4);
		tags[i] = (struct tagged){.trace = &tr, .id = i, .stop = false};
		handles[i] =
		    loop_timer_add(loop, 30 + (uint64_t)bucket[i] * 30, on_tagged_timer, &tags[i]);
	}
	for (int i = 0; i < N; i += 3)
		loop_timer_cancel(loop, handles[i]);
	if (loop_monotonic_ms() - t0 >= 25)
		cr_skip_test("adding the timers took too long to keep due times apart");
	struct tagged last = {.trace = &tr, .id = 1000, .stop = true};
	loop_timer_add(loop, 200, on_tagged_timer, &last);
	run_loop();

	int want[N];
	size_t n = 0;
	for (int b = 0; b < 4; b++)
		for (int i = 0; i < N; i++)
			if (i % 3 != 0 && bucket[i] == b)
				want[n++] = i;
	cr_assert_eq(tr.n, n + 1);
	cr_assert_arr_eq(tr.ids, want, n * sizeof(int));
	cr_assert_eq(tr.ids[n], 1000);
}

Test(loop, cancelled_timer_never_fires)
{
	struct trace tr = {.n = 0};
	struct tagged a = {.trace = &tr, .id = 1, .stop = false};
	struct tagged b = {.trace = &tr, .id = 2, .stop = false};
	struct tagged c = {.trace = &tr, .id = 3, .stop = true};
	struct loop_timer *ta = loop_timer_add(loop, 0, on_tagged_timer, &a);
	loop_timer_add(loop, 10, on_tagged_timer, &b);
	struct loop_timer *tc = loop_timer_add(loop, 20, on_tagged_timer, &c);
	loop_timer_cancel(loop, ta);
	loop_timer_cancel(loop, NULL);
	/* Cancelling the one that would stop the loop, then adding it back later. */
	loop_timer_cancel(loop, tc);
	loop_timer_add(loop, 40, on_tagged_timer, &c);
	run_loop();
	cr_assert_eq(tr.n, 2);
	cr_assert_eq(tr.ids[0], 2);
	cr_assert_eq(tr.ids[1], 3);
}

/* A timer cancelled by the callback of another timer due in the same round. */
struct canceller {
	struct trace *trace;
	struct loop_timer *victim;
};

static void
on_cancel_other(struct loop *l, void *arg)
{
	struct canceller *c = arg;
	trace_add(c->trace, 1);
	loop_timer_cancel(l, c->victim);
}

Test(loop, timer_cancelled_by_earlier_timer_in_same_round)
{
	struct trace tr = {.n = 0};
	struct canceller c = {.trace = &tr, .victim = NULL};
	struct tagged victim = {.trace = &tr, .id = 2, .stop = false};
	struct tagged stop = {.trace = &tr, .id = 3, .stop = true};
	loop_timer_add(loop, 5, on_cancel_other, &c);
	c.victim = loop_timer_add(loop, 5, on_tagged_timer, &victim);
	loop_timer_add(loop, 30, on_tagged_timer, &stop);
	run_loop();
	cr_assert_eq(tr.n, 2);
	cr_assert_eq(tr.ids[0], 1);
	cr_assert_eq(tr.ids[1], 3);
}

/*
 * A zero-delay timer added by a callback waits for the next round: a pipe
 * made readable by the first timer is served before the new timer fires.
 */
struct round_ctx {
	struct trace trace;
	int pipe[2];
};

static void
on_second_timer(struct loop *l, void *arg)
{
	struct round_ctx *c = arg;
	trace_add(&c->trace, 3);
	loop_stop(l);
}

static void
on_first_timer(struct loop *l, void *arg)
{
	struct round_ctx *c = arg;
	trace_add(&c->trace, 1);
	cr_assert_eq(write(c->pipe[1], "x", 1), 1);
	loop_timer_add(l, 0, on_second_timer, c);
}

static void
on_round_pipe(struct loop *l, int fd, unsigned events, void *arg)
{
	(void)l;
	struct round_ctx *c = arg;
	char ch;
	cr_assert(events & LOOP_READ);
	cr_assert_eq(read(fd, &ch, 1), 1);
	trace_add(&c->trace, 2);
}

Test(loop, zero_delay_timer_from_callback_fires_next_round)
{
	struct round_ctx c = {.trace = {.n = 0}};
	cr_assert_eq(pipe2(c.pipe, O_NONBLOCK | O_CLOEXEC), 0);
	cr_assert_eq(loop_fd_add(loop, c.pipe[0], LOOP_READ, on_round_pipe, &c), 0);
	loop_timer_add(loop, 0, on_first_timer, &c);
	run_loop();
	static const int want[] = {1, 2, 3};
	cr_assert_eq(c.trace.n, 3);
	cr_assert_arr_eq(c.trace.ids, want, sizeof(want));
	loop_fd_remove(loop, c.pipe[0]);
	close(c.pipe[0]);
	close(c.pipe[1]);
}

/* A timer that keeps re-adding itself with delay 0 cannot starve a descriptor. */
struct starve_ctx {
	int rounds;
	bool fd_seen;
	int pipe[2];
};

static void
on_spin(struct loop *l, void *arg)
{
	struct starve_ctx *c = arg;
	if (c->fd_seen || ++c->rounds > 100000) {
		loop_stop(l);
		return;
	}
	loop_timer_add(l, 0, on_spin, c);
}

static void
on_starve_pipe(struct loop *l, int fd, unsigned events, void *arg)
{
	(void)l;
	(void)events;
	struct starve_ctx *c = arg;
	char ch;
	cr_assert_eq(read(fd, &ch, 1), 1);
	c->fd_seen = true;
}

Test(loop, zero_delay_timer_chain_does_not_starve_fds)
{
	struct starve_ctx c = {.rounds = 0, .fd_seen = false};
	cr_assert_eq(pipe2(c.pipe, O_NONBLOCK | O_CLOEXEC), 0);
	cr_assert_eq(loop_fd_add(loop, c.pipe[0], LOOP_READ, on_starve_pipe, &c), 0);
	loop_timer_add(loop, 0, on_spin, &c);
	cr_assert_eq(write(c.pipe[1], "x", 1), 1);
	run_loop();
	cr_assert(c.fd_seen);
	cr_assert_leq(c.rounds, 3, "descriptor waited %d timer rounds", c.rounds);
	loop_fd_remove(loop, c.pipe[0]);
	close(c.pipe[0]);
	close(c.pipe[1]);
}

/* Posting jobs. */

struct post_ctx {
	pthread_t loop_thread;
	pthread_t ran_on;
	int runs;
};

static void
on_job(struct loop *l, void *arg)
{
	struct post_ctx *c = arg;
	c->ran_on = pthread_self();
	c->runs++;
	loop_stop(l);
}

static void *
post_thread(void *arg)
{
	struct post_ctx *c = arg;
	/* Give the loop time to block in epoll_wait, so the eventfd must wake it. */
	usleep(50 * 1000);
	if (loop_post(loop, on_job, c) != 0)
		return (void *)1;
	return NULL;
}

Test(loop, post_from_thread_runs_on_loop_thread)
{
	struct post_ctx c = {.loop_thread = pthread_self(), .runs = 0};
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, post_thread, &c), 0);
	run_loop();
	void *rv;
	cr_assert_eq(pthread_join(t, &rv), 0);
	cr_assert_null(rv, "loop_post failed");
	cr_assert_eq(c.runs, 1);
	cr_assert(pthread_equal(c.ran_on, c.loop_thread), "the job ran off the loop thread");
	cr_assert_not(pthread_equal(c.ran_on, t));
}

enum { POST_THREADS = 4, POSTS_PER_THREAD = 250, POSTS = POST_THREADS * POSTS_PER_THREAD };

struct many_ctx {
	pthread_t loop_thread;
	int runs[POSTS];
	int total;
	bool off_thread;
};

struct poster {
	struct many_ctx *ctx;
	int first;
	/* Each job's argument, owned by the thread's slot so it outlives the post. */
	struct many_job {
		struct many_ctx *ctx;
		int index;
	} jobs[POSTS_PER_THREAD];
};

static void
on_many_job(struct loop *l, void *arg)
{
	struct many_job *j = arg;
	struct many_ctx *c = j->ctx;
	if (!pthread_equal(pthread_self(), c->loop_thread))
		c->off_thread = true;
	c->runs[j->index]++;
	if (++c->total == POSTS)
		loop_stop(l);
}

static void *
many_thread(void *arg)
{
	struct poster *p = arg;
	for (int i = 0; i < POSTS_PER_THREAD; i++) {
		p->jobs[i] = (struct many_job){.ctx = p->ctx, .index = p->first + i};
		if (loop_post(loop, on_many_job, &p->jobs[i]) != 0)
			return (void *)1;
		if (i % 50 == 0)
			sched_yield();
	}
	return NULL;
}

Test(loop, thousand_posts_from_four_threads_run_once_each)
{
	static struct many_ctx c;
	static struct poster posters[POST_THREADS];
	pthread_t threads[POST_THREADS];
	memset(&c, 0, sizeof(c));
	c.loop_thread = pthread_self();
	for (int i = 0; i < POST_THREADS; i++) {
		posters[i] = (struct poster){.ctx = &c, .first = i * POSTS_PER_THREAD};
		cr_assert_eq(pthread_create(&threads[i], NULL, many_thread, &posters[i]), 0);
	}
	run_loop();
	for (int i = 0; i < POST_THREADS; i++) {
		void *rv;
		cr_assert_eq(pthread_join(threads[i], &rv), 0);
		cr_assert_null(rv, "loop_post failed in thread %d", i);
	}
	cr_assert_eq(c.total, POSTS);
	cr_assert_not(c.off_thread);
	for (int i = 0; i < POSTS; i++)
		cr_assert_eq(c.runs[i], 1, "job %d ran %d times", i, c.runs[i]);

	/* Nothing is left over: one more post runs alone. */
	struct post_ctx one = {.loop_thread = pthread_self(), .runs = 0};
	cr_assert_eq(loop_post(loop, on_job, &one), 0);
	run_loop();
	cr_assert_eq(one.runs, 1);
	cr_assert_eq(c.total, POSTS);
}

static void
on_never(struct loop *l, void *arg)
{
	(void)l;
	(void)arg;
	cr_assert_fail("callback ran after the loop was freed");
}

/* Jobs and timers still pending at loop_free are released (LeakSanitizer checks). */
Test(loop, free_releases_pending_jobs_and_timers)
{
	for (int i = 0; i < 10; i++) {
		cr_assert_eq(loop_post(loop, on_never, NULL), 0);
		loop_timer_add(loop, 100000 + (uint64_t)i, on_never, NULL);
	}
}

/* Descriptors. */

struct fd_ctx {
	int calls;
	unsigned events;
	int fd;
	bool stop;
};

static void
on_fd(struct loop *l, int fd, unsigned events, void *arg)
{
	struct fd_ctx *c = arg;
	c->calls++;
	c->events = events;
	c->fd = fd;
	if (c->stop)
		loop_stop(l);
}

Test(loop, pipe_read_event)
{
	int p[2];
	cr_assert_eq(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	struct fd_ctx c = {.calls = 0, .stop = true};
	cr_assert_eq(loop_fd_add(loop, p[0], LOOP_READ, on_fd, &c), 0);
	cr_assert_eq(write(p[1], "hi", 2), 2);
	run_loop();
	cr_assert_eq(c.calls, 1);
	cr_assert_eq(c.fd, p[0]);
	cr_assert(c.events & LOOP_READ);
	cr_assert_not(c.events & LOOP_WRITE);

	/* Closing the write end reports the hang-up. */
	char buf[4];
	cr_assert_eq(read(p[0], buf, sizeof(buf)), 2);
	close(p[1]);
	run_loop();
	cr_assert_eq(c.calls, 2);
	cr_assert(c.events & LOOP_ERROR);

	loop_fd_remove(loop, p[0]);
	close(p[0]);
}

Test(loop, pipe_write_event_and_modify)
{
	int p[2];
	cr_assert_eq(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	struct fd_ctx c = {.calls = 0, .stop = true};
	cr_assert_eq(loop_fd_add(loop, p[1], LOOP_WRITE, on_fd, &c), 0);
	run_loop();
	cr_assert_eq(c.calls, 1);
	cr_assert(c.events & LOOP_WRITE);
	cr_assert_not(c.events & LOOP_READ);

	/* Switched to reading only, an empty pipe's write end stays quiet. */
	cr_assert_eq(loop_fd_modify(loop, p[1], LOOP_READ), 0);
	struct trace tr = {.n = 0};
	struct tagged stop = {.trace = &tr, .id = 1, .stop = true};
	loop_timer_add(loop, 30, on_tagged_timer, &stop);
	run_loop();
	cr_assert_eq(c.calls, 1, "write end reported after switching to read only");

	loop_fd_remove(loop, p[1]);
	close(p[0]);
	close(p[1]);
}

Test(loop, bad_descriptors)
{
	struct fd_ctx c = {.calls = 0};
	errno = 0;
	cr_assert_eq(loop_fd_add(loop, -1, LOOP_READ, on_fd, &c), -1);
	cr_assert_eq(errno, EBADF);
	errno = 0;
	cr_assert_eq(loop_fd_modify(loop, 1000, LOOP_READ), -1);
	cr_assert_eq(errno, EBADF);
	errno = 0;
	cr_assert_eq(loop_fd_modify(loop, -3, LOOP_READ), -1);
	cr_assert_eq(errno, EBADF);
	/* Removing what is not watched is harmless. */
	loop_fd_remove(loop, -1);
	loop_fd_remove(loop, 1000);

	int p[2];
	cr_assert_eq(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	cr_assert_eq(loop_fd_add(loop, p[0], LOOP_READ, on_fd, &c), 0);
	/* Watching the same descriptor twice is refused. */
	cr_assert_eq(loop_fd_add(loop, p[0], LOOP_READ, on_fd, &c), -1);
	loop_fd_remove(loop, p[0]);
	cr_assert_eq(loop_fd_modify(loop, p[0], LOOP_READ), -1);
	loop_fd_remove(loop, p[0]);
	close(p[0]);
	close(p[1]);
}

/* A high descriptor number makes the watch table grow. */
Test(loop, high_descriptor_numbers)
{
	int p[2];
	cr_assert_eq(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	int high = fcntl(p[0], F_DUPFD_CLOEXEC, 700);
	cr_assert_geq(high, 700, "F_DUPFD: %s", strerror(errno));
	struct fd_ctx c = {.calls = 0, .stop = true};
	cr_assert_eq(loop_fd_add(loop, high, LOOP_READ, on_fd, &c), 0);
	cr_assert_eq(write(p[1], "x", 1), 1);
	run_loop();
	cr_assert_eq(c.calls, 1);
	cr_assert_eq(c.fd, high);
	loop_fd_remove(loop, high);
	close(high);
	close(p[0]);
	close(p[1]);
}

/*
 * Two readable pipes reported in the same round: whichever callback runs
 * first removes the other descriptor, whose event must then be dropped. A
 * zero-delay timer stops the loop after that round's descriptors.
 */
struct pair_ctx {
	int fds[2];
	int calls[2];
	bool readd;
	int readd_calls;
};

static void
on_readded(struct loop *l, int fd, unsigned events, void *arg)
{
	(void)l;
	(void)fd;
	(void)events;
	struct pair_ctx *c = arg;
	c->readd_calls++;
}

static void
on_pair(struct loop *l, int fd, unsigned events, void *arg)
{
	(void)events;
	struct pair_ctx *c = arg;
	int me = fd == c->fds[0] ? 0 : 1;
	c->calls[me]++;
	int other = c->fds[1 - me];
	loop_fd_remove(l, other);
	/* The event already fetched for the old watch must not reach the new one. */
	if (c->readd)
		cr_assert_eq(loop_fd_add(l, other, LOOP_READ, on_readded, c), 0);
	/* Keep this one from firing again. */
	loop_fd_remove(l, fd);
}

static void
on_stop_timer(struct loop *l, void *arg)
{
	(void)arg;
	loop_stop(l);
}

static void
run_pair(bool readd)
{
	int a[2], b[2];
	cr_assert_eq(pipe2(a, O_NONBLOCK | O_CLOEXEC), 0);
	cr_assert_eq(pipe2(b, O_NONBLOCK | O_CLOEXEC), 0);
	struct pair_ctx c = {.fds = {a[0], b[0]}, .readd = readd};
	cr_assert_eq(write(a[1], "x", 1), 1);
	cr_assert_eq(write(b[1], "x", 1), 1);
	cr_assert_eq(loop_fd_add(loop, a[0], LOOP_READ, on_pair, &c), 0);
	cr_assert_eq(loop_fd_add(loop, b[0], LOOP_READ, on_pair, &c), 0);
	loop_timer_add(loop, 0, on_stop_timer, NULL);
	run_loop();
	cr_assert_eq(c.calls[0] + c.calls[1], 1,
	             "both callbacks ran (%d, %d): the removed descriptor's event was delivered",
	             c.calls[0], c.calls[1]);
	cr_assert_eq(c.readd_calls, 0, "the re-added watch got the old watch's event");
	if (readd) {
		/* In the next round the re-added watch works normally. */
		loop_timer_add(loop, 20, on_stop_timer, NULL);
		run_loop();
		cr_assert_geq(c.readd_calls, 1);
	}
	for (int i = 0; i < 2; i++)
		loop_fd_remove(loop, c.fds[i]);
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
}

Test(loop, fd_removed_by_other_callback_gets_no_event)
{
	run_pair(false);
}

Test(loop, fd_removed_and_readded_by_other_callback_gets_no_event)
{
	run_pair(true);
}

/* Signals. */

struct sig_ctx {
	int signo;
	int calls;
};

static void
on_signal(struct loop *l, int signo, void *arg)
{
	struct sig_ctx *c = arg;
	c->signo = signo;
	c->calls++;
	loop_stop(l);
}

Test(loop, signal_delivered_through_loop)
{
	static const int sigs[] = {SIGUSR1, SIGUSR2};
	struct sig_ctx c = {.signo = 0, .calls = 0};
	cr_assert_eq(loop_signals(loop, sigs, 2, on_signal, &c), 0);

	/* The signal is blocked now: raising it does not kill the process. */
	sigset_t cur;
	cr_assert_eq(pthread_sigmask(SIG_BLOCK, NULL, &cur), 0);
	cr_assert(sigismember(&cur, SIGUSR1));
	cr_assert_eq(raise(SIGUSR1), 0);
	run_loop();
	cr_assert_eq(c.calls, 1);
	cr_assert_eq(c.signo, SIGUSR1);

	cr_assert_eq(raise(SIGUSR2), 0);
	run_loop();
	cr_assert_eq(c.calls, 2);
	cr_assert_eq(c.signo, SIGUSR2);
}

/* Calling loop_signals again replaces the set and the callback on the same descriptor. */
Test(loop, signals_reconfigured)
{
	static const int first[] = {SIGUSR1};
	static const int second[] = {SIGUSR2};
	struct sig_ctx a = {.calls = 0}, b = {.calls = 0};
	cr_assert_eq(loop_signals(loop, first, 1, on_signal, &a), 0);
	cr_assert_eq(loop_signals(loop, second, 1, on_signal, &b), 0);
	cr_assert_eq(raise(SIGUSR2), 0);
	run_loop();
	cr_assert_eq(a.calls, 0);
	cr_assert_eq(b.calls, 1);
	cr_assert_eq(b.signo, SIGUSR2);
}

/* Time. */

static void
on_check_now(struct loop *l, void *arg)
{
	uint64_t *seen = arg;
	*seen = loop_now(l);
	loop_stop(l);
}

Test(loop, now_is_refreshed_each_round)
{
	uint64_t before = loop_monotonic_ms(), seen = 0;
	loop_timer_add(loop, 30, on_check_now, &seen);
	run_loop();
	cr_assert_geq(seen, before + 30);
	cr_assert_leq(seen, loop_monotonic_ms());
	cr_assert_geq(loop_monotonic_us() / 1000, seen);
	cr_assert_gt(loop_wall_time(), 1.6e9);
}

/*
 * loop_stop ends the round: once a callback has stopped the loop, no other
 * callback of that round runs. Descriptor callbacks are held to this (the
 * event loop checks l->running before each), and so is a timer stopping the
 * loop; a timer already due when a descriptor, job or signal callback stops
 * the loop must not fire either.
 */
struct stop_ctx {
	int pipe[2];
	bool timer_ran;
	bool fd_ran;
};

static void
on_fd_stop(struct loop *l, int fd, unsigned events, void *arg)
{
	(void)events;
	struct stop_ctx *c = arg;
	char ch;
	cr_assert_eq(read(fd, &ch, 1), 1);
	c->fd_ran = true;
	loop_stop(l);
}

static void
on_after_stop(struct loop *l, void *arg)
{
	(void)l;
	struct stop_ctx *c = arg;
	c->timer_ran = true;
}

Test(loop, no_timer_runs_after_stop_from_fd_callback)
{
	struct stop_ctx c = {.timer_ran = false, .fd_ran = false};
	cr_assert_eq(pipe2(c.pipe, O_NONBLOCK | O_CLOEXEC), 0);
	cr_assert_eq(loop_fd_add(loop, c.pipe[0], LOOP_READ, on_fd_stop, &c), 0);
	cr_assert_eq(write(c.pipe[1], "x", 1), 1);
	struct loop_timer *t = loop_timer_add(loop, 0, on_after_stop, &c);
	run_loop();
	cr_assert(c.fd_ran);
	cr_assert_not(c.timer_ran, "a due timer ran after a descriptor callback called loop_stop");
	if (!c.timer_ran)
		loop_timer_cancel(loop, t);
	loop_fd_remove(loop, c.pipe[0]);
	close(c.pipe[0]);
	close(c.pipe[1]);
}

Test(loop, no_timer_runs_after_stop_from_timer_callback)
{
	struct trace tr = {.n = 0};
	struct tagged first = {.trace = &tr, .id = 1, .stop = true};
	struct tagged second = {.trace = &tr, .id = 2, .stop = false};
	loop_timer_add(loop, 5, on_tagged_timer, &first);
	loop_timer_add(loop, 5, on_tagged_timer, &second);
	run_loop();
	cr_assert_eq(tr.n, 1);
	cr_assert_eq(tr.ids[0], 1);
	/* The second is still pending and fires when the loop runs again. */
	second.stop = true;
	run_loop();
	cr_assert_eq(tr.n, 2);
	cr_assert_eq(tr.ids[1], 2);
}
