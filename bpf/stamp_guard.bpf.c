/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The reflector's guards: which sources get answers (allow and deny
 * prefixes, longest match) and how many (a GCRA bucket per source address
 * and one for all sources). A unit of the reflector's object, linked with
 * stamp_refl.bpf.c by bpftool gen object (cmake/BpfSkeleton.cmake): it owns
 * the guard maps below (layouts in stamp_abi.h) and exports stamp_guard(),
 * declared in stamp_guard.bpf.h. From the other units it reads stamp_ports
 * (is a source port one of the reflector's?) and stamp_config (the clock).
 *
 * Before the prefixes and rate limits, the abuse defences, which keep no
 * state: martian sources, reflection loops (a source port of the
 * reflector's own, a request that is itself a reflected packet) and
 * amplification (a request shorter than the base would get a larger reply).
 *
 * stamp_guard() runs once per packet to a reflector port and address,
 * right after T2 and before every other check (validity, HMAC, stateful
 * session), so a refused request costs a lookup or two and leaves nothing
 * behind except (per-source limit on) the bucket of its source.
 */
#include "stamp_guard.bpf.h"
#include "stamp_refl.bpf.h"

struct {
  __uint(type, BPF_MAP_TYPE_LPM_TRIE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __uint(max_entries, STAMP_ALLOW_MAX);
  __type(key, struct stamp_prefix_key);
  __type(value, __u8);
} stamp_allow SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct stamp_guard_cfg);
} stamp_guard_cfg SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, STAMP_SRC_RATE_ENTRIES);
  __type(key, struct stamp_addr_key);
  __type(value, __u64);
} stamp_src_rate SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct stamp_rate_all);
} stamp_all_rate SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
  __uint(max_entries, 256);
  __type(key, __u32);
  __type(value, struct stamp_guard_counters);
} stamp_guard_cnt SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
  __uint(max_entries, 256);
  __type(key, __u32);
  __type(value, struct stamp_abuse_counters);
} stamp_abuse_cnt SEC(".maps");

enum stamp_guard_verdict {
  STAMP_GUARD_PASS = 0,
  STAMP_GUARD_NOT_ALLOWED,
  STAMP_GUARD_RATE_SOURCE,
  STAMP_GUARD_RATE_ALL,
  STAMP_GUARD_MARTIAN,
  STAMP_GUARD_REFL_SPORT,
  STAMP_GUARD_SHORT,
  STAMP_GUARD_REFLECTED,
};

/* The loopback device: ifindex 1 in every network namespace. */
#define STAMP_LOOPBACK_IFINDEX 1

/* A source no packet from the wire can have: 127.0.0.0/8, 240.0.0.0/4 (which
 * holds the limited broadcast), ::1, and those IPv4 ones IPv4-mapped in an
 * IPv6 header (IPv4 sources are stored IPv4-mapped anyway). Answered only on
 * lo, where the host talks to itself. */
static __always_inline int stamp_martian(const struct stamp_addr_key *a)
{
  __u32 w[4];
  __builtin_memcpy(w, a->addr, 16);
  if ((w[0] | w[1]) == 0 && w[2] == bpf_htonl(0xffff)) {
    __u8 hi = a->addr[12];
    return hi == 127 || (hi & 0xf0) == 0xf0;
  }
  return (w[0] | w[1] | w[2]) == 0 && w[3] == bpf_htonl(1);
}

/* 1 when the 4 octets at payload offset `off` (a timestamp's seconds) are
 * within STAMP_REFLECTED_WINDOW_S of `ntp` or of `ptp` seconds. */
static __always_inline int stamp_near_now(struct __sk_buff *skb, __u32 off, __u32 ntp, __u32 ptp)
{
  __be32 sec;
  if (bpf_skb_load_bytes(skb, off, &sec, sizeof(sec)))
    return 0;
  __u32 s = bpf_ntohl(sec);
  return s - ntp + STAMP_REFLECTED_WINDOW_S <= 2 * STAMP_REFLECTED_WINDOW_S ||
         s - ptp + STAMP_REFLECTED_WINDOW_S <= 2 * STAMP_REFLECTED_WINDOW_S;
}

/* A reflected packet: a reflector's reply, which carries its T2 (the
 * Receive Timestamp) and copies the request's T1 into the Session-Sender
 * Timestamp; a Session-Sender leaves those octets zero (MBZ). Either one
 * near this host's clock gives a reply away: one of ours coming back from
 * another reflector (our T3 in its Session-Sender Timestamp, whatever its
 * clock), an echo of one of ours (our T2), or another reflector's reply
 * when the two clocks agree to within the window. Answering it would start
 * a loop between the two reflectors. */
static __always_inline int stamp_reflected(struct __sk_buff *skb, const struct stamp_pkt *p,
                                           __u64 t2, __u32 how)
{
  struct stamp_config *cfg = stamp_map_only(&stamp_config);
  __s64 tai_off = cfg ? cfg->tai_offset_ns : 0;
  __u32 ntp = (__u32)((t2 - (__u64)tai_off) / 1000000000ULL + STAMP_NTP_UNIX_OFFSET);
  __u32 ptp = (__u32)(t2 / 1000000000ULL);
  __u32 rx_off, tx_off;
  if (how & STAMP_GUARD_ARG_AUTH) {
    rx_off = offsetof(struct stamp_refl_auth, rx_sec);
    tx_off = offsetof(struct stamp_refl_auth, sender_ts_sec);
  } else {
    rx_off = offsetof(struct stamp_refl_unauth, rx_sec);
    tx_off = offsetof(struct stamp_refl_unauth, sender_ts_sec);
  }
  if (p->payload_len >= rx_off + 4 && stamp_near_now(skb, p->payload_off + rx_off, ntp, ptp))
    return 1;
  return p->payload_len >= tx_off + 4 && stamp_near_now(skb, p->payload_off + tx_off, ntp, ptp);
}

/* The abuse defences, in order of cost. */
static __always_inline enum stamp_guard_verdict stamp_abuse_verdict(
    struct __sk_buff *skb, const struct stamp_pkt *p, __u64 t2, __u32 how, __u32 flags)
{
  if (skb->ifindex != STAMP_LOOPBACK_IFINDEX && stamp_martian(&p->saddr))
    return STAMP_GUARD_MARTIAN;
  if (!(flags & STAMP_GUARD_ALLOW_REFL_SPORT)) {
    __u16 sport = p->sport;
    if (bpf_map_lookup_elem(&stamp_ports, &sport))
      return STAMP_GUARD_REFL_SPORT;
  }
  if (!(how & STAMP_GUARD_ARG_PAYLOAD))
    return STAMP_GUARD_PASS; /* a fragment, or lengths that do not add up */
  if (!(flags & STAMP_GUARD_ALLOW_SHORT) && !(how & STAMP_GUARD_ARG_AUTH) &&
      p->payload_len < STAMP_UNAUTH_BASE)
    return STAMP_GUARD_SHORT;
  if (!(flags & STAMP_GUARD_ALLOW_REFLECTED) && stamp_reflected(skb, p, t2, how))
    return STAMP_GUARD_REFLECTED;
  return STAMP_GUARD_PASS;
}

/* GCRA: 1 when a request at `now` conforms (and is then accounted in
 * *tat), 0 when it comes too early. */
static __always_inline int stamp_gcra(__u64 *tat, __u64 now, __u64 interval, __u64 tolerance)
{
  __u64 t = *tat;
  if (t < now)
    t = now; /* idle: the bucket is full */
  if (t - now > tolerance)
    return 0;
  *tat = t + interval;
  return 1;
}

/* The per-source bucket's key: an IPv4 source (stored IPv4-mapped) as it
 * is, an IPv6 source cut to its first `plen` bits (0: all 128), so that a
 * host cannot walk around its limit through the addresses of its /64. */
static __always_inline void stamp_rate_key(struct stamp_addr_key *key,
                                           const struct stamp_addr_key *src, __u32 plen)
{
  __builtin_memcpy(key, src, sizeof(*key));
  __u32 w[4];
  __builtin_memcpy(w, src->addr, 16);
  if (plen == 0 || plen >= 128 || ((w[0] | w[1]) == 0 && w[2] == bpf_htonl(0xffff)))
    return;
  for (int i = 0; i < 16; i++) {
    __u32 bit = (__u32)i * 8;
    if (bit >= plen)
      key->addr[i] = 0;
    else if (bit + 8 > plen)
      key->addr[i] &= (__u8)(0xff << (8 - (plen - bit)));
  }
}

/* The per-source bucket, updated by compare-and-swap (BPF_CMPXCHG,
 * -mcpu=v3): requests of one source on several CPUs at once are accounted
 * exactly. A source whose update loses the race STAMP_GCRA_TRIES times in a
 * row is treated as too early. An entry that cannot be stored lets the
 * request through: the limit of all sources still applies. */
#define STAMP_GCRA_TRIES 4
static __always_inline int stamp_source_conforms(const struct stamp_addr_key *addr, __u64 now,
                                                 const struct stamp_guard_cfg *g)
{
  struct stamp_addr_key key;
  const struct stamp_addr_key *src = &key;
  stamp_rate_key(&key, addr, g->src6_prefix);
  __u64 *tat = bpf_map_lookup_elem(&stamp_src_rate, src);
  if (!tat) {
    __u64 fresh = now + g->src_interval_ns; /* the first request of a full bucket */
    if (bpf_map_update_elem(&stamp_src_rate, src, &fresh, BPF_NOEXIST) == 0)
      return 1;
    tat = bpf_map_lookup_elem(&stamp_src_rate, src); /* another CPU created it */
    if (!tat)
      return 1;
  }
  for (int i = 0; i < STAMP_GCRA_TRIES; i++) {
    __u64 old = *(volatile __u64 *)tat;
    __u64 t = old < now ? now : old;
    if (t - now > g->src_tolerance_ns)
      return 0;
    if (__sync_val_compare_and_swap(tat, old, t + g->src_interval_ns) == old)
      return 1;
  }
  return 0;
}

/* The bucket of all sources, under its spin lock: exact whatever the CPUs. */
static __always_inline int stamp_all_conform(__u64 now, const struct stamp_guard_cfg *g)
{
  struct stamp_rate_all *b = stamp_map_only(&stamp_all_rate);
  if (!b)
    return 1;
  bpf_spin_lock(&b->lock);
  int ok = stamp_gcra(&b->tat_ns, now, g->all_interval_ns, g->all_tolerance_ns);
  bpf_spin_unlock(&b->lock);
  return ok;
}

static __always_inline enum stamp_guard_verdict stamp_guard_verdict(
    struct __sk_buff *skb, const struct stamp_pkt *p, __u64 t2, __u32 how)
{
  const struct stamp_addr_key *src = &p->saddr;
  const struct stamp_guard_cfg *g = stamp_map_only(&stamp_guard_cfg);
  if (!g)
    return STAMP_GUARD_PASS;
  enum stamp_guard_verdict abuse = stamp_abuse_verdict(skb, p, t2, how, g->flags);
  if (abuse != STAMP_GUARD_PASS)
    return abuse;
  if (g->flags & STAMP_GUARD_PREFIXES) {
    struct stamp_prefix_key k = {.prefixlen = 128};
    __builtin_memcpy(k.addr, src->addr, sizeof(k.addr));
    const __u8 *rule = bpf_map_lookup_elem(&stamp_allow, &k);
    if (rule ? *rule != STAMP_RULE_ALLOW : (g->flags & STAMP_GUARD_DEFAULT_DENY) != 0)
      return STAMP_GUARD_NOT_ALLOWED;
  }
  if (!g->src_interval_ns && !g->all_interval_ns)
    return STAMP_GUARD_PASS;
  __u64 now = bpf_ktime_get_ns();
  /* Per source first: a source over its own limit does not use up the
   * budget of all the others. */
  if (g->src_interval_ns && !stamp_source_conforms(src, now, g))
    return STAMP_GUARD_RATE_SOURCE;
  if (g->all_interval_ns && !stamp_all_conform(now, g))
    return STAMP_GUARD_RATE_ALL;
  return STAMP_GUARD_PASS;
}

/* Declared in stamp_guard.bpf.h. __hidden: global for the linker, so that
 * stamp_refl.bpf.c can call it, but marked static in BTF by libbpf, so the
 * verifier checks it in the context of each call as before. */
__hidden __attribute__((noinline)) int stamp_guard(struct __sk_buff *skb,
                                                   const struct stamp_pkt *p, __u64 t2, __u32 how)
{
  enum stamp_guard_verdict v = stamp_guard_verdict(skb, p, t2, how);
  if (v == STAMP_GUARD_PASS)
    return 0;
  __u32 ifindex = skb->ifindex;
  if (v >= STAMP_GUARD_MARTIAN) {
    struct stamp_abuse_counters *a =
        STAMP_COUNTERS_ENTRY(stamp_abuse_cnt, ifindex, struct stamp_abuse_counters);
    if (a) {
      if (v == STAMP_GUARD_MARTIAN)
        a->martian_source++;
      else if (v == STAMP_GUARD_REFL_SPORT)
        a->reflector_source_port++;
      else if (v == STAMP_GUARD_SHORT)
        a->short_request++;
      else
        a->reflected_packet++;
    }
    return 1;
  }
  struct stamp_guard_counters *c =
      STAMP_COUNTERS_ENTRY(stamp_guard_cnt, ifindex, struct stamp_guard_counters);
  if (c) {
    if (v == STAMP_GUARD_NOT_ALLOWED)
      c->not_allowed++;
    else if (v == STAMP_GUARD_RATE_SOURCE)
      c->rate_per_source++;
    else
      c->rate_global++;
  }
  return 1;
}
