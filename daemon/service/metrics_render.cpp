#include "service/metrics_render.hpp"

namespace stamp {

void SessionMetrics::started(const std::string& name, const std::string& target, uint16_t port) {
  SessionSeries& ser = series_[name];
  ser.target = target;
  ser.port = port;
}

void SessionMetrics::sample(const std::string& name, const ReplySample& r) {
  sample(series_[name], r);
}

SessionSeries& SessionMetrics::seriesOf(const std::string& name) {
  return series_[name];
}

void SessionMetrics::sample(SessionSeries& ser, const ReplySample& r) {
  constexpr double kSec = 1e-9;
  int64_t rtt = r.t4 - r.t1 - (r.hasT2 && r.hasT3 ? r.t3 - r.t2 : 0);
  ser.rtt.observe(double(rtt) * kSec);
  // One-way values go into the histograms only when both clocks vouch for
  // them (classifyOneWay); the others are counted by reason.
  if (r.hasT2) {
    if (r.forwardFlag == OneWayFlag::kOk)
      ser.forward.observe(double(r.t2 - r.t1) * kSec);
    else
      ++ser.flaggedForward[size_t(r.forwardFlag)];
  }
  if (r.hasT3) {
    if (r.backwardFlag == OneWayFlag::kOk)
      ser.backward.observe(double(r.t4 - r.t3) * kSec);
    else
      ++ser.flaggedBackward[size_t(r.backwardFlag)];
  }
}

void SessionMetrics::finished(const std::string& name, const RunCounts& c) {
  SessionSeries& ser = series_[name];
  ser.runs++;
  ser.finished.sent += c.sent;
  ser.finished.received += c.received;
  ser.finished.lost += c.lost;
  ser.finished.duplicates += c.duplicates;
  ser.finished.reordered += c.reordered;
}

namespace {

void renderClock(MetricsText& m, const ClockState& clock) {
  m.family("stamp_clock_synchronized", "gauge",
           "1 when the kernel clock is synchronised (adjtimex), else 0.");
  m.sample("stamp_clock_synchronized", {}, clock.synchronized ? 1 : 0);
  m.family("stamp_clock_tai_offset_seconds", "gauge", "TAI - UTC as the kernel knows it.");
  m.sample("stamp_clock_tai_offset_seconds", {}, clock.taiOffsetSec);
  m.family("stamp_clock_error_estimate_seconds", "gauge",
           "The Error Estimate this host puts in its packets, in seconds (RFC 4656 4.1.2).");
  if (auto err = clock.errorEstimate.errorNs())
    m.sample("stamp_clock_error_estimate_seconds", {}, double(*err) * 1e-9);
}

// One row per session name: its series, and the session if it exists now.
struct SessionRow {
  const SessionSeries* series;
  const LiveSession* live;
  std::string target;
  Labels labels() const;
  std::string name;
};

Labels SessionRow::labels() const {
  return {{"session", name}, {"target", target}};
}

void renderSessions(MetricsText& m, const std::vector<SessionRow>& rows) {
  struct Counter {
    const char* name;
    const char* help;
    uint64_t RunCounts::*field;
  };
  const Counter counters[] = {
      {"stamp_session_sent_packets_total", "Test packets sent.", &RunCounts::sent},
      {"stamp_session_received_packets_total", "Replies received.", &RunCounts::received},
      {"stamp_session_lost_packets_total", "Packets with no reply within the timeout.",
       &RunCounts::lost},
      {"stamp_session_duplicate_packets_total", "Duplicate replies.", &RunCounts::duplicates},
      {"stamp_session_reordered_packets_total", "Replies that arrived out of order.",
       &RunCounts::reordered}};
  for (const auto& c : counters) {
    m.family(c.name, "counter", c.help);
    for (const auto& row : rows) {
      uint64_t v = row.series->finished.*c.field;
      if (row.live && row.live->running) v += row.live->current.*c.field;
      m.sample(c.name, row.labels(), double(v));
    }
  }
  m.family("stamp_session_runs_total", "counter",
           "Finished runs (a continuous session's windows count).");
  for (const auto& row : rows)
    m.sample("stamp_session_runs_total", row.labels(), double(row.series->runs));
  m.family("stamp_session_running", "gauge", "1 while a run of the session is in progress.");
  for (const auto& row : rows)
    m.sample("stamp_session_running", row.labels(), row.live && row.live->running ? 1 : 0);
  m.family("stamp_session_one_way_flagged_total", "counter",
           "One-way delays left out of the histograms: a clock not synchronised, an unknown "
           "error, a negative value or one below the combined Error Estimates.");
  for (const auto& row : rows)
    for (int i = 1; i < kOneWayFlags; ++i) {
      const char* reason = oneWayFlagName(OneWayFlag(i));
      for (auto [direction, counts] : {std::pair{"forward", &row.series->flaggedForward},
                                       {"backward", &row.series->flaggedBackward}}) {
        Labels l = row.labels();
        l.emplace_back("direction", direction);
        l.emplace_back("reason", reason);
        m.sample("stamp_session_one_way_flagged_total", l, double((*counts)[size_t(i)]));
      }
    }
  struct Hist {
    const char* name;
    const char* help;
    PromHistogram SessionSeries::*h;
  };
  const Hist hists[] = {
      {"stamp_session_rtt_seconds",
       "Round-trip time without the reflector's dwell: (T4-T1)-(T3-T2).", &SessionSeries::rtt},
      {"stamp_session_forward_delay_seconds", "Near-end (forward) one-way delay T2-T1.",
       &SessionSeries::forward},
      {"stamp_session_backward_delay_seconds", "Far-end (backward) one-way delay T4-T3.",
       &SessionSeries::backward}};
  for (const auto& h : hists) {
    m.family(h.name, "histogram", h.help);
    for (const auto& row : rows) m.histogram(h.name, row.labels(), row.series->*h.h);
  }
}

// One counter family with one sample per interface.
template <typename F>
void perInterface(MetricsText& m, const ReflectorSnapshot& r, const char* name, const char* help,
                  F value) {
  m.family(name, "counter", help);
  for (const auto& [ifname, c] : r.interfaces)
    m.sample(name, {{"interface", ifname}}, double(value(c)));
}

void renderReflector(MetricsText& m, const ReflectorSnapshot& r,
                     const std::vector<uint16_t>& ports) {
  using IC = InterfaceCounters;
  perInterface(m, r, "stamp_reflector_received_packets_total",
               "STAMP test packets seen on the reflector's ports.",
               [](const IC& c) { return c.refl.rx; });
  perInterface(m, r, "stamp_reflector_reflected_packets_total",
               "Test packets answered in the kernel.",
               [](const IC& c) { return c.refl.reflected; });
  perInterface(m, r, "stamp_reflector_fragments_total", "IP fragments passed to the stack.",
               [](const IC& c) { return c.refl.fragments; });
  m.family("stamp_reflector_dropped_packets_total", "counter", "Test packets dropped, by reason.");
  for (const auto& [ifname, c] : r.interfaces)
    forEachDrop(c, [&m, &ifn = ifname](const char* reason, uint64_t n) {
      m.sample("stamp_reflector_dropped_packets_total", {{"interface", ifn}, {"reason", reason}},
               double(n));
    });
  perInterface(m, r, "stamp_reflector_auth_verified_total",
               "Authenticated requests whose HMAC matched.",
               [](const IC& c) { return c.auth.verified; });
  perInterface(m, r, "stamp_reflector_sessions_started_total",
               "Stateful sessions started: a first request, or one after the idle timeout.",
               [](const IC& c) { return c.state.sessions_new; });
  perInterface(m, r, "stamp_reflector_sessions_expired_total",
               "Stateful sessions restarted at 0 after the idle timeout.",
               [](const IC& c) { return c.state.sessions_expired; });
  perInterface(m, r, "stamp_reflector_tlv_requests_total",
               "Requests whose octets after the base were walked as RFC 8972 TLVs.",
               [](const IC& c) { return c.tlv.packets; });
  m.family("stamp_reflector_tlvs_total", "counter",
           "TLVs answered: understood (U = 0) or not (U = 1).");
  for (const auto& [ifname, c] : r.interfaces) {
    m.sample("stamp_reflector_tlvs_total", {{"interface", ifname}, {"result", "answered"}},
             double(c.tlv.tlvs));
    m.sample("stamp_reflector_tlvs_total", {{"interface", ifname}, {"result", "unrecognized"}},
             double(c.tlv.unknown));
  }
  m.family("stamp_reflector_tlv_problems_total", "counter",
           "Requests with a malformed TLV, failed TLV integrity, more TLVs than the walk "
           "takes; CoS TLVs refused by policy; DM/Follow-Up TLVs without session state.");
  for (const auto& [ifname, c] : r.interfaces)
    for (auto [problem, v] : {std::pair{"malformed", c.tlv.malformed},
                              {"integrity", c.tlv.integrity},
                              {"over_limit", c.tlv.over_limit},
                              {"cos_refused", c.tlv.cos_refused},
                              {"no_state", c.tlv.no_state}})
      m.sample("stamp_reflector_tlv_problems_total", {{"interface", ifname}, {"problem", problem}},
               double(v));
  m.family("stamp_reflector_sessions", "gauge",
           "Entries in the stateful session table (idle ones included until evicted).");
  if (r.sessions) m.sample("stamp_reflector_sessions", {}, double(*r.sessions));
  m.family("stamp_reflector_port_info", "gauge",
           "The UDP ports the reflector answers on; always 1.");
  for (auto p : ports) m.sample("stamp_reflector_port_info", {{"port", std::to_string(p)}}, 1);
}

}  // namespace

std::string renderMetrics(const MetricsInput& in) {
  MetricsText m;
  m.family("stamp_build_info", "gauge", "stampd's version; always 1.");
  m.sample("stamp_build_info", {{"version", in.version}}, 1);
  renderClock(m, in.clock);

  // Every session name with a series; a session that exists now labels it
  // with its current target.
  static const std::map<std::string, SessionSeries> kNone;
  const auto& series = in.series ? *in.series : kNone;
  static const SessionSeries kEmpty;
  std::vector<SessionRow> rows;
  for (const auto& [name, ser] : series) {
    auto it = in.live.find(name);
    const LiveSession* live = it == in.live.end() ? nullptr : &it->second;
    rows.push_back({&ser, live, live ? live->target : ser.target, name});
  }
  for (const auto& [name, live] : in.live)
    if (!series.contains(name)) rows.push_back({&kEmpty, &live, live.target, name});
  std::sort(rows.begin(), rows.end(),
            [](const SessionRow& a, const SessionRow& b) { return a.name < b.name; });
  renderSessions(m, rows);
  if (in.reflector) renderReflector(m, *in.reflector, in.reflectorPorts);
  return m.text();
}

}  // namespace stamp
