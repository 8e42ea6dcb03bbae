/*
 * The host side of the KMS activation messages, for the test simulator and
 * the unit tests only (never linked into the agent): verifies and parses a
 * request of protocol version 4, 5 or 6, and builds the response, optionally
 * with one integrity element deliberately broken so that every check of the
 * agent's parser can be exercised.
 *
 * The response construction follows from the checks in KMS-PROTOCOL.md
 * section 4. The client decrypts everything after the version with CBC and
 * an all-zero IV, so the host builds the whole plaintext, first block R0
 * included, and encrypts it the same way: the first ciphertext block is then
 * Enc(R0). Choosing R0 = Dec(X) puts X on the wire, the request IV for v5
 * (R0 = D) and a random response IV for v6.
 */
#ifndef KMSWATCH_KMSHOST_H
#define KMSWATCH_KMSHOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kmswatch/buf.h"
#include "kmswatch/kms.h"

enum kms_host_error {
	KMS_HOST_OK = 0,
	KMS_HOST_ERR_TRUNCATED,     /* request shorter than its version requires */
	KMS_HOST_ERR_SIZE,          /* request longer than its version allows */
	KMS_HOST_ERR_VERSION,       /* not version 4, 5 or 6 (real hosts answer 0x8007000D) */
	KMS_HOST_ERR_MAC,           /* v4 request MAC mismatch */
	KMS_HOST_ERR_PADDING,       /* v5/v6 request padding invalid after decryption */
	KMS_HOST_ERR_INNER_VERSION, /* v5/v6 version inside differs from the one outside */
	KMS_HOST_ERR_NAME,          /* workstation name unterminated, unpadded or not UTF-16 */
	KMS_HOST_ERR_ARGUMENT,      /* build: bad request, or ePID not UTF-8 or over 63 units */
	KMS_HOST_ERR_KNOB,          /* build: the corruption does not exist in this version */
	KMS_HOST_ERR_NOSPACE,       /* build: the output buffer reached its cap */
};

/* A verified request. */
struct kms_host_request {
	unsigned version; /* major */
	unsigned minor_version;
	uint32_t vm;
	uint32_t license_status;
	uint32_t binding_expiration; /* minutes */
	uint8_t application_id[KMS_GUID_SIZE];
	uint8_t sku_id[KMS_GUID_SIZE];
	uint8_t kms_counted_id[KMS_GUID_SIZE];
	uint8_t cmid[KMS_GUID_SIZE];
	uint32_t required_count;
	uint64_t request_time; /* FILETIME */
	uint8_t previous_cmid[KMS_GUID_SIZE];
	char machine_name[KMS_WORKSTATION_TEXT_MAX]; /* UTF-8 */
	bool has_iv;                                 /* v5/v6 */
	uint8_t iv[KMS_IV_SIZE];
};

/* One deliberately broken element per response. The host computes every
 * other integrity value over the broken data, so only the named check fails:
 * the comment gives the error the agent must report. */
enum kms_host_corruption {
	KMS_HOST_CORRUPT_NONE = 0,
	KMS_HOST_CORRUPT_MAC,           /* v4: KMS_ERR_MAC */
	KMS_HOST_CORRUPT_PADDING,       /* v5/v6: unequal pad bytes, KMS_ERR_PADDING */
	KMS_HOST_CORRUPT_PADDING_ZERO,  /* v5/v6: last pad byte 0, KMS_ERR_PADDING */
	KMS_HOST_CORRUPT_PADDING_SHORT, /* v5/v6: well-formed, wrong length: KMS_ERR_PADDING */
	KMS_HOST_CORRUPT_SALT_HASH,     /* v5/v6: KMS_ERR_SALT_HASH */
	KMS_HOST_CORRUPT_HMAC,          /* v6: KMS_ERR_HMAC */
	KMS_HOST_CORRUPT_XORED_IVS,     /* v6: KMS_ERR_XORED_IVS */
	KMS_HOST_CORRUPT_IV,       /* v5: first block not the request IV, KMS_ERR_IV_MISMATCH */
	KMS_HOST_CORRUPT_EPID_ODD, /* ePID size odd: KMS_ERR_EPID_SIZE */
	KMS_HOST_CORRUPT_EPID_OVERSIZE,     /* ePID size 130: KMS_ERR_EPID_SIZE */
	KMS_HOST_CORRUPT_EPID_NUL,          /* no terminating NUL: KMS_ERR_EPID_NUL */
	KMS_HOST_CORRUPT_EPID_EMBEDDED_NUL, /* KMS_ERR_EPID_EMBEDDED_NUL */
	KMS_HOST_CORRUPT_EPID_ENCODING,     /* lone surrogate: KMS_ERR_EPID_ENCODING */
	KMS_HOST_CORRUPT_VERSION,           /* version in the clear: KMS_ERR_VERSION */
	KMS_HOST_CORRUPT_INNER_VERSION,     /* v5/v6 version inside: KMS_ERR_INNER_VERSION */
	KMS_HOST_CORRUPT_CMID,              /* KMS_ERR_CMID */
	KMS_HOST_CORRUPT_TIME,              /* KMS_ERR_TIME */
};
#define KMS_HOST_CORRUPTION_COUNT (KMS_HOST_CORRUPT_TIME + 1)

/* What the host answers. */
struct kms_host_reply {
	const char *epid; /* UTF-8, at most 63 UTF-16 units */
	uint32_t count;
	uint32_t activation_interval; /* minutes */
	uint32_t renewal_interval;    /* minutes */
	uint8_t hwid[KMS_HWID_SIZE];  /* v6 */
	/* Random material the caller chooses: the salt whose SHA-256 the v5/v6
	 * response carries, and the IV in front of the v6 ciphertext. */
	uint8_t salt[16];
	uint8_t response_iv[KMS_IV_SIZE];
	enum kms_host_corruption corrupt;
};

/* kmshost.c */
const char *kms_host_strerror(enum kms_host_error err);
/* A short name for the simulator's configuration ("bad-mac"), or "unknown". */
const char *kms_host_corruption_name(enum kms_host_corruption c);
/* The corruption named name. Returns 0, or -1 for an unknown name. */
int kms_host_corruption_parse(const char *name, enum kms_host_corruption *out);
/* Whether corruption c exists in responses of protocol version version. */
bool kms_host_corruption_applies(enum kms_host_corruption c, unsigned version);
/* Verifies the len bytes of a request (v4 MAC, v5/v6 decryption with the
 * request's IV) and parses its fields into out. */
enum kms_host_error kms_host_parse_request(const uint8_t *data, size_t len,
                                           struct kms_host_request *out);
/* Appends the response to req (same version) to out. */
enum kms_host_error kms_host_build_response(const struct kms_host_request *req,
                                            const struct kms_host_reply *reply, struct buf *out);

#endif
