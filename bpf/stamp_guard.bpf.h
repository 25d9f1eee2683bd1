/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The interface of the reflector's guards unit (stamp_guard.bpf.c, linked
 * into the reflector's object): declarations only.
 */
#ifndef STAMP_GUARD_BPF_H
#define STAMP_GUARD_BPF_H

#include "stamp_parse.bpf.h"

/* What stamp_refl_in knows of a request that the guards use (`how`). */
#define STAMP_GUARD_ARG_AUTH 0x1    /* the port is authenticated (112-octet layout) */
#define STAMP_GUARD_ARG_PAYLOAD 0x2 /* payload_len holds: lengths consistent, not a fragment */

/* The guards' verdict on the request `p` (parsed from `skb`, T2 `t2`):
 * 0 to go on with it, 1 to drop it, counted by reason in stamp_abuse_cnt or
 * stamp_guard_cnt. First the abuse defences, which cost no state: a martian
 * source on an interface other than lo, a source port that is one of the
 * reflector's, a request shorter than the base (its reply would be larger),
 * a request that is a reflected packet (a loop); then the allow/deny
 * prefixes, the rate limit per source (IPv6 per prefix) and the one for all
 * sources. A subprogram, not inlined: its locals then never add to the
 * stack of stamp_refl_in, which with the SHA-256 subprogram of
 * authenticated mode uses all of the 512 octets. */
int stamp_guard(struct __sk_buff *skb, const struct stamp_pkt *p, __u64 t2, __u32 how);

#endif /* STAMP_GUARD_BPF_H */
