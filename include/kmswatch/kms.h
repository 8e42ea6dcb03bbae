/*
 * The KMS activation messages, client side (KMS-PROTOCOL.md sections 3 and 4):
 * the request the probe sends inside the RPC stub and the verification and
 * parsing of the host's response, for protocol versions 4, 5 and 6. Pure: the
 * caller passes the time and the IV, and nothing here does I/O or allocates
 * apart from appending to a caller's size-capped struct buf.
 */
#ifndef KMSWATCH_KMS_H
#define KMSWATCH_KMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kmswatch/buf.h"

#define KMS_GUID_SIZE         16
#define KMS_GUID_TEXT_SIZE    37 /* 36 characters and the NUL */
#define KMS_IV_SIZE           16
#define KMS_HWID_SIZE         8
#define KMS_HWID_TEXT_SIZE    17 /* 16 hex digits and the NUL */
#define KMS_REQUEST_BASE_SIZE 236
#define KMS_REQUEST_V4_SIZE   252 /* base and MAC */
#define KMS_REQUEST_V5_SIZE   260 /* version, IV, 240 bytes of ciphertext; v6 alike */
#define KMS_REQUEST_MAX_SIZE  260
/* The workstation name field: UTF-16LE, at most 63 code units and a NUL,
 * zero-padded to 128 bytes. */
#define KMS_WORKSTATION_FIELD_SIZE 128
#define KMS_WORKSTATION_MAX_UNITS  63
/* UTF-8 needs at most 3 bytes per UTF-16 code unit, so 63 units and a NUL fit. */
#define KMS_WORKSTATION_TEXT_MAX (3 * KMS_WORKSTATION_MAX_UNITS + 1)
/* The ePID size P in bytes, UTF-16 NUL included, is even and at most 128. */
#define KMS_EPID_MAX_SIZE 128
#define KMS_EPID_TEXT_MAX (3 * (KMS_EPID_MAX_SIZE / 2 - 1) + 1)
/* The largest valid response: v6 with a 128-byte ePID, padded, after the
 * version: 4 + 16 * ((16 + 44 + 128 + 88) / 16 + 1). */
#define KMS_RESPONSE_MAX_SIZE 292

/* What the probe sends in every request (section 3, "probe value"). */
#define KMS_PROBE_VM                 0
#define KMS_PROBE_LICENSE_STATUS     2 /* out-of-box grace */
#define KMS_PROBE_BINDING_EXPIRATION 43200

/* Every way building a request or checking a response fails; kms_strerror()
 * names the check. */
enum kms_error {
	KMS_OK = 0,
	KMS_ERR_ARGUMENT,          /* caller error: unknown version, missing product */
	KMS_ERR_WORKSTATION,       /* workstation name not printable UTF-8, or over 63 units */
	KMS_ERR_NOSPACE,           /* the output buffer reached its cap */
	KMS_ERR_TRUNCATED,         /* response shorter than its version or ePID size needs */
	KMS_ERR_SIZE,              /* response longer than its ePID size allows */
	KMS_ERR_VERSION,           /* version in the clear differs from the request's */
	KMS_ERR_EPID_SIZE,         /* ePID size odd, below 2 or above 128 */
	KMS_ERR_PADDING,           /* v5/v6: PKCS#7 padding invalid */
	KMS_ERR_MAC,               /* v4: CBC-MAC mismatch */
	KMS_ERR_IV_MISMATCH,       /* v5: first block is not the request IV decrypted */
	KMS_ERR_SALT_HASH,         /* v5/v6: SHA-256(RandomXoredIVs ^ D) differs from Hash */
	KMS_ERR_XORED_IVS,         /* v6: XoredIVs is not the request IV decrypted */
	KMS_ERR_HMAC,              /* v6: HMAC mismatch */
	KMS_ERR_INNER_VERSION,     /* v5/v6: version inside the ciphertext differs */
	KMS_ERR_EPID_NUL,          /* ePID does not end with a UTF-16 NUL */
	KMS_ERR_EPID_EMBEDDED_NUL, /* ePID has a NUL before its end */
	KMS_ERR_EPID_ENCODING,     /* ePID is not valid UTF-16 (lone surrogate) */
	KMS_ERR_CMID,              /* CMID echo differs from the request's */
	KMS_ERR_TIME,              /* request time echo differs from the request's */
};
#define KMS_ERROR_COUNT (KMS_ERR_TIME + 1)

/* A product as the probe asks for it. GUIDs are 16 bytes in wire layout
 * (kms_guid_parse() converts from text). */
struct kms_product_ids {
	uint8_t application_id[KMS_GUID_SIZE];
	uint8_t sku_id[KMS_GUID_SIZE];
	uint8_t kms_counted_id[KMS_GUID_SIZE];
	uint32_t required_count;   /* N: 25 for Windows clients, 5 for servers and Office */
	unsigned protocol_version; /* 4, 5 or 6 */
};

/* Everything a request is built from. */
struct kms_request_params {
	unsigned version; /* 4, 5 or 6: usually product->protocol_version */
	const struct kms_product_ids *product;
	uint8_t cmid[KMS_GUID_SIZE];
	uint64_t request_time;   /* FILETIME: 100 ns ticks since 1601-01-01 UTC */
	const char *workstation; /* UTF-8; NULL means an empty name */
	uint8_t iv[KMS_IV_SIZE]; /* v5/v6: fresh random bytes from the caller */
};

/* What the caller keeps between sending the request and checking the
 * response. Plain data: no pointers, safe to copy. */
struct kms_client_state {
	unsigned version;
	uint8_t iv[KMS_IV_SIZE];
	uint8_t iv_decrypted[KMS_IV_SIZE]; /* D: the IV decrypted with the version's key */
	uint8_t cmid[KMS_GUID_SIZE];
	uint64_t request_time;
};

/* A verified response. Sizes are bounded by the protocol, not by the peer. */
struct kms_response {
	unsigned version; /* major version */
	unsigned minor_version;
	char epid[KMS_EPID_TEXT_MAX]; /* UTF-8, NUL-terminated */
	uint32_t epid_size;           /* P as sent, in bytes */
	uint32_t count;               /* current count */
	uint32_t activation_interval; /* minutes, as sent */
	uint32_t renewal_interval;    /* minutes, as sent */
	bool has_hwid;                /* v6 only */
	uint8_t hwid[KMS_HWID_SIZE];
	uint8_t cmid[KMS_GUID_SIZE]; /* the echoes, equal to the request's */
	uint64_t request_time;
};

/* kms.c */
const char *kms_strerror(enum kms_error err);

/* Fills st for a request of version 4, 5 or 6 (iv unused for 4; may be NULL
 * then). kms_build_request() does this itself; this entry point lets a caller
 * verify a response to a request it did not build (a capture). */
enum kms_error kms_state_init(struct kms_client_state *st, unsigned version,
                              const uint8_t iv[KMS_IV_SIZE], const uint8_t cmid[KMS_GUID_SIZE],
                              uint64_t request_time);
/* Appends the request (252 bytes for v4, 260 for v5/v6) to out and fills st.
 * On failure st is untouched and out may hold a partial request. */
enum kms_error kms_build_request(const struct kms_request_params *p, struct kms_client_state *st,
                                 struct buf *out);
/* Verifies and parses the len bytes of a response to the request described
 * by st. Fills out only on KMS_OK; returns the first failed check otherwise. */
enum kms_error kms_parse_response(const struct kms_client_state *st, const uint8_t *data,
                                  size_t len, struct kms_response *out);

/* GUID text ("55c92734-d682-4d71-983e-d6ec3f16059f", either case, optionally
 * in braces) to 16 wire bytes: the first three fields little-endian, the last
 * eight bytes as written. Returns 0, or -1 on malformed text. */
int kms_guid_parse(const char *text, uint8_t out[KMS_GUID_SIZE]);
/* 16 wire bytes to lower-case GUID text. */
void kms_guid_format(const uint8_t guid[KMS_GUID_SIZE], char out[KMS_GUID_TEXT_SIZE]);
/* The HwId as 16 upper-case hex digits, bytes in wire order. */
void kms_hwid_format(const uint8_t hwid[KMS_HWID_SIZE], char out[KMS_HWID_TEXT_SIZE]);
/* Unix time to FILETIME; times before 1601 give 0. */
uint64_t kms_filetime_from_unix(int64_t seconds, uint32_t nanoseconds);

/* Strict UTF-8 (no overlong forms, surrogates or values above U+10FFFF) to
 * UTF-16LE, without a terminator; *units gets the number of code units.
 * Returns -1 on invalid input or when more than max_units would be needed. */
int kms_utf8_to_utf16le(const char *text, uint8_t *out, size_t max_units, size_t *units);
/* n_units UTF-16LE code units to NUL-terminated UTF-8 in out (out_size bytes).
 * Returns -1 on a lone surrogate, a NUL unit, or when out is too small. */
int kms_utf16le_to_utf8(const uint8_t *in, size_t n_units, char *out, size_t out_size);

#endif
