/*
 * KMS protocol cryptography; see kmscrypto.h. This is the only file that
 * includes nettle.
 */
#include <string.h>

#include <nettle/hmac.h>
#include <nettle/sha2.h>

#include "kmswatch/kmscrypto.h"

/* Protocol keys and constants (KMS-PROTOCOL.md section 5). They are public
 * facts of the protocol, not secrets. */
static const uint8_t kms_key_v4[20] = {
    0x05, 0x3D, 0x83, 0x07, 0xF9, 0xE5, 0xF0, 0x88, 0xEB, 0x5E,
    0xA6, 0x68, 0x6C, 0xF0, 0x37, 0xC7, 0xE4, 0xEF, 0xD2, 0xD6,
};
static const uint8_t kms_key_v5[16] = {
    0xCD, 0x7E, 0x79, 0x6F, 0x2A, 0xB2, 0x5D, 0xCB, 0x55, 0xFF, 0xC8, 0xEF, 0x83, 0x64, 0xC4, 0x70,
};
static const uint8_t kms_key_v6[16] = {
    0xA9, 0x4A, 0x41, 0x95, 0xE2, 0x01, 0x43, 0x2D, 0x9B, 0xCB, 0x46, 0x04, 0x05, 0xD8, 0x4A, 0x21,
};
static const uint64_t kms_slot_c1 = UINT64_C(0x00000022816889BD);
static const uint64_t kms_slot_c2 = UINT64_C(0x000000208CBAB5ED);
static const uint64_t kms_slot_c3 = UINT64_C(0x3156CD5AC628477A);

int
kmscrypto_cipher_init(struct rijndael_ctx *ctx, unsigned version)
{
	switch (version) {
	case 4:
		rijndael_init_160(ctx, kms_key_v4);
		return 0;
	case 5:
		rijndael_init_aes128(ctx, kms_key_v5);
		return 0;
	case 6:
		rijndael_init_v6(ctx, kms_key_v6);
		return 0;
	default:
		return -1;
	}
}

int
kmscrypto_cbc_encrypt(const struct rijndael_ctx *ctx, const uint8_t iv[KMSCRYPTO_BLOCK_SIZE],
                      const uint8_t *in, size_t len, uint8_t *out)
{
	uint8_t chain[KMSCRYPTO_BLOCK_SIZE];

	if (len % KMSCRYPTO_BLOCK_SIZE != 0)
		return -1;
	memcpy(chain, iv, sizeof(chain));
	for (size_t off = 0; off < len; off += KMSCRYPTO_BLOCK_SIZE) {
		for (size_t i = 0; i < KMSCRYPTO_BLOCK_SIZE; i++)
			chain[i] ^= in[off + i];
		rijndael_encrypt_block(ctx, chain, chain);
		memcpy(out + off, chain, sizeof(chain));
	}
	return 0;
}

int
kmscrypto_cbc_decrypt(const struct rijndael_ctx *ctx, const uint8_t iv[KMSCRYPTO_BLOCK_SIZE],
                      const uint8_t *in, size_t len, uint8_t *out)
{
	uint8_t chain[KMSCRYPTO_BLOCK_SIZE], cipher[KMSCRYPTO_BLOCK_SIZE];
	uint8_t plain[KMSCRYPTO_BLOCK_SIZE];

	if (len % KMSCRYPTO_BLOCK_SIZE != 0)
		return -1;
	memcpy(chain, iv, sizeof(chain));
	for (size_t off = 0; off < len; off += KMSCRYPTO_BLOCK_SIZE) {
		/* Keep the ciphertext block before writing: out may equal in. */
		memcpy(cipher, in + off, sizeof(cipher));
		rijndael_decrypt_block(ctx, cipher, plain);
		for (size_t i = 0; i < KMSCRYPTO_BLOCK_SIZE; i++)
			out[off + i] = plain[i] ^ chain[i];
		memcpy(chain, cipher, sizeof(chain));
	}
	return 0;
}

size_t
kmscrypto_pkcs7_padded_size(size_t len)
{
	return len + (KMSCRYPTO_BLOCK_SIZE - len % KMSCRYPTO_BLOCK_SIZE);
}

int
kmscrypto_pkcs7_pad(uint8_t *buf, size_t len, size_t cap, size_t *padded_len)
{
	size_t pad = KMSCRYPTO_BLOCK_SIZE - len % KMSCRYPTO_BLOCK_SIZE;

	if (len > cap || pad > cap - len)
		return -1;
	memset(buf + len, (int)pad, pad);
	*padded_len = len + pad;
	return 0;
}

int
kmscrypto_pkcs7_unpad(const uint8_t *buf, size_t len, size_t *unpadded_len)
{
	if (len == 0 || len % KMSCRYPTO_BLOCK_SIZE != 0)
		return -1;
	uint8_t pad = buf[len - 1];
	if (pad < 1 || pad > KMSCRYPTO_BLOCK_SIZE)
		return -1;
	for (size_t i = len - pad; i < len; i++)
		if (buf[i] != pad)
			return -1;
	*unpadded_len = len - pad;
	return 0;
}

void
kmscrypto_cbc_mac(const struct rijndael_ctx *ctx, const uint8_t *data, size_t len,
                  uint8_t mac[KMSCRYPTO_MAC_SIZE])
{
	uint8_t state[KMSCRYPTO_BLOCK_SIZE] = {0};
	size_t off = 0;

	for (; len - off >= KMSCRYPTO_BLOCK_SIZE; off += KMSCRYPTO_BLOCK_SIZE) {
		for (size_t i = 0; i < KMSCRYPTO_BLOCK_SIZE; i++)
			state[i] ^= data[off + i];
		rijndael_encrypt_block(ctx, state, state);
	}
	/* The last block holds the 0..15 remaining bytes, the 0x80 marker and
	 * zeros; with no bytes remaining it is a whole block of padding. */
	size_t rest = len - off;
	for (size_t i = 0; i < rest; i++)
		state[i] ^= data[off + i];
	state[rest] ^= 0x80;
	rijndael_encrypt_block(ctx, state, state);
	memcpy(mac, state, KMSCRYPTO_MAC_SIZE);
}

void
kmscrypto_v4_mac(const uint8_t *data, size_t len, uint8_t mac[KMSCRYPTO_MAC_SIZE])
{
	struct rijndael_ctx ctx;

	(void)kmscrypto_cipher_init(&ctx, 4);
	kmscrypto_cbc_mac(&ctx, data, len, mac);
}

void
kmscrypto_sha256(const uint8_t *data, size_t len, uint8_t digest[KMSCRYPTO_SHA256_SIZE])
{
	struct sha256_ctx ctx;

	sha256_init(&ctx);
	sha256_update(&ctx, len, data);
	sha256_digest(&ctx, SHA256_DIGEST_SIZE, digest);
}

void
kmscrypto_hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *data, size_t len,
                      uint8_t digest[KMSCRYPTO_SHA256_SIZE])
{
	struct hmac_sha256_ctx ctx;

	hmac_sha256_set_key(&ctx, key_len, key);
	hmac_sha256_update(&ctx, len, data);
	hmac_sha256_digest(&ctx, SHA256_DIGEST_SIZE, digest);
}

void
kmscrypto_v6_hmac_key(uint64_t request_time, uint8_t key[KMSCRYPTO_HMAC_KEY_SIZE])
{
	/* Unsigned arithmetic wraps modulo 2^64, as the protocol requires. */
	uint64_t slot = (request_time / kms_slot_c1) * kms_slot_c2 + kms_slot_c3;
	uint8_t le[8], digest[KMSCRYPTO_SHA256_SIZE];

	for (unsigned i = 0; i < 8; i++)
		le[i] = (uint8_t)(slot >> (8 * i));
	kmscrypto_sha256(le, sizeof(le), digest);
	memcpy(key, digest + KMSCRYPTO_SHA256_SIZE - KMSCRYPTO_HMAC_KEY_SIZE,
	       KMSCRYPTO_HMAC_KEY_SIZE);
}

void
kmscrypto_v6_hmac(uint64_t request_time, const uint8_t *data, size_t len,
                  uint8_t mac[KMSCRYPTO_V6_HMAC_SIZE])
{
	uint8_t key[KMSCRYPTO_HMAC_KEY_SIZE], digest[KMSCRYPTO_SHA256_SIZE];

	kmscrypto_v6_hmac_key(request_time, key);
	kmscrypto_hmac_sha256(key, sizeof(key), data, len, digest);
	memcpy(mac, digest + KMSCRYPTO_SHA256_SIZE - KMSCRYPTO_V6_HMAC_SIZE,
	       KMSCRYPTO_V6_HMAC_SIZE);
}
