/*
 * The engine's event loop; see loop.h.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "kmswatch/log.h"
#include "kmswatch/loop.h"

#define LOOP_MAX_EVENTS 256

struct loop_watch {
	loop_io_cb cb;
	void *arg;
	uint32_t gen; /* 0 when the slot is free */
};

struct loop_timer {
	uint64_t due;
	uint64_t seq; /* keeps timers with the same due time in insertion order */
	size_t index; /* position in the heap */
	loop_timer_cb cb;
	void *arg;
};

struct loop_job {
	struct loop_job *next;
	loop_job_cb cb;
	void *arg;
};

struct loop {
	int epfd;
	int eventfd;
	int sigfd;
	loop_signal_cb sig_cb;
	void *sig_arg;
	bool running;
	uint64_t now;

	struct loop_watch *watches; /* indexed by fd */
	size_t n_watches;
	uint32_t next_gen;

	struct loop_timer **heap;
	size_t n_heap;
	size_t cap_heap;
	uint64_t timer_seq;

	pthread_mutex_t jobs_lock;
	struct loop_job *jobs_head;
	struct loop_job *jobs_tail;
};

uint64_t
loop_monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t
loop_monotonic_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

double
loop_wall_time(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

uint64_t
loop_now(struct loop *l)
{
	return l->now;
}

/* The eventfd and signalfd are watched like any other descriptor. */
static void loop_jobs_ready(struct loop *l, int fd, unsigned events, void *arg);
static void loop_signal_ready(struct loop *l, int fd, unsigned events, void *arg);

struct loop *
loop_new(void)
{
	struct loop *l = calloc(1, sizeof(*l));
	if (l == NULL)
		return NULL;
	l->sigfd = -1;
	l->next_gen = 1;
	l->now = loop_monotonic_ms();
	pthread_mutex_init(&l->jobs_lock, NULL);
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd == -1)
		goto fail;
	l->eventfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (l->eventfd == -1)
		goto fail;
	if (loop_fd_add(l, l->eventfd, LOOP_READ, loop_jobs_ready, NULL) == -1)
		goto fail;
	return l;
fail:
	if (l->epfd != -1)
		close(l->epfd);
	free(l);
	return NULL;
}

void
loop_free(struct loop *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n_heap; i++)
		free(l->heap[i]);
	free(l->heap);
	struct loop_job *j = l->jobs_head;
	while (j != NULL) {
		struct loop_job *next = j->next;
		free(j);
		j = next;
	}
	if (l->sigfd != -1)
		close(l->sigfd);
	close(l->eventfd);
	close(l->epfd);
	free(l->watches);
	pthread_mutex_destroy(&l->jobs_lock);
	free(l);
}

static uint32_t
loop_epoll_events(unsigned events)
{
	uint32_t ev = 0;
	if (events & LOOP_READ)
		ev |= EPOLLIN;
	if (events & LOOP_WRITE)
		ev |= EPOLLOUT;
	return ev;
}

int
loop_fd_add(struct loop *l, int fd, unsigned events, loop_io_cb cb, void *arg)
{
	if (fd < 0) {
		errno = EBADF;
		return -1;
	}
	if ((size_t)fd >= l->n_watches) {
		size_t n = l->n_watches ? l->n_watches : 64;
		while (n <= (size_t)fd)
			n *= 2;
		struct loop_watch *w = realloc(l->watches, n * sizeof(*w));
		if (w == NULL)
			return -1;
		memset(w + l->n_watches, 0, (n - l->n_watches) * sizeof(*w));
		l->watches = w;
		l->n_watches = n;
	}
	uint32_t gen = l->next_gen++;
	if (l->next_gen == 0)
		l->next_gen = 1;
	struct epoll_event ev = {.events = loop_epoll_events(events),
	                         .data.u64 = (uint64_t)gen << 32 | (uint32_t)fd};
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) == -1)
		return -1;
	l->watches[fd] = (struct loop_watch){.cb = cb, .arg = arg, .gen = gen};
	return 0;
}

int
loop_fd_modify(struct loop *l, int fd, unsigned events)
{
	if (fd < 0 || (size_t)fd >= l->n_watches || l->watches[fd].gen == 0) {
		errno = EBADF;
		return -1;
	}
	struct epoll_event ev = {.events = loop_epoll_events(events),
	                         .data.u64 = (uint64_t)l->watches[fd].gen << 32 | (uint32_t)fd};
	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev);
}

void
loop_fd_remove(struct loop *l, int fd)
{
	if (fd < 0 || (size_t)fd >= l->n_watches || l->watches[fd].gen == 0)
		return;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	l->watches[fd].gen = 0;
}

/* Timer heap ordered by (due, seq). */
static bool
timer_before(const struct loop_timer *a, const struct loop_timer *b)
{
	return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void
heap_swap(struct loop *l, size_t i, size_t j)
{
	struct loop_timer *t = l->heap[i];
	l->heap[i] = l->heap[j];
	l->heap[j] = t;
	l->heap[i]->index = i;
	l->heap[j]->index = j;
}

static void
heap_up(struct loop *l, size_t i)
{
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!timer_before(l->heap[i], l->heap[parent]))
			break;
		heap_swap(l, i, parent);
		i = parent;
	}
}

static void
heap_down(struct loop *l, size_t i)
{
	for (;;) {
		size_t left = 2 * i + 1, right = left + 1, min = i;
		if (left < l->n_heap && timer_before(l->heap[left], l->heap[min]))
			min = left;
		if (right < l->n_heap && timer_before(l->heap[right], l->heap[min]))
			min = right;
		if (min == i)
			return;
		heap_swap(l, i, min);
		i = min;
	}
}

static void
heap_remove(struct loop *l, struct loop_timer *t)
{
	size_t i = t->index;
	l->n_heap--;
	if (i != l->n_heap) {
		l->heap[i] = l->heap[l->n_heap];
		l->heap[i]->index = i;
		heap_down(l, i);
		heap_up(l, i);
	}
}

struct loop_timer *
loop_timer_add(struct loop *l, uint64_t delay_ms, loop_timer_cb cb, void *arg)
{
	if (l->n_heap == l->cap_heap) {
		size_t cap = l->cap_heap ? l->cap_heap * 2 : 64;
		struct loop_timer **h = realloc(l->heap, cap * sizeof(*h));
		if (h == NULL)
			fatal("timer heap");
		l->heap = h;
		l->cap_heap = cap;
	}
	struct loop_timer *t = malloc(sizeof(*t));
	if (t == NULL)
		fatal("timer");
	*t = (struct loop_timer){.due = loop_monotonic_ms() + delay_ms,
	                         .seq = l->timer_seq++,
	                         .index = l->n_heap,
	                         .cb = cb,
	                         .arg = arg};
	l->heap[l->n_heap++] = t;
	heap_up(l, t->index);
	return t;
}

void
loop_timer_cancel(struct loop *l, struct loop_timer *t)
{
	if (t == NULL)
		return;
	heap_remove(l, t);
	free(t);
}

static void
loop_signal_ready(struct loop *l, int fd, unsigned events, void *arg)
{
	(void)events;
	(void)arg;
	struct signalfd_siginfo si;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		if (l->sig_cb != NULL)
			l->sig_cb(l, (int)si.ssi_signo, l->sig_arg);
}

int
loop_signals(struct loop *l, const int *signals, int n, loop_signal_cb cb, void *arg)
{
	sigset_t set;
	sigemptyset(&set);
	for (int i = 0; i < n; i++)
		sigaddset(&set, signals[i]);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		return -1;
	int fd = signalfd(l->sigfd, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd == -1)
		return -1;
	if (l->sigfd == -1 && loop_fd_add(l, fd, LOOP_READ, loop_signal_ready, NULL) == -1) {
		close(fd);
		return -1;
	}
	l->sigfd = fd;
	l->sig_cb = cb;
	l->sig_arg = arg;
	return 0;
}

int
loop_post(struct loop *l, loop_job_cb cb, void *arg)
{
	struct loop_job *j = malloc(sizeof(*j));
	if (j == NULL)
		return -1;
	*j = (struct loop_job){.cb = cb, .arg = arg};
	pthread_mutex_lock(&l->jobs_lock);
	if (l->jobs_tail != NULL)
		l->jobs_tail->next = j;
	else
		l->jobs_head = j;
	l->jobs_tail = j;
	pthread_mutex_unlock(&l->jobs_lock);
	uint64_t one = 1;
	/* A full counter still leaves the descriptor readable, so EAGAIN is fine. */
	ssize_t w = write(l->eventfd, &one, sizeof(one));
	(void)w;
	return 0;
}

static void
loop_jobs_ready(struct loop *l, int fd, unsigned events, void *arg)
{
	(void)events;
	(void)arg;
	uint64_t count;
	ssize_t r = read(fd, &count, sizeof(count));
	(void)r;
	pthread_mutex_lock(&l->jobs_lock);
	struct loop_job *j = l->jobs_head;
	l->jobs_head = l->jobs_tail = NULL;
	pthread_mutex_unlock(&l->jobs_lock);
	while (j != NULL) {
		struct loop_job *next = j->next;
		j->cb(l, j->arg);
		free(j);
		j = next;
	}
}

static void
loop_run_timers(struct loop *l)
{
	/* Timers added by callbacks in this round wait for the next one, so a
	 * zero-delay timer cannot starve descriptors. */
	uint64_t limit = l->timer_seq;
	while (l->running && l->n_heap > 0 && l->heap[0]->due <= l->now &&
	       l->heap[0]->seq < limit) {
		struct loop_timer *t = l->heap[0];
		heap_remove(l, t);
		loop_timer_cb cb = t->cb;
		void *arg = t->arg;
		free(t);
		cb(l, arg);
		if (!l->running)
			return;
	}
}

int
loop_run(struct loop *l)
{
	struct epoll_event events[LOOP_MAX_EVENTS];
	l->running = true;
	while (l->running) {
		l->now = loop_monotonic_ms();
		int timeout = -1;
		if (l->n_heap > 0) {
			uint64_t due = l->heap[0]->due;
			timeout =
			    due <= l->now ? 0 : (int)(due - l->now > 60000 ? 60000 : due - l->now);
		}
		int n = epoll_wait(l->epfd, events, LOOP_MAX_EVENTS, timeout);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			log_warn("epoll_wait");
			return -1;
		}
		l->now = loop_monotonic_ms();
		for (int i = 0; i < n && l->running; i++) {
			int fd = (int)(uint32_t)events[i].data.u64;
			uint32_t gen = (uint32_t)(events[i].data.u64 >> 32);
			if ((size_t)fd >= l->n_watches || l->watches[fd].gen != gen)
				continue;
			unsigned ev = 0;
			if (events[i].events & EPOLLIN)
				ev |= LOOP_READ;
			if (events[i].events & EPOLLOUT)
				ev |= LOOP_WRITE;
			if (events[i].events & (EPOLLERR | EPOLLHUP))
				ev |= LOOP_ERROR;
			struct loop_watch w = l->watches[fd];
			w.cb(l, fd, ev, w.arg);
		}
		loop_run_timers(l);
	}
	return 0;
}

void
loop_stop(struct loop *l)
{
	l->running = false;
}
