/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The interface of the reflector's guards unit (stamp_guard.bpf.c, linked
 * into the reflector's object): declarations only.
 */
#ifndef STAMP_GUARD_BPF_H
#define STAMP_GUARD_BPF_H

#include "stamp_parse.bpf.h"

/* The guards' verdict on a request from `src` that arrived on `ifindex`:
 * 0 to go on with it, 1 to drop it (counted in stamp_guard_cnt, by
 * reason). Allow/deny prefixes first, then the rate limit per source, then
 * the one for all sources. A subprogram, not inlined: its locals then never
 * add to the stack of stamp_refl_in, which with the SHA-256 subprogram of
 * authenticated mode uses all of the 512 octets. */
int stamp_guard(const struct stamp_addr_key *src, __u32 ifindex);

#endif /* STAMP_GUARD_BPF_H */
