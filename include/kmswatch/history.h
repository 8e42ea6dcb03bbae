/*
 * A bounded record of one (host, port, product)'s activation count over a
 * sliding window: enough to answer "what was the maximum count over the last
 * window?" in constant memory, whatever the probe rate. Pure: no I/O, no clock;
 * the caller passes wall-clock milliseconds.
 *
 * Time is cut into buckets of history_bucket_ms(window) milliseconds, aligned
 * to multiples of that width, and each bucket keeps the maximum seen in it.
 * The width is ceil(window / (HISTORY_BUCKETS - 1)), at least 1 ms: 63 whole
 * buckets always cover the window, and the 64th slot holds the bucket being
 * filled. With exactly window/64, a window that straddles a boundary touches 65
 * buckets, and reusing the oldest slot would drop a sample still inside the
 * window.
 *
 * Tolerance: a bucket counts for as long as any millisecond of it is inside
 * (now - window, now], so a sample is never forgotten early, but it may count
 * for up to one bucket width (under window/63 + 1 ms) longer than the exact
 * window. After history_set_window the samples that were kept may count for up
 * to one old bucket width more, once.
 *
 * Time is clamped: timestamps before the epoch count as 0, and if the clock
 * steps backwards (now before the newest bucket's start), now is taken to be
 * that start. Samples then go into the newest bucket until the clock catches
 * up, which never loses a maximum. After a large step back, though, old
 * maxima stay for as long as the clock takes to catch up.
 */
#ifndef KMSWATCH_HISTORY_H
#define KMSWATCH_HISTORY_H

#include <stdbool.h>
#include <stdint.h>

#define HISTORY_BUCKETS 64
/* Windows are capped here so that every time computation fits in int64_t
 * (and in a JSON integer); larger windows are 292 million years anyway. */
#define HISTORY_WINDOW_MAX ((uint64_t)INT64_MAX)

struct history_bucket {
	int64_t start_ms; /* a multiple of the bucket width */
	uint32_t max;
	bool used;
};

struct history {
	uint64_t window_ms; /* 0..HISTORY_WINDOW_MAX */
	/* A ring: the bucket starting at s lives in slot (s / width) % HISTORY_BUCKETS. */
	struct history_bucket b[HISTORY_BUCKETS];
	bool have_last;
	uint32_t last;   /* the latest count */
	int64_t last_ms; /* when it was seen (after clamping, see above) */
};

/* history.c */
/* Empties h and sets its window (capped at HISTORY_WINDOW_MAX). A window of 0
 * remembers nothing: history_max is then always false. */
void history_init(struct history *h, uint64_t window_ms);
void history_add(struct history *h, int64_t now_ms, uint32_t count);
/* The maximum over (now - window, now] including the latest sample, within the
 * tolerance above; false when nothing is known in the window. */
bool history_max(const struct history *h, int64_t now_ms, uint32_t *max);
/* Changes the window, keeping what fits (re-bucket conservatively: never lose
 * a maximum that is still inside the new window, never invent one). Samples
 * that had already left the old window may be gone even if the new window is
 * larger. */
void history_set_window(struct history *h, uint64_t window_ms);
/* The bucket width for a window (capped like history_init's). */
uint64_t history_bucket_ms(uint64_t window_ms);
/* Puts back one bucket, as the state file recorded it, into a history set up
 * with history_init. Returns -1 when it cannot be one of this window's buckets:
 * a negative or unaligned start, or a slot already taken. */
int history_restore_bucket(struct history *h, int64_t start_ms, uint32_t max);

#endif
