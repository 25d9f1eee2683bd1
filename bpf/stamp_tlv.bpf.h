/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The interface of the reflector's RFC 8972 TLV unit (stamp_tlv.bpf.c,
 * linked into the reflector's object): declarations only. The walk itself,
 * its maps (stamp_tlv_cfg, stamp_tlv_sess, stamp_tlv_cnt and two per-CPU
 * work areas) and the way it answers each TLV are that unit's.
 *
 * The reflector (stamp_refl.bpf.c) uses it in three places:
 *   stamp_refl_in   for an answered request longer than its base:
 *                   stamp_tlv_prepare(), then, when it says so, a tail call
 *                   to the program stamp_refl_tlv (its own stack: the walk's
 *                   call chain does not fit beside stamp_refl_in's);
 *   stamp_refl_tlv  stamp_tlv_run(), the walk;
 *   stamp_refl_out  stamp_tlv_record_t3() for a reply marked
 *                   STAMP_REFLECT_MARK_T3.
 */
#ifndef STAMP_TLV_BPF_H
#define STAMP_TLV_BPF_H

#include "stamp_parse.bpf.h"

/* `p` is the request's parse as received, the reply (base written,
 * addresses swapped, marked for egress) now in the packet; `base` is 44, or
 * 112 in authenticated mode; `stateful`/`idle_s` the port's mode. With TLV
 * processing on and octets after the base, hands the request over to
 * stamp_tlv_run() (in the per-CPU work area) and returns 1: the caller then
 * tail-calls stamp_refl_tlv. 0: nothing to do, the octets after the base
 * go back unchanged. */
int stamp_tlv_prepare(const struct stamp_pkt *p, __u32 base, __u32 stateful, __u32 idle_s);

/* The walk over the TLVs stamp_tlv_prepare() handed over: both passes, the
 * Class of Service rewrite, the counters. Returns the skb->mark bits to
 * add (STAMP_REFLECT_MARK_T3 for a Follow-Up Telemetry TLV). */
int stamp_tlv_run(struct __sk_buff *skb);

/* For a reply marked STAMP_REFLECT_MARK_T3: `t3_sec`/`t3_frac` are the
 * Timestamp just written (network order); it and the reply's Sequence
 * Number become the session's Follow-Up Telemetry for its next reply.
 * Returns 0, or -1 when there is no such session. */
int stamp_tlv_record_t3(struct __sk_buff *skb, __be32 t3_sec, __be32 t3_frac);

#endif /* STAMP_TLV_BPF_H */
