/*
 * The c-ares adapter; see dns.h.
 */
#include <arpa/inet.h>
#include <ares.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmswatch/dns.h"
#include "kmswatch/log.h"

struct dns {
	struct loop *loop;
	ares_channel channel;
	struct loop_timer *timer;
	char *name;
};

struct dns_srv_query {
	struct dns *dns;
	dns_srv_cb cb;
	void *arg;
	uint64_t started_us;
	char name[256];
};

struct dns_addr_query {
	dns_addr_cb cb;
	void *arg;
};

static const char *const dns_result_names[DNS_RESULT_COUNT] = {
    "ok", "nxdomain", "nodata", "servfail", "refused", "timeout", "error",
};

const char *
dns_result_name(enum dns_result r)
{
	return r < DNS_RESULT_COUNT ? dns_result_names[r] : "cancelled";
}

enum dns_result
dns_classify(int status, size_t n_records)
{
	switch (status) {
	case ARES_SUCCESS:
		return n_records > 0 ? DNS_OK : DNS_NODATA;
	case ARES_ENODATA:
		return DNS_NODATA;
	case ARES_ENOTFOUND:
		return DNS_NXDOMAIN;
	case ARES_ESERVFAIL:
		return DNS_SERVFAIL;
	/* An RCODE of REFUSED and a resolver port that refuses the connection
	 * both mean this resolver will not serve the query. */
	case ARES_EREFUSED:
	case ARES_ECONNREFUSED:
		return DNS_REFUSED;
	case ARES_ETIMEOUT:
		return DNS_TIMEOUT;
	case ARES_EDESTRUCTION:
	case ARES_ECANCELLED:
		return DNS_CANCELLED;
	default:
		return DNS_ERROR;
	}
}

int
dns_library_init(void)
{
	return ares_library_init(ARES_LIB_INIT_ALL) == ARES_SUCCESS ? 0 : -1;
}

void
dns_library_cleanup(void)
{
	ares_library_cleanup();
}

static void dns_arm_timer(struct dns *d);

static void
dns_io(struct loop *l, int fd, unsigned events, void *arg)
{
	(void)l;
	struct dns *d = arg;
	ares_socket_t rfd = (events & (LOOP_READ | LOOP_ERROR)) ? fd : ARES_SOCKET_BAD;
	ares_socket_t wfd = (events & LOOP_WRITE) ? fd : ARES_SOCKET_BAD;
	ares_process_fd(d->channel, rfd, wfd);
	dns_arm_timer(d);
}

static void
dns_timeout(struct loop *l, void *arg)
{
	(void)l;
	struct dns *d = arg;
	d->timer = NULL;
	ares_process_fd(d->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	dns_arm_timer(d);
}

/* Keeps one timer at c-ares's next retransmission or deadline. */
static void
dns_arm_timer(struct dns *d)
{
	if (d->timer != NULL) {
		loop_timer_cancel(d->loop, d->timer);
		d->timer = NULL;
	}
	struct timeval tv, *tvp = ares_timeout(d->channel, NULL, &tv);
	if (tvp == NULL)
		return;
	uint64_t ms = (uint64_t)tvp->tv_sec * 1000u + (uint64_t)tvp->tv_usec / 1000u + 1;
	d->timer = loop_timer_add(d->loop, ms, dns_timeout, d);
}

static void
dns_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns *d = data;
	unsigned ev = (readable ? LOOP_READ : 0) | (writable ? LOOP_WRITE : 0);
	if (ev == 0) {
		loop_fd_remove(d->loop, fd);
		return;
	}
	if (loop_fd_modify(d->loop, fd, ev) == -1 && loop_fd_add(d->loop, fd, ev, dns_io, d) == -1)
		log_warn("dns %s: cannot watch socket %d", d->name, fd);
}

struct dns *
dns_new(struct loop *l, const struct config_resolver *r, uint64_t timeout_ms, char *err,
        size_t errlen)
{
	struct dns *d = calloc(1, sizeof(*d));
	if (d == NULL)
		fatal("dns");
	d->loop = l;
	d->name = strdup(r->name);
	if (d->name == NULL)
		fatal("dns");

	/* c-ares doubles the per-try timeout on each round, so two tries at a
	 * third of the step's deadline each end within the deadline. */
	struct ares_options opts;
	memset(&opts, 0, sizeof(opts));
	int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS;
	opts.sock_state_cb = dns_sock_state;
	opts.sock_state_cb_data = d;
	uint64_t per_try = timeout_ms / 3;
	opts.timeout = (int)(per_try < 50 ? 50 : per_try > 60000 ? 60000 : per_try);
	opts.tries = 2;
	opts.flags = ARES_FLAG_NOSEARCH;
	char lookups[] = "b";
	if (!r->system) {
		/* A named resolver is asked alone, its answer taken as it is, and
		 * /etc/hosts plays no part. */
		opts.flags |= ARES_FLAG_NOCHECKRESP;
		opts.lookups = lookups;
		mask |= ARES_OPT_LOOKUPS;
	}
	int rc = ares_init_options(&d->channel, &opts, mask);
	if (rc != ARES_SUCCESS) {
		snprintf(err, errlen, "resolver %s: %s", r->name, ares_strerror(rc));
		goto fail;
	}
	if (!r->system) {
		struct ares_addr_port_node server;
		memset(&server, 0, sizeof(server));
		server.udp_port = r->port;
		server.tcp_port = r->port;
		if (inet_pton(AF_INET, r->address, &server.addr.addr4) == 1) {
			server.family = AF_INET;
		} else if (inet_pton(AF_INET6, r->address, &server.addr.addr6) == 1) {
			server.family = AF_INET6;
		} else {
			snprintf(err, errlen, "resolver %s: not an IP address", r->name);
			goto fail;
		}
		rc = ares_set_servers_ports(d->channel, &server);
		if (rc != ARES_SUCCESS) {
			snprintf(err, errlen, "resolver %s: %s", r->name, ares_strerror(rc));
			goto fail;
		}
	}
	return d;
fail:
	if (d->channel != NULL)
		ares_destroy(d->channel);
	free(d->name);
	free(d);
	return NULL;
}

void
dns_free(struct dns *d)
{
	if (d == NULL)
		return;
	ares_destroy(d->channel);
	if (d->timer != NULL)
		loop_timer_cancel(d->loop, d->timer);
	free(d->name);
	free(d);
}

static void
dns_lower_name(const char *in, char *out, size_t len)
{
	size_t i = 0;
	for (; in[i] != '\0' && i + 1 < len; i++)
		out[i] = (in[i] >= 'A' && in[i] <= 'Z') ? (char)(in[i] - 'A' + 'a') : in[i];
	while (i > 0 && out[i - 1] == '.')
		i--;
	out[i] = '\0';
}

static void
dns_srv_done(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	(void)timeouts;
	struct dns_srv_query *q = arg;
	struct ares_srv_reply *reply = NULL;
	struct dns_srv *recs = NULL;
	size_t n = 0, total = 0;

	if (status == ARES_SUCCESS) {
		status = ares_parse_srv_reply(abuf, alen, &reply);
		if (status != ARES_SUCCESS && status != ARES_ENODATA)
			log_warnx("dns: malformed SRV answer for %s: %s", q->name,
			          ares_strerror(status));
	}
	for (struct ares_srv_reply *r = reply; r != NULL; r = r->next)
		total++;
	if (total > 0) {
		size_t keep = total > DNS_MAX_SRV_RECORDS ? DNS_MAX_SRV_RECORDS : total;
		if (keep < total)
			log_warnx("dns: %s has %zu SRV records; keeping the first %zu", q->name,
			          total, keep);
		recs = calloc(keep, sizeof(*recs));
		char(*names)[256] = calloc(keep, 256);
		if (recs == NULL || names == NULL)
			fatal("dns");
		for (struct ares_srv_reply *r = reply; r != NULL && n < keep; r = r->next, n++) {
			dns_lower_name(r->host, names[n], sizeof(names[n]));
			recs[n] = (struct dns_srv){.target = names[n],
			                           .port = r->port,
			                           .priority = r->priority,
			                           .weight = r->weight};
		}
		/* The names live in one block that is freed with the records. */
		if (n == 0)
			free(names);
	}
	enum dns_result res = dns_classify(status, n);
	uint64_t took = loop_monotonic_us() - q->started_us;
	q->cb(q->arg, res, recs, n, took);
	if (recs != NULL && n > 0)
		free(recs[0].target);
	free(recs);
	if (reply != NULL)
		ares_free_data(reply);
	free(q);
}

int
dns_query_srv(struct dns *d, const char *name, dns_srv_cb cb, void *arg)
{
	struct dns_srv_query *q = calloc(1, sizeof(*q));
	if (q == NULL)
		fatal("dns");
	*q = (struct dns_srv_query){
	    .dns = d, .cb = cb, .arg = arg, .started_us = loop_monotonic_us()};
	if (snprintf(q->name, sizeof(q->name), "_vlmcs._tcp.%s", name) >= (int)sizeof(q->name)) {
		free(q);
		errno = ENAMETOOLONG;
		return -1;
	}
	ares_query(d->channel, q->name, 1 /* IN */, 33 /* SRV */, dns_srv_done, q);
	dns_arm_timer(d);
	return 0;
}

static void
dns_addr_done(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	(void)timeouts;
	struct dns_addr_query *q = arg;
	struct dns_addrs addrs;
	memset(&addrs, 0, sizeof(addrs));
	if (status == ARES_SUCCESS && res != NULL) {
		for (struct ares_addrinfo_node *n = res->nodes;
		     n != NULL && addrs.n < DNS_MAX_ADDRS; n = n->ai_next) {
			if (n->ai_addrlen > sizeof(addrs.addr[0]))
				continue;
			memcpy(&addrs.addr[addrs.n], n->ai_addr, n->ai_addrlen);
			addrs.len[addrs.n] = n->ai_addrlen;
			addrs.n++;
		}
	}
	enum dns_result r = dns_classify(status, addrs.n);
	q->cb(q->arg, r, &addrs);
	if (res != NULL)
		ares_freeaddrinfo(res);
	free(q);
}

int
dns_resolve(struct dns *d, const char *host, uint16_t port, dns_addr_cb cb, void *arg)
{
	struct dns_addr_query *q = malloc(sizeof(*q));
	if (q == NULL)
		fatal("dns");
	*q = (struct dns_addr_query){.cb = cb, .arg = arg};
	char service[8];
	snprintf(service, sizeof(service), "%u", (unsigned)port);
	struct ares_addrinfo_hints hints;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = ARES_AI_NUMERICSERV;
	ares_getaddrinfo(d->channel, host, service, &hints, dns_addr_done, q);
	dns_arm_timer(d);
	return 0;
}
