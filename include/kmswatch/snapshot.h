/*
 * An immutable, reference-counted view of everything the HTTP side serves.
 * The engine builds one after each change and hands it over; HTTP handlers
 * take a reference, serve it, and drop it, never touching engine state.
 */
#ifndef KMSWATCH_SNAPSHOT_H
#define KMSWATCH_SNAPSHOT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

struct snapshot_body {
	char *data; /* owned */
	size_t len;
	/* The gzip form, made by the first request that accepts gzip (under
	 * the snapshot's lock) rather than by the engine on every publish. */
	bool gz_done;
	char *gz; /* owned; NULL if compression failed */
	size_t gz_len;
};

struct snapshot {
	atomic_int refs;
	pthread_mutex_t gz_lock;
	bool ready;                       /* the first full cycle has completed */
	struct snapshot_body metrics;     /* text format 0.0.4 */
	struct snapshot_body openmetrics; /* OpenMetrics 1.0.0 */
	struct snapshot_body status;      /* the HTML status page */
	struct snapshot_body alerts;      /* firing alerts, Alertmanager JSON */
};

/* A snapshot with one reference, owned by the caller. */
struct snapshot *snapshot_new(void);
void snapshot_ref(struct snapshot *s);
/* Drops a reference; frees on the last. NULL is a no-op. */
void snapshot_unref(struct snapshot *s);
/* Takes ownership of data (from malloc). */
void snapshot_body_set(struct snapshot_body *b, char *data, size_t len);
/* The gzip form of b (a body of s), compressed on first use; false when
 * compression failed. Thread-safe; the result lives as long as s. */
bool snapshot_body_gzip(struct snapshot *s, struct snapshot_body *b, const char **gz, size_t *len);
/* gzip-compresses in into a new malloc'd buffer; -1 on failure. */
int snapshot_gzip(const void *in, size_t len, char **out, size_t *out_len);

#endif
