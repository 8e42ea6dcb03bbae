/*
 * One check of one target, as a state machine in the engine loop: resolve the
 * host's addresses, connect over TCP (trying each address in turn), each step
 * under a deadline. Never blocks; a hung host costs one socket until its
 * deadline.
 */
#ifndef KMSWATCH_PROBE_H
#define KMSWATCH_PROBE_H

#include <netinet/in.h>
#include <stdint.h>

#include "kmswatch/dns.h"
#include "kmswatch/loop.h"

/* In the order of the kms_tcp_connect_result state set. */
enum probe_tcp_result {
	PROBE_TCP_OK,
	PROBE_TCP_REFUSED,
	PROBE_TCP_UNREACHABLE,
	PROBE_TCP_TIMEOUT,
	PROBE_TCP_RESOLVE_FAILED,
	PROBE_TCP_RESULT_COUNT
};

struct probe_outcome {
	enum probe_tcp_result tcp;
	enum dns_result resolve;            /* how the address lookup went */
	int error;                          /* errno of the last failed connect, 0 if none */
	double connect_seconds;             /* time to establish, or until the failure */
	char address[INET6_ADDRSTRLEN + 8]; /* the address tried last, "[v6]:port" style */
};

struct probe;
typedef void (*probe_done_cb)(void *arg, const struct probe_outcome *out);

/* Starts a check; done runs exactly once, always from the loop (never before
 * probe_tcp_start returns), unless the probe is cancelled first. The probe
 * frees itself after done returns. host is copied. */
struct probe *probe_tcp_start(struct loop *l, struct dns *resolver, const char *host, uint16_t port,
                              uint64_t timeout_ms, probe_done_cb done, void *arg);
/* Stops a probe without calling done. */
void probe_cancel(struct probe *p);

const char *probe_tcp_result_name(enum probe_tcp_result r);
/* Maps a connect errno to a result. */
enum probe_tcp_result probe_classify_errno(int err);

#endif
