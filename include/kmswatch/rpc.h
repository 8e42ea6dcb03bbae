/*
 * Connection-oriented DCE/RPC (C706 chapter 12) as KMS uses it: single
 * fragments, no authentication, one interface. Pure: builders write into a
 * size-capped struct buf, parsers read a whole PDU from caller memory through
 * struct buf_reader and never allocate. Both sides are here because the test
 * simulator (the host side) reuses this module.
 */
#ifndef KMSWATCH_RPC_H
#define KMSWATCH_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kmswatch/buf.h"

#define RPC_HEADER_LEN   16
#define RPC_MAX_FRAG     5840 /* what the probe offers as max transmit and receive */
#define RPC_MAX_ITEMS    8    /* context items or results kept per bind or bind_ack */
#define RPC_SEC_ADDR_MAX 63   /* characters of a bind_ack secondary address */
#define RPC_KMS_PORT     1688
#define RPC_KMS_CONTEXT  0 /* the probe offers one syntax, so every call uses context 0 */
#define RPC_KMS_OPNUM    0 /* RequestActivation */

/* Packet types (header byte 2). */
enum rpc_type {
	RPC_TYPE_REQUEST = 0,
	RPC_TYPE_RESPONSE = 2,
	RPC_TYPE_FAULT = 3,
	RPC_TYPE_BIND = 11,
	RPC_TYPE_BIND_ACK = 12,
	RPC_TYPE_BIND_NAK = 13,
	RPC_TYPE_ALTER_CONTEXT = 14,
	RPC_TYPE_ALTER_CONTEXT_RESP = 15,
};

/* Header flags (pfc_flags). */
#define RPC_FLAG_FIRST           0x01
#define RPC_FLAG_LAST            0x02
#define RPC_FLAG_HDR_SIGN        0x04 /* bind family only: header signing supported */
#define RPC_FLAG_CONC_MPX        0x10 /* bind family only: concurrent multiplexing */
#define RPC_FLAG_DID_NOT_EXECUTE 0x20 /* fault only */

/* Bind_ack result values and reasons. */
enum rpc_result_code {
	RPC_RESULT_ACCEPTED = 0,
	RPC_RESULT_USER_REJECTION = 1,
	RPC_RESULT_PROVIDER_REJECTION = 2,
	RPC_RESULT_NEGOTIATE_ACK = 3, /* bind-time feature negotiation; reason = granted bits */
};
#define RPC_REASON_ABSTRACT_SYNTAX 1 /* interface not supported */
#define RPC_REASON_TRANSFER_SYNTAX 2 /* transfer syntax not supported */

/* Every way a build or parse can fail; rpc_strerror() names each. */
enum rpc_err {
	RPC_OK = 0,
	RPC_ERR_TRUNCATED,      /* the PDU ends before a field it must contain */
	RPC_ERR_VERSION,        /* not version 5.0 */
	RPC_ERR_DREP,           /* data representation other than 10 00 00 00 */
	RPC_ERR_FLAGS,          /* not a single fragment, or a flag not allowed for the type */
	RPC_ERR_FRAG_LENGTH,    /* below 16, above the maximum, or not the buffer length */
	RPC_ERR_AUTH,           /* authentication data present */
	RPC_ERR_CALL_ID,        /* not the call id the caller expected */
	RPC_ERR_TYPE,           /* unknown packet type, or not the type the caller expected */
	RPC_ERR_ITEMS,          /* bind: no context items, too many, or not one syntax each */
	RPC_ERR_SECONDARY_ADDR, /* bind_ack: secondary address unterminated, too long, binary */
	RPC_ERR_RESULTS,        /* bind_ack: no results, too many, unknown value, wrong count */
	RPC_ERR_TRAILING,       /* bytes after the last field */
	RPC_ERR_BIND_REJECTED,  /* bind_ack did not accept NDR on the first item */
	RPC_ERR_BIND_NAK,       /* bind answered with bind_nak */
	RPC_ERR_CONTEXT,        /* response on a presentation context the probe did not use */
	RPC_ERR_OPNUM,          /* request for an operation other than RequestActivation */
	RPC_ERR_STUB,           /* stub sizes disagree with each other or with the fragment */
	RPC_ERR_POINTER,        /* response: NULL pointer with a non-zero size */
	RPC_ERR_PADDING,        /* response: non-zero alignment padding */
	RPC_ERR_FAULT,          /* the peer answered with a fault PDU */
	RPC_ERR_INVALID,        /* build: an argument out of range */
	RPC_ERR_NOSPACE,        /* build: the output buffer reached its cap */
};

/* The common header's fields that vary. */
struct rpc_header {
	uint8_t type;
	uint8_t flags;
	uint16_t frag_len;
	uint32_t call_id;
};

/* A presentation syntax: a GUID in wire layout and a version. For an
 * interface (abstract syntax) the version is major | minor << 16, as C706
 * encodes it; for a transfer syntax it is a plain u32. */
struct rpc_syntax {
	uint8_t uuid[16];
	uint32_t version;
};

extern const struct rpc_syntax rpc_syntax_kms;         /* 51c82175-...-ec255555bc06 v1.0 */
extern const struct rpc_syntax rpc_syntax_ndr32;       /* 8a885d04-...-08002b104860 v2 */
extern const struct rpc_syntax rpc_syntax_ndr64;       /* 71710533-...-b5dbef9ccc36 v1 */
extern const struct rpc_syntax rpc_syntax_feature_neg; /* 6cb71c2c-9812-4540-0300-... v1 */

struct rpc_ctx_item {
	uint16_t context_id;
	struct rpc_syntax abstract;
	struct rpc_syntax transfer;
};

/* A bind or alter_context (type tells which). */
struct rpc_bind {
	uint8_t type;
	uint8_t flags;
	uint32_t call_id;
	uint16_t max_xmit;
	uint16_t max_recv;
	uint32_t assoc_group;
	size_t n_items;
	struct rpc_ctx_item items[RPC_MAX_ITEMS];
};

struct rpc_result {
	uint16_t result; /* enum rpc_result_code */
	uint16_t reason; /* rejection reason, or granted feature bits for NEGOTIATE_ACK */
	struct rpc_syntax transfer;
};

/* A bind_ack or alter_context_resp (type tells which). */
struct rpc_bind_ack {
	uint8_t type;
	uint8_t flags;
	uint32_t call_id;
	uint16_t max_xmit;
	uint16_t max_recv;
	uint32_t assoc_group;
	char sec_addr[RPC_SEC_ADDR_MAX + 1]; /* empty when the PDU carries none */
	size_t n_results;
	struct rpc_result results[RPC_MAX_ITEMS];
	uint16_t nak_reason; /* set when rpc_parse_bind_ack() returns RPC_ERR_BIND_NAK */
};

struct rpc_bind_nak {
	uint32_t call_id;
	uint16_t reason;
};

/* data points into the caller's PDU buffer and is valid while that is. */
struct rpc_request {
	uint32_t call_id;
	uint32_t alloc_hint;
	uint16_t context_id;
	uint16_t opnum;
	const uint8_t *data;
	size_t len;
};

/* data points into the caller's PDU buffer; NULL when null_ptr (a refusal). */
struct rpc_response {
	uint32_t call_id;
	uint32_t alloc_hint;
	uint16_t context_id;
	bool null_ptr;
	const uint8_t *data;
	size_t len;
	uint32_t hresult;
	uint32_t fault_status; /* set when rpc_parse_response() returns RPC_ERR_FAULT */
};

struct rpc_fault {
	uint32_t call_id;
	uint16_t context_id;
	uint32_t status;
};

/* rpc.c */
const char *rpc_strerror(enum rpc_err err);
/* A name for a packet type ("bind_ack"), or "unknown". */
const char *rpc_type_name(uint8_t type);

/* Framing a byte stream: given its first len bytes, the header of the PDU
 * that starts there. Validates version 5.0, a known type, flags (one fragment;
 * extra flags only where the type allows them), data representation, auth
 * length 0, and 16 <= fragment length <= max_frag; the fragment may extend
 * past len. RPC_ERR_TRUNCATED means fewer than 16 bytes: read more. */
enum rpc_err rpc_parse_header(const uint8_t *data, size_t len, size_t max_frag,
                              struct rpc_header *out);
/* The same checks; *frag_len gets the length of the whole PDU. */
enum rpc_err rpc_frag_length(const uint8_t *data, size_t len, size_t max_frag, size_t *frag_len);

/* True when s is the bind-time feature negotiation syntax; *bits gets the
 * feature bits it offers (may be NULL). */
bool rpc_syntax_is_feature_neg(const struct rpc_syntax *s, uint16_t *bits);
bool rpc_syntax_equal(const struct rpc_syntax *a, const struct rpc_syntax *b);

/* The probe's bind: item 0 KMS over NDR32, item 1 feature negotiation. */
void rpc_bind_init_probe(struct rpc_bind *b, uint32_t call_id);

/* Builders append one PDU to out, whose cap bounds it. On RPC_ERR_NOSPACE out
 * is marked overflowed and holds part of the PDU: reset it before reuse. On
 * RPC_ERR_INVALID nothing was written. */

/* The probe's bind, 116 bytes. */
enum rpc_err rpc_build_bind(struct buf *out, uint32_t call_id);
/* A bind or alter_context exactly as described by b. */
enum rpc_err rpc_write_bind(struct buf *out, const struct rpc_bind *b);
/* Request on context 0, opnum 0, stub = n, n, the n bytes of kms. */
enum rpc_err rpc_build_request(struct buf *out, uint32_t call_id, const uint8_t *kms, size_t n);

/* Host side. The answer to offer (bind or alter_context): accepts the KMS
 * interface over NDR32, rejects anything else (reason 1 for another interface,
 * 2 for another transfer syntax), acknowledges feature negotiation granting
 * the offered bits within feature_bits. A bind_ack carries the port as its
 * secondary address; an alter_context_resp carries none. */
enum rpc_err rpc_build_bind_ack(struct buf *out, const struct rpc_bind *offer, uint16_t port,
                                uint32_t assoc_group, uint16_t feature_bits);
/* A bind_ack or alter_context_resp exactly as described by a. */
enum rpc_err rpc_write_bind_ack(struct buf *out, const struct rpc_bind_ack *a);
enum rpc_err rpc_build_bind_nak(struct buf *out, uint32_t call_id, uint16_t reason);
/* Success: the n bytes of the KMS response and the HRESULT. */
enum rpc_err rpc_build_response(struct buf *out, uint32_t call_id, uint16_t context_id,
                                const uint8_t *kms, size_t n, uint32_t hresult);
/* Refusal: NULL response pointer and the HRESULT. */
enum rpc_err rpc_build_response_null(struct buf *out, uint32_t call_id, uint16_t context_id,
                                     uint32_t hresult);
enum rpc_err rpc_build_fault(struct buf *out, uint32_t call_id, uint16_t context_id,
                             uint32_t status);

/* Parsers take exactly one whole PDU (len must equal its fragment length).
 * Those for PDUs the probe receives check the call id it expects. */
/* Host side: a bind or alter_context. */
enum rpc_err rpc_parse_bind(const uint8_t *data, size_t len, struct rpc_bind *out);
/* A bind_ack or alter_context_resp, structurally; a bind_nak yields
 * RPC_ERR_BIND_NAK with out->nak_reason. Judge the results with
 * rpc_check_bind_ack(). */
enum rpc_err rpc_parse_bind_ack(const uint8_t *data, size_t len, uint32_t call_id,
                                struct rpc_bind_ack *out);
/* RPC_OK when a answers all n_offered items and accepts NDR on the first;
 * RPC_ERR_RESULTS or RPC_ERR_BIND_REJECTED otherwise. */
enum rpc_err rpc_check_bind_ack(const struct rpc_bind_ack *a, size_t n_offered);
enum rpc_err rpc_parse_bind_nak(const uint8_t *data, size_t len, uint32_t call_id,
                                struct rpc_bind_nak *out);
/* Host side: opnum 0 with a consistent stub. On RPC_ERR_OPNUM the call id,
 * context and opnum are filled in so the host can answer with a fault. */
enum rpc_err rpc_parse_request(const uint8_t *data, size_t len, struct rpc_request *out);
/* A response on context 0: success or NULL-pointer refusal. A fault yields
 * RPC_ERR_FAULT with out->fault_status. */
enum rpc_err rpc_parse_response(const uint8_t *data, size_t len, uint32_t call_id,
                                struct rpc_response *out);
enum rpc_err rpc_parse_fault(const uint8_t *data, size_t len, uint32_t call_id,
                             struct rpc_fault *out);

#endif
