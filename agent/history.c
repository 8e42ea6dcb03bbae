/*
 * Count history over a sliding window in a fixed ring of buckets; see
 * history.h.
 */
#include <string.h>

#include "kmswatch/history.h"

static uint64_t
cap_window(uint64_t window_ms)
{
	return window_ms > HISTORY_WINDOW_MAX ? HISTORY_WINDOW_MAX : window_ms;
}

uint64_t
history_bucket_ms(uint64_t window_ms)
{
	uint64_t w = cap_window(window_ms);
	uint64_t width = w / (HISTORY_BUCKETS - 1) + (w % (HISTORY_BUCKETS - 1) != 0);
	return width > 0 ? width : 1;
}

static size_t
slot_of(int64_t start_ms, uint64_t width)
{
	return (size_t)(((uint64_t)start_ms / width) % HISTORY_BUCKETS);
}

static int64_t
align_down(int64_t t, uint64_t width)
{
	return (int64_t)((uint64_t)t - (uint64_t)t % width);
}

/* The time the history is at: now, but never before the epoch nor before the
 * newest bucket (the clock stepped back), so the ring stays ordered. */
static int64_t
clamp_now(const struct history *h, int64_t now_ms)
{
	int64_t t = now_ms < 0 ? 0 : now_ms;
	for (size_t i = 0; i < HISTORY_BUCKETS; i++)
		if (h->b[i].used && h->b[i].start_ms > t)
			t = h->b[i].start_ms;
	return t;
}

/* Whether something whose last millisecond is end_ms is inside (t - window,
 * t]. In uint64_t, without t - window: a bucket's end may pass INT64_MAX and
 * t - window may overflow. */
static bool
in_window(uint64_t end_ms, int64_t t, uint64_t window_ms)
{
	if (end_ms >= (uint64_t)t)
		return window_ms > 0 || end_ms > (uint64_t)t;
	return (uint64_t)t - end_ms < window_ms;
}

void
history_init(struct history *h, uint64_t window_ms)
{
	memset(h, 0, sizeof(*h));
	h->window_ms = cap_window(window_ms);
}

/* Records max in the bucket starting at start_ms. An older bucket in the slot
 * has left the window (63 widths cover it) and is replaced; a newer one wins. */
static void
place(struct history *h, uint64_t width, int64_t start_ms, uint32_t max)
{
	struct history_bucket *b = &h->b[slot_of(start_ms, width)];
	if (b->used && b->start_ms == start_ms) {
		if (max > b->max)
			b->max = max;
	} else if (!b->used || b->start_ms < start_ms) {
		*b = (struct history_bucket){.start_ms = start_ms, .max = max, .used = true};
	}
}

void
history_add(struct history *h, int64_t now_ms, uint32_t count)
{
	uint64_t width = history_bucket_ms(h->window_ms);
	int64_t t = clamp_now(h, now_ms);
	place(h, width, align_down(t, width), count);
	h->have_last = true;
	h->last = count;
	h->last_ms = t;
}

bool
history_max(const struct history *h, int64_t now_ms, uint32_t *max)
{
	uint64_t width = history_bucket_ms(h->window_ms);
	int64_t t = clamp_now(h, now_ms);
	bool found = false;
	uint32_t m = 0;
	for (size_t i = 0; i < HISTORY_BUCKETS; i++) {
		const struct history_bucket *b = &h->b[i];
		if (!b->used || !in_window((uint64_t)b->start_ms + width - 1, t, h->window_ms))
			continue;
		if (!found || b->max > m)
			m = b->max;
		found = true;
	}
	/* The latest sample is normally in a bucket already; it is checked on its
	 * own so that the answer holds for a ring restored from a file too. */
	uint64_t last_ms = h->last_ms < 0 ? 0 : (uint64_t)h->last_ms;
	if (h->have_last && in_window(last_ms, t, h->window_ms)) {
		if (!found || h->last > m)
			m = h->last;
		found = true;
	}
	if (found)
		*max = m;
	return found;
}

void
history_set_window(struct history *h, uint64_t window_ms)
{
	window_ms = cap_window(window_ms);
	if (window_ms == h->window_ms)
		return;
	struct history_bucket old[HISTORY_BUCKETS];
	memcpy(old, h->b, sizeof(old));
	uint64_t old_width = history_bucket_ms(h->window_ms);
	uint64_t width = history_bucket_ms(window_ms);
	/* Nothing was seen after the latest sample (or, without one, after the
	 * newest bucket began), so no bucket may be moved past that. */
	int64_t latest = clamp_now(h, h->have_last ? h->last_ms : 0);
	memset(h->b, 0, sizeof(h->b));
	h->window_ms = window_ms;
	for (size_t i = 0; i < HISTORY_BUCKETS; i++) {
		if (!old[i].used)
			continue;
		/* A bucket's samples may be as late as its last millisecond; moving
		 * its maximum there never makes it leave a window early. */
		uint64_t end = (uint64_t)old[i].start_ms + old_width - 1;
		int64_t e = end > (uint64_t)latest ? latest : (int64_t)end;
		place(h, width, align_down(e, width), old[i].max);
	}
}

int
history_restore_bucket(struct history *h, int64_t start_ms, uint32_t max)
{
	uint64_t width = history_bucket_ms(h->window_ms);
	if (start_ms < 0 || (uint64_t)start_ms % width != 0)
		return -1;
	struct history_bucket *b = &h->b[slot_of(start_ms, width)];
	if (b->used)
		return -1;
	*b = (struct history_bucket){.start_ms = start_ms, .max = max, .used = true};
	return 0;
}
