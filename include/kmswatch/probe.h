/*
 * One check of one target, as a state machine in the engine loop: resolve the
 * host's addresses, connect over TCP (trying each address in turn), and for an
 * activation probe then bind, send one KMS request and read the response, each
 * step under its own deadline. Never blocks; a hung host costs one socket
 * until its deadline. Input is read into a fixed buffer of RPC_MAX_FRAG bytes,
 * whatever the peer claims.
 */
#ifndef KMSWATCH_PROBE_H
#define KMSWATCH_PROBE_H

#include <netinet/in.h>
#include <stdint.h>

#include "kmswatch/dns.h"
#include "kmswatch/kms.h"
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

/* In the order of the kms_probe_result state set. */
enum probe_kms_result {
	PROBE_KMS_OK,
	PROBE_KMS_PRODUCT_NOT_COVERED,  /* 0xC004F042 */
	PROBE_KMS_HOST_NOT_ACTIVATED,   /* 0xC004F041 */
	PROBE_KMS_CLOCK_SKEW,           /* 0xC004F06C */
	PROBE_KMS_PROTOCOL_UNSUPPORTED, /* 0x8007000D: the host is too old for the version */
	PROBE_KMS_HOST_ERROR,           /* any other HRESULT */
	PROBE_KMS_RPC_ERROR,            /* bind rejected, bind_nak or fault */
	PROBE_KMS_PROTOCOL_ERROR,       /* malformed or unverifiable answer */
	PROBE_KMS_TIMEOUT,              /* connect or an exchange step ran out of time */
	PROBE_KMS_UNREACHABLE,          /* name did not resolve, refused, no route */
	PROBE_KMS_RESULT_COUNT
};

#define PROBE_HR_NOT_COVERED     0xC004F042u
#define PROBE_HR_NOT_ACTIVATED   0xC004F041u
#define PROBE_HR_CLOCK_SKEW      0xC004F06Cu
#define PROBE_HR_INVALID_DATA    0x8007000Du
#define PROBE_HR_RPC_UNAVAILABLE 0x800706BAu
#define PROBE_HR_NO_ANSWER       0xC004F039u

/* What an activation probe asks. */
struct probe_kms_request {
	struct kms_product_ids product;
	unsigned version; /* 4, 5 or 6 */
	uint8_t cmid[KMS_GUID_SIZE];
	char workstation[KMS_WORKSTATION_TEXT_MAX];
};

struct probe_outcome {
	enum probe_tcp_result tcp;
	enum dns_result resolve;            /* how the address lookup went */
	int error;                          /* errno of the last failed connect, 0 if none */
	double connect_seconds;             /* time to establish, or until the failure */
	char address[INET6_ADDRSTRLEN + 8]; /* the address tried last, "[v6]:port" style */
	/* Activation probes only. */
	enum probe_kms_result kms;
	/* The HRESULT a client would see: the host's own, a fault's status, or
	 * for failures without one the code a client reports for them. */
	uint32_t hresult;
	unsigned version;         /* protocol version of the request */
	double duration_seconds;  /* from start to the outcome */
	char detail[160];         /* which step or check failed, for logs and /probe */
	struct kms_response resp; /* valid when kms == PROBE_KMS_OK */
};

struct probe;
typedef void (*probe_done_cb)(void *arg, const struct probe_outcome *out);

/* Starts a check; done runs exactly once, always from the loop (never before
 * probe_tcp_start returns), unless the probe is cancelled first. The probe
 * frees itself after done returns. host is copied. */
struct probe *probe_tcp_start(struct loop *l, struct dns *resolver, const char *host, uint16_t port,
                              uint64_t timeout_ms, probe_done_cb done, void *arg);
/* An activation probe: the TCP steps, then bind, request and response; kms is
 * copied. Same contract as probe_tcp_start. */
struct probe *probe_kms_start(struct loop *l, struct dns *resolver, const char *host, uint16_t port,
                              uint64_t timeout_ms, const struct probe_kms_request *kms,
                              probe_done_cb done, void *arg);
/* Stops a probe without calling done. */
void probe_cancel(struct probe *p);

const char *probe_tcp_result_name(enum probe_tcp_result r);
const char *probe_kms_result_name(enum probe_kms_result r);
/* Maps a host's refusal HRESULT to a result. */
enum probe_kms_result probe_classify_hresult(uint32_t hresult);
/* Maps a connect errno to a result. */
enum probe_tcp_result probe_classify_errno(int err);

#endif
