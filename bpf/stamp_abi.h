/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * stamp_abi.h: the one contract between stampd's BPF programs and its C++
 * side. Wire layouts (RFC 8762 base packets with the RFC 8972 SSID), map
 * keys and values, counters, the ring-buffer record, map and pin names.
 *
 * Rules: fixed-width types only, explicit padding, no bitfields. Every size
 * and offset is checked by static_assert in daemon/libstamp/abi_check.cpp.
 * Changing any layout here bumps STAMP_ABI_VERSION, which is part of the pin
 * path, so a new stampd never adopts maps of an old layout.
 *
 * Wire structs hold network-order values; everything else is host order.
 */
#ifndef STAMP_ABI_H
#define STAMP_ABI_H

#include <linux/types.h>

#include "stamp_sha256.h" /* struct stamp_hmac_key */

#define STAMP_ABI_VERSION 1

#define STAMP_STR_(x) #x
#define STAMP_STR(x) STAMP_STR_(x)

/* Pin names. A stampd adopts what an earlier one pinned under the same
 * names, so these are part of the ABI: renaming one strands the pins of a
 * running reflector.
 *
 * The pin directory is STAMP_PIN_ROOT/STAMP_PIN_SUBDIR ("v1" for ABI 1); the
 * root is configurable as [daemon] bpffs. In it:
 *   every map of the reflector's object, under its name (STAMP_MAP_*
 *   below), except the per-CPU work area STAMP_MAP_TLV_SCRATCH;
 *   per interface IFNAME, STAMP_PIN_LINK_PREFIX IFNAME followed by
 *     STAMP_PIN_LINK_IN / STAMP_PIN_LINK_OUT  the tcx links (ingress, egress),
 *     STAMP_PIN_MARK_TC      with cls_bpf: filters to remove at teardown,
 *     STAMP_PIN_MARK_CLSACT  with cls_bpf: the clsact qdisc stampd created;
 *   the two markers are empty directories (bpffs holds no regular files).
 * Programs are not pinned: the links and the filters hold them. */
#define STAMP_PIN_ROOT "/sys/fs/bpf/stamp"
#define STAMP_PIN_SUBDIR "v" STAMP_STR(STAMP_ABI_VERSION)
#define STAMP_PIN_LINK_PREFIX "link_"
#define STAMP_PIN_LINK_IN "_in"
#define STAMP_PIN_LINK_OUT "_out"
#define STAMP_PIN_MARK_TC "_tc"
#define STAMP_PIN_MARK_CLSACT "_clsact"

/* BPF object names: kernel limit is 15 characters. */
#define STAMP_PROG_REFL_IN "stamp_refl_in"
#define STAMP_PROG_REFL_OUT "stamp_refl_out"
#define STAMP_MAP_CONFIG "stamp_config"
#define STAMP_MAP_PORTS "stamp_ports"
#define STAMP_MAP_ADDRS "stamp_addrs"
#define STAMP_MAP_COUNTERS "stamp_counters"
#define STAMP_MAP_EVENTS "stamp_events"
#define STAMP_MAP_SESSIONS "stamp_sessions"
#define STAMP_MAP_REFL_SESS "stamp_refl_sess"
#define STAMP_MAP_STATE_COUNTERS "stamp_state_cnt"
#define STAMP_MAP_KEYS "stamp_keys"
#define STAMP_MAP_AUTH_COUNTERS "stamp_auth_cnt"
#define STAMP_MAP_SEND_KEYS "stamp_send_keys"
#define STAMP_MAP_REFL_TOS "stamp_refl_tos"
#define STAMP_MAP_ALLOW "stamp_allow"
#define STAMP_MAP_GUARD_CFG "stamp_guard_cfg"
#define STAMP_MAP_SRC_RATE "stamp_src_rate"
#define STAMP_MAP_ALL_RATE "stamp_all_rate"
#define STAMP_MAP_GUARD_COUNTERS "stamp_guard_cnt"
#define STAMP_MAP_ABUSE_COUNTERS "stamp_abuse_cnt"
#define STAMP_MAP_AUTH_WORK "stamp_auth_work" /* per-CPU work area (both objects) */
#define STAMP_PROG_SEND_IN "stamp_send_in"
#define STAMP_PROG_SEND_OUT "stamp_send_out"
/* RFC 8972 TLVs (reflector: stamp_tlv.bpf.c; sender: stamp_send.bpf.c). */
#define STAMP_MAP_TLV_CFG "stamp_tlv_cfg"
#define STAMP_MAP_TLV_SESS "stamp_tlv_sess"
#define STAMP_MAP_TLV_COUNTERS "stamp_tlv_cnt"
#define STAMP_MAP_TLV_SCRATCH "stamp_tlv_wk" /* per-CPU work area, never pinned */
#define STAMP_MAP_TLV_EVENTS "stamp_tlv_ev"
#define STAMP_MAP_TLV_JMP "stamp_tlv_jmp"         /* the slot of the program below */
#define STAMP_MAP_HMAC_VAR_WORK "stamp_hmac_varw" /* per-CPU work area of the HMAC TLV */
#define STAMP_PROG_REFL_TLV "stamp_refl_tlv"      /* tail-called by stamp_refl_in */

#define STAMP_PORT_DEFAULT 862
#define STAMP_UNAUTH_BASE 44
#define STAMP_AUTH_BASE 112
#define STAMP_AUTH_HMAC_OFF 96
#define STAMP_HMAC_LEN 16
/* Seconds from 1900-01-01 (NTP epoch) to 1970-01-01 (Unix epoch). */
#define STAMP_NTP_UNIX_OFFSET 2208988800ULL

/* Error Estimate bits (RFC 4656 section 4.1.2, Z from RFC 8186 section 2.3),
 * host order. */
#define STAMP_EE_S 0x8000
#define STAMP_EE_Z 0x4000
#define STAMP_EE_SCALE_SHIFT 8
#define STAMP_EE_SCALE_MASK 0x3f
#define STAMP_EE_MULT_MASK 0xff

/* skb->mark the ingress reflector puts on a reply it redirects, so that the
 * egress program recognises it, stamps T3 and clears the mark again. The
 * high half is this tag; the low half carries the offset of the STAMP
 * payload, so that egress need not parse the headers again. */
#define STAMP_REFLECT_MARK 0x57a30000u
#define STAMP_REFLECT_MARK_MASK 0xffff0000u
/* Low half of the mark: the payload offset (at most 86) in the low byte,
 * flags above it. STAMP_REFLECT_MARK_T3: the reply carries a Follow-Up
 * Telemetry TLV, so egress records its T3 for the session's next reply. */
#define STAMP_REFLECT_MARK_OFF 0x000000ffu
#define STAMP_REFLECT_MARK_T3 0x00008000u
/* STAMP_REFLECT_MARK_AUTH: the reply is authenticated (T3 at octet 16, and
 * egress signs it). */
#define STAMP_REFLECT_MARK_AUTH 0x00004000u

/* TTL / Hop Limit of reflected packets: 255 lets the sender count the hops
 * of the backward path (255 minus the TTL it sees). */
#define STAMP_REPLY_TTL 255

/* ---- Wire layouts (RFC 8762 section 4.2/4.3, RFC 8972 section 3) ---- */

/* Session-Sender test packet, unauthenticated: 44 octets. */
struct stamp_sender_unauth {
  __be32 seq;        /* 0 */
  __be32 ts_sec;     /* 4: T1, NTP seconds or PTP seconds */
  __be32 ts_frac;    /* 8: T1, NTP fraction or PTP nanoseconds */
  __be16 err_est;    /* 12 */
  __be16 ssid;       /* 14: RFC 8972; MBZ in RFC 8762 */
  __u8 mbz[28];      /* 16 */
} __attribute__((packed));

/* Session-Reflector test packet, unauthenticated: 44 octets. */
struct stamp_refl_unauth {
  __be32 seq;            /* 0 */
  __be32 ts_sec;         /* 4: T3 */
  __be32 ts_frac;        /* 8 */
  __be16 err_est;        /* 12: the reflector's clock */
  __be16 ssid;           /* 14: copied */
  __be32 rx_sec;         /* 16: T2 */
  __be32 rx_frac;        /* 20 */
  __be32 sender_seq;     /* 24 */
  __be32 sender_ts_sec;  /* 28: T1, copied */
  __be32 sender_ts_frac; /* 32 */
  __be16 sender_err_est; /* 36 */
  __u8 mbz1[2];          /* 38 */
  __u8 sender_ttl;       /* 40: TTL / Hop Limit the request arrived with */
  __u8 mbz2[3];          /* 41 */
} __attribute__((packed));

/* Session-Sender test packet, authenticated: 112 octets. */
struct stamp_sender_auth {
  __be32 seq;        /* 0 */
  __u8 mbz0[12];     /* 4 */
  __be32 ts_sec;     /* 16 */
  __be32 ts_frac;    /* 20 */
  __be16 err_est;    /* 24 */
  __be16 ssid;       /* 26 */
  __u8 mbz1[68];     /* 28 */
  __u8 hmac[16];     /* 96: HMAC-SHA-256/128 over octets 0..95 */
} __attribute__((packed));

/* Session-Reflector test packet, authenticated: 112 octets. */
struct stamp_refl_auth {
  __be32 seq;            /* 0 */
  __u8 mbz0[12];         /* 4 */
  __be32 ts_sec;         /* 16: T3 */
  __be32 ts_frac;        /* 20 */
  __be16 err_est;        /* 24 */
  __be16 ssid;           /* 26 */
  __u8 mbz1[4];          /* 28 */
  __be32 rx_sec;         /* 32: T2 */
  __be32 rx_frac;        /* 36 */
  __u8 mbz2[8];          /* 40 */
  __be32 sender_seq;     /* 48 */
  __u8 mbz3[12];         /* 52 */
  __be32 sender_ts_sec;  /* 64 */
  __be32 sender_ts_frac; /* 68 */
  __be16 sender_err_est; /* 72 */
  __u8 mbz4[6];          /* 74 */
  __u8 sender_ttl;       /* 80 */
  __u8 mbz5[15];         /* 81 */
  __u8 hmac[16];         /* 96 */
} __attribute__((packed));

/* ---- Maps ---- */

/* STAMP_MAP_CONFIG: array of one entry, written by stampd every second. */
struct stamp_config {
  __s64 tai_offset_ns; /* TAI - UTC, from adjtimex(); subtracted from TAI */
  __u16 err_est;       /* this host's Error Estimate, host order, Z = 0; the
                        * reflector sets Z itself on a PTP port */
  __u16 flags;         /* STAMP_CFG_* */
  __u32 pad;
};
#define STAMP_CFG_CLOCK_VALID 0x0001 /* stampd has written the clock state */

/* STAMP_MAP_PORTS: hash, key __u16 UDP port (host order). */
enum stamp_refl_mode {
  STAMP_MODE_STATELESS = 0, /* reflector sequence = sender's */
  STAMP_MODE_STATEFUL = 1,  /* own sequence per session, in STAMP_MAP_REFL_SESS */
};
enum stamp_ts_format {
  STAMP_TS_NTP = 0, /* Z = 0: NTP 64-bit, UTC */
  STAMP_TS_PTP = 1, /* Z = 1: PTPv2 truncated, TAI (bpf_ktime_get_tai_ns) */
};
/* idle_timeout_s took over four octets of what was padding: size and the
 * other offsets are those of ABI 1, and ABI 1 wrote zero there, so a pinned
 * map of an earlier build is adopted unchanged. */
struct stamp_port_cfg {
  __u8 mode;      /* enum stamp_refl_mode */
  __u8 ts_format; /* enum stamp_ts_format of T2 and T3, announced by Z */
  __u8 auth;      /* 1: authenticated mode (all-of-STAMP issue) */
  __u8 pad;
  __u32 idle_timeout_s; /* stateful: a session idle longer restarts at 0;
                         * 0: never (the LRU alone evicts) */
};

/* STAMP_MAP_REFL_TOS: array of one entry, beside stamp_ports (whose layout
 * is fixed by ABI 1): what the replies' DSCP and ECN become, on every port.
 * A field without its flag (all zero: a fresh map) keeps the request's value
 * (the STAMP YANG's copy-received-value). An array, not a hash keyed by
 * port: its lookup is inlined, where a hash lookup cost every reply ~18 ns. */
#define STAMP_TOS_SET_DSCP 0x01 /* the reply's DSCP is stamp_tos_cfg.dscp */
#define STAMP_TOS_SET_ECN 0x02  /* the reply's ECN is stamp_tos_cfg.ecn */
struct stamp_tos_cfg {
  __u8 flags; /* STAMP_TOS_* */
  __u8 dscp;  /* 0..63 */
  __u8 ecn;   /* 0..3: Not-ECT, ECT(1), ECT(0), CE (RFC 3168) */
  __u8 pad;
};

/* STAMP_MAP_ADDRS: hash of this host's addresses the reflector answers on.
 * IPv4 addresses are stored IPv4-mapped (::ffff:a.b.c.d). */
struct stamp_addr_key {
  __u8 addr[16];
};

/* STAMP_MAP_COUNTERS: per-CPU hash keyed by ifindex (__u32). */
enum stamp_drop_reason {
  STAMP_DROP_BAD_SOURCE = 0,  /* multicast, broadcast or unspecified source */
  STAMP_DROP_SRC_PORT_ZERO,   /* UDP source port 0 */
  STAMP_DROP_MALFORMED,       /* UDP length inconsistent with the IP header */
  STAMP_DROP_BAD_CHECKSUM,    /* IPv6 UDP checksum 0 (mandatory there) */
  STAMP_DROP_RESIZE,          /* could not grow a short request to 44 octets */
  STAMP_DROP_UNSUPPORTED,     /* port configured for a mode not built yet */
  STAMP_DROP_MAX,
};
struct stamp_refl_counters {
  __u64 rx;        /* STAMP requests seen (port and address matched) */
  __u64 reflected; /* replies sent */
  __u64 fragments; /* fragmented requests, passed to the stack unanswered */
  __u64 t3_stamped;/* replies that got T3 on egress */
  __u64 drop[STAMP_DROP_MAX];
};

/* ---- Stateful reflector (RFC 8762 section 4.3.1) ---- */

/* STAMP_MAP_REFL_SESS: LRU hash, one entry per test session: the 4-tuple as
 * received plus the SSID (0 when the request is too short to carry one).
 * max_entries is [reflector] max_sessions, set by stampd before load. */
#define STAMP_REFL_SESS_DEFAULT 65536 /* [reflector] max_sessions default */
#define STAMP_REFL_IDLE_DEFAULT_S 900 /* TWAMP REFWAIT (RFC 5357 section 4.2) */
struct stamp_refl_sess_key {
  struct stamp_addr_key saddr; /* the sender; IPv4 stored IPv4-mapped */
  struct stamp_addr_key daddr; /* this host */
  __u16 sport;                 /* host order */
  __u16 dport;                 /* host order */
  __u16 ssid;                  /* host order */
  __u16 pad;
};
struct stamp_refl_sess {
  __u32 next_seq; /* the reflector Sequence Number of the next reply */
  __u32 pad;
  __u64 last_ns;  /* bpf_ktime_get_ns() (CLOCK_MONOTONIC) of the last request */
};

/* STAMP_MAP_STATE_COUNTERS: per-CPU hash keyed by ifindex, beside
 * stamp_counters (whose layout is fixed by ABI 1). */
struct stamp_state_counters {
  __u64 sessions_new;     /* sessions started: first request, or after expiry */
  __u64 sessions_expired; /* of those, restarts after idle_timeout_s */
  __u64 drop_no_state;    /* requests dropped: no session entry could be stored */
  __u64 pad;
};

/* ---- Authenticated mode (RFC 8762 section 4.4) ---- */

/* STAMP_MAP_KEYS: hash keyed by UDP port (__u16, host order), value struct
 * stamp_hmac_key: the midstates of the key of an authenticated port (a
 * port's stamp_port_cfg.auth is 1). Never the key itself. */

/* STAMP_MAP_AUTH_COUNTERS: per-CPU hash keyed by ifindex. */
struct stamp_auth_counters {
  __u64 verified; /* requests whose HMAC matched */
  __u64 failed;   /* HMAC mismatch: dropped without reply */
  __u64 short_;   /* shorter than the 112-octet authenticated base: dropped */
  __u64 no_key;   /* authenticated port without a key in STAMP_MAP_KEYS */
};

/* ---- RFC 8972 TLVs ---- */

/* TLV header (RFC 8972 section 4): Flags, Type, Length of the Value. */
#define STAMP_TLV_HDR 4
#define STAMP_TLV_U 0x80 /* Unrecognized */
#define STAMP_TLV_M 0x40 /* Malformed */
#define STAMP_TLV_I 0x20 /* Integrity (HMAC) failed */
enum stamp_tlv_type {
  STAMP_TLV_PADDING = 1,   /* Extra Padding, 4.1 */
  STAMP_TLV_LOCATION = 2,  /* 4.2: Value = ports (4) + sub-TLVs */
  STAMP_TLV_TS_INFO = 3,   /* Timestamp Information, 4.3: Value >= 4 */
  STAMP_TLV_COS = 4,       /* Class of Service, 4.4: Value 4 */
  STAMP_TLV_DIRECT = 5,    /* Direct Measurement, 4.5: Value 12 */
  STAMP_TLV_ACCESS = 6,    /* Access Report, 4.6: Value 4 */
  STAMP_TLV_FOLLOW_UP = 7, /* Follow-Up Telemetry, 4.7: Value 16 */
  STAMP_TLV_HMAC = 8,      /* 4.8: Value 16 */
};
/* Location sub-TLV types (RFC 8972 4.2.1); Value lengths 8 or 16. */
enum stamp_loc_sub {
  STAMP_LOC_SRC_MAC = 1,   /* request; answered with 2 or 3 */
  STAMP_LOC_SRC_EUI48 = 2,
  STAMP_LOC_SRC_EUI64 = 3,
  STAMP_LOC_DST_IP = 4,    /* request; answered with 5 or 6 */
  STAMP_LOC_DST_IPV4 = 5,
  STAMP_LOC_DST_IPV6 = 6,
  STAMP_LOC_SRC_IP = 7,    /* request; answered with 8 or 9 */
  STAMP_LOC_SRC_IPV4 = 8,
  STAMP_LOC_SRC_IPV6 = 9,
};
/* Synchronization sources (RFC 8972 5.4) and timestamping methods (5.5). */
#define STAMP_SYNC_NTP 1
#define STAMP_SYNC_PTP 2
#define STAMP_SYNC_SSU 3
#define STAMP_SYNC_GPS 4
#define STAMP_SYNC_LOCAL 5
#define STAMP_TSM_HW 1
#define STAMP_TSM_SW 2 /* stampd: software timestamps taken in tc */
#define STAMP_TSM_CP 3

/* TLVs the reflector walks per request, and Location sub-TLVs per Location
 * TLV; what lies beyond is copied unchanged (and counted). */
#define STAMP_TLV_MAX 16
#define STAMP_LOC_SUB_MAX 8

/* STAMP_MAP_TLV_CFG: array of one entry, written by stampd. All zero (never
 * written): TLVs are not processed, octets after the base are copied as
 * RFC 8762 says. */
#define STAMP_TLV_CFG_ON 0x01       /* process TLVs (RFC 8972) */
#define STAMP_TLV_CFG_LOCATION 0x02 /* answer Location with addresses and
                                     * ports; otherwise zeros (4.2.2 policy) */
struct stamp_tlv_cfg {
  __u64 dscp_allowed; /* bit n set: DSCP n may be used for a reply (CoS TLV
                       * DSCP1); otherwise RP = 1 and the DSCP received */
  __u8 flags;         /* STAMP_TLV_CFG_* */
  __u8 sync_src;      /* STAMP_SYNC_* of this host's clock */
  __u8 ts_method;     /* STAMP_TSM_* of T2 and T3 */
  __u8 pad[5];
};

/* STAMP_MAP_TLV_SESS: LRU hash keyed by stamp_refl_sess_key (4-tuple +
 * SSID), sized like STAMP_MAP_REFL_SESS: what Direct Measurement and
 * Follow-Up Telemetry remember per session. */
#define STAMP_TLV_SESS_HAS_T3 0x1
struct stamp_tlv_sess {
  __u32 rx;       /* R_RxC: requests with a Direct Measurement TLV */
  __u32 tx;       /* R_TxC: replies to them */
  __u32 last_seq; /* reflector Sequence Number of the last reply stamped */
  __u32 flags;    /* STAMP_TLV_SESS_* */
  __u64 last_t3;  /* its Timestamp (T3) as sent: sec << 32 | frac */
  __u64 last_ns;  /* bpf_ktime_get_ns() of the last request */
};

/* STAMP_MAP_TLV_COUNTERS: per-CPU hash keyed by ifindex. */
struct stamp_tlv_counters {
  __u64 packets;     /* requests whose octets after the base were walked */
  __u64 tlvs;        /* TLVs understood and answered (U = 0) */
  __u64 unknown;     /* TLVs answered with U = 1 */
  __u64 malformed;   /* requests with a malformed TLV (M = 1, walk stopped) */
  __u64 integrity;   /* requests whose TLVs failed HMAC (I = 1) */
  __u64 over_limit;  /* requests with more than STAMP_TLV_MAX TLVs */
  __u64 cos_refused; /* CoS TLVs whose DSCP1 the policy refused (RP = 1) */
  __u64 no_state;    /* DM / Follow-Up TLVs without session state */
};

/* ---- Reflector guards: who gets answers, and how many ---- */

/* STAMP_MAP_ALLOW: LPM trie (BPF_F_NO_PREALLOC) of source prefixes from
 * [reflector] allow and deny. The key is laid out as the kernel's
 * bpf_lpm_trie_key: the prefix length, then the address in network order,
 * IPv4 stored IPv4-mapped (an IPv4 /24 is prefixlen 96 + 24), bits beyond
 * the prefix zero. The value is STAMP_RULE_*: the longest matching prefix
 * decides. */
#define STAMP_ALLOW_MAX 1024 /* prefixes in allow and deny together */
struct stamp_prefix_key {
  __u32 prefixlen; /* 0..128 */
  __u8 addr[16];
};
#define STAMP_RULE_DENY 0
#define STAMP_RULE_ALLOW 1

/* STAMP_MAP_GUARD_CFG: array of one entry, written by stampd at start and
 * at every reload. All zero: no guard at all.
 *
 * The rate limits are GCRA (the virtual-scheduling form of a token bucket):
 * a bucket keeps the theoretical arrival time TAT of its next request; a
 * request arriving at `now` passes when TAT - now <= tolerance, and then
 * TAT = max(TAT, now) + interval. A steady interval_ns between requests,
 * and tolerance / interval + 1 requests back to back (the burst).
 * interval 0: no limit. */
struct stamp_guard_cfg {
  __u32 flags; /* STAMP_GUARD_* */
  __u32 src6_prefix; /* IPv6 sources share a per-source bucket per prefix of
                      * this length (1..128); 0 (ABI 1's padding): 128 */
  __u64 src_interval_ns;  /* per source address: 1e9 / rate_limit_per_source */
  __u64 src_tolerance_ns; /* (burst - 1) * interval */
  __u64 all_interval_ns;  /* all sources together: 1e9 / rate_limit */
  __u64 all_tolerance_ns;
};
#define STAMP_GUARD_PREFIXES 0x0001     /* look the source up in stamp_allow */
#define STAMP_GUARD_DEFAULT_DENY 0x0002 /* no prefix matches: drop (allow is set) */
/* The abuse defences are on when their bit is clear, so that an entry of
 * all zeros (a fresh map) is the strict default. */
#define STAMP_GUARD_ALLOW_SHORT 0x0004 /* answer requests shorter than the
                                        * 44-octet base with the base: the
                                        * reply is then larger than the request */
#define STAMP_GUARD_ALLOW_REFL_SPORT 0x0008 /* answer requests whose UDP source
                                             * port is one of the reflector's */
#define STAMP_GUARD_ALLOW_REFLECTED 0x0010  /* answer requests that carry a
                                             * reflector's fields (see below) */
/* A request is taken for a reflected packet (another reflector's reply, or
 * one of ours coming back) when the seconds of the Receive Timestamp or of
 * the Session-Sender Timestamp slot of a reply's layout lie within this
 * many seconds of this host's clock, NTP or PTP. A Session-Sender zeroes
 * those octets (MBZ). */
#define STAMP_REFLECTED_WINDOW_S 16

/* STAMP_MAP_SRC_RATE: LRU hash, the per-source buckets: key the source
 * address (struct stamp_addr_key), value its TAT (__u64, CLOCK_MONOTONIC
 * ns, updated by compare-and-swap). A source evicted from the LRU comes
 * back with a full burst, as if it had been idle. */
#define STAMP_SRC_RATE_ENTRIES 16384

/* STAMP_MAP_ALL_RATE: array of one entry, the bucket of all sources, under
 * a BPF spin lock (CPUs serve different sources at once). stampd writes it
 * only to reset it (the kernel leaves the lock alone). */
#ifdef __bpf__
#define STAMP_SPIN_LOCK struct bpf_spin_lock
#else
#define STAMP_SPIN_LOCK __u32 /* struct bpf_spin_lock { __u32 val; } */
#endif
struct stamp_rate_all {
  STAMP_SPIN_LOCK lock;
  __u32 pad;
  __u64 tat_ns; /* CLOCK_MONOTONIC */
};

/* STAMP_MAP_GUARD_COUNTERS: per-CPU hash keyed by ifindex, beside
 * stamp_counters (whose layout is fixed by ABI 1): requests the guards
 * dropped, by reason. They also count in stamp_counters.rx. */
struct stamp_guard_counters {
  __u64 not_allowed;     /* source not in allow, or in deny */
  __u64 rate_per_source; /* over rate_limit_per_source */
  __u64 rate_global;     /* over rate_limit */
  __u64 pad;
};

/* STAMP_MAP_ABUSE_COUNTERS: per-CPU hash keyed by ifindex: requests refused
 * before the prefixes and rate limits, by reason. They also count in
 * stamp_counters.rx. */
struct stamp_abuse_counters {
  __u64 martian_source;      /* 127/8, 240/4, ::1, ::ffff:127/104 not on lo */
  __u64 reflector_source_port; /* UDP source port is one of the reflector's */
  __u64 reflected_packet;    /* carries a reflector's timestamps: a loop */
  __u64 short_request;       /* shorter than the base: the reply would be larger */
};

/* ---- Sender ---- */

/* STAMP_MAP_SESSIONS: hash keyed by the session's local UDP port and
 * address family; the daemon adds a session while it runs. */
struct stamp_send_key {
  __u16 local_port; /* host order */
  __u8 ipv6;        /* 0 IPv4, 1 IPv6 */
  __u8 pad;
};
struct stamp_send_session {
  __u32 session_id;
  __u16 peer_port;  /* host order */
  __u8 ts_format;   /* enum stamp_ts_format for T1 */
  __u8 flags;       /* STAMP_SEND_F_* */
  struct stamp_addr_key peer; /* IPv4 stored IPv4-mapped */
};

/* stamp_send_session.flags */
#define STAMP_SEND_F_AUTH 0x01 /* authenticated: 112-octet layout, signed with the
                                * midstates in STAMP_MAP_SEND_KEYS[session_id] */
#define STAMP_SEND_F_WAKE 0x02 /* each reply's record wakes the daemon (a client
                                * waits for the run); without it the daemon
                                * drains the ring before its timers run */

/* STAMP_MAP_SEND_KEYS: hash keyed by session_id (__u32), value struct
 * stamp_hmac_key. */
#define STAMP_SEND_F_TLV 0x40 /* the session sends TLVs: push each reply's
                               * TLV octets to STAMP_MAP_TLV_EVENTS */

/* stamp_rx_record.flags */
#define STAMP_RX_HAS_SSID 0x01       /* the reply held octets 14..15 (44 octets) */
#define STAMP_RX_HAS_SENDER_TTL 0x02 /* the reply held octet 40 (41 octets) */
#define STAMP_RX_AUTH 0x04           /* authenticated layout, HMAC verified */
#define STAMP_RX_AUTH_FAIL 0x08      /* authenticated layout, HMAC wrong */


/* One record per reply to an active session, pushed by the sender's ingress
 * program. Timestamps are the raw wire values (host order) so that the
 * daemon decodes them with the Z bit of the matching Error Estimate. */
struct stamp_rx_record {
  __u32 session_id;
  __u32 sender_seq;
  __u32 refl_seq;
  __u16 refl_err_est;
  __u16 sender_err_est;
  __u64 t1; /* sec << 32 | frac, as sent */
  __u64 t2;
  __u64 t3;
  __u64 t4_tai_ns; /* bpf_ktime_get_tai_ns() at ingress */
  __u16 ssid;
  __u16 length;    /* STAMP payload octets */
  __u8 sender_ttl; /* Session-Sender TTL field of the reply */
  __u8 reply_ttl;  /* TTL / Hop Limit of the reply's IP header */
  __u8 reply_tos;  /* TOS / Traffic Class of the reply */
  __u8 flags;
};

/* One record per reply that carried octets after the base, for sessions
 * with STAMP_SEND_F_TLV, on the ring buffer STAMP_MAP_TLV_EVENTS. It is
 * submitted before the reply's stamp_rx_record, and the daemon drains this
 * ring first, so that a reply's TLVs are in before the record that may end
 * the run. */
#define STAMP_TLV_CAPTURE 512
struct stamp_tlv_record {
  __u32 session_id;
  __u32 sender_seq;   /* Session-Sender Sequence Number of the reply */
  __u32 refl_seq;     /* its reflector Sequence Number */
  __u16 refl_err_est; /* its Error Estimate (Z: the timestamps' format) */
  __u16 tlv_len;      /* octets after the base in the reply */
  __u16 captured;     /* of those, the first ones in data[] */
  __u16 pad;
  __u8 data[STAMP_TLV_CAPTURE];
};

#endif /* STAMP_ABI_H */
