/*
 * KMS request building and response verification, client side; see kms.h and
 * KMS-PROTOCOL.md sections 3 and 4. Every read of peer data goes through
 * struct buf_reader; decrypted data lives in fixed buffers sized by the
 * protocol's limits, never by a size the peer claims.
 */
#include <stdio.h>
#include <string.h>

#include "kmswatch/kms.h"
#include "kmswatch/kmscrypto.h"

/* Response layout (section 4): the base is 44 bytes plus the ePID; v5 and v6
 * add RandomXoredIVs and Hash, v6 also HwId, XoredIVs and HMAC. */
#define RESP_BASE_FIXED  44
#define RESP_MAC_SIZE    KMSCRYPTO_MAC_SIZE
#define RESP_R0_SIZE     16
#define RESP_SALT_SIZE   16
#define RESP_HASH_SIZE   KMSCRYPTO_SHA256_SIZE
#define RESP_XORED_SIZE  16
#define RESP_HMAC_SIZE   KMSCRYPTO_V6_HMAC_SIZE
#define RESP_V6_EXTRA    (KMS_HWID_SIZE + RESP_XORED_SIZE + RESP_HMAC_SIZE)
#define RESP_EPID_OFFSET 8 /* the ePID follows the version and its size */

/* The decryption buffer is sized by the largest response the protocol
 * allows, so the ePID size limit is what keeps every copy in bounds. */
#define RESP_V6_MAX_PLAIN                                                                          \
	(RESP_R0_SIZE + RESP_BASE_FIXED + KMS_EPID_MAX_SIZE + RESP_SALT_SIZE + RESP_HASH_SIZE +    \
	 RESP_V6_EXTRA)
_Static_assert(KMS_RESPONSE_MAX_SIZE == 4 + 16 * (RESP_V6_MAX_PLAIN / 16 + 1),
               "KMS_RESPONSE_MAX_SIZE must fit the largest padded v6 response");

/* Seconds from 1601-01-01 to 1970-01-01. */
#define FILETIME_UNIX_EPOCH INT64_C(11644473600)
#define FILETIME_PER_SECOND UINT64_C(10000000)

/* Versions travel as minor u16 then major u16, which reads as one u32. The
 * probe always sends minor version 0. */
static uint32_t
wire_version(unsigned major)
{
	return (uint32_t)major << 16;
}

const char *
kms_strerror(enum kms_error err)
{
	switch (err) {
	case KMS_OK:
		return "success";
	case KMS_ERR_ARGUMENT:
		return "invalid argument (unsupported protocol version or missing product)";
	case KMS_ERR_WORKSTATION:
		return "workstation name is not printable UTF-8 of at most 63 UTF-16 units";
	case KMS_ERR_NOSPACE:
		return "output buffer is full";
	case KMS_ERR_TRUNCATED:
		return "response is shorter than its version and ePID size require";
	case KMS_ERR_SIZE:
		return "response is longer than its version and ePID size allow";
	case KMS_ERR_VERSION:
		return "response protocol version differs from the request's";
	case KMS_ERR_EPID_SIZE:
		return "response ePID size is odd, below 2 or above 128 bytes";
	case KMS_ERR_PADDING:
		return "response PKCS#7 padding is invalid";
	case KMS_ERR_MAC:
		return "response CBC-MAC (v4) does not match";
	case KMS_ERR_IV_MISMATCH:
		return "response first block is not the request IV (v5)";
	case KMS_ERR_SALT_HASH:
		return "response salt hash (SHA-256 of RandomXoredIVs) does not match";
	case KMS_ERR_XORED_IVS:
		return "response XoredIVs is not the request IV decrypted (v6)";
	case KMS_ERR_HMAC:
		return "response HMAC (v6) does not match";
	case KMS_ERR_INNER_VERSION:
		return "protocol version inside the encrypted response differs from the request's";
	case KMS_ERR_EPID_NUL:
		return "response ePID is not terminated by a UTF-16 NUL";
	case KMS_ERR_EPID_EMBEDDED_NUL:
		return "response ePID contains a NUL before its end";
	case KMS_ERR_EPID_ENCODING:
		return "response ePID is not valid UTF-16";
	case KMS_ERR_CMID:
		return "response CMID echo differs from the request's";
	case KMS_ERR_TIME:
		return "response request-time echo differs from the request's";
	}
	return "unknown KMS error";
}

/* Strict UTF-8 decoding of one code point. */
static int
utf8_decode(struct buf_reader *r, uint32_t *cp)
{
	uint8_t b0, b;
	uint32_t c, min;
	unsigned n;

	if (buf_get_u8(r, &b0) == -1)
		return -1;
	if (b0 < 0x80) {
		*cp = b0;
		return 0;
	}
	if ((b0 & 0xE0) == 0xC0) {
		n = 1;
		c = b0 & 0x1F;
		min = 0x80;
	} else if ((b0 & 0xF0) == 0xE0) {
		n = 2;
		c = b0 & 0x0F;
		min = 0x800;
	} else if ((b0 & 0xF8) == 0xF0) {
		n = 3;
		c = b0 & 0x07;
		min = 0x10000;
	} else {
		return -1;
	}
	for (unsigned i = 0; i < n; i++) {
		if (buf_get_u8(r, &b) == -1 || (b & 0xC0) != 0x80)
			return -1;
		c = c << 6 | (b & 0x3F);
	}
	/* Overlong forms, surrogates and values past Unicode are not UTF-8. */
	if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return -1;
	*cp = c;
	return 0;
}

int
kms_utf8_to_utf16le(const char *text, uint8_t *out, size_t max_units, size_t *units)
{
	struct buf_reader r;
	size_t n = 0;

	buf_reader_init(&r, text, strlen(text));
	while (buf_remaining(&r) > 0) {
		uint32_t cp;
		uint16_t u[2];
		size_t k = 1;
		if (utf8_decode(&r, &cp) == -1)
			return -1;
		if (cp >= 0x10000) {
			cp -= 0x10000;
			u[0] = (uint16_t)(0xD800 | cp >> 10);
			u[1] = (uint16_t)(0xDC00 | (cp & 0x3FF));
			k = 2;
		} else {
			u[0] = (uint16_t)cp;
		}
		if (k > max_units - n)
			return -1;
		for (size_t i = 0; i < k; i++, n++) {
			out[2 * n] = (uint8_t)u[i];
			out[2 * n + 1] = (uint8_t)(u[i] >> 8);
		}
	}
	*units = n;
	return 0;
}

/* Appends code point cp as UTF-8 at out[*o], keeping room for a NUL. */
static int
utf8_encode(uint32_t cp, char *out, size_t out_size, size_t *o)
{
	uint8_t b[4];
	size_t k;

	if (cp < 0x80) {
		b[0] = (uint8_t)cp;
		k = 1;
	} else if (cp < 0x800) {
		b[0] = (uint8_t)(0xC0 | cp >> 6);
		b[1] = (uint8_t)(0x80 | (cp & 0x3F));
		k = 2;
	} else if (cp < 0x10000) {
		b[0] = (uint8_t)(0xE0 | cp >> 12);
		b[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
		b[2] = (uint8_t)(0x80 | (cp & 0x3F));
		k = 3;
	} else {
		b[0] = (uint8_t)(0xF0 | cp >> 18);
		b[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
		b[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
		b[3] = (uint8_t)(0x80 | (cp & 0x3F));
		k = 4;
	}
	if (out_size == 0 || k > out_size - 1 - *o)
		return -1;
	memcpy(out + *o, b, k);
	*o += k;
	return 0;
}

int
kms_utf16le_to_utf8(const uint8_t *in, size_t n_units, char *out, size_t out_size)
{
	struct buf_reader r;
	size_t o = 0;

	if (out_size == 0 || n_units > SIZE_MAX / 2)
		return -1;
	buf_reader_init(&r, in, 2 * n_units);
	while (buf_remaining(&r) > 0) {
		uint16_t u, lo;
		uint32_t cp;
		if (buf_get_u16le(&r, &u) == -1 || u == 0)
			return -1;
		if (u >= 0xDC00 && u <= 0xDFFF)
			return -1;
		if (u >= 0xD800 && u <= 0xDBFF) {
			if (buf_get_u16le(&r, &lo) == -1 || lo < 0xDC00 || lo > 0xDFFF)
				return -1;
			cp = 0x10000 + ((uint32_t)(u - 0xD800) << 10 | (uint32_t)(lo - 0xDC00));
		} else {
			cp = u;
		}
		if (utf8_encode(cp, out, out_size, &o) == -1)
			return -1;
	}
	out[o] = '\0';
	return 0;
}

static int
hex_value(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
kms_guid_parse(const char *text, uint8_t out[KMS_GUID_SIZE])
{
	struct buf_reader r;
	uint8_t raw[KMS_GUID_SIZE] = {0};
	size_t len = strlen(text), n = 0;
	bool braces = len == 38;

	if (len != 36 && !braces)
		return -1;
	buf_reader_init(&r, text, len);
	for (size_t i = 0; i < len; i++) {
		uint8_t c;
		(void)buf_get_u8(&r, &c);
		size_t pos = braces ? i - 1 : i;
		if (braces && i == 0) {
			if (c != '{')
				return -1;
		} else if (braces && i == len - 1) {
			if (c != '}')
				return -1;
		} else if (pos == 8 || pos == 13 || pos == 18 || pos == 23) {
			if (c != '-')
				return -1;
		} else {
			int v = hex_value(c);
			if (v < 0)
				return -1;
			/* Two hex digits per byte, the first one high. */
			raw[n / 2] = (uint8_t)(n % 2 == 0 ? v << 4 : raw[n / 2] | v);
			n++;
		}
	}
	if (n != 2 * KMS_GUID_SIZE)
		return -1;
	/* The first three fields are little-endian on the wire. */
	const uint8_t order[KMS_GUID_SIZE] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};
	for (size_t i = 0; i < KMS_GUID_SIZE; i++)
		out[i] = raw[order[i]];
	return 0;
}

void
kms_guid_format(const uint8_t g[KMS_GUID_SIZE], char out[KMS_GUID_TEXT_SIZE])
{
	snprintf(out, KMS_GUID_TEXT_SIZE,
	         "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", g[3], g[2],
	         g[1], g[0], g[5], g[4], g[7], g[6], g[8], g[9], g[10], g[11], g[12], g[13], g[14],
	         g[15]);
}

void
kms_hwid_format(const uint8_t hwid[KMS_HWID_SIZE], char out[KMS_HWID_TEXT_SIZE])
{
	static const char digits[] = "0123456789ABCDEF";

	for (size_t i = 0; i < KMS_HWID_SIZE; i++) {
		out[2 * i] = digits[hwid[i] >> 4];
		out[2 * i + 1] = digits[hwid[i] & 0x0F];
	}
	out[2 * KMS_HWID_SIZE] = '\0';
}

uint64_t
kms_filetime_from_unix(int64_t seconds, uint32_t nanoseconds)
{
	if (seconds < -FILETIME_UNIX_EPOCH)
		return 0;
	/* Unsigned, so that seconds near INT64_MAX cannot overflow. */
	uint64_t s = (uint64_t)seconds + (uint64_t)FILETIME_UNIX_EPOCH;
	if (s > (UINT64_MAX - UINT32_MAX / 100) / FILETIME_PER_SECOND)
		return UINT64_MAX;
	return s * FILETIME_PER_SECOND + nanoseconds / 100;
}

enum kms_error
kms_state_init(struct kms_client_state *st, unsigned version, const uint8_t iv[KMS_IV_SIZE],
               const uint8_t cmid[KMS_GUID_SIZE], uint64_t request_time)
{
	struct rijndael_ctx ctx;

	if (st == NULL || cmid == NULL || kmscrypto_cipher_init(&ctx, version) == -1 ||
	    (version != 4 && iv == NULL))
		return KMS_ERR_ARGUMENT;
	memset(st, 0, sizeof(*st));
	st->version = version;
	memcpy(st->cmid, cmid, KMS_GUID_SIZE);
	st->request_time = request_time;
	if (version != 4) {
		memcpy(st->iv, iv, KMS_IV_SIZE);
		/* D, which the v5 and v6 responses prove knowledge of. */
		rijndael_decrypt_block(&ctx, st->iv, st->iv_decrypted);
	}
	return KMS_OK;
}

/* The name goes into the host's event log, so control characters are refused
 * along with anything that is not UTF-8 or does not fit. */
static enum kms_error
encode_workstation(const char *name, uint8_t field[KMS_WORKSTATION_FIELD_SIZE])
{
	struct buf_reader r;
	size_t units;

	memset(field, 0, KMS_WORKSTATION_FIELD_SIZE);
	if (name == NULL)
		return KMS_OK;
	if (kms_utf8_to_utf16le(name, field, KMS_WORKSTATION_MAX_UNITS, &units) == -1)
		return KMS_ERR_WORKSTATION;
	buf_reader_init(&r, field, 2 * units);
	for (size_t i = 0; i < units; i++) {
		uint16_t u;
		(void)buf_get_u16le(&r, &u);
		if (u < 0x20 || u == 0x7F)
			return KMS_ERR_WORKSTATION;
	}
	return KMS_OK;
}

enum kms_error
kms_build_request(const struct kms_request_params *p, struct kms_client_state *st, struct buf *out)
{
	struct kms_client_state next;
	uint8_t name[KMS_WORKSTATION_FIELD_SIZE];
	enum kms_error rc;

	if (p == NULL || p->product == NULL || st == NULL || out == NULL)
		return KMS_ERR_ARGUMENT;
	if ((rc = kms_state_init(&next, p->version, p->iv, p->cmid, p->request_time)) != KMS_OK)
		return rc;
	if ((rc = encode_workstation(p->workstation, name)) != KMS_OK)
		return rc;

	if (p->version != 4) {
		buf_put_u32le(out, wire_version(p->version));
		buf_append(out, p->iv, KMS_IV_SIZE);
	}
	size_t base_off = out->len;
	buf_put_u32le(out, wire_version(p->version));
	buf_put_u32le(out, KMS_PROBE_VM);
	buf_put_u32le(out, KMS_PROBE_LICENSE_STATUS);
	buf_put_u32le(out, KMS_PROBE_BINDING_EXPIRATION);
	buf_append(out, p->product->application_id, KMS_GUID_SIZE);
	buf_append(out, p->product->sku_id, KMS_GUID_SIZE);
	buf_append(out, p->product->kms_counted_id, KMS_GUID_SIZE);
	buf_append(out, p->cmid, KMS_GUID_SIZE);
	buf_put_u32le(out, p->product->required_count);
	buf_put_u64le(out, p->request_time);
	buf_put_zeros(out, KMS_GUID_SIZE); /* previous CMID */
	buf_append(out, name, sizeof(name));

	if (p->version == 4) {
		uint8_t mac[KMSCRYPTO_MAC_SIZE];
		if (out->overflow)
			return KMS_ERR_NOSPACE;
		kmscrypto_v4_mac(out->data + base_off, KMS_REQUEST_BASE_SIZE, mac);
		buf_append(out, mac, sizeof(mac));
	} else {
		struct rijndael_ctx ctx;
		size_t padded = kmscrypto_pkcs7_padded_size(KMS_REQUEST_BASE_SIZE);
		uint8_t pad = (uint8_t)(padded - KMS_REQUEST_BASE_SIZE);
		for (size_t i = 0; i < pad; i++)
			buf_put_u8(out, pad);
		if (out->overflow)
			return KMS_ERR_NOSPACE;
		(void)kmscrypto_cipher_init(&ctx, p->version);
		(void)kmscrypto_cbc_encrypt(&ctx, p->iv, out->data + base_off, padded,
		                            out->data + base_off);
	}
	if (out->overflow)
		return KMS_ERR_NOSPACE;
	*st = next;
	return KMS_OK;
}

static bool
epid_size_valid(uint32_t p)
{
	return p % 2 == 0 && p >= 2 && p <= KMS_EPID_MAX_SIZE;
}

/* The ePID: P bytes of UTF-16LE whose only NUL is the last code unit. */
static enum kms_error
parse_epid(struct buf_reader *r, uint32_t p, struct kms_response *out)
{
	uint8_t raw[KMS_EPID_MAX_SIZE];
	struct buf_reader units;
	size_t n = p / 2;

	if (buf_get_bytes(r, raw, p) == -1)
		return KMS_ERR_TRUNCATED;
	buf_reader_init(&units, raw, p);
	for (size_t i = 0; i < n; i++) {
		uint16_t u;
		(void)buf_get_u16le(&units, &u);
		if (i == n - 1 && u != 0)
			return KMS_ERR_EPID_NUL;
		if (i < n - 1 && u == 0)
			return KMS_ERR_EPID_EMBEDDED_NUL;
	}
	if (kms_utf16le_to_utf8(raw, n - 1, out->epid, sizeof(out->epid)) == -1)
		return KMS_ERR_EPID_ENCODING;
	out->epid_size = p;
	return KMS_OK;
}

/* The response base (section 4) after the integrity checks passed. */
static enum kms_error
parse_base(const struct kms_client_state *st, const uint8_t *base, size_t len,
           enum kms_error version_err, struct kms_response *out)
{
	struct buf_reader r;
	uint32_t version, p;
	enum kms_error rc;

	buf_reader_init(&r, base, len);
	if (buf_get_u32le(&r, &version) == -1 || buf_get_u32le(&r, &p) == -1)
		return KMS_ERR_TRUNCATED;
	if (version != wire_version(st->version))
		return version_err;
	out->version = version >> 16;
	out->minor_version = version & 0xFFFF;
	if (!epid_size_valid(p))
		return KMS_ERR_EPID_SIZE;
	if ((rc = parse_epid(&r, p, out)) != KMS_OK)
		return rc;
	buf_get_bytes(&r, out->cmid, KMS_GUID_SIZE);
	buf_get_u64le(&r, &out->request_time);
	buf_get_u32le(&r, &out->count);
	buf_get_u32le(&r, &out->activation_interval);
	buf_get_u32le(&r, &out->renewal_interval);
	if (!buf_ok(&r))
		return KMS_ERR_TRUNCATED;
	if (buf_remaining(&r) != 0)
		return KMS_ERR_SIZE;
	if (memcmp(out->cmid, st->cmid, KMS_GUID_SIZE) != 0)
		return KMS_ERR_CMID;
	if (out->request_time != st->request_time)
		return KMS_ERR_TIME;
	return KMS_OK;
}

static enum kms_error
parse_v4(const struct kms_client_state *st, const uint8_t *data, size_t len,
         struct kms_response *out)
{
	struct buf_reader r;
	const uint8_t *base, *mac;
	uint8_t calc[KMSCRYPTO_MAC_SIZE];
	uint32_t version, p;

	/* v4 is not encrypted: the version and the ePID size come first. */
	buf_reader_init(&r, data, len);
	if (buf_get_u32le(&r, &version) == -1)
		return KMS_ERR_TRUNCATED;
	if (version != wire_version(st->version))
		return KMS_ERR_VERSION;
	if (buf_get_u32le(&r, &p) == -1)
		return KMS_ERR_TRUNCATED;
	if (!epid_size_valid(p))
		return KMS_ERR_EPID_SIZE;
	size_t base_len = RESP_BASE_FIXED + p;
	if (len < base_len + RESP_MAC_SIZE)
		return KMS_ERR_TRUNCATED;
	if (len > base_len + RESP_MAC_SIZE)
		return KMS_ERR_SIZE;

	buf_reader_init(&r, data, len);
	if (buf_get_ptr(&r, &base, base_len) == -1 || buf_get_ptr(&r, &mac, RESP_MAC_SIZE) == -1)
		return KMS_ERR_TRUNCATED;
	kmscrypto_v4_mac(base, base_len, calc);
	if (memcmp(calc, mac, sizeof(calc)) != 0)
		return KMS_ERR_MAC;
	return parse_base(st, base, base_len, KMS_ERR_VERSION, out);
}

static enum kms_error
parse_v5v6(const struct kms_client_state *st, const uint8_t *data, size_t len,
           struct kms_response *out)
{
	static const uint8_t zero_iv[KMSCRYPTO_BLOCK_SIZE];
	struct rijndael_ctx ctx;
	struct buf_reader r, peek, pr;
	uint8_t head[2 * KMSCRYPTO_BLOCK_SIZE], pt[KMS_RESPONSE_MAX_SIZE];
	uint8_t r0[RESP_R0_SIZE], salt[RESP_SALT_SIZE], hash[RESP_HASH_SIZE];
	uint8_t calc[KMSCRYPTO_SHA256_SIZE];
	const uint8_t *base;
	uint32_t version, p;
	bool v6 = st->version == 6;
	size_t unpadded;

	buf_reader_init(&r, data, len);
	if (buf_get_u32le(&r, &version) == -1)
		return KMS_ERR_TRUNCATED;
	if (version != wire_version(st->version))
		return KMS_ERR_VERSION;

	/* The ePID size sits in the second block. Decrypting the first two
	 * blocks alone gives it, and with it the exact size the response must
	 * have, before anything is trusted or copied. */
	(void)kmscrypto_cipher_init(&ctx, st->version);
	peek = r;
	if (buf_get_bytes(&peek, head, sizeof(head)) == -1)
		return KMS_ERR_TRUNCATED;
	(void)kmscrypto_cbc_decrypt(&ctx, zero_iv, head, sizeof(head), head);
	buf_reader_init(&pr, head, sizeof(head));
	buf_skip(&pr, RESP_R0_SIZE + 4);
	buf_get_u32le(&pr, &p);
	if (!epid_size_valid(p))
		return KMS_ERR_EPID_SIZE;
	size_t base_len = RESP_BASE_FIXED + p;
	size_t pt_len =
	    RESP_R0_SIZE + base_len + RESP_SALT_SIZE + RESP_HASH_SIZE + (v6 ? RESP_V6_EXTRA : 0);
	size_t padded = kmscrypto_pkcs7_padded_size(pt_len);
	if (buf_remaining(&r) < padded)
		return KMS_ERR_TRUNCATED;
	if (buf_remaining(&r) > padded)
		return KMS_ERR_SIZE;

	if (buf_get_bytes(&r, pt, padded) == -1)
		return KMS_ERR_TRUNCATED;
	(void)kmscrypto_cbc_decrypt(&ctx, zero_iv, pt, padded, pt);
	if (kmscrypto_pkcs7_unpad(pt, padded, &unpadded) == -1 || unpadded != pt_len)
		return KMS_ERR_PADDING;

	buf_reader_init(&pr, pt, pt_len);
	buf_get_bytes(&pr, r0, sizeof(r0));
	buf_get_ptr(&pr, &base, base_len);
	buf_get_bytes(&pr, salt, sizeof(salt));
	buf_get_bytes(&pr, hash, sizeof(hash));
	if (!buf_ok(&pr))
		return KMS_ERR_TRUNCATED;

	if (!v6 && memcmp(r0, st->iv_decrypted, sizeof(r0)) != 0)
		return KMS_ERR_IV_MISMATCH;
	for (size_t i = 0; i < sizeof(salt); i++)
		salt[i] ^= st->iv_decrypted[i];
	kmscrypto_sha256(salt, sizeof(salt), calc);
	if (memcmp(calc, hash, sizeof(hash)) != 0)
		return KMS_ERR_SALT_HASH;

	if (v6) {
		uint8_t xored[RESP_XORED_SIZE], hmac[RESP_HMAC_SIZE];
		uint8_t mac[KMSCRYPTO_V6_HMAC_SIZE];
		struct buf_reader tr;
		uint64_t t;

		buf_get_bytes(&pr, out->hwid, KMS_HWID_SIZE);
		buf_get_bytes(&pr, xored, sizeof(xored));
		buf_get_bytes(&pr, hmac, sizeof(hmac));
		if (!buf_ok(&pr))
			return KMS_ERR_TRUNCATED;
		if (memcmp(xored, st->iv_decrypted, sizeof(xored)) != 0)
			return KMS_ERR_XORED_IVS;
		/* The HMAC key comes from the time echo in the response. */
		buf_reader_init(&tr, base, base_len);
		buf_skip(&tr, RESP_EPID_OFFSET + p + KMS_GUID_SIZE);
		if (buf_get_u64le(&tr, &t) == -1)
			return KMS_ERR_TRUNCATED;
		kmscrypto_v6_hmac(t, pt, pt_len - RESP_HMAC_SIZE, mac);
		if (memcmp(mac, hmac, sizeof(mac)) != 0)
			return KMS_ERR_HMAC;
		out->has_hwid = true;
	}
	return parse_base(st, base, base_len, KMS_ERR_INNER_VERSION, out);
}

enum kms_error
kms_parse_response(const struct kms_client_state *st, const uint8_t *data, size_t len,
                   struct kms_response *out)
{
	struct kms_response res;
	enum kms_error rc;

	if (st == NULL || out == NULL || st->version < 4 || st->version > 6)
		return KMS_ERR_ARGUMENT;
	memset(&res, 0, sizeof(res));
	if (st->version == 4)
		rc = parse_v4(st, data, len, &res);
	else
		rc = parse_v5v6(st, data, len, &res);
	if (rc == KMS_OK)
		*out = res;
	return rc;
}
