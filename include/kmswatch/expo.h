/*
 * Exposition writer: renders metric families and samples as Prometheus text
 * format 0.0.4 or OpenMetrics 1.0.0 text, chosen at expo_init, from the same
 * calls. Pure: it writes only into the caller's size-capped struct buf, does no
 * I/O, allocates nothing and keeps no global state.
 *
 *	struct expo e;
 *	expo_init(&e, &out, EXPO_OPENMETRICS);
 *	expo_family(&e, "kms_srv_records", EXPO_GAUGE, "SRV records returned.");
 *	expo_samplef(&e, 2, "domain", "example.com", "resolver", "system", NULL);
 *	expo_finish(&e);
 *
 * An invalid metric or label name is a programming error: the call returns -1
 * and writes nothing. Once the buf overflows every call returns -1 and the
 * partial output must be discarded.
 */
#ifndef KMSWATCH_EXPO_H
#define KMSWATCH_EXPO_H

#include <stdbool.h>
#include <stddef.h>

#include "kmswatch/buf.h"

enum expo_format {
	EXPO_TEXT_004,    /* text/plain; version=0.0.4 */
	EXPO_OPENMETRICS, /* application/openmetrics-text; version=1.0.0 */
};

/*
 * Both formats declare INFO and STATESET families as gauges, the simplest
 * mapping every ingestor accepts; the constants still say at the call site
 * what the family means.
 */
enum expo_type {
	EXPO_GAUGE,
	EXPO_COUNTER,
	EXPO_INFO,
	EXPO_STATESET,
};

/* Longest metric name accepted, in bytes. */
#define EXPO_NAME_MAX 200
/* Most name/value pairs expo_samplef accepts. */
#define EXPO_SAMPLEF_MAX 8

struct expo_label {
	const char *name;
	const char *value; /* UTF-8; invalid bytes are written as U+FFFD */
};

/* A writer, usually on the stack. The fields are private to expo.c. */
struct expo {
	struct buf *out; /* not owned */
	enum expo_format format;
	bool family_open;
	bool finished;
	char sample_name[EXPO_NAME_MAX + sizeof("_total")];
};

/* expo.c */
/* Keeps out (not owned) until the writer is dropped; writes nothing yet. */
void expo_init(struct expo *e, struct buf *out, enum expo_format format);
/* The HTTP Content-Type value for format. */
const char *expo_content_type(enum expo_format format);
/*
 * Starts a family: # HELP (omitted when help is NULL or empty) and # TYPE.
 * Pass a counter's full name, "kms_agent_cycles_total": 0.0.4 uses it as is,
 * OpenMetrics declares "kms_agent_cycles" and names samples with _total (and
 * appends _total to a counter name that lacks it).
 */
int expo_family(struct expo *e, const char *name, enum expo_type type, const char *help);
/* One sample of the open family; label names must be valid and distinct. */
int expo_sample(struct expo *e, const struct expo_label *labels, size_t n_labels, double value);
/* Same, with up to EXPO_SAMPLEF_MAX label name/value pairs ended by NULL. */
int expo_samplef(struct expo *e, double value, ...) __attribute__((sentinel));
/* Ends the exposition ("# EOF" in OpenMetrics); no call may follow. */
int expo_finish(struct expo *e);

#endif
