/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Authenticated mode in BPF (RFC 8762 section 4.4): HMAC-SHA-256/128 over
 * octets 0..95 of a 112-octet base, finished from the key's midstates
 * (stamp_sha256.h) in three compressions. Shared by the reflector and the
 * sender programs: declarations and inline helpers (the map declared here is
 * defined in stamp_common.bpf.c). */
#ifndef STAMP_AUTH_BPF_H
#define STAMP_AUTH_BPF_H

#include "stamp_parse.bpf.h"

/* Per-CPU working memory: the HMAC state plus the base as it was and as it
 * becomes (for the checksum difference), off the 512-octet stack. A tc
 * program runs to completion on its CPU, so one slot per CPU suffices. */
struct stamp_auth_work {
  struct stamp_hmac_scratch h;
  __u8 was[STAMP_AUTH_BASE];
  __u8 now[STAMP_AUTH_BASE];
};

/* STAMP_MAP_AUTH_WORK: that slot, defined in stamp_common.bpf.c (each
 * object links in its own). Callers hand its entry to the helpers below. */
struct stamp_auth_work_map {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct stamp_auth_work);
};
extern struct stamp_auth_work_map stamp_auth_work SEC(".maps");

/* HMAC of w->now[0..95] into w->h.out[0..3] (host order). */
static __always_inline void auth_hmac_now(const struct stamp_hmac_key *key,
                                          struct stamp_auth_work *w)
{
  __builtin_memcpy(w->h.msg, w->now, STAMP_AUTH_HMAC_OFF);
#pragma unroll
  for (int i = 0; i < STAMP_AUTH_HMAC_OFF / 4; i++)
    w->h.msg[i] = bpf_ntohl(w->h.msg[i]);
  stamp_hmac96(key, &w->h);
}

/* Whether a computed MAC (host order) equals the one received (network
 * order), in constant time: the differences of all four words are
 * accumulated before the one test, so how long a forged packet takes does
 * not tell how many of its leading octets were right. The empty asm keeps
 * the compiler from turning the accumulation back into early exits. */
static __always_inline int auth_mac_equal(const __u32 mac[4], const __u32 got[4])
{
  __u32 diff = 0;
#pragma unroll
  for (int i = 0; i < 4; i++) {
    diff |= bpf_htonl(mac[i]) ^ got[i];
    asm volatile("" : "+r"(diff));
  }
  return diff == 0;
}

/* Does w->now's HMAC field match its octets 0..95? */
static __always_inline int auth_verify_now(const struct stamp_hmac_key *key,
                                           struct stamp_auth_work *w)
{
  auth_hmac_now(key, w);
  __u32 got[4];
  __builtin_memcpy(got, &w->now[STAMP_AUTH_HMAC_OFF], sizeof(got));
  return auth_mac_equal(w->h.out, got);
}

/* Writes w->now's HMAC field. */
static __always_inline void auth_sign_now(const struct stamp_hmac_key *key,
                                          struct stamp_auth_work *w)
{
  auth_hmac_now(key, w);
  __u32 mac[4] = {bpf_htonl(w->h.out[0]), bpf_htonl(w->h.out[1]), bpf_htonl(w->h.out[2]),
                  bpf_htonl(w->h.out[3])};
  __builtin_memcpy(&w->now[STAMP_AUTH_HMAC_OFF], mac, sizeof(mac));
}

/* Stores w->now over the base at payload_off and folds the difference from
 * w->was into the UDP checksum at csum_off. Returns 0 or a negative error. */
static __always_inline int auth_store_now(struct __sk_buff *skb, struct stamp_auth_work *w,
                                          __u32 payload_off, __u32 csum_off)
{
  __s64 diff = bpf_csum_diff((__be32 *)w->was, STAMP_AUTH_BASE, (__be32 *)w->now,
                             STAMP_AUTH_BASE, 0);
  if (diff < 0)
    return (int)diff;
  if (bpf_skb_store_bytes(skb, payload_off, w->now, STAMP_AUTH_BASE, 0))
    return -1;
  return bpf_l4_csum_replace(skb, csum_off, 0, diff, BPF_F_MARK_MANGLED_0);
}

#endif /* STAMP_AUTH_BPF_H */
