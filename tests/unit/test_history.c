/*
 * Count history: maximum tracking, expiry to the millisecond as the window
 * slides, a million samples against a naive reference, window changes, the
 * clock going backwards, and zero and huge windows.
 *
 * No test sets .timeout: with --jobs 2, Criterion 2.4.1 leaks a runner
 * allocation when two timed tests overlap, which fails the sanitizer run;
 * ctest's own timeout still stops a hung test.
 */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "kmswatch/history.h"

#define HOUR_MS (3600 * 1000LL)
#define DAY_MS  (24 * HOUR_MS)
/* 2023-11-14, so that times look like the agent's. */
#define T0 1700000000000LL

/* A fixed-seed generator: every run sees the same "random" data. */
static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static uint32_t
max_at(const struct history *h, int64_t now)
{
	uint32_t m = 0;
	cr_assert(history_max(h, now, &m), "nothing known at %lld", (long long)now);
	return m;
}

/* The ring's own invariants: aligned starts, each in its own slot, and no two
 * buckets further apart than the ring can hold. */
static void
check_ring(const struct history *h)
{
	uint64_t w = history_bucket_ms(h->window_ms);
	int64_t lo = INT64_MAX, hi = -1;
	for (size_t i = 0; i < HISTORY_BUCKETS; i++) {
		const struct history_bucket *b = &h->b[i];
		if (!b->used)
			continue;
		cr_assert_geq(b->start_ms, 0);
		cr_assert_eq((uint64_t)b->start_ms % w, 0, "start %lld width %llu",
		             (long long)b->start_ms, (unsigned long long)w);
		cr_assert_eq(((uint64_t)b->start_ms / w) % HISTORY_BUCKETS, i);
		lo = b->start_ms < lo ? b->start_ms : lo;
		hi = b->start_ms > hi ? b->start_ms : hi;
	}
	if (hi >= 0 && h->have_last)
		cr_assert_geq(h->last_ms, hi, "latest sample before the newest bucket");
}

struct samples {
	int64_t *t;
	uint32_t *c;
	size_t n, cap;
};

static void
samples_add(struct samples *s, int64_t t, uint32_t c)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 1024;
		s->t = realloc(s->t, s->cap * sizeof(*s->t));
		s->c = realloc(s->c, s->cap * sizeof(*s->c));
		cr_assert(s->t != NULL && s->c != NULL);
	}
	s->t[s->n] = t;
	s->c[s->n++] = c;
}

static void
samples_free(struct samples *s)
{
	free(s->t);
	free(s->c);
	memset(s, 0, sizeof(*s));
}

/*
 * Compares history_max at now with a naive scan of the first n samples (those
 * added so far, times in increasing order): the answer must be at least the exact maximum over
 * (now - window, now] and at most the maximum over the window stretched by
 * tol, the documented tolerance. Samples at or before forgotten_ms may be
 * gone (they had left an earlier, smaller window).
 */
static void
check_reference(const struct history *h, const struct samples *s, size_t n, int64_t now,
                uint64_t window, uint64_t tol, int64_t forgotten_ms)
{
	bool have_lo = false, have_hi = false;
	uint32_t lo = 0, hi = 0;
	for (size_t i = n; i-- > 0;) {
		int64_t age = now - s->t[i];
		if (age >= (int64_t)(window + tol))
			break;
		if (!have_hi || s->c[i] > hi)
			hi = s->c[i];
		have_hi = true;
		if (age < (int64_t)window && s->t[i] > forgotten_ms) {
			if (!have_lo || s->c[i] > lo)
				lo = s->c[i];
			have_lo = true;
		}
	}
	uint32_t got = 0;
	bool have = history_max(h, now, &got);
	if (have_lo)
		cr_assert(have && got >= lo, "now %lld: got %d/%u, exact max %u", (long long)now,
		          have, got, lo);
	if (have)
		cr_assert(have_hi && got <= hi, "now %lld: got %u, max with tolerance %u (%d)",
		          (long long)now, got, hi, have_hi);
}

Test(history, empty)
{
	struct history h;
	history_init(&h, DAY_MS);
	uint32_t m = 42;
	cr_assert_not(history_max(&h, T0, &m));
	cr_assert_eq(m, 42, "max touched when nothing is known");
	cr_assert_not(h.have_last);
}

Test(history, bucket_width)
{
	cr_assert_eq(history_bucket_ms(63000), 1000);
	cr_assert_eq(history_bucket_ms(63001), 1001);
	cr_assert_eq(history_bucket_ms(DAY_MS), 1371429); /* ceil(86400000 / 63) */
	cr_assert_eq(history_bucket_ms(0), 1);
	cr_assert_eq(history_bucket_ms(1), 1);
	cr_assert_eq(history_bucket_ms(63), 1);
	cr_assert_eq(history_bucket_ms(64), 2);
	uint64_t huge = (uint64_t)INT64_MAX / 63 + 1;
	cr_assert_eq(history_bucket_ms(UINT64_MAX), huge);
	cr_assert_eq(history_bucket_ms(HISTORY_WINDOW_MAX), huge);
	/* 63 buckets always cover the window. */
	for (uint64_t w = 0; w < 5000; w++)
		cr_assert_geq(63 * history_bucket_ms(w), w);
}

Test(history, max_tracking)
{
	struct history h;
	history_init(&h, DAY_MS);
	history_add(&h, T0, 100);
	cr_assert_eq(max_at(&h, T0), 100);
	history_add(&h, T0 + 1000, 150);
	cr_assert_eq(max_at(&h, T0 + 1000), 150);
	history_add(&h, T0 + HOUR_MS, 120);
	cr_assert_eq(max_at(&h, T0 + HOUR_MS), 150);
	cr_assert(h.have_last);
	cr_assert_eq(h.last, 120);
	cr_assert_eq(h.last_ms, T0 + HOUR_MS);
	history_add(&h, T0 + 2 * HOUR_MS, 0);
	cr_assert_eq(max_at(&h, T0 + 2 * HOUR_MS), 150);
	history_add(&h, T0 + 3 * HOUR_MS, UINT32_MAX);
	cr_assert_eq(max_at(&h, T0 + 3 * HOUR_MS), UINT32_MAX);
	check_ring(&h);
}

/* Window 63 s: buckets of exactly 1 s, so the edges are easy to state. */
Test(history, expiry_to_the_millisecond)
{
	struct history h;
	history_init(&h, 63000);
	history_add(&h, 5500, 100); /* bucket [5000, 6000) */
	history_add(&h, 10000, 40); /* bucket [10000, 11000) */
	/* A bucket stays while its last millisecond (5999) is in the window. */
	cr_assert_eq(max_at(&h, 68998), 100);
	cr_assert_eq(max_at(&h, 68999), 40);
	cr_assert_eq(max_at(&h, 73998), 40);
	uint32_t m;
	cr_assert_not(history_max(&h, 73999, &m));
	cr_assert_not(history_max(&h, INT64_MAX, &m));
}

/* The tolerance at its worst and at its best: a sample at a bucket's first
 * millisecond stays width - 1 ms too long, one at its last leaves exactly. */
Test(history, expiry_tolerance_edges)
{
	struct history h;
	history_init(&h, 63000);
	history_add(&h, 5000, 7);
	uint32_t m;
	cr_assert(history_max(&h, 5000 + 63000 - 1, &m));   /* exact */
	cr_assert(history_max(&h, 5000 + 63000 + 998, &m)); /* tolerance */
	cr_assert_not(history_max(&h, 5000 + 63000 + 999, &m));

	history_init(&h, 63000);
	history_add(&h, 5999, 7);
	cr_assert(history_max(&h, 5999 + 63000 - 1, &m));
	cr_assert_not(history_max(&h, 5999 + 63000, &m));
}

/* A maximum leaves at the moment its bucket's end leaves a 24 h window, while
 * the probe keeps reporting a lower count every second. */
Test(history, expiry_as_the_window_slides)
{
	struct history h;
	history_init(&h, DAY_MS);
	uint64_t w = history_bucket_ms(DAY_MS);
	int64_t big_at = T0 + 12345;
	int64_t leaves = big_at - big_at % (int64_t)w + (int64_t)w - 1 + DAY_MS;
	history_add(&h, big_at, 900);
	int64_t t = big_at + 1000;
	for (; t < leaves - 5000; t += 1000) {
		history_add(&h, t, 500);
		cr_assert_eq(max_at(&h, t), 900, "at %lld", (long long)t);
	}
	cr_assert_eq(max_at(&h, leaves - 1), 900);
	cr_assert_eq(max_at(&h, leaves), 500);
	cr_assert_leq(leaves - big_at, DAY_MS + (int64_t)w, "beyond the documented tolerance");
	check_ring(&h);
}

Test(history, ring_reuse)
{
	struct history h;
	history_init(&h, 63000);
	/* One sample per bucket over ten laps of the ring: the window holds
	 * exactly the last 64 buckets' worth (63 whole ones and the current). */
	for (int64_t k = 0; k < 640; k++) {
		int64_t t = 1000 * k + 999;
		history_add(&h, t, (uint32_t)(1000 - k));
		uint32_t expect = (uint32_t)(1000 - (k >= 63 ? k - 62 : 0));
		cr_assert_eq(max_at(&h, t), expect, "k %lld", (long long)k);
		check_ring(&h);
	}
}

/*
 * The stated scale: a million samples at 1 s intervals in a 24 h window, on a
 * random walk with sudden drops and recoveries. Memory stays the struct's
 * (history never allocates) and every checked answer is within tolerance of
 * the naive reference.
 */
Test(history, million_samples_against_reference)
{
	struct history h;
	history_init(&h, DAY_MS);
	uint64_t tol = history_bucket_ms(DAY_MS);
	struct samples s = {0};
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	uint32_t count = 50000;
	for (size_t i = 0; i < 1000000; i++) {
		uint64_t r = rnd(&seed);
		if (r % 5000 == 0)
			count /= 2; /* a drop */
		else if (r % 5000 == 1)
			count = (uint32_t)(r >> 40) % 100000;
		else if ((r >> 8) % 2 && count < UINT32_MAX)
			count++;
		else if (count > 0)
			count--;
		samples_add(&s, T0 + (int64_t)i * 1000, count);
	}
	struct mallinfo2 before = mallinfo2();
	for (size_t i = 0; i < s.n; i++) {
		history_add(&h, s.t[i], s.c[i]);
		if (i % 997 == 0 || i + 1 == s.n) {
			check_reference(&h, &s, i + 1, s.t[i], DAY_MS, tol, INT64_MIN);
			/* Between samples, and after the probes stop. */
			check_reference(&h, &s, i + 1, s.t[i] + 500, DAY_MS, tol, INT64_MIN);
		}
	}
	struct mallinfo2 after = mallinfo2();
	cr_assert_eq(before.uordblks, after.uordblks, "history allocated memory");
	cr_assert_eq(sizeof(struct history), sizeof(h));
	check_ring(&h);
	for (int64_t d = 0; d <= DAY_MS + (int64_t)tol + 1000; d += 60000)
		check_reference(&h, &s, s.n, s.t[s.n - 1] + d, DAY_MS, tol, INT64_MIN);
	samples_free(&s);
}

/* Irregular probing: bursts within a bucket, gaps of several buckets and gaps
 * longer than the window. */
Test(history, irregular_intervals_against_reference)
{
	const uint64_t windows[] = {63000, 100000, 3 * HOUR_MS, DAY_MS, 7 * DAY_MS};
	for (size_t k = 0; k < sizeof(windows) / sizeof(windows[0]); k++) {
		uint64_t win = windows[k], w = history_bucket_ms(win);
		struct history h;
		history_init(&h, win);
		struct samples s = {0};
		uint64_t seed = 12345 + k;
		int64_t t = T0;
		for (size_t i = 0; i < 100000; i++) {
			uint64_t r = rnd(&seed);
			switch (r % 8) {
			case 0:
				t += (int64_t)(r >> 20) % (int64_t)(2 * win); /* long gap */
				break;
			case 1:
			case 2:
				t += (int64_t)(r >> 20) % (int64_t)(4 * w);
				break;
			default:
				t += (int64_t)(r >> 20) % (int64_t)(w / 4 + 1);
				break;
			}
			uint32_t c = (uint32_t)(rnd(&seed) % 1000);
			history_add(&h, t, c);
			samples_add(&s, t, c);
			check_reference(&h, &s, s.n, t, win, w, INT64_MIN);
			check_reference(&h, &s, s.n, t + (int64_t)(r >> 32) % (int64_t)(win + w),
			                win, w, INT64_MIN);
		}
		check_ring(&h);
		samples_free(&s);
	}
}

Test(history, window_change_keeps_what_fits)
{
	struct history h;
	history_init(&h, DAY_MS);
	history_add(&h, T0, 500);
	history_add(&h, T0 + 23 * HOUR_MS, 100);
	history_add(&h, T0 + 23 * HOUR_MS + 30 * 60000, 90);

	/* Shrinking to 1 h: the 500 from 23 h ago is gone, the rest stays. */
	struct history s = h;
	history_set_window(&s, HOUR_MS);
	cr_assert_eq(s.window_ms, HOUR_MS);
	cr_assert_eq(max_at(&s, T0 + 23 * HOUR_MS + 30 * 60000), 100);
	cr_assert(s.have_last && s.last == 90 && s.last_ms == h.last_ms);
	check_ring(&s);

	/* Growing to 48 h keeps all three. */
	struct history g = h;
	history_set_window(&g, 2 * DAY_MS);
	cr_assert_eq(max_at(&g, T0 + 23 * HOUR_MS + 30 * 60000), 500);
	cr_assert_eq(max_at(&g, T0 + 47 * HOUR_MS), 500);
	check_ring(&g);

	/* The same window changes nothing. */
	struct history same = h;
	history_set_window(&same, DAY_MS);
	cr_assert_eq(memcmp(&same, &h, sizeof(h)), 0);

	/* A shrink never moves a bucket past the latest sample, so later
	 * samples are not mistaken for a clock going backwards. */
	for (size_t i = 0; i < HISTORY_BUCKETS; i++)
		if (s.b[i].used)
			cr_assert_leq(s.b[i].start_ms, s.last_ms);
}

Test(history, window_change_to_zero_and_back)
{
	struct history h;
	history_init(&h, DAY_MS);
	history_add(&h, T0, 10);
	history_set_window(&h, 0);
	uint32_t m;
	cr_assert_not(history_max(&h, T0, &m));
	check_ring(&h);
	history_set_window(&h, DAY_MS);
	cr_assert_eq(max_at(&h, T0), 10);
	check_ring(&h);
}

/* Random data through a shrink and a grow, against the reference with the
 * documented extra tolerance of one old bucket width after a change. */
Test(history, window_change_against_reference)
{
	struct history h;
	history_init(&h, DAY_MS);
	struct samples s = {0};
	uint64_t seed = 777;
	uint64_t w_day = history_bucket_ms(DAY_MS), w_hour = history_bucket_ms(HOUR_MS);
	int64_t t = T0;
	for (size_t i = 0; i < 3 * 86400 / 10; i++, t += 10000) {
		uint32_t c = (uint32_t)(rnd(&seed) % 100000);
		history_add(&h, t, c);
		samples_add(&s, t, c);
	}
	check_reference(&h, &s, s.n, t, DAY_MS, w_day, INT64_MIN);

	history_set_window(&h, HOUR_MS);
	check_ring(&h);
	for (int64_t d = 0; d < 2 * HOUR_MS; d += 7000)
		check_reference(&h, &s, s.n, t + d, HOUR_MS, w_hour + w_day, INT64_MIN);
	for (size_t i = 0; i < 3 * 360; i++, t += 10000) {
		uint32_t c = (uint32_t)(rnd(&seed) % 100000);
		history_add(&h, t, c);
		samples_add(&s, t, c);
		check_reference(&h, &s, s.n, t, HOUR_MS, w_hour + w_day, INT64_MIN);
	}

	/* Growing cannot bring back what had left the 1 h window. */
	int64_t forgotten = t - HOUR_MS;
	history_set_window(&h, DAY_MS);
	check_ring(&h);
	for (size_t i = 0; i < 3 * 8640; i++, t += 10000) {
		uint32_t c = (uint32_t)(rnd(&seed) % 100000);
		history_add(&h, t, c);
		samples_add(&s, t, c);
		if (i % 7 == 0)
			check_reference(&h, &s, s.n, t, DAY_MS, w_hour + w_day, forgotten);
	}
	samples_free(&s);
}

Test(history, clock_going_backwards)
{
	struct history h;
	history_init(&h, 63000);
	history_add(&h, 100000, 50);
	/* A step back into an older bucket: the sample joins the newest one. */
	history_add(&h, 50000, 80);
	check_ring(&h);
	cr_assert_eq(h.last, 80);
	cr_assert_eq(h.last_ms, 100000);
	cr_assert_eq(max_at(&h, 50000), 80);
	cr_assert_eq(max_at(&h, 100000), 80);
	/* Before the epoch: no crash, same treatment. */
	history_add(&h, -5000000, 3);
	history_add(&h, INT64_MIN, 2);
	check_ring(&h);
	cr_assert_eq(max_at(&h, INT64_MIN), 80);
	/* Time resumes: the step back did not corrupt the ring. */
	history_add(&h, 101500, 60);
	cr_assert_eq(max_at(&h, 101500), 80);
	cr_assert_eq(max_at(&h, 100999 + 63000 - 1), 80);
	cr_assert_eq(max_at(&h, 100999 + 63000), 60);
	check_ring(&h);
}

/* Time jumping back and forth at random never breaks the ring, and the
 * latest count is always part of the answer. */
Test(history, clock_jumping_around)
{
	uint64_t seed = 4242;
	for (int round = 0; round < 20; round++) {
		struct history h;
		uint64_t win = rnd(&seed) % (2 * DAY_MS);
		history_init(&h, win);
		for (int i = 0; i < 5000; i++) {
			uint64_t r = rnd(&seed);
			int64_t now = T0 + (int64_t)(r % (3 * DAY_MS)) - DAY_MS;
			uint32_t c = (uint32_t)(r >> 32);
			history_add(&h, now, c);
			check_ring(&h);
			uint32_t m = 0;
			if (win > 0) {
				cr_assert(history_max(&h, now, &m));
				cr_assert_geq(m, c);
			} else {
				cr_assert_not(history_max(&h, now, &m));
			}
			if (i % 500 == 0)
				history_set_window(&h, rnd(&seed) % (2 * DAY_MS));
			win = h.window_ms;
		}
	}
}

Test(history, zero_window)
{
	struct history h;
	history_init(&h, 0);
	history_add(&h, T0, 5);
	uint32_t m;
	cr_assert_not(history_max(&h, T0, &m));
	cr_assert_not(history_max(&h, T0 - 1, &m));
	cr_assert(h.have_last && h.last == 5);
	check_ring(&h);
}

Test(history, huge_windows)
{
	struct history h;
	history_init(&h, UINT64_MAX);
	cr_assert_eq(h.window_ms, HISTORY_WINDOW_MAX);
	history_add(&h, 0, 1);
	history_add(&h, T0, 7);
	cr_assert_eq(max_at(&h, T0 + 1000LL * DAY_MS * 365), 7);
	history_add(&h, INT64_MAX - 1, 3);
	history_add(&h, INT64_MAX, 2);
	cr_assert_eq(max_at(&h, INT64_MAX), 7);
	check_ring(&h);
	history_set_window(&h, (uint64_t)INT64_MAX + 12345);
	cr_assert_eq(h.window_ms, HISTORY_WINDOW_MAX);
	history_set_window(&h, DAY_MS);
	check_ring(&h);

	/* A small window at the end of time. */
	history_init(&h, 63000);
	history_add(&h, INT64_MAX, 9);
	cr_assert_eq(max_at(&h, INT64_MAX), 9);
	check_ring(&h);
	history_set_window(&h, UINT64_MAX);
	cr_assert_eq(max_at(&h, INT64_MAX), 9);
	check_ring(&h);
}

Test(history, restore_bucket)
{
	struct history h;
	history_init(&h, 63000);
	cr_assert_eq(history_restore_bucket(&h, 5000, 10), 0);
	cr_assert_eq(history_restore_bucket(&h, 5001, 10), -1, "unaligned");
	cr_assert_eq(history_restore_bucket(&h, -1000, 10), -1, "negative");
	cr_assert_eq(history_restore_bucket(&h, 5000, 11), -1, "same bucket twice");
	cr_assert_eq(history_restore_bucket(&h, 5000 + 64000, 11), -1, "same slot");
	cr_assert_eq(history_restore_bucket(&h, 6000, 12), 0);
	check_ring(&h);
	cr_assert_eq(max_at(&h, 6000), 12);
	cr_assert_eq(max_at(&h, 5999 + 63000), 12);
}
