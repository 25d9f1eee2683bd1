// One Session-Sender run: a connected UDP socket that sends STAMP test
// packets on an absolute schedule (a LoopTimer: CLOCK_MONOTONIC, one wait
// shared by every session of the loop), the entry in
// stamp_sessions that makes the kernel take T1 and T4, and the statistics.
//
// Replies normally arrive as ring-buffer records (kernel T4); a reply that
// reaches the socket instead (the route leaves by an interface without the
// sender's programs, or the ring was full) is used with a socket receive
// timestamp, and marked as such.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "kernel/clock.hpp"
#include "service/config.hpp"
#include "libstamp/error_estimate.hpp"
#include "event_loop.hpp"
#include "kernel/netif.hpp"
#include "libstamp/result.hpp"
#include "stamp_abi.h"
#include "libstamp/codec.hpp"
#include "libstamp/hmac.hpp"
#include "sender/stats.hpp"
#include "libstamp/tlv.hpp"
#include "sender/tlv_report.hpp"
#include "libstamp/unique_fd.hpp"

namespace stamp {

class SenderBpf;

struct SessionSpec {
  std::string name;
  Ip16 target{};
  uint16_t port = 862;
  uint64_t count = 100;  // 0: until stopped
  std::chrono::nanoseconds interval = std::chrono::milliseconds(100);
  std::chrono::nanoseconds timeout = std::chrono::seconds(2);
  uint32_t size = 44;  // STAMP payload octets, base included
  uint8_t dscp = 0;
  uint8_t ecn = 0;          // ECN codepoint sent: 0 Not-ECT, 1 ECT(1), 2 ECT(0), 3 CE
  uint16_t ssid = 0;        // 0: chosen from the session id
  uint16_t sourcePort = 0;  // 0: automatic
  TsFormat tsFormat = TsFormat::Ntp;
  bool requireSync = false;  // refuse to start on an unsynchronised clock
  HistogramSpec histogram;   // the exported fixed-bin histogram
  // count == 0 only: close a window this often (0: never), see onWindow.
  std::chrono::nanoseconds window{0};
  bool statefulReflector = false;  // split loss by direction (RFC 8762 4.3)
  bool stopOnZeroSsid = false;     // a reply with SSID 0 ends the run
  // Authenticated mode (RFC 8762 4.4): the key's name, and its midstates,
  // filled in by the daemon from the key file when the run starts.
  std::string authKey;
  std::optional<stamp_hmac_key> hmac;
  // RFC 8972 TLVs in every test packet; `size` is then at least the base
  // plus these, and whatever it leaves goes into an Extra Padding TLV.
  tlv::RequestOptions tlvs;
  std::chrono::nanoseconds accessReportTimeout = std::chrono::seconds(3);
  uint32_t accessReportRetries = 4;
};

// The DSCP and ECN the replies arrived with (their IPv4 TOS / IPv6 Traffic
// Class), counted per value: what the reflector and the backward path made
// of the session's marking.
//
// Kept per TOS octet seen, in a short list: replies nearly always carry one
// or two values, and 68 counters per session and window would be most of a
// small session's memory.
struct ReplyTosCounts {
  std::vector<std::pair<uint8_t, uint64_t>> seen;  // TOS octet, replies
  void add(uint8_t tos) {
    for (auto& [t, n] : seen)
      if (t == tos) {
        ++n;
        return;
      }
    seen.emplace_back(tos, 1);
  }
  // Sets j["reply_dscp"] and j["reply_ecn"]: {"VALUE": replies} for each
  // value seen ({} before any reply), and j["reply_ecn_ce"]: the replies
  // marked CE (congestion experienced, RFC 3168).
  void addTo(nlohmann::json& j) const;
};

// From a [[session]] of stamp.toml. (Both builders: sender/session_spec.cpp.)
Result<SessionSpec> specFromConfig(const SessionConfig& c);
// From the args of a session.start request (an ad-hoc session), checked
// first against control::schema::kSessionStart (libstamp/control_args.hpp):
// a wrong type, a number out of range or an unknown key is EINVAL naming
// the key. Never throws.
Result<SessionSpec> specFromJson(const nlohmann::json& args);

class Session {
 public:
  struct Observer {
    std::function<void(const nlohmann::json& reply)> onReply;
    // Every reply's timestamps (for the metrics' histograms).
    std::function<void(const ReplySample& sample)> onSample;
    // A continuous session's window closed: its summary ("window": true,
    // "started", "ended"), once every packet sent in it had its timeout.
    std::function<void(nlohmann::json summary)> onWindow;
    std::function<void()> onFinished;
  };

  // Opens the socket, registers with the kernel programs (if any) and the
  // loop, and schedules the first packet now.
  static Result<std::unique_ptr<Session>> start(SessionSpec spec, uint32_t id, EventLoop& loop,
                                                SenderBpf* bpf, const ClockState& clock,
                                                Observer observer);
  ~Session();

  // A reply record from the ring buffer for this session's id.
  void onRecord(const stamp_rx_record& rec, const ClockState& clock);
  // The TLV octets of a reply (before its onRecord()).
  void onTlvRecord(const stamp_tlv_record& rec, const ClockState& clock);
  // Ends the run now: outstanding packets count as lost once their timeout
  // has passed, not before; the summary is final.
  void stop();

  bool finished() const { return finished_; }
  const SessionSpec& spec() const { return spec_; }
  uint32_t id() const { return id_; }
  uint16_t localPort() const { return localPort_; }
  std::string state() const { return finished_ ? "finished" : "running"; }
  UnixNs startedAt() const { return startedAt_; }
  // This host's Error Estimate as sent, and the reflector's as last seen.
  ErrorEstimate localClock() const { return ErrorEstimate::decode(errEst_); }
  std::optional<ErrorEstimate> remoteClock() const { return remoteClock_; }
  // The run's summary object (docs/control-protocol.md, "The run summary").
  nlohmann::json summary() const;
  // The run's statistics, typed (what summary() is made from).
  Summary stats() const { return stats_.summary(); }
  // Its counters only (no percentiles): O(1), for listings and metrics.
  Summary counters() const { return stats_.counters(); }

 private:
  Session(SessionSpec spec, uint32_t id, EventLoop& loop, SenderBpf* bpf, Observer observer);
  void onTimer(std::chrono::nanoseconds due);
  void onSocket();
  void sendOne();
  // Writes the octets after the base of the next packet into pkt_.
  void fillTlvs(uint32_t seq);
  // `send`: the timer of the next packet (which may fire a little early).
  void armAt(std::chrono::nanoseconds monotonicDeadline, bool send);
  // What one reply carried besides the timestamps, for the reply events.
  struct ReplyInfo {
    int ttl = -1;                      // TTL / Hop Limit of the reply; -1 unknown
    std::optional<uint8_t> senderTtl;  // absent in a short TWAMP-Light reply
    std::optional<uint16_t> ssid;      // absent in a reply shorter than 44
    std::optional<uint8_t> tos;        // TOS / Traffic Class of the reply, if known
    uint32_t length = 0;
    bool kernel = true;  // T1/T4 from tc, not the socket
    // The Error Estimates the reply carried: ours (echoed) and the
    // reflector's, for classifyOneWay().
    ErrorEstimate local, remote;
  };
  void record(uint32_t senderSeq, uint32_t reflSeq, UnixNs t1, std::optional<UnixNs> t2,
              std::optional<UnixNs> t3, UnixNs t4, const ReplyInfo& info);
  void finish();
  // Windows of a continuous session: packets belong to the window they
  // were sent in; a closed window waits one timeout for its last replies.
  struct Window {
    Window(const HistogramSpec& h, const StatsLimits& l) : stats(h, l) {}
    SessionStats stats;
    ReplyTosCounts tos;
    uint32_t firstSeq = 0;
    UnixNs startedAt = 0, endedAt = 0;
  };
  void rollWindow(std::chrono::nanoseconds now);
  void emitWindow(Window& w);
  Window* windowOf(uint32_t seq);

  SessionSpec spec_;
  uint32_t id_;
  EventLoop& loop_;
  SenderBpf* bpf_;
  Observer observer_;
  LoopTimer timer_;
  UniqueFd sock_;
  uint16_t localPort_ = 0;
  stamp_send_key bpfKey_{};
  bool inBpf_ = false;
  uint16_t errEst_ = kErrorEstimateUnknown;
  std::chrono::nanoseconds start_{};  // CLOCK_MONOTONIC
  uint64_t nextIndex_ = 0;            // packets sent so far
  std::chrono::nanoseconds firstSend_{}, lastSend_{};
  bool stopping_ = false, finished_ = false;
  UnixNs startedAt_ = 0;
  int32_t taiOffsetSec_ = 0;
  std::optional<ErrorEstimate> remoteClock_;
  uint64_t zeroSsidReplies_ = 0;  // replies whose SSID the reflector zeroed
  uint64_t authFailures_ = 0;     // authenticated replies whose HMAC did not match
  std::string stoppedBy_;         // why the run ended early, if it did
  SessionStats stats_;
  ReplyTosCounts replyTos_;
  // Octets of the base packet: 112 authenticated, 44 otherwise; TLVs follow.
  size_t baseSize() const { return spec_.authKey.empty() ? kUnauthBase : kAuthBase; }
  // What the reflector sent back in the TLVs (only when the session asks
  // for any: 4.5 KB that ten thousand plain sessions need not carry).
  std::unique_ptr<TlvReport> tlvReport_;
  std::vector<uint8_t> pkt_;          // the test packet, reused
  std::vector<uint8_t> paddingFill_;  // Extra Padding content (RFC 8972 4.1)
  bool tlvPadding_ = false;           // octets after the base are TLVs
  uint64_t repliesSeen_ = 0;          // S_RxC for Direct Measurement
  std::unique_ptr<Window> window_, closing_;
  std::chrono::nanoseconds windowEnd_{}, closingDeadline_{};
};

}  // namespace stamp
