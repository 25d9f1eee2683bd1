#include "sender/session.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <vector>

#include <spdlog/spdlog.h>

#include "libstamp/codec.hpp"
#include "kernel/sender_bpf.hpp"

namespace stamp {
namespace {

using std::chrono::nanoseconds;

// How early a send may go when the loop is awake for another session's:
// 1/256 of the interval, at most 4 ms. Sessions a few ms apart then share
// one wake-up (10,000 sessions at 1 packet/s: about 250 wake-ups a second,
// not 10,000). T1 is taken as the packet leaves, so the figures do not
// move; only the schedule does, by under 0.4 % of an interval.
// What the statistics keep. The sequence window covers the packets one
// timeout holds in flight (with margin), not 65,536 whatever the rate. A
// continuous session with windows keeps exact samples per window, where a
// percentile describes a few hundred packets; its whole run, which grows
// without end, uses the buckets from the first reply (within 0.78 %).
StatsLimits windowLimits(const SessionSpec& spec) {
  return StatsLimits::forSchedule(spec.interval, spec.timeout);
}
StatsLimits runLimits(const SessionSpec& spec) {
  StatsLimits l = windowLimits(spec);
  if (spec.count == 0 && spec.window > nanoseconds(0)) l.exactSamples = 0;
  return l;
}

nanoseconds earlySlack(nanoseconds interval) {
  return std::min(interval / 256, nanoseconds(std::chrono::milliseconds(4)));
}

}  // namespace

void ReplyTosCounts::addTo(nlohmann::json& j) const {
  std::array<uint64_t, 64> dscp{};
  std::array<uint64_t, 4> ecn{};
  for (const auto& [tos, n] : seen) {
    dscp[tos >> 2] += n;
    ecn[tos & 3] += n;
  }
  nlohmann::json d = nlohmann::json::object();
  nlohmann::json e = nlohmann::json::object();
  for (size_t v = 0; v < dscp.size(); ++v)
    if (dscp[v]) d[std::to_string(v)] = dscp[v];
  for (size_t v = 0; v < ecn.size(); ++v)
    if (ecn[v]) e[std::to_string(v)] = ecn[v];
  j["reply_dscp"] = d;
  j["reply_ecn"] = e;
  j["reply_ecn_ce"] = ecn[3];
}

Session::Session(SessionSpec spec, uint32_t id, EventLoop& loop, SenderBpf* bpf, Observer observer)
    : spec_(std::move(spec)),
      id_(id),
      loop_(loop),
      bpf_(bpf),
      observer_(std::move(observer)),
      timer_(loop, [this](nanoseconds due) { onTimer(due); }),
      stats_(spec_.histogram, runLimits(spec_)),
      tlvReport_(spec_.tlvs.any() ? std::make_unique<TlvReport>(spec_.tlvs) : nullptr) {
  stats_.setStatefulReflector(spec_.statefulReflector);
  if (spec_.hmac && tlvReport_) tlvReport_->setKey(*spec_.hmac);
  pkt_.assign(spec_.size, 0);
  // Octets after the base go into TLVs when the session asks for any, and
  // otherwise into an Extra Padding TLV when there is room for one (RFC 8972
  // 4.1 recommends it for packets larger than the base; a reflector that
  // walks TLVs would mark zero padding as unknown TLVs).
  const size_t after = spec_.size - baseSize();
  tlvPadding_ = spec_.tlvs.any() || after >= tlv::kHeader;
  if (tlvPadding_) {
    // Pseudorandom content, controlled by us (RFC 8972 4.1): never memory.
    paddingFill_.resize(std::max<size_t>(after, 1));
    uint64_t x = 0x9e3779b97f4a7c15ULL ^ (uint64_t(id) << 17) ^ uint64_t(realtimeNow());
    for (auto& b : paddingFill_) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      b = uint8_t(x >> 24);
    }
  }
}

Result<std::unique_ptr<Session>> Session::start(SessionSpec spec, uint32_t id, EventLoop& loop,
                                                SenderBpf* bpf, const ClockState& clock,
                                                Observer observer) {
  if (spec.requireSync && !clock.synchronized)
    return makeError(EAGAIN, "the kernel clock is not synchronised (session requires it)");
  if (spec.ssid == 0) spec.ssid = uint16_t((id * 40503u) % 65535u + 1);  // non-zero, spread
  std::unique_ptr<Session> s(new Session(std::move(spec), id, loop, bpf, std::move(observer)));
  const bool v4 = isV4Mapped(s->spec_.target);

  int fd = socket(v4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return errnoError("socket");
  s->sock_.reset(fd);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
  // DSCP and ECN of every test packet (a UDP socket may set the ECN bits,
  // unlike TCP); the replies' values come back with each reply, from tc or
  // from IP_RECVTOS / IPV6_RECVTCLASS on this socket.
  int tos = s->spec_.dscp << 2 | s->spec_.ecn;
  if (v4) {
    if (setsockopt(fd, IPPROTO_IP, IP_TOS, &tos, sizeof(tos)) != 0) return errnoError("IP_TOS");
    setsockopt(fd, IPPROTO_IP, IP_RECVTTL, &one, sizeof(one));
    setsockopt(fd, IPPROTO_IP, IP_RECVTOS, &one, sizeof(one));
  } else {
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_TCLASS, &tos, sizeof(tos)) != 0)
      return errnoError("IPV6_TCLASS");
    setsockopt(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &one, sizeof(one));
    setsockopt(fd, IPPROTO_IPV6, IPV6_RECVTCLASS, &one, sizeof(one));
  }

  sockaddr_storage local{};
  sockaddr_storage peer{};
  socklen_t len = 0;
  if (v4) {
    auto* l = reinterpret_cast<sockaddr_in*>(&local);
    auto* p = reinterpret_cast<sockaddr_in*>(&peer);
    l->sin_family = p->sin_family = AF_INET;
    l->sin_port = htons(s->spec_.sourcePort);
    p->sin_port = htons(s->spec_.port);
    std::memcpy(&p->sin_addr, &s->spec_.target[12], 4);
    len = sizeof(sockaddr_in);
  } else {
    auto* l = reinterpret_cast<sockaddr_in6*>(&local);
    auto* p = reinterpret_cast<sockaddr_in6*>(&peer);
    l->sin6_family = p->sin6_family = AF_INET6;
    l->sin6_port = htons(s->spec_.sourcePort);
    p->sin6_port = htons(s->spec_.port);
    std::memcpy(&p->sin6_addr, s->spec_.target.data(), 16);
    len = sizeof(sockaddr_in6);
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&local), len) != 0) return errnoError("bind");
  if (connect(fd, reinterpret_cast<sockaddr*>(&peer), len) != 0)
    return errnoError("connect to " + formatIp(s->spec_.target));
  // Test packets are never fragmented (a fragment would not be reflected in
  // the kernel, and a size must mean what it says): refuse a size that does
  // not fit the route's MTU, and set DF.
  {
    static_assert(IP_PMTUDISC_DO == IPV6_PMTUDISC_DO);  // one value for both families
    int pmtu = IP_PMTUDISC_DO;
    setsockopt(fd, v4 ? IPPROTO_IP : IPPROTO_IPV6, v4 ? IP_MTU_DISCOVER : IPV6_MTU_DISCOVER, &pmtu,
               sizeof(pmtu));
    int mtu = 0;
    socklen_t mlen = sizeof(mtu);
    if (getsockopt(fd, v4 ? IPPROTO_IP : IPPROTO_IPV6, v4 ? IP_MTU : IPV6_MTU, &mtu, &mlen) == 0) {
      const uint32_t headers = (v4 ? 20 : 40) + 8;
      if (mtu > 0 && s->spec_.size + headers > uint32_t(mtu))
        return makeError(EMSGSIZE, "size " + std::to_string(s->spec_.size) +
                                       " does not fit the path MTU " + std::to_string(mtu) +
                                       " to " + formatIp(s->spec_.target) + " (at most " +
                                       std::to_string(uint32_t(mtu) - headers) +
                                       " octets of STAMP payload with " + (v4 ? "IPv4" : "IPv6") +
                                       " and UDP headers)");
    }
  }
  socklen_t llen = sizeof(local);
  getsockname(fd, reinterpret_cast<sockaddr*>(&local), &llen);
  s->localPort_ = ntohs(v4 ? reinterpret_cast<sockaddr_in*>(&local)->sin_port
                           : reinterpret_cast<sockaddr_in6*>(&local)->sin6_port);

  if (bpf) {
    s->bpfKey_ = {s->localPort_, uint8_t(v4 ? 0 : 1), 0};
    stamp_send_session v{};
    v.session_id = id;
    v.peer_port = s->spec_.port;
    v.ts_format = s->spec_.tsFormat == TsFormat::Ptp ? STAMP_TS_PTP : STAMP_TS_NTP;
    v.flags = s->spec_.hmac ? STAMP_SEND_F_AUTH : 0;
    if (s->spec_.tlvs.any()) v.flags |= STAMP_SEND_F_TLV;
    // Someone waits for this run (a follower, or the end of a counted
    // run): each reply wakes the daemon. A continuous session nobody
    // follows is drained before the timers run instead (stamp_send.bpf.c).
    if (s->spec_.count != 0 || s->observer_.onReply) v.flags |= STAMP_SEND_F_WAKE;
    std::memcpy(v.peer.addr, s->spec_.target.data(), 16);
    const stamp_hmac_key* hk = s->spec_.hmac ? &*s->spec_.hmac : nullptr;
    if (auto r = bpf->addSession(s->bpfKey_, v, hk); !r) return r.error();
    s->inBpf_ = true;
  }

  s->taiOffsetSec_ = clock.taiOffsetSec;
  ErrorEstimate ee = clock.errorEstimate;
  ee.ptp = s->spec_.tsFormat == TsFormat::Ptp;
  s->errEst_ = ee.encode();

  Session* raw = s.get();
  if (auto r = loop.add(fd, EPOLLIN, [raw](uint32_t) { raw->onSocket(); }); !r) return r.error();
  s->startedAt_ = realtimeNow();
  s->start_ = monotonicNow();
  if (s->spec_.count == 0 && s->spec_.window > nanoseconds(0)) {
    s->window_ = std::make_unique<Window>(s->spec_.histogram, windowLimits(s->spec_));
    s->window_->stats.setStatefulReflector(s->spec_.statefulReflector);
    s->window_->startedAt = s->startedAt_;
    s->windowEnd_ = s->start_ + s->spec_.window;
  }
  s->armAt(s->start_, true);
  return s;
}

Session::~Session() {
  if (inBpf_ && bpf_) bpf_->removeSession(bpfKey_, id_);
  if (sock_.valid()) loop_.remove(sock_.get());
}

void Session::armAt(nanoseconds deadline, bool send) {
  // Only sends may go early: the end of a run waits for the full timeout.
  timer_.armAt(deadline, send ? earlySlack(spec_.interval) : nanoseconds(0));
}

void Session::onTimer(nanoseconds due) {
  if (finished_) return;
  // Woken early for another session's timer: act as at the deadline.
  nanoseconds now = std::max(monotonicNow(), due);
  const bool allSent = stopping_ || (spec_.count != 0 && nextIndex_ >= spec_.count);
  if (!allSent) {
    // A packet due at the boundary opens the next window.
    if (window_ && now >= windowEnd_) rollWindow(now);
    // Send everything that is due: the schedule is absolute, so a late
    // wake-up catches up instead of drifting.
    while ((spec_.count == 0 || nextIndex_ < spec_.count) &&
           start_ + spec_.interval * int64_t(nextIndex_) <= now)
      sendOne();
    if (spec_.count == 0 || nextIndex_ < spec_.count) {
      armAt(start_ + spec_.interval * int64_t(nextIndex_), true);
      stats_.expire(realtimeNow(), spec_.timeout);
      if (closing_ && now >= closingDeadline_) {
        emitWindow(*closing_);
        closing_.reset();
      }
      return;
    }
    armAt(lastSend_ + spec_.timeout, false);
    return;
  }
  // All sent and the last packet's timeout has passed.
  if (now >= lastSend_ + spec_.timeout)
    finish();
  else
    armAt(lastSend_ + spec_.timeout, false);
}

void Session::fillTlvs(uint32_t seq) {
  if (!tlvPadding_) return;
  std::span<uint8_t> rest(pkt_.data() + baseSize(), pkt_.size() - baseSize());
  const bool ar =
      tlvReport_ && tlvReport_->accessReportDue(monotonicNow(), spec_.accessReportTimeout,
                                                spec_.accessReportRetries);
  // S_TxC: packets sent in the session, this one included (RFC 8972 4.5).
  if (!tlv::encodeRequest(spec_.tlvs, seq + 1, ar, paddingFill_, rest))
    std::fill(rest.begin(), rest.end(), 0);  // checked() makes this unreachable
  if (spec_.tlvs.hmac && spec_.hmac) {
    // The HMAC TLV: over the Sequence Number and the TLVs before it.
    tlv::Split sp = tlv::split(rest);
    for (const auto& t : sp.tlvs) {
      if (t.type != STAMP_TLV_HMAC || t.length != kHmacLen) continue;
      std::vector<uint8_t> covered = {uint8_t(seq >> 24), uint8_t(seq >> 16), uint8_t(seq >> 8),
                                      uint8_t(seq)};
      covered.insert(covered.end(), rest.begin(), rest.begin() + ptrdiff_t(t.offset));
      auto mac = hmacWith(*spec_.hmac, covered);
      std::memcpy(rest.data() + t.offset + tlv::kHeader, mac.data(), kHmacLen);
      break;
    }
  }
}

void Session::sendOne() {
  std::vector<uint8_t>& pkt = pkt_;
  uint32_t seq = uint32_t(nextIndex_);
  fillTlvs(seq);
  UnixNs t1 = realtimeNow();
  SenderPacket p;
  p.seq = seq;
  // Provisional T1; stamp_send_out overwrites it as the packet leaves.
  p.ts = spec_.tsFormat == TsFormat::Ptp ? ptpFromUnixNs(t1, taiOffsetSec_) : ntpFromUnixNs(t1);
  p.errEst = errEst_;
  p.ssid = spec_.ssid;
  if (spec_.hmac) {
    // Signed here too, so that the packet is valid even where no tc
    // program re-signs it after T1.
    encodeSenderAuth(p, pkt);
    auto mac = hmac96(*spec_.hmac, std::span<const uint8_t, kHmacInput>(pkt.data(), kHmacInput));
    std::memcpy(pkt.data() + kHmacInput, mac.data(), mac.size());
  } else {
    encodeSender(p, pkt);
  }
  if (nextIndex_ == 0) firstSend_ = monotonicNow();
  lastSend_ = monotonicNow();
  ++nextIndex_;
  stats_.onSent(seq, t1);
  if (window_) window_->stats.onSent(seq, t1);
  if (send(sock_.get(), pkt.data(), pkt.size(), 0) < 0)
    spdlog::debug("session {}: send seq {}: {}", spec_.name, seq, std::strerror(errno));
}

void Session::record(uint32_t senderSeq, uint32_t reflSeq, UnixNs t1, std::optional<UnixNs> t2,
                     std::optional<UnixNs> t3, UnixNs t4, const ReplyInfo& info) {
  ReplySample r;
  r.senderSeq = senderSeq;
  r.reflectorSeq = reflSeq;
  r.t1 = t1;
  r.t2 = t2.value_or(0);
  r.t3 = t3.value_or(0);
  r.hasT2 = t2.has_value();
  r.hasT3 = t3.has_value();
  r.t4 = t4;
  r.late = t4 - t1 > spec_.timeout.count();
  ++repliesSeen_;
  if (t2) r.forwardFlag = classifyOneWay(*t2 - t1, info.local, info.remote);
  if (t3) r.backwardFlag = classifyOneWay(t4 - *t3, info.local, info.remote);
  stats_.expire(realtimeNow(), spec_.timeout);
  stats_.onReply(r);
  Window* w = windowOf(senderSeq);
  if (w) w->stats.onReply(r);
  if (info.tos) {
    replyTos_.add(*info.tos);
    if (w) w->tos.add(*info.tos);
  }
  if (observer_.onSample) observer_.onSample(r);
  if (observer_.onReply) {
    auto orNull = [](const auto& o) { return o ? nlohmann::json(*o) : nlohmann::json(nullptr); };
    std::optional<int> dscp;
    std::optional<int> ecn;
    if (info.tos) dscp = *info.tos >> 2, ecn = *info.tos & 3;
    nlohmann::json j = {{"seq", senderSeq},
                        {"reflector_seq", reflSeq},
                        {"size", info.length},
                        {"ttl", info.ttl >= 0 ? nlohmann::json(info.ttl) : nlohmann::json(nullptr)},
                        {"sender_ttl", orNull(info.senderTtl)},
                        {"ssid", orNull(info.ssid)},
                        {"dscp", orNull(dscp)},
                        {"ecn", orNull(ecn)},
                        {"kernel_timestamps", info.kernel},
                        {"late", r.late}};
    j["rtt_ns"] = t2 && t3 ? nlohmann::json((t4 - t1) - (*t3 - *t2)) : nlohmann::json(t4 - t1);
    j["forward_ns"] = t2 ? nlohmann::json(*t2 - t1) : nlohmann::json(nullptr);
    j["backward_ns"] = t3 ? nlohmann::json(t4 - *t3) : nlohmann::json(nullptr);
    auto flag = [](bool has, OneWayFlag f) {
      return has && f != OneWayFlag::kOk ? nlohmann::json(oneWayFlagName(f))
                                         : nlohmann::json(nullptr);
    };
    j["forward_flag"] = flag(t2.has_value(), r.forwardFlag);
    j["backward_flag"] = flag(t3.has_value(), r.backwardFlag);
    observer_.onReply(j);
  }
  if (info.ssid && *info.ssid == 0 && spec_.ssid != 0) {
    // RFC 8972 section 3: the reflector does not support the SSID.
    if (zeroSsidReplies_++ == 0)
      spdlog::warn("session {}: the reflector zeroes the SSID (RFC 8972 3: no SSID support){}",
                   spec_.name, spec_.stopOnZeroSsid ? "; stopping the run" : "");
    if (spec_.stopOnZeroSsid && !stopping_) {
      stoppedBy_ = "zero_ssid";
      stop();
      return;
    }
  }
  if (!stopping_ && spec_.count != 0 && nextIndex_ >= spec_.count && stats_.inFlight() == 0)
    finish();
}

void Session::onRecord(const stamp_rx_record& rec, const ClockState& clock) {
  if (finished_) return;
  if (rec.flags & STAMP_RX_AUTH_FAIL) {
    ++authFailures_;  // RFC 8762 4.4: not used
    return;
  }
  UnixNs now = realtimeNow();
  auto senderEe = ErrorEstimate::decode(rec.sender_err_est);
  auto reflEe = ErrorEstimate::decode(rec.refl_err_est);
  remoteClock_ = reflEe;
  int32_t tai = clock.taiOffsetSec;
  UnixNs t1 = unixNsFromWire(WireTs::fromRaw(rec.t1), senderEe.ptp, tai, now);
  UnixNs t2 = unixNsFromWire(WireTs::fromRaw(rec.t2), reflEe.ptp, tai, now);
  UnixNs t3 = unixNsFromWire(WireTs::fromRaw(rec.t3), reflEe.ptp, tai, now);
  UnixNs t4 = UnixNs(rec.t4_tai_ns) - int64_t{tai} * kNsPerSec;
  ReplyInfo info;
  info.ttl = rec.reply_ttl;
  info.tos = rec.reply_tos;
  if (rec.flags & STAMP_RX_HAS_SENDER_TTL) info.senderTtl = rec.sender_ttl;
  if (rec.flags & STAMP_RX_HAS_SSID) info.ssid = rec.ssid;
  info.length = rec.length;
  info.local = senderEe;
  info.remote = reflEe;
  if (tlvReport_) {
    tlvReport_->onReplyT3(rec.refl_seq, rec.t3);
    tlvReport_->onReplyTos(rec.reply_tos);
  }
  record(rec.sender_seq, rec.refl_seq, t1, t2, t3, t4, info);
}

void Session::onTlvRecord(const stamp_tlv_record& rec, const ClockState& clock) {
  if (finished_ || !tlvReport_) return;
  TlvReport::Context c;
  c.reflSeq = rec.refl_seq;
  c.senderReceived = repliesSeen_ + 1;  // its own record comes next
  c.reflectorPtp = ErrorEstimate::decode(rec.refl_err_est).ptp;
  c.taiOffsetSec = clock.taiOffsetSec;
  c.now = realtimeNow();
  const size_t n = std::min<size_t>(rec.captured, sizeof(rec.data));
  tlvReport_->onReply(std::span<const uint8_t>(rec.data, n), rec.tlv_len, c);
}

void Session::onSocket() {
  uint8_t buf[9216];
  alignas(cmsghdr) char control[256];
  for (;;) {
    iovec iov{buf, sizeof(buf)};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    ssize_t n = recvmsg(sock_.get(), &msg, 0);
    if (n < 0) return;  // EAGAIN, or an ICMP error reported on the socket
    UnixNs t4 = realtimeNow();
    int ttl = -1;
    std::optional<uint8_t> tos;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_TIMESTAMPNS) {
        timespec ts;
        std::memcpy(&ts, CMSG_DATA(c), sizeof(ts));
        t4 = int64_t(ts.tv_sec) * kNsPerSec + ts.tv_nsec;
      } else if ((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL) ||
                 (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT)) {
        std::memcpy(&ttl, CMSG_DATA(c), sizeof(int));
      } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS &&
                 c->cmsg_len >= CMSG_LEN(1)) {
        tos = *CMSG_DATA(c);  // one octet
      } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_TCLASS &&
                 c->cmsg_len >= CMSG_LEN(sizeof(int))) {
        int tclass = 0;
        std::memcpy(&tclass, CMSG_DATA(c), sizeof(int));
        tos = uint8_t(tclass);
      }
    }
    std::optional<ReflectorPacket> r;
    if (spec_.hmac) {
      if (size_t(n) < kAuthBase) continue;
      auto mac = hmac96(*spec_.hmac, std::span<const uint8_t, kHmacInput>(buf, kHmacInput));
      if (!macEqual(mac, std::span<const uint8_t>(buf + kHmacInput, mac.size()))) {
        if (!finished_) ++authFailures_;
        continue;
      }
      r = decodeReflectorAuth(std::span<const uint8_t>(buf, size_t(n)));
    } else {
      r = decodeReflector(std::span<const uint8_t>(buf, size_t(n)));
    }
    if (!r || finished_) continue;
    auto senderEe = ErrorEstimate::decode(r->senderErrEst);
    auto reflEe = ErrorEstimate::decode(r->errEst);
    remoteClock_ = reflEe;
    UnixNs now = realtimeNow();
    UnixNs t1 = unixNsFromWire(r->senderTs, senderEe.ptp, 0, now);
    UnixNs t2 = unixNsFromWire(r->rxTs, reflEe.ptp, 0, now);
    UnixNs t3 = unixNsFromWire(r->ts, reflEe.ptp, 0, now);
    ReplyInfo info;
    info.ttl = ttl;
    info.tos = tos;
    if (r->hasSenderTtl) info.senderTtl = r->senderTtl;
    if (r->hasSsid) info.ssid = r->ssid;
    info.length = uint32_t(n);
    info.kernel = false;
    info.local = senderEe;
    info.remote = reflEe;
    if (tlvReport_) tlvReport_->onReplyT3(r->seq, r->ts.raw());
    if (tlvReport_ && size_t(n) > baseSize()) {  // before record(): it may end the run
      TlvReport::Context c;
      c.reflSeq = r->seq;
      c.senderReceived = repliesSeen_ + 1;
      c.reflectorPtp = reflEe.ptp;
      c.now = now;
      std::span<const uint8_t> rest(buf + baseSize(), size_t(n) - baseSize());
      tlvReport_->onReply(rest, rest.size(), c);
    }
    record(r->senderSeq, r->seq, t1, t2, t3, t4, info);
  }
}

void Session::stop() {
  if (finished_) return;
  // Replies already queued by the kernel count before the run ends.
  if (bpf_) bpf_->consume();
  if (finished_) return;
  stopping_ = true;
  finish();
}

void Session::finish() {
  if (finished_) return;
  // Packets whose timeout has not passed yet at a stop are not lost: they
  // were never given their chance. expire() counts only packets whose timeout has passed, so at a
  // stop the packets still in their time stay in flight.
  stats_.expire(realtimeNow(), spec_.timeout);
  finished_ = true;
  // A finished run holds no kernel resources: its socket, timer and entry
  // in the sender's map go now, not when the table forgets the run.
  if (inBpf_ && bpf_) bpf_->removeSession(bpfKey_, id_);
  inBpf_ = false;
  timer_.cancel();
  if (sock_.valid()) {
    loop_.remove(sock_.get());
    sock_.reset();
  }
  // The windows still open are recorded too, as they stand.
  if (closing_) emitWindow(*closing_);
  if (window_ && window_->stats.counters().sent > 0) {
    window_->endedAt = realtimeNow();
    emitWindow(*window_);
  }
  closing_.reset();
  window_.reset();
  if (observer_.onFinished) observer_.onFinished();
}

void Session::rollWindow(nanoseconds now) {
  // A window still waiting for replies when the next closes (a timeout
  // longer than the window) is emitted as it stands.
  if (closing_) emitWindow(*closing_);
  closing_ = std::move(window_);
  closing_->endedAt = realtimeNow();
  closingDeadline_ = now + spec_.timeout;
  // A new window starts empty and allocates as replies come: storage
  // proportional to what it has seen (a 30 s window at one packet a second
  // holds about 3.5 KB), freed when it has been stored. Keeping the last
  // one to recycle would hold that much more per session for good.
  window_ = std::make_unique<Window>(spec_.histogram, windowLimits(spec_));
  window_->stats.setStatefulReflector(spec_.statefulReflector);
  window_->startedAt = closing_->endedAt;
  window_->firstSeq = uint32_t(nextIndex_);
  // The next boundary on the session's own grid, skipping any slept through.
  while (windowEnd_ <= now) windowEnd_ += spec_.window;
}

Session::Window* Session::windowOf(uint32_t seq) {
  // Sequence numbers wrap: compare by signed distance.
  if (window_ && int32_t(seq - window_->firstSeq) >= 0) return window_.get();
  if (closing_ && int32_t(seq - closing_->firstSeq) >= 0) return closing_.get();
  return nullptr;
}

void Session::emitWindow(Window& w) {
  w.stats.expire(realtimeNow(), spec_.timeout);
  if (!observer_.onWindow) return;
  nlohmann::json j = w.stats.toJson();
  j["session"] = spec_.name;
  j["target"] = formatIp(spec_.target);
  j["port"] = spec_.port;
  j["ssid"] = spec_.ssid;
  j["interval_ns"] = spec_.interval.count();
  j["window"] = true;
  j["dscp"] = spec_.dscp;
  j["ecn"] = spec_.ecn;
  w.tos.addTo(j);
  j["started"] = formatRfc3339(w.startedAt);
  j["ended"] = formatRfc3339(w.endedAt);
  j["started_ns"] = w.startedAt;
  j["ended_ns"] = w.endedAt;
  observer_.onWindow(std::move(j));
}

nlohmann::json Session::summary() const {
  nlohmann::json j = stats_.toJson();
  j["session"] = spec_.name;
  j["target"] = formatIp(spec_.target);
  j["port"] = spec_.port;
  j["state"] = state();
  j["ssid"] = spec_.ssid;
  j["source_port"] = localPort_;
  j["interval_ns"] = spec_.interval.count();
  // From the first packet sent to the last: with an absolute schedule this
  // is (sent - 1) * interval to within the timer's resolution.
  j["send_span_ns"] = (lastSend_ - firstSend_).count();
  j["started"] = formatRfc3339(startedAt_);
  j["zero_ssid_replies"] = zeroSsidReplies_;
  j["authenticated"] = spec_.hmac.has_value();
  j["auth_failures"] = authFailures_;
  // The marking sent and what the replies came back with.
  j["dscp"] = spec_.dscp;
  j["ecn"] = spec_.ecn;
  replyTos_.addTo(j);
  j["stopped_by"] = stoppedBy_.empty() ? nlohmann::json(nullptr) : nlohmann::json(stoppedBy_);
  auto clockJson = [](const std::optional<ErrorEstimate>& ee) {
    if (!ee) return nlohmann::json(nullptr);
    auto err = ee->errorNs();
    return nlohmann::json{{"synchronized", ee->synchronized},
                          {"error_ns", err ? nlohmann::json(*err) : nlohmann::json(nullptr)}};
  };
  // Both ends' clocks as the packets said: one-way figures are only as good
  // as these (RFC 8762 4.1.2 Error Estimate).
  j["clock"] = {{"local", clockJson(localClock())}, {"remote", clockJson(remoteClock_)}};
  // RFC 8972: what the reflector sent back in the TLVs the session asked for.
  if (tlvReport_) j["tlvs"] = tlvReport_->toJson();
  return j;
}

}  // namespace stamp
