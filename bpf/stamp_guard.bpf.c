/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The reflector's guards: which sources get answers (allow and deny
 * prefixes, longest match) and how many (a GCRA bucket per source address
 * and one for all sources). A unit of the reflector's object, linked with
 * stamp_refl.bpf.c by bpftool gen object (cmake/BpfSkeleton.cmake): it owns
 * the guard maps below (layouts in stamp_abi.h) and exports stamp_guard(),
 * declared in stamp_guard.bpf.h. It needs nothing from the other units.
 *
 * stamp_guard() runs once per packet to a reflector port and address,
 * right after T2 and before every other check (validity, HMAC, stateful
 * session), so a refused request costs a lookup or two and leaves nothing
 * behind except (per-source limit on) the bucket of its source.
 */
#include "stamp_guard.bpf.h"

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

enum stamp_guard_verdict {
  STAMP_GUARD_PASS = 0,
  STAMP_GUARD_NOT_ALLOWED,
  STAMP_GUARD_RATE_SOURCE,
  STAMP_GUARD_RATE_ALL,
};

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

/* The per-source bucket, updated by compare-and-swap (BPF_CMPXCHG,
 * -mcpu=v3): requests of one source on several CPUs at once are accounted
 * exactly. A source whose update loses the race STAMP_GCRA_TRIES times in a
 * row is treated as too early. An entry that cannot be stored lets the
 * request through: the limit of all sources still applies. */
#define STAMP_GCRA_TRIES 4
static __always_inline int stamp_source_conforms(const struct stamp_addr_key *src, __u64 now,
                                                 const struct stamp_guard_cfg *g)
{
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
    const struct stamp_addr_key *src)
{
  const struct stamp_guard_cfg *g = stamp_map_only(&stamp_guard_cfg);
  if (!g)
    return STAMP_GUARD_PASS;
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
__hidden __attribute__((noinline)) int stamp_guard(const struct stamp_addr_key *src,
                                                   __u32 ifindex)
{
  enum stamp_guard_verdict v = stamp_guard_verdict(src);
  if (v == STAMP_GUARD_PASS)
    return 0;
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
