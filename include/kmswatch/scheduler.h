/*
 * The polling cycle. Every interval: SRV lookups of every domain on every
 * resolver; then the target set (SRV targets and static hosts) is rebuilt and
 * each target is checked, spread over a window with jitter and never more than
 * the configured number at once. Results go to the results store; a snapshot
 * is published after changes (coalesced) and at the end of each cycle.
 */
#ifndef KMSWATCH_SCHEDULER_H
#define KMSWATCH_SCHEDULER_H

#include <stddef.h>
#include <stdint.h>

#include "kmswatch/config.h"
#include "kmswatch/loop.h"
#include "kmswatch/results.h"

#define SCHED_SPACING_MS     10  /* gap between two target checks when the window allows */
#define SCHED_KMS_SPACING_MS 100 /* gap between two activation probes */
#define SCHED_MAX_ONDEMAND   16  /* activation probes for /probe in flight at once */

struct scheduler;
/* Called on the engine thread when a new snapshot should be published. */
typedef void (*sched_publish_cb)(void *arg);

/* Creates the scheduler and its resolver channels; NULL with err on failure.
 * cfg and res are not owned. The first cycle starts at once. */
struct scheduler *sched_new(struct loop *l, const struct config *cfg, struct results *res,
                            sched_publish_cb publish, void *arg, char *err, size_t errlen);
void sched_free(struct scheduler *s);
/* Switches to a new configuration: checks under way are abandoned, resolver
 * channels rebuilt, results pruned, and a new cycle starts at once. */
int sched_reconfigure(struct scheduler *s, const struct config *cfg, char *err, size_t errlen);

/* The outcome of an on-demand activation probe, in a kms_state the callback
 * may read (not keep). */
typedef void (*sched_probe_cb)(void *arg, const struct kms_state *k);
/* Probes host:port for product (an index into the configuration's products)
 * now, outside the rounds and their state, with the v4 fallback. Returns -1
 * when too many on-demand probes are in flight. */
int sched_probe_once(struct scheduler *s, const char *host, uint16_t port, size_t product,
                     sched_probe_cb cb, void *arg);

/* Pure helpers, exposed for tests. */
/* The window over which n checks are spread within a cycle of interval_ms. */
uint64_t sched_spread_window(size_t n, uint64_t interval_ms);
/* The same for n activation probes within probe_interval_ms: 100 ms apart,
 * over at most half the interval. */
uint64_t sched_kms_window(size_t n, uint64_t probe_interval_ms);
/* When check i of n starts within the window: slot i of n equal slots, at a
 * point within the slot chosen by jitter (0..UINT32_MAX). */
uint64_t sched_offset(size_t i, size_t n, uint64_t window_ms, uint32_t jitter);

#endif
