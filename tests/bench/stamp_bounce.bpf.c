// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The benchmark's ceiling and its drop baseline: a tc ingress program that
 * does the least a reflector can do. For UDP packets to bounce_port it swaps
 * MACs, IP addresses and UDP ports (none of which changes a checksum) and
 * redirects the packet to the egress of the interface it arrived on. It
 * writes no timestamp, parses no VLAN tag, IPv4 options or IPv6 extension
 * headers, and touches no payload octet.
 *
 * With bounce_drop set at load time it drops those packets instead, which is
 * how the benchmark measures the cost of the offered load alone.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by the loader before the program is loaded. */
const volatile __u16 bounce_port = 862;
const volatile __u8 bounce_drop = 0;

/* Packets bounced (or dropped), one slot per CPU. */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
} stamp_bnc_count SEC(".maps");

static __always_inline void count(void)
{
  __u32 key = 0;
  __u64 *n = bpf_map_lookup_elem(&stamp_bnc_count, &key);
  if (n)
    (*n)++;
}

SEC("tc")
int stamp_bounce(struct __sk_buff *skb)
{
  void *data = (void *)(long)skb->data;
  void *data_end = (void *)(long)skb->data_end;
  struct ethhdr *eth = data;
  struct udphdr *udp;

  if ((void *)(eth + 1) > data_end)
    return TC_ACT_OK;

  if (eth->h_proto == bpf_htons(ETH_P_IP)) {
    struct iphdr *ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > data_end || ip->ihl != 5 || ip->protocol != IPPROTO_UDP)
      return TC_ACT_OK;
    udp = (void *)(ip + 1);
    if ((void *)(udp + 1) > data_end || udp->dest != bpf_htons(bounce_port))
      return TC_ACT_OK;
    count();
    if (bounce_drop)
      return TC_ACT_SHOT;
    __be32 a = ip->saddr;
    ip->saddr = ip->daddr;
    ip->daddr = a;
  } else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
    struct ipv6hdr *ip6 = (void *)(eth + 1);
    if ((void *)(ip6 + 1) > data_end || ip6->nexthdr != IPPROTO_UDP)
      return TC_ACT_OK;
    udp = (void *)(ip6 + 1);
    if ((void *)(udp + 1) > data_end || udp->dest != bpf_htons(bounce_port))
      return TC_ACT_OK;
    count();
    if (bounce_drop)
      return TC_ACT_SHOT;
    struct in6_addr a = ip6->saddr;
    ip6->saddr = ip6->daddr;
    ip6->daddr = a;
  } else {
    return TC_ACT_OK;
  }

  __be16 port = udp->source;
  udp->source = udp->dest;
  udp->dest = port;

  __u8 mac[ETH_ALEN];
  __builtin_memcpy(mac, eth->h_source, ETH_ALEN);
  __builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
  __builtin_memcpy(eth->h_dest, mac, ETH_ALEN);

  return bpf_redirect(skb->ifindex, 0);
}
