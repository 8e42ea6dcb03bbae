/*
 * The polling cycle; see scheduler.h.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kmswatch/dns.h"
#include "kmswatch/log.h"
#include "kmswatch/probe.h"
#include "kmswatch/scheduler.h"

#define SCHED_PUBLISH_DELAY_MS 200

struct sched_srv_ctx {
	struct scheduler *s;
	uint64_t cycle;
	size_t domain;
	size_t resolver;
};

struct sched_probe_ctx {
	struct scheduler *s;
	size_t target;
};

struct scheduler {
	struct loop *loop;
	const struct config *cfg;
	struct results *res;
	sched_publish_cb publish;
	void *publish_arg;

	struct dns **dns;
	size_t n_dns;

	uint64_t cycle; /* id of the current cycle; stale callbacks compare it */
	bool running;
	uint64_t started_ms;
	size_t srv_pending;
	uint64_t window_ms;
	size_t next_release; /* targets below this index have been released */
	size_t next_start;   /* targets below this index have been started */
	size_t done;         /* targets whose check finished this cycle */
	uint32_t rng;
	struct sched_probe_ctx *ctxs; /* one per target of the current cycle */

	struct loop_timer *cycle_timer;
	struct loop_timer *release_timer;
	struct loop_timer *publish_timer;
};

static void sched_cycle_start(struct loop *l, void *arg);
static void sched_release(struct loop *l, void *arg);
static void sched_start_ready(struct scheduler *s);

uint64_t
sched_spread_window(size_t n, uint64_t interval_ms)
{
	uint64_t want = (uint64_t)n * SCHED_SPACING_MS;
	uint64_t cap = interval_ms / 4;
	return want < cap ? want : cap;
}

uint64_t
sched_offset(size_t i, size_t n, uint64_t window_ms, uint32_t jitter)
{
	if (n == 0 || i >= n)
		return window_ms;
	uint64_t slot_start = window_ms * i / n;
	uint64_t slot_len = window_ms * (i + 1) / n - slot_start;
	return slot_start + (slot_len * jitter >> 32);
}

static uint32_t
sched_random(struct scheduler *s)
{
	/* xorshift32: enough to spread checks, not for anything secret. */
	uint32_t x = s->rng;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	s->rng = x;
	return x;
}

static void
sched_free_dns(struct scheduler *s)
{
	for (size_t i = 0; i < s->n_dns; i++)
		dns_free(s->dns[i]);
	free(s->dns);
	s->dns = NULL;
	s->n_dns = 0;
}

static int
sched_make_dns(struct scheduler *s, const struct config *cfg, char *err, size_t errlen)
{
	struct dns **dns = calloc(cfg->n_resolvers ? cfg->n_resolvers : 1, sizeof(*dns));
	if (dns == NULL)
		fatal("scheduler");
	for (size_t i = 0; i < cfg->n_resolvers; i++) {
		dns[i] = dns_new(s->loop, &cfg->resolvers[i], cfg->timeout_ms, err, errlen);
		if (dns[i] == NULL) {
			for (size_t j = 0; j < i; j++)
				dns_free(dns[j]);
			free(dns);
			return -1;
		}
	}
	sched_free_dns(s);
	s->dns = dns;
	s->n_dns = cfg->n_resolvers;
	return 0;
}

static void
sched_publish_now(struct scheduler *s)
{
	if (s->publish_timer != NULL) {
		loop_timer_cancel(s->loop, s->publish_timer);
		s->publish_timer = NULL;
	}
	s->res->stats.in_flight = (unsigned)(s->next_start - s->done);
	s->publish(s->publish_arg);
}

static void
sched_publish_due(struct loop *l, void *arg)
{
	(void)l;
	struct scheduler *s = arg;
	s->publish_timer = NULL;
	sched_publish_now(s);
}

/* Coalesces bursts of results into one snapshot. */
static void
sched_changed(struct scheduler *s)
{
	if (s->publish_timer == NULL)
		s->publish_timer =
		    loop_timer_add(s->loop, SCHED_PUBLISH_DELAY_MS, sched_publish_due, s);
}

static void
sched_cycle_end(struct scheduler *s)
{
	struct agent_stats *st = &s->res->stats;
	s->running = false;
	st->cycle_duration_s = (double)(loop_monotonic_ms() - s->started_ms) / 1000.0;
	st->last_cycle_end = loop_wall_time();
	st->cycles_total++;
	if (!st->ready)
		log_info("first cycle complete in %.3fs: %zu targets, %zu domains, %zu resolvers",
		         st->cycle_duration_s, s->res->n_targets, s->cfg->n_domains,
		         s->cfg->n_resolvers);
	st->ready = true;
	sched_publish_now(s);

	uint64_t next = s->started_ms + s->cfg->interval_ms;
	uint64_t now = loop_monotonic_ms();
	if (now >= next)
		log_warnx("cycle took %.3fs, longer than the interval; starting the next at once",
		          st->cycle_duration_s);
	s->cycle_timer =
	    loop_timer_add(s->loop, now >= next ? 0 : next - now, sched_cycle_start, s);
}

static void
sched_probe_done(void *arg, const struct probe_outcome *out)
{
	struct sched_probe_ctx *ctx = arg;
	struct scheduler *s = ctx->s;
	struct target *t = &s->res->targets[ctx->target];
	t->probe = NULL;
	t->checked = true;
	t->tcp = *out;
	s->res->stats.probes_total[PROBE_KIND_CONNECT][out->tcp]++;
	if (out->tcp != PROBE_TCP_OK)
		log_debug("target %s:%u: %s (%s)", t->host, (unsigned)t->port,
		          probe_tcp_result_name(out->tcp), out->address);
	s->done++;
	sched_changed(s);
	sched_start_ready(s);
	if (s->done == s->res->n_targets)
		sched_cycle_end(s);
}

/* Starts released checks while the concurrency cap allows. */
static void
sched_start_ready(struct scheduler *s)
{
	while (s->next_start < s->next_release && s->next_start - s->done < s->cfg->concurrency) {
		size_t i = s->next_start++;
		struct target *t = &s->res->targets[i];
		struct sched_probe_ctx *ctx = &s->ctxs[i];
		*ctx = (struct sched_probe_ctx){.s = s, .target = i};
		t->probe = probe_tcp_start(s->loop, s->dns[t->resolver], t->host, t->port,
		                           s->cfg->timeout_ms, sched_probe_done, ctx);
	}
}

/* Releases every target whose offset has come, then waits for the next. */
static void
sched_release_targets(struct scheduler *s)
{
	size_t n = s->res->n_targets;
	uint64_t now = loop_monotonic_ms();
	while (s->next_release < n) {
		uint64_t at =
		    s->started_ms + sched_offset(s->next_release, n, s->window_ms, sched_random(s));
		if (at > now) {
			if (s->release_timer == NULL)
				s->release_timer =
				    loop_timer_add(s->loop, at - now, sched_release, s);
			break;
		}
		s->next_release++;
	}
	sched_start_ready(s);
}

static void
sched_release(struct loop *l, void *arg)
{
	(void)l;
	struct scheduler *s = arg;
	s->release_timer = NULL;
	sched_release_targets(s);
}

static void
sched_targets_phase(struct scheduler *s)
{
	results_rebuild_targets(s->res);
	free(s->ctxs);
	s->ctxs = calloc(s->res->n_targets ? s->res->n_targets : 1, sizeof(*s->ctxs));
	if (s->ctxs == NULL)
		fatal("scheduler");
	s->next_release = s->next_start = s->done = 0;
	s->window_ms = sched_spread_window(s->res->n_targets, s->cfg->interval_ms);
	sched_changed(s);
	if (s->res->n_targets == 0) {
		sched_cycle_end(s);
		return;
	}
	sched_release_targets(s);
}

static void
sched_srv_done(void *arg, enum dns_result res, const struct dns_srv *recs, size_t n,
               uint64_t duration_us)
{
	struct sched_srv_ctx *ctx = arg;
	struct scheduler *s = ctx->s;
	bool current = res != DNS_CANCELLED && ctx->cycle == s->cycle && s->running;
	size_t d = ctx->domain, v = ctx->resolver;
	free(ctx);
	if (!current)
		return;
	results_set_srv(s->res, d, v, res, recs, n, duration_us);
	if (res != DNS_OK)
		log_debug("SRV %s on %s: %s", s->cfg->domains[d], s->cfg->resolvers[v].name,
		          dns_result_name(res));
	if (--s->srv_pending == 0)
		sched_targets_phase(s);
}

static void
sched_cycle_start(struct loop *l, void *arg)
{
	(void)l;
	struct scheduler *s = arg;
	const struct config *c = s->cfg;
	s->cycle_timer = NULL;
	s->cycle++;
	s->running = true;
	s->started_ms = loop_monotonic_ms();
	s->srv_pending = c->n_domains * c->n_resolvers + 1;
	for (size_t d = 0; d < c->n_domains; d++)
		for (size_t v = 0; v < c->n_resolvers; v++) {
			struct sched_srv_ctx *ctx = malloc(sizeof(*ctx));
			if (ctx == NULL)
				fatal("scheduler");
			*ctx = (struct sched_srv_ctx){
			    .s = s, .cycle = s->cycle, .domain = d, .resolver = v};
			if (dns_query_srv(s->dns[v], c->domains[d], sched_srv_done, ctx) == -1) {
				log_warn("SRV lookup of %s", c->domains[d]);
				free(ctx);
				results_set_srv(s->res, d, v, DNS_ERROR, NULL, 0, 0);
				s->srv_pending--;
			}
		}
	/* The extra count keeps a synchronous answer from ending the phase
	 * before every lookup was sent. */
	if (--s->srv_pending == 0)
		sched_targets_phase(s);
}

/* Abandons the cycle under way: no callback of it will touch results. */
static void
sched_abort_cycle(struct scheduler *s)
{
	for (size_t i = 0; i < s->res->n_targets; i++) {
		struct target *t = &s->res->targets[i];
		if (t->probe != NULL) {
			probe_cancel(t->probe);
			t->probe = NULL;
		}
	}
	if (s->release_timer != NULL) {
		loop_timer_cancel(s->loop, s->release_timer);
		s->release_timer = NULL;
	}
	if (s->cycle_timer != NULL) {
		loop_timer_cancel(s->loop, s->cycle_timer);
		s->cycle_timer = NULL;
	}
	s->running = false;
	s->cycle++;
}

struct scheduler *
sched_new(struct loop *l, const struct config *cfg, struct results *res, sched_publish_cb publish,
          void *arg, char *err, size_t errlen)
{
	struct scheduler *s = calloc(1, sizeof(*s));
	if (s == NULL)
		fatal("scheduler");
	s->loop = l;
	s->cfg = cfg;
	s->res = res;
	s->publish = publish;
	s->publish_arg = arg;
	s->rng = (uint32_t)loop_monotonic_ms() ^ (uint32_t)getpid() << 16 ^ 0x9e3779b9u;
	if (s->rng == 0)
		s->rng = 1;
	if (sched_make_dns(s, cfg, err, errlen) == -1) {
		free(s);
		return NULL;
	}
	s->cycle_timer = loop_timer_add(l, 0, sched_cycle_start, s);
	return s;
}

void
sched_free(struct scheduler *s)
{
	if (s == NULL)
		return;
	sched_abort_cycle(s);
	if (s->publish_timer != NULL)
		loop_timer_cancel(s->loop, s->publish_timer);
	sched_free_dns(s);
	free(s->ctxs);
	free(s);
}

int
sched_reconfigure(struct scheduler *s, const struct config *cfg, char *err, size_t errlen)
{
	struct dns **old_dns = s->dns;
	size_t old_n = s->n_dns;
	/* Build the new channels first so that a failure leaves all as it was. */
	s->dns = NULL;
	s->n_dns = 0;
	if (sched_make_dns(s, cfg, err, errlen) == -1) {
		s->dns = old_dns;
		s->n_dns = old_n;
		return -1;
	}
	struct dns **new_dns = s->dns;
	size_t new_n = s->n_dns;
	s->dns = old_dns;
	s->n_dns = old_n;
	sched_abort_cycle(s);
	sched_free_dns(s);
	s->dns = new_dns;
	s->n_dns = new_n;
	s->cfg = cfg;
	results_configure(s->res, cfg);
	sched_publish_now(s);
	s->cycle_timer = loop_timer_add(s->loop, 0, sched_cycle_start, s);
	return 0;
}
