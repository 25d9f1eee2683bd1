/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* BPF-only helpers shared by stampd's tc programs: header parsing, the
 * clock and two map idioms. Declarations and inline helpers only: the map
 * declared here is defined in stamp_common.bpf.c. Not included by C++; the
 * BPF/C++ contract is stamp_abi.h. */
#ifndef STAMP_PARSE_BPF_H
#define STAMP_PARSE_BPF_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "stamp_abi.h"

/* "Not mine": TC_ACT_UNSPEC is TCX_NEXT for tcx links and "continue with
 * the next filter" for cls_bpf, so other programs on the same hook (the
 * other stampd role, or anyone else's) still see the packet. TC_ACT_OK would
 * end the chain. */
#define STAMP_TC_NEXT TC_ACT_UNSPEC

#define STAMP_ETH_P_8021Q 0x8100
#define STAMP_IP_MF 0x2000
#define STAMP_IP_OFFMASK 0x1fff

struct stamp_vlan_hdr {
  __be16 tci;
  __be16 proto;
};

/* Where the headers of a UDP packet are, as offsets from skb->data. */
struct stamp_pkt {
  __u32 l3_off;
  __u32 l4_off;
  __u32 payload_off;
  __u32 payload_len; /* UDP length - 8 */
  __u32 l3_len;      /* IPv4 total length or IPv6 40 + payload length */
  __u16 sport;       /* host order */
  __u16 dport;       /* host order */
  __u8 ipv6;
  __u8 ttl;          /* TTL / Hop Limit as received */
  __u8 fragment;     /* IPv4 fragment (MF set or offset non-zero) */
  __u8 tos;          /* IPv4 TOS / IPv6 Traffic Class */
  __u8 ip_proto;     /* IPv4 protocol octet, for the TTL checksum word */
  __u8 pad[3];
  __be16 udp_check;  /* UDP checksum as received */
  __u8 macs[12];     /* destination then source MAC */
  struct stamp_addr_key saddr; /* IPv4 stored IPv4-mapped */
  struct stamp_addr_key daddr;
};

enum stamp_parse_result {
  STAMP_PARSE_NOT_UDP = 0, /* not IPv4/IPv6 UDP, or headers not reachable */
  STAMP_PARSE_UDP = 1,     /* UDP headers parsed, lengths consistent */
  STAMP_PARSE_BAD_LEN = 2, /* UDP packet whose lengths do not add up */
};

/* Upper bound on the offset of the UDP header (Ethernet + VLAN + IPv4 with
 * options); keeps offsets bounded for the verifier. */
#define STAMP_MAX_L4_OFF (14 + 4 + 60)

/* Parses Ethernet, one optional 802.1Q tag, IPv4 or IPv6 and UDP from the
 * linear part of the skb. Fills *p. IPv6 extension headers are not walked: a
 * UDP packet behind one is reported as STAMP_PARSE_NOT_UDP and passed. */
static __always_inline int stamp_parse(struct __sk_buff *skb, struct stamp_pkt *p)
{
  void *data = (void *)(long)skb->data;
  void *data_end = (void *)(long)skb->data_end;
  struct ethhdr *eth = data;
  __u32 off = sizeof(*eth);
  __u16 proto;

  if ((void *)(eth + 1) > data_end)
    return STAMP_PARSE_NOT_UDP;
  __builtin_memcpy(p->macs, eth, 12);
  proto = eth->h_proto;
  if (proto == bpf_htons(STAMP_ETH_P_8021Q)) {
    struct stamp_vlan_hdr *vh = data + off;
    if ((void *)(vh + 1) > data_end)
      return STAMP_PARSE_NOT_UDP;
    proto = vh->proto;
    off += sizeof(*vh);
  }
  p->l3_off = off;
  p->fragment = 0;

  if (proto == bpf_htons(ETH_P_IP)) {
    struct iphdr *iph = data + off;
    __u32 ihl;
    if ((void *)(iph + 1) > data_end)
      return STAMP_PARSE_NOT_UDP;
    if (iph->version != 4 || iph->protocol != IPPROTO_UDP)
      return STAMP_PARSE_NOT_UDP;
    ihl = iph->ihl * 4;
    if (ihl < sizeof(*iph))
      return STAMP_PARSE_NOT_UDP;
    p->ipv6 = 0;
    p->ttl = iph->ttl;
    p->tos = iph->tos;
    p->ip_proto = iph->protocol;
    __builtin_memset(&p->saddr, 0, sizeof(p->saddr));
    __builtin_memset(&p->daddr, 0, sizeof(p->daddr));
    p->saddr.addr[10] = p->saddr.addr[11] = 0xff;
    p->daddr.addr[10] = p->daddr.addr[11] = 0xff;
    __builtin_memcpy(&p->saddr.addr[12], &iph->saddr, 4);
    __builtin_memcpy(&p->daddr.addr[12], &iph->daddr, 4);
    p->l3_len = bpf_ntohs(iph->tot_len);
    if (iph->frag_off & bpf_htons(STAMP_IP_MF | STAMP_IP_OFFMASK)) {
      p->fragment = 1;
      /* Only a first fragment carries the UDP header. */
      if (iph->frag_off & bpf_htons(STAMP_IP_OFFMASK))
        return STAMP_PARSE_NOT_UDP;
    }
    off += ihl;
    if (p->l3_len < ihl + sizeof(struct udphdr))
      return STAMP_PARSE_BAD_LEN;
  } else if (proto == bpf_htons(ETH_P_IPV6)) {
    struct ipv6hdr *ip6h = data + off;
    if ((void *)(ip6h + 1) > data_end)
      return STAMP_PARSE_NOT_UDP;
    if (ip6h->version != 6 || ip6h->nexthdr != IPPROTO_UDP)
      return STAMP_PARSE_NOT_UDP;
    p->ipv6 = 1;
    p->ttl = ip6h->hop_limit;
    p->tos = (ip6h->priority << 4) | (ip6h->flow_lbl[0] >> 4);
    __builtin_memcpy(p->saddr.addr, &ip6h->saddr, 16);
    __builtin_memcpy(p->daddr.addr, &ip6h->daddr, 16);
    p->l3_len = sizeof(*ip6h) + bpf_ntohs(ip6h->payload_len);
    off += sizeof(*ip6h);
    if (p->l3_len < sizeof(*ip6h) + sizeof(struct udphdr))
      return STAMP_PARSE_BAD_LEN; /* includes jumbograms (payload length 0) */
  } else {
    return STAMP_PARSE_NOT_UDP;
  }

  if (off > STAMP_MAX_L4_OFF)
    return STAMP_PARSE_NOT_UDP;
  struct udphdr *udp = data + off;
  if ((void *)(udp + 1) > data_end)
    return STAMP_PARSE_NOT_UDP;
  p->l4_off = off;
  p->payload_off = off + sizeof(*udp);
  p->sport = bpf_ntohs(udp->source);
  p->dport = bpf_ntohs(udp->dest);
  p->udp_check = udp->check;

  if (p->fragment) {
    p->payload_len = 0; /* the UDP length describes the whole datagram */
    return STAMP_PARSE_UDP;
  }
  __u32 udp_len = bpf_ntohs(udp->len);
  __u32 l4_room = p->l3_len - (off - p->l3_off);
  if (udp_len < sizeof(*udp) || udp_len > l4_room)
    return STAMP_PARSE_BAD_LEN;
  if (p->l3_off + p->l3_len > skb->len)
    return STAMP_PARSE_BAD_LEN;
  p->payload_len = udp_len - sizeof(*udp);
  return STAMP_PARSE_UDP;
}

/* STAMP_MAP_CONFIG: the clock state stampd writes every second. Defined in
 * stamp_common.bpf.c, which each object links in: the reflector's and the
 * sender's have a map each, and stampd writes both (writeClockMap()). */
struct stamp_config_map {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct stamp_config);
};
extern struct stamp_config_map stamp_config SEC(".maps");

/* The one entry of an array map of one entry: a configuration written by
 * stampd (stamp_config, stamp_tlv_cfg, ...) or a per-CPU work area. */
static __always_inline void *stamp_map_only(void *map)
{
  __u32 key0 = 0;
  return bpf_map_lookup_elem(map, &key0);
}

/* The entry for `key` in the per-CPU counters map `map` (values of
 * `type`), created zeroed by the first packet that counts there; NULL when
 * the map is full. A macro, so that the zeroed value is built (on the
 * stack) only when the entry is missing. */
#define STAMP_COUNTERS_ENTRY(map, key, type)                                                     \
  ({                                                                                             \
    type *entry_ = bpf_map_lookup_elem(&(map), &(key));                                          \
    if (!entry_) {                                                                               \
      type zero_ = {};                                                                           \
      bpf_map_update_elem(&(map), &(key), &zero_, BPF_NOEXIST);                                  \
      entry_ = bpf_map_lookup_elem(&(map), &(key));                                              \
    }                                                                                            \
    entry_;                                                                                      \
  })

/* Current time as a wire timestamp (seconds, fraction) in network order. */
static __always_inline void stamp_ntp_from_tai(__u64 tai_ns, __s64 tai_offset_ns, __be32 *sec,
                                               __be32 *frac)
{
  __u64 ns = tai_ns - (__u64)tai_offset_ns;
  __u64 s = ns / 1000000000ULL;
  __u64 rem = ns - s * 1000000000ULL;
  *sec = bpf_htonl((__u32)(s + STAMP_NTP_UNIX_OFFSET));
  *frac = bpf_htonl((__u32)((rem << 32) / 1000000000ULL));
}

/* PTPv2 truncated: TAI seconds (low 32 bits) and nanoseconds. */
static __always_inline void stamp_ptp_from_tai(__u64 tai_ns, __be32 *sec, __be32 *nsec)
{
  __u64 s = tai_ns / 1000000000ULL;
  *sec = bpf_htonl((__u32)s);
  *nsec = bpf_htonl((__u32)(tai_ns - s * 1000000000ULL));
}

#endif /* STAMP_PARSE_BPF_H */
