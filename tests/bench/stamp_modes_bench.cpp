// stamp_modes_bench: the reflector's cost per packet in each of its modes,
// side by side in one run: stampd's real tc programs (ingress, then egress
// on the reply with the mark ingress set, as the kernel runs them) under
// BPF_PROG_TEST_RUN, the kernel's own run time per program call.
//
//   sudo stamp_modes_bench [--rounds N] [--packets N]
//
// Modes: unauthenticated 44 octets (the reference), authenticated 112, and
// the same with padding (unauthenticated 112 and authenticated 200, so that
// size alone is told apart from authentication); with RFC 8972 TLV
// processing on: one Extra Padding TLV, Timestamp Information + Class of
// Service + Direct Measurement, and authenticated with a CoS TLV and the
// HMAC TLV (checked and written in the TLV program). Rounds interleave the
// modes (ABCD ABCD ...) so that a noisy neighbour hits all of them alike;
// the table gives the median over rounds of the mean ns per packet, the
// rate one CPU could reflect at that cost (1e9 / ns), and the ratio to the
// unauthenticated rate. Each packet is a fresh BPF_PROG_TEST_RUN (repeat =
// 1): a repeated run would see its own reply, not a request.
//
// Only BPF time is counted: the veth, the stack and the socket a real
// packet also pays are the same for every mode (see run.sh for the full
// path).
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <optional>
#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "kernel/reflector_bpf.hpp"
#include "kernel/clock.hpp"
#include "libstamp/error_estimate.hpp"
#include "libstamp/hmac.hpp"
#include "packet.hpp"
#include "prog_test_run.hpp"
#include "stamp_abi.h"

using namespace stamp;
using namespace stamp::test;

namespace {

struct Mode {
  std::string name;
  const ReflectorBpf* bpf;
  Bytes frame;
  std::vector<double> roundNs;
};

// One BPF_PROG_TEST_RUN of `fd` on `frame` with skb mark `mark`: the
// verdict, or -1 when the syscall failed; the frame, mark and run time out.
int runOnce(int fd, const Bytes& frame, uint32_t mark, Bytes& out, uint32_t& markOut, double& ns) {
  __sk_buff in{}, ctx{};
  in.mark = mark;
  bpf_test_run_opts o = tcTestRunOpts(frame, out, in, ctx);
  if (bpf_prog_test_run_opts(fd, &o) != 0) return -1;
  out.resize(o.data_size_out);
  markOut = ctx.mark;
  ns = o.duration;
  return int(o.retval);
}

// One ingress + egress; the kernel's run time of both, or -1 on a failure.
double reflectOnce(const ReflectorBpf& bpf, const Bytes& frame, Bytes& buf) {
  uint32_t mark = 0, markOut = 0;
  double in = 0, out = 0;
  Bytes reply;
  if (runOnce(bpf.inProgFd(), frame, 0, reply, mark, in) != TC_ACT_REDIRECT) return -1;
  if (runOnce(bpf.outProgFd(), reply, mark, buf, markOut, out) != TC_ACT_UNSPEC) return -1;
  return in + out;
}

Bytes authPayload(size_t len, const std::vector<uint8_t>& key) {
  Bytes p(len, 0);
  p[3] = 1;
  p[16] = 0xe9;
  p[26] = 0x12;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  HMAC(EVP_sha256(), key.data(), int(key.size()), p.data(), 96, mac, &n);
  std::copy(mac, mac + 16, p.begin() + 96);
  return p;
}

stamp_tlv_cfg tlvOn() {
  stamp_tlv_cfg c{};
  c.dscp_allowed = ~uint64_t{0};
  c.flags = STAMP_TLV_CFG_ON | STAMP_TLV_CFG_LOCATION;
  c.sync_src = STAMP_SYNC_NTP;
  c.ts_method = STAMP_TSM_SW;
  return c;
}

// A TLV of `type` with a zero Value of `len` octets; Extra Padding.
Bytes tlvOf(uint8_t type, uint16_t len) {
  Bytes t = {0, type, uint8_t(len >> 8), uint8_t(len)};
  t.resize(4 + len, 0);
  return t;
}
Bytes padding(uint16_t len) {
  return tlvOf(STAMP_TLV_PADDING, len);
}

Bytes withTlvs(Bytes base, const std::vector<Bytes>& tlvs) {
  for (const auto& t : tlvs) base.insert(base.end(), t.begin(), t.end());
  return base;
}

// Authenticated base, a CoS TLV and the HMAC TLV over sequence + CoS.
Bytes authWithHmacTlv(const std::vector<uint8_t>& key) {
  Bytes p = authPayload(112, key);
  Bytes cos = tlvOf(STAMP_TLV_COS, 4);
  Bytes covered(p.begin(), p.begin() + 4);
  covered.insert(covered.end(), cos.begin(), cos.end());
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  HMAC(EVP_sha256(), key.data(), int(key.size()), covered.data(), covered.size(), mac, &n);
  Bytes h = {0, STAMP_TLV_HMAC, 0, 16};
  h.insert(h.end(), mac, mac + 16);
  return withTlvs(p, {cos, h});
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"reflector cost per packet by mode (BPF_PROG_TEST_RUN)"};
  int rounds = 15, packets = 2000;
  app.add_option("--rounds", rounds, "interleaved rounds");
  app.add_option("--packets", packets, "packets per mode and round");
  CLI11_PARSE(app, argc, argv);

  installLibbpfLogger();
  // One reflector per configuration, loaded side by side from the same
  // embedded object, the way stampd loads it (not pinned).
  const std::vector<uint8_t> key(32, 0x5a);
  const Ip16 src = ip("192.0.2.1"), dst = ip("192.0.2.2");
  ClockState clock;
  clock.synchronized = true;
  clock.errorEstimate = ErrorEstimate::fromErrorNs(1000, true);
  auto load = [&](const stamp_port_cfg& pc, bool tlvs = false) -> std::optional<ReflectorBpf> {
    auto b = ReflectorBpf::load();
    if (!b) {
      std::fprintf(stderr, "cannot load the reflector: %s\n", b.error().message.c_str());
      return std::nullopt;
    }
    if (!b->setAddresses({dst}) || !b->setPorts({862}, pc) || !b->setClock(clock) ||
        (pc.auth && !b->setKeys({862}, hmacKey(key))) || (tlvs && !b->setTlvConfig(tlvOn()))) {
      std::fprintf(stderr, "cannot configure the reflector maps\n");
      return std::nullopt;
    }
    return std::move(*b);
  };
  auto plain = load(stamp_port_cfg{});
  auto authed = load(stamp_port_cfg{.auth = 1});
  auto plainTlv = load(stamp_port_cfg{}, true);
  auto authedTlv = load(stamp_port_cfg{.auth = 1}, true);
  if (!plain || !authed || !plainTlv || !authedTlv) return 1;
  auto frame = [&](Bytes payload) {
    PacketSpec s;
    s.src = src;
    s.dst = dst;
    s.payload = std::move(payload);
    return buildFrame(s);
  };
  std::vector<Mode> modes = {
      {"unauthenticated, 44 octets", &*plain, frame(senderPayload(44, {})), {}},
      {"unauthenticated, 112 octets", &*plain, frame(senderPayload(112, {})), {}},
      {"authenticated, 112 octets", &*authed, frame(authPayload(112, key)), {}},
      {"authenticated, 200 octets", &*authed, frame(authPayload(200, key)), {}},
      {"TLVs: Extra Padding, 112",
       &*plainTlv,
       frame(withTlvs(senderPayload(44, {}), {padding(64)})),
       {}},
      {"TLVs: TS info + CoS + DM, 76",
       &*plainTlv,
       frame(withTlvs(senderPayload(44, {}), {tlvOf(STAMP_TLV_TS_INFO, 4), tlvOf(STAMP_TLV_COS, 4),
                                              tlvOf(STAMP_TLV_DIRECT, 12)})),
       {}},
      {"auth + CoS + HMAC TLV, 140", &*authedTlv, frame(authWithHmacTlv(key)), {}},
  };

  Bytes buf;
  for (int r = 0; r < rounds; r++) {
    for (auto& m : modes) {
      double sum = 0;
      for (int i = 0; i < packets; i++) {
        double ns = reflectOnce(*m.bpf, m.frame, buf);
        if (ns < 0) {
          std::fprintf(stderr, "%s: the reflector did not answer\n", m.name.c_str());
          return 1;
        }
        sum += ns;
      }
      m.roundNs.push_back(sum / packets);
    }
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  const double ref = median(modes[0].roundNs);
  std::printf("%-30s %12s %12s %14s %10s\n", "mode", "ns/packet", "min round", "Mpps per CPU",
              "rate ratio");
  for (const auto& m : modes) {
    double med = median(m.roundNs);
    double lo = *std::min_element(m.roundNs.begin(), m.roundNs.end());
    std::printf("%-30s %12.0f %12.0f %14.2f %10.2f\n", m.name.c_str(), med, lo, 1e3 / med,
                ref / med);
  }
  std::printf("(%d rounds x %d packets per mode, interleaved; ingress + egress BPF run time)\n",
              rounds, packets);
  return 0;
}
