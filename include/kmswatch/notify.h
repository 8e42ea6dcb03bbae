/*
 * The push to Alertmanager (libcurl's multi interface, only in notify.c),
 * driven by the engine loop: never blocks, one request in flight per URL,
 * and at most one body waiting per URL (a newer alert set replaces an unsent
 * one, so memory does not grow while Alertmanager is down). Failures are
 * retried with backoff and counted.
 */
#ifndef KMSWATCH_NOTIFY_H
#define KMSWATCH_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kmswatch/loop.h"

struct notify;

struct notify_stats {
	const char *url;     /* as configured */
	uint64_t sent;       /* requests Alertmanager accepted */
	uint64_t failed;     /* requests that failed (connection, timeout, non-2xx) */
	double last_success; /* wall clock, 0 if never */
};

int notify_library_init(void);
void notify_library_cleanup(void);
/* urls are copied; POSTs go to URL/api/v2/alerts. */
struct notify *notify_new(struct loop *l, char *const *urls, size_t n, uint64_t timeout_ms);
void notify_free(struct notify *nt);
/* Queues body (copied) for every URL. */
void notify_post(struct notify *nt, const char *body, size_t len);
size_t notify_count(const struct notify *nt);
void notify_get_stats(const struct notify *nt, size_t i, struct notify_stats *out);

#endif
