#include "libstamp/codec.hpp"

#include <endian.h>

#include <cstddef>
#include <cstring>

#include "stamp_abi.h"

namespace stamp {
namespace {

uint32_t rd32(std::span<const uint8_t> in, size_t off) {
  uint32_t v = 0;
  std::memcpy(&v, in.data() + off, 4);
  return be32toh(v);
}
uint16_t rd16(std::span<const uint8_t> in, size_t off) {
  uint16_t v = 0;
  std::memcpy(&v, in.data() + off, 2);
  return be16toh(v);
}
WireTs rdTs(std::span<const uint8_t> in, size_t off) {
  return {rd32(in, off), rd32(in, off + 4)};
}

}  // namespace

bool encodeSender(const SenderPacket& p, std::span<uint8_t> out) {
  if (out.size() < kUnauthBase) return false;
  stamp_sender_unauth w{};
  w.seq = htobe32(p.seq);
  w.ts_sec = htobe32(p.ts.sec);
  w.ts_frac = htobe32(p.ts.frac);
  w.err_est = htobe16(p.errEst);
  w.ssid = htobe16(p.ssid);
  std::memcpy(out.data(), &w, sizeof(w));
  return true;
}

std::optional<SenderPacket> decodeSender(std::span<const uint8_t> in) {
  if (in.size() < offsetof(stamp_sender_unauth, mbz)) return std::nullopt;
  SenderPacket p;
  p.seq = rd32(in, offsetof(stamp_sender_unauth, seq));
  p.ts = rdTs(in, offsetof(stamp_sender_unauth, ts_sec));
  p.errEst = rd16(in, offsetof(stamp_sender_unauth, err_est));
  p.ssid = rd16(in, offsetof(stamp_sender_unauth, ssid));
  return p;
}

bool encodeReflector(const ReflectorPacket& p, std::span<uint8_t> out) {
  if (out.size() < kUnauthBase) return false;
  stamp_refl_unauth w{};
  w.seq = htobe32(p.seq);
  w.ts_sec = htobe32(p.ts.sec);
  w.ts_frac = htobe32(p.ts.frac);
  w.err_est = htobe16(p.errEst);
  w.ssid = htobe16(p.ssid);
  w.rx_sec = htobe32(p.rxTs.sec);
  w.rx_frac = htobe32(p.rxTs.frac);
  w.sender_seq = htobe32(p.senderSeq);
  w.sender_ts_sec = htobe32(p.senderTs.sec);
  w.sender_ts_frac = htobe32(p.senderTs.frac);
  w.sender_err_est = htobe16(p.senderErrEst);
  w.sender_ttl = p.senderTtl;
  std::memcpy(out.data(), &w, sizeof(w));
  return true;
}

std::optional<ReflectorPacket> decodeReflector(std::span<const uint8_t> in) {
  if (in.size() < kMinReplyLen) return std::nullopt;
  ReflectorPacket p;
  p.seq = rd32(in, offsetof(stamp_refl_unauth, seq));
  p.ts = rdTs(in, offsetof(stamp_refl_unauth, ts_sec));
  p.errEst = rd16(in, offsetof(stamp_refl_unauth, err_est));
  p.rxTs = rdTs(in, offsetof(stamp_refl_unauth, rx_sec));
  p.senderSeq = rd32(in, offsetof(stamp_refl_unauth, sender_seq));
  p.senderTs = rdTs(in, offsetof(stamp_refl_unauth, sender_ts_sec));
  p.senderErrEst = rd16(in, offsetof(stamp_refl_unauth, sender_err_est));
  p.hasSenderTtl = in.size() > offsetof(stamp_refl_unauth, sender_ttl);
  if (p.hasSenderTtl) p.senderTtl = in[offsetof(stamp_refl_unauth, sender_ttl)];
  // A TWAMP-Light reflector's octets 14..15 are MBZ, not an SSID; only a
  // full STAMP base reply carries one.
  p.hasSsid = in.size() >= kUnauthBase;
  if (p.hasSsid) p.ssid = rd16(in, offsetof(stamp_refl_unauth, ssid));
  return p;
}

bool encodeSenderAuth(const SenderPacket& p, std::span<uint8_t> out) {
  if (out.size() < kAuthBase) return false;
  stamp_sender_auth w{};
  w.seq = htobe32(p.seq);
  w.ts_sec = htobe32(p.ts.sec);
  w.ts_frac = htobe32(p.ts.frac);
  w.err_est = htobe16(p.errEst);
  w.ssid = htobe16(p.ssid);
  std::memcpy(out.data(), &w, sizeof(w));
  return true;
}

std::optional<ReflectorPacket> decodeReflectorAuth(std::span<const uint8_t> in) {
  if (in.size() < kAuthBase) return std::nullopt;
  ReflectorPacket p;
  p.seq = rd32(in, offsetof(stamp_refl_auth, seq));
  p.ts = rdTs(in, offsetof(stamp_refl_auth, ts_sec));
  p.errEst = rd16(in, offsetof(stamp_refl_auth, err_est));
  p.ssid = rd16(in, offsetof(stamp_refl_auth, ssid));
  p.rxTs = rdTs(in, offsetof(stamp_refl_auth, rx_sec));
  p.senderSeq = rd32(in, offsetof(stamp_refl_auth, sender_seq));
  p.senderTs = rdTs(in, offsetof(stamp_refl_auth, sender_ts_sec));
  p.senderErrEst = rd16(in, offsetof(stamp_refl_auth, sender_err_est));
  p.senderTtl = in[offsetof(stamp_refl_auth, sender_ttl)];
  p.hasSenderTtl = p.hasSsid = true;
  return p;
}

}  // namespace stamp
