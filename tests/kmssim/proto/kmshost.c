/*
 * KMS host side for tests and the simulator; see kmshost.h.
 */
#include <string.h>

#include "kmshost.h"
#include "kmswatch/kmscrypto.h"

#define HOST_BASE_FIXED      44 /* response base without the ePID */
#define HOST_EPID_MAX_UNITS  (KMS_EPID_MAX_SIZE / 2 - 1)
#define HOST_OVERSIZE_EPID   (KMS_EPID_MAX_SIZE + 2)
#define HOST_NAME_UNITS      (KMS_WORKSTATION_FIELD_SIZE / 2)
#define HOST_PLAIN_MAX       512
#define HOST_REQ_CIPHER_SIZE 240 /* the 236-byte base padded */

static const struct {
	enum kms_host_corruption c;
	const char *name;
} corruption_names[] = {
    {KMS_HOST_CORRUPT_NONE, "none"},
    {KMS_HOST_CORRUPT_MAC, "bad-mac"},
    {KMS_HOST_CORRUPT_PADDING, "bad-padding"},
    {KMS_HOST_CORRUPT_PADDING_ZERO, "zero-padding"},
    {KMS_HOST_CORRUPT_PADDING_SHORT, "short-padding"},
    {KMS_HOST_CORRUPT_SALT_HASH, "bad-salt-hash"},
    {KMS_HOST_CORRUPT_HMAC, "bad-hmac"},
    {KMS_HOST_CORRUPT_XORED_IVS, "bad-xored-ivs"},
    {KMS_HOST_CORRUPT_IV, "iv-mismatch"},
    {KMS_HOST_CORRUPT_EPID_ODD, "odd-epid-size"},
    {KMS_HOST_CORRUPT_EPID_OVERSIZE, "oversized-epid"},
    {KMS_HOST_CORRUPT_EPID_NUL, "epid-missing-nul"},
    {KMS_HOST_CORRUPT_EPID_EMBEDDED_NUL, "epid-embedded-nul"},
    {KMS_HOST_CORRUPT_EPID_ENCODING, "epid-bad-utf16"},
    {KMS_HOST_CORRUPT_VERSION, "wrong-version"},
    {KMS_HOST_CORRUPT_INNER_VERSION, "wrong-inner-version"},
    {KMS_HOST_CORRUPT_CMID, "wrong-cmid"},
    {KMS_HOST_CORRUPT_TIME, "wrong-time"},
};

const char *
kms_host_strerror(enum kms_host_error err)
{
	switch (err) {
	case KMS_HOST_OK:
		return "success";
	case KMS_HOST_ERR_TRUNCATED:
		return "request is shorter than its version requires";
	case KMS_HOST_ERR_SIZE:
		return "request is longer than its version allows";
	case KMS_HOST_ERR_VERSION:
		return "request protocol version is not 4, 5 or 6";
	case KMS_HOST_ERR_MAC:
		return "request CBC-MAC (v4) does not match";
	case KMS_HOST_ERR_PADDING:
		return "request PKCS#7 padding is invalid after decryption";
	case KMS_HOST_ERR_INNER_VERSION:
		return "protocol version inside the encrypted request differs from the outer one";
	case KMS_HOST_ERR_NAME:
		return "request workstation name is unterminated, not zero-padded or not UTF-16";
	case KMS_HOST_ERR_ARGUMENT:
		return "invalid argument (request, or ePID not UTF-8 of at most 63 units)";
	case KMS_HOST_ERR_KNOB:
		return "the corruption does not exist in this protocol version";
	case KMS_HOST_ERR_NOSPACE:
		return "output buffer is full";
	}
	return "unknown KMS host error";
}

const char *
kms_host_corruption_name(enum kms_host_corruption c)
{
	for (size_t i = 0; i < sizeof(corruption_names) / sizeof(corruption_names[0]); i++)
		if (corruption_names[i].c == c)
			return corruption_names[i].name;
	return "unknown";
}

int
kms_host_corruption_parse(const char *name, enum kms_host_corruption *out)
{
	for (size_t i = 0; i < sizeof(corruption_names) / sizeof(corruption_names[0]); i++) {
		if (strcmp(corruption_names[i].name, name) == 0) {
			*out = corruption_names[i].c;
			return 0;
		}
	}
	return -1;
}

bool
kms_host_corruption_applies(enum kms_host_corruption c, unsigned version)
{
	if (version < 4 || version > 6)
		return false;
	switch (c) {
	case KMS_HOST_CORRUPT_MAC:
		return version == 4;
	case KMS_HOST_CORRUPT_PADDING:
	case KMS_HOST_CORRUPT_PADDING_ZERO:
	case KMS_HOST_CORRUPT_PADDING_SHORT:
	case KMS_HOST_CORRUPT_SALT_HASH:
	case KMS_HOST_CORRUPT_INNER_VERSION:
		return version != 4;
	case KMS_HOST_CORRUPT_IV:
		return version == 5;
	case KMS_HOST_CORRUPT_HMAC:
	case KMS_HOST_CORRUPT_XORED_IVS:
		return version == 6;
	case KMS_HOST_CORRUPT_NONE:
	case KMS_HOST_CORRUPT_EPID_ODD:
	case KMS_HOST_CORRUPT_EPID_OVERSIZE:
	case KMS_HOST_CORRUPT_EPID_NUL:
	case KMS_HOST_CORRUPT_EPID_EMBEDDED_NUL:
	case KMS_HOST_CORRUPT_EPID_ENCODING:
	case KMS_HOST_CORRUPT_VERSION:
	case KMS_HOST_CORRUPT_CMID:
	case KMS_HOST_CORRUPT_TIME:
		return true;
	}
	return false;
}

/* The workstation name: UTF-16LE up to the first NUL, zeros after it. */
static enum kms_host_error
parse_name(struct buf_reader *r, char *out, size_t out_size)
{
	uint8_t field[KMS_WORKSTATION_FIELD_SIZE];
	struct buf_reader units;
	size_t len = HOST_NAME_UNITS;

	if (buf_get_bytes(r, field, sizeof(field)) == -1)
		return KMS_HOST_ERR_TRUNCATED;
	buf_reader_init(&units, field, sizeof(field));
	for (size_t i = 0; i < HOST_NAME_UNITS; i++) {
		uint16_t u;
		(void)buf_get_u16le(&units, &u);
		if (len == HOST_NAME_UNITS && u == 0)
			len = i;
		else if (len != HOST_NAME_UNITS && u != 0)
			return KMS_HOST_ERR_NAME;
	}
	if (len == HOST_NAME_UNITS || kms_utf16le_to_utf8(field, len, out, out_size) == -1)
		return KMS_HOST_ERR_NAME;
	return KMS_HOST_OK;
}

static enum kms_host_error
parse_base(const uint8_t *base, size_t len, uint32_t outer_version, struct kms_host_request *out)
{
	struct buf_reader r;
	uint32_t version;

	buf_reader_init(&r, base, len);
	buf_get_u32le(&r, &version);
	if (version != outer_version)
		return KMS_HOST_ERR_INNER_VERSION;
	out->version = version >> 16;
	out->minor_version = version & 0xFFFF;
	buf_get_u32le(&r, &out->vm);
	buf_get_u32le(&r, &out->license_status);
	buf_get_u32le(&r, &out->binding_expiration);
	buf_get_bytes(&r, out->application_id, KMS_GUID_SIZE);
	buf_get_bytes(&r, out->sku_id, KMS_GUID_SIZE);
	buf_get_bytes(&r, out->kms_counted_id, KMS_GUID_SIZE);
	buf_get_bytes(&r, out->cmid, KMS_GUID_SIZE);
	buf_get_u32le(&r, &out->required_count);
	buf_get_u64le(&r, &out->request_time);
	buf_get_bytes(&r, out->previous_cmid, KMS_GUID_SIZE);
	if (!buf_ok(&r))
		return KMS_HOST_ERR_TRUNCATED;
	return parse_name(&r, out->machine_name, sizeof(out->machine_name));
}

enum kms_host_error
kms_host_parse_request(const uint8_t *data, size_t len, struct kms_host_request *out)
{
	struct kms_host_request req;
	struct buf_reader r;
	uint8_t base[HOST_REQ_CIPHER_SIZE];
	uint32_t version;
	size_t need;
	enum kms_host_error rc;

	memset(&req, 0, sizeof(req));
	buf_reader_init(&r, data, len);
	if (buf_get_u32le(&r, &version) == -1)
		return KMS_HOST_ERR_TRUNCATED;
	switch (version >> 16) {
	case 4:
		need = KMS_REQUEST_V4_SIZE;
		break;
	case 5:
	case 6:
		need = KMS_REQUEST_V5_SIZE;
		break;
	default:
		return KMS_HOST_ERR_VERSION;
	}
	if (len < need)
		return KMS_HOST_ERR_TRUNCATED;
	if (len > need)
		return KMS_HOST_ERR_SIZE;

	if (version >> 16 == 4) {
		uint8_t mac[KMSCRYPTO_MAC_SIZE], calc[KMSCRYPTO_MAC_SIZE];
		/* v4 is in the clear: the version read above is the base's own. */
		buf_reader_init(&r, data, len);
		buf_get_bytes(&r, base, KMS_REQUEST_BASE_SIZE);
		buf_get_bytes(&r, mac, sizeof(mac));
		if (!buf_ok(&r))
			return KMS_HOST_ERR_TRUNCATED;
		kmscrypto_v4_mac(base, KMS_REQUEST_BASE_SIZE, calc);
		if (memcmp(mac, calc, sizeof(mac)) != 0)
			return KMS_HOST_ERR_MAC;
	} else {
		struct rijndael_ctx ctx;
		size_t unpadded;
		buf_get_bytes(&r, req.iv, KMS_IV_SIZE);
		buf_get_bytes(&r, base, HOST_REQ_CIPHER_SIZE);
		if (!buf_ok(&r))
			return KMS_HOST_ERR_TRUNCATED;
		req.has_iv = true;
		(void)kmscrypto_cipher_init(&ctx, version >> 16);
		(void)kmscrypto_cbc_decrypt(&ctx, req.iv, base, HOST_REQ_CIPHER_SIZE, base);
		if (kmscrypto_pkcs7_unpad(base, HOST_REQ_CIPHER_SIZE, &unpadded) == -1 ||
		    unpadded != KMS_REQUEST_BASE_SIZE)
			return KMS_HOST_ERR_PADDING;
	}
	if ((rc = parse_base(base, KMS_REQUEST_BASE_SIZE, version, &req)) != KMS_HOST_OK)
		return rc;
	*out = req;
	return KMS_HOST_OK;
}

/* The ePID field as the reply and the corruption make it; *size gets P. */
static enum kms_host_error
build_epid(const struct kms_host_reply *reply, uint8_t field[HOST_OVERSIZE_EPID + 1],
           uint32_t *size)
{
	size_t units;

	memset(field, 0, HOST_OVERSIZE_EPID + 1);
	if (reply->epid == NULL ||
	    kms_utf8_to_utf16le(reply->epid, field, HOST_EPID_MAX_UNITS, &units) == -1)
		return KMS_HOST_ERR_ARGUMENT;
	/* An honest ePID is its units and the NUL, which memset provided. */
	*size = (uint32_t)(2 * units + 2);
	switch (reply->corrupt) {
	case KMS_HOST_CORRUPT_EPID_ODD:
		*size += 1;
		break;
	case KMS_HOST_CORRUPT_EPID_OVERSIZE:
		*size = HOST_OVERSIZE_EPID;
		break;
	case KMS_HOST_CORRUPT_EPID_NUL:
		if (units == 0)
			return KMS_HOST_ERR_ARGUMENT;
		*size -= 2;
		break;
	case KMS_HOST_CORRUPT_EPID_EMBEDDED_NUL:
		if (units < 2)
			return KMS_HOST_ERR_ARGUMENT;
		field[2 * (units / 2)] = field[2 * (units / 2) + 1] = 0;
		break;
	case KMS_HOST_CORRUPT_EPID_ENCODING:
		if (units == 0)
			return KMS_HOST_ERR_ARGUMENT;
		/* A high surrogate followed by the NUL stands alone. */
		field[2 * (units - 1)] = 0x00;
		field[2 * (units - 1) + 1] = 0xD8;
		break;
	default:
		break;
	}
	return KMS_HOST_OK;
}

static void
flip_bit(uint8_t *p)
{
	*p ^= 0x01;
}

enum kms_host_error
kms_host_build_response(const struct kms_host_request *req, const struct kms_host_reply *reply,
                        struct buf *out)
{
	uint8_t epid[HOST_OVERSIZE_EPID + 1], cmid[KMS_GUID_SIZE];
	uint32_t epid_size;
	uint32_t version;
	uint64_t time;
	struct buf plain;
	enum kms_host_error rc;
	enum kms_host_corruption c;

	if (req == NULL || reply == NULL || out == NULL || req->version < 4 || req->version > 6 ||
	    (req->version != 4 && !req->has_iv))
		return KMS_HOST_ERR_ARGUMENT;
	c = reply->corrupt;
	if (!kms_host_corruption_applies(c, req->version))
		return KMS_HOST_ERR_KNOB;
	if ((rc = build_epid(reply, epid, &epid_size)) != KMS_HOST_OK)
		return rc;

	/* The response echoes the request's version, minor included. */
	version = (uint32_t)req->version << 16 | (req->minor_version & 0xFFFF);
	uint32_t outer = version ^ (c == KMS_HOST_CORRUPT_VERSION ? 1u << 16 : 0);
	uint32_t inner = req->version == 4 ? outer : version;
	if (c == KMS_HOST_CORRUPT_INNER_VERSION)
		inner ^= 1u << 16;
	memcpy(cmid, req->cmid, sizeof(cmid));
	if (c == KMS_HOST_CORRUPT_CMID)
		flip_bit(&cmid[0]);
	time = req->request_time + (c == KMS_HOST_CORRUPT_TIME ? 1 : 0);

	if (req->version == 4) {
		uint8_t mac[KMSCRYPTO_MAC_SIZE];
		size_t start = out->len;
		buf_put_u32le(out, inner);
		buf_put_u32le(out, epid_size);
		buf_append(out, epid, epid_size);
		buf_append(out, cmid, sizeof(cmid));
		buf_put_u64le(out, time);
		buf_put_u32le(out, reply->count);
		buf_put_u32le(out, reply->activation_interval);
		buf_put_u32le(out, reply->renewal_interval);
		if (out->overflow)
			return KMS_HOST_ERR_NOSPACE;
		kmscrypto_v4_mac(out->data + start, out->len - start, mac);
		if (c == KMS_HOST_CORRUPT_MAC)
			flip_bit(&mac[0]);
		buf_append(out, mac, sizeof(mac));
		return out->overflow ? KMS_HOST_ERR_NOSPACE : KMS_HOST_OK;
	}

	struct rijndael_ctx ctx;
	uint8_t d[KMS_IV_SIZE], r0[KMS_IV_SIZE], front[KMS_IV_SIZE];
	uint8_t rxi[16], hash[KMSCRYPTO_SHA256_SIZE];
	static const uint8_t zero_iv[KMSCRYPTO_BLOCK_SIZE];

	(void)kmscrypto_cipher_init(&ctx, req->version);
	rijndael_decrypt_block(&ctx, req->iv, d);
	/* R0 = Dec(front) makes front the first block on the wire. */
	memcpy(front, req->version == 5 ? req->iv : reply->response_iv, sizeof(front));
	if (c == KMS_HOST_CORRUPT_IV)
		flip_bit(&front[0]);
	rijndael_decrypt_block(&ctx, front, r0);
	/* RandomXoredIVs: the client XORs D back out and hashes the salt. */
	for (size_t i = 0; i < sizeof(rxi); i++)
		rxi[i] = reply->salt[i] ^ d[i];
	kmscrypto_sha256(reply->salt, sizeof(reply->salt), hash);
	if (c == KMS_HOST_CORRUPT_SALT_HASH)
		flip_bit(&hash[0]);

	buf_init(&plain, HOST_PLAIN_MAX);
	buf_append(&plain, r0, sizeof(r0));
	buf_put_u32le(&plain, inner);
	buf_put_u32le(&plain, epid_size);
	buf_append(&plain, epid, epid_size);
	buf_append(&plain, cmid, sizeof(cmid));
	buf_put_u64le(&plain, time);
	buf_put_u32le(&plain, reply->count);
	buf_put_u32le(&plain, reply->activation_interval);
	buf_put_u32le(&plain, reply->renewal_interval);
	buf_append(&plain, rxi, sizeof(rxi));
	buf_append(&plain, hash, sizeof(hash));
	if (req->version == 6) {
		uint8_t xored[KMS_IV_SIZE], hmac[KMSCRYPTO_V6_HMAC_SIZE];
		memcpy(xored, d, sizeof(xored));
		if (c == KMS_HOST_CORRUPT_XORED_IVS)
			flip_bit(&xored[0]);
		buf_append(&plain, reply->hwid, KMS_HWID_SIZE);
		buf_append(&plain, xored, sizeof(xored));
		if (plain.overflow)
			goto nospace;
		/* Keyed by the time actually echoed, so a wrong echo fails only
		 * the time check. */
		kmscrypto_v6_hmac(time, plain.data, plain.len, hmac);
		if (c == KMS_HOST_CORRUPT_HMAC)
			flip_bit(&hmac[0]);
		buf_append(&plain, hmac, sizeof(hmac));
	}
	size_t pad = kmscrypto_pkcs7_padded_size(plain.len) - plain.len;
	for (size_t i = 0; i < pad; i++)
		buf_put_u8(&plain, (uint8_t)pad);
	if (plain.overflow)
		goto nospace;
	if (c == KMS_HOST_CORRUPT_PADDING) {
		/* Unequal pad bytes; a single pad byte can only be out of range. */
		if (pad >= 2)
			flip_bit(&plain.data[plain.len - pad]);
		else
			plain.data[plain.len - 1] = KMSCRYPTO_BLOCK_SIZE + 1;
	} else if (c == KMS_HOST_CORRUPT_PADDING_ZERO) {
		plain.data[plain.len - 1] = 0;
	} else if (c == KMS_HOST_CORRUPT_PADDING_SHORT) {
		/* One pad byte of value 1 is valid PKCS#7 on its own, but not the
		 * padding the ePID size implies. With a single pad byte, 2 can
		 * only be well-formed if the HMAC ends in 2 as well. */
		plain.data[plain.len - 1] = pad >= 2 ? 1 : 2;
	}
	(void)kmscrypto_cbc_encrypt(&ctx, zero_iv, plain.data, plain.len, plain.data);

	buf_put_u32le(out, outer);
	buf_append(out, plain.data, plain.len);
	buf_free(&plain);
	return out->overflow ? KMS_HOST_ERR_NOSPACE : KMS_HOST_OK;

nospace:
	buf_free(&plain);
	return KMS_HOST_ERR_NOSPACE;
}
