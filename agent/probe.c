/*
 * The per-target probe state machine; see probe.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kmswatch/log.h"
#include "kmswatch/probe.h"

enum probe_state {
	PROBE_RESOLVING,
	PROBE_CONNECTING,
	PROBE_DONE,      /* outcome known; done() is queued */
	PROBE_CANCELLED, /* waiting only for the resolver's callback */
};

enum probe_event {
	PROBE_EV_RESOLVED,
	PROBE_EV_RESOLVE_FAILED,
	PROBE_EV_WRITABLE,
	PROBE_EV_DEADLINE,
	PROBE_EV_CANCEL,
};

struct probe {
	struct loop *loop;
	struct dns *dns;
	enum probe_state state;
	char *host;
	uint16_t port;
	uint64_t timeout_ms;
	probe_done_cb done;
	void *arg;

	bool resolving; /* a resolver callback is still due */
	struct dns_addrs addrs;
	size_t next_addr;
	int fd;
	uint64_t connect_started; /* microseconds */
	uint64_t step_deadline;
	struct loop_timer *timer;
	struct probe_outcome out;
};

static const char *const tcp_result_names[PROBE_TCP_RESULT_COUNT] = {
    "ok", "refused", "unreachable", "timeout", "resolve_failed",
};

static const char *const state_names[] = {"resolving", "connecting", "done", "cancelled"};

const char *
probe_tcp_result_name(enum probe_tcp_result r)
{
	return r < PROBE_TCP_RESULT_COUNT ? tcp_result_names[r] : "unknown";
}

enum probe_tcp_result
probe_classify_errno(int err)
{
	switch (err) {
	case 0:
		return PROBE_TCP_OK;
	case ECONNREFUSED:
	case ECONNRESET:
		return PROBE_TCP_REFUSED;
	case ETIMEDOUT:
		return PROBE_TCP_TIMEOUT;
	default:
		/* EHOSTUNREACH, ENETUNREACH, EHOSTDOWN, ENETDOWN, EADDRNOTAVAIL and
		 * the like: there is no path to the host. */
		return PROBE_TCP_UNREACHABLE;
	}
}

static void probe_step(struct probe *p, enum probe_event ev);

static void
probe_set_state(struct probe *p, enum probe_state s)
{
	if (log_enabled(LOG_LEVEL_DEBUG))
		log_debug("probe %s:%u: %s -> %s", p->host, (unsigned)p->port,
		          state_names[p->state], state_names[s]);
	p->state = s;
}

static void
probe_close_socket(struct probe *p)
{
	if (p->fd != -1) {
		loop_fd_remove(p->loop, p->fd);
		close(p->fd);
		p->fd = -1;
	}
}

static void
probe_clear_timer(struct probe *p)
{
	if (p->timer != NULL) {
		loop_timer_cancel(p->loop, p->timer);
		p->timer = NULL;
	}
}

static void
probe_free(struct probe *p)
{
	probe_close_socket(p);
	probe_clear_timer(p);
	free(p->host);
	free(p);
}

static void
probe_deadline(struct loop *l, void *arg)
{
	(void)l;
	struct probe *p = arg;
	p->timer = NULL;
	probe_step(p, PROBE_EV_DEADLINE);
}

/* done() always runs from a timer, so callers never see it re-entrantly. */
static void
probe_report(struct loop *l, void *arg)
{
	(void)l;
	struct probe *p = arg;
	p->timer = NULL;
	p->done(p->arg, &p->out);
	if (p->resolving)
		probe_set_state(p, PROBE_CANCELLED);
	else
		probe_free(p);
}

static void
probe_finish(struct probe *p, enum probe_tcp_result r)
{
	probe_close_socket(p);
	probe_clear_timer(p);
	p->out.tcp = r;
	probe_set_state(p, PROBE_DONE);
	p->timer = loop_timer_add(p->loop, 0, probe_report, p);
}

static void
probe_io(struct loop *l, int fd, unsigned events, void *arg)
{
	(void)l;
	(void)fd;
	(void)events;
	probe_step(arg, PROBE_EV_WRITABLE);
}

static void
probe_format_addr(const struct sockaddr_storage *ss, char *out, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		port = ntohs(in->sin_port);
		snprintf(out, len, "%s:%u", ip, port);
	} else {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		port = ntohs(in6->sin6_port);
		snprintf(out, len, "[%s]:%u", ip, port);
	}
}

/* Starts a connection to the next address; returns false when none is left
 * to try or the step's deadline has passed. */
static bool
probe_connect_next(struct probe *p)
{
	while (p->next_addr < p->addrs.n && loop_monotonic_ms() < p->step_deadline) {
		size_t i = p->next_addr++;
		const struct sockaddr_storage *ss = &p->addrs.addr[i];
		probe_format_addr(ss, p->out.address, sizeof(p->out.address));
		p->fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (p->fd == -1) {
			p->out.error = errno;
			log_warn("probe %s: socket", p->out.address);
			continue;
		}
		p->connect_started = loop_monotonic_us();
		if (connect(p->fd, (const struct sockaddr *)ss, p->addrs.len[i]) == 0 ||
		    errno == EINPROGRESS) {
			if (loop_fd_add(p->loop, p->fd, LOOP_WRITE, probe_io, p) == 0)
				return true;
			p->out.error = errno;
			log_warn("probe %s: cannot watch socket", p->out.address);
		} else {
			p->out.error = errno;
		}
		probe_close_socket(p);
	}
	return false;
}

static void
probe_connect_failed(struct probe *p)
{
	p->out.connect_seconds = (double)(loop_monotonic_us() - p->connect_started) / 1e6;
	if (probe_connect_next(p))
		return;
	probe_finish(p, loop_monotonic_ms() >= p->step_deadline
	                    ? PROBE_TCP_TIMEOUT
	                    : probe_classify_errno(p->out.error));
}

static void
probe_step(struct probe *p, enum probe_event ev)
{
	switch (p->state) {
	case PROBE_RESOLVING:
		switch (ev) {
		case PROBE_EV_RESOLVED:
			probe_clear_timer(p);
			probe_set_state(p, PROBE_CONNECTING);
			p->step_deadline = loop_monotonic_ms() + p->timeout_ms;
			p->timer = loop_timer_add(p->loop, p->timeout_ms, probe_deadline, p);
			if (!probe_connect_next(p))
				probe_finish(p, probe_classify_errno(p->out.error));
			return;
		case PROBE_EV_RESOLVE_FAILED:
			probe_finish(p, PROBE_TCP_RESOLVE_FAILED);
			return;
		case PROBE_EV_DEADLINE:
			/* c-ares keeps its own deadline; this one guards against a
			 * callback that never comes. */
			p->out.resolve = DNS_TIMEOUT;
			probe_finish(p, PROBE_TCP_RESOLVE_FAILED);
			return;
		default:
			break;
		}
		break;
	case PROBE_CONNECTING:
		switch (ev) {
		case PROBE_EV_WRITABLE: {
			int err = 0;
			socklen_t len = sizeof(err);
			if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
				err = errno;
			if (err == 0) {
				p->out.connect_seconds =
				    (double)(loop_monotonic_us() - p->connect_started) / 1e6;
				p->out.error = 0;
				probe_finish(p, PROBE_TCP_OK);
				return;
			}
			p->out.error = err;
			probe_close_socket(p);
			probe_connect_failed(p);
			return;
		}
		case PROBE_EV_DEADLINE:
			p->out.error = ETIMEDOUT;
			p->out.connect_seconds =
			    (double)(loop_monotonic_us() - p->connect_started) / 1e6;
			probe_finish(p, PROBE_TCP_TIMEOUT);
			return;
		default:
			break;
		}
		break;
	case PROBE_DONE:
	case PROBE_CANCELLED:
		break;
	}
	log_debug("probe %s:%u: event %d ignored in state %s", p->host, (unsigned)p->port, (int)ev,
	          state_names[p->state]);
}

static void
probe_resolved(void *arg, enum dns_result res, const struct dns_addrs *addrs)
{
	struct probe *p = arg;
	p->resolving = false;
	if (p->state == PROBE_CANCELLED || res == DNS_CANCELLED) {
		if (p->state == PROBE_CANCELLED) {
			probe_free(p);
			return;
		}
		/* The channel went away under a live probe (a reload); report it as a
		 * failed lookup rather than leave the target without a result. */
	}
	if (p->state != PROBE_RESOLVING)
		return;
	p->out.resolve = res == DNS_CANCELLED ? DNS_ERROR : res;
	if (res == DNS_OK) {
		p->addrs = *addrs;
		probe_step(p, PROBE_EV_RESOLVED);
	} else {
		probe_step(p, PROBE_EV_RESOLVE_FAILED);
	}
}

struct probe *
probe_tcp_start(struct loop *l, struct dns *resolver, const char *host, uint16_t port,
                uint64_t timeout_ms, probe_done_cb done, void *arg)
{
	struct probe *p = calloc(1, sizeof(*p));
	if (p == NULL)
		fatal("probe");
	p->loop = l;
	p->dns = resolver;
	p->state = PROBE_RESOLVING;
	p->host = strdup(host);
	if (p->host == NULL)
		fatal("probe");
	p->port = port;
	p->timeout_ms = timeout_ms;
	p->done = done;
	p->arg = arg;
	p->fd = -1;
	p->out.resolve = DNS_OK;
	p->connect_started = loop_monotonic_us();
	p->timer = loop_timer_add(l, timeout_ms + 1000, probe_deadline, p);
	p->resolving = true;
	dns_resolve(resolver, host, port, probe_resolved, p);
	return p;
}

void
probe_cancel(struct probe *p)
{
	if (p == NULL)
		return;
	probe_close_socket(p);
	probe_clear_timer(p);
	if (p->resolving) {
		probe_set_state(p, PROBE_CANCELLED);
		return;
	}
	probe_free(p);
}
