#include "libstamp/tlv.hpp"

#include <algorithm>
#include <cstring>

namespace stamp::tlv {
namespace {

uint16_t rd16(std::span<const uint8_t> b, size_t off) {
  return uint16_t(b[off] << 8 | b[off + 1]);
}
uint32_t rd32(std::span<const uint8_t> b, size_t off) {
  return uint32_t(b[off]) << 24 | uint32_t(b[off + 1]) << 16 | uint32_t(b[off + 2]) << 8 |
         b[off + 3];
}

// Appends TLVs to a span, refusing to go past its end.
class Writer {
 public:
  explicit Writer(std::span<uint8_t> out) : out_(out) {}
  size_t left() const { return out_.size() - pos_; }
  bool header(uint8_t type, uint16_t length) {
    if (left() < kHeader + length) return false;
    out_[pos_] = kU;  // RFC 8972 4: a Session-Sender sets U, clears M and I
    out_[pos_ + 1] = type;
    out_[pos_ + 2] = uint8_t(length >> 8);
    out_[pos_ + 3] = uint8_t(length);
    pos_ += kHeader;
    std::memset(out_.data() + pos_, 0, length);
    return true;
  }
  uint8_t* value() { return out_.data() + pos_; }
  void skip(size_t n) { pos_ += n; }
  size_t pos() const { return pos_; }

 private:
  std::span<uint8_t> out_;
  size_t pos_ = 0;
};

void put32(uint8_t* p, uint32_t v) {
  p[0] = uint8_t(v >> 24);
  p[1] = uint8_t(v >> 16);
  p[2] = uint8_t(v >> 8);
  p[3] = uint8_t(v);
}

}  // namespace

size_t requestSize(const RequestOptions& o) {
  size_t n = 0;
  if (o.location) n += kLocationSize;
  if (o.timestampInfo) n += kHeader + 4;
  if (o.cosDscp) n += kHeader + 4;
  if (o.directMeasurement) n += kHeader + 12;
  if (o.accessReport) n += kAccessReportSize;
  if (o.followUp) n += kHeader + 16;
  if (o.hmac) n += kHeader + 16;
  if (o.padding) n += kHeader + *o.padding;
  return n;
}

bool encodeRequest(const RequestOptions& o, uint32_t sTxC, bool withAccessReport,
                   std::span<const uint8_t> paddingFill, std::span<uint8_t> out) {
  Writer w(out);
  if (o.location) {
    // Ports zero (the reflector fills them), then the three requests whose
    // Values are MBZ (RFC 8972 4.2.1): Source MAC, Destination IP, Source IP.
    if (!w.header(STAMP_TLV_LOCATION, uint16_t(kLocationSize - kHeader))) return false;
    uint8_t* v = w.value();
    size_t at = 4;
    for (auto [sub, len] : {std::pair{STAMP_LOC_SRC_MAC, 8}, std::pair{STAMP_LOC_DST_IP, 16},
                            std::pair{STAMP_LOC_SRC_IP, 16}}) {
      v[at] = kU;
      v[at + 1] = uint8_t(sub);
      v[at + 2] = 0;
      v[at + 3] = uint8_t(len);
      at += kHeader + size_t(len);
    }
    w.skip(kLocationSize - kHeader);
  }
  if (o.timestampInfo) {
    if (!w.header(STAMP_TLV_TS_INFO, 4)) return false;
    w.skip(4);
  }
  if (o.cosDscp) {
    if (*o.cosDscp > 63 || !w.header(STAMP_TLV_COS, 4)) return false;
    w.value()[0] = uint8_t(*o.cosDscp << 2);  // DSCP1; DSCP2, ECN, RP 0
    w.skip(4);
  }
  if (o.directMeasurement) {
    if (!w.header(STAMP_TLV_DIRECT, 12)) return false;
    put32(w.value(), sTxC);
    w.skip(12);
  }
  if (o.accessReport && withAccessReport) {
    if (o.accessReport->accessId > 15 || !w.header(STAMP_TLV_ACCESS, 4)) return false;
    w.value()[0] = uint8_t(o.accessReport->accessId << 4);
    w.value()[1] = o.accessReport->returnCode;
    w.skip(4);
  }
  if (o.followUp) {
    if (!w.header(STAMP_TLV_FOLLOW_UP, 16)) return false;
    w.skip(16);
  }
  if (o.hmac) {  // after every TLV but Extra Padding (RFC 8972 4.8)
    if (!w.header(STAMP_TLV_HMAC, 16)) return false;
    std::memset(w.value(), 0, 16);
    w.skip(16);
  }
  size_t left = w.left();
  if (!o.padding && left == 0) return true;
  if (left < kHeader) return false;  // 1..3 octets no TLV can take
  size_t len = left - kHeader;
  if ((o.padding && len < *o.padding) || len > 0xffff) return false;
  if (!w.header(STAMP_TLV_PADDING, uint16_t(len))) return false;
  uint8_t* v = w.value();
  if (!paddingFill.empty())
    for (size_t i = 0; i < len; ++i) v[i] = paddingFill[i % paddingFill.size()];
  w.skip(len);
  return true;
}

Split split(std::span<const uint8_t> in, size_t maxTlvs) {
  Split s;
  size_t off = 0;
  while (off < in.size()) {
    if (s.tlvs.size() >= maxTlvs) {
      s.more = true;
      break;
    }
    size_t left = in.size() - off;
    if (left < kHeader) {
      s.truncatedHeader = left;
      break;
    }
    Tlv t;
    t.offset = off;
    t.flags = in[off];
    t.type = in[off + 1];
    t.length = rd16(in, off + 2);
    size_t avail = left - kHeader;
    t.overrun = t.length > avail;
    t.value = in.subspan(off + kHeader, std::min<size_t>(t.length, avail));
    s.tlvs.push_back(t);
    if (t.overrun) break;
    off += kHeader + t.length;
  }
  return s;
}

std::optional<Location> decodeLocation(const Tlv& t) {
  if (t.type != STAMP_TLV_LOCATION || t.overrun || t.length < 4) return std::nullopt;
  std::span<const uint8_t> v = t.value;
  Location l;
  l.dstPort = rd16(v, 0);
  l.srcPort = rd16(v, 2);
  size_t off = 4;
  for (int n = 0; off < v.size() && n < 64; ++n) {
    if (v.size() - off < kHeader) {
      l.malformedSub = true;
      break;
    }
    uint8_t flags = v[off];
    uint8_t type = v[off + 1];
    size_t len = rd16(v, off + 2);
    if (len > v.size() - off - kHeader) {
      l.malformedSub = true;
      break;
    }
    std::span<const uint8_t> sv = v.subspan(off + kHeader, len);
    off += kHeader + len;
    if (flags & (kU | kM)) {
      ++l.unanswered;
      continue;
    }
    switch (type) {
      case STAMP_LOC_SRC_EUI48:
      case STAMP_LOC_SRC_EUI64:
        if (len != 8) {
          l.malformedSub = true;
          continue;
        }
        l.srcMac.emplace();
        std::copy(sv.begin(), sv.end(), l.srcMac->begin());
        l.srcMacEui48 = type == STAMP_LOC_SRC_EUI48;
        break;
      case STAMP_LOC_DST_IPV4:
      case STAMP_LOC_SRC_IPV4:
      case STAMP_LOC_DST_IPV6:
      case STAMP_LOC_SRC_IPV6: {
        if (len != 16) {
          l.malformedSub = true;
          continue;
        }
        const bool v4 = type == STAMP_LOC_DST_IPV4 || type == STAMP_LOC_SRC_IPV4;
        auto& dst = (type == STAMP_LOC_DST_IPV4 || type == STAMP_LOC_DST_IPV6) ? l.dstIp : l.srcIp;
        dst.assign(sv.begin(), sv.begin() + (v4 ? 4 : 16));
        break;
      }
      default:
        ++l.unanswered;  // a request sub-type sent back as it was, or unknown
    }
  }
  return l;
}

std::optional<TimestampInfo> decodeTimestampInfo(const Tlv& t) {
  if (t.type != STAMP_TLV_TS_INFO || t.overrun || t.length < 4) return std::nullopt;
  return TimestampInfo{t.value[0], t.value[1], t.value[2], t.value[3]};
}

std::optional<ClassOfService> decodeClassOfService(const Tlv& t) {
  if (t.type != STAMP_TLV_COS || t.overrun || t.length != 4) return std::nullopt;
  const auto& v = t.value;
  ClassOfService c;
  c.dscp1 = v[0] >> 2;
  c.dscp2 = uint8_t((v[0] & 0x3) << 4 | v[1] >> 4);
  c.ecn = (v[1] >> 2) & 0x3;
  c.rp = v[1] & 0x3;
  return c;
}

std::optional<DirectMeasurement> decodeDirectMeasurement(const Tlv& t) {
  if (t.type != STAMP_TLV_DIRECT || t.overrun || t.length != 12) return std::nullopt;
  return DirectMeasurement{rd32(t.value, 0), rd32(t.value, 4), rd32(t.value, 8)};
}

std::optional<AccessReport> decodeAccessReport(const Tlv& t) {
  if (t.type != STAMP_TLV_ACCESS || t.overrun || t.length != 4) return std::nullopt;
  return AccessReport{uint8_t(t.value[0] >> 4), t.value[1]};
}

std::optional<FollowUp> decodeFollowUp(const Tlv& t) {
  if (t.type != STAMP_TLV_FOLLOW_UP || t.overrun || t.length != 16) return std::nullopt;
  FollowUp f;
  f.seq = rd32(t.value, 0);
  f.timestamp = uint64_t(rd32(t.value, 4)) << 32 | rd32(t.value, 8);
  f.mode = t.value[12];
  return f;
}

std::string typeName(uint8_t type) {
  switch (type) {
    case STAMP_TLV_PADDING:
      return "extra_padding";
    case STAMP_TLV_LOCATION:
      return "location";
    case STAMP_TLV_TS_INFO:
      return "timestamp_info";
    case STAMP_TLV_COS:
      return "class_of_service";
    case STAMP_TLV_DIRECT:
      return "direct_measurement";
    case STAMP_TLV_ACCESS:
      return "access_report";
    case STAMP_TLV_FOLLOW_UP:
      return "follow_up";
    case STAMP_TLV_HMAC:
      return "hmac";
    default:
      return "type_" + std::to_string(type);
  }
}

std::string syncSourceName(uint8_t v) {
  switch (v) {
    case STAMP_SYNC_NTP:
      return "ntp";
    case STAMP_SYNC_PTP:
      return "ptp";
    case STAMP_SYNC_SSU:
      return "ssu_bits";
    case STAMP_SYNC_GPS:
      return "gnss";
    case STAMP_SYNC_LOCAL:
      return "local";
    default:
      return "unknown_" + std::to_string(v);
  }
}

std::string methodName(uint8_t v) {
  switch (v) {
    case STAMP_TSM_HW:
      return "hw_assist";
    case STAMP_TSM_SW:
      return "sw_local";
    case STAMP_TSM_CP:
      return "control_plane";
    default:
      return "unknown_" + std::to_string(v);
  }
}

}  // namespace stamp::tlv
