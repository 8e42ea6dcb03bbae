/*
 * Unit tests for the scheduler's pure helpers: the spread window and the
 * jittered, slotted start offset of each check within it.
 */
#include <criterion/criterion.h>
#include <stdint.h>

#include "kmswatch/scheduler.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MINUTE_MS    (60u * 1000u)

/* xorshift32, seeded per test so that failures reproduce. */
static uint32_t
next_jitter(uint32_t *state)
{
	uint32_t x = *state;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*state = x;
	return x;
}

static const uint32_t edge_jitters[] = {0, 1, 0x7fffffffu, 0x80000000u, UINT32_MAX - 1, UINT32_MAX};

Test(scheduler, spread_window_grows_with_targets)
{
	cr_assert_eq(sched_spread_window(0, MINUTE_MS), 0);
	cr_assert_eq(sched_spread_window(1, MINUTE_MS), SCHED_SPACING_MS);
	cr_assert_eq(sched_spread_window(2, MINUTE_MS), 2 * SCHED_SPACING_MS);
	cr_assert_eq(sched_spread_window(100, MINUTE_MS), 100 * SCHED_SPACING_MS);
}

Test(scheduler, spread_window_capped_at_a_quarter_interval)
{
	uint64_t cap = MINUTE_MS / 4;
	size_t at_cap = (size_t)(cap / SCHED_SPACING_MS);
	cr_assert_eq(sched_spread_window(at_cap - 1, MINUTE_MS), cap - SCHED_SPACING_MS);
	cr_assert_eq(sched_spread_window(at_cap, MINUTE_MS), cap);
	cr_assert_eq(sched_spread_window(at_cap + 1, MINUTE_MS), cap);
	cr_assert_eq(sched_spread_window(100000, MINUTE_MS), cap);
	cr_assert_eq(sched_spread_window(100000, 60 * MINUTE_MS), 15 * MINUTE_MS);
	/* Short intervals: the quarter rounds down, to nothing below 4 ms. */
	cr_assert_eq(sched_spread_window(10, 1000), 100);
	cr_assert_eq(sched_spread_window(10, 3), 0);
	cr_assert_eq(sched_spread_window(10, 0), 0);
	cr_assert_eq(sched_spread_window(0, 0), 0);
}

/* Whatever the inputs, the window never exceeds either bound. */
Test(scheduler, spread_window_never_exceeds_either_bound)
{
	static const size_t ns[] = {0, 1, 3, 99, 100, 1000, 12345, 100000, 1000000};
	static const uint64_t intervals[] = {0, 1, 4, 1000, 60000, 3600000, 86400000};
	for (size_t a = 0; a < ARRAY_LEN(ns); a++)
		for (size_t b = 0; b < ARRAY_LEN(intervals); b++) {
			uint64_t w = sched_spread_window(ns[a], intervals[b]);
			cr_assert_leq(w, intervals[b] / 4);
			cr_assert_leq(w, (uint64_t)ns[a] * SCHED_SPACING_MS);
			cr_assert(w == intervals[b] / 4 || w == (uint64_t)ns[a] * SCHED_SPACING_MS);
		}
}

Test(scheduler, offset_out_of_range_is_window)
{
	cr_assert_eq(sched_offset(0, 0, 1000, 0), 1000);
	cr_assert_eq(sched_offset(0, 0, 1000, UINT32_MAX), 1000);
	cr_assert_eq(sched_offset(5, 5, 1000, 0), 1000);
	cr_assert_eq(sched_offset(6, 5, 1000, 12345), 1000);
	cr_assert_eq(sched_offset(SIZE_MAX, 5, 1000, 0), 1000);
	cr_assert_eq(sched_offset(0, 0, 0, 0), 0);
}

Test(scheduler, zero_jitter_is_slot_start)
{
	static const size_t ns[] = {1, 2, 3, 7, 10, 100, 1000};
	static const uint64_t windows[] = {1, 10, 999, 1000, 15000, 15 * MINUTE_MS};
	for (size_t a = 0; a < ARRAY_LEN(ns); a++)
		for (size_t b = 0; b < ARRAY_LEN(windows); b++)
			for (size_t i = 0; i < ns[a]; i++)
				cr_assert_eq(sched_offset(i, ns[a], windows[b], 0),
				             windows[b] * i / ns[a], "i %zu n %zu window %llu", i,
				             ns[a], (unsigned long long)windows[b]);
	/* The slots of an exact division. */
	cr_assert_eq(sched_offset(0, 4, 1000, 0), 0);
	cr_assert_eq(sched_offset(1, 4, 1000, 0), 250);
	cr_assert_eq(sched_offset(2, 4, 1000, 0), 500);
	cr_assert_eq(sched_offset(3, 4, 1000, 0), 750);
}

/* Jitter scales across the slot: half way is half the slot, the maximum its last ms. */
Test(scheduler, jitter_spans_the_slot)
{
	cr_assert_eq(sched_offset(0, 1, 1000, 0x80000000u), 500);
	cr_assert_eq(sched_offset(0, 1, 1000, UINT32_MAX), 999);
	cr_assert_eq(sched_offset(1, 4, 1000, 0x80000000u), 375);
	cr_assert_eq(sched_offset(3, 4, 1000, UINT32_MAX), 999);
	cr_assert_eq(sched_offset(0, 1, 15 * MINUTE_MS, 0x40000000u), 15 * MINUTE_MS / 4);
}

/*
 * The properties for one (n, window): every offset in [0, window) and inside
 * its own slot, and offsets non-decreasing in i for any jitter values, which
 * follows from the last point of slot i never passing the first of slot i+1.
 */
static void
check_offsets(size_t n, uint64_t window, uint32_t *rng, size_t step)
{
	uint64_t prev = 0;
	for (size_t i = 0; i < n; i += step) {
		uint64_t start = window * i / n;
		uint64_t end = window * (i + 1) / n;
		uint64_t lo = UINT64_MAX, hi = 0;
		for (size_t j = 0; j < ARRAY_LEN(edge_jitters) + 4; j++) {
			uint32_t jit =
			    j < ARRAY_LEN(edge_jitters) ? edge_jitters[j] : next_jitter(rng);
			uint64_t off = sched_offset(i, n, window, jit);
			cr_assert_lt(off, window, "i %zu n %zu window %llu jitter %u: %llu", i, n,
			             (unsigned long long)window, jit, (unsigned long long)off);
			cr_assert_geq(off, start, "i %zu n %zu window %llu jitter %u: %llu < %llu",
			              i, n, (unsigned long long)window, jit,
			              (unsigned long long)off, (unsigned long long)start);
			if (end > start)
				cr_assert_lt(off, end, "i %zu n %zu window %llu jitter %u: %llu", i,
				             n, (unsigned long long)window, jit,
				             (unsigned long long)off);
			else
				cr_assert_eq(off, start);
			lo = off < lo ? off : lo;
			hi = off > hi ? off : hi;
		}
		/* The smallest offset of check i is not before the largest of the
		 * check before it, so any jitter sequence is non-decreasing. */
		if (i > 0 && step == 1)
			cr_assert_geq(lo, prev, "i %zu n %zu window %llu: %llu after %llu", i, n,
			              (unsigned long long)window, (unsigned long long)lo,
			              (unsigned long long)prev);
		prev = hi;
	}
}

Test(scheduler, offsets_in_window_slot_and_order)
{
	static const size_t ns[] = {1, 2, 3, 5, 7, 10, 64, 100, 333, 1000, 1500};
	static const uint64_t windows[] = {1,    2,     3,     9,    10,    100,   999,
	                                   1000, 15000, 60000, 4096, 65537, 86399, 15 * MINUTE_MS};
	uint32_t rng = 0x12345678u;
	for (size_t a = 0; a < ARRAY_LEN(ns); a++)
		for (size_t b = 0; b < ARRAY_LEN(windows); b++)
			check_offsets(ns[a], windows[b], &rng, 1);
}

/* Random jitter per check, as the scheduler draws it: never goes backwards. */
Test(scheduler, random_sequences_never_go_backwards)
{
	uint32_t rng = 0xdeadbeefu;
	for (int round = 0; round < 200; round++) {
		size_t n = 1 + next_jitter(&rng) % 2000;
		uint64_t window = next_jitter(&rng) % (20 * MINUTE_MS);
		if (window == 0)
			window = 1;
		uint64_t prev = 0;
		for (size_t i = 0; i < n; i++) {
			uint64_t off = sched_offset(i, n, window, next_jitter(&rng));
			cr_assert_geq(off, prev, "n %zu window %llu i %zu", n,
			              (unsigned long long)window, i);
			cr_assert_lt(off, window);
			prev = off;
		}
	}
}

/* 100000 targets over windows up to 15 minutes, and a day: no overflow. */
Test(scheduler, large_n_and_windows_do_not_overflow)
{
	static const uint64_t windows[] = {15000, 15 * MINUTE_MS, 6 * 60 * MINUTE_MS,
	                                   24 * 60 * MINUTE_MS};
	uint32_t rng = 0xfeedf00du;
	for (size_t b = 0; b < ARRAY_LEN(windows); b++) {
		check_offsets(100000, windows[b], &rng, 1);
		/* The last check's offsets end in the window's last slot. */
		uint64_t last = sched_offset(99999, 100000, windows[b], UINT32_MAX);
		cr_assert_lt(last, windows[b]);
		cr_assert_geq(last, windows[b] * 99999 / 100000);
	}
	/* A million targets in a day's window, sampled. */
	check_offsets(1000000, 24 * 60 * MINUTE_MS, &rng, 997);
	cr_assert_eq(sched_offset(999999, 1000000, 24 * 60 * MINUTE_MS, 0),
	             (uint64_t)24 * 60 * MINUTE_MS * 999999 / 1000000);
}

/* What the scheduler actually computes: the offsets of a cycle's window. */
Test(scheduler, window_and_offsets_together)
{
	static const size_t ns[] = {1, 10, 1500, 1501, 100000};
	uint32_t rng = 42;
	for (size_t a = 0; a < ARRAY_LEN(ns); a++) {
		uint64_t w = sched_spread_window(ns[a], MINUTE_MS);
		uint64_t prev = 0;
		for (size_t i = 0; i < ns[a]; i++) {
			uint64_t off = sched_offset(i, ns[a], w, next_jitter(&rng));
			cr_assert_lt(off, w);
			cr_assert_geq(off, prev);
			prev = off;
		}
		/* Every check starts within the first quarter of the interval. */
		cr_assert_lt(prev, MINUTE_MS / 4);
	}
}

/*
 * The jitter must land at the same relative point of a slot whatever the
 * window. The configuration accepts any interval of at least a second, so a
 * window of 2^32 ms or more (an interval of about 199 days or more) is
 * accepted, and there slot_len * jitter must not wrap around 64 bits.
 */
Test(scheduler, jitter_scales_in_windows_past_2_32_ms)
{
	const uint64_t window = (uint64_t)1 << 34;
	cr_assert_eq(sched_offset(0, 1, window, 0x80000000u), window / 2,
	             "half jitter over a 2^34 ms window gave %llu, want %llu",
	             (unsigned long long)sched_offset(0, 1, window, 0x80000000u),
	             (unsigned long long)(window / 2));
	cr_assert_geq(sched_offset(0, 1, window, UINT32_MAX), window - (window >> 32) - 1);
}
