/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * RFC 8972 TLVs at the Session-Reflector, in tc. A unit of the reflector's
 * object, compiled on its own and linked with stamp_refl.bpf.c by bpftool
 * gen object (cmake/BpfSkeleton.cmake). BPF only (the contract with C++ is
 * stamp_abi.h).
 *
 * Its interface is stamp_tlv.bpf.h:
 *   stamp_tlv_prepare()   from stamp_refl_in, once the base reply is built,
 *                         for a request longer than its base (44 octets, or
 *                         112 in authenticated mode): hands the request to
 *                         the walk, which stamp_refl_in then tail-calls;
 *   stamp_tlv_run()       the walk, from the tail-called stamp_refl_tlv;
 *   stamp_tlv_record_t3() from stamp_refl_out, for a reply marked
 *                         STAMP_REFLECT_MARK_T3: keeps its T3 for the
 *                         session's next Follow-Up Telemetry TLV.
 * What it takes from stamp_refl.bpf.c, declared in stamp_refl.bpf.h and
 * resolved by the linker: the maps stamp_ports (an authenticated port's
 * SSID sits elsewhere) and stamp_keys (the HMAC TLV's key). Nothing else.
 *
 * The walk runs in two passes over at most STAMP_TLV_MAX TLVs:
 *   1. scan: every Length checked against the octets left and against its
 *      type (and the sub-TLVs of a Location TLV), the HMAC TLV found and its
 *      position checked, the first malformed TLV noted;
 *   2. integrity (the HMAC hook, stamp_tlv_hmac_verify), then either every
 *      TLV copied with I = 1, or each well-formed TLV before the first
 *      malformed one answered in place (U = 0 when understood, U = 1 when
 *      not), and the malformed one marked M = 1. Octets after a malformed
 *      TLV, or after the STAMP_TLV_MAX-th, are copied unchanged.
 * Sizes never change: every TLV is pre-sized by the sender (symmetric
 * reply). Every octet written goes through stamp_tlv_patch(), which keeps
 * the UDP checksum right.
 *
 * Verifier: the per-TLV work is in global (non-static, noinline) functions,
 * each verified once on its own, so the loops below stay small; their state
 * lives in a per-CPU work area (stamp_tlv_wk) instead of the stack, which
 * stamp_refl_in already uses heavily. A tc program is not preempted by
 * another on the same CPU (softirq, or BH disabled on transmit), so one
 * area per CPU is enough. stamp_tlv_prepare() is global in that sense too.
 * stamp_tlv_record_t3() is __hidden instead: global for the linker, but
 * marked static by libbpf, so the verifier checks it in the context of each
 * call, as when it was inlined into stamp_refl_out.
 */
#include "stamp_auth.bpf.h"
#include "stamp_refl.bpf.h"
#include "stamp_tlv.bpf.h"

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct stamp_tlv_cfg);
} stamp_tlv_cfg SEC(".maps");

/* Sized from [reflector] max_sessions by stampd before load. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, STAMP_REFL_SESS_DEFAULT);
  __type(key, struct stamp_refl_sess_key);
  __type(value, struct stamp_tlv_sess);
} stamp_tlv_sess SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
  __uint(max_entries, 256);
  __type(key, __u32);
  __type(value, struct stamp_tlv_counters);
} stamp_tlv_cnt SEC(".maps");

/* The walk's state, in skb offsets (from skb->data). */
struct stamp_tlv_walk {
  __u32 pl_off;      /* STAMP payload */
  __u32 end;         /* just past the payload (UDP length) */
  __u32 first;       /* the first TLV: pl_off + base */
  __u32 csum_off;    /* UDP checksum */
  __u32 l3_off;
  __u32 off;         /* the TLV at hand */
  __u32 len;         /* its Length */
  __u32 n_ok;        /* well-formed TLVs before the first malformed one */
  __u32 bad_off;     /* the malformed TLV; 0: none */
  __u32 bad_sub_off; /* the malformed sub-TLV in it; 0: none */
  __u32 hmac_off;    /* the HMAC TLV; 0: none */
  __u32 loc_off;     /* the Location TLV stamp_tlv_location() answers */
  __u32 idle_s;      /* the port's idle timeout (session state restarts) */
  __u32 ifindex;
  __u16 sport, dport; /* of the request, host order */
  __u8 base_auth;     /* base is 112 (authenticated mode) */
  __u8 ipv6;
  __u8 tos;           /* TOS / Traffic Class the request arrived with */
  __u8 stateful;
  __u8 type;          /* of the TLV at hand */
  __u8 hmac_bad;      /* HMAC TLV misplaced or repeated (RFC 8972 4.8) */
  __u8 n_nonpad;      /* TLVs other than Extra Padding seen */
  __u8 over;          /* more TLVs than STAMP_TLV_MAX */
  __u8 cfg_flags, sync_src, ts_method;
  __u8 new_tos_set, new_tos; /* CoS: DSCP1 permitted, the reply's TOS */
  __u8 sess_done;     /* session state counted for this request */
  __u8 mark_t3;       /* a Follow-Up TLV: egress records T3 */
  __u8 pad;
  __u64 dscp_allowed;
  struct stamp_refl_sess_key key; /* saddr = the sender, daddr = this host */
  struct stamp_tlv_counters cnt;  /* added to stamp_tlv_cnt at the end */
  struct stamp_pkt pkt; /* the request's parse, as stamp_refl_in had it */
  __u8 src[32];       /* new octets for stamp_tlv_patch() */
  __u8 old[32], neu[32];
};

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct stamp_tlv_walk);
} stamp_tlv_wk SEC(".maps");

/* x &= mask where the verifier sees it: clang drops a mask it can prove
 * redundant, and the verifier, which tracks less, then rejects the access. */
#define STAMP_TLV_BOUND(x, mask) asm volatile("%0 &= " #mask : "+r"(x))

static __always_inline struct stamp_tlv_walk *stamp_tlv_work(void)
{
  return stamp_map_only(&stamp_tlv_wk);
}

/* Writes w->src[0..len) at skb offset `off` (inside the payload) and
 * updates the UDP checksum. The checksum is a sum of 16-bit words counted
 * from the UDP header, whose offset in the payload is even: a patch at an
 * odd payload offset is widened by the octet before it, so that old and new
 * octets sit at the same parity in the buffers bpf_csum_diff() sums.
 * Returns 0, or -1 when nothing was written. */
__attribute__((noinline)) int stamp_tlv_patch(struct __sk_buff *skb, __u32 off, __u32 len)
{
  struct stamp_tlv_walk *w = stamp_tlv_work();
  if (!w || len == 0 || len > 24 || off < w->first || off + len > w->end)
    return -1;
  __u64 shift = (off - w->pl_off) & 1;
  __u32 start = off - shift;
  __u64 n = len + shift; /* 1..25 */
  STAMP_TLV_BOUND(n, 31);
  if (n == 0)
    return -1;
  __builtin_memset(w->old, 0, sizeof(w->old));
  if (bpf_skb_load_bytes(skb, start, w->old, n))
    return -1;
  __builtin_memcpy(w->neu, w->old, sizeof(w->neu));
  for (__u32 k = 0; k < 24; k++) {
    if (k >= len)
      break;
    __u64 i = k + shift;
    STAMP_TLV_BOUND(i, 31);
    w->neu[i] = w->src[k];
  }
  if (bpf_skb_store_bytes(skb, start, w->neu, n, 0))
    return -1;
  __u64 words = n + 3; /* whole words: bpf_csum_diff() sums 32 bits */
  STAMP_TLV_BOUND(words, 28);
  if (words == 0)
    return -1;
  __s64 diff = bpf_csum_diff((__be32 *)w->old, words, (__be32 *)w->neu, words, 0);
  if (diff < 0)
    return -1;
  bpf_l4_csum_replace(skb, w->csum_off, 0, diff, BPF_F_MARK_MANGLED_0);
  return 0;
}

/* Loads `len` (1..24) octets at `off` into w->src. */
static __always_inline int stamp_tlv_load(struct __sk_buff *skb, struct stamp_tlv_walk *w,
                                          __u32 off, __u32 len)
{
  __u64 n = len;
  STAMP_TLV_BOUND(n, 31);
  if (n == 0 || n > 24)
    return -1;
  return bpf_skb_load_bytes(skb, off, w->src, n);
}

/* Whether Length `len` is valid for `type` (RFC 8972 4.1-4.8). Types this
 * reflector does not know take any length (answered with U = 1). Timestamp
 * Information may carry sub-TLVs after its four octets, so it needs at
 * least 4. */
static __always_inline int stamp_tlv_len_ok(__u8 type, __u32 len)
{
  switch (type) {
  case STAMP_TLV_LOCATION:
  case STAMP_TLV_TS_INFO:
    return len >= 4;
  case STAMP_TLV_COS:
  case STAMP_TLV_ACCESS:
    return len == 4;
  case STAMP_TLV_DIRECT:
    return len == 12;
  case STAMP_TLV_FOLLOW_UP:
  case STAMP_TLV_HMAC:
    return len == 16;
  default:
    return 1;
  }
}

/* The sub-TLVs of the Location TLV at w->off (Value length w->len): each
 * header inside the Value, each known request type of its fixed length.
 * Returns 0 when well formed; otherwise notes the bad sub-TLV (when its
 * header is complete) and returns -1. Sub-TLVs past STAMP_LOC_SUB_MAX are
 * not looked at. */
__attribute__((noinline)) int stamp_tlv_loc_check(struct __sk_buff *skb)
{
  struct stamp_tlv_walk *w = stamp_tlv_work();
  if (!w)
    return -1;
  __u32 off = w->off + STAMP_TLV_HDR + 4;
  __u32 end = w->off + STAMP_TLV_HDR + w->len;
  for (int j = 0; j < STAMP_LOC_SUB_MAX; j++) {
    if (off >= end)
      return 0;
    if (end - off < STAMP_TLV_HDR)
      return -1; /* a truncated sub-TLV header */
    __u8 h[4];
    if (bpf_skb_load_bytes(skb, off, h, 4))
      return -1;
    __u32 l = ((__u32)h[2] << 8) | h[3];
    if (l > end - off - STAMP_TLV_HDR) {
      w->bad_sub_off = off;
      return -1;
    }
    __u32 want = 0;
    switch (h[1]) {
    case STAMP_LOC_SRC_MAC:
      want = 8;
      break;
    case STAMP_LOC_DST_IP:
    case STAMP_LOC_SRC_IP:
      want = 16;
      break;
    }
    if (want && l != want) {
      w->bad_sub_off = off;
      return -1;
    }
    off += STAMP_TLV_HDR + l;
  }
  return 0;
}

/* Pass 1, one TLV at w->off. Returns 1 and advances w->off for a well-formed
 * TLV; 0 at the end of the payload; -1 for a malformed one (w->bad_off set,
 * w->off left on it). */
__attribute__((noinline)) int stamp_tlv_scan_one(struct __sk_buff *skb)
{
  struct stamp_tlv_walk *w = stamp_tlv_work();
  if (!w)
    return 0;
  __u32 off = w->off;
  if (off >= w->end)
    return 0;
  __u32 left = w->end - off;
  __u8 h[4] = {};
  if (left < STAMP_TLV_HDR) {
    w->bad_off = off; /* a truncated header: not even a Length */
    w->len = 0;
    w->type = 0;
    return -1;
  }
  if (bpf_skb_load_bytes(skb, off, h, 4)) {
    w->bad_off = off;
    return -1;
  }
  __u32 len = ((__u32)h[2] << 8) | h[3];
  w->type = h[1];
  w->len = len;
  if (len > left - STAMP_TLV_HDR || !stamp_tlv_len_ok(h[1], len)) {
    w->bad_off = off;
    return -1;
  }
  if (h[1] == STAMP_TLV_LOCATION && stamp_tlv_loc_check(skb)) {
    w->bad_off = off;
    return -1;
  }
  /* RFC 8972 4.8: only Extra Padding may follow the HMAC TLV. */
  if (h[1] == STAMP_TLV_HMAC) {
    if (w->hmac_off)
      w->hmac_bad = 1;
    else
      w->hmac_off = off;
  } else if (h[1] != STAMP_TLV_PADDING) {
    if (w->hmac_off)
      w->hmac_bad = 1;
  }
  if (h[1] != STAMP_TLV_PADDING)
    w->n_nonpad++;
  w->n_ok++;
  w->off = off + STAMP_TLV_HDR + len;
  return 1;
}

/* ---- The HMAC hook (authenticated mode, and RFC 8972 4.8 in
 * unauthenticated mode) ---- */

enum {
  STAMP_TLV_HMAC_NONE = 0, /* nothing to verify: no HMAC TLV, none required */
  STAMP_TLV_HMAC_OK = 1,   /* the HMAC TLV verified */
  STAMP_TLV_HMAC_FAIL = 2, /* verification failed: I = 1 on every TLV */
};

/* ---- HMAC over a variable length (RFC 8972 4.8, the HMAC TLV) ---- */

/* The HMAC TLV covers the Sequence Number and the TLVs before it: up to
 * this many octets are checked; a longer span fails verification. */
#define STAMP_HMAC_VAR_MAX 1024
#define STAMP_HMAC_VAR_BUF 2048 /* power of two; the message, padded */
#define STAMP_HMAC_VAR_BLOCKS ((STAMP_HMAC_VAR_MAX + 9 + 63) / 64)

struct stamp_hmac_var {
  __u8 buf[STAMP_HMAC_VAR_BUF];
  __u32 st[8];
  __u32 w[16];
  __u32 out[8];
};

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct stamp_hmac_var);
} stamp_hmac_varw SEC(".maps");

static __always_inline struct stamp_hmac_var *hmac_var_work(void)
{
  return stamp_map_only(&stamp_hmac_varw);
}

/* HMAC-SHA-256 of v->buf[0..len) into v->out (host order), from the key's
 * midstates: the message's blocks (SHA-256 padding appended here) from the
 * inner state, then the inner digest from the outer. 0, or -1 when len is
 * over STAMP_HMAC_VAR_MAX. */
static __attribute__((noinline)) int stamp_hmac_var_run(const struct stamp_hmac_key *key,
                                                         struct stamp_hmac_var *v, __u32 len)
{
  if (!key || !v || len > STAMP_HMAC_VAR_MAX)
    return -1;
  const __u32 mask = STAMP_HMAC_VAR_BUF - 1;
  __u32 nblk = (len + 9 + 63) / 64;
  __u32 lenpos = nblk * 64 - 8;
  v->buf[len & mask] = 0x80;
  for (__u32 k = 1; k < 72; k++) {
    __u32 i = len + k;
    if (i >= lenpos)
      break;
    v->buf[i & mask] = 0;
  }
  __u64 bits = ((__u64)len + 64) * 8; /* the ipad block, then the message */
  for (__u32 k = 0; k < 8; k++)
    v->buf[(lenpos + k) & mask] = (__u8)(bits >> (56 - 8 * k));
  for (int i = 0; i < 8; i++)
    v->st[i] = key->inner[i];
  for (__u32 b = 0; b < STAMP_HMAC_VAR_BLOCKS; b++) {
    if (b >= nblk)
      break;
    for (__u32 i = 0; i < 16; i++) {
      __u32 o = (b * 64 + i * 4) & (mask & ~3u);
      v->w[i] = ((__u32)v->buf[o] << 24) | ((__u32)v->buf[o + 1] << 16) |
                ((__u32)v->buf[o + 2] << 8) | v->buf[o + 3];
    }
    stamp_sha256_block(v->st, v->w);
  }
  for (int i = 0; i < 8; i++) {
    v->w[i] = v->st[i];
    v->out[i] = key->outer[i];
  }
  v->w[8] = 0x80000000;
  for (int i = 9; i < 15; i++)
    v->w[i] = 0;
  v->w[15] = (64 + 32) * 8;
  stamp_sha256_block(v->out, v->w);
  return 0;
}

/* The integrity of the TLVs, decided before any of their data is used
 * (RFC 8972 4.8). On entry, pass 1 has run: w->hmac_off is the HMAC TLV (0:
 * none), w->hmac_bad says it is misplaced or repeated, w->n_nonpad counts
 * the TLVs other than Extra Padding, w->first and w->end bound the TLVs,
 * w->base_auth says the base is 112 octets.
 *   - a misplaced or repeated HMAC TLV: failure (4.8);
 *   - an HMAC TLV on a port with a key (authenticated mode): HMAC-SHA-256
 *     over the request's Sequence Number and the octets from the first TLV
 *     up to the HMAC TLV, truncated to 16 octets, against its Value: OK or
 *     failure; on a port without a key it cannot be verified, and no TLV
 *     data may be used before it is: failure (the TLVs are copied back with
 *     I = 1). Enabling HMAC TLVs in unauthenticated mode, which the RFC
 *     allows under a control, is not offered;
 *   - authenticated base without an HMAC TLV, when there are TLVs other
 *     than Extra Padding (4.8: "MUST additionally authenticate the optional
 *     TLVs ... with the sole exception of ... only one TLV ... Extra
 *     Padding"; several Extra Padding TLVs are let pass too): failure;
 *   - otherwise nothing to verify. */
__attribute__((noinline)) int stamp_tlv_hmac_verify(struct __sk_buff *skb)
{
  struct stamp_tlv_walk *w = stamp_tlv_work();
  if (!w)
    return STAMP_TLV_HMAC_FAIL;
  if (w->hmac_bad)
    return STAMP_TLV_HMAC_FAIL;
  if (!w->hmac_off) {
    if (w->base_auth && w->n_nonpad)
      return STAMP_TLV_HMAC_FAIL; /* authenticated TLVs need the HMAC TLV */
    return STAMP_TLV_HMAC_NONE;
  }
  /* The key of an authenticated port; an unauthenticated port has none, so
   * its HMAC TLVs cannot be verified (the RFC's control to enable them in
   * unauthenticated mode is off). */
  __u16 port = w->dport;
  struct stamp_hmac_key *key = bpf_map_lookup_elem(&stamp_keys, &port);
  struct stamp_hmac_var *v = hmac_var_work();
  if (!key || !v)
    return STAMP_TLV_HMAC_FAIL;
  /* The request's Sequence Number, which the reply's base now carries as the
   * Session-Sender Sequence Number, then its TLVs before the HMAC TLV. */
  __u32 seq_off = w->pl_off + (w->base_auth ? offsetof(struct stamp_refl_auth, sender_seq)
                                            : offsetof(struct stamp_refl_unauth, sender_seq));
  __u64 n = w->hmac_off - w->first;
  if (n > STAMP_HMAC_VAR_MAX - 4 || bpf_skb_load_bytes(skb, seq_off, v->buf, 4))
    return STAMP_TLV_HMAC_FAIL;
  STAMP_TLV_BOUND(n, 1023);
  if (n && bpf_skb_load_bytes(skb, w->first, v->buf + 4, n))
    return STAMP_TLV_HMAC_FAIL;
  __u32 got[4];
  if (bpf_skb_load_bytes(skb, w->hmac_off + STAMP_TLV_HDR, got, sizeof(got)) ||
      stamp_hmac_var_run(key, v, 4 + n))
    return STAMP_TLV_HMAC_FAIL;
  return auth_mac_equal(v->out, got) ? STAMP_TLV_HMAC_OK : STAMP_TLV_HMAC_FAIL;
}

/* The reply's HMAC TLV, once every TLV of the reply is final (flags and
 * fields written), only after the request's verified: HMAC over the
 * reply's Sequence Number and its octets from the first TLV up to the HMAC
 * TLV, written in place through stamp_tlv_patch() (checksum kept). The
 * base's own HMAC (authenticated mode) is egress's, after T3. */
__attribute__((noinline)) int stamp_tlv_hmac_reply(struct __sk_buff *skb)
{
  struct stamp_tlv_walk *w = stamp_tlv_work();
  if (!w || !w->hmac_off)
    return -1;
  __u16 port = w->dport;
  struct stamp_hmac_key *key = bpf_map_lookup_elem(&stamp_keys, &port);
  struct stamp_hmac_var *v = hmac_var_work();
  if (!key || !v)
    return -1;
  __u64 n = w->hmac_off - w->first;
  if (n > STAMP_HMAC_VAR_MAX - 4 || bpf_skb_load_bytes(skb, w->pl_off, v->buf, 4))
    return -1;
  STAMP_TLV_BOUND(n, 1023);
  if (n && bpf_skb_load_bytes(skb, w->first, v->buf + 4, n))
    return -1;
  if (stamp_hmac_var_run(key, v, 4 + n))
    return -1;
  w = stamp_tlv_work();
  if (!w)
    return -1;
  __u32 mac[4] = {bpf_htonl(v->out[0]), bpf_htonl(v->out[1]), bpf_htonl(v->out[2]),
                  bpf_htonl(v->out[3])};
  __builtin_memcpy(w->src, mac, sizeof(mac));
  return stamp_tlv_patch(skb, w->hmac_off + STAMP_TLV_HDR, sizeof(mac));
}

/* ---- Pass 2 ---- */

/* The session's Direct Measurement / Follow-Up state, created on first use
 * and restarted after the port's idle timeout. NULL (counted) when the
 * table refuses an entry. */
static __always_inline struct stamp_tlv_sess *stamp_tlv_session(struct stamp_tlv_walk *w)
{
  __u64 now = bpf_ktime_get_ns();
  struct stamp_tlv_sess *s = bpf_map_lookup_elem(&stamp_tlv_sess, &w->key);
  if (!s) {
    struct stamp_tlv_sess fresh = {.last_ns = now};
    bpf_map_update_elem(&stamp_tlv_sess, &w->key, &fresh, BPF_NOEXIST);
    s = bpf_map_lookup_elem(&stamp_tlv_sess, &w->key);
    if (!s) {
      w->cnt.no_state++;
      return 0;
    }
  } else if (w->idle_s && now - s->last_ns > (__u64)w->idle_s * 1000000000ULL) {
    s->rx = 0;
    s->tx = 0;
    s->flags = 0;
  }
  s->last_ns = now;
  return s;
}

static __always_inline void stamp_put32(__u8 *b, __u32 v)
{
  b[0] = v >> 24;
  b[1] = v >> 16;
  b[2] = v >> 8;
  b[3] = v;
}

/* The Location TLV at w->loc_off (RFC 8972 4.2.2): ports, then each request
 * sub-TLV answered with what this packet carried, or zeros when the policy
 * (STAMP_TLV_CFG_LOCATION off) says not to report. Unknown sub-types get
 * U = 1. Structure was checked in pass 1. */
__attribute__((noinline)) int stamp_tlv_location(struct __sk_buff *skb)
{
  struct stamp_tlv_walk *w = stamp_tlv_work();
  if (!w)
    return -1;
  const int report = w->cfg_flags & STAMP_TLV_CFG_LOCATION;
  __u32 off = w->loc_off;
  if (off < w->first || off >= w->end || stamp_tlv_load(skb, w, off, 8))
    return -1;
  __u32 len = ((__u32)w->src[2] << 8) | w->src[3];
  w->src[0] = 0;
  w->src[4] = report ? w->dport >> 8 : 0;
  w->src[5] = report ? w->dport : 0;
  w->src[6] = report ? w->sport >> 8 : 0;
  w->src[7] = report ? w->sport : 0;
  stamp_tlv_patch(skb, off, 8);

  __u32 sub = off + STAMP_TLV_HDR + 4;
  __u32 end = off + STAMP_TLV_HDR + len;
  if (len < 4 || end > w->end)
    return -1;
  for (int j = 0; j < STAMP_LOC_SUB_MAX; j++) {
    if (sub >= end || end - sub < STAMP_TLV_HDR)
      break;
    if (stamp_tlv_load(skb, w, sub, 4))
      return -1;
    __u32 l = ((__u32)w->src[2] << 8) | w->src[3];
    __u8 t = w->src[1];
    if (l > end - sub - STAMP_TLV_HDR)
      break;
    __u32 n = 0;
    __builtin_memset(&w->src[4], 0, 16);
    w->src[0] = 0;
    if (t == STAMP_LOC_SRC_MAC && l == 8) {
      if (report) {
        w->src[1] = STAMP_LOC_SRC_EUI48;
        __builtin_memcpy(&w->src[4], &w->pkt.macs[6], 6); /* source MAC */
      } else {
        w->src[1] = STAMP_LOC_SRC_EUI64; /* "no MAC": EUI-64 zeroed */
      }
      n = 12;
    } else if ((t == STAMP_LOC_DST_IP || t == STAMP_LOC_SRC_IP) && l == 16) {
      const struct stamp_addr_key *a = t == STAMP_LOC_DST_IP ? &w->key.daddr : &w->key.saddr;
      if (w->ipv6) {
        w->src[1] = t == STAMP_LOC_DST_IP ? STAMP_LOC_DST_IPV6 : STAMP_LOC_SRC_IPV6;
        if (report)
          __builtin_memcpy(&w->src[4], a->addr, 16);
      } else {
        w->src[1] = t == STAMP_LOC_DST_IP ? STAMP_LOC_DST_IPV4 : STAMP_LOC_SRC_IPV4;
        if (report)
          __builtin_memcpy(&w->src[4], &a->addr[12], 4);
      }
      n = 20;
    } else {
      w->src[0] = STAMP_TLV_U; /* not a request this reflector answers */
      n = 1;
    }
    stamp_tlv_patch(skb, sub, n);
    sub += STAMP_TLV_HDR + l;
  }
  return 0;
}

/* Pass 2's first step on the TLV at `off`: its header loaded into
 * w->src[0..3], its Length into *len. Returns 0, or -1 when no whole TLV
 * starts there (the end of the payload). */
static __always_inline int stamp_tlv_header(struct __sk_buff *skb, struct stamp_tlv_walk *w,
                                            __u32 off, __u32 *len)
{
  if (off >= w->end || w->end - off < STAMP_TLV_HDR || stamp_tlv_load(skb, w, off, 4))
    return -1;
  *len = ((__u32)w->src[2] << 8) | w->src[3];
  return *len > w->end - off - STAMP_TLV_HDR ? -1 : 0;
}

/* Pass 2, the well-formed TLV at w->off: answered in place. Returns 1 and
 * advances w->off; 2 for a Location TLV, left to stamp_tlv_location() at
 * w->loc_off; 0 to stop. */
__attribute__((noinline)) int stamp_tlv_apply_one(struct __sk_buff *skb)
{
  struct stamp_tlv_walk *w = stamp_tlv_work();
  if (!w)
    return 0;
  __u32 off = w->off;
  __u32 len;
  if (stamp_tlv_header(skb, w, off, &len))
    return 0;
  __u8 type = w->src[1];
  w->off = off + STAMP_TLV_HDR + len;
  w->len = len;
  __u8 *v = &w->src[STAMP_TLV_HDR];
  __u32 n = 1; /* octets to write back: the flags alone by default */
  w->src[0] = 0; /* understood: U, M, I and the reserved bits 0 */

  switch (type) {
  case STAMP_TLV_PADDING:
  case STAMP_TLV_HMAC: /* only reached verified (hook): flags cleared */
    break;
  case STAMP_TLV_LOCATION:
    /* Its own function, called by stamp_tlv_run(): a call less in depth
     * (the combined stack of the call chain is limited to 512 octets). */
    w->cnt.tlvs++;
    w->loc_off = off;
    return 2;
  case STAMP_TLV_TS_INFO:
    v[0] = w->sync_src;  /* Sync Src In: the clock T2 comes from */
    v[1] = w->ts_method; /* Timestamp In */
    v[2] = w->sync_src;  /* Sync Src Out: the clock T3 comes from */
    v[3] = w->ts_method; /* Timestamp Out */
    n = 8;
    break;
  case STAMP_TLV_COS: {
    if (stamp_tlv_load(skb, w, off, 8))
      return 0;
    __u8 dscp1 = v[0] >> 2;
    __u8 dscp2 = w->tos >> 2, ecn = w->tos & 3, rp = 0;
    w->src[0] = 0;
    if (dscp1 < 64 && (w->dscp_allowed >> dscp1) & 1) {
      w->new_tos_set = 1;
      w->new_tos = (dscp1 << 2) | ecn;
    } else {
      rp = 1; /* the reply keeps the DSCP it arrived with */
      w->cnt.cos_refused++;
    }
    v[0] = (dscp1 << 2) | (dscp2 >> 4);
    v[1] = ((dscp2 & 0xf) << 4) | (ecn << 2) | rp;
    v[2] = 0;
    v[3] = 0;
    n = 8;
    break;
  }
  case STAMP_TLV_DIRECT: {
    if (stamp_tlv_load(skb, w, off, 16))
      return 0;
    w->src[0] = 0;
    struct stamp_tlv_sess *s = stamp_tlv_session(w);
    __u32 rx = 0, tx = 0;
    if (s) {
      if (!w->sess_done) { /* one request, one count, however many DM TLVs */
        s->rx++;
        s->tx++;
        w->sess_done = 1;
      }
      rx = s->rx;
      tx = s->tx;
    }
    /* S_TxC (v[0..3]) stays as the sender wrote it. */
    stamp_put32(&v[4], rx);
    stamp_put32(&v[8], tx);
    n = 16;
    break;
  }
  case STAMP_TLV_ACCESS: {
    if (stamp_tlv_load(skb, w, off, 8))
      return 0;
    __u8 id = v[0] >> 4;
    if (id != 1 && id != 2) {
      /* 4.6: "a TLV that contains values other than '1' or '2' MUST be
       * discarded": not acted on, returned as not understood. */
      w->src[0] = STAMP_TLV_U;
      w->cnt.unknown++;
      stamp_tlv_patch(skb, off, 1);
      return 1;
    }
    w->src[0] = 0;
    v[0] = id << 4; /* Resv zeroed; Return Code (v[1]) echoed */
    v[2] = 0;
    v[3] = 0;
    n = 8;
    break;
  }
  case STAMP_TLV_FOLLOW_UP: {
    __builtin_memset(v, 0, 16);
    if (w->stateful) {
      w->mark_t3 = 1;
      struct stamp_tlv_sess *s = stamp_tlv_session(w);
      if (s && (s->flags & STAMP_TLV_SESS_HAS_T3)) {
        stamp_put32(&v[0], s->last_seq);
        stamp_put32(&v[4], s->last_t3 >> 32);
        stamp_put32(&v[8], (__u32)s->last_t3);
        v[12] = STAMP_TSM_SW; /* T3 is taken in tc egress */
      }
    } /* 4.7: a stateless reflector zeroes Sequence Number and Timestamp */
    n = 20;
    break;
  }
  default:
    w->src[0] = STAMP_TLV_U; /* 4: copied with U = 1, not processed */
    w->cnt.unknown++;
    stamp_tlv_patch(skb, off, 1);
    return 1;
  }
  w->cnt.tlvs++;
  stamp_tlv_patch(skb, off, n);
  return 1;
}

/* Pass 2 after an integrity failure: the TLV at w->off copied with I = 1
 * (U kept as received, M and reserved bits cleared). Returns 1 and
 * advances, or 0 at the end. */
__attribute__((noinline)) int stamp_tlv_flag_i_one(struct __sk_buff *skb)
{
  struct stamp_tlv_walk *w = stamp_tlv_work();
  if (!w)
    return 0;
  __u32 off = w->off;
  __u32 len;
  if (stamp_tlv_header(skb, w, off, &len))
    return 0;
  w->src[0] = (w->src[0] & STAMP_TLV_U) | STAMP_TLV_I;
  stamp_tlv_patch(skb, off, 1);
  w->off = off + STAMP_TLV_HDR + len;
  return 1;
}

/* The malformed TLV at w->bad_off: M = 1 (U cleared: it was looked at),
 * its malformed sub-TLV too, and a Follow-Up Telemetry TLV gets its
 * Sequence Number and Timestamp zeroed, as far as they are there (4.7,
 * erratum 8339). */
__attribute__((noinline)) int stamp_tlv_malformed(struct __sk_buff *skb, __u32 integrity)
{
  struct stamp_tlv_walk *w = stamp_tlv_work();
  if (!w || !w->bad_off)
    return 0;
  __u32 off = w->bad_off;
  __u32 left = off < w->end ? w->end - off : 0;
  if (left == 0)
    return 0;
  __u32 n = left < 16 ? left : 16;
  if (stamp_tlv_load(skb, w, off, n))
    return 0;
  w->src[0] = STAMP_TLV_M | (integrity ? STAMP_TLV_I : 0);
  if (!integrity && left >= STAMP_TLV_HDR && w->src[1] == STAMP_TLV_FOLLOW_UP) {
    __u32 z = left - STAMP_TLV_HDR;
    if (z > 12)
      z = 12;
    for (__u32 k = 0; k < 12; k++)
      if (k < z)
        w->src[(STAMP_TLV_HDR + k) & 31] = 0;
    n = STAMP_TLV_HDR + z;
  } else {
    n = 1;
  }
  stamp_tlv_patch(skb, off, n);
  if (w->bad_sub_off && w->bad_sub_off + STAMP_TLV_HDR <= w->end &&
      !stamp_tlv_load(skb, w, w->bad_sub_off, 1)) {
    w->src[0] = STAMP_TLV_M;
    stamp_tlv_patch(skb, w->bad_sub_off, 1);
  }
  return 0;
}

/* The reply's DSCP becomes the CoS TLV's DSCP1 (RFC 8972 4.4), its ECN
 * bits stay. MERGE HAZARD: a local TOS rewrite; the reflector's own
 * DSCP/ECN handling (another change) should take this over. */
static __always_inline void stamp_tlv_set_tos(struct __sk_buff *skb, struct stamp_tlv_walk *w)
{
  __u8 tos = w->new_tos;
  if (tos == w->tos)
    return;
  if (w->ipv6) {
    /* Version (4) | Traffic Class (8) | Flow Label (20); no header
     * checksum, and the UDP pseudo-header does not cover it. */
    __u8 b[2];
    if (bpf_skb_load_bytes(skb, w->l3_off, b, 2))
      return;
    b[0] = (b[0] & 0xf0) | (tos >> 4);
    b[1] = (b[1] & 0x0f) | (tos << 4);
    bpf_skb_store_bytes(skb, w->l3_off, b, 2, 0);
  } else {
    __u8 b[2];
    if (bpf_skb_load_bytes(skb, w->l3_off, b, 2))
      return;
    __be16 old = bpf_htons(((__u16)b[0] << 8) | b[1]);
    b[1] = tos;
    __be16 neu = bpf_htons(((__u16)b[0] << 8) | b[1]);
    if (bpf_skb_store_bytes(skb, w->l3_off, b, 2, 0))
      return;
    bpf_l3_csum_replace(skb, w->l3_off + offsetof(struct iphdr, check), old, neu, 2);
  }
}

/* The walk over the TLVs described by the work area (filled by
 * stamp_tlv_prepare()): both passes, the CoS rewrite, the counters.
 * Returns the skb->mark bits to add. Declared in stamp_tlv.bpf.h. */
__attribute__((noinline)) int stamp_tlv_run(struct __sk_buff *skb)
{
  struct stamp_tlv_walk *w = stamp_tlv_work();
  if (!w)
    return 0;
  __u32 base = w->first;
  __u8 stateful = w->stateful;
  __u32 idle_s = w->idle_s;
  struct stamp_tlv_cfg *cfg = stamp_map_only(&stamp_tlv_cfg);
  if (!cfg)
    return 0;
  __builtin_memset(w, 0, offsetof(struct stamp_tlv_walk, pkt));
  const struct stamp_pkt *p = &w->pkt;
  w->pl_off = p->payload_off;
  w->end = p->payload_off + p->payload_len;
  w->first = p->payload_off + base;
  w->csum_off = p->l4_off + offsetof(struct udphdr, check);
  w->l3_off = p->l3_off;
  w->idle_s = idle_s;
  w->ifindex = skb->ifindex;
  w->sport = p->sport;
  w->dport = p->dport;
  w->base_auth = base == STAMP_AUTH_BASE;
  w->ipv6 = p->ipv6;
  w->tos = p->tos;
  w->stateful = stateful;
  w->cfg_flags = cfg->flags;
  w->sync_src = cfg->sync_src;
  w->ts_method = cfg->ts_method;
  w->dscp_allowed = cfg->dscp_allowed;
  w->key.saddr = p->saddr;
  w->key.daddr = p->daddr;
  w->key.sport = p->sport;
  w->key.dport = p->dport;
  __be16 ssid = 0;
  bpf_skb_load_bytes(skb, w->pl_off + (w->base_auth ? 26 : 14), &ssid, 2);
  w->key.ssid = bpf_ntohs(ssid);
  w->cnt.packets = 1;

  /* Pass 1. */
  w->off = w->first;
  int i, r = 0;
  for (i = 0; i < STAMP_TLV_MAX; i++) {
    r = stamp_tlv_scan_one(skb);
    if (r <= 0)
      break;
  }
  w = stamp_tlv_work();
  if (!w)
    return 0;
  if (r > 0 && w->off < w->end)
    w->over = 1; /* more than STAMP_TLV_MAX: the rest is copied unchanged */

  /* Pass 2. */
  int integrity = stamp_tlv_hmac_verify(skb);
  w = stamp_tlv_work();
  if (!w)
    return 0;
  __u32 n_ok = w->n_ok;
  w->off = w->first;
  if (integrity == STAMP_TLV_HMAC_FAIL) {
    for (i = 0; i < STAMP_TLV_MAX; i++) {
      if (i >= n_ok || !stamp_tlv_flag_i_one(skb))
        break;
    }
  } else {
    for (i = 0; i < STAMP_TLV_MAX; i++) {
      if (i >= n_ok)
        break;
      r = stamp_tlv_apply_one(skb);
      if (r == 2)
        stamp_tlv_location(skb);
      else if (r == 0)
        break;
    }
  }
  stamp_tlv_malformed(skb, integrity == STAMP_TLV_HMAC_FAIL);
  if (integrity == STAMP_TLV_HMAC_OK)
    stamp_tlv_hmac_reply(skb);

  w = stamp_tlv_work();
  if (!w)
    return 0;
  if (w->new_tos_set && integrity != STAMP_TLV_HMAC_FAIL)
    stamp_tlv_set_tos(skb, w);
  if (w->bad_off)
    w->cnt.malformed = 1;
  if (integrity == STAMP_TLV_HMAC_FAIL)
    w->cnt.integrity = 1;
  if (w->over)
    w->cnt.over_limit = 1;

  __u32 ifindex = w->ifindex;
  __u32 mark = w->mark_t3 && integrity != STAMP_TLV_HMAC_FAIL ? STAMP_REFLECT_MARK_T3 : 0;
  struct stamp_tlv_counters *c = bpf_map_lookup_elem(&stamp_tlv_cnt, &ifindex);
  if (!c) {
    /* The first request on this interface: its tallies are the entry. */
    if (bpf_map_update_elem(&stamp_tlv_cnt, &ifindex, &w->cnt, BPF_NOEXIST) == 0)
      return mark;
    c = bpf_map_lookup_elem(&stamp_tlv_cnt, &ifindex);
  }
  if (c) {
    c->packets += w->cnt.packets;
    c->tlvs += w->cnt.tlvs;
    c->unknown += w->cnt.unknown;
    c->malformed += w->cnt.malformed;
    c->integrity += w->cnt.integrity;
    c->over_limit += w->cnt.over_limit;
    c->cos_refused += w->cnt.cos_refused;
    c->no_state += w->cnt.no_state;
  }
  return mark;
}

/* Declared in stamp_tlv.bpf.h. The work area keeps the request's parse;
 * stamp_tlv_run() fills in the rest. A global function, verified once on
 * its own (so `p` may be NULL for all the verifier knows). */
__attribute__((noinline)) int stamp_tlv_prepare(const struct stamp_pkt *p, __u32 base,
                                                __u32 stateful, __u32 idle_s)
{
  if (!p || p->payload_len <= base)
    return 0;
  struct stamp_tlv_cfg *cfg = stamp_map_only(&stamp_tlv_cfg);
  if (!cfg || !(cfg->flags & STAMP_TLV_CFG_ON))
    return 0;
  struct stamp_tlv_walk *w = stamp_tlv_work();
  if (!w)
    return 0;
  __builtin_memcpy(&w->pkt, p, sizeof(*p));
  w->first = base;
  w->stateful = stateful;
  w->idle_s = idle_s;
  return 1;
}

/* Declared in stamp_tlv.bpf.h. The session is found from the reply's
 * headers, reversed, and its SSID (at 14, or 26 for an authenticated
 * port). */
__hidden __attribute__((noinline)) int stamp_tlv_record_t3(struct __sk_buff *skb, __be32 t3_sec,
                                                           __be32 t3_frac)
{
  struct stamp_refl_sess_key key;
  __u32 payload_off;
  __u16 sport;
  { /* the parse is done with once the key is built: less stack */
    struct stamp_pkt p = {};
    if (stamp_parse(skb, &p) != STAMP_PARSE_UDP || p.payload_len < STAMP_UNAUTH_BASE)
      return -1;
    key = (struct stamp_refl_sess_key){
        .saddr = p.daddr, .daddr = p.saddr, .sport = p.dport, .dport = p.sport};
    payload_off = p.payload_off;
    sport = p.sport;
  }
  struct stamp_port_cfg *port = bpf_map_lookup_elem(&stamp_ports, &sport);
  if (!port)
    return -1;
  __be16 ssid = 0;
  __be32 seq = 0;
  if (bpf_skb_load_bytes(skb, payload_off + (port->auth ? 26 : 14), &ssid, 2) ||
      bpf_skb_load_bytes(skb, payload_off, &seq, 4))
    return -1;
  key.ssid = bpf_ntohs(ssid);
  struct stamp_tlv_sess *s = bpf_map_lookup_elem(&stamp_tlv_sess, &key);
  if (!s)
    return -1;
  s->last_seq = bpf_ntohl(seq);
  s->last_t3 = ((__u64)bpf_ntohl(t3_sec) << 32) | bpf_ntohl(t3_frac);
  s->flags |= STAMP_TLV_SESS_HAS_T3;
  return 0;
}
