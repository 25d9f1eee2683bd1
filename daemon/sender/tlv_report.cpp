#include "sender/tlv_report.hpp"

#include <algorithm>

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cstdio>

namespace stamp {
namespace {

std::string formatAddr(const std::vector<uint8_t>& a) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (a.size() == 4) inet_ntop(AF_INET, a.data(), buf, sizeof(buf));
  if (a.size() == 16) inet_ntop(AF_INET6, a.data(), buf, sizeof(buf));
  return buf;
}

std::string formatMac(const std::array<uint8_t, 8>& m, bool eui48) {
  std::string s;
  for (size_t i = 0; i < (eui48 ? 6u : 8u); ++i) {
    char b[4];
    std::snprintf(b, sizeof(b), "%s%02x", i ? ":" : "", m[i]);
    s += b;
  }
  return s;
}

}  // namespace

void TlvReport::onReplyT3(uint32_t reflSeq, uint64_t t3) {
  size_t slot = reflSeq % kT3Ring;
  t3_[slot] = {reflSeq, t3};
  t3Valid_[slot] = true;
}

bool TlvReport::accessReportDue(std::chrono::nanoseconds now, std::chrono::nanoseconds timeout,
                                uint32_t retries) {
  if (!requested_.accessReport || arAcked_ || arAborted_) return false;
  if (arSent_ == 0 || now >= arDeadline_) {
    if (arSent_ > retries) {  // the first send plus `retries` retransmissions
      arAborted_ = true;
      return false;
    }
    ++arSent_;
    arDeadline_ = now + timeout;
    return true;
  }
  return false;
}

void TlvReport::onReply(std::span<const uint8_t> tlvs, size_t total, const Context& c) {
  ++replies_;
  const bool cut = tlvs.size() < total;
  tlv::Split s = tlv::split(tlvs);
  // RFC 8972 4.8: with a key, the reply's HMAC TLV is verified before any
  // TLV data is used, over the reply's Sequence Number and the TLVs before
  // it; a reply that fails (or lacks it) has its TLVs discarded.
  if (key_ && !s.tlvs.empty()) {
    bool ok = false;
    for (const auto& t : s.tlvs) {
      if (t.type != STAMP_TLV_HMAC) continue;
      if (t.length == kHmacLen && t.offset + tlv::kHeader + kHmacLen <= tlvs.size()) {
        std::vector<uint8_t> covered = {uint8_t(c.reflSeq >> 24), uint8_t(c.reflSeq >> 16),
                                        uint8_t(c.reflSeq >> 8), uint8_t(c.reflSeq)};
        covered.insert(covered.end(), tlvs.begin(), tlvs.begin() + ptrdiff_t(t.offset));
        auto mac = hmacWith(*key_, covered);
        ok = macEqual(std::span<const uint8_t>(mac.data(), kHmacLen),
                      tlvs.subspan(t.offset + tlv::kHeader, kHmacLen));
      }
      break;
    }
    const bool padOnly = std::all_of(s.tlvs.begin(), s.tlvs.end(),
                                     [](const tlv::Tlv& t) { return t.type == STAMP_TLV_PADDING; });
    if (!ok && !padOnly) {
      ++hmacFailed_;
      ++integrityFailed_;
      for (const auto& t : s.tlvs) {
        PerType& p = of(t.type);
        ++p.received;
        ++p.integrity;
      }
      return;
    }
    if (ok) ++hmacVerified_;
  }
  // RFC 8972 4: I on any TLV: discard them all.
  bool integrity = false;
  for (const auto& t : s.tlvs) integrity |= (t.flags & tlv::kI) != 0;
  if (integrity) {
    ++integrityFailed_;
    for (const auto& t : s.tlvs) {
      PerType& p = of(t.type);
      ++p.received;
      if (t.flags & tlv::kI) ++p.integrity;
    }
    return;
  }
  for (const auto& t : s.tlvs) {
    PerType& p = of(t.type);
    ++p.received;
    if (t.overrun) {
      if (cut) {
        ++captureCut_;  // ours: the kernel captured only the first octets
      } else {
        ++p.malformed;  // the reply itself runs past its end
        ++stoppedMalformed_;
      }
      return;
    }
    if (t.flags & tlv::kM) {  // M: stop processing the remainder
      ++p.malformed;
      ++stoppedMalformed_;
      return;
    }
    if (t.flags & tlv::kU) {  // U: the reflector did not understand it
      ++p.unrecognized;
      continue;
    }
    decode(t, c);
  }
  if (s.truncatedHeader && !cut) ++stoppedMalformed_;
  if ((s.truncatedHeader || s.more) && cut) ++captureCut_;
}

void TlvReport::decode(const tlv::Tlv& t, const Context& c) {
  PerType& p = of(t.type);
  auto bad = [&] {  // understood by the reflector, but not a valid Value here
    ++p.malformed;
  };
  switch (t.type) {
    case STAMP_TLV_PADDING:
      p.last = {{"length", t.length}};
      break;
    case STAMP_TLV_LOCATION: {
      auto l = tlv::decodeLocation(t);
      if (!l) return bad();
      nlohmann::json j = {{"destination_port", l->dstPort}, {"source_port", l->srcPort}};
      j["source_mac"] = l->srcMac ? nlohmann::json(formatMac(*l->srcMac, l->srcMacEui48))
                                  : nlohmann::json(nullptr);
      j["destination_ip"] =
          l->dstIp.empty() ? nlohmann::json(nullptr) : nlohmann::json(formatAddr(l->dstIp));
      j["source_ip"] =
          l->srcIp.empty() ? nlohmann::json(nullptr) : nlohmann::json(formatAddr(l->srcIp));
      j["unanswered_sub_tlvs"] = l->unanswered;
      if (l->malformedSub) bad();
      p.last = j;
      break;
    }
    case STAMP_TLV_TS_INFO: {
      auto i = tlv::decodeTimestampInfo(t);
      if (!i) return bad();
      p.last = {{"sync_source_in", tlv::syncSourceName(i->syncIn)},
                {"timestamp_in", tlv::methodName(i->methodIn)},
                {"sync_source_out", tlv::syncSourceName(i->syncOut)},
                {"timestamp_out", tlv::methodName(i->methodOut)}};
      break;
    }
    case STAMP_TLV_COS: {
      auto cos = tlv::decodeClassOfService(t);
      if (!cos) return bad();
      p.last = {{"dscp1", cos->dscp1}, {"dscp2", cos->dscp2}, {"ecn", cos->ecn}, {"rp", cos->rp}};
      p.last["reply_dscp"] =
          lastReplyTos_ ? nlohmann::json(*lastReplyTos_ >> 2) : nlohmann::json(nullptr);
      break;
    }
    case STAMP_TLV_DIRECT: {
      auto d = tlv::decodeDirectMeasurement(t);
      if (!d) return bad();
      // Loss from the counters (RFC 8972 4.5): forward = what the sender
      // sent minus what the reflector received, backward = what the
      // reflector sent minus what the sender received, each up to this
      // reply.
      p.last = {{"s_txc", d->sTxC},
                {"r_rxc", d->rRxC},
                {"r_txc", d->rTxC},
                {"s_rxc", c.senderReceived},
                {"forward_lost", int64_t(d->sTxC) - int64_t(d->rRxC)},
                {"backward_lost", int64_t(d->rTxC) - int64_t(c.senderReceived)}};
      break;
    }
    case STAMP_TLV_ACCESS: {
      auto a = tlv::decodeAccessReport(t);
      if (!a) return bad();
      arAcked_ = true;  // 4.6: the reply carrying it disarms the timer
      p.last = {{"access_id", a->accessId}, {"return_code", a->returnCode}};
      break;
    }
    case STAMP_TLV_FOLLOW_UP: {
      auto f = tlv::decodeFollowUp(t);
      if (!f) return bad();
      nlohmann::json j = {{"sequence", f->seq}, {"mode", tlv::methodName(f->mode)}};
      if (f->timestamp == 0 && f->seq == 0) {
        j["timestamp_ns"] = nullptr;  // nothing reported (stateless, or no earlier reply)
      } else {
        j["timestamp_ns"] =
            unixNsFromWire(WireTs::fromRaw(f->timestamp), c.reflectorPtp, c.taiOffsetSec, c.now);
        size_t slot = f->seq % kT3Ring;
        if (t3Valid_[slot] && t3_[slot].first == f->seq)
          ++(t3_[slot].second == f->timestamp ? followUpMatched_ : followUpMismatched_);
      }
      p.last = j;
      break;
    }
    default:
      // HMAC (verified by the lead's code, when keys exist) and types the
      // sender does not decode: counted only.
      break;
  }
}

nlohmann::json TlvReport::toJson() const {
  nlohmann::json j = {{"replies", replies_},
                      {"integrity_failed", integrityFailed_},
                      {"stopped_malformed", stoppedMalformed_},
                      {"capture_cut", captureCut_}};
  if (key_) {
    j["hmac_verified"] = hmacVerified_;
    j["hmac_failed"] = hmacFailed_;
  }
  auto entry = [&](uint8_t type) -> nlohmann::json& {
    std::string name = tlv::typeName(type);
    if (!j.contains(name))
      j[name] = {{"received", 0},
                 {"unrecognized", 0},
                 {"malformed", 0},
                 {"integrity", 0},
                 {"last", nullptr}};
    return j[name];
  };
  const auto& r = requested_;
  if (r.padding) entry(STAMP_TLV_PADDING);
  if (r.location) entry(STAMP_TLV_LOCATION);
  if (r.timestampInfo) entry(STAMP_TLV_TS_INFO);
  if (r.cosDscp) entry(STAMP_TLV_COS)["requested_dscp"] = *r.cosDscp;
  if (r.directMeasurement) entry(STAMP_TLV_DIRECT);
  if (r.followUp) entry(STAMP_TLV_FOLLOW_UP);
  for (const auto& [type, p] : types_) {
    nlohmann::json& e = entry(type);
    e["received"] = p.received;
    e["unrecognized"] = p.unrecognized;
    e["malformed"] = p.malformed;
    e["integrity"] = p.integrity;
    e["last"] = p.last;
  }
  if (r.followUp) {
    entry(STAMP_TLV_FOLLOW_UP)["t3_matched"] = followUpMatched_;
    entry(STAMP_TLV_FOLLOW_UP)["t3_mismatched"] = followUpMismatched_;
  }
  if (r.accessReport) {
    nlohmann::json& e = entry(STAMP_TLV_ACCESS);
    e["sent"] = arSent_;
    e["retransmissions"] = arSent_ > 0 ? arSent_ - 1 : 0;
    e["acknowledged"] = arAcked_;
    e["aborted"] = arAborted_;
  }
  return j;
}

}  // namespace stamp
