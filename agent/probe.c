/*
 * The per-target probe state machine; see probe.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kmswatch/epid.h"
#include "kmswatch/log.h"
#include "kmswatch/probe.h"
#include "kmswatch/rpc.h"

#define PROBE_OUT_MAX 1024 /* bind and request together are well under this */

enum probe_state {
	PROBE_RESOLVING,
	PROBE_CONNECTING,
	PROBE_BINDING,    /* bind sent or being sent; waiting for bind_ack */
	PROBE_REQUESTING, /* request sent or being sent; waiting for the response */
	PROBE_DONE,       /* outcome known; done() is queued */
	PROBE_CANCELLED,  /* waiting only for the resolver's callback */
};

enum probe_event {
	PROBE_EV_RESOLVED,
	PROBE_EV_RESOLVE_FAILED,
	PROBE_EV_WRITABLE,
	PROBE_EV_READABLE,
	PROBE_EV_PDU, /* a whole PDU is in the input buffer */
	PROBE_EV_DEADLINE,
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
	bool is_kms;
	struct probe_kms_request kms;

	bool resolving; /* a resolver callback is still due */
	struct dns_addrs addrs;
	size_t next_addr;
	int fd;
	uint64_t started_us;
	uint64_t connect_started; /* microseconds */
	uint64_t step_deadline;   /* milliseconds */
	struct loop_timer *timer;

	uint32_t call_id;
	struct kms_client_state client;
	struct buf out;
	size_t out_sent;
	uint8_t in[RPC_MAX_FRAG];
	size_t in_len;
	size_t frag_len; /* of the PDU being read, 0 until its header is in */

	struct probe_outcome result;
};

static const char *const tcp_result_names[PROBE_TCP_RESULT_COUNT] = {
    "ok", "refused", "unreachable", "timeout", "resolve_failed",
};

static const char *const kms_result_names[PROBE_KMS_RESULT_COUNT] = {
    "ok",         "product_not_covered", "host_not_activated", "clock_skew", "protocol_unsupported",
    "host_error", "rpc_error",           "protocol_error",     "timeout",    "unreachable",
};

static const char *const state_names[] = {"resolving",  "connecting", "binding",
                                          "requesting", "done",       "cancelled"};

const char *
probe_tcp_result_name(enum probe_tcp_result r)
{
	return r < PROBE_TCP_RESULT_COUNT ? tcp_result_names[r] : "unknown";
}

const char *
probe_kms_result_name(enum probe_kms_result r)
{
	return r < PROBE_KMS_RESULT_COUNT ? kms_result_names[r] : "unknown";
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

enum probe_kms_result
probe_classify_hresult(uint32_t hresult)
{
	switch (hresult) {
	case 0:
		return PROBE_KMS_OK;
	case PROBE_HR_NOT_COVERED:
		return PROBE_KMS_PRODUCT_NOT_COVERED;
	case PROBE_HR_NOT_ACTIVATED:
		return PROBE_KMS_HOST_NOT_ACTIVATED;
	case PROBE_HR_CLOCK_SKEW:
		return PROBE_KMS_CLOCK_SKEW;
	case PROBE_HR_INVALID_DATA:
		return PROBE_KMS_PROTOCOL_UNSUPPORTED;
	default:
		return PROBE_KMS_HOST_ERROR;
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
	buf_free(&p->out);
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

/* Starts the deadline of the next step. */
static void
probe_arm_step(struct probe *p)
{
	probe_clear_timer(p);
	p->step_deadline = loop_monotonic_ms() + p->timeout_ms;
	p->timer = loop_timer_add(p->loop, p->timeout_ms, probe_deadline, p);
}

/* done() always runs from a timer, so callers never see it re-entrantly. */
static void
probe_report(struct loop *l, void *arg)
{
	(void)l;
	struct probe *p = arg;
	p->timer = NULL;
	p->done(p->arg, &p->result);
	if (p->resolving)
		probe_set_state(p, PROBE_CANCELLED);
	else
		probe_free(p);
}

static void
probe_finish(struct probe *p)
{
	probe_close_socket(p);
	probe_clear_timer(p);
	p->result.duration_seconds = (double)(loop_monotonic_us() - p->started_us) / 1e6;
	probe_set_state(p, PROBE_DONE);
	p->timer = loop_timer_add(p->loop, 0, probe_report, p);
}

/* Ends the probe in the TCP stage; for an activation probe the failure is
 * also its result. */
static void
probe_finish_tcp(struct probe *p, enum probe_tcp_result r)
{
	p->result.tcp = r;
	if (p->is_kms && r != PROBE_TCP_OK) {
		p->result.kms = r == PROBE_TCP_TIMEOUT ? PROBE_KMS_TIMEOUT : PROBE_KMS_UNREACHABLE;
		p->result.hresult =
		    r == PROBE_TCP_TIMEOUT ? PROBE_HR_NO_ANSWER : PROBE_HR_RPC_UNAVAILABLE;
		snprintf(p->result.detail, sizeof(p->result.detail), "connect: %s",
		         r == PROBE_TCP_RESOLVE_FAILED
		             ? "name did not resolve"
		             : (p->result.error ? strerror(p->result.error) : tcp_result_names[r]));
	}
	probe_finish(p);
}

static void probe_fail(struct probe *p, enum probe_kms_result r, uint32_t hresult, const char *fmt,
                       ...) __attribute__((format(printf, 4, 5)));

static void
probe_fail(struct probe *p, enum probe_kms_result r, uint32_t hresult, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->result.detail, sizeof(p->result.detail), fmt, ap);
	va_end(ap);
	p->result.kms = r;
	p->result.hresult = hresult;
	probe_finish(p);
}

static void
probe_io(struct loop *l, int fd, unsigned events, void *arg)
{
	(void)l;
	(void)fd;
	struct probe *p = arg;
	if (events & LOOP_WRITE) {
		probe_step(p, PROBE_EV_WRITABLE);
		/* The step may have finished the probe; its socket is gone then. */
		if (p->fd == -1 || p->state == PROBE_DONE)
			return;
	}
	if (events & (LOOP_READ | LOOP_ERROR))
		probe_step(p, PROBE_EV_READABLE);
}

static void
probe_format_addr(const struct sockaddr_storage *ss, char *out, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		snprintf(out, len, "%s:%u", ip, ntohs(in->sin_port));
	} else {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		snprintf(out, len, "[%s]:%u", ip, ntohs(in6->sin6_port));
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
		probe_format_addr(ss, p->result.address, sizeof(p->result.address));
		p->fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (p->fd == -1) {
			p->result.error = errno;
			log_warn("probe %s: socket", p->result.address);
			continue;
		}
		p->connect_started = loop_monotonic_us();
		if (connect(p->fd, (const struct sockaddr *)ss, p->addrs.len[i]) == 0 ||
		    errno == EINPROGRESS) {
			if (loop_fd_add(p->loop, p->fd, LOOP_WRITE, probe_io, p) == 0)
				return true;
			p->result.error = errno;
			log_warn("probe %s: cannot watch socket", p->result.address);
		} else {
			p->result.error = errno;
		}
		probe_close_socket(p);
	}
	return false;
}

static double
probe_connect_time(const struct probe *p)
{
	return (double)(loop_monotonic_us() - p->connect_started) / 1e6;
}

/* Queues the bind and the request's first step once connected. */
/* Changes what the socket is watched for; a failure ends the probe with the
 * reason rather than leaving it to run into its deadline. */
static bool
probe_watch(struct probe *p, unsigned events)
{
	if (loop_fd_modify(p->loop, p->fd, events) == 0)
		return true;
	probe_fail(p, PROBE_KMS_PROTOCOL_ERROR, PROBE_HR_INVALID_DATA,
	           "%s: cannot watch the socket: %s", state_names[p->state], strerror(errno));
	return false;
}

static void
probe_start_exchange(struct probe *p)
{
	if (getrandom(&p->call_id, sizeof(p->call_id), 0) != sizeof(p->call_id))
		p->call_id = (uint32_t)loop_monotonic_us();
	p->call_id = (p->call_id & 0x7fffffffu) | 1u;
	buf_reset(&p->out);
	p->out_sent = 0;
	enum rpc_err rc = rpc_build_bind(&p->out, p->call_id);
	if (rc != RPC_OK) {
		probe_fail(p, PROBE_KMS_PROTOCOL_ERROR, PROBE_HR_INVALID_DATA, "bind: %s",
		           rpc_strerror(rc));
		return;
	}
	probe_set_state(p, PROBE_BINDING);
	probe_arm_step(p);
	probe_watch(p, LOOP_WRITE | LOOP_READ);
}

/* Sends what is left of the output; false when the socket failed. */
static bool
probe_flush(struct probe *p)
{
	while (p->out_sent < p->out.len) {
		ssize_t n =
		    send(p->fd, p->out.data + p->out_sent, p->out.len - p->out_sent, MSG_NOSIGNAL);
		if (n > 0) {
			p->out_sent += (size_t)n;
			continue;
		}
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return true;
		probe_fail(p, PROBE_KMS_PROTOCOL_ERROR, PROBE_HR_INVALID_DATA,
		           "%s: send failed: %s", state_names[p->state], strerror(errno));
		return false;
	}
	return probe_watch(p, LOOP_READ);
}

/* Reads what the socket has, up to the end of the current PDU; raises
 * PROBE_EV_PDU when one is complete. */
static void
probe_read(struct probe *p)
{
	for (;;) {
		size_t want = p->frag_len ? p->frag_len : RPC_HEADER_LEN;
		if (p->in_len < want) {
			ssize_t n = recv(p->fd, p->in + p->in_len, want - p->in_len, 0);
			if (n == 0) {
				probe_fail(p, PROBE_KMS_PROTOCOL_ERROR, PROBE_HR_INVALID_DATA,
				           "%s: connection closed after %zu bytes of a PDU",
				           state_names[p->state], p->in_len);
				return;
			}
			if (n == -1) {
				if (errno == EAGAIN || errno == EINTR)
					return;
				probe_fail(p, PROBE_KMS_PROTOCOL_ERROR, PROBE_HR_INVALID_DATA,
				           "%s: %s", state_names[p->state], strerror(errno));
				return;
			}
			p->in_len += (size_t)n;
			continue;
		}
		if (p->frag_len == 0) {
			size_t frag;
			enum rpc_err rc = rpc_frag_length(p->in, p->in_len, RPC_MAX_FRAG, &frag);
			if (rc != RPC_OK) {
				probe_fail(p, PROBE_KMS_PROTOCOL_ERROR, PROBE_HR_INVALID_DATA,
				           "%s: bad PDU header: %s", state_names[p->state],
				           rpc_strerror(rc));
				return;
			}
			p->frag_len = frag;
			continue;
		}
		probe_step(p, PROBE_EV_PDU);
		return;
	}
}

static void
probe_send_request(struct probe *p)
{
	struct kms_request_params params;
	memset(&params, 0, sizeof(params));
	params.version = p->kms.version;
	params.product = &p->kms.product;
	memcpy(params.cmid, p->kms.cmid, sizeof(params.cmid));
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	params.request_time = kms_filetime_from_unix(ts.tv_sec, (uint32_t)ts.tv_nsec);
	params.workstation = p->kms.workstation;
	if (getrandom(params.iv, sizeof(params.iv), 0) != sizeof(params.iv)) {
		probe_fail(p, PROBE_KMS_PROTOCOL_ERROR, PROBE_HR_INVALID_DATA,
		           "no random bytes for the request IV");
		return;
	}
	struct buf kms;
	buf_init(&kms, KMS_REQUEST_MAX_SIZE);
	enum kms_error ke = kms_build_request(&params, &p->client, &kms);
	enum rpc_err re = RPC_OK;
	if (ke == KMS_OK) {
		buf_reset(&p->out);
		p->out_sent = 0;
		re = rpc_build_request(&p->out, p->call_id, kms.data, kms.len);
	}
	buf_free(&kms);
	if (ke != KMS_OK || re != RPC_OK) {
		probe_fail(p, PROBE_KMS_PROTOCOL_ERROR, PROBE_HR_INVALID_DATA, "request: %s",
		           ke != KMS_OK ? kms_strerror(ke) : rpc_strerror(re));
		return;
	}
	probe_set_state(p, PROBE_REQUESTING);
	probe_arm_step(p);
	probe_watch(p, LOOP_WRITE | LOOP_READ);
}

static void
probe_on_bind_ack(struct probe *p)
{
	struct rpc_bind_ack ack;
	enum rpc_err rc = rpc_parse_bind_ack(p->in, p->frag_len, p->call_id, &ack);
	if (rc == RPC_OK)
		rc = rpc_check_bind_ack(&ack, 2);
	p->in_len = p->frag_len = 0;
	switch (rc) {
	case RPC_OK:
		probe_send_request(p);
		return;
	case RPC_ERR_BIND_NAK:
		probe_fail(p, PROBE_KMS_RPC_ERROR, PROBE_HR_RPC_UNAVAILABLE,
		           "bind refused with bind_nak, reason %u", (unsigned)ack.nak_reason);
		return;
	case RPC_ERR_BIND_REJECTED:
		probe_fail(p, PROBE_KMS_RPC_ERROR, PROBE_HR_RPC_UNAVAILABLE,
		           "bind rejected: the host does not offer the KMS interface over NDR");
		return;
	default:
		probe_fail(p, PROBE_KMS_PROTOCOL_ERROR, PROBE_HR_INVALID_DATA, "bind_ack: %s",
		           rpc_strerror(rc));
		return;
	}
}

static void
probe_on_response(struct probe *p)
{
	struct rpc_response r;
	enum rpc_err rc = rpc_parse_response(p->in, p->frag_len, p->call_id, &r);
	if (rc == RPC_ERR_FAULT) {
		probe_fail(p, PROBE_KMS_RPC_ERROR, r.fault_status, "RPC fault 0x%08X",
		           r.fault_status);
		return;
	}
	if (rc != RPC_OK) {
		probe_fail(p, PROBE_KMS_PROTOCOL_ERROR, PROBE_HR_INVALID_DATA, "response: %s",
		           rpc_strerror(rc));
		return;
	}
	if (r.null_ptr || r.hresult != 0) {
		enum probe_kms_result res = probe_classify_hresult(r.hresult);
		if (res == PROBE_KMS_OK) {
			probe_fail(p, PROBE_KMS_PROTOCOL_ERROR, PROBE_HR_INVALID_DATA,
			           "response: no data and no error code");
			return;
		}
		probe_fail(p, res, r.hresult, "host answered 0x%08X", r.hresult);
		return;
	}
	enum kms_error ke = kms_parse_response(&p->client, r.data, r.len, &p->result.resp);
	if (ke != KMS_OK) {
		probe_fail(p, PROBE_KMS_PROTOCOL_ERROR, PROBE_HR_INVALID_DATA, "KMS response: %s",
		           kms_strerror(ke));
		return;
	}
	/* The ePID names the host's build and key; one that does not parse is as
	 * much a protocol error as a bad MAC. */
	struct epid epid;
	if (epid_parse(p->result.resp.epid, strlen(p->result.resp.epid), &epid) == -1) {
		probe_fail(p, PROBE_KMS_PROTOCOL_ERROR, PROBE_HR_INVALID_DATA,
		           "KMS response: malformed ePID");
		return;
	}
	p->result.kms = PROBE_KMS_OK;
	p->result.hresult = 0;
	p->result.detail[0] = '\0';
	probe_finish(p);
}

static void
probe_step(struct probe *p, enum probe_event ev)
{
	switch (p->state) {
	case PROBE_RESOLVING:
		switch (ev) {
		case PROBE_EV_RESOLVED:
			probe_set_state(p, PROBE_CONNECTING);
			probe_arm_step(p);
			if (!probe_connect_next(p))
				probe_finish_tcp(p, probe_classify_errno(p->result.error));
			return;
		case PROBE_EV_RESOLVE_FAILED:
			probe_finish_tcp(p, PROBE_TCP_RESOLVE_FAILED);
			return;
		case PROBE_EV_DEADLINE:
			/* c-ares keeps its own deadline; this one guards against a
			 * callback that never comes. */
			p->result.resolve = DNS_TIMEOUT;
			probe_finish_tcp(p, PROBE_TCP_RESOLVE_FAILED);
			return;
		default:
			break;
		}
		break;
	case PROBE_CONNECTING:
		switch (ev) {
		case PROBE_EV_WRITABLE:
		case PROBE_EV_READABLE: {
			int err = 0;
			socklen_t len = sizeof(err);
			if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
				err = errno;
			p->result.connect_seconds = probe_connect_time(p);
			p->result.error = err;
			if (err == 0) {
				p->result.tcp = PROBE_TCP_OK;
				if (p->is_kms)
					probe_start_exchange(p);
				else
					probe_finish_tcp(p, PROBE_TCP_OK);
				return;
			}
			probe_close_socket(p);
			if (probe_connect_next(p))
				return;
			probe_finish_tcp(p, loop_monotonic_ms() >= p->step_deadline
			                        ? PROBE_TCP_TIMEOUT
			                        : probe_classify_errno(err));
			return;
		}
		case PROBE_EV_DEADLINE:
			p->result.error = ETIMEDOUT;
			p->result.connect_seconds = probe_connect_time(p);
			probe_finish_tcp(p, PROBE_TCP_TIMEOUT);
			return;
		default:
			break;
		}
		break;
	case PROBE_BINDING:
	case PROBE_REQUESTING:
		switch (ev) {
		case PROBE_EV_WRITABLE:
			probe_flush(p);
			return;
		case PROBE_EV_READABLE:
			probe_read(p);
			return;
		case PROBE_EV_PDU:
			if (p->state == PROBE_BINDING)
				probe_on_bind_ack(p);
			else
				probe_on_response(p);
			return;
		case PROBE_EV_DEADLINE:
			probe_fail(p, PROBE_KMS_TIMEOUT, PROBE_HR_NO_ANSWER,
			           "%s: no answer within %llums (%zu bytes received)",
			           p->state == PROBE_BINDING ? "bind" : "request",
			           (unsigned long long)p->timeout_ms, p->in_len);
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
	if (p->state == PROBE_CANCELLED) {
		probe_free(p);
		return;
	}
	if (p->state != PROBE_RESOLVING)
		return;
	/* A channel destroyed under a live probe (a reload) counts as a failed
	 * lookup rather than leaving the target without a result. */
	p->result.resolve = res == DNS_CANCELLED ? DNS_ERROR : res;
	if (res == DNS_OK) {
		p->addrs = *addrs;
		probe_step(p, PROBE_EV_RESOLVED);
	} else {
		probe_step(p, PROBE_EV_RESOLVE_FAILED);
	}
}

static struct probe *
probe_start(struct loop *l, struct dns *resolver, const char *host, uint16_t port,
            uint64_t timeout_ms, const struct probe_kms_request *kms, probe_done_cb done, void *arg)
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
	p->is_kms = kms != NULL;
	if (kms != NULL) {
		p->kms = *kms;
		p->result.version = kms->version;
	}
	buf_init(&p->out, PROBE_OUT_MAX);
	p->result.resolve = DNS_OK;
	p->started_us = p->connect_started = loop_monotonic_us();
	p->timer = loop_timer_add(l, timeout_ms + 1000, probe_deadline, p);
	p->resolving = true;
	dns_resolve(resolver, host, port, probe_resolved, p);
	return p;
}

struct probe *
probe_tcp_start(struct loop *l, struct dns *resolver, const char *host, uint16_t port,
                uint64_t timeout_ms, probe_done_cb done, void *arg)
{
	return probe_start(l, resolver, host, port, timeout_ms, NULL, done, arg);
}

struct probe *
probe_kms_start(struct loop *l, struct dns *resolver, const char *host, uint16_t port,
                uint64_t timeout_ms, const struct probe_kms_request *kms, probe_done_cb done,
                void *arg)
{
	return probe_start(l, resolver, host, port, timeout_ms, kms, done, arg);
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
