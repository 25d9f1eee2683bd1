#include "service/status.hpp"

namespace stamp {
namespace {

// [reflector] guards as status shows them: bursts as they apply.
nlohmann::json guardsJson(const ReflectorConfig& rc) {
  auto prefixes = [](const std::vector<IpPrefix>& v) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& p : v) a.push_back(formatPrefix(p));
    return a;
  };
  auto burst = [](uint32_t rate, uint32_t b) { return rate == 0 ? 0 : b ? b : rate; };
  return {{"allow", prefixes(rc.allow)},
          {"deny", prefixes(rc.deny)},
          {"rate_limit_per_source", rc.rateLimitPerSource},
          {"rate_limit_per_source_burst", burst(rc.rateLimitPerSource, rc.rateLimitPerSourceBurst)},
          {"rate_limit", rc.rateLimit},
          {"rate_limit_burst", burst(rc.rateLimit, rc.rateLimitBurst)},
          {"rate_limit_ipv6_prefix", rc.rateLimitIpv6Prefix},
          {"answer_short_requests", rc.answerShortRequests},
          {"answer_reflector_source_ports", rc.answerReflectorSourcePorts},
          {"answer_reflected_packets", rc.answerReflectedPackets}};
}

nlohmann::json interfaceJson(const InterfaceCounters& c) {
  nlohmann::json i = {{"attach", c.attach},
                      {"rx", c.refl.rx},
                      {"reflected", c.refl.reflected},
                      {"t3_stamped", c.refl.t3_stamped},
                      {"fragments", c.refl.fragments}};
  nlohmann::json drops = nlohmann::json::object();
  forEachDrop(c, [&](const char* reason, uint64_t n) { drops[reason] = n; });
  i["drops"] = drops;
  i["auth_verified"] = c.auth.verified;
  i["sessions_started"] = c.state.sessions_new;
  i["sessions_expired"] = c.state.sessions_expired;
  const stamp_tlv_counters& t = c.tlv;
  i["tlvs"] = {{"requests", t.packets},        {"answered", t.tlvs},
               {"unrecognized", t.unknown},    {"malformed", t.malformed},
               {"integrity", t.integrity},     {"over_limit", t.over_limit},
               {"cos_refused", t.cos_refused}, {"no_state", t.no_state}};
  return i;
}

}  // namespace

nlohmann::json clockJson(const ClockState& c) {
  auto ee = c.errorEstimate;
  auto err = ee.errorNs();
  return {{"synchronized", c.synchronized},
          {"tai_offset_s", c.taiOffsetSec},
          {"esterror_ns", c.estErrorNs},
          {"maxerror_ns", c.maxErrorNs},
          {"error_estimate",
           {{"s", ee.synchronized},
            {"z", ee.ptp},
            {"scale", ee.scale},
            {"multiplier", ee.multiplier},
            {"error_ns", err ? nlohmann::json(*err) : nlohmann::json(nullptr)}}}};
}

nlohmann::json renderStatus(const StatusInput& in) {
  const ReflectorConfig& rc = in.reflectorConfig;
  nlohmann::json refl = {{"enabled", rc.enabled},
                         {"ports", rc.ports},
                         {"mode", rc.mode == ReflectorMode::Stateful ? "stateful" : "stateless"},
                         {"timestamp_format", rc.tsFormat == TsFormat::Ptp ? "ptp" : "ntp"},
                         {"authenticated", !rc.authKey.empty()},
                         {"tlvs", rc.tlvs},
                         {"guards", guardsJson(rc)},
                         {"interfaces", nlohmann::json::object()}};
  // The key's name only; its value never leaves stampd.
  if (!rc.authKey.empty()) refl["auth_key"] = rc.authKey;
  // The replies' DSCP and ECN: "copy" (the request's) or the configured value.
  auto copyOr = [](const std::optional<uint8_t>& v) {
    return v ? nlohmann::json(*v) : nlohmann::json("copy");
  };
  refl["dscp"] = copyOr(rc.dscp);
  refl["ecn"] = copyOr(rc.ecn);
  if (in.reflector) {
    refl["max_sessions"] = in.reflector->maxSessions;
    if (in.reflector->sessions) refl["sessions"] = *in.reflector->sessions;
    for (const auto& [ifname, c] : in.reflector->interfaces)
      refl["interfaces"][ifname] = interfaceJson(c);
  }
  return {{"version", in.version},
          {"pid", in.pid},
          {"uptime_s", in.uptimeS},
          {"clock", clockJson(in.clock)},
          {"reflector", refl},
          {"sessions_running", in.sessionsRunning},
          {"results_store", in.resultsStore}};
}

std::string portList(const ReflectorConfig& rc) {
  std::string ports;
  for (auto p : rc.ports) ports += (ports.empty() ? "" : ",") + std::to_string(p);
  return ports;
}

std::string statusLine(const ReflectorConfig& rc, bool reflectorRunning, size_t interfaces,
                       size_t running, size_t scheduled) {
  std::string refl = reflectorRunning ? "reflecting on " + std::to_string(interfaces) +
                                            " interface(s), port(s) " + portList(rc)
                                      : "reflector disabled";
  return refl + "; " + std::to_string(running) + " session(s) running, " +
         std::to_string(scheduled) + " scheduled";
}

}  // namespace stamp
