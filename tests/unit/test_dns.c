/*
 * Unit tests for the c-ares adapter: the classification of c-ares statuses,
 * the result names, and real lookups driven by the engine loop against
 * resolvers on loopback only: a port where nothing listens (refused), a
 * silent socket (timeout, cancellation) and a small in-process DNS responder
 * (records, nxdomain, nodata, servfail, refused, address resolution).
 * No test sends anything outside 127.0.0.0/8 or uses the system resolver.
 */
#include <ares.h>
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kmswatch/buf.h"
#include "kmswatch/config.h"
#include "kmswatch/dns.h"
#include "kmswatch/loop.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define SAFETY_MS    5000
#define TIMEOUT_MS   3000 /* the lookup deadline given to dns_new */

/* Classification. */

Test(dns_classify, success_with_and_without_records)
{
	cr_assert_eq(dns_classify(ARES_SUCCESS, 1), DNS_OK);
	cr_assert_eq(dns_classify(ARES_SUCCESS, 1024), DNS_OK);
	cr_assert_eq(dns_classify(ARES_SUCCESS, 0), DNS_NODATA);
}

Test(dns_classify, every_status_of_interest)
{
	static const struct {
		int status;
		size_t n;
		enum dns_result want;
	} cases[] = {
	    {ARES_ENODATA, 0, DNS_NODATA},
	    {ARES_ENOTFOUND, 0, DNS_NXDOMAIN},
	    {ARES_ESERVFAIL, 0, DNS_SERVFAIL},
	    {ARES_EREFUSED, 0, DNS_REFUSED},
	    {ARES_ECONNREFUSED, 0, DNS_REFUSED},
	    {ARES_ETIMEOUT, 0, DNS_TIMEOUT},
	    {ARES_EBADRESP, 0, DNS_ERROR},
	    {ARES_EFORMERR, 0, DNS_ERROR},
	    {ARES_ENOTIMP, 0, DNS_ERROR},
	    {ARES_EDESTRUCTION, 0, DNS_CANCELLED},
	    {ARES_ECANCELLED, 0, DNS_CANCELLED},
	    {ARES_ENOMEM, 0, DNS_ERROR},
	    {ARES_EBADNAME, 0, DNS_ERROR},
	    {ARES_EBADQUERY, 0, DNS_ERROR},
	    {ARES_EOF, 0, DNS_ERROR},
	    {-12345, 0, DNS_ERROR},
	    /* A failure stays a failure whatever the record count says. */
	    {ARES_ENOTFOUND, 3, DNS_NXDOMAIN},
	    {ARES_ETIMEOUT, 3, DNS_TIMEOUT},
	    {ARES_ECONNREFUSED, 3, DNS_REFUSED},
	    {ARES_EDESTRUCTION, 3, DNS_CANCELLED},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++)
		cr_assert_eq(dns_classify(cases[i].status, cases[i].n), cases[i].want,
		             "status %d (%s) with %zu records: %s, want %s", cases[i].status,
		             ares_strerror(cases[i].status), cases[i].n,
		             dns_result_name(dns_classify(cases[i].status, cases[i].n)),
		             dns_result_name(cases[i].want));
}

Test(dns_classify, result_names)
{
	static const char *const want[] = {"ok",      "nxdomain", "nodata", "servfail",
	                                   "refused", "timeout",  "error"};
	cr_assert_eq(ARRAY_LEN(want), DNS_RESULT_COUNT);
	for (int r = 0; r < DNS_RESULT_COUNT; r++)
		cr_assert_str_eq(dns_result_name((enum dns_result)r), want[r], "result %d", r);
	cr_assert_str_eq(dns_result_name(DNS_CANCELLED), "cancelled");
	/* Every exported name is distinct and usable as a label value. */
	for (int a = 0; a < DNS_RESULT_COUNT; a++)
		for (int b = a + 1; b < DNS_RESULT_COUNT; b++)
			cr_assert_str_neq(dns_result_name((enum dns_result)a),
			                  dns_result_name((enum dns_result)b));
}

/* Lookups on a real loop. */

static struct loop *loop;

static void
setup(void)
{
	cr_assert_eq(dns_library_init(), 0);
	loop = loop_new();
	cr_assert_not_null(loop);
}

static void
teardown(void)
{
	loop_free(loop);
	loop = NULL;
	dns_library_cleanup();
}

TestSuite(dns, .init = setup, .fini = teardown, .timeout = 30);

/* A loopback resolver as the configuration would describe it. */
struct resolver {
	char name[64];
	char address[64];
	struct config_resolver cfg;
};

static void
resolver_init(struct resolver *r, const char *address, uint16_t port)
{
	snprintf(r->address, sizeof(r->address), "%s", address);
	snprintf(r->name, sizeof(r->name), "%s:%u", address, (unsigned)port);
	r->cfg = (struct config_resolver){
	    .name = r->name, .system = false, .address = r->address, .port = port};
}

static struct dns *
resolver_open(struct resolver *r, uint64_t timeout_ms)
{
	char err[256] = "";
	struct dns *d = dns_new(loop, &r->cfg, timeout_ms, err, sizeof(err));
	cr_assert_not_null(d, "dns_new(%s): %s", r->name, err);
	return d;
}

static void
on_safety(struct loop *l, void *arg)
{
	bool *expired = arg;
	*expired = true;
	loop_stop(l);
}

/* Runs the loop until *done, failing after SAFETY_MS. The callback may
 * already have run (dns_resolve can answer at once), so check first. */
static void
run_until(const bool *done)
{
	if (*done)
		return;
	bool expired = false;
	struct loop_timer *safety = loop_timer_add(loop, SAFETY_MS, on_safety, &expired);
	while (!*done && !expired)
		cr_assert_eq(loop_run(loop), 0);
	cr_assert_not(expired, "no callback within %d ms", SAFETY_MS);
	loop_timer_cancel(loop, safety);
}

/* What an SRV callback received. */
struct srv_result {
	bool done;
	int calls;
	enum dns_result res;
	size_t n;
	struct {
		char target[256];
		uint16_t port, priority, weight;
	} recs[8];
	uint64_t duration_us;
	uint64_t started_ms, took_ms;
};

static void
on_srv(void *arg, enum dns_result res, const struct dns_srv *recs, size_t n, uint64_t duration_us)
{
	struct srv_result *s = arg;
	s->calls++;
	s->done = true;
	s->res = res;
	s->n = n;
	s->duration_us = duration_us;
	s->took_ms = loop_monotonic_ms() - s->started_ms;
	for (size_t i = 0; i < n && i < ARRAY_LEN(s->recs); i++) {
		cr_assert_not_null(recs[i].target);
		snprintf(s->recs[i].target, sizeof(s->recs[i].target), "%s", recs[i].target);
		s->recs[i].port = recs[i].port;
		s->recs[i].priority = recs[i].priority;
		s->recs[i].weight = recs[i].weight;
	}
	if (loop != NULL)
		loop_stop(loop);
}

static void
query_srv(struct dns *d, const char *domain, struct srv_result *s)
{
	memset(s, 0, sizeof(*s));
	s->started_ms = loop_monotonic_ms();
	cr_assert_eq(dns_query_srv(d, domain, on_srv, s), 0);
	run_until(&s->done);
	cr_assert_eq(s->calls, 1);
}

/* A loopback address and UDP port where nothing listens (bound, then closed). */
static uint16_t
free_udp_port(const char *address)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = 0};
	cr_assert_eq(inet_pton(AF_INET, address, &sin.sin_addr), 1);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0, "bind %s: %s", address,
	             strerror(errno));
	socklen_t len = sizeof(sin);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	return ntohs(sin.sin_port);
}

Test(dns, srv_on_closed_port_is_refused)
{
	struct resolver r;
	resolver_init(&r, "127.0.77.1", free_udp_port("127.0.77.1"));
	struct dns *d = resolver_open(&r, TIMEOUT_MS);
	struct srv_result s;
	query_srv(d, "example.test", &s);
	cr_assert_eq(s.res, DNS_REFUSED, "got %s", dns_result_name(s.res));
	cr_assert_eq(s.n, 0);
	cr_assert_lt(s.took_ms, TIMEOUT_MS, "refusal took %llu ms", (unsigned long long)s.took_ms);
	cr_assert_lt(s.duration_us, (uint64_t)TIMEOUT_MS * 1000);
	dns_free(d);
	cr_assert_eq(s.calls, 1, "callback ran again at dns_free");
}

/* What an address callback received. */
struct addr_result {
	bool done;
	int calls;
	enum dns_result res;
	struct dns_addrs addrs;
};

static void
on_addr(void *arg, enum dns_result res, const struct dns_addrs *addrs)
{
	struct addr_result *a = arg;
	a->calls++;
	a->done = true;
	a->res = res;
	cr_assert_not_null(addrs);
	a->addrs = *addrs;
	loop_stop(loop);
}

static void
resolve(struct dns *d, const char *host, uint16_t port, struct addr_result *a)
{
	memset(a, 0, sizeof(*a));
	cr_assert_eq(dns_resolve(d, host, port, on_addr, a), 0);
	run_until(&a->done);
	cr_assert_eq(a->calls, 1);
}

Test(dns, resolve_ip_literals)
{
	struct resolver r;
	/* The resolver is never asked: literals are answered locally. */
	resolver_init(&r, "127.0.77.1", free_udp_port("127.0.77.1"));
	struct dns *d = resolver_open(&r, TIMEOUT_MS);
	struct addr_result a;

	resolve(d, "127.0.0.1", 1688, &a);
	cr_assert_eq(a.res, DNS_OK, "got %s", dns_result_name(a.res));
	cr_assert_eq(a.addrs.n, 1);
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&a.addrs.addr[0];
	cr_assert_eq(sin->sin_family, AF_INET);
	cr_assert_eq(a.addrs.len[0], sizeof(struct sockaddr_in));
	cr_assert_eq(ntohs(sin->sin_port), 1688);
	cr_assert_eq(ntohl(sin->sin_addr.s_addr), INADDR_LOOPBACK);

	resolve(d, "::1", 53, &a);
	cr_assert_eq(a.res, DNS_OK, "got %s", dns_result_name(a.res));
	cr_assert_eq(a.addrs.n, 1);
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a.addrs.addr[0];
	cr_assert_eq(sin6->sin6_family, AF_INET6);
	cr_assert_eq(a.addrs.len[0], sizeof(struct sockaddr_in6));
	cr_assert_eq(ntohs(sin6->sin6_port), 53);
	cr_assert(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));

	resolve(d, "127.1.2.3", 65535, &a);
	cr_assert_eq(a.res, DNS_OK);
	sin = (const struct sockaddr_in *)&a.addrs.addr[0];
	cr_assert_eq(ntohs(sin->sin_port), 65535);
	cr_assert_eq(ntohl(sin->sin_addr.s_addr), 0x7f010203u);
	dns_free(d);
}

Test(dns, new_rejects_bad_address)
{
	struct resolver r;
	resolver_init(&r, "not-an-ip", 53);
	char err[256] = "";
	struct dns *d = dns_new(loop, &r.cfg, TIMEOUT_MS, err, sizeof(err));
	cr_assert_null(d);
	cr_assert_not_null(strstr(err, "not an IP address"), "err: %s", err);
	cr_assert_not_null(strstr(err, "not-an-ip:53"), "err does not name the resolver: %s", err);

	/* An IPv6 resolver is accepted (nothing is sent here). */
	resolver_init(&r, "::1", 53);
	d = resolver_open(&r, TIMEOUT_MS);
	dns_free(d);
	dns_free(NULL);
}

static void
on_srv_never(void *arg, enum dns_result res, const struct dns_srv *recs, size_t n,
             uint64_t duration_us)
{
	(void)arg;
	(void)res;
	(void)recs;
	(void)n;
	(void)duration_us;
	cr_assert_fail("callback of a query that was never sent");
}

Test(dns, srv_name_too_long)
{
	struct resolver r;
	resolver_init(&r, "127.0.77.1", free_udp_port("127.0.77.1"));
	struct dns *d = resolver_open(&r, TIMEOUT_MS);
	char name[300];
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	errno = 0;
	cr_assert_eq(dns_query_srv(d, name, on_srv_never, NULL), -1);
	cr_assert_eq(errno, ENAMETOOLONG);
	/* "_vlmcs._tcp." takes 12 of the 255 characters a name may have. */
	name[244] = '\0';
	cr_assert_eq(dns_query_srv(d, name, on_srv_never, NULL), -1);
	dns_free(d);
}

/*
 * A minimal DNS responder on 127.0.0.1, served by the same loop. It answers
 * SRV queries with the configured records and rcode, A queries with
 * 127.0.0.5 and AAAA queries with no data; when silent it reads and drops.
 */
struct fake_srv {
	const char *target;
	uint16_t port, priority, weight;
};

struct fake_dns {
	int fd;
	uint16_t port;
	bool silent;
	int rcode;
	const struct fake_srv *recs;
	size_t n_recs;
	unsigned queries;
	char last_name[256];
};

static void
put_be16(struct buf *b, uint16_t v)
{
	buf_put_u8(b, (uint8_t)(v >> 8));
	buf_put_u8(b, (uint8_t)v);
}

static void
put_name(struct buf *b, const char *name)
{
	while (*name != '\0') {
		const char *dot = strchr(name, '.');
		size_t len = dot != NULL ? (size_t)(dot - name) : strlen(name);
		cr_assert(len > 0 && len < 64);
		buf_put_u8(b, (uint8_t)len);
		buf_append(b, name, len);
		name += len;
		if (*name == '.')
			name++;
	}
	buf_put_u8(b, 0);
}

/* Reads the question: its name in dotted form, type, and the raw bytes. */
static int
parse_question(struct buf_reader *r, char *name, size_t namelen, uint16_t *qtype)
{
	size_t out = 0;
	uint8_t len;
	name[0] = '\0';
	for (;;) {
		if (buf_get_u8(r, &len) == -1)
			return -1;
		if (len == 0)
			break;
		if (len > 63 || out + len + 2 > namelen)
			return -1;
		if (out > 0)
			name[out++] = '.';
		if (buf_get_bytes(r, name + out, len) == -1)
			return -1;
		out += len;
		name[out] = '\0';
	}
	uint8_t t[4];
	if (buf_get_bytes(r, t, 4) == -1)
		return -1;
	*qtype = (uint16_t)(t[0] << 8 | t[1]);
	return 0;
}

static void
fake_dns_read(struct loop *l, int fd, unsigned events, void *arg)
{
	(void)l;
	(void)events;
	struct fake_dns *f = arg;
	uint8_t q[512];
	struct sockaddr_storage from;
	socklen_t fromlen = sizeof(from);
	ssize_t len = recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fromlen);
	if (len < 12)
		return;
	f->queries++;
	if (f->silent)
		return;

	struct buf_reader r;
	uint8_t hdr[12];
	uint16_t qtype;
	buf_reader_init(&r, q, (size_t)len);
	cr_assert_eq(buf_get_bytes(&r, hdr, 12), 0);
	size_t qstart = (size_t)len - buf_remaining(&r);
	cr_assert_eq(parse_question(&r, f->last_name, sizeof(f->last_name), &qtype), 0);
	size_t qend = (size_t)len - buf_remaining(&r);

	struct buf b;
	buf_init(&b, 512);
	buf_append(&b, hdr, 2); /* the query's ID */
	/* QR, the query's RD, RA, and the rcode. */
	put_be16(&b, (uint16_t)(0x8000 | (hdr[2] & 0x01) << 8 | 0x0080 | (f->rcode & 0xf)));
	put_be16(&b, 1);
	size_t n_answers = 0;
	if (f->rcode == 0 && qtype == 33)
		n_answers = f->n_recs;
	else if (f->rcode == 0 && qtype == 1)
		n_answers = 1;
	put_be16(&b, (uint16_t)n_answers);
	put_be16(&b, 0);
	put_be16(&b, 0);
	buf_append(&b, q + qstart, qend - qstart);
	for (size_t i = 0; i < n_answers; i++) {
		put_be16(&b, 0xc00c); /* the question's name */
		put_be16(&b, qtype);
		put_be16(&b, 1);
		put_be16(&b, 0);
		put_be16(&b, 60); /* TTL */
		if (qtype == 1) {
			put_be16(&b, 4);
			static const uint8_t a[4] = {127, 0, 0, 5};
			buf_append(&b, a, 4);
			continue;
		}
		struct buf rdata;
		buf_init(&rdata, 300);
		put_be16(&rdata, f->recs[i].priority);
		put_be16(&rdata, f->recs[i].weight);
		put_be16(&rdata, f->recs[i].port);
		put_name(&rdata, f->recs[i].target);
		put_be16(&b, (uint16_t)rdata.len);
		buf_append(&b, rdata.data, rdata.len);
		buf_free(&rdata);
	}
	cr_assert_not(b.overflow, "fake answer too large");
	cr_assert_eq(sendto(fd, b.data, b.len, 0, (struct sockaddr *)&from, fromlen),
	             (ssize_t)b.len);
	buf_free(&b);
}

static void
fake_dns_start(struct fake_dns *f)
{
	f->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	cr_assert_geq(f->fd, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = 0};
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(f->fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	socklen_t len = sizeof(sin);
	cr_assert_eq(getsockname(f->fd, (struct sockaddr *)&sin, &len), 0);
	f->port = ntohs(sin.sin_port);
	cr_assert_eq(loop_fd_add(loop, f->fd, LOOP_READ, fake_dns_read, f), 0);
}

static void
fake_dns_stop(struct fake_dns *f)
{
	loop_fd_remove(loop, f->fd);
	close(f->fd);
}

/* A responder and an adapter channel pointed at it. */
struct fixture {
	struct fake_dns fake;
	struct resolver r;
	struct dns *d;
};

static void
fixture_start(struct fixture *x, uint64_t timeout_ms)
{
	memset(x, 0, sizeof(*x));
	fake_dns_start(&x->fake);
	resolver_init(&x->r, "127.0.0.1", x->fake.port);
	x->d = resolver_open(&x->r, timeout_ms);
}

static void
fixture_stop(struct fixture *x)
{
	dns_free(x->d);
	fake_dns_stop(&x->fake);
}

static bool
srv_has(const struct srv_result *s, const char *target, uint16_t port, uint16_t prio,
        uint16_t weight)
{
	for (size_t i = 0; i < s->n && i < ARRAY_LEN(s->recs); i++)
		if (strcmp(s->recs[i].target, target) == 0 && s->recs[i].port == port &&
		    s->recs[i].priority == prio && s->recs[i].weight == weight)
			return true;
	return false;
}

Test(dns, srv_records_are_returned_lower_case)
{
	static const struct fake_srv recs[] = {
	    {"KMS1.Example.TEST", 1688, 0, 100},
	    {"kms2.example.test", 1689, 10, 5},
	};
	struct fixture x;
	fixture_start(&x, TIMEOUT_MS);
	x.fake.recs = recs;
	x.fake.n_recs = 2;
	struct srv_result s;
	query_srv(x.d, "Example.test", &s);
	cr_assert_eq(s.res, DNS_OK, "got %s", dns_result_name(s.res));
	cr_assert_eq(s.n, 2);
	cr_assert(srv_has(&s, "kms1.example.test", 1688, 0, 100), "first record: %s:%u",
	          s.recs[0].target, s.recs[0].port);
	cr_assert(srv_has(&s, "kms2.example.test", 1689, 10, 5));
	/* The name asked is the KMS service under the domain. */
	cr_assert_eq(strcasecmp(x.fake.last_name, "_vlmcs._tcp.example.test"), 0, "asked %s",
	             x.fake.last_name);
	cr_assert_lt(s.duration_us, (uint64_t)TIMEOUT_MS * 1000);
	fixture_stop(&x);
}

Test(dns, srv_rcodes)
{
	static const struct {
		int rcode;
		enum dns_result want;
	} cases[] = {
	    {0, DNS_NODATA},
	    {2, DNS_SERVFAIL},
	    {3, DNS_NXDOMAIN},
	    {5, DNS_REFUSED},
	};
	static const struct fake_srv recs[] = {{"kms.example.test", 1688, 0, 0}};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		struct fixture x;
		fixture_start(&x, TIMEOUT_MS);
		x.fake.rcode = cases[i].rcode;
		/* With rcode 0 the answer section is empty: no data. */
		x.fake.recs = recs;
		x.fake.n_recs = cases[i].rcode == 0 ? 0 : 1;
		struct srv_result s;
		query_srv(x.d, "example.test", &s);
		cr_assert_eq(s.res, cases[i].want, "rcode %d: got %s, want %s", cases[i].rcode,
		             dns_result_name(s.res), dns_result_name(cases[i].want));
		cr_assert_eq(s.n, 0);
		/* A named resolver's answer is taken as it is: asked once. */
		cr_assert_eq(x.fake.queries, 1, "rcode %d: asked %u times", cases[i].rcode,
		             x.fake.queries);
		fixture_stop(&x);
	}
}

/* A resolver that never answers: the lookup ends as a timeout within its deadline. */
Test(dns, srv_silent_resolver_times_out)
{
	const uint64_t timeout = 600;
	struct fixture x;
	fixture_start(&x, timeout);
	x.fake.silent = true;
	struct srv_result s;
	query_srv(x.d, "example.test", &s);
	cr_assert_eq(s.res, DNS_TIMEOUT, "got %s", dns_result_name(s.res));
	cr_assert_eq(s.n, 0);
	cr_assert_geq(x.fake.queries, 2, "the query was not retried");
	cr_assert_geq(s.took_ms, timeout / 3, "gave up after %llu ms",
	              (unsigned long long)s.took_ms);
	cr_assert_lt(s.took_ms, timeout + 500, "took %llu ms for a %llu ms deadline",
	             (unsigned long long)s.took_ms, (unsigned long long)timeout);
	fixture_stop(&x);
}

/* A pending lookup is called back with DNS_CANCELLED when its channel goes. */
Test(dns, free_cancels_pending_lookup)
{
	struct fixture x;
	fixture_start(&x, TIMEOUT_MS);
	x.fake.silent = true;
	struct srv_result s;
	memset(&s, 0, sizeof(s));
	cr_assert_eq(dns_query_srv(x.d, "example.test", on_srv, &s), 0);
	/* Let the query reach the responder. */
	while (x.fake.queries == 0) {
		bool expired = false;
		struct loop_timer *t = loop_timer_add(loop, 20, on_safety, &expired);
		cr_assert_eq(loop_run(loop), 0);
		if (!expired)
			loop_timer_cancel(loop, t);
	}
	cr_assert_not(s.done);
	dns_free(x.d);
	cr_assert_eq(s.calls, 1);
	cr_assert_eq(s.res, DNS_CANCELLED, "got %s", dns_result_name(s.res));
	fake_dns_stop(&x.fake);
}

Test(dns, resolve_name_through_resolver)
{
	struct fixture x;
	fixture_start(&x, TIMEOUT_MS);
	struct addr_result a;
	resolve(x.d, "kms1.example.test", 1688, &a);
	cr_assert_eq(a.res, DNS_OK, "got %s", dns_result_name(a.res));
	cr_assert_eq(a.addrs.n, 1);
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&a.addrs.addr[0];
	cr_assert_eq(sin->sin_family, AF_INET);
	cr_assert_eq(ntohs(sin->sin_port), 1688);
	cr_assert_eq(ntohl(sin->sin_addr.s_addr), 0x7f000005u);
	fixture_stop(&x);
}

Test(dns, resolve_nxdomain)
{
	struct fixture x;
	fixture_start(&x, TIMEOUT_MS);
	x.fake.rcode = 3;
	struct addr_result a;
	resolve(x.d, "gone.example.test", 1688, &a);
	cr_assert_eq(a.res, DNS_NXDOMAIN, "got %s", dns_result_name(a.res));
	cr_assert_eq(a.addrs.n, 0);
	fixture_stop(&x);
}

/* Several lookups in flight on one channel each get their own answer. */
Test(dns, concurrent_lookups)
{
	static const struct fake_srv recs[] = {{"kms.example.test", 1688, 0, 0}};
	struct fixture x;
	fixture_start(&x, TIMEOUT_MS);
	x.fake.recs = recs;
	x.fake.n_recs = 1;
	struct srv_result s[5];
	memset(s, 0, sizeof(s));
	for (size_t i = 0; i < ARRAY_LEN(s); i++) {
		char domain[32];
		snprintf(domain, sizeof(domain), "d%zu.example.test", i);
		cr_assert_eq(dns_query_srv(x.d, domain, on_srv, &s[i]), 0);
	}
	for (size_t i = 0; i < ARRAY_LEN(s); i++)
		run_until(&s[i].done);
	for (size_t i = 0; i < ARRAY_LEN(s); i++) {
		cr_assert_eq(s[i].calls, 1);
		cr_assert_eq(s[i].res, DNS_OK);
		cr_assert(srv_has(&s[i], "kms.example.test", 1688, 0, 0));
	}
	fixture_stop(&x);
}
