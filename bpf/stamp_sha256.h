/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * stamp_sha256.h: the SHA-256 compression function (FIPS 180-4 section
 * 6.2.2) and the one HMAC STAMP needs, HMAC-SHA-256 over exactly 96 octets
 * truncated to 16 (RFC 8762 section 4.4), finished from precomputed key
 * midstates.
 *
 * The same code is compiled into the BPF programs (which verify and sign
 * authenticated packets) and into the C++ side (which computes the midstates
 * and checks the BPF results), so the unit tests exercise the very lines the
 * kernel runs.
 *
 * HMAC(K, m) = H((K ^ opad) || H((K ^ ipad) || m)). K ^ ipad and K ^ opad are
 * one 64-octet block each, so their compressions depend on the key alone:
 * stampd computes them once (struct stamp_hmac_key) and the data path
 * finishes each HMAC in three compressions: the two blocks of the 96-octet
 * message (the second padded), then the outer block (the inner digest,
 * padded).
 *
 * Words are host order here; the caller converts the wire's big-endian
 * octets.
 */
#ifndef STAMP_SHA256_H
#define STAMP_SHA256_H

#include <linux/types.h>

#ifdef __cplusplus
#define STAMP_SHA_FN static inline
#define STAMP_SHA_BLOCK_FN static inline
#else
#define STAMP_SHA_FN static __attribute__((always_inline)) inline
/* One BPF subprogram, called three times per HMAC: its rounds stay a loop
 * (unrolled, the 64 rounds spill past the 512-octet stack). */
#define STAMP_SHA_BLOCK_FN static __attribute__((noinline))
#endif

/* Midstates of one key: SHA-256 state after compressing K ^ ipad (inner)
 * and K ^ opad (outer). Map value of STAMP_MAP_KEYS and STAMP_MAP_SEND_KEYS. */
struct stamp_hmac_key {
  __u32 inner[8];
  __u32 outer[8];
};

#define STAMP_SHA_ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

/* One compression: st = st + F(st, w). w is the 16-word block and doubles as
 * the rolling message schedule, so it is clobbered.
 *
 * BPF has no rotate instruction: a 32-bit value copied into both halves of a
 * 64-bit register rotates with one shift (ROTR(x, n) is the low half of
 * (x:x) >> n), so each Sigma is two shifts of setup and three shifts, where
 * three (shift, shift, or) triples would be nine. With Ch and Maj in their
 * shorter forms this is about a quarter faster per compression under
 * BPF_PROG_TEST_RUN. */
STAMP_SHA_BLOCK_FN void stamp_sha256_block(__u32 st[8], __u32 w[16])
{
  static const __u32 k[64] = {
      0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
      0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
      0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
      0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
      0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
      0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
      0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
      0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
      0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
      0xc67178f2};
  __u32 a = st[0], b = st[1], c = st[2], d = st[3], e = st[4], f = st[5], g = st[6], h = st[7];
#ifndef __cplusplus
#pragma clang loop unroll(disable)
#endif
  for (int t = 0; t < 64; t++) {
    __u32 wt;
    if (t < 16) {
      wt = w[t];
    } else {
      __u32 w15 = w[(t - 15) & 15], w2 = w[(t - 2) & 15];
      __u64 y15 = ((__u64)w15 << 32) | w15, y2 = ((__u64)w2 << 32) | w2;
      __u32 s0 = (__u32)((y15 >> 7) ^ (y15 >> 18)) ^ (w15 >> 3);
      __u32 s1 = (__u32)((y2 >> 17) ^ (y2 >> 19)) ^ (w2 >> 10);
      wt = w[t & 15] + s0 + w[(t - 7) & 15] + s1;
      w[t & 15] = wt;
    }
    __u64 ye = ((__u64)e << 32) | e, ya = ((__u64)a << 32) | a;
    __u32 S1 = (__u32)((ye >> 6) ^ (ye >> 11) ^ (ye >> 25));
    __u32 ch = g ^ (e & (f ^ g));
    __u32 t1 = h + S1 + ch + k[t] + wt;
    __u32 S0 = (__u32)((ya >> 2) ^ (ya >> 13) ^ (ya >> 22));
    __u32 maj = (a & b) | (c & (a | b));
    __u32 t2 = S0 + maj;
    h = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
  }
  st[0] += a;
  st[1] += b;
  st[2] += c;
  st[3] += d;
  st[4] += e;
  st[5] += f;
  st[6] += g;
  st[7] += h;
}

/* Working memory of one HMAC: kept off the BPF stack (a per-CPU map value)
 * by the programs, which have 512 octets of stack in all. */
struct stamp_hmac_scratch {
  __u32 msg[24]; /* the 96 octets as big-endian words, host order */
  __u32 w[16];
  __u32 st[8];
  __u32 out[8];
};

/* HMAC-SHA-256(key, msg) truncated to 128 bits: out[0..3], host order. */
STAMP_SHA_FN void stamp_hmac96(const struct stamp_hmac_key *key, struct stamp_hmac_scratch *s)
{
  int i;
  for (i = 0; i < 8; i++)
    s->st[i] = key->inner[i];
  for (i = 0; i < 16; i++)
    s->w[i] = s->msg[i];
  stamp_sha256_block(s->st, s->w);
  for (i = 0; i < 8; i++)
    s->w[i] = s->msg[16 + i];
  s->w[8] = 0x80000000;
  for (i = 9; i < 15; i++)
    s->w[i] = 0;
  s->w[15] = (64 + 96) * 8; /* bits hashed: the ipad block and the message */
  stamp_sha256_block(s->st, s->w);

  for (i = 0; i < 8; i++) {
    s->w[i] = s->st[i];
    s->out[i] = key->outer[i];
  }
  s->w[8] = 0x80000000;
  for (i = 9; i < 15; i++)
    s->w[i] = 0;
  s->w[15] = (64 + 32) * 8; /* the opad block and the inner digest */
  stamp_sha256_block(s->out, s->w);
}

#undef STAMP_SHA_ROTR
#undef STAMP_SHA_FN
#undef STAMP_SHA_BLOCK_FN
#endif /* STAMP_SHA256_H */
