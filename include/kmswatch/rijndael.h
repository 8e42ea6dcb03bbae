/*
 * A small Rijndael block cipher core with a 128-bit block. Besides standard
 * AES it offers the two variants the KMS protocol needs and no library has:
 * the 160-bit key (Nk = 5, 11 rounds) of the v4 CBC-MAC, and the AES-128
 * whose expanded schedule is altered after expansion (v6).
 *
 * The keys this core serves are public protocol constants, so it is written
 * for clarity rather than for resistance to timing side channels.
 */
#ifndef KMSWATCH_RIJNDAEL_H
#define KMSWATCH_RIJNDAEL_H

#include <stddef.h>
#include <stdint.h>

#define RIJNDAEL_BLOCK_SIZE 16
#define RIJNDAEL_MAX_ROUNDS 14
/* Bytes in the largest expanded schedule: (rounds + 1) round keys of 16 bytes. */
#define RIJNDAEL_MAX_SCHEDULE ((RIJNDAEL_MAX_ROUNDS + 1) * RIJNDAEL_BLOCK_SIZE)

/* An expanded key. The schedule is kept as bytes in standard order (word i at
 * bytes 4i..4i+3, most significant byte first) so that the v6 alteration and
 * the FIPS-197 key expansion vectors address the same bytes. */
struct rijndael_ctx {
	uint8_t schedule[RIJNDAEL_MAX_SCHEDULE];
	unsigned rounds;
};

/* rijndael.c */
/* Expands a 16, 20, 24, 28 or 32 byte key (Nk = 4..8, Nr = Nk + 6) with the
 * ordinary Rijndael expansion. Returns 0, or -1 for any other key length. */
int rijndael_init(struct rijndael_ctx *ctx, const uint8_t *key, size_t key_len);
/* Standard AES-128. */
void rijndael_init_aes128(struct rijndael_ctx *ctx, const uint8_t key[16]);
/* AES-128 with the KMS v6 alteration of the expanded schedule. */
void rijndael_init_v6(struct rijndael_ctx *ctx, const uint8_t key[16]);
/* The 160-bit key variant of the KMS v4 MAC. */
void rijndael_init_160(struct rijndael_ctx *ctx, const uint8_t key[20]);
/* Bytes of the expanded schedule in use: 16 * (rounds + 1). */
size_t rijndael_schedule_size(const struct rijndael_ctx *ctx);
/* One block; in and out may be the same buffer. */
void rijndael_encrypt_block(const struct rijndael_ctx *ctx, const uint8_t in[RIJNDAEL_BLOCK_SIZE],
                            uint8_t out[RIJNDAEL_BLOCK_SIZE]);
/* The straightforward inverse cipher, round keys in reverse order. */
void rijndael_decrypt_block(const struct rijndael_ctx *ctx, const uint8_t in[RIJNDAEL_BLOCK_SIZE],
                            uint8_t out[RIJNDAEL_BLOCK_SIZE]);

#endif
