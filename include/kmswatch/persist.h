/*
 * The agent's state file: each (host, port, product)'s count history and
 * ePID, and the firing alerts, so that a restart (even after kill -9) neither
 * forgets a count drop nor invents one. JSON (through jansson, only in
 * persist.c), written atomically and read once at start.
 *
 * {"version": 1, "written_at_ms": ..., "series": [{"host": ..., "port": ...,
 *  "product": ..., "window_ms": ..., "buckets": [[start_ms, max], ...],
 *  "last": n or null, "last_ms": ..., "epid": ... or null, "prev_epid": ... or
 *  null, "epid_changed_ms": ..., "last_success_ms": ...}, ...],
 *  "alerts": [{"fingerprint": ..., "starts_at_ms": ...}, ...]}
 *
 * A file is trusted whole or not at all: one bad entry makes all of it
 * unusable. The writer refuses what the reader would refuse, so a state the
 * agent saved can always be read back.
 */
#ifndef KMSWATCH_PERSIST_H
#define KMSWATCH_PERSIST_H

#include <stddef.h>
#include <stdint.h>

#include "kmswatch/history.h"

#define PERSIST_VERSION    1
#define PERSIST_MAX_BYTES  (64u * 1024 * 1024)
#define PERSIST_MAX_SERIES 1000000u
#define PERSIST_MAX_ALERTS 1000000u
/* Longest host, product, ePID or fingerprint, in bytes. */
#define PERSIST_MAX_STRING 1024u

struct persist_series { /* one (host, port, product); unique in a state */
	char *host;     /* owned, UTF-8, 1..PERSIST_MAX_STRING bytes */
	uint16_t port;  /* 1..65535 */
	char *product;  /* owned, as host */
	struct history history;
	char *epid;              /* owned: latest ePID seen, or NULL */
	int64_t epid_changed_ms; /* when it last changed (0: never) */
	char *prev_epid;         /* owned: the ePID before that change, or NULL */
	int64_t last_success_ms; /* 0: never */
};

struct persist_alert {     /* a firing alert's identity and start, so it survives restarts */
	char *fingerprint; /* owned; stable text key, e.g.
	                      "KMSCountDropped|host=...|port=...|product=..."; unique */
	int64_t starts_at_ms;
};

struct persist_state {
	struct persist_series *series; /* owned */
	size_t n_series;
	struct persist_alert *alerts; /* owned */
	size_t n_alerts;
};

/* persist.c */
/* Frees the contents (every pointer above, with free()), not s, and leaves s
 * empty. */
void persist_state_free(struct persist_state *s);
/* Atomic: writes PATH.tmp (O_CLOEXEC, mode 0600), fsyncs it, renames it over
 * PATH and fsyncs the directory. Returns 0, or -1 with errno and a message in
 * err. Never leaves PATH half-written: a crash at any point leaves either the
 * old file or the new one (and perhaps a stale PATH.tmp, which the next write
 * replaces). A state the reader would refuse (see persist_read) is not written:
 * -1 with EINVAL, or EFBIG when it would be over PERSIST_MAX_BYTES. */
int persist_write(const char *path, const struct persist_state *s, char *err, size_t errlen);
/* Reads PATH into s, which is overwritten (not freed) first; the caller frees
 * what it gets with persist_state_free. Returns 0 on success; 1 when the file
 * does not exist (s empty); -1 when it exists but cannot be used (unreadable,
 * truncated, not JSON, wrong version, wrong types, values out of range,
 * duplicate series or alerts): then s is empty, err says what is wrong and
 * where, and the caller logs it, quarantines the file and starts afresh.
 * Bounded: files over PERSIST_MAX_BYTES are refused, and so are more than
 * PERSIST_MAX_SERIES series or PERSIST_MAX_ALERTS alerts and strings over
 * PERSIST_MAX_STRING bytes. Each series' history has the file's window; the
 * caller applies its own with history_set_window. */
int persist_read(const char *path, struct persist_state *s, char *err, size_t errlen);
/* Moves an unusable file aside to PATH.corrupt (replacing an older one) so an
 * operator can inspect it. Returns 0, or -1 with errno. */
int persist_quarantine(const char *path);

#endif
