/*
 * The cryptography of the KMS protocol (KMS-PROTOCOL.md section 5): the cipher
 * of each protocol version with its constant key, CBC, PKCS#7, the v4 CBC-MAC,
 * SHA-256 and HMAC-SHA256 (from nettle) and the v6 HMAC key derivation. Pure
 * functions over caller-supplied memory; nothing here allocates.
 */
#ifndef KMSWATCH_KMSCRYPTO_H
#define KMSWATCH_KMSCRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "kmswatch/rijndael.h"

#define KMSCRYPTO_BLOCK_SIZE    RIJNDAEL_BLOCK_SIZE
#define KMSCRYPTO_MAC_SIZE      16
#define KMSCRYPTO_SHA256_SIZE   32
#define KMSCRYPTO_HMAC_KEY_SIZE 16
/* The v6 response carries the last 16 bytes of the HMAC-SHA256. */
#define KMSCRYPTO_V6_HMAC_SIZE 16

/* kmscrypto.c */
/* Sets ctx up as the cipher of protocol version 4 (160-bit key), 5 (AES-128)
 * or 6 (altered AES-128), each with its protocol key. Returns 0, or -1 for any
 * other version. */
int kmscrypto_cipher_init(struct rijndael_ctx *ctx, unsigned version);
/* CBC over len bytes, a multiple of the block size; out may equal in. Returns
 * 0, or -1 when len is not a multiple of the block size. */
int kmscrypto_cbc_encrypt(const struct rijndael_ctx *ctx, const uint8_t iv[KMSCRYPTO_BLOCK_SIZE],
                          const uint8_t *in, size_t len, uint8_t *out);
int kmscrypto_cbc_decrypt(const struct rijndael_ctx *ctx, const uint8_t iv[KMSCRYPTO_BLOCK_SIZE],
                          const uint8_t *in, size_t len, uint8_t *out);
/* The size of len bytes after PKCS#7 padding: always 1..16 bytes more. */
size_t kmscrypto_pkcs7_padded_size(size_t len);
/* Pads the len bytes at the start of buf (capacity cap) in place and stores
 * the padded size. Returns 0, or -1 when cap is too small. */
int kmscrypto_pkcs7_pad(uint8_t *buf, size_t len, size_t cap, size_t *padded_len);
/* Checks the PKCS#7 padding of len bytes (a non-zero multiple of the block
 * size) and stores the unpadded size. Returns 0, or -1 when the last byte is
 * outside 1..16 or the padding bytes are not all equal to it. */
int kmscrypto_pkcs7_unpad(const uint8_t *buf, size_t len, size_t *unpadded_len);
/* Plain CBC-MAC: data, then 0x80, then zeros to a multiple of the block size
 * (a whole extra block when already aligned), from a zero state. */
void kmscrypto_cbc_mac(const struct rijndael_ctx *ctx, const uint8_t *data, size_t len,
                       uint8_t mac[KMSCRYPTO_MAC_SIZE]);
/* The CBC-MAC of protocol version 4, with the 160-bit protocol key. */
void kmscrypto_v4_mac(const uint8_t *data, size_t len, uint8_t mac[KMSCRYPTO_MAC_SIZE]);
void kmscrypto_sha256(const uint8_t *data, size_t len, uint8_t digest[KMSCRYPTO_SHA256_SIZE]);
void kmscrypto_hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *data, size_t len,
                           uint8_t digest[KMSCRYPTO_SHA256_SIZE]);
/* The v6 HMAC key for a request time (FILETIME ticks): the last 16 bytes of
 * SHA-256 over the little-endian time slot (t / C1) * C2 + C3 mod 2^64. */
void kmscrypto_v6_hmac_key(uint64_t request_time, uint8_t key[KMSCRYPTO_HMAC_KEY_SIZE]);
/* The v6 response HMAC field: the last 16 bytes of HMAC-SHA256 over data with
 * the key of request_time. */
void kmscrypto_v6_hmac(uint64_t request_time, const uint8_t *data, size_t len,
                       uint8_t mac[KMSCRYPTO_V6_HMAC_SIZE]);

#endif
