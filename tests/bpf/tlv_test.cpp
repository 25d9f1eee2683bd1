// The bpf tier for RFC 8972 TLVs: the reflector's real programs
// (stamp_refl_in, which tail-calls stamp_refl_tlv, then stamp_refl_out)
// run through BPF_PROG_TEST_RUN on requests carrying TLVs; and the
// sender's stamp_send_in handing the TLV octets of replies to the daemon.
//
// Every expected reply TLV is written out here octet by octet from the RFC
// (no code shared with the daemon's TLV codec), and every reply's IPv4
// header and UDP checksums are recomputed from scratch.
//
// BPF_PROG_TEST_RUN runs tc programs on a skb of the loopback device when
// the context's ifindex is 0, so the counters land under ifindex 1.
#include <linux/pkt_cls.h>
#include <bpf/bpf.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "kernel/reflector_bpf.hpp"
#include "kernel/clock.hpp"
#include "libstamp/error_estimate.hpp"
#include "packet.hpp"
#include "kernel/sender_bpf.hpp"
#include "stamp_abi.h"
#include "tc_run.hpp"
#include "tlv_bytes.hpp"
#include "libstamp/timefmt.hpp"

namespace stamp::test {
namespace {

constexpr int kTcShot = TC_ACT_SHOT;
constexpr int kTcRedirect = TC_ACT_REDIRECT;
constexpr size_t kBase = STAMP_UNAUTH_BASE;

const Ip16 kSender4 = ip("192.0.2.1");
const Ip16 kRefl4 = ip("192.0.2.2");
const Ip16 kSender6 = ip("2001:db8::1");
const Ip16 kRefl6 = ip("2001:db8::2");
const Mac kSenderMac{0x02, 0x00, 0x5e, 0x00, 0x00, 0x01};
constexpr uint16_t kStatelessPort = 862, kStatefulPort = 8620;
constexpr uint8_t kRefusedDscp = 7;  // the one DSCP the test policy refuses

// ---- Building TLVs by hand (RFC 8972 section 4; tlv_bytes.hpp) ----

Bytes fill(size_t n, uint8_t v) {
  return Bytes(n, v);
}
Bytes be16(uint16_t v) {
  return {uint8_t(v >> 8), uint8_t(v)};
}
Bytes be32(uint32_t v) {
  return {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)};
}
Bytes addr(const Ip16& a, bool v6) {
  return v6 ? Bytes(a.begin(), a.end()) : Bytes(a.begin() + 12, a.end());
}

constexpr uint8_t U = STAMP_TLV_U, M = STAMP_TLV_M, I = STAMP_TLV_I;

// A sender's request TLV: U set, the rest zero but what the sender fills.
Bytes req(uint8_t type, const Bytes& value) {
  return tlvBytes(U, type, value);
}

PacketSpec request(const Bytes& tlvs, bool v6 = false, uint16_t ssid = 0x1234, uint32_t seq = 7) {
  PacketSpec s;
  s.src = v6 ? kSender6 : kSender4;
  s.dst = v6 ? kRefl6 : kRefl4;
  s.srcMac = kSenderMac;
  s.payload = senderPayload(
      kBase, {.seq = seq, .t1 = 0xe93c7f0080000000ULL, .errEst = 0x8001, .ssid = ssid});
  s.payload.insert(s.payload.end(), tlvs.begin(), tlvs.end());
  return s;
}

stamp_tlv_cfg defaultCfg() {
  stamp_tlv_cfg c{};
  c.dscp_allowed = ~(uint64_t{1} << kRefusedDscp);
  c.flags = STAMP_TLV_CFG_ON | STAMP_TLV_CFG_LOCATION;
  c.sync_src = STAMP_SYNC_NTP;
  c.ts_method = STAMP_TSM_SW;
  return c;
}

stamp_tlv_counters loTlvCounters(const ReflectorBpf& bpf) {
  return loEntry(bpf.tlvCounters());
}

struct CounterDelta {
  uint64_t packets = 0, tlvs = 0, unknown = 0, malformed = 0, integrity = 0, overLimit = 0,
           cosRefused = 0, noState = 0;
};

void expectDelta(const stamp_tlv_counters& a, const stamp_tlv_counters& b, const CounterDelta& d) {
  EXPECT_EQ(b.packets - a.packets, d.packets) << "packets";
  EXPECT_EQ(b.tlvs - a.tlvs, d.tlvs) << "tlvs";
  EXPECT_EQ(b.unknown - a.unknown, d.unknown) << "unknown";
  EXPECT_EQ(b.malformed - a.malformed, d.malformed) << "malformed";
  EXPECT_EQ(b.integrity - a.integrity, d.integrity) << "integrity";
  EXPECT_EQ(b.over_limit - a.over_limit, d.overLimit) << "over_limit";
  EXPECT_EQ(b.cos_refused - a.cos_refused, d.cosRefused) << "cos_refused";
  EXPECT_EQ(b.no_state - a.no_state, d.noState) << "no_state";
}

// What came back: the frame, its parse, and the TLV octets after the base.
struct Reply {
  TcRun run;
  FrameView view;
  Bytes tlvs;
};

class TlvReflector : public BpfSuite<TlvReflector, ReflectorBpf> {
 protected:
  void prepare() override {
    for (int fd : {bpf_->sessionMapFd(), bpf_->tlvSessionMapFd()}) {
      stamp_refl_sess_key k{};
      while (bpf_map_get_next_key(fd, nullptr, &k) == 0) ASSERT_EQ(bpf_map_delete_elem(fd, &k), 0);
    }
    ASSERT_TRUE(ok(bpf_->setPorts({kStatelessPort}, stamp_port_cfg{.idle_timeout_s = 900})));
    // One port per mode: setPorts() writes one configuration to all it gets.
    stamp_port_cfg stateful{.mode = STAMP_MODE_STATEFUL, .idle_timeout_s = 900};
    ASSERT_EQ(bpf_map_update_elem(portsFd(), &kStatefulPort, &stateful, BPF_ANY), 0);
    ASSERT_TRUE(ok(bpf_->setAddresses({kRefl4, kRefl6})));
    ASSERT_TRUE(ok(bpf_->setClock(syncedClock(kernelTaiOffsetSec()))));
    ASSERT_TRUE(ok(bpf_->setTlvConfig(defaultCfg())));
  }

  static int portsFd() {
    // stamp_ports has no accessor of its own; find it among the program's maps.
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    uint32_t ids[16] = {};
    info.nr_map_ids = 16;
    info.map_ids = uint64_t(uintptr_t(ids));
    if (bpf_obj_get_info_by_fd(bpf_->inProgFd(), &info, &len) != 0) return -1;
    for (uint32_t i = 0; i < info.nr_map_ids && i < 16; ++i) {
      int fd = bpf_map_get_fd_by_id(ids[i]);
      bpf_map_info mi{};
      uint32_t ml = sizeof(mi);
      if (fd >= 0 && bpf_obj_get_info_by_fd(fd, &mi, &ml) == 0 &&
          std::string(mi.name) == STAMP_MAP_PORTS)
        return fd;  // leaked on purpose: a test process
      if (fd >= 0) close(fd);
    }
    return -1;
  }

  // Ingress on `spec`; the reply must be redirected with valid checksums and
  // the request's size. Returns it with its TLV octets.
  Reply reflect(const PacketSpec& spec) {
    Reply r;
    const Bytes frame = buildFrame(spec);
    EXPECT_TRUE(runTc(bpf_->inProgFd(), frame, 0, r.run));
    EXPECT_EQ(r.run.verdict, kTcRedirect) << "the request must be answered";
    auto v = parseFrame(r.run.out);
    if (!v) {
      ADD_FAILURE() << "reply does not parse:\n" << hexDump(r.run.out);
      return r;
    }
    r.view = *v;
    EXPECT_EQ(r.run.out.size(), frame.size()) << "the reply keeps the request's size";
    if (!v->ipv6) {
      EXPECT_TRUE(ipv4HeaderChecksumValid(r.run.out, *v)) << "IPv4 header checksum";
    }
    EXPECT_EQ(verifyUdpChecksum(r.run.out, *v),
              spec.zeroUdpChecksum ? UdpChecksum::Absent : UdpChecksum::Valid)
        << "UDP checksum of the reply";
    EXPECT_EQ(rd32(v->payload, 24), rd32(spec.payload, 0)) << "Session-Sender Sequence Number";
    EXPECT_EQ(rd16(v->payload, 14), rd16(spec.payload, 14)) << "SSID";
    if (v->payload.size() >= kBase) r.tlvs.assign(v->payload.begin() + kBase, v->payload.end());
    return r;
  }

  // stamp_refl_out on a reply: T3 stamped, checksum still valid.
  TcRun egress(const Reply& r) {
    TcRun out;
    EXPECT_TRUE(runTc(bpf_->outProgFd(), r.run.out, r.run.markOut, out));
    EXPECT_EQ(out.markOut, 0u);
    auto v = parseFrame(out.out);
    if (v) {
      EXPECT_EQ(verifyUdpChecksum(out.out, *v), UdpChecksum::Valid) << "after egress";
    }
    return out;
  }
};

#define EXPECT_TLVS(reply, want) \
  EXPECT_EQ((reply).tlvs, (want)) << "got:\n" << hexDump((reply).tlvs) << "want:\n" << hexDump(want)

// ---- One fixture per TLV type ----

TEST_F(TlvReflector, ExtraPaddingAnsweredUnchanged) {
  auto before = loTlvCounters(*bpf_);
  // Odd lengths, so that later TLVs sit at odd offsets for the checksum.
  Bytes pad5 = req(STAMP_TLV_PADDING, Bytes{1, 2, 3, 4, 5});
  Bytes pad0 = req(STAMP_TLV_PADDING, {});
  Bytes pad300 = req(STAMP_TLV_PADDING, fill(300, 0xa5));
  Reply r = reflect(request(cat({pad5, pad0, pad300})));
  EXPECT_TLVS(r, cat({tlvBytes(0, 1, Bytes{1, 2, 3, 4, 5}), tlvBytes(0, 1, {}),
                      tlvBytes(0, 1, fill(300, 0xa5))}));
  EXPECT_EQ(r.run.markOut, STAMP_REFLECT_MARK | uint32_t(r.view.payloadOff))
      << "no Follow-Up TLV: nothing for egress to record";
  expectDelta(before, loTlvCounters(*bpf_), {.packets = 1, .tlvs = 3});
  egress(r);
}

TEST_F(TlvReflector, LocationReportsAddressesPortsAndMac) {
  const Bytes request4 = req(
      STAMP_TLV_LOCATION,
      cat({zeros(4), tlvBytes(U, STAMP_LOC_SRC_MAC, zeros(8)),
           tlvBytes(U, STAMP_LOC_DST_IP, zeros(16)), tlvBytes(U, STAMP_LOC_SRC_IP, zeros(16))}));
  for (bool v6 : {false, true}) {
    SCOPED_TRACE(v6 ? "IPv6" : "IPv4");
    Reply r = reflect(request(request4, v6));
    Bytes mac(kSenderMac.begin(), kSenderMac.end());
    Bytes dst = addr(v6 ? kRefl6 : kRefl4, v6), src = addr(v6 ? kSender6 : kSender4, v6);
    dst.resize(16, 0);
    src.resize(16, 0);
    mac.resize(8, 0);
    EXPECT_TLVS(
        r, tlvBytes(0, STAMP_TLV_LOCATION,
                    cat({be16(kStatelessPort), be16(40000), tlvBytes(0, STAMP_LOC_SRC_EUI48, mac),
                         tlvBytes(0, v6 ? STAMP_LOC_DST_IPV6 : STAMP_LOC_DST_IPV4, dst),
                         tlvBytes(0, v6 ? STAMP_LOC_SRC_IPV6 : STAMP_LOC_SRC_IPV4, src)})));
  }
}

TEST_F(TlvReflector, LocationPolicyOffReportsZeros) {
  stamp_tlv_cfg c = defaultCfg();
  c.flags &= ~STAMP_TLV_CFG_LOCATION;
  ASSERT_TRUE(ok(bpf_->setTlvConfig(c)));
  Reply r = reflect(
      request(req(STAMP_TLV_LOCATION, cat({zeros(4), tlvBytes(U, STAMP_LOC_SRC_MAC, zeros(8)),
                                           tlvBytes(U, STAMP_LOC_SRC_IP, zeros(16))}))));
  EXPECT_TLVS(r, tlvBytes(0, STAMP_TLV_LOCATION,
                          cat({zeros(4), tlvBytes(0, STAMP_LOC_SRC_EUI64, zeros(8)),
                               tlvBytes(0, STAMP_LOC_SRC_IPV4, zeros(16))})));
}

TEST_F(TlvReflector, LocationUnknownSubTlvGetsU) {
  // Sub-type 42 (and an answer type, 5, in a request) are not requests this
  // reflector answers: U = 1, the rest as received.
  Reply r =
      reflect(request(req(STAMP_TLV_LOCATION, cat({zeros(4), tlvBytes(0, 42, Bytes{9, 9, 9}),
                                                   tlvBytes(0, STAMP_LOC_DST_IPV4, fill(16, 1)),
                                                   tlvBytes(U, STAMP_LOC_DST_IP, zeros(16))}))));
  Bytes dst = addr(kRefl4, false);
  dst.resize(16, 0);
  EXPECT_TLVS(r, tlvBytes(0, STAMP_TLV_LOCATION,
                          cat({be16(kStatelessPort), be16(40000), tlvBytes(U, 42, Bytes{9, 9, 9}),
                               tlvBytes(U, STAMP_LOC_DST_IPV4, fill(16, 1)),
                               tlvBytes(0, STAMP_LOC_DST_IPV4, dst)})));
}

TEST_F(TlvReflector, LocationMalformedSubTlv) {
  auto before = loTlvCounters(*bpf_);
  // A Destination IP request with Length 8: the sub-TLV and its Location
  // TLV are malformed; the walk stops there, the CoS TLV after it is
  // copied as received.
  const Bytes cos = req(STAMP_TLV_COS, Bytes{46 << 2, 0, 0, 0});
  Reply r = reflect(request(cat(
      {req(STAMP_TLV_LOCATION, cat({zeros(4), tlvBytes(U, STAMP_LOC_DST_IP, zeros(8))})), cos})));
  EXPECT_TLVS(r, cat({tlvBytes(M, STAMP_TLV_LOCATION,
                               cat({zeros(4), tlvBytes(M, STAMP_LOC_DST_IP, zeros(8))})),
                      cos}));
  auto v = r.view;
  EXPECT_EQ(v.tos, 0) << "a CoS TLV after a malformed one is not acted on";
  expectDelta(before, loTlvCounters(*bpf_), {.packets = 1, .malformed = 1});
}

TEST_F(TlvReflector, TimestampInformationNamesSoftwareTimestampsInTc) {
  stamp_tlv_cfg c = defaultCfg();
  c.sync_src = STAMP_SYNC_PTP;
  ASSERT_TRUE(ok(bpf_->setTlvConfig(c)));
  // Length 4, and one with 4 more octets (sub-TLVs): those are kept.
  Reply r = reflect(request(cat({req(STAMP_TLV_TS_INFO, zeros(4)),
                                 req(STAMP_TLV_TS_INFO, cat({zeros(4), Bytes{1, 2, 3, 4}}))})));
  const Bytes info{STAMP_SYNC_PTP, STAMP_TSM_SW, STAMP_SYNC_PTP, STAMP_TSM_SW};
  EXPECT_TLVS(r, cat({tlvBytes(0, STAMP_TLV_TS_INFO, info),
                      tlvBytes(0, STAMP_TLV_TS_INFO, cat({info, Bytes{1, 2, 3, 4}}))}));
}

TEST_F(TlvReflector, ClassOfServicePermittedSetsReplyDscp) {
  for (bool v6 : {false, true}) {
    SCOPED_TRACE(v6 ? "IPv6" : "IPv4");
    auto before = loTlvCounters(*bpf_);
    PacketSpec s = request(req(STAMP_TLV_COS, Bytes{46 << 2, 0, 0, 0}), v6);
    s.tos = (10 << 2) | 1;  // arrived with AF11, ECT(1)
    Reply r = reflect(s);
    // DSCP1 46 | DSCP2 10 | ECN 01 | RP 0 | Reserved 0.
    EXPECT_TLVS(r, tlvBytes(0, STAMP_TLV_COS,
                            Bytes{(46 << 2) | (10 >> 4), ((10 & 0xf) << 4) | (1 << 2) | 0, 0, 0}));
    const uint8_t tos = v6 ? uint8_t(r.view.v6VerTcFlow >> 20) : r.view.tos;
    EXPECT_EQ(tos, (46 << 2) | 1) << "the reply goes with DSCP1 and keeps the ECN it arrived with";
    if (v6) {
      EXPECT_EQ(r.view.v6VerTcFlow >> 28, 6u) << "IPv6 version kept";
    }
    expectDelta(before, loTlvCounters(*bpf_), {.packets = 1, .tlvs = 1});
  }
}

TEST_F(TlvReflector, ClassOfServiceRefusedSetsRp) {
  auto before = loTlvCounters(*bpf_);
  PacketSpec s = request(req(STAMP_TLV_COS, Bytes{kRefusedDscp << 2, 0, 0, 0}));
  s.tos = (34 << 2) | 2;
  Reply r = reflect(s);
  EXPECT_TLVS(
      r, tlvBytes(0, STAMP_TLV_COS,
                  Bytes{(kRefusedDscp << 2) | (34 >> 4), ((34 & 0xf) << 4) | (2 << 2) | 1, 0, 0}));
  EXPECT_EQ(r.view.tos, (34 << 2) | 2) << "refused: the DSCP the request arrived with";
  expectDelta(before, loTlvCounters(*bpf_), {.packets = 1, .tlvs = 1, .cosRefused = 1});
}

TEST_F(TlvReflector, DirectMeasurementCountsPerSession) {
  // Two sessions (SSIDs) interleaved; S_TxC is the sender's and comes back
  // as sent; R_RxC and R_TxC count this session's requests and replies.
  const Bytes garbage = cat({be32(0xdeadbeef), be32(0xdeadbeef)});  // ignored on receipt
  struct Step {
    uint16_t ssid;
    uint32_t stxc, want;
  } steps[] = {{1, 1, 1}, {1, 2, 2}, {2, 1, 1}, {1, 5, 3}, {2, 2, 2}};
  for (const Step& st : steps) {
    SCOPED_TRACE(::testing::Message() << "SSID " << st.ssid << " S_TxC " << st.stxc);
    Reply r =
        reflect(request(req(STAMP_TLV_DIRECT, cat({be32(st.stxc), garbage})), false, st.ssid));
    EXPECT_TLVS(r,
                tlvBytes(0, STAMP_TLV_DIRECT, cat({be32(st.stxc), be32(st.want), be32(st.want)})));
  }
}

TEST_F(TlvReflector, AccessReportEchoedOrDiscarded) {
  auto before = loTlvCounters(*bpf_);
  // Access ID 1 (3GPP), Return Code 1; Resv and Reserved non-zero on
  // receipt are ignored and sent as zero. Access ID 3 is invalid (4.6):
  // discarded, answered as not understood, octets as received.
  Reply r = reflect(request(cat({req(STAMP_TLV_ACCESS, Bytes{0x1f, 1, 0xff, 0xff}),
                                 req(STAMP_TLV_ACCESS, Bytes{0x20, 2, 0, 0}),
                                 req(STAMP_TLV_ACCESS, Bytes{0x30, 1, 0, 0})})));
  EXPECT_TLVS(r, cat({tlvBytes(0, STAMP_TLV_ACCESS, Bytes{0x10, 1, 0, 0}),
                      tlvBytes(0, STAMP_TLV_ACCESS, Bytes{0x20, 2, 0, 0}),
                      tlvBytes(U, STAMP_TLV_ACCESS, Bytes{0x30, 1, 0, 0})}));
  expectDelta(before, loTlvCounters(*bpf_), {.packets = 1, .tlvs = 2, .unknown = 1});
}

TEST_F(TlvReflector, FollowUpStatelessIsZeroed) {
  const Bytes fu = req(STAMP_TLV_FOLLOW_UP, fill(16, 0x77));  // ignored on receipt
  Reply a = reflect(request(fu));
  egress(a);
  Reply b = reflect(request(fu));
  EXPECT_TLVS(b, tlvBytes(0, STAMP_TLV_FOLLOW_UP, zeros(16)));
  EXPECT_EQ(b.run.markOut & STAMP_REFLECT_MARK_T3, 0u) << "stateless: no T3 to keep";
}

TEST_F(TlvReflector, FollowUpCarriesThePreviousReplysT3) {
  const Bytes fu = req(STAMP_TLV_FOLLOW_UP, zeros(16));
  PacketSpec s = request(fu);
  s.dport = kStatefulPort;
  // The first reply of the session has no predecessor.
  Reply r0 = reflect(s);
  EXPECT_TLVS(r0, tlvBytes(0, STAMP_TLV_FOLLOW_UP, zeros(16)));
  EXPECT_EQ(r0.run.markOut,
            STAMP_REFLECT_MARK | STAMP_REFLECT_MARK_T3 | uint32_t(r0.view.payloadOff));
  uint64_t prevT3 = 0;
  uint32_t prevSeq = 0;
  Reply prev = r0;
  for (uint32_t i = 1; i <= 3; ++i) {
    SCOPED_TRACE(i);
    TcRun sent = egress(prev);
    auto v = parseFrame(sent.out);
    ASSERT_TRUE(v);
    prevT3 = rd64(v->payload, 4);
    prevSeq = rd32(v->payload, 0);
    EXPECT_EQ(prevSeq, i - 1) << "stateful: the reflector's own sequence";
    Reply r = reflect(s);
    EXPECT_TLVS(r, tlvBytes(0, STAMP_TLV_FOLLOW_UP,
                            cat({be32(prevSeq), be32(uint32_t(prevT3 >> 32)),
                                 be32(uint32_t(prevT3)), Bytes{STAMP_TSM_SW, 0, 0, 0}})));
    prev = r;
  }
  // A reply that never went out (no egress) is not reported: the next one
  // still names the last reply stamped.
  Reply again = reflect(s);
  EXPECT_EQ(rd32(again.tlvs, 4), prevSeq) << "the Sequence Number of the last reply stamped";
  EXPECT_EQ(rd64(again.tlvs, 8), prevT3);
}

TEST_F(TlvReflector, HmacTlvWithoutKeyIsAnIntegrityFailure) {
  auto before = loTlvCounters(*bpf_);
  // No key to verify with (unauthenticated, no HMAC TLV control): the TLVs
  // come back as received, each with I = 1, and nothing is acted on.
  PacketSpec s =
      request(cat({req(STAMP_TLV_COS, Bytes{46 << 2, 0, 0, 0}), req(STAMP_TLV_HMAC, fill(16, 0x5a)),
                   req(STAMP_TLV_PADDING, zeros(3))}));
  Reply r = reflect(s);
  EXPECT_TLVS(r, cat({tlvBytes(U | I, STAMP_TLV_COS, Bytes{46 << 2, 0, 0, 0}),
                      tlvBytes(U | I, STAMP_TLV_HMAC, fill(16, 0x5a)),
                      tlvBytes(U | I, STAMP_TLV_PADDING, zeros(3))}));
  EXPECT_EQ(r.view.tos, 0) << "DSCP1 not applied";
  expectDelta(before, loTlvCounters(*bpf_), {.packets = 1, .integrity = 1});
}

TEST_F(TlvReflector, MisplacedHmacTlvIsAnIntegrityFailure) {
  // A TLV other than Extra Padding after the HMAC TLV (4.8).
  Reply r =
      reflect(request(cat({req(STAMP_TLV_HMAC, zeros(16)), req(STAMP_TLV_TS_INFO, zeros(4))})));
  EXPECT_TLVS(r, cat({tlvBytes(U | I, STAMP_TLV_HMAC, zeros(16)),
                      tlvBytes(U | I, STAMP_TLV_TS_INFO, zeros(4))}));
}

TEST_F(TlvReflector, UnknownTypesGetU) {
  auto before = loTlvCounters(*bpf_);
  // Reserved 0 and 255, an unassigned 100, experimental 250, RFC 9503's 10
  // (not implemented): copied with U = 1 (also when the sender cleared
  // it), the flags' other bits cleared; the Padding between is understood.
  Reply r = reflect(request(
      cat({tlvBytes(0, 0, {}), tlvBytes(U | M | I | 0x1f, 255, Bytes{1}), req(100, Bytes{1, 2, 3}),
           req(250, zeros(2)), req(STAMP_TLV_PADDING, zeros(1)), req(10, fill(8, 3))})));
  EXPECT_TLVS(r, cat({tlvBytes(U, 0, {}), tlvBytes(U, 255, Bytes{1}),
                      tlvBytes(U, 100, Bytes{1, 2, 3}), tlvBytes(U, 250, zeros(2)),
                      tlvBytes(0, STAMP_TLV_PADDING, zeros(1)), tlvBytes(U, 10, fill(8, 3))}));
  expectDelta(before, loTlvCounters(*bpf_), {.packets = 1, .tlvs = 1, .unknown = 5});
}

// ---- Malformed TLVs (RFC 8972 section 4, 6) ----

struct MalformedCase {
  const char* name;
  Bytes tlvs;  // as sent
  Bytes want;  // as reflected
};

TEST_F(TlvReflector, MalformedTlvsStopTheWalk) {
  const Bytes cos = req(STAMP_TLV_COS, Bytes{46 << 2, 0, 0, 0});
  const Bytes cosAnswered = tlvBytes(0, STAMP_TLV_COS, Bytes{46 << 2, 0, 0, 0});
  const Bytes pad = req(STAMP_TLV_PADDING, zeros(2));
  const Bytes padAnswered = tlvBytes(0, STAMP_TLV_PADDING, zeros(2));
  const MalformedCase cases[] = {
      {"CoS Length 5", cat({pad, req(STAMP_TLV_COS, zeros(5)), cos}),
       cat({padAnswered, tlvBytes(M, STAMP_TLV_COS, zeros(5)), cos})},
      {"CoS Length 3", cat({req(STAMP_TLV_COS, zeros(3)), cos}),
       cat({tlvBytes(M, STAMP_TLV_COS, zeros(3)), cos})},
      {"Direct Measurement Length 8", cat({req(STAMP_TLV_DIRECT, zeros(8)), pad}),
       cat({tlvBytes(M, STAMP_TLV_DIRECT, zeros(8)), pad})},
      {"Access Report Length 0", cat({cos, req(STAMP_TLV_ACCESS, {})}),
       cat({cosAnswered, tlvBytes(M, STAMP_TLV_ACCESS, {})})},
      {"HMAC Length 12", req(STAMP_TLV_HMAC, zeros(12)), tlvBytes(M, STAMP_TLV_HMAC, zeros(12))},
      {"Timestamp Information Length 3", req(STAMP_TLV_TS_INFO, zeros(3)),
       tlvBytes(M, STAMP_TLV_TS_INFO, zeros(3))},
      {"Location Length 2", req(STAMP_TLV_LOCATION, zeros(2)),
       tlvBytes(M, STAMP_TLV_LOCATION, zeros(2))},
      // 4.7 with erratum 8339: a Follow-Up TLV of the wrong length gets its
      // Sequence Number and Timestamp zeroed, as far as they are there.
      {"Follow-Up Length 12", req(STAMP_TLV_FOLLOW_UP, fill(12, 0xee)),
       tlvBytes(M, STAMP_TLV_FOLLOW_UP, zeros(12))},
      {"Follow-Up Length 20", req(STAMP_TLV_FOLLOW_UP, fill(20, 0xee)),
       tlvBytes(M, STAMP_TLV_FOLLOW_UP, cat({zeros(12), fill(8, 0xee)}))},
      // Length beyond the end of the packet.
      {"overrun", cat({pad, tlvBytes(U, STAMP_TLV_PADDING, zeros(6), 7)}),
       cat({padAnswered, tlvBytes(M, STAMP_TLV_PADDING, zeros(6), 7)})},
      {"overrun by far", tlvBytes(U, STAMP_TLV_COS, zeros(4), 0xffff),
       tlvBytes(M, STAMP_TLV_COS, zeros(4), 0xffff)},
      // Fewer than 4 octets left: a truncated header.
      {"truncated header, 3 octets", cat({cos, Bytes{U, STAMP_TLV_PADDING, 0}}),
       cat({cosAnswered, Bytes{M, STAMP_TLV_PADDING, 0}})},
      {"truncated header, 1 octet", cat({pad, Bytes{U}}), cat({padAnswered, Bytes{M}})},
      {"no header at all, 2 octets", Bytes{0, 0}, Bytes{M, 0}},
  };
  for (const MalformedCase& c : cases) {
    SCOPED_TRACE(c.name);
    auto before = loTlvCounters(*bpf_);
    Reply r = reflect(request(c.tlvs));
    EXPECT_TLVS(r, c.want);
    auto after = loTlvCounters(*bpf_);
    EXPECT_EQ(after.malformed - before.malformed, 1u);
    EXPECT_EQ(after.packets - before.packets, 1u);
  }
}

TEST_F(TlvReflector, MoreTlvsThanTheBoundAreCopiedAndCounted) {
  auto before = loTlvCounters(*bpf_);
  Bytes sent, want;
  const int n = STAMP_TLV_MAX + 5;
  for (int i = 0; i < n; ++i) {
    sent = cat({sent, req(STAMP_TLV_PADDING, Bytes{uint8_t(i)})});
    want = cat({want, tlvBytes(i < STAMP_TLV_MAX ? 0 : U, STAMP_TLV_PADDING, Bytes{uint8_t(i)})});
  }
  Reply r = reflect(request(sent));
  EXPECT_TLVS(r, want);
  expectDelta(before, loTlvCounters(*bpf_), {.packets = 1, .tlvs = STAMP_TLV_MAX, .overLimit = 1});

  // Exactly the bound: nothing over.
  before = loTlvCounters(*bpf_);
  sent.clear();
  for (int i = 0; i < STAMP_TLV_MAX; ++i) sent = cat({sent, req(STAMP_TLV_PADDING, {})});
  reflect(request(sent));
  expectDelta(before, loTlvCounters(*bpf_), {.packets = 1, .tlvs = STAMP_TLV_MAX});

  // A 1400-octet all-zero padding (a TWAMP-Light sender): 4-octet Type-0
  // TLVs, the first STAMP_TLV_MAX answered with U, the rest untouched.
  PacketSpec s = request({});
  s.payload.resize(1400, 0);
  r = reflect(s);
  ASSERT_EQ(r.tlvs.size(), 1400 - kBase);
  for (size_t i = 0; i < r.tlvs.size(); ++i)
    ASSERT_EQ(r.tlvs[i], (i % 4 == 0 && i / 4 < STAMP_TLV_MAX) ? U : 0) << "octet " << i;
}

TEST_F(TlvReflector, OffCopiesEverything) {
  ASSERT_TRUE(ok(bpf_->setTlvConfig(stamp_tlv_cfg{})));
  auto before = loTlvCounters(*bpf_);
  const Bytes sent =
      cat({req(STAMP_TLV_COS, Bytes{46 << 2, 0, 0, 0}), tlvBytes(0, 0, zeros(3), 99)});
  Reply r = reflect(request(sent));
  EXPECT_TLVS(r, sent);
  expectDelta(before, loTlvCounters(*bpf_), {});
}

TEST_F(TlvReflector, GeneralPathAndZeroUdpChecksum) {
  // IPv4 options (the general path), with an IPv4 UDP checksum of 0 that
  // must stay 0; then a VLAN-tagged IPv6 request.
  const Bytes sent = cat({req(STAMP_TLV_PADDING, zeros(1)), req(STAMP_TLV_TS_INFO, zeros(4))});
  const Bytes want = cat({tlvBytes(0, STAMP_TLV_PADDING, zeros(1)),
                          tlvBytes(0, STAMP_TLV_TS_INFO, Bytes{1, 2, 1, 2})});
  PacketSpec s = request(sent);
  s.ipOptions = {0x01, 0x01, 0x01, 0x00};
  s.zeroUdpChecksum = true;
  EXPECT_TLVS(reflect(s), want);
  PacketSpec s6 = request(sent, true);
  s6.vlanTci = 0x0064;
  EXPECT_TLVS(reflect(s6), want);
}

// Everything in one packet, as the e2e test sends it.
TEST_F(TlvReflector, AllTypesTogether) {
  auto before = loTlvCounters(*bpf_);
  PacketSpec s = request(cat(
      {req(STAMP_TLV_LOCATION, cat({zeros(4), tlvBytes(U, STAMP_LOC_SRC_IP, zeros(16))})),
       req(STAMP_TLV_TS_INFO, zeros(4)), req(STAMP_TLV_COS, Bytes{46 << 2, 0, 0, 0}),
       req(STAMP_TLV_DIRECT, cat({be32(1), zeros(8)})), req(STAMP_TLV_ACCESS, Bytes{0x10, 1, 0, 0}),
       req(STAMP_TLV_FOLLOW_UP, zeros(16)), req(STAMP_TLV_PADDING, zeros(7))}));
  s.dport = kStatefulPort;
  Reply r = reflect(s);
  Bytes src = addr(kSender4, false);
  src.resize(16, 0);
  EXPECT_TLVS(
      r,
      cat({tlvBytes(0, STAMP_TLV_LOCATION,
                    cat({be16(kStatefulPort), be16(40000), tlvBytes(0, STAMP_LOC_SRC_IPV4, src)})),
           tlvBytes(0, STAMP_TLV_TS_INFO, Bytes{1, 2, 1, 2}),
           tlvBytes(0, STAMP_TLV_COS, Bytes{46 << 2, 0, 0, 0}),
           tlvBytes(0, STAMP_TLV_DIRECT, cat({be32(1), be32(1), be32(1)})),
           tlvBytes(0, STAMP_TLV_ACCESS, Bytes{0x10, 1, 0, 0}),
           tlvBytes(0, STAMP_TLV_FOLLOW_UP, zeros(16)), tlvBytes(0, STAMP_TLV_PADDING, zeros(7))}));
  EXPECT_EQ(r.view.tos, 46 << 2);
  expectDelta(before, loTlvCounters(*bpf_), {.packets = 1, .tlvs = 7});
  egress(r);
}

// ---- The sender: reply TLVs to the daemon (stamp_send_in) ----

class TlvSender : public SenderSuite<TlvSender> {
 protected:
  static constexpr uint16_t kLocalPort = 50011, kPlainPort = 50012;
  static constexpr uint32_t kTlvId = 0x7171, kPlainId = 0x7272;

  void prepare() override {
    for (auto [port, id, flags] : {std::tuple{kLocalPort, kTlvId, uint8_t(STAMP_SEND_F_TLV)},
                                   std::tuple{kPlainPort, kPlainId, uint8_t(0)}}) {
      stamp_send_session v{};
      v.session_id = id;
      v.peer_port = 862;
      v.flags = flags;
      std::copy(kRefl4.begin(), kRefl4.end(), v.peer.addr);
      ASSERT_TRUE(ok(bpf_->addSession({port, 0, 0}, v)));
    }
    bpf_->consume();
    records_.clear();
    tlvRecords_.clear();
  }

  // The reply of the reflector to local port `port`, `tlvs` after the base.
  static Bytes replyFrame(uint16_t port, const Bytes& tlvs, uint32_t seq = 0x0a0b0c0d) {
    PacketSpec s;
    s.src = kRefl4;
    s.dst = kSender4;
    s.sport = 862;
    s.dport = port;
    s.payload = reflectorPayload(kBase, {.seq = seq, .senderSeq = 0x01020304});
    s.payload.insert(s.payload.end(), tlvs.begin(), tlvs.end());
    return buildFrame(s);
  }
};

TEST_F(TlvSender, RepliesWithTlvsReachTheDaemon) {
  const Bytes tlvs = cat({tlvBytes(0, STAMP_TLV_COS, Bytes{46 << 2, 0, 0, 0}),
                          tlvBytes(0, STAMP_TLV_PADDING, zeros(5))});
  TcRun run;
  ASSERT_TRUE(runTc(bpf_->inProgFd(), replyFrame(kLocalPort, tlvs), 0, run));
  EXPECT_EQ(run.verdict, kTcShot) << "a reply is consumed";
  bpf_->consume();
  ASSERT_EQ(records_.size(), 1u);
  ASSERT_EQ(tlvRecords_.size(), 1u);
  const stamp_tlv_record& r = tlvRecords_[0];
  EXPECT_EQ(r.session_id, kTlvId);
  EXPECT_EQ(r.sender_seq, 0x01020304u);
  EXPECT_EQ(r.refl_seq, 0x0a0b0c0du);
  EXPECT_EQ(r.tlv_len, tlvs.size());
  EXPECT_EQ(r.captured, tlvs.size());
  EXPECT_EQ(Bytes(r.data, r.data + r.captured), tlvs);
}

TEST_F(TlvSender, LongRepliesAreCapturedToTheLimit) {
  const Bytes tlvs = tlvBytes(0, STAMP_TLV_PADDING, fill(1400, 0x3c));
  TcRun run;
  ASSERT_TRUE(runTc(bpf_->inProgFd(), replyFrame(kLocalPort, tlvs), 0, run));
  bpf_->consume();
  ASSERT_EQ(tlvRecords_.size(), 1u);
  EXPECT_EQ(tlvRecords_[0].tlv_len, tlvs.size());
  EXPECT_EQ(tlvRecords_[0].captured, STAMP_TLV_CAPTURE);
  EXPECT_EQ(Bytes(tlvRecords_[0].data, tlvRecords_[0].data + STAMP_TLV_CAPTURE),
            Bytes(tlvs.begin(), tlvs.begin() + STAMP_TLV_CAPTURE));
}

TEST_F(TlvSender, OnlySessionsWithTlvsAndOnlyLongerReplies) {
  TcRun run;
  ASSERT_TRUE(runTc(bpf_->inProgFd(), replyFrame(kPlainPort, tlvBytes(0, 1, zeros(4))), 0, run));
  ASSERT_TRUE(runTc(bpf_->inProgFd(), replyFrame(kLocalPort, {}), 0, run));
  bpf_->consume();
  EXPECT_EQ(records_.size(), 2u) << "both replies are consumed and recorded";
  EXPECT_TRUE(tlvRecords_.empty()) << "no TLV octets for a plain session or a 44-octet reply";
}

}  // namespace
}  // namespace stamp::test
