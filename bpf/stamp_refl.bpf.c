// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The STAMP Session-Reflector (RFC 8762 section 4.3), entirely in tc.
 *
 * stamp_refl_in (tc ingress): recognises STAMP requests addressed to this
 * host on a configured port, takes T2, turns the packet into the reply in
 * place (addresses, ports and MACs swapped, reflector fields written,
 * checksums updated incrementally) and redirects it to the egress of the
 * interface it arrived on, marked with STAMP_REFLECT_MARK.
 *
 * stamp_refl_out (tc egress): for marked packets only, writes T3 as late as
 * tc allows, in the format the reply's Error Estimate announces (Z bit),
 * fixes the UDP checksum for it and clears the mark.
 *
 * Per port: authenticated mode (RFC 8762 section 4.4: the request's HMAC
 * is checked in ingress before anything else; egress signs the reply after
 * T3, both finished from the key's midstates in stamp_keys), NTP or PTP timestamps (RFC 8762 section 4.2.1, Z from RFC 8186),
 * and stateless or stateful (RFC 8762 section 4.3.1: the reflector's own
 * sequence per session, kept in the LRU map stamp_refl_sess). The stateful
 * lookup happens only for ports configured so.
 *
 * DSCP and ECN of the reply: the request's, which the in-place reply keeps
 * (copy-received-value), unless stamp_refl_tos sets either
 * (use-configured-value); see stamp_tos.bpf.h.
 * RFC 8972 TLVs after the base are answered by stamp_refl_tlv, which
 * stamp_refl_in tail-calls; the walk is the unit stamp_tlv.bpf.c.
 *
 * Guards (the unit stamp_guard.bpf.c): martian sources, reflection loops
 * and amplification refused, allow and deny source prefixes, a rate limit
 * per source (IPv6: per prefix) and one for all sources; a refused request
 * is dropped, so its source gets nothing back, not even an ICMP error.
 *
 * Everything else passes untouched (STAMP_TC_NEXT: on to the next program).
 *
 * This unit holds the three programs and the maps they own; the guards and
 * the TLV walk are units of their own, declared in stamp_guard.bpf.h and
 * stamp_tlv.bpf.h and linked into the one reflector object by bpftool gen
 * object. The maps those units read from here are declared in
 * stamp_refl.bpf.h.
 */
#include "stamp_auth.bpf.h"
#include "stamp_guard.bpf.h"
#include "stamp_refl.bpf.h"
#include "stamp_tlv.bpf.h"
#include "stamp_tos.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Declared in stamp_refl.bpf.h. */
struct stamp_ports_map stamp_ports SEC(".maps");
struct stamp_keys_map stamp_keys SEC(".maps");

/* The replies' DSCP/ECN policy, one entry for all ports; zero: copy both. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct stamp_tos_cfg);
} stamp_refl_tos SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1024);
  __type(key, struct stamp_addr_key);
  __type(value, __u8);
} stamp_addrs SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
  __uint(max_entries, 256);
  __type(key, __u32);
  __type(value, struct stamp_refl_counters);
} stamp_counters SEC(".maps");

/* Sized from [reflector] max_sessions by stampd before load. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, STAMP_REFL_SESS_DEFAULT);
  __type(key, struct stamp_refl_sess_key);
  __type(value, struct stamp_refl_sess);
} stamp_refl_sess SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
  __uint(max_entries, 256);
  __type(key, __u32);
  __type(value, struct stamp_state_counters);
} stamp_state_cnt SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
  __uint(max_entries, 256);
  __type(key, __u32);
  __type(value, struct stamp_auth_counters);
} stamp_auth_cnt SEC(".maps");

static __always_inline struct stamp_auth_counters *auth_counters_for(__u32 ifindex)
{
  return STAMP_COUNTERS_ENTRY(stamp_auth_cnt, ifindex, struct stamp_auth_counters);
}

static __always_inline struct stamp_refl_counters *counters_for(__u32 ifindex)
{
  return STAMP_COUNTERS_ENTRY(stamp_counters, ifindex, struct stamp_refl_counters);
}

static __always_inline struct stamp_state_counters *state_counters_for(__u32 ifindex)
{
  return STAMP_COUNTERS_ENTRY(stamp_state_cnt, ifindex, struct stamp_state_counters);
}

/* RFC 8972 TLVs: the program stamp_refl_in tail-calls, with a stack of its
 * own (stamp_refl_in uses most of its 512 octets, and the walk's call chain
 * needs some), and its slot. The slot is initialised by libbpf when the
 * object loads and pinned with the other maps, so that it still holds the
 * program while stampd is not running. */
SEC("tc")
int stamp_refl_tlv(struct __sk_buff *skb);

struct {
  __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
  __uint(max_entries, 1);
  __uint(key_size, sizeof(__u32));
  __array(values, int(struct __sk_buff *));
} stamp_tlv_jmp SEC(".maps") = {
    .values = {[0] = (void *)&stamp_refl_tlv},
};

SEC("tc")
int stamp_refl_tlv(struct __sk_buff *skb)
{
  skb->mark |= stamp_tlv_run(skb);
  return bpf_redirect(skb->ifindex, 0);
}

/* stamp_refl_in's exit for an answered request: `skb` is the reply, `p`
 * the request's parse as received, `base` 44 or 112. With TLVs to answer,
 * the rest is stamp_refl_tlv's (a tail call: it does not return). Returns
 * when there is nothing to do or the tail call fails; the caller then
 * redirects the reply as it is, the octets after the base copied
 * unchanged. The tail call is made here, in stamp_refl_in's own frame: from
 * a subprogram the verifier would refuse it (stamp_refl_in's stack is over
 * 256 octets). */
static __always_inline void stamp_tlv_reflect(struct __sk_buff *skb, const struct stamp_pkt *p,
                                              __u32 base, __u8 stateful, __u32 idle_s)
{
  if (p->payload_len <= base)
    return; /* the common case: nothing after the base, no call */
  if (stamp_tlv_prepare(p, base, stateful, idle_s))
    bpf_tail_call(skb, &stamp_tlv_jmp, 0);
}

/* Stateful mode: the reflector Sequence Number for this request, from the
 * session's entry (created at 0, restarted at 0 after idle_s seconds without
 * a request). Returns 0, or -1 when no entry could be stored.
 *
 * The read-modify-write is not atomic (clang 14 at -mcpu=v1 has no fetch-add
 * that returns the old value): a session's packets hash to one RX queue, and
 * RPS keeps a flow on one CPU, so they do not run concurrently in practice. */
static __always_inline int session_seq(const struct stamp_refl_sess_key *key, __u32 idle_s,
                                       __u32 ifindex, __u32 *seq)
{
  __u64 now = bpf_ktime_get_ns();
  struct stamp_state_counters *sc; /* looked up only when one moves */
  struct stamp_refl_sess *s = bpf_map_lookup_elem(&stamp_refl_sess, key);
  if (!s) {
    struct stamp_refl_sess fresh = {.next_seq = 1, .last_ns = now};
    if (bpf_map_update_elem(&stamp_refl_sess, key, &fresh, BPF_NOEXIST) == 0) {
      sc = state_counters_for(ifindex);
      if (sc)
        sc->sessions_new++;
      *seq = 0;
      return 0;
    }
    /* Another CPU created it in between: carry on from its entry. */
    s = bpf_map_lookup_elem(&stamp_refl_sess, key);
    if (!s) {
      sc = state_counters_for(ifindex);
      if (sc)
        sc->drop_no_state++;
      return -1;
    }
  } else if (idle_s && now - s->last_ns > (__u64)idle_s * 1000000000ULL) {
    s->next_seq = 0; /* REFWAIT passed: a new instance of the session */
    sc = state_counters_for(ifindex);
    if (sc) {
      sc->sessions_new++;
      sc->sessions_expired++;
    }
  }
  __u32 n = s->next_seq;
  s->next_seq = n + 1;
  s->last_ns = now;
  *seq = n;
  return 0;
}

static __always_inline int drop(struct stamp_refl_counters *c, int reason)
{
  if (c && reason >= 0 && reason < STAMP_DROP_MAX)
    c->drop[reason]++;
  return TC_ACT_SHOT;
}

static __always_inline int bad_source_v4(const struct stamp_addr_key *k)
{
  __u32 a = ((__u32)k->addr[12] << 24) | ((__u32)k->addr[13] << 16) | ((__u32)k->addr[14] << 8) |
            k->addr[15];
  return (a >> 24) == 0 ||            /* 0.0.0.0/8: unspecified, "this network" */
         (a & 0xf0000000) == 0xe0000000 || /* 224.0.0.0/4: multicast */
         a == 0xffffffff;             /* limited broadcast */
}

static __always_inline int bad_source_v6(const struct stamp_addr_key *k)
{
  if (k->addr[0] == 0xff)
    return 1; /* ff00::/8: multicast */
  __u32 w[4];
  __builtin_memcpy(w, k->addr, 16);
  return (w[0] | w[1] | w[2] | w[3]) == 0; /* :: */
}

/* Largest prefix of a request the reflector reads: the unauthenticated base. */
#define BASE_WORDS (STAMP_UNAUTH_BASE / 4)

union base {
  struct stamp_sender_unauth req;
  struct stamp_refl_unauth reply;
  __be32 words[BASE_WORDS];
};

/* How this port answers: its timestamp format and, in stateful mode, the
 * sequence number the reply carries. */
struct refl_opts {
  __u32 seq; /* stateful only, host order */
  __u8 stateful;
  __u8 ptp;
};

/* The reply's base, from the request's base, the clock and the port. */
static __always_inline void build_reply(union base *reply, const union base *req,
                                        const struct stamp_config *cfg, __u64 t2, __u8 ttl,
                                        const struct refl_opts *o)
{
  __be32 t2_sec, t2_frac;
  __u16 err_est = (cfg->flags & STAMP_CFG_CLOCK_VALID) ? cfg->err_est : 0x3fff;
  err_est &= ~STAMP_EE_Z;
  if (o->ptp) {
    stamp_ptp_from_tai(t2, &t2_sec, &t2_frac);
    err_est |= STAMP_EE_Z; /* T2 and T3 are PTP (RFC 8186 section 2.3) */
  } else {
    stamp_ntp_from_tai(t2, cfg->tai_offset_ns, &t2_sec, &t2_frac);
  }
  /* Stateless: the reflector sequence is the sender's. */
  reply->reply.seq = o->stateful ? bpf_htonl(o->seq) : req->req.seq;
  reply->reply.ts_sec = t2_sec;    /* provisional T3; stamp_refl_out rewrites it */
  reply->reply.ts_frac = t2_frac;
  reply->reply.err_est = bpf_htons(err_est);
  reply->reply.ssid = req->req.ssid;
  reply->reply.rx_sec = t2_sec;
  reply->reply.rx_frac = t2_frac;
  reply->reply.sender_seq = req->req.seq;
  reply->reply.sender_ts_sec = req->req.ts_sec;
  reply->reply.sender_ts_frac = req->req.ts_frac;
  reply->reply.sender_err_est = req->req.err_est;
  reply->reply.sender_ttl = ttl;
}

/* RFC 1624: the header checksum after one 16-bit word changed. */
static __always_inline __sum16 csum_update16(__sum16 check, __be16 from, __be16 to)
{
  __u32 sum = (__u16)~bpf_ntohs(check) + (__u16)~bpf_ntohs(from) + bpf_ntohs(to);
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return bpf_htons(~sum & 0xffff);
}

/* The general way to address a request back to its sender: MACs,
 * addresses and ports swapped (none of that changes a checksum), TTL / Hop
 * Limit set to STAMP_REPLY_TTL. Returns 0, or -1 when the packet could not
 * be written. */
static __always_inline int turn_around(struct __sk_buff *skb, const struct stamp_pkt *p)
{
  __u8 macs[12];
  __builtin_memcpy(macs, &p->macs[6], 6);
  __builtin_memcpy(&macs[6], &p->macs[0], 6);
  __be16 ports[2] = {bpf_htons(p->dport), bpf_htons(p->sport)};
  __u8 ttl = STAMP_REPLY_TTL;
  if (bpf_skb_store_bytes(skb, 0, macs, sizeof(macs), 0) ||
      bpf_skb_store_bytes(skb, p->l4_off, ports, sizeof(ports), 0))
    return -1;
  if (p->ipv6) {
    struct stamp_addr_key addrs[2] = {p->daddr, p->saddr};
    if (bpf_skb_store_bytes(skb, p->l3_off + offsetof(struct ipv6hdr, saddr), addrs, 32, 0) ||
        bpf_skb_store_bytes(skb, p->l3_off + offsetof(struct ipv6hdr, hop_limit), &ttl, 1, 0))
      return -1;
  } else {
    __u8 addrs[8];
    __builtin_memcpy(addrs, &p->daddr.addr[12], 4);
    __builtin_memcpy(&addrs[4], &p->saddr.addr[12], 4);
    __be16 old_word = bpf_htons(((__u16)p->ttl << 8) | p->ip_proto);
    __be16 new_word = bpf_htons(((__u16)STAMP_REPLY_TTL << 8) | p->ip_proto);
    if (bpf_skb_store_bytes(skb, p->l3_off + offsetof(struct iphdr, saddr), addrs, 8, 0) ||
        bpf_skb_store_bytes(skb, p->l3_off + offsetof(struct iphdr, ttl), &ttl, 1, 0) ||
        bpf_l3_csum_replace(skb, p->l3_off + offsetof(struct iphdr, check), old_word, new_word, 2))
      return -1;
  }
  return 0;
}

/* Authenticated mode, ingress half: the request's HMAC, before anything
 * else uses the packet (RFC 8762 section 4.4). Leaves the request's base in
 * w->was. Returns 0 when it matches; otherwise counts and returns -1. */
static __always_inline int auth_check(struct __sk_buff *skb, const struct stamp_pkt *p,
                                      struct stamp_auth_work *w)
{
  struct stamp_auth_counters *ac = auth_counters_for(skb->ifindex);
  __u16 port = p->dport;
  if (p->payload_len < STAMP_AUTH_BASE) {
    if (ac)
      ac->short_++;
    return -1;
  }
  struct stamp_hmac_key *key = bpf_map_lookup_elem(&stamp_keys, &port);
  if (!key) {
    if (ac)
      ac->no_key++;
    return -1;
  }
  if (bpf_skb_load_bytes(skb, p->payload_off, w->now, STAMP_AUTH_BASE))
    return -1;
  if (!auth_verify_now(key, w)) {
    if (ac)
      ac->failed++;
    return -1;
  }
  if (ac)
    ac->verified++;
  __builtin_memcpy(w->was, w->now, STAMP_AUTH_BASE);
  return 0;
}

/* Authenticated mode: the 112-octet reply (RFC 8762 section 4.3.2) built in
 * place from the verified request in w->was. T3 and the HMAC are egress's:
 * the HMAC covers T3. Returns 0, or -1 when the packet could not be written. */
static __always_inline int reflect_auth(struct __sk_buff *skb, const struct stamp_pkt *p,
                                        const struct stamp_config *cfg, __u64 t2,
                                        const struct refl_opts *o, struct stamp_auth_work *w)
{
  const struct stamp_sender_auth *req = (const void *)w->was;
  struct stamp_refl_auth *r = (void *)w->now;
  __builtin_memset(w->now, 0, STAMP_AUTH_BASE);
  __be32 t2_sec, t2_frac;
  __u16 err_est = (cfg->flags & STAMP_CFG_CLOCK_VALID) ? cfg->err_est : 0x3fff;
  err_est &= ~STAMP_EE_Z;
  if (o->ptp) {
    stamp_ptp_from_tai(t2, &t2_sec, &t2_frac);
    err_est |= STAMP_EE_Z;
  } else {
    stamp_ntp_from_tai(t2, cfg->tai_offset_ns, &t2_sec, &t2_frac);
  }
  r->seq = o->stateful ? bpf_htonl(o->seq) : req->seq;
  r->ts_sec = t2_sec; /* provisional T3 */
  r->ts_frac = t2_frac;
  r->err_est = bpf_htons(err_est);
  r->ssid = req->ssid;
  r->rx_sec = t2_sec;
  r->rx_frac = t2_frac;
  r->sender_seq = req->seq;
  r->sender_ts_sec = req->ts_sec;
  r->sender_ts_frac = req->ts_frac;
  r->sender_err_est = req->err_est;
  r->sender_ttl = p->ttl;
  if (turn_around(skb, p))
    return -1;
  if (auth_store_now(skb, w, p->payload_off, p->l4_off + offsetof(struct udphdr, check)))
    return -1;
  skb->mark = STAMP_REFLECT_MARK | STAMP_REFLECT_MARK_AUTH | p->payload_off;
  return 0;
}

/* The common case with direct packet access: Ethernet (+ one 802.1Q tag),
 * IPv4 without options or IPv6, a request of at least 44 octets. L3_OFF and
 * IPV6 are constants at every call, so every offset is known to the
 * verifier. Returns 0 when the reply is built, -1 to take the general path
 * (the packet is then untouched). */
static __always_inline int reflect_fast(struct __sk_buff *skb, const struct stamp_pkt *p,
                                        const struct stamp_config *cfg, __u64 t2,
                                        const struct refl_opts *o, const __u32 L3_OFF,
                                        const int IPV6)
{
  const __u32 L4_OFF = L3_OFF + (IPV6 ? sizeof(struct ipv6hdr) : sizeof(struct iphdr));
  const __u32 PL_OFF = L4_OFF + sizeof(struct udphdr);
  void *data = (void *)(long)skb->data;
  void *data_end = (void *)(long)skb->data_end;
  if (data + PL_OFF + STAMP_UNAUTH_BASE > data_end)
    return -1;

  struct ethhdr *eth = data;
  __u8 mac[ETH_ALEN];
  __builtin_memcpy(mac, eth->h_dest, ETH_ALEN);
  __builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
  __builtin_memcpy(eth->h_source, mac, ETH_ALEN);

  if (IPV6) {
    struct ipv6hdr *ip6h = data + L3_OFF;
    struct in6_addr a = ip6h->saddr;
    ip6h->saddr = ip6h->daddr;
    ip6h->daddr = a;
    ip6h->hop_limit = STAMP_REPLY_TTL;
  } else {
    struct iphdr *iph = data + L3_OFF;
    __be32 a = iph->saddr;
    iph->saddr = iph->daddr;
    iph->daddr = a;
    __be16 old_word = bpf_htons(((__u16)iph->ttl << 8) | iph->protocol);
    iph->ttl = STAMP_REPLY_TTL;
    iph->check = csum_update16(iph->check, old_word,
                               bpf_htons(((__u16)STAMP_REPLY_TTL << 8) | iph->protocol));
  }
  struct udphdr *udp = data + L4_OFF;
  __be16 port = udp->source;
  udp->source = udp->dest;
  udp->dest = port;

  union base old, reply = {};
  __builtin_memcpy(&old, data + PL_OFF, sizeof(old));
  build_reply(&reply, &old, cfg, t2, p->ttl, o);
  __builtin_memcpy(data + PL_OFF, &reply, sizeof(reply));

  /* The UDP checksum through the kernel, which knows the skb's checksum
   * state (a partial checksum from a local sender must not be touched). */
  __s64 diff = bpf_csum_diff(old.words, sizeof(old), reply.words, sizeof(reply), 0);
  skb->mark = STAMP_REFLECT_MARK | PL_OFF;
  bpf_l4_csum_replace(skb, L4_OFF + offsetof(struct udphdr, check), 0, diff, BPF_F_MARK_MANGLED_0);
  return 0;
}

SEC("tc")
int stamp_refl_in(struct __sk_buff *skb)
{
  struct stamp_pkt p = {};
  int r = stamp_parse(skb, &p);

  if (r == STAMP_PARSE_NOT_UDP) {
    /* Headers may sit in paged data (GRO, some drivers); pull them once. */
    __u32 want = STAMP_MAX_L4_OFF + sizeof(struct udphdr) + STAMP_UNAUTH_BASE;
    if (skb->data_end - skb->data >= want || skb->len <= skb->data_end - skb->data)
      return STAMP_TC_NEXT;
    if (bpf_skb_pull_data(skb, skb->len < want ? skb->len : want))
      return STAMP_TC_NEXT;
    r = stamp_parse(skb, &p);
    if (r == STAMP_PARSE_NOT_UDP)
      return STAMP_TC_NEXT;
  }

  struct stamp_port_cfg *port = bpf_map_lookup_elem(&stamp_ports, &p.dport);
  if (!port)
    return STAMP_TC_NEXT;
  if (!bpf_map_lookup_elem(&stamp_addrs, &p.daddr))
    return STAMP_TC_NEXT; /* not addressed to this host: forwarded traffic */

  /* T2: as soon as the packet is known to be ours, so that other traffic
   * does not pay for the clock. */
  __u64 t2 = bpf_ktime_get_tai_ns();
  /* The guards (allow/deny prefixes, rate limits), after T2 so as not to
   * delay it, before every other check: a refused source costs a lookup or
   * two (never an HMAC) and leaves no state. Here, where stamp_refl_in's
   * stack stays within the 416 octets the SHA-256 subprogram leaves. */
  __u32 how = port->auth ? STAMP_GUARD_ARG_AUTH : 0;
  if (r == STAMP_PARSE_UDP && !p.fragment)
    how |= STAMP_GUARD_ARG_PAYLOAD;
  int refused = stamp_guard(skb, &p, t2, how);
  struct stamp_refl_counters *cnt = counters_for(skb->ifindex);
  if (cnt)
    cnt->rx++;
  if (refused)
    return TC_ACT_SHOT; /* counted in stamp_guard_cnt */
  if (p.fragment) {
    if (cnt)
      cnt->fragments++;
    return STAMP_TC_NEXT;
  }
  if (r == STAMP_PARSE_BAD_LEN)
    return drop(cnt, STAMP_DROP_MALFORMED);
  if (port->mode > STAMP_MODE_STATEFUL || port->auth > 1 || port->ts_format > STAMP_TS_PTP)
    return drop(cnt, STAMP_DROP_UNSUPPORTED);
  if (p.sport == 0)
    return drop(cnt, STAMP_DROP_SRC_PORT_ZERO);
  if ((p.macs[6] & 1) || (p.ipv6 ? bad_source_v6(&p.saddr) : bad_source_v4(&p.saddr)))
    return drop(cnt, STAMP_DROP_BAD_SOURCE);
  if (p.ipv6 && p.udp_check == 0)
    return drop(cnt, STAMP_DROP_BAD_CHECKSUM);

  struct stamp_config *cfg = stamp_map_only(&stamp_config);
  if (!cfg)
    return STAMP_TC_NEXT;

  /* Authenticated: nothing of the packet is used before its HMAC checks. */
  struct stamp_auth_work *aw = 0;
  if (port->auth) {
    aw = stamp_map_only(&stamp_auth_work);
    if (!aw)
      return TC_ACT_SHOT;
    if (auth_check(skb, &p, aw))
      return TC_ACT_SHOT; /* counted in stamp_auth_cnt */
  }

  struct refl_opts opts = {.ptp = port->ts_format == STAMP_TS_PTP};
  /* The reply's DSCP/ECN policy, copied: used after helpers that may move
   * the packet. */
  struct stamp_tos_cfg tos = {};
  struct stamp_tos_cfg *tos_cfg = stamp_map_only(&stamp_refl_tos);
  if (tos_cfg)
    tos = *tos_cfg;
  if (port->mode == STAMP_MODE_STATEFUL) {
    /* After every check that drops, so that junk creates no sessions. */
    struct stamp_refl_sess_key sk = {.saddr = p.saddr, .daddr = p.daddr, .sport = p.sport,
                                     .dport = p.dport};
    __be16 ssid;
    if (aw)
      sk.ssid = bpf_ntohs(((const struct stamp_sender_auth *)aw->was)->ssid);
    else if (p.payload_len >= offsetof(struct stamp_sender_unauth, ssid) + 2 &&
        bpf_skb_load_bytes(skb, p.payload_off + offsetof(struct stamp_sender_unauth, ssid),
                           &ssid, sizeof(ssid)) == 0)
      sk.ssid = bpf_ntohs(ssid);
    if (session_seq(&sk, port->idle_timeout_s, skb->ifindex, &opts.seq))
      return TC_ACT_SHOT; /* counted in stamp_state_cnt */
    opts.stateful = 1;
  }

  if (aw) {
    /* The TOS / Traffic Class is outside the HMAC: rewritten like any reply. */
    if (reflect_auth(skb, &p, cfg, t2, &opts, aw) ||
        stamp_tos_reply(skb, p.l3_off, p.ipv6, p.tos, &tos))
      return drop(cnt, STAMP_DROP_MALFORMED);
    if (cnt)
      cnt->reflected++;
    /* RFC 8972 TLVs after the 112-octet base (a tail call when there are). */
    stamp_tlv_reflect(skb, &p, STAMP_AUTH_BASE, opts.stateful, port->idle_timeout_s);
    return bpf_redirect(skb->ifindex, 0);
  }

  /* A computed 0 goes out as 0xffff: 0 means "no checksum" (IPv4) or is
   * invalid (IPv6). An IPv4 request without checksum keeps 0. */
  if (p.payload_len >= STAMP_UNAUTH_BASE) {
    int done = -1;
    if (p.ipv6) {
      if (p.l3_off == 14)
        done = reflect_fast(skb, &p, cfg, t2, &opts, 14, 1);
      else if (p.l3_off == 18)
        done = reflect_fast(skb, &p, cfg, t2, &opts, 18, 1);
    } else if (p.l4_off == p.l3_off + sizeof(struct iphdr)) {
      if (p.l3_off == 14)
        done = reflect_fast(skb, &p, cfg, t2, &opts, 14, 0);
      else if (p.l3_off == 18)
        done = reflect_fast(skb, &p, cfg, t2, &opts, 18, 0);
    }
    if (done == 0) {
      if (stamp_tos_reply(skb, p.l3_off, p.ipv6, p.tos, &tos))
        return drop(cnt, STAMP_DROP_MALFORMED);
      if (cnt)
        cnt->reflected++;
      /* RFC 8972 TLVs after the base. */
      stamp_tlv_reflect(skb, &p, STAMP_UNAUTH_BASE, opts.stateful, port->idle_timeout_s);
      return bpf_redirect(skb->ifindex, 0);
    }
  }

  /* The general path: IPv4 options, short requests, headers not linear. */
  __u64 csum_flags = BPF_F_MARK_MANGLED_0;
  __u32 csum_off = p.l4_off + offsetof(struct udphdr, check);

  if (turn_around(skb, &p))
    return drop(cnt, STAMP_DROP_MALFORMED);

  if (p.payload_len < STAMP_UNAUTH_BASE) {
    /* RFC 8762 section 4.6: a short (TWAMP-Light) request gets the base. */
    __be16 old_l3 = bpf_htons(p.ipv6 ? p.l3_len - sizeof(struct ipv6hdr) : p.l3_len);
    /* The UDP length governs: IP octets after the datagram are cut off. */
    __u32 l4_hdr_off = p.l4_off - p.l3_off;
    __be16 new_l3 = bpf_htons(p.ipv6 ? l4_hdr_off - sizeof(struct ipv6hdr) + 8 + STAMP_UNAUTH_BASE
                                     : l4_hdr_off + 8 + STAMP_UNAUTH_BASE);
    __be16 old_udp = bpf_htons(p.payload_len + sizeof(struct udphdr));
    __be16 new_udp = bpf_htons(STAMP_UNAUTH_BASE + sizeof(struct udphdr));
    if (bpf_skb_change_tail(skb, p.payload_off + STAMP_UNAUTH_BASE, 0))
      return drop(cnt, STAMP_DROP_RESIZE);
    if (p.ipv6) {
      if (bpf_skb_store_bytes(skb, p.l3_off + offsetof(struct ipv6hdr, payload_len), &new_l3, 2, 0))
        return drop(cnt, STAMP_DROP_RESIZE);
    } else {
      if (bpf_skb_store_bytes(skb, p.l3_off + offsetof(struct iphdr, tot_len), &new_l3, 2, 0) ||
          bpf_l3_csum_replace(skb, p.l3_off + offsetof(struct iphdr, check), old_l3, new_l3, 2))
        return drop(cnt, STAMP_DROP_RESIZE);
    }
    if (bpf_skb_store_bytes(skb, p.l4_off + offsetof(struct udphdr, len), &new_udp, 2, 0) ||
        bpf_l4_csum_replace(skb, csum_off, old_udp, new_udp, 2 | csum_flags) ||
        bpf_l4_csum_replace(skb, csum_off, old_udp, new_udp, 2 | BPF_F_PSEUDO_HDR | csum_flags))
      return drop(cnt, STAMP_DROP_RESIZE);
  }

  /* The request's base as the checksum knows it: octets a short request
   * lacked (now zero or padding in the grown packet) count as zero. */
  union base old = {}, reply = {};
  if (bpf_skb_load_bytes(skb, p.payload_off, &old, sizeof(old)))
    return drop(cnt, STAMP_DROP_MALFORMED);
  if (p.payload_len < STAMP_UNAUTH_BASE) {
    __u8 *b = (__u8 *)&old;
    for (int i = 0; i < STAMP_UNAUTH_BASE; i++)
      if (i >= p.payload_len)
        b[i] = 0;
  }

  build_reply(&reply, &old, cfg, t2, p.ttl, &opts);

  __s64 diff = bpf_csum_diff(old.words, sizeof(old), reply.words, sizeof(reply), 0);
  if (bpf_skb_store_bytes(skb, p.payload_off, &reply, sizeof(reply), 0) ||
      bpf_l4_csum_replace(skb, csum_off, 0, diff, csum_flags))
    return drop(cnt, STAMP_DROP_MALFORMED);
  if (stamp_tos_reply(skb, p.l3_off, p.ipv6, p.tos, &tos))
    return drop(cnt, STAMP_DROP_MALFORMED);

  skb->mark = STAMP_REFLECT_MARK | p.payload_off;
  if (cnt)
    cnt->reflected++;
  stamp_tlv_reflect(skb, &p, STAMP_UNAUTH_BASE, opts.stateful, port->idle_timeout_s);
  return bpf_redirect(skb->ifindex, 0);
}

/* Authenticated mode, egress half: T3 at octet 16, then the HMAC over
 * octets 0..95 (which include T3) with the key of the reply's source port.
 * A reply that cannot be signed is dropped: unsigned, the sender would
 * reject it anyway, and no unauthenticated octets leave an authenticated
 * port. */
static __always_inline int sign_reply(struct __sk_buff *skb, __u32 payload_off, __u32 mark)
{
  if (payload_off < sizeof(struct ethhdr) + sizeof(struct iphdr) + sizeof(struct udphdr) ||
      payload_off + STAMP_AUTH_BASE > skb->len)
    return TC_ACT_SHOT;
  struct stamp_config *cfg = stamp_map_only(&stamp_config);
  struct stamp_auth_work *w = stamp_map_only(&stamp_auth_work);
  __be16 sport;
  if (!cfg || !w || bpf_skb_load_bytes(skb, payload_off - sizeof(struct udphdr), &sport, 2))
    return TC_ACT_SHOT;
  __u16 port = bpf_ntohs(sport);
  struct stamp_hmac_key *key = bpf_map_lookup_elem(&stamp_keys, &port);
  if (!key || bpf_skb_load_bytes(skb, payload_off, w->was, STAMP_AUTH_BASE))
    return TC_ACT_SHOT;
  __builtin_memcpy(w->now, w->was, STAMP_AUTH_BASE);
  struct stamp_refl_auth *r = (void *)w->now;
  __u64 now = bpf_ktime_get_tai_ns();
  __be32 t3_sec, t3_frac;
  if (r->err_est & bpf_htons(STAMP_EE_Z))
    stamp_ptp_from_tai(now, &t3_sec, &t3_frac);
  else
    stamp_ntp_from_tai(now, cfg->tai_offset_ns, &t3_sec, &t3_frac);
  r->ts_sec = t3_sec;
  r->ts_frac = t3_frac;
  auth_sign_now(key, w);
  if (auth_store_now(skb, w, payload_off, payload_off - 2))
    return TC_ACT_SHOT;
  if (mark & STAMP_REFLECT_MARK_T3)
    stamp_tlv_record_t3(skb, t3_sec, t3_frac); /* the session's next Follow-Up TLV */
  struct stamp_refl_counters *cnt = counters_for(skb->ifindex);
  if (cnt)
    cnt->t3_stamped++;
  return STAMP_TC_NEXT;
}

SEC("tc")
int stamp_refl_out(struct __sk_buff *skb)
{
  if ((skb->mark & STAMP_REFLECT_MARK_MASK) != STAMP_REFLECT_MARK)
    return STAMP_TC_NEXT;
  __u32 mark = skb->mark;
  __u32 payload_off = mark & STAMP_REFLECT_MARK_OFF;
  skb->mark = 0;
  if (mark & STAMP_REFLECT_MARK_AUTH)
    return sign_reply(skb, payload_off, mark);
  if (payload_off < sizeof(struct ethhdr) + sizeof(struct iphdr) + sizeof(struct udphdr) ||
      payload_off + STAMP_UNAUTH_BASE > skb->len)
    return STAMP_TC_NEXT;

  struct stamp_config *cfg = stamp_map_only(&stamp_config);
  if (!cfg)
    return STAMP_TC_NEXT;

  /* Direct access: the offset is bounded (Ethernet + VLAN + IPv4 with
   * options + UDP is at most 86), so the verifier can follow it. */
  void *data = (void *)(long)skb->data;
  void *data_end = (void *)(long)skb->data_end;
  struct stamp_refl_unauth *r = data + (payload_off & 0x7f);
  if ((void *)r + offsetof(struct stamp_refl_unauth, ssid) > data_end)
    return STAMP_TC_NEXT;
  __be32 *ts = (void *)r + offsetof(struct stamp_refl_unauth, ts_sec);

  /* T3 in the format ingress announced in the reply's Error Estimate. */
  __u64 now = bpf_ktime_get_tai_ns();
  __be32 t3[2];
  if (r->err_est & bpf_htons(STAMP_EE_Z))
    stamp_ptp_from_tai(now, &t3[0], &t3[1]);
  else
    stamp_ntp_from_tai(now, cfg->tai_offset_ns, &t3[0], &t3[1]);
  /* The checksum difference of the 8 octets, in 32-bit ones' complement
   * as bpf_csum_diff() would give it: new words added, old ones subtracted. */
  __u64 sum = (__u64)t3[0] + t3[1] + (__u32)~ts[0] + (__u32)~ts[1];
  sum = (sum & 0xffffffff) + (sum >> 32);
  sum = (sum & 0xffffffff) + (sum >> 32);
  ts[0] = t3[0];
  ts[1] = t3[1];

  /* The UDP checksum field sits 2 octets before the payload. */
  if (bpf_l4_csum_replace(skb, payload_off - 2, 0, (__u32)sum, BPF_F_MARK_MANGLED_0))
    return STAMP_TC_NEXT;
  if (mark & STAMP_REFLECT_MARK_T3)
    stamp_tlv_record_t3(skb, t3[0], t3[1]); /* the session's next Follow-Up TLV */

  struct stamp_refl_counters *cnt = counters_for(skb->ifindex);
  if (cnt)
    cnt->t3_stamped++;
  return STAMP_TC_NEXT;
}
