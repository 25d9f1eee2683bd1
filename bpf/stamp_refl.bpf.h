/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The maps of the reflector that more than one of its units reads, declared
 * here, defined once in stamp_refl.bpf.c. The units (stamp_refl.bpf.c,
 * stamp_tlv.bpf.c, stamp_guard.bpf.c) are compiled apart and linked into the
 * one reflector object by bpftool gen object (libbpf's static linker; see
 * cmake/BpfSkeleton.cmake), which resolves each extern map below to its
 * definition and fails the build when the two differ.
 *
 * The map shapes are named structs so that the declaration and the
 * definition share one type. Declarations only.
 */
#ifndef STAMP_REFL_BPF_H
#define STAMP_REFL_BPF_H

#include "stamp_parse.bpf.h"

/* STAMP_MAP_PORTS: the reflector's UDP ports and how each answers. */
struct stamp_ports_map {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 64);
  __type(key, __u16);
  __type(value, struct stamp_port_cfg);
};
extern struct stamp_ports_map stamp_ports SEC(".maps");

/* STAMP_MAP_KEYS: the key midstates of the authenticated ports. */
struct stamp_keys_map {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 64);
  __type(key, __u16);
  __type(value, struct stamp_hmac_key);
};
extern struct stamp_keys_map stamp_keys SEC(".maps");

#endif /* STAMP_REFL_BPF_H */
