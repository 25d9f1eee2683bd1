/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The DSCP and ECN of a reflected packet: the IPv4 TOS octet or the IPv6
 * Traffic Class, both DSCP (6 bits, RFC 2474) then ECN (2 bits, RFC 3168),
 * rewritten in place in a tc program. BPF-only, like stamp_parse.bpf.h.
 *
 * Two steps, so that a caller with its own policy (the Class of Service TLV
 * of RFC 8972 section 4.4 sets the reply's DSCP to the TLV's DSCP1) can
 * reuse the second:
 *   stamp_tos_apply()  the new TOS from the received one and a policy;
 *   stamp_tos_write()  that TOS into the packet, IPv4 header checksum
 *                      updated incrementally (RFC 1624).
 * stamp_tos_reply() does both for a stamp_tos_cfg from STAMP_MAP_REFL_TOS.
 *
 * Neither the TOS nor the Traffic Class is in the UDP pseudo-header: the UDP
 * checksum stays valid. */
#ifndef STAMP_TOS_BPF_H
#define STAMP_TOS_BPF_H

#include "stamp_parse.bpf.h"

#define STAMP_TOS_DSCP_SHIFT 2
#define STAMP_TOS_ECN_MASK 0x03

/* `tos` with its DSCP and/or its ECN replaced, as `flags` (STAMP_TOS_*)
 * says; the field not named is kept. */
static __always_inline __u8 stamp_tos_apply(__u8 tos, __u8 flags, __u8 dscp, __u8 ecn)
{
  if (flags & STAMP_TOS_SET_DSCP)
    tos = (tos & STAMP_TOS_ECN_MASK) | (__u8)((dscp & 0x3f) << STAMP_TOS_DSCP_SHIFT);
  if (flags & STAMP_TOS_SET_ECN)
    tos = (tos & (__u8)~STAMP_TOS_ECN_MASK) | (ecn & STAMP_TOS_ECN_MASK);
  return tos;
}

/* Writes `tos` into the IP header that starts `l3_off` octets into the
 * packet: the IPv4 TOS octet, with the header checksum updated; or the IPv6
 * Traffic Class, which straddles the first two octets (version 4 bits,
 * Traffic Class 8, Flow Label 20), version and Flow Label kept.
 * Returns 0 (also when nothing changes), or -1 when a helper failed; the
 * packet may then be half-written and must be dropped. */
static __always_inline int stamp_tos_write(struct __sk_buff *skb, __u32 l3_off, int ipv6,
                                           __u8 tos)
{
  __u8 was[2], now[2];
  if (bpf_skb_load_bytes(skb, l3_off, was, sizeof(was)))
    return -1;
  if (ipv6) {
    now[0] = (was[0] & 0xf0) | (tos >> 4);
    now[1] = (__u8)(tos << 4) | (was[1] & 0x0f);
  } else {
    now[0] = was[0]; /* version and IHL */
    now[1] = tos;
  }
  if (now[0] == was[0] && now[1] == was[1])
    return 0;
  if (bpf_skb_store_bytes(skb, l3_off, now, sizeof(now), 0))
    return -1;
  if (!ipv6) {
    /* The first 16-bit word of the header, in network order as stored. */
    __be16 from, to;
    __builtin_memcpy(&from, was, 2);
    __builtin_memcpy(&to, now, 2);
    if (bpf_l3_csum_replace(skb, l3_off + offsetof(struct iphdr, check), from, to, 2))
      return -1;
  }
  return 0;
}

/* The reply's DSCP/ECN by a port's policy: `rx_tos` is the TOS / Traffic
 * Class the request arrived with (the reply was built from it in place, so
 * it still carries it). No flags: nothing to do. */
static __always_inline int stamp_tos_reply(struct __sk_buff *skb, __u32 l3_off, int ipv6,
                                           __u8 rx_tos, const struct stamp_tos_cfg *c)
{
  if (!(c->flags & (STAMP_TOS_SET_DSCP | STAMP_TOS_SET_ECN)))
    return 0;
  return stamp_tos_write(skb, l3_off, ipv6, stamp_tos_apply(rx_tos, c->flags, c->dscp, c->ecn));
}

#endif /* STAMP_TOS_BPF_H */
