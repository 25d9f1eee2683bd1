// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The Session-Sender's kernel half.
 *
 * stamp_send_out (tc egress): writes T1 into outgoing test packets of active
 * sessions (found in stamp_sessions by local port and family, and matching
 * the session's peer address and port), as late as tc allows.
 *
 * stamp_send_in (tc ingress): recognises replies to active sessions, takes
 * T4, pushes one stamp_rx_record to the stamp_events ring buffer and drops
 * the reply so that no socket sees it. Replies to anything else pass.
 */
#include "stamp_auth.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";


/* Resized at load to the daemon's [limits] max_sessions (sender_bpf.cpp)
 * and allocated per entry, so an idle table costs only its buckets. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1 << 20);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct stamp_send_key);
  __type(value, struct stamp_send_session);
} stamp_sessions SEC(".maps");

#define STAMP_EVENTS_SIZE (1 << 22)
struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, STAMP_EVENTS_SIZE);
} stamp_events SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1 << 20);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, __u32);
  __type(value, struct stamp_hmac_key);
} stamp_send_keys SEC(".maps");

/* Whether a record for session `s` wakes the daemon. A session without
 * STAMP_SEND_F_WAKE (a continuous one nobody follows) is drained by the
 * daemon before its timers run, which it does at least once per
 * interval: thousands of sessions then cost a few wake-ups per timer
 * batch instead of one per reply. A ring an eighth full wakes it anyway. */
static __always_inline __u64 rx_wakeup(const struct stamp_send_session *s, void *ring, __u64 size)
{
  if (s->flags & STAMP_SEND_F_WAKE)
    return 0;
  return bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA) > size / 8 ? BPF_RB_FORCE_WAKEUP
                                                                 : BPF_RB_NO_WAKEUP;
}

/* What an authenticated session's packet `p` is signed or checked with:
 * the work area, and the session's key in *key. NULL when either is
 * missing or the packet is shorter than the authenticated base. */
static __always_inline struct stamp_auth_work *session_auth(const struct stamp_pkt *p,
                                                            const struct stamp_send_session *s,
                                                            struct stamp_hmac_key **key)
{
  __u32 id = s->session_id;
  *key = bpf_map_lookup_elem(&stamp_send_keys, &id);
  struct stamp_auth_work *w = stamp_map_only(&stamp_auth_work);
  if (!*key || !w || p->payload_len < STAMP_AUTH_BASE)
    return 0;
  return w;
}

/* T1 of an authenticated request, then its HMAC. */
static __always_inline int sign_request(struct __sk_buff *skb, const struct stamp_pkt *p,
                                        const struct stamp_send_session *s, __u64 now,
                                        const __be32 t1[2])
{
  struct stamp_hmac_key *key;
  struct stamp_auth_work *w = session_auth(p, s, &key);
  if (!w)
    return STAMP_TC_NEXT;
  if (bpf_skb_load_bytes(skb, p->payload_off, w->was, STAMP_AUTH_BASE))
    return STAMP_TC_NEXT;
  __builtin_memcpy(w->now, w->was, STAMP_AUTH_BASE);
  struct stamp_sender_auth *a = (void *)w->now;
  a->ts_sec = t1[0];
  a->ts_frac = t1[1];
  auth_sign_now(key, w);
  auth_store_now(skb, w, p->payload_off, p->l4_off + offsetof(struct udphdr, check));
  return STAMP_TC_NEXT;
}

/* The TLV octets of replies to sessions with STAMP_SEND_F_TLV (RFC 8972),
 * beside stamp_events, whose record layout is fixed. */
#define STAMP_TLV_EV_SIZE (1 << 21)
struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, STAMP_TLV_EV_SIZE); /* about 3,900 records of 532 octets */
} stamp_tlv_ev SEC(".maps");

/* Octets after the base of the reply `p` to session `s`, if it sends TLVs:
 * one stamp_tlv_record, the first STAMP_TLV_CAPTURE of them. `base` is 44,
 * or 112 for an authenticated session. A full ring loses
 * the record, not the reply. */
static __always_inline void push_tlvs(struct __sk_buff *skb, const struct stamp_pkt *p,
                                      const struct stamp_send_session *s, __u32 base,
                                      __be32 sender_seq, __be32 refl_seq, __be16 refl_err_est)
{
  if (!(s->flags & STAMP_SEND_F_TLV) || p->payload_len <= base)
    return;
  __u32 len = p->payload_len - base;
  __u64 cap = len < STAMP_TLV_CAPTURE ? len : STAMP_TLV_CAPTURE;
  asm volatile("%0 &= 1023" : "+r"(cap)); /* a bound the verifier sees */
  if (cap == 0 || cap > STAMP_TLV_CAPTURE)
    return;
  struct stamp_tlv_record *rec = bpf_ringbuf_reserve(&stamp_tlv_ev, sizeof(*rec), 0);
  if (!rec)
    return;
  rec->session_id = s->session_id;
  rec->sender_seq = bpf_ntohl(sender_seq);
  rec->refl_seq = bpf_ntohl(refl_seq);
  rec->refl_err_est = bpf_ntohs(refl_err_est);
  rec->pad = 0;
  rec->tlv_len = len > 0xffff ? 0xffff : len;
  rec->captured = cap;
  if (bpf_skb_load_bytes(skb, p->payload_off + base, rec->data, cap)) {
    bpf_ringbuf_discard(rec, 0);
    return;
  }
  bpf_ringbuf_submit(rec, rx_wakeup(s, &stamp_tlv_ev, STAMP_TLV_EV_SIZE));
}

static __always_inline int addr_eq(const struct stamp_addr_key *a, const struct stamp_addr_key *b)
{
  __u64 x[2], y[2];
  __builtin_memcpy(x, a->addr, 16);
  __builtin_memcpy(y, b->addr, 16);
  return x[0] == y[0] && x[1] == y[1];
}

SEC("tc")
int stamp_send_out(struct __sk_buff *skb)
{
  struct stamp_pkt p = {};
  if (stamp_parse(skb, &p) != STAMP_PARSE_UDP || p.fragment)
    return STAMP_TC_NEXT;
  struct stamp_send_key key = {.local_port = p.sport, .ipv6 = p.ipv6};
  struct stamp_send_session *s = bpf_map_lookup_elem(&stamp_sessions, &key);
  if (!s || s->peer_port != p.dport || !addr_eq(&s->peer, &p.daddr))
    return STAMP_TC_NEXT;
  if (p.payload_len < STAMP_UNAUTH_BASE)
    return STAMP_TC_NEXT;

  __u64 now = bpf_ktime_get_tai_ns();
  __be32 old_ts[2], t1[2];
  if (s->ts_format == STAMP_TS_PTP) {
    stamp_ptp_from_tai(now, &t1[0], &t1[1]);
  } else {
    struct stamp_config *cfg = stamp_map_only(&stamp_config);
    if (!cfg)
      return STAMP_TC_NEXT;
    stamp_ntp_from_tai(now, cfg->tai_offset_ns, &t1[0], &t1[1]);
  }
  if (s->flags & STAMP_SEND_F_AUTH)
    return sign_request(skb, &p, s, now, t1);
  __u32 ts_off = p.payload_off + offsetof(struct stamp_sender_unauth, ts_sec);
  if (bpf_skb_load_bytes(skb, ts_off, old_ts, sizeof(old_ts)))
    return STAMP_TC_NEXT;
  __s64 diff = bpf_csum_diff(old_ts, sizeof(old_ts), t1, sizeof(t1), 0);
  bpf_skb_store_bytes(skb, ts_off, t1, sizeof(t1), 0);
  bpf_l4_csum_replace(skb, p.l4_off + offsetof(struct udphdr, check), 0, diff,
                      BPF_F_MARK_MANGLED_0);
  return STAMP_TC_NEXT;
}

/* A reply to an authenticated session: the record from the 112-octet
 * layout, with whether its HMAC matched (the daemon discards one that did
 * not). Shorter replies are not the session's: the socket sees them. */
static __always_inline int auth_reply(struct __sk_buff *skb, const struct stamp_pkt *p,
                                      const struct stamp_send_session *s, __u64 t4)
{
  struct stamp_hmac_key *key;
  struct stamp_auth_work *w = session_auth(p, s, &key);
  if (!w)
    return STAMP_TC_NEXT;
  if (bpf_skb_load_bytes(skb, p->payload_off, w->now, STAMP_AUTH_BASE))
    return STAMP_TC_NEXT;
  __u8 flags = STAMP_RX_HAS_SSID | STAMP_RX_HAS_SENDER_TTL |
               (auth_verify_now(key, w) ? STAMP_RX_AUTH : STAMP_RX_AUTH_FAIL);
  const struct stamp_refl_auth *r = (const void *)w->now;
  /* TLVs after the 112-octet base (only a verified reply's are used). */
  if (flags & STAMP_RX_AUTH)
    push_tlvs(skb, p, s, STAMP_AUTH_BASE, r->sender_seq, r->seq, r->err_est);
  struct stamp_rx_record *rec = bpf_ringbuf_reserve(&stamp_events, sizeof(*rec), 0);
  if (!rec)
    return STAMP_TC_NEXT;
  rec->session_id = s->session_id;
  rec->sender_seq = bpf_ntohl(r->sender_seq);
  rec->refl_seq = bpf_ntohl(r->seq);
  rec->refl_err_est = bpf_ntohs(r->err_est);
  rec->sender_err_est = bpf_ntohs(r->sender_err_est);
  rec->t1 = ((__u64)bpf_ntohl(r->sender_ts_sec) << 32) | bpf_ntohl(r->sender_ts_frac);
  rec->t2 = ((__u64)bpf_ntohl(r->rx_sec) << 32) | bpf_ntohl(r->rx_frac);
  rec->t3 = ((__u64)bpf_ntohl(r->ts_sec) << 32) | bpf_ntohl(r->ts_frac);
  rec->t4_tai_ns = t4;
  rec->ssid = bpf_ntohs(r->ssid);
  rec->length = p->payload_len;
  rec->sender_ttl = r->sender_ttl;
  rec->reply_ttl = p->ttl;
  rec->reply_tos = p->tos;
  rec->flags = flags;
  bpf_ringbuf_submit(rec, rx_wakeup(s, &stamp_events, STAMP_EVENTS_SIZE));
  return TC_ACT_SHOT;
}

SEC("tc")
int stamp_send_in(struct __sk_buff *skb)
{
  __u64 t4 = bpf_ktime_get_tai_ns();
  struct stamp_pkt p = {};
  if (stamp_parse(skb, &p) != STAMP_PARSE_UDP || p.fragment)
    return STAMP_TC_NEXT;
  struct stamp_send_key key = {.local_port = p.dport, .ipv6 = p.ipv6};
  struct stamp_send_session *s = bpf_map_lookup_elem(&stamp_sessions, &key);
  if (!s || s->peer_port != p.sport || !addr_eq(&s->peer, &p.saddr))
    return STAMP_TC_NEXT;
  if (p.ipv6 && p.udp_check == 0)
    return STAMP_TC_NEXT; /* invalid in IPv6 (RFC 8200 section 8.1): not a reply */

  if (s->flags & STAMP_SEND_F_AUTH)
    return auth_reply(skb, &p, s, t4);

  /* RFC 8762 section 4.6: a TWAMP-Light reply may stop after the
   * Session-Sender Error Estimate (38) or the Session-Sender TTL (41). */
  struct stamp_refl_unauth r = {};
  __u8 flags = 0;
  if (p.payload_len >= STAMP_UNAUTH_BASE) {
    if (bpf_skb_load_bytes(skb, p.payload_off, &r, STAMP_UNAUTH_BASE))
      return STAMP_TC_NEXT;
    flags = STAMP_RX_HAS_SSID | STAMP_RX_HAS_SENDER_TTL;
  } else if (p.payload_len >= 41) {
    if (bpf_skb_load_bytes(skb, p.payload_off, &r, 41))
      return STAMP_TC_NEXT;
    flags = STAMP_RX_HAS_SENDER_TTL;
  } else if (p.payload_len >= 38) {
    if (bpf_skb_load_bytes(skb, p.payload_off, &r, 38))
      return STAMP_TC_NEXT;
  } else {
    return STAMP_TC_NEXT; /* too short to be a reply: let the socket see it */
  }

  struct stamp_rx_record *rec = bpf_ringbuf_reserve(&stamp_events, sizeof(*rec), 0);
  if (!rec)
    return STAMP_TC_NEXT; /* ring full: the daemon's socket still gets the reply */
  /* before the record, which may end the run */
  push_tlvs(skb, &p, s, STAMP_UNAUTH_BASE, r.sender_seq, r.seq, r.err_est);
  rec->session_id = s->session_id;
  rec->sender_seq = bpf_ntohl(r.sender_seq);
  rec->refl_seq = bpf_ntohl(r.seq);
  rec->refl_err_est = bpf_ntohs(r.err_est);
  rec->sender_err_est = bpf_ntohs(r.sender_err_est);
  rec->t1 = ((__u64)bpf_ntohl(r.sender_ts_sec) << 32) | bpf_ntohl(r.sender_ts_frac);
  rec->t2 = ((__u64)bpf_ntohl(r.rx_sec) << 32) | bpf_ntohl(r.rx_frac);
  rec->t3 = ((__u64)bpf_ntohl(r.ts_sec) << 32) | bpf_ntohl(r.ts_frac);
  rec->t4_tai_ns = t4;
  rec->ssid = bpf_ntohs(r.ssid);
  rec->length = p.payload_len;
  rec->sender_ttl = r.sender_ttl;
  rec->reply_ttl = p.ttl;
  rec->reply_tos = p.tos;
  rec->flags = flags;
  bpf_ringbuf_submit(rec, rx_wakeup(s, &stamp_events, STAMP_EVENTS_SIZE));
  return TC_ACT_SHOT;
}
