// Compile-time proof that the C++ view of bpf/stamp_abi.h matches the wire
// and the BPF programs' view. A failure here means the header changed: check
// the layout against docs/stamp-wire.md and bump STAMP_ABI_VERSION.
#include <cstddef>

#include "stamp_abi.h"

#define AT(type, field, off) static_assert(offsetof(type, field) == (off), #type "." #field)

static_assert(sizeof(stamp_sender_unauth) == STAMP_UNAUTH_BASE);
AT(stamp_sender_unauth, seq, 0);
AT(stamp_sender_unauth, ts_sec, 4);
AT(stamp_sender_unauth, ts_frac, 8);
AT(stamp_sender_unauth, err_est, 12);
AT(stamp_sender_unauth, ssid, 14);
AT(stamp_sender_unauth, mbz, 16);

static_assert(sizeof(stamp_refl_unauth) == STAMP_UNAUTH_BASE);
AT(stamp_refl_unauth, seq, 0);
AT(stamp_refl_unauth, ts_sec, 4);
AT(stamp_refl_unauth, ts_frac, 8);
AT(stamp_refl_unauth, err_est, 12);
AT(stamp_refl_unauth, ssid, 14);
AT(stamp_refl_unauth, rx_sec, 16);
AT(stamp_refl_unauth, rx_frac, 20);
AT(stamp_refl_unauth, sender_seq, 24);
AT(stamp_refl_unauth, sender_ts_sec, 28);
AT(stamp_refl_unauth, sender_ts_frac, 32);
AT(stamp_refl_unauth, sender_err_est, 36);
AT(stamp_refl_unauth, mbz1, 38);
AT(stamp_refl_unauth, sender_ttl, 40);
AT(stamp_refl_unauth, mbz2, 41);

static_assert(sizeof(stamp_sender_auth) == STAMP_AUTH_BASE);
AT(stamp_sender_auth, seq, 0);
AT(stamp_sender_auth, mbz0, 4);
AT(stamp_sender_auth, ts_sec, 16);
AT(stamp_sender_auth, ts_frac, 20);
AT(stamp_sender_auth, err_est, 24);
AT(stamp_sender_auth, ssid, 26);
AT(stamp_sender_auth, mbz1, 28);
AT(stamp_sender_auth, hmac, STAMP_AUTH_HMAC_OFF);

static_assert(sizeof(stamp_refl_auth) == STAMP_AUTH_BASE);
AT(stamp_refl_auth, seq, 0);
AT(stamp_refl_auth, mbz0, 4);
AT(stamp_refl_auth, ts_sec, 16);
AT(stamp_refl_auth, ts_frac, 20);
AT(stamp_refl_auth, err_est, 24);
AT(stamp_refl_auth, ssid, 26);
AT(stamp_refl_auth, mbz1, 28);
AT(stamp_refl_auth, rx_sec, 32);
AT(stamp_refl_auth, rx_frac, 36);
AT(stamp_refl_auth, mbz2, 40);
AT(stamp_refl_auth, sender_seq, 48);
AT(stamp_refl_auth, mbz3, 52);
AT(stamp_refl_auth, sender_ts_sec, 64);
AT(stamp_refl_auth, sender_ts_frac, 68);
AT(stamp_refl_auth, sender_err_est, 72);
AT(stamp_refl_auth, mbz4, 74);
AT(stamp_refl_auth, sender_ttl, 80);
AT(stamp_refl_auth, mbz5, 81);
AT(stamp_refl_auth, hmac, STAMP_AUTH_HMAC_OFF);

static_assert(sizeof(stamp_config) == 16);
AT(stamp_config, tai_offset_ns, 0);
AT(stamp_config, err_est, 8);
AT(stamp_config, flags, 10);

static_assert(sizeof(stamp_port_cfg) == 8);
AT(stamp_port_cfg, mode, 0);
AT(stamp_port_cfg, ts_format, 1);
AT(stamp_port_cfg, auth, 2);
AT(stamp_port_cfg, idle_timeout_s, 4);

static_assert(sizeof(stamp_tos_cfg) == 4);
AT(stamp_tos_cfg, flags, 0);
AT(stamp_tos_cfg, dscp, 1);
AT(stamp_tos_cfg, ecn, 2);
static_assert(sizeof(STAMP_MAP_REFL_TOS) - 1 <= 15, "BPF object names: at most 15 characters");

static_assert(sizeof(stamp_refl_sess_key) == 40);
AT(stamp_refl_sess_key, saddr, 0);
AT(stamp_refl_sess_key, daddr, 16);
AT(stamp_refl_sess_key, sport, 32);
AT(stamp_refl_sess_key, dport, 34);
AT(stamp_refl_sess_key, ssid, 36);
static_assert(sizeof(stamp_refl_sess) == 16);
AT(stamp_refl_sess, next_seq, 0);
AT(stamp_refl_sess, last_ns, 8);

static_assert(sizeof(stamp_state_counters) == 32);
AT(stamp_state_counters, sessions_new, 0);
AT(stamp_state_counters, sessions_expired, 8);
AT(stamp_state_counters, drop_no_state, 16);

static_assert(sizeof(stamp_prefix_key) == 20);  // the kernel's bpf_lpm_trie_key layout
AT(stamp_prefix_key, prefixlen, 0);
AT(stamp_prefix_key, addr, 4);
static_assert(sizeof(stamp_guard_cfg) == 40);
AT(stamp_guard_cfg, flags, 0);
AT(stamp_guard_cfg, src6_prefix, 4);
AT(stamp_guard_cfg, src_interval_ns, 8);
AT(stamp_guard_cfg, src_tolerance_ns, 16);
AT(stamp_guard_cfg, all_interval_ns, 24);
AT(stamp_guard_cfg, all_tolerance_ns, 32);
static_assert(sizeof(stamp_rate_all) == 16);  // struct bpf_spin_lock is 4 octets
AT(stamp_rate_all, tat_ns, 8);
static_assert(sizeof(stamp_guard_counters) == 32);
AT(stamp_guard_counters, not_allowed, 0);
AT(stamp_guard_counters, rate_per_source, 8);
AT(stamp_guard_counters, rate_global, 16);
static_assert(sizeof(stamp_abuse_counters) == 32);
AT(stamp_abuse_counters, martian_source, 0);
AT(stamp_abuse_counters, reflector_source_port, 8);
AT(stamp_abuse_counters, reflected_packet, 16);
AT(stamp_abuse_counters, short_request, 24);

static_assert(sizeof(stamp_addr_key) == 16);

static_assert(sizeof(stamp_refl_counters) == sizeof(__u64) * (4 + STAMP_DROP_MAX));
AT(stamp_refl_counters, rx, 0);
AT(stamp_refl_counters, reflected, 8);
AT(stamp_refl_counters, fragments, 16);
AT(stamp_refl_counters, t3_stamped, 24);
AT(stamp_refl_counters, drop, 32);

static_assert(sizeof(stamp_rx_record) == 56);
AT(stamp_rx_record, session_id, 0);
AT(stamp_rx_record, sender_seq, 4);
AT(stamp_rx_record, refl_seq, 8);
AT(stamp_rx_record, refl_err_est, 12);
AT(stamp_rx_record, sender_err_est, 14);
AT(stamp_rx_record, t1, 16);
AT(stamp_rx_record, t2, 24);
AT(stamp_rx_record, t3, 32);
AT(stamp_rx_record, t4_tai_ns, 40);
AT(stamp_rx_record, ssid, 48);
AT(stamp_rx_record, length, 50);
AT(stamp_rx_record, sender_ttl, 52);
AT(stamp_rx_record, reply_ttl, 53);
AT(stamp_rx_record, reply_tos, 54);
AT(stamp_rx_record, flags, 55);

static_assert(sizeof(stamp_send_key) == 4);
AT(stamp_send_key, local_port, 0);
AT(stamp_send_key, ipv6, 2);
static_assert(sizeof(stamp_send_session) == 24);
AT(stamp_send_session, session_id, 0);
AT(stamp_send_session, peer_port, 4);
AT(stamp_send_session, ts_format, 6);
AT(stamp_send_session, peer, 8);

// Authenticated mode: the key midstates (map value) and the counters.
static_assert(sizeof(stamp_hmac_key) == 64);
AT(stamp_hmac_key, inner, 0);
AT(stamp_hmac_key, outer, 32);
static_assert(sizeof(stamp_auth_counters) == 32);
AT(stamp_auth_counters, verified, 0);
AT(stamp_auth_counters, failed, 8);
AT(stamp_auth_counters, short_, 16);
AT(stamp_auth_counters, no_key, 24);
static_assert(STAMP_AUTH_BASE == sizeof(stamp_sender_auth) &&
              STAMP_AUTH_BASE == sizeof(stamp_refl_auth));
static_assert(STAMP_AUTH_HMAC_OFF == offsetof(stamp_refl_auth, hmac) &&
              STAMP_AUTH_HMAC_OFF == offsetof(stamp_sender_auth, hmac));
static_assert(sizeof(stamp_tlv_cfg) == 16);
AT(stamp_tlv_cfg, dscp_allowed, 0);
AT(stamp_tlv_cfg, flags, 8);
AT(stamp_tlv_cfg, sync_src, 9);
AT(stamp_tlv_cfg, ts_method, 10);
static_assert(sizeof(stamp_tlv_sess) == 32);
AT(stamp_tlv_sess, rx, 0);
AT(stamp_tlv_sess, tx, 4);
AT(stamp_tlv_sess, last_seq, 8);
AT(stamp_tlv_sess, flags, 12);
AT(stamp_tlv_sess, last_t3, 16);
AT(stamp_tlv_sess, last_ns, 24);
static_assert(sizeof(stamp_tlv_counters) == 64);
AT(stamp_tlv_counters, packets, 0);
AT(stamp_tlv_counters, over_limit, 40);
AT(stamp_tlv_counters, no_state, 56);
static_assert(sizeof(stamp_tlv_record) == 20 + STAMP_TLV_CAPTURE);
AT(stamp_tlv_record, session_id, 0);
AT(stamp_tlv_record, sender_seq, 4);
AT(stamp_tlv_record, refl_seq, 8);
AT(stamp_tlv_record, refl_err_est, 12);
AT(stamp_tlv_record, tlv_len, 14);
AT(stamp_tlv_record, captured, 16);
AT(stamp_tlv_record, data, 20);
static_assert(STAMP_TLV_CAPTURE < 65536, "captured is 16 bits");
