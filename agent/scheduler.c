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

/* An activation probe of a round refers to its state by index: the probe set
 * is rebuilt only between rounds. */
struct sched_kms_ctx {
	struct scheduler *s;
	size_t index;
};

struct sched_ondemand {
	struct scheduler *s;
	struct kms_state state;
	sched_probe_cb cb;
	void *arg;
	struct sched_ondemand *prev, *next;
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

	unsigned active; /* checks and activation probes in flight, under the cap */

	/* Activation probe rounds. */
	struct kms_product_ids *ids; /* per configured product */
	uint8_t cmid[KMS_GUID_SIZE];
	bool kms_running;
	uint64_t kms_started_ms;
	uint64_t kms_next_ms; /* when the next round may start */
	uint64_t kms_window_ms;
	size_t kms_next_release;
	size_t kms_next_start;
	size_t kms_done;
	struct sched_kms_ctx *kms_ctxs;
	struct loop_timer *kms_timer;
	struct sched_ondemand *ondemand;
	unsigned n_ondemand;
};

static void sched_cycle_start(struct loop *l, void *arg);
static void sched_release(struct loop *l, void *arg);
static void sched_start_ready(struct scheduler *s);
static void sched_kms_maybe_start(struct scheduler *s);
static void sched_kms_start_ready(struct scheduler *s);

uint64_t
sched_spread_window(size_t n, uint64_t interval_ms)
{
	uint64_t want = (uint64_t)n * SCHED_SPACING_MS;
	uint64_t cap = interval_ms / 4;
	return want < cap ? want : cap;
}

uint64_t
sched_kms_window(size_t n, uint64_t probe_interval_ms)
{
	uint64_t want = (uint64_t)n * SCHED_KMS_SPACING_MS;
	uint64_t cap = probe_interval_ms / 2;
	return want < cap ? want : cap;
}

uint64_t
sched_offset(size_t i, size_t n, uint64_t window_ms, uint32_t jitter)
{
	if (n == 0 || i >= n)
		return window_ms;
	uint64_t slot_start = window_ms * i / n;
	uint64_t slot_len = window_ms * (i + 1) / n - slot_start;
	/* In floating point: slot_len * jitter would overflow 64 bits for
	 * windows past 2^32 ms, and a scheduling offset needs no more precision. */
	return slot_start + (uint64_t)((double)slot_len * ((double)jitter / 4294967296.0));
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
	s->res->stats.in_flight = s->active + s->n_ondemand;
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
	sched_kms_maybe_start(s);

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
	s->active--;
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
	while (s->next_start < s->next_release && s->active < s->cfg->concurrency) {
		size_t i = s->next_start++;
		struct target *t = &s->res->targets[i];
		struct sched_probe_ctx *ctx = &s->ctxs[i];
		*ctx = (struct sched_probe_ctx){.s = s, .target = i};
		s->active++;
		t->probe = probe_tcp_start(s->loop, s->dns[t->resolver], t->host, t->port,
		                           s->cfg->timeout_ms, sched_probe_done, ctx);
	}
	/* Reachability checks go first; activation probes take the slots left. */
	sched_kms_start_ready(s);
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

/* Activation probe rounds. */

static void sched_kms_release(struct loop *l, void *arg);

static void
sched_kms_request(const struct scheduler *s, size_t product, unsigned version,
                  struct probe_kms_request *req)
{
	memset(req, 0, sizeof(*req));
	req->product = s->ids[product];
	req->version = version;
	memcpy(req->cmid, s->cmid, sizeof(req->cmid));
	snprintf(req->workstation, sizeof(req->workstation), "%s", s->cfg->workstation);
}

static void
sched_kms_done(void *arg, const struct probe_outcome *out)
{
	struct sched_kms_ctx *ctx = arg;
	struct scheduler *s = ctx->s;
	struct kms_state *k = &s->res->kms[ctx->index];
	k->probe = NULL;
	if (out->kms == PROBE_KMS_PROTOCOL_UNSUPPORTED && out->version > 4 && !k->fallback) {
		/* An old host: ask again the way a Windows 7 client would, in the
		 * same slot, and report the host as outdated. */
		log_info("%s:%u %s: protocol %u refused with 0x8007000D; retrying with protocol 4",
		         k->host, (unsigned)k->port, k->product, out->version);
		k->fallback = true;
		struct probe_kms_request req;
		sched_kms_request(s, k->product_index, 4, &req);
		k->probe = probe_kms_start(s->loop, s->dns[k->resolver], k->host, k->port,
		                           s->cfg->timeout_ms, &req, sched_kms_done, ctx);
		return;
	}
	results_set_kms(s->res, k, out, k->fallback);
	if (out->kms != PROBE_KMS_OK)
		log_debug("%s:%u %s: %s (%s)", k->host, (unsigned)k->port, k->product,
		          probe_kms_result_name(out->kms), out->detail);
	k->fallback = false;
	s->active--;
	s->kms_done++;
	sched_changed(s);
	sched_start_ready(s);
	if (s->kms_done == s->res->n_kms) {
		s->kms_running = false;
		s->res->stats.kms_rounds_total++;
		sched_publish_now(s);
	}
}

static void
sched_kms_start_ready(struct scheduler *s)
{
	while (s->kms_next_start < s->kms_next_release && s->active < s->cfg->concurrency) {
		size_t i = s->kms_next_start++;
		struct kms_state *k = &s->res->kms[i];
		struct sched_kms_ctx *ctx = &s->kms_ctxs[i];
		*ctx = (struct sched_kms_ctx){.s = s, .index = i};
		struct probe_kms_request req;
		sched_kms_request(s, k->product_index, s->ids[k->product_index].protocol_version,
		                  &req);
		s->active++;
		k->fallback = false;
		k->probe = probe_kms_start(s->loop, s->dns[k->resolver], k->host, k->port,
		                           s->cfg->timeout_ms, &req, sched_kms_done, ctx);
	}
}

static void
sched_kms_release_due(struct scheduler *s)
{
	size_t n = s->res->n_kms;
	uint64_t now = loop_monotonic_ms();
	while (s->kms_next_release < n) {
		uint64_t at = s->kms_started_ms + sched_offset(s->kms_next_release, n,
		                                               s->kms_window_ms, sched_random(s));
		if (at > now) {
			if (s->kms_timer == NULL)
				s->kms_timer =
				    loop_timer_add(s->loop, at - now, sched_kms_release, s);
			break;
		}
		s->kms_next_release++;
	}
	sched_kms_start_ready(s);
}

static void
sched_kms_release(struct loop *l, void *arg)
{
	(void)l;
	struct scheduler *s = arg;
	s->kms_timer = NULL;
	sched_kms_release_due(s);
}

/* Starts a round of activation probes when one is due: every target of the
 * set just checked, with every product. */
static void
sched_kms_maybe_start(struct scheduler *s)
{
	uint64_t now = loop_monotonic_ms();
	if (s->kms_running || s->cfg->n_products == 0 || now < s->kms_next_ms)
		return;
	results_rebuild_kms(s->res);
	size_t n = s->res->n_kms;
	free(s->kms_ctxs);
	s->kms_ctxs = calloc(n ? n : 1, sizeof(*s->kms_ctxs));
	if (s->kms_ctxs == NULL)
		fatal("scheduler");
	s->kms_started_ms = now;
	s->kms_next_ms = now + s->cfg->probe_interval_ms;
	s->kms_window_ms = sched_kms_window(n, s->cfg->probe_interval_ms);
	s->kms_next_release = s->kms_next_start = s->kms_done = 0;
	if (n == 0)
		return;
	s->kms_running = true;
	sched_kms_release_due(s);
}

static void
sched_ondemand_done(void *arg, const struct probe_outcome *out)
{
	struct sched_ondemand *o = arg;
	struct scheduler *s = o->s;
	struct kms_state *k = &o->state;
	k->probe = NULL;
	if (out->kms == PROBE_KMS_PROTOCOL_UNSUPPORTED && out->version > 4 && !k->fallback) {
		k->fallback = true;
		struct probe_kms_request req;
		sched_kms_request(s, k->product_index, 4, &req);
		k->probe = probe_kms_start(s->loop, s->dns[0], k->host, k->port, s->cfg->timeout_ms,
		                           &req, sched_ondemand_done, o);
		return;
	}
	k->checked = true;
	k->out = *out;
	k->outdated = k->fallback;
	if (out->kms == PROBE_KMS_OK) {
		k->have_data = true;
		k->last = out->resp;
		k->last_success_ms = (int64_t)(loop_wall_time() * 1000.0);
	}
	o->cb(o->arg, k);
	if (o->prev != NULL)
		o->prev->next = o->next;
	else
		s->ondemand = o->next;
	if (o->next != NULL)
		o->next->prev = o->prev;
	s->n_ondemand--;
	free(k->host);
	free(k->product);
	free(o);
}

int
sched_probe_once(struct scheduler *s, const char *host, uint16_t port, size_t product,
                 sched_probe_cb cb, void *arg)
{
	if (s->n_ondemand >= SCHED_MAX_ONDEMAND || product >= s->cfg->n_products)
		return -1;
	struct sched_ondemand *o = calloc(1, sizeof(*o));
	if (o == NULL)
		fatal("scheduler");
	o->s = s;
	o->cb = cb;
	o->arg = arg;
	o->state.host = strdup(host);
	o->state.product = strdup(s->cfg->products[product].name);
	if (o->state.host == NULL || o->state.product == NULL)
		fatal("scheduler");
	o->state.port = port;
	o->state.product_index = product;
	o->next = s->ondemand;
	if (s->ondemand != NULL)
		s->ondemand->prev = o;
	s->ondemand = o;
	s->n_ondemand++;
	struct probe_kms_request req;
	sched_kms_request(s, product, s->ids[product].protocol_version, &req);
	o->state.probe = probe_kms_start(s->loop, s->dns[0], host, port, s->cfg->timeout_ms, &req,
	                                 sched_ondemand_done, o);
	return 0;
}

/* Converts the configured products and identity to wire form. */
static int
sched_make_ids(struct scheduler *s, const struct config *cfg, char *err, size_t errlen)
{
	struct kms_product_ids *ids = calloc(cfg->n_products ? cfg->n_products : 1, sizeof(*ids));
	if (ids == NULL)
		fatal("scheduler");
	uint8_t cmid[KMS_GUID_SIZE];
	if (kms_guid_parse(cfg->cmid, cmid) == -1) {
		snprintf(err, errlen, "identity.cmid: \"%s\" is not a GUID", cfg->cmid);
		free(ids);
		return -1;
	}
	for (size_t i = 0; i < cfg->n_products; i++) {
		const struct config_product *p = &cfg->products[i];
		if (kms_guid_parse(p->application_id, ids[i].application_id) == -1 ||
		    kms_guid_parse(p->sku_id, ids[i].sku_id) == -1 ||
		    kms_guid_parse(p->kms_counted_id, ids[i].kms_counted_id) == -1) {
			snprintf(err, errlen, "product %s: malformed GUID", p->name);
			free(ids);
			return -1;
		}
		ids[i].required_count = p->required_count;
		ids[i].protocol_version = p->protocol;
	}
	free(s->ids);
	s->ids = ids;
	memcpy(s->cmid, cmid, sizeof(cmid));
	return 0;
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
	for (size_t i = 0; i < s->res->n_kms; i++) {
		struct kms_state *k = &s->res->kms[i];
		if (k->probe != NULL) {
			probe_cancel(k->probe);
			k->probe = NULL;
		}
		k->fallback = false;
	}
	while (s->ondemand != NULL) {
		/* An on-demand probe still answers its caller, as a timeout. */
		struct sched_ondemand *o = s->ondemand;
		probe_cancel(o->state.probe);
		struct probe_outcome out;
		memset(&out, 0, sizeof(out));
		out.kms = PROBE_KMS_TIMEOUT;
		out.hresult = PROBE_HR_NO_ANSWER;
		snprintf(out.detail, sizeof(out.detail),
		         "abandoned: the agent reloaded or stopped");
		o->state.fallback = true;
		sched_ondemand_done(o, &out);
	}
	if (s->kms_timer != NULL) {
		loop_timer_cancel(s->loop, s->kms_timer);
		s->kms_timer = NULL;
	}
	s->kms_running = false;
	s->active = 0;
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
	if (sched_make_ids(s, cfg, err, errlen) == -1 ||
	    sched_make_dns(s, cfg, err, errlen) == -1) {
		free(s->ids);
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
	free(s->kms_ctxs);
	free(s->ids);
	free(s);
}

int
sched_reconfigure(struct scheduler *s, const struct config *cfg, char *err, size_t errlen)
{
	struct kms_product_ids *old_ids = s->ids;
	s->ids = NULL;
	if (sched_make_ids(s, cfg, err, errlen) == -1) {
		s->ids = old_ids;
		return -1;
	}
	struct kms_product_ids *new_ids = s->ids;
	s->ids = old_ids;
	struct dns **old_dns = s->dns;
	size_t old_n = s->n_dns;
	/* Build the new channels first so that a failure leaves all as it was. */
	s->dns = NULL;
	s->n_dns = 0;
	if (sched_make_dns(s, cfg, err, errlen) == -1) {
		s->dns = old_dns;
		s->n_dns = old_n;
		free(new_ids);
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
	free(s->ids);
	s->ids = new_ids;
	s->cfg = cfg;
	s->kms_next_ms = 0;
	results_configure(s->res, cfg);
	sched_publish_now(s);
	s->cycle_timer = loop_timer_add(s->loop, 0, sched_cycle_start, s);
	return 0;
}
