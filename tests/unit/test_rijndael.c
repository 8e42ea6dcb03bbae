/*
 * The Rijndael core against FIPS-197 (appendices A.1, B and C), its KMS
 * variants by round trip and by the properties the protocol states, and the
 * kmscrypto layer (CBC, PKCS#7, CBC-MAC, SHA-256, HMAC-SHA256 and the v6 key)
 * against published vectors and the captured v4 MAC.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "kmswatch/kmscrypto.h"
#include "kmswatch/rijndael.h"

static void
hex_to_bytes(const char *hex, uint8_t *out, size_t n)
{
	cr_assert_eq(strlen(hex), 2 * n, "test vector of the wrong length");
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		cr_assert_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

/* FIPS-197 appendix C: plaintext 00112233...eeff, key 000102...; one
 * ciphertext per key size. */
static void
check_appendix_c(size_t key_len, const char *cipher_hex)
{
	struct rijndael_ctx ctx;
	uint8_t key[32], pt[16], ct[16], expect[16], back[16];

	for (size_t i = 0; i < key_len; i++)
		key[i] = (uint8_t)i;
	hex_to_bytes("00112233445566778899aabbccddeeff", pt, 16);
	hex_to_bytes(cipher_hex, expect, 16);
	cr_assert_eq(rijndael_init(&ctx, key, key_len), 0);
	cr_assert_eq(ctx.rounds, key_len / 4 + 6);
	rijndael_encrypt_block(&ctx, pt, ct);
	cr_assert_arr_eq(ct, expect, 16, "encrypt, %zu-byte key", key_len);
	rijndael_decrypt_block(&ctx, ct, back);
	cr_assert_arr_eq(back, pt, 16, "decrypt, %zu-byte key", key_len);
}

Test(rijndael, fips197_c1_aes128)
{
	check_appendix_c(16, "69c4e0d86a7b0430d8cdb78070b4c55a");

	/* The same through the AES-128 entry point, decrypting in place. */
	struct rijndael_ctx ctx;
	uint8_t key[16], block[16], expect[16];
	for (size_t i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	rijndael_init_aes128(&ctx, key);
	hex_to_bytes("69c4e0d86a7b0430d8cdb78070b4c55a", block, 16);
	rijndael_decrypt_block(&ctx, block, block);
	hex_to_bytes("00112233445566778899aabbccddeeff", expect, 16);
	cr_assert_arr_eq(block, expect, 16);
}

Test(rijndael, fips197_c2_c3_aes192_aes256)
{
	check_appendix_c(24, "dda97ca4864cdfe06eaf70a0ec0d7191");
	check_appendix_c(32, "8ea2b7ca516745bfeafc49904b496089");
}

Test(rijndael, fips197_appendix_b)
{
	struct rijndael_ctx ctx;
	uint8_t key[16], pt[16], ct[16], expect[16];

	hex_to_bytes("2b7e151628aed2a6abf7158809cf4f3c", key, 16);
	hex_to_bytes("3243f6a8885a308d313198a2e0370734", pt, 16);
	hex_to_bytes("3925841d02dc09fbdc118597196a0b32", expect, 16);
	rijndael_init_aes128(&ctx, key);
	rijndael_encrypt_block(&ctx, pt, ct);
	cr_assert_arr_eq(ct, expect, 16);
}

Test(rijndael, fips197_a1_key_expansion)
{
	/* w[0] .. w[43] for key 2b7e1516 28aed2a6 abf71588 09cf4f3c. */
	static const char *words[44] = {
	    "2b7e1516", "28aed2a6", "abf71588", "09cf4f3c", "a0fafe17", "88542cb1", "23a33939",
	    "2a6c7605", "f2c295f2", "7a96b943", "5935807a", "7359f67f", "3d80477d", "4716fe3e",
	    "1e237e44", "6d7a883b", "ef44a541", "a8525b7f", "b671253b", "db0bad00", "d4d1c6f8",
	    "7c839d87", "caf2b8bc", "11f915bc", "6d88a37a", "110b3efd", "dbf98641", "ca0093fd",
	    "4e54f70e", "5f5fc9f3", "84a64fb2", "4ea6dc4f", "ead27321", "b58dbad2", "312bf560",
	    "7f8d292f", "ac7766f3", "19fadc21", "28d12941", "575c006e", "d014f9a8", "c9ee2589",
	    "e13f0cc8", "b6630ca6",
	};
	struct rijndael_ctx ctx;
	uint8_t key[16];

	hex_to_bytes("2b7e151628aed2a6abf7158809cf4f3c", key, 16);
	rijndael_init_aes128(&ctx, key);
	cr_assert_eq(ctx.rounds, 10);
	cr_assert_eq(rijndael_schedule_size(&ctx), 176);
	for (size_t i = 0; i < 44; i++) {
		uint8_t w[4];
		hex_to_bytes(words[i], w, 4);
		cr_assert_arr_eq(&ctx.schedule[4 * i], w, 4, "w[%zu]", i);
	}
}

Test(rijndael, rejects_bad_key_lengths)
{
	struct rijndael_ctx ctx;
	uint8_t key[40] = {0};

	cr_assert_eq(rijndael_init(&ctx, key, 0), -1);
	cr_assert_eq(rijndael_init(&ctx, key, 15), -1);
	cr_assert_eq(rijndael_init(&ctx, key, 17), -1);
	cr_assert_eq(rijndael_init(&ctx, key, 36), -1);
	cr_assert_eq(rijndael_init(&ctx, key, 20), 0);
	cr_assert_eq(rijndael_init(&ctx, key, 28), 0);
}

/* A deterministic byte stream for round trips. */
static uint8_t
next_byte(uint32_t *state)
{
	*state = *state * 1103515245u + 12345u;
	return (uint8_t)(*state >> 16);
}

static void
check_round_trips(const struct rijndael_ctx *ctx)
{
	uint32_t seed = 0x4b4d5321;
	for (int n = 0; n < 256; n++) {
		uint8_t pt[16], ct[16], back[16];
		for (size_t i = 0; i < 16; i++)
			pt[i] = next_byte(&seed);
		rijndael_encrypt_block(ctx, pt, ct);
		cr_assert(memcmp(ct, pt, 16) != 0);
		rijndael_decrypt_block(ctx, ct, back);
		cr_assert_arr_eq(back, pt, 16, "round trip %d", n);
	}
}

Test(rijndael, v6_schedule_differs_in_three_bytes)
{
	static const uint8_t key[16] = {0xA9, 0x4A, 0x41, 0x95, 0xE2, 0x01, 0x43, 0x2D,
	                                0x9B, 0xCB, 0x46, 0x04, 0x05, 0xD8, 0x4A, 0x21};
	struct rijndael_ctx aes, v6;

	rijndael_init_aes128(&aes, key);
	rijndael_init_v6(&v6, key);
	cr_assert_eq(v6.rounds, 10);
	for (size_t i = 0; i < 176; i++) {
		uint8_t diff = aes.schedule[i] ^ v6.schedule[i];
		uint8_t want = i == 64 ? 0x73 : i == 96 ? 0x09 : i == 128 ? 0xE4 : 0x00;
		cr_assert_eq(diff, want, "schedule byte %zu", i);
	}
	check_round_trips(&v6);

	/* The alteration must change the cipher, not just the schedule. */
	uint8_t pt[16] = {0}, a[16], b[16];
	rijndael_encrypt_block(&aes, pt, a);
	rijndael_encrypt_block(&v6, pt, b);
	cr_assert(memcmp(a, b, 16) != 0);
}

Test(rijndael, key160_variant)
{
	static const uint8_t key[20] = {0x05, 0x3D, 0x83, 0x07, 0xF9, 0xE5, 0xF0, 0x88, 0xEB, 0x5E,
	                                0xA6, 0x68, 0x6C, 0xF0, 0x37, 0xC7, 0xE4, 0xEF, 0xD2, 0xD6};
	struct rijndael_ctx ctx, generic;

	rijndael_init_160(&ctx, key);
	cr_assert_eq(ctx.rounds, 11);
	cr_assert_eq(rijndael_schedule_size(&ctx), 48 * 4);
	cr_assert_arr_eq(ctx.schedule, key, 20);
	/* Word 5 starts the expansion: w[5] = w[0] ^ SubWord(RotWord(w[4])) ^ 01. */
	static const uint8_t sub[4] = {0xDF, 0xB5, 0xF6, 0x69}; /* S(ef) S(d2) S(d6) S(e4) */
	for (size_t j = 0; j < 4; j++) {
		uint8_t want = (uint8_t)(key[j] ^ sub[j] ^ (j == 0 ? 0x01 : 0x00));
		cr_assert_eq(ctx.schedule[20 + j], want, "w[5] byte %zu", j);
	}
	cr_assert_eq(rijndael_init(&generic, key, 20), 0);
	cr_assert_arr_eq(generic.schedule, ctx.schedule, sizeof(ctx.schedule));
	check_round_trips(&ctx);
}

Test(kmscrypto, cipher_init_versions)
{
	struct rijndael_ctx ctx;

	cr_assert_eq(kmscrypto_cipher_init(&ctx, 4), 0);
	cr_assert_eq(ctx.rounds, 11);
	cr_assert_eq(kmscrypto_cipher_init(&ctx, 5), 0);
	cr_assert_eq(ctx.rounds, 10);
	cr_assert_eq(kmscrypto_cipher_init(&ctx, 6), 0);
	cr_assert_eq(ctx.rounds, 10);
	cr_assert_eq(kmscrypto_cipher_init(&ctx, 3), -1);
	cr_assert_eq(kmscrypto_cipher_init(&ctx, 7), -1);
}

Test(kmscrypto, cbc_sp800_38a)
{
	/* NIST SP 800-38A F.2.1, CBC-AES128.Encrypt, first two blocks. */
	struct rijndael_ctx ctx;
	uint8_t key[16], iv[16], pt[32], ct[32], expect[32], buf[32];

	hex_to_bytes("2b7e151628aed2a6abf7158809cf4f3c", key, 16);
	hex_to_bytes("000102030405060708090a0b0c0d0e0f", iv, 16);
	hex_to_bytes("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51", pt, 32);
	hex_to_bytes("7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2", expect,
	             32);
	rijndael_init_aes128(&ctx, key);
	cr_assert_eq(kmscrypto_cbc_encrypt(&ctx, iv, pt, 32, ct), 0);
	cr_assert_arr_eq(ct, expect, 32);
	cr_assert_eq(kmscrypto_cbc_decrypt(&ctx, iv, ct, 32, buf), 0);
	cr_assert_arr_eq(buf, pt, 32);
	/* In place, both ways. */
	memcpy(buf, pt, 32);
	cr_assert_eq(kmscrypto_cbc_encrypt(&ctx, iv, buf, 32, buf), 0);
	cr_assert_arr_eq(buf, expect, 32);
	cr_assert_eq(kmscrypto_cbc_decrypt(&ctx, iv, buf, 32, buf), 0);
	cr_assert_arr_eq(buf, pt, 32);
	cr_assert_eq(kmscrypto_cbc_encrypt(&ctx, iv, pt, 31, ct), -1);
	cr_assert_eq(kmscrypto_cbc_decrypt(&ctx, iv, pt, 17, ct), -1);
}

Test(kmscrypto, pkcs7)
{
	uint8_t buf[48];
	size_t n;

	cr_assert_eq(kmscrypto_pkcs7_padded_size(0), 16);
	cr_assert_eq(kmscrypto_pkcs7_padded_size(15), 16);
	cr_assert_eq(kmscrypto_pkcs7_padded_size(16), 32);
	cr_assert_eq(kmscrypto_pkcs7_padded_size(236), 240);

	memset(buf, 0xAA, sizeof(buf));
	cr_assert_eq(kmscrypto_pkcs7_pad(buf, 13, sizeof(buf), &n), 0);
	cr_assert_eq(n, 16);
	cr_assert(buf[13] == 3 && buf[14] == 3 && buf[15] == 3);
	cr_assert_eq(kmscrypto_pkcs7_unpad(buf, n, &n), 0);
	cr_assert_eq(n, 13);

	cr_assert_eq(kmscrypto_pkcs7_pad(buf, 16, sizeof(buf), &n), 0);
	cr_assert_eq(n, 32);
	for (size_t i = 16; i < 32; i++)
		cr_assert_eq(buf[i], 16);
	cr_assert_eq(kmscrypto_pkcs7_unpad(buf, 32, &n), 0);
	cr_assert_eq(n, 16);
	cr_assert_eq(kmscrypto_pkcs7_pad(buf, 40, 47, &n), -1);
	cr_assert_eq(kmscrypto_pkcs7_pad(buf, 48, 40, &n), -1);

	/* Pad bytes outside 1..16 or unequal are refused. */
	memset(buf, 0, 16);
	cr_assert_eq(kmscrypto_pkcs7_unpad(buf, 16, &n), -1);
	buf[15] = 17;
	cr_assert_eq(kmscrypto_pkcs7_unpad(buf, 16, &n), -1);
	memset(buf, 4, 16);
	buf[12] = 5;
	cr_assert_eq(kmscrypto_pkcs7_unpad(buf, 16, &n), -1);
	buf[12] = 4;
	cr_assert_eq(kmscrypto_pkcs7_unpad(buf, 16, &n), 0);
	cr_assert_eq(n, 12);
	cr_assert_eq(kmscrypto_pkcs7_unpad(buf, 0, &n), -1);
	cr_assert_eq(kmscrypto_pkcs7_unpad(buf, 15, &n), -1);
}

Test(kmscrypto, cbc_mac_padding_rule)
{
	/* The MAC equals the last CBC block of the explicitly padded message. */
	struct rijndael_ctx ctx;
	uint8_t msg[48], padded[64], ct[64], mac[16];
	static const uint8_t zero[16];

	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 7 + 1);
	(void)kmscrypto_cipher_init(&ctx, 4);
	for (size_t len = 0; len <= sizeof(msg); len++) {
		size_t total = (len / 16 + 1) * 16;
		memset(padded, 0, sizeof(padded));
		memcpy(padded, msg, len);
		padded[len] = 0x80;
		kmscrypto_cbc_encrypt(&ctx, zero, padded, total, ct);
		kmscrypto_cbc_mac(&ctx, msg, len, mac);
		cr_assert_arr_eq(mac, ct + total - 16, 16, "length %zu", len);
		kmscrypto_v4_mac(msg, len, mac);
		cr_assert_arr_eq(mac, ct + total - 16, 16, "v4, length %zu", len);
	}
}

Test(kmscrypto, sha256_and_hmac)
{
	uint8_t d[32], expect[32], key[20];

	kmscrypto_sha256((const uint8_t *)"abc", 3, d);
	hex_to_bytes("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", expect,
	             32);
	cr_assert_arr_eq(d, expect, 32);

	/* RFC 4231 test cases 1 and 2. */
	memset(key, 0x0b, sizeof(key));
	kmscrypto_hmac_sha256(key, sizeof(key), (const uint8_t *)"Hi There", 8, d);
	hex_to_bytes("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", expect,
	             32);
	cr_assert_arr_eq(d, expect, 32);
	kmscrypto_hmac_sha256((const uint8_t *)"Jefe", 4,
	                      (const uint8_t *)"what do ya want for nothing?", 28, d);
	hex_to_bytes("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", expect,
	             32);
	cr_assert_arr_eq(d, expect, 32);
}

Test(kmscrypto, v6_hmac_key_derivation)
{
	/* Recompute the rule by hand for a captured time and for a time whose
	 * slot arithmetic wraps past 2^64. */
	static const uint64_t times[] = {UINT64_C(134397337530000000), UINT64_MAX, 0};
	for (size_t k = 0; k < sizeof(times) / sizeof(times[0]); k++) {
		uint64_t slot =
		    (times[k] / UINT64_C(0x00000022816889BD)) * UINT64_C(0x000000208CBAB5ED) +
		    UINT64_C(0x3156CD5AC628477A);
		uint8_t le[8], digest[32], key[16];
		for (size_t i = 0; i < 8; i++)
			le[i] = (uint8_t)(slot >> (8 * i));
		kmscrypto_sha256(le, 8, digest);
		kmscrypto_v6_hmac_key(times[k], key);
		cr_assert_arr_eq(key, digest + 16, 16, "time %zu", k);

		uint8_t full[32], mac[16];
		kmscrypto_hmac_sha256(key, 16, (const uint8_t *)"kms", 3, full);
		kmscrypto_v6_hmac(times[k], (const uint8_t *)"kms", 3, mac);
		cr_assert_arr_eq(mac, full + 16, 16);
	}
	/* Times in the same slot share a key; the next slot differs. */
	uint8_t a[16], b[16];
	uint64_t base = UINT64_C(0x00000022816889BD) * 1000;
	kmscrypto_v6_hmac_key(base, a);
	kmscrypto_v6_hmac_key(base + UINT64_C(0x00000022816889BD) - 1, b);
	cr_assert_arr_eq(a, b, 16);
	kmscrypto_v6_hmac_key(base + UINT64_C(0x00000022816889BD), b);
	cr_assert(memcmp(a, b, 16) != 0);
}

Test(kmscrypto, v4_mac_of_captured_response)
{
	/* The base of the response in tests/data/kms/v4.frames.json and the
	 * MAC the independent host appended: a known answer for the 160-bit
	 * key variant and the CBC-MAC padding of an aligned message. */
	static const char base_hex[] =
	    "0000040064000000300033003600310032002d00300030003200300036002d0035003500"
	    "39002d003700300039003300370030002d00300033002d0031003100300033002d003100"
	    "34003300390033002e0030003000300030002d0031003900310032003000320030000000"
	    "11111111222233334444555555555554004ca399aa79dd01010000007800000060270000";
	uint8_t base[144], expect[16], mac[16];

	hex_to_bytes(base_hex, base, sizeof(base));
	hex_to_bytes("3eff90d2c912a3608720254bd1bc928f", expect, 16);
	kmscrypto_v4_mac(base, sizeof(base), mac);
	cr_assert_arr_eq(mac, expect, 16);
	base[0] ^= 1;
	kmscrypto_v4_mac(base, sizeof(base), mac);
	cr_assert(memcmp(mac, expect, 16) != 0);
}
