/*
 * Unit tests for the results store with hand-built configurations: the target
 * set (union of static hosts and SRV targets, order, sources, duplicates,
 * what a failed lookup keeps), SRV consistency across resolvers, keeping and
 * dropping state on reconfiguration, carrying check outcomes over, and the
 * rendered snapshot (expected series, and promtool when installed).
 */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kmswatch/config.h"
#include "kmswatch/dns.h"
#include "kmswatch/probe.h"
#include "kmswatch/results.h"
#include "kmswatch/snapshot.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_ITEMS    8
#define PROMTOOL     "/usr/bin/promtool"

/*
 * A configuration built by hand: every string is a private copy, so the test
 * owns it and frees it with tcfg_free. Resolvers are given as "ADDRESS:PORT".
 */
struct tcfg {
	struct config c;
	struct config_resolver resolvers[MAX_ITEMS];
	char *domains[MAX_ITEMS];
	struct config_target hosts[MAX_ITEMS];
};

static char *
xstrdup(const char *s)
{
	char *p = strdup(s);
	cr_assert_not_null(p);
	return p;
}

/* "host:port" for static hosts (port required here). */
static struct tcfg *
tcfg_new(const char *const *domains, size_t nd, const char *const *resolvers, size_t nr,
         const char *const *hosts, size_t nh)
{
	cr_assert_leq(nd, MAX_ITEMS);
	cr_assert_leq(nr, MAX_ITEMS);
	cr_assert_leq(nh, MAX_ITEMS);
	struct tcfg *t = calloc(1, sizeof(*t));
	cr_assert_not_null(t);
	t->c.interval_ms = 60000;
	t->c.timeout_ms = 5000;
	t->c.concurrency = 256;
	for (size_t i = 0; i < nd; i++)
		t->domains[i] = xstrdup(domains[i]);
	for (size_t i = 0; i < nr; i++) {
		const char *colon = strrchr(resolvers[i], ':');
		cr_assert_not_null(colon);
		struct config_resolver *r = &t->resolvers[i];
		r->name = xstrdup(resolvers[i]);
		r->address = strndup(resolvers[i], (size_t)(colon - resolvers[i]));
		cr_assert_not_null(r->address);
		r->port = (uint16_t)atoi(colon + 1);
		r->system = false;
	}
	for (size_t i = 0; i < nh; i++) {
		const char *colon = strrchr(hosts[i], ':');
		cr_assert_not_null(colon);
		t->hosts[i].host = strndup(hosts[i], (size_t)(colon - hosts[i]));
		cr_assert_not_null(t->hosts[i].host);
		t->hosts[i].port = (uint16_t)atoi(colon + 1);
	}
	t->c.domains = t->domains;
	t->c.n_domains = nd;
	t->c.resolvers = t->resolvers;
	t->c.n_resolvers = nr;
	t->c.hosts = t->hosts;
	t->c.n_hosts = nh;
	return t;
}

static void
tcfg_free(struct tcfg *t)
{
	for (size_t i = 0; i < t->c.n_domains; i++)
		free(t->domains[i]);
	for (size_t i = 0; i < t->c.n_resolvers; i++) {
		free(t->resolvers[i].name);
		free(t->resolvers[i].address);
	}
	for (size_t i = 0; i < t->c.n_hosts; i++)
		free(t->hosts[i].host);
	free(t);
}

/* Records as the adapter hands them over (targets are not owned by dns_srv). */
struct rec {
	const char *target;
	uint16_t port, priority, weight;
};

static void
set_srv(struct results *r, size_t d, size_t v, enum dns_result res, const struct rec *recs,
        size_t n)
{
	struct dns_srv srv[16];
	char names[16][64];
	cr_assert_leq(n, ARRAY_LEN(srv));
	for (size_t i = 0; i < n; i++) {
		/* Private copies, overwritten afterwards: the store must copy. */
		snprintf(names[i], sizeof(names[i]), "%s", recs[i].target);
		srv[i] = (struct dns_srv){.target = names[i],
		                          .port = recs[i].port,
		                          .priority = recs[i].priority,
		                          .weight = recs[i].weight};
	}
	results_set_srv(r, d, v, res, n > 0 ? srv : NULL, n, 12345);
	for (size_t i = 0; i < n; i++)
		memset(names[i], 'X', sizeof(names[i]) - 1);
}

/* The expected target set, in order. */
struct want_target {
	const char *host;
	uint16_t port;
	enum target_source source;
	size_t resolver;
};

static void
assert_targets(const struct results *r, const struct want_target *want, size_t n)
{
	for (size_t i = 0; i < r->n_targets && i < n; i++) {
		const struct target *t = &r->targets[i];
		cr_assert_str_eq(t->host, want[i].host, "target %zu: %s:%u, want %s:%u", i, t->host,
		                 (unsigned)t->port, want[i].host, (unsigned)want[i].port);
		cr_assert_eq(t->port, want[i].port, "target %zu (%s): port %u, want %u", i, t->host,
		             (unsigned)t->port, (unsigned)want[i].port);
		cr_assert_eq(t->source, want[i].source, "target %zu (%s:%u): source %s, want %s", i,
		             t->host, (unsigned)t->port, target_source_name(t->source),
		             target_source_name(want[i].source));
		if (want[i].source == TARGET_SRV)
			cr_assert_eq(t->resolver, want[i].resolver,
			             "target %zu (%s:%u): resolver %zu, want %zu", i, t->host,
			             (unsigned)t->port, t->resolver, want[i].resolver);
		cr_assert_null(t->probe);
	}
	cr_assert_eq(r->n_targets, n, "%zu targets, want %zu", r->n_targets, n);
}

static const struct target *
find_target(const struct results *r, const char *host, uint16_t port)
{
	for (size_t i = 0; i < r->n_targets; i++)
		if (strcmp(r->targets[i].host, host) == 0 && r->targets[i].port == port)
			return &r->targets[i];
	return NULL;
}

static const char *const one_domain[] = {"a.test"};
static const char *const two_domains[] = {"a.test", "b.test"};
static const char *const one_resolver[] = {"127.0.0.1:53"};
static const char *const two_resolvers[] = {"127.0.0.1:53", "127.0.0.2:5353"};
static const char *const three_resolvers[] = {"127.0.0.1:53", "127.0.0.2:5353", "127.0.0.3:53"};

Test(results, new_store_holds_static_hosts)
{
	static const char *const hosts[] = {"zeta.test:1688", "alpha.test:1688"};
	struct tcfg *t = tcfg_new(one_domain, 1, one_resolver, 1, hosts, 2);
	struct results *r = results_new(&t->c);
	static const struct want_target want[] = {
	    {"alpha.test", 1688, TARGET_STATIC, 0},
	    {"zeta.test", 1688, TARGET_STATIC, 0},
	};
	assert_targets(r, want, ARRAY_LEN(want));
	cr_assert_not(results_srv(r, 0, 0)->have);
	cr_assert_not(r->stats.ready);
	results_free(r);
	results_free(NULL);
	tcfg_free(t);
}

Test(results, union_sorted_by_host_then_port)
{
	static const char *const hosts[] = {"zeta.test:1688", "alpha.test:1688", "kms1.a.test:999"};
	static const struct rec recs[] = {
	    {"kms2.a.test", 1688, 0, 0},
	    {"kms1.a.test", 1688, 0, 0},
	    {"alpha.test", 1700, 0, 0},
	    /* Ports compare as numbers: 999 before 1688, 10000 after. */
	    {"kms1.a.test", 10000, 0, 0},
	};
	struct tcfg *t = tcfg_new(one_domain, 1, one_resolver, 1, hosts, 3);
	struct results *r = results_new(&t->c);
	set_srv(r, 0, 0, DNS_OK, recs, ARRAY_LEN(recs));
	results_rebuild_targets(r);
	static const struct want_target want[] = {
	    {"alpha.test", 1688, TARGET_STATIC, 0}, {"alpha.test", 1700, TARGET_SRV, 0},
	    {"kms1.a.test", 999, TARGET_STATIC, 0}, {"kms1.a.test", 1688, TARGET_SRV, 0},
	    {"kms1.a.test", 10000, TARGET_SRV, 0},  {"kms2.a.test", 1688, TARGET_SRV, 0},
	    {"zeta.test", 1688, TARGET_STATIC, 0},
	};
	assert_targets(r, want, ARRAY_LEN(want));

	const struct srv_state *s = results_srv(r, 0, 0);
	cr_assert(s->have);
	cr_assert_eq(s->result, DNS_OK);
	cr_assert_eq(s->n, 4);
	cr_assert_eq(s->n_known, 4);
	results_free(r);
	tcfg_free(t);
}

Test(results, static_and_published_host_stays_static)
{
	static const char *const hosts[] = {"kms1.a.test:1688"};
	static const struct rec recs[] = {
	    {"kms1.a.test", 1688, 0, 100},
	    {"kms2.a.test", 1688, 0, 100},
	};
	struct tcfg *t = tcfg_new(two_domains, 2, two_resolvers, 2, hosts, 1);
	struct results *r = results_new(&t->c);
	/* Published under both domains on both resolvers. */
	for (size_t d = 0; d < 2; d++)
		for (size_t v = 0; v < 2; v++)
			set_srv(r, d, v, DNS_OK, recs, 2);
	results_rebuild_targets(r);
	static const struct want_target want[] = {
	    {"kms1.a.test", 1688, TARGET_STATIC, 0},
	    {"kms2.a.test", 1688, TARGET_SRV, 0},
	};
	assert_targets(r, want, ARRAY_LEN(want));
	results_free(r);
	tcfg_free(t);
}

Test(results, duplicates_across_resolvers_appear_once)
{
	static const struct rec first[] = {
	    {"kms.a.test", 1688, 0, 100},
	    {"shared.a.test", 1688, 0, 100},
	};
	static const struct rec second[] = {
	    {"shared.a.test", 1688, 5, 50}, /* same target, other priority and weight */
	    {"kms.a.test", 1688, 0, 100},
	    {"only-second.a.test", 1688, 0, 100},
	};
	static const struct rec third[] = {
	    {"only-third.a.test", 1688, 0, 0},
	    {"only-second.a.test", 1688, 0, 0},
	};
	struct tcfg *t = tcfg_new(one_domain, 1, three_resolvers, 3, NULL, 0);
	struct results *r = results_new(&t->c);
	set_srv(r, 0, 2, DNS_OK, third, ARRAY_LEN(third));
	set_srv(r, 0, 1, DNS_OK, second, ARRAY_LEN(second));
	set_srv(r, 0, 0, DNS_OK, first, ARRAY_LEN(first));
	results_rebuild_targets(r);
	static const struct want_target want[] = {
	    {"kms.a.test", 1688, TARGET_SRV, 0},
	    {"only-second.a.test", 1688, TARGET_SRV, 1},
	    {"only-third.a.test", 1688, TARGET_SRV, 2},
	    {"shared.a.test", 1688, TARGET_SRV, 0},
	};
	assert_targets(r, want, ARRAY_LEN(want));
	results_free(r);
	tcfg_free(t);
}

/* Records repeated in one answer collapse; the same target twice with different
 * priority stays one target. */
Test(results, duplicates_within_an_answer)
{
	static const struct rec recs[] = {
	    {"kms.a.test", 1688, 0, 100},
	    {"kms.a.test", 1688, 0, 100},
	    {"kms.a.test", 1688, 10, 100},
	};
	struct tcfg *t = tcfg_new(one_domain, 1, one_resolver, 1, NULL, 0);
	struct results *r = results_new(&t->c);
	set_srv(r, 0, 0, DNS_OK, recs, ARRAY_LEN(recs));
	cr_assert_eq(results_srv(r, 0, 0)->n, 2, "exact duplicates are kept");
	results_rebuild_targets(r);
	static const struct want_target want[] = {{"kms.a.test", 1688, TARGET_SRV, 0}};
	assert_targets(r, want, ARRAY_LEN(want));
	results_free(r);
	tcfg_free(t);
}

/*
 * A lookup that fails (timeout, servfail, refused, error) keeps the targets of
 * the last definitive answer; a definitive nxdomain or nodata drops them.
 */
Test(results, failed_lookup_keeps_known_targets)
{
	static const struct rec recs[] = {
	    {"kms1.a.test", 1688, 0, 0},
	    {"kms2.a.test", 1688, 0, 0},
	};
	static const enum dns_result failures[] = {DNS_TIMEOUT, DNS_SERVFAIL, DNS_REFUSED,
	                                           DNS_ERROR};
	static const struct want_target want[] = {
	    {"kms1.a.test", 1688, TARGET_SRV, 0},
	    {"kms2.a.test", 1688, TARGET_SRV, 0},
	};
	struct tcfg *t = tcfg_new(one_domain, 1, one_resolver, 1, NULL, 0);
	struct results *r = results_new(&t->c);
	set_srv(r, 0, 0, DNS_OK, recs, 2);
	results_rebuild_targets(r);
	assert_targets(r, want, 2);

	for (size_t i = 0; i < ARRAY_LEN(failures); i++) {
		set_srv(r, 0, 0, failures[i], NULL, 0);
		results_rebuild_targets(r);
		assert_targets(r, want, 2);
		const struct srv_state *s = results_srv(r, 0, 0);
		cr_assert_eq(s->result, failures[i]);
		/* The latest answer is empty; what is known stays. */
		cr_assert_eq(s->n, 0, "%s left records in the latest answer",
		             dns_result_name(failures[i]));
		cr_assert_eq(s->n_known, 2);
	}

	set_srv(r, 0, 0, DNS_NXDOMAIN, NULL, 0);
	results_rebuild_targets(r);
	assert_targets(r, NULL, 0);
	cr_assert_eq(results_srv(r, 0, 0)->n_known, 0);

	/* A failure after a definitive "none" brings nothing back. */
	set_srv(r, 0, 0, DNS_TIMEOUT, NULL, 0);
	results_rebuild_targets(r);
	assert_targets(r, NULL, 0);

	set_srv(r, 0, 0, DNS_OK, recs, 2);
	results_rebuild_targets(r);
	assert_targets(r, want, 2);
	set_srv(r, 0, 0, DNS_NODATA, NULL, 0);
	results_rebuild_targets(r);
	assert_targets(r, NULL, 0);
	results_free(r);
	tcfg_free(t);
}

/* A failure before any definitive answer adds nothing. */
Test(results, failure_first_adds_nothing)
{
	struct tcfg *t = tcfg_new(one_domain, 1, one_resolver, 1, NULL, 0);
	struct results *r = results_new(&t->c);
	set_srv(r, 0, 0, DNS_TIMEOUT, NULL, 0);
	results_rebuild_targets(r);
	assert_targets(r, NULL, 0);
	cr_assert(results_srv(r, 0, 0)->have);
	results_free(r);
	tcfg_free(t);
}

/* Consistency. */

Test(results, consistent_same_targets_any_order)
{
	static const struct rec a[] = {
	    {"kms1.a.test", 1688, 0, 100},
	    {"kms2.a.test", 1688, 0, 100},
	};
	static const struct rec b[] = {
	    {"kms2.a.test", 1688, 0, 100},
	    {"kms1.a.test", 1688, 0, 100},
	};
	struct tcfg *t = tcfg_new(one_domain, 1, two_resolvers, 2, NULL, 0);
	struct results *r = results_new(&t->c);
	/* Nothing known yet: nothing disagrees. */
	cr_assert(results_srv_consistent(r, 0));
	set_srv(r, 0, 0, DNS_OK, a, 2);
	cr_assert(results_srv_consistent(r, 0));
	set_srv(r, 0, 1, DNS_OK, b, 2);
	cr_assert(results_srv_consistent(r, 0));
	results_free(r);
	tcfg_free(t);
}

Test(results, inconsistent_ports_or_targets)
{
	static const struct rec a[] = {{"kms1.a.test", 1688, 0, 100}};
	static const struct rec other_port[] = {{"kms1.a.test", 1689, 0, 100}};
	static const struct rec other_host[] = {{"kms9.a.test", 1688, 0, 100}};
	static const struct rec more[] = {
	    {"kms1.a.test", 1688, 0, 100},
	    {"kms2.a.test", 1688, 0, 100},
	};
	struct tcfg *t = tcfg_new(one_domain, 1, two_resolvers, 2, NULL, 0);
	struct results *r = results_new(&t->c);
	set_srv(r, 0, 0, DNS_OK, a, 1);
	set_srv(r, 0, 1, DNS_OK, other_port, 1);
	cr_assert_not(results_srv_consistent(r, 0), "different ports counted as consistent");
	set_srv(r, 0, 1, DNS_OK, other_host, 1);
	cr_assert_not(results_srv_consistent(r, 0));
	set_srv(r, 0, 1, DNS_OK, more, 2);
	cr_assert_not(results_srv_consistent(r, 0), "a superset counted as consistent");
	/* The other way round too. */
	set_srv(r, 0, 0, DNS_OK, more, 2);
	set_srv(r, 0, 1, DNS_OK, a, 1);
	cr_assert_not(results_srv_consistent(r, 0), "a subset counted as consistent");
	/* An answer of no records disagrees with one of some. */
	set_srv(r, 0, 1, DNS_NXDOMAIN, NULL, 0);
	cr_assert_not(results_srv_consistent(r, 0));
	set_srv(r, 0, 0, DNS_NODATA, NULL, 0);
	cr_assert(results_srv_consistent(r, 0), "nodata and nxdomain both say none");
	results_free(r);
	tcfg_free(t);
}

Test(results, priority_and_weight_alone_stay_consistent)
{
	static const struct rec a[] = {
	    {"kms1.a.test", 1688, 0, 100},
	    {"kms2.a.test", 1688, 0, 100},
	};
	static const struct rec b[] = {
	    {"kms1.a.test", 1688, 10, 5},
	    {"kms2.a.test", 1688, 20, 0},
	    /* The same target twice with other priorities is still one target. */
	    {"kms2.a.test", 1688, 30, 0},
	};
	struct tcfg *t = tcfg_new(one_domain, 1, two_resolvers, 2, NULL, 0);
	struct results *r = results_new(&t->c);
	set_srv(r, 0, 0, DNS_OK, a, 2);
	set_srv(r, 0, 1, DNS_OK, b, 3);
	cr_assert(results_srv_consistent(r, 0));
	/* And with the repeated record on the first resolver's side. */
	set_srv(r, 0, 0, DNS_OK, b, 3);
	set_srv(r, 0, 1, DNS_OK, a, 2);
	cr_assert(results_srv_consistent(r, 0));
	results_free(r);
	tcfg_free(t);
}

Test(results, failed_resolver_ignored_for_consistency)
{
	static const struct rec a[] = {{"kms1.a.test", 1688, 0, 100}};
	static const struct rec b[] = {{"kms2.a.test", 1688, 0, 100}};
	static const enum dns_result failures[] = {DNS_TIMEOUT, DNS_SERVFAIL, DNS_REFUSED,
	                                           DNS_ERROR};
	struct tcfg *t = tcfg_new(one_domain, 1, three_resolvers, 3, NULL, 0);
	struct results *r = results_new(&t->c);
	set_srv(r, 0, 0, DNS_OK, a, 1);
	set_srv(r, 0, 2, DNS_OK, a, 1);
	/* Resolver 1 answered differently before and has failed since. */
	set_srv(r, 0, 1, DNS_OK, b, 1);
	cr_assert_not(results_srv_consistent(r, 0));
	for (size_t i = 0; i < ARRAY_LEN(failures); i++) {
		set_srv(r, 0, 1, failures[i], NULL, 0);
		cr_assert(results_srv_consistent(r, 0), "a resolver with %s was counted",
		          dns_result_name(failures[i]));
	}
	/* Even when it is the first resolver. */
	set_srv(r, 0, 0, DNS_TIMEOUT, NULL, 0);
	set_srv(r, 0, 1, DNS_OK, a, 1);
	cr_assert(results_srv_consistent(r, 0));
	results_free(r);
	tcfg_free(t);
}

/* Each domain's consistency is its own. */
Test(results, consistency_per_domain)
{
	static const struct rec a[] = {{"kms1.a.test", 1688, 0, 100}};
	static const struct rec b[] = {{"kms2.a.test", 1688, 0, 100}};
	struct tcfg *t = tcfg_new(two_domains, 2, two_resolvers, 2, NULL, 0);
	struct results *r = results_new(&t->c);
	set_srv(r, 0, 0, DNS_OK, a, 1);
	set_srv(r, 0, 1, DNS_OK, b, 1);
	set_srv(r, 1, 0, DNS_OK, b, 1);
	set_srv(r, 1, 1, DNS_OK, b, 1);
	cr_assert_not(results_srv_consistent(r, 0));
	cr_assert(results_srv_consistent(r, 1));
	results_free(r);
	tcfg_free(t);
}

/* Reconfiguration. */

Test(results, configure_keeps_remaining_drops_others)
{
	static const char *const old_domains[] = {"a.test", "b.test"};
	static const char *const old_resolvers[] = {"127.0.0.1:53", "127.0.0.2:53"};
	/* Reordered, one domain and one resolver replaced. */
	static const char *const new_domains[] = {"c.test", "b.test"};
	static const char *const new_resolvers[] = {"127.0.0.3:53", "127.0.0.2:53"};
	static const struct rec ra[] = {{"kms.a.test", 1688, 0, 0}};
	static const struct rec rb1[] = {{"kms1.b.test", 1688, 0, 0}};
	static const struct rec rb2[] = {
	    {"kms2.b.test", 1688, 0, 0},
	    {"kms3.b.test", 1688, 0, 0},
	};
	struct tcfg *old = tcfg_new(old_domains, 2, old_resolvers, 2, NULL, 0);
	struct tcfg *new = tcfg_new(new_domains, 2, new_resolvers, 2, NULL, 0);
	struct results *r = results_new(&old->c);
	set_srv(r, 0, 0, DNS_OK, ra, 1);
	set_srv(r, 0, 1, DNS_OK, ra, 1);
	set_srv(r, 1, 0, DNS_OK, rb1, 1);
	set_srv(r, 1, 1, DNS_OK, rb2, 2);
	results_rebuild_targets(r);
	cr_assert_eq(r->n_targets, 4);

	results_configure(r, &new->c);
	/* The old configuration may go now: nothing may still point into it. */
	tcfg_free(old);
	cr_assert_eq(r->cfg, &new->c);

	/* b.test on 127.0.0.2:53 is now domain 1, resolver 1. */
	const struct srv_state *kept = results_srv(r, 1, 1);
	cr_assert(kept->have);
	cr_assert_eq(kept->result, DNS_OK);
	cr_assert_eq(kept->n, 2);
	cr_assert_eq(kept->n_known, 2);
	cr_assert_str_eq(kept->recs[0].target, "kms2.b.test");
	cr_assert_str_eq(kept->recs[1].target, "kms3.b.test");
	/* Everything else starts afresh. */
	cr_assert_not(results_srv(r, 0, 0)->have);
	cr_assert_not(results_srv(r, 0, 1)->have);
	cr_assert_not(results_srv(r, 1, 0)->have);
	cr_assert_eq(results_srv(r, 1, 0)->n_known, 0);

	/* The target set was rebuilt from what was kept. */
	static const struct want_target want[] = {
	    {"kms2.b.test", 1688, TARGET_SRV, 1},
	    {"kms3.b.test", 1688, TARGET_SRV, 1},
	};
	assert_targets(r, want, ARRAY_LEN(want));
	results_free(r);
	tcfg_free(new);
}

/* Reconfiguring to the same lists keeps everything, including check outcomes. */
Test(results, configure_identical_keeps_all)
{
	static const char *const hosts[] = {"static.test:1688"};
	static const struct rec recs[] = {{"kms.a.test", 1688, 0, 0}};
	struct tcfg *a = tcfg_new(two_domains, 2, two_resolvers, 2, hosts, 1);
	struct tcfg *b = tcfg_new(two_domains, 2, two_resolvers, 2, hosts, 1);
	struct results *r = results_new(&a->c);
	for (size_t d = 0; d < 2; d++)
		for (size_t v = 0; v < 2; v++)
			set_srv(r, d, v, DNS_OK, recs, 1);
	results_rebuild_targets(r);
	cr_assert_eq(r->n_targets, 2);
	for (size_t i = 0; i < r->n_targets; i++) {
		r->targets[i].checked = true;
		r->targets[i].tcp.tcp = PROBE_TCP_REFUSED;
	}
	results_configure(r, &b->c);
	tcfg_free(a);
	for (size_t d = 0; d < 2; d++)
		for (size_t v = 0; v < 2; v++) {
			cr_assert(results_srv(r, d, v)->have);
			cr_assert_eq(results_srv(r, d, v)->n_known, 1);
		}
	cr_assert_eq(r->n_targets, 2);
	for (size_t i = 0; i < r->n_targets; i++) {
		cr_assert(r->targets[i].checked);
		cr_assert_eq(r->targets[i].tcp.tcp, PROBE_TCP_REFUSED);
	}
	results_free(r);
	tcfg_free(b);
}

/* A resolver dropped from the configuration takes its targets with it. */
Test(results, configure_dropping_resolver_drops_its_targets)
{
	static const struct rec first[] = {{"kms1.a.test", 1688, 0, 0}};
	static const struct rec second[] = {{"kms2.a.test", 1688, 0, 0}};
	static const char *const only_second[] = {"127.0.0.2:5353"};
	struct tcfg *a = tcfg_new(one_domain, 1, two_resolvers, 2, NULL, 0);
	struct tcfg *b = tcfg_new(one_domain, 1, only_second, 1, NULL, 0);
	struct results *r = results_new(&a->c);
	set_srv(r, 0, 0, DNS_OK, first, 1);
	set_srv(r, 0, 1, DNS_OK, second, 1);
	results_rebuild_targets(r);
	cr_assert_eq(r->n_targets, 2);
	results_configure(r, &b->c);
	tcfg_free(a);
	static const struct want_target want[] = {{"kms2.a.test", 1688, TARGET_SRV, 0}};
	assert_targets(r, want, ARRAY_LEN(want));
	results_free(r);
	tcfg_free(b);
}

/* Check outcomes. */

static void
mark_checked(struct results *r, const char *host, uint16_t port, enum probe_tcp_result res,
             double seconds)
{
	for (size_t i = 0; i < r->n_targets; i++) {
		struct target *t = &r->targets[i];
		if (strcmp(t->host, host) == 0 && t->port == port) {
			t->checked = true;
			t->tcp = (struct probe_outcome){.tcp = res, .connect_seconds = seconds};
			snprintf(t->tcp.address, sizeof(t->tcp.address), "127.0.0.9:%u",
			         (unsigned)port);
			return;
		}
	}
	cr_assert_fail("no target %s:%u", host, (unsigned)port);
}

Test(results, checked_outcomes_carry_over)
{
	static const char *const hosts[] = {"static.test:1688"};
	static const struct rec before[] = {
	    {"kms1.a.test", 1688, 0, 0},
	    {"kms2.a.test", 1688, 0, 0},
	};
	static const struct rec after[] = {
	    {"kms2.a.test", 1688, 0, 0},
	    {"kms3.a.test", 1688, 0, 0},
	    /* Published now as well: it stays static and keeps its outcome. */
	    {"static.test", 1688, 0, 0},
	};
	struct tcfg *t = tcfg_new(one_domain, 1, one_resolver, 1, hosts, 1);
	struct results *r = results_new(&t->c);
	set_srv(r, 0, 0, DNS_OK, before, 2);
	results_rebuild_targets(r);
	mark_checked(r, "kms1.a.test", 1688, PROBE_TCP_OK, 0.01);
	mark_checked(r, "kms2.a.test", 1688, PROBE_TCP_TIMEOUT, 5.0);
	mark_checked(r, "static.test", 1688, PROBE_TCP_REFUSED, 0.002);

	set_srv(r, 0, 0, DNS_OK, after, 3);
	results_rebuild_targets(r);
	cr_assert_eq(r->n_targets, 3);
	cr_assert_null(find_target(r, "kms1.a.test", 1688));

	const struct target *k2 = find_target(r, "kms2.a.test", 1688);
	cr_assert_not_null(k2);
	cr_assert(k2->checked);
	cr_assert_eq(k2->tcp.tcp, PROBE_TCP_TIMEOUT);
	cr_assert_float_eq(k2->tcp.connect_seconds, 5.0, 1e-9);
	cr_assert_str_eq(k2->tcp.address, "127.0.0.9:1688");

	const struct target *k3 = find_target(r, "kms3.a.test", 1688);
	cr_assert_not_null(k3);
	cr_assert_not(k3->checked, "a new target came with an outcome");

	const struct target *st = find_target(r, "static.test", 1688);
	cr_assert_not_null(st);
	cr_assert_eq(st->source, TARGET_STATIC);
	cr_assert(st->checked);
	cr_assert_eq(st->tcp.tcp, PROBE_TCP_REFUSED);

	/* A target that drops out and comes back starts unchecked. */
	set_srv(r, 0, 0, DNS_OK, before, 2);
	results_rebuild_targets(r);
	const struct target *k1 = find_target(r, "kms1.a.test", 1688);
	cr_assert_not_null(k1);
	cr_assert_not(k1->checked);
	results_free(r);
	tcfg_free(t);
}

/* Rendering. */

static bool
has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
		if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
			return true;
	return false;
}

static void
assert_line(const char *text, const char *line)
{
	cr_assert(has_line(text, line), "missing line: %s\n--- exposition ---\n%s", line, text);
}

/* A store with a little of everything: two domains, two resolvers, records,
 * a failure, static and SRV targets, checked and unchecked. */
static struct results *
rich_store(struct tcfg **cfg)
{
	static const char *const hosts[] = {"static.test:1688", "kms1.a.test:1688"};
	static const struct rec recs[] = {
	    {"kms1.a.test", 1688, 0, 100},
	    {"kms2.a.test", 1689, 10, 50},
	};
	struct tcfg *t = tcfg_new(two_domains, 2, two_resolvers, 2, hosts, 2);
	struct results *r = results_new(&t->c);
	set_srv(r, 0, 0, DNS_OK, recs, 2);
	set_srv(r, 0, 1, DNS_OK, recs, 2);
	set_srv(r, 1, 0, DNS_NXDOMAIN, NULL, 0);
	set_srv(r, 1, 1, DNS_TIMEOUT, NULL, 0);
	results_rebuild_targets(r);
	mark_checked(r, "kms1.a.test", 1688, PROBE_TCP_OK, 0.25);
	mark_checked(r, "kms2.a.test", 1689, PROBE_TCP_REFUSED, 0.001);
	r->stats.cycles_total = 3;
	r->stats.ready = true;
	*cfg = t;
	return r;
}

Test(results, snapshot_series)
{
	struct tcfg *t;
	struct results *r = rich_store(&t);
	struct snapshot *s = results_snapshot(r, NULL);
	cr_assert_not_null(s);
	cr_assert(s->ready);
	cr_assert_not_null(s->metrics.data);
	cr_assert_eq(strlen(s->metrics.data), s->metrics.len);
	const char *m = s->metrics.data;

	assert_line(m, "kms_srv_records{domain=\"a.test\",resolver=\"127.0.0.1:53\"} 2");
	assert_line(m, "kms_srv_records{domain=\"a.test\",resolver=\"127.0.0.2:5353\"} 2");
	assert_line(m, "kms_srv_records{domain=\"b.test\",resolver=\"127.0.0.1:53\"} 0");
	assert_line(m, "kms_srv_records{domain=\"b.test\",resolver=\"127.0.0.2:5353\"} 0");
	assert_line(m, "kms_srv_lookup_success{domain=\"a.test\",resolver=\"127.0.0.1:53\"} 1");
	assert_line(m, "kms_srv_lookup_success{domain=\"b.test\",resolver=\"127.0.0.1:53\"} 0");
	assert_line(m, "kms_srv_lookup_result{domain=\"a.test\",resolver=\"127.0.0.1:53\","
	               "result=\"ok\"} 1");
	assert_line(m, "kms_srv_lookup_result{domain=\"a.test\",resolver=\"127.0.0.1:53\","
	               "result=\"timeout\"} 0");
	assert_line(m, "kms_srv_lookup_result{domain=\"b.test\",resolver=\"127.0.0.1:53\","
	               "result=\"nxdomain\"} 1");
	assert_line(m, "kms_srv_lookup_result{domain=\"b.test\",resolver=\"127.0.0.2:5353\","
	               "result=\"timeout\"} 1");
	assert_line(m, "kms_srv_lookup_duration_seconds{domain=\"a.test\","
	               "resolver=\"127.0.0.1:53\"} 0.012345");
	assert_line(m, "kms_srv_record_info{domain=\"a.test\",resolver=\"127.0.0.1:53\","
	               "host=\"kms1.a.test\",port=\"1688\",priority=\"0\",weight=\"100\"} 1");
	assert_line(m, "kms_srv_record_info{domain=\"a.test\",resolver=\"127.0.0.2:5353\","
	               "host=\"kms2.a.test\",port=\"1689\",priority=\"10\",weight=\"50\"} 1");
	assert_line(m, "kms_srv_consistent{domain=\"a.test\"} 1");
	/* nxdomain on one resolver, a timeout (ignored) on the other. */
	assert_line(m, "kms_srv_consistent{domain=\"b.test\"} 1");

	assert_line(m, "kms_tcp_connect_success{host=\"kms1.a.test\",port=\"1688\","
	               "source=\"static\"} 1");
	assert_line(m, "kms_tcp_connect_success{host=\"kms2.a.test\",port=\"1689\","
	               "source=\"srv\"} 0");
	assert_line(m, "kms_tcp_connect_result{host=\"kms2.a.test\",port=\"1689\","
	               "result=\"refused\"} 1");
	assert_line(m, "kms_tcp_connect_result{host=\"kms2.a.test\",port=\"1689\","
	               "result=\"ok\"} 0");
	assert_line(m, "kms_tcp_connect_duration_seconds{host=\"kms1.a.test\",port=\"1688\"} "
	               "0.25");
	/* An unchecked target has no reachability series yet. */
	cr_assert_null(strstr(m, "host=\"static.test\""), "unchecked target exported");

	assert_line(m, "kms_agent_targets{source=\"srv\"} 1");
	assert_line(m, "kms_agent_targets{source=\"static\"} 2");
	assert_line(m, "kms_agent_cycles_total 3");
	assert_line(m, "kms_agent_probes_total{kind=\"srv\",result=\"ok\"} 2");
	assert_line(m, "kms_agent_probes_total{kind=\"srv\",result=\"nxdomain\"} 1");
	assert_line(m, "kms_agent_probes_total{kind=\"srv\",result=\"timeout\"} 1");
	assert_line(m, "kms_agent_probes_total{kind=\"connect\",result=\"ok\"} 0");
	assert_line(m, "# TYPE kms_agent_cycles_total counter");
	assert_line(m, "# TYPE kms_srv_records gauge");

	/* OpenMetrics: counters without _total in TYPE, and the EOF marker. */
	const char *om = s->openmetrics.data;
	cr_assert_not_null(om);
	assert_line(om, "# TYPE kms_agent_cycles counter");
	assert_line(om, "kms_agent_cycles_total 3");
	assert_line(om, "kms_srv_records{domain=\"a.test\",resolver=\"127.0.0.1:53\"} 2");
	cr_assert_geq(s->openmetrics.len, 6);
	cr_assert_str_eq(om + s->openmetrics.len - 6, "# EOF\n");

	/* The status page names the hosts and says it is ready. */
	cr_assert_not_null(s->status.data);
	cr_assert_not_null(strstr(s->status.data, "kms2.a.test"));
	cr_assert_not_null(strstr(s->status.data, "static.test"));
	cr_assert_not_null(strstr(s->status.data, "Ready"));
	/* Every body comes with its gzip form. */
	const char *gz;
	size_t gz_len;
	cr_assert(snapshot_body_gzip(s, &s->metrics, &gz, &gz_len));
	cr_assert_gt(gz_len, 0);
	cr_assert(snapshot_body_gzip(s, &s->openmetrics, &gz, &gz_len));
	cr_assert(snapshot_body_gzip(s, &s->status, &gz, &gz_len));

	snapshot_unref(s);
	results_free(r);
	tcfg_free(t);
}

Test(results, snapshot_before_any_lookup)
{
	struct tcfg *t = tcfg_new(one_domain, 1, one_resolver, 1, NULL, 0);
	struct results *r = results_new(&t->c);
	struct snapshot *s = results_snapshot(r, NULL);
	cr_assert_not(s->ready);
	const char *m = s->metrics.data;
	/* No lookup has completed: no per-lookup series, but consistency and counters. */
	cr_assert_null(strstr(m, "kms_srv_records{"));
	assert_line(m, "kms_srv_consistent{domain=\"a.test\"} 1");
	assert_line(m, "kms_agent_cycles_total 0");
	assert_line(m, "kms_agent_targets{source=\"srv\"} 0");
	cr_assert_not_null(strstr(s->status.data, "Waiting for the first cycle"));
	/* A second reference keeps it alive past the first unref. */
	snapshot_ref(s);
	snapshot_unref(s);
	cr_assert_not_null(s->metrics.data);
	snapshot_unref(s);
	snapshot_unref(NULL);
	results_free(r);
	tcfg_free(t);
}

/* Label values from the outside world are escaped in the exposition and the page. */
Test(results, snapshot_escapes_hostile_names)
{
	static const struct rec recs[] = {{"evil\"<b>\\.test", 1688, 0, 0}};
	struct tcfg *t = tcfg_new(one_domain, 1, one_resolver, 1, NULL, 0);
	struct results *r = results_new(&t->c);
	set_srv(r, 0, 0, DNS_OK, recs, 1);
	results_rebuild_targets(r);
	struct snapshot *s = results_snapshot(r, NULL);
	cr_assert_not_null(strstr(s->metrics.data, "host=\"evil\\\"<b>\\\\.test\""), "%s",
	                   s->metrics.data);
	cr_assert_null(strstr(s->status.data, "<b>"));
	cr_assert_not_null(strstr(s->status.data, "evil&quot;&lt;b&gt;\\.test"));
	snapshot_unref(s);
	results_free(r);
	tcfg_free(t);
}

/*
 * The 0.0.4 exposition must pass `promtool check metrics`, which exits 1 on
 * a parse error and 3 on lint problems (names, help, units); it must have
 * neither.
 */
Test(results, promtool_accepts_exposition)
{
	if (access(PROMTOOL, X_OK) != 0)
		cr_skip_test(PROMTOOL " is not installed");
	struct tcfg *t;
	struct results *r = rich_store(&t);
	struct snapshot *s = results_snapshot(r, NULL);

	char path[] = "/tmp/kmswatch-results-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, s->metrics.data, s->metrics.len), (ssize_t)s->metrics.len);
	close(fd);

	char cmd[256], out[8192];
	snprintf(cmd, sizeof(cmd), PROMTOOL " check metrics < %s 2>&1", path);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	size_t n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	int status = pclose(p);
	unlink(path);
	cr_assert(WIFEXITED(status));
	cr_assert_eq(WEXITSTATUS(status), 0, "promtool check metrics exited %d:\n%s",
	             WEXITSTATUS(status), out);

	snapshot_unref(s);
	results_free(r);
	tcfg_free(t);
}
