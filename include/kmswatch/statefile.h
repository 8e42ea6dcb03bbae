/*
 * Writes the state file off the engine thread: the engine hands over a copy
 * of the state and goes on; a writer thread writes it atomically (persist.c).
 * A newer state replaces one not yet written, so at most one waits.
 */
#ifndef KMSWATCH_STATEFILE_H
#define KMSWATCH_STATEFILE_H

#include <stdbool.h>
#include <stdint.h>

#include "kmswatch/persist.h"

struct statefile;

struct statefile_stats {
	uint64_t writes;
	uint64_t failures;
	bool last_ok;
	double last_success; /* wall clock, 0 if never */
};

/* Starts the writer for path; NULL on failure to start the thread. */
struct statefile *statefile_new(const char *path);
/* Takes over st's contents (st is left empty). */
void statefile_submit(struct statefile *sf, struct persist_state *st);
/* Stops the thread after writing whatever waits, then writes final (if not
 * NULL) synchronously, and frees. */
void statefile_free(struct statefile *sf, struct persist_state *final);
void statefile_get_stats(struct statefile *sf, struct statefile_stats *out);

#endif
