// What `stampctl status` shows and what systemd's status line says, as pure
// functions of a snapshot of the daemon: testable without root or BPF.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "kernel/clock.hpp"
#include "reflector/counters.hpp"
#include "service/config.hpp"

namespace stamp {

struct StatusInput {
  std::string version;
  pid_t pid = 0;
  int64_t uptimeS = 0;
  ClockState clock;
  ReflectorConfig reflectorConfig;
  std::optional<ReflectorSnapshot> reflector;  // set while the reflector runs
  size_t sessionsRunning = 0;
  nlohmann::json resultsStore;  // RunRecorder::storeJson()
};

// The result of the "status" command (libstamp/control_protocol.hpp).
nlohmann::json renderStatus(const StatusInput& in);

// The clock as status shows it (also used by the results of runs).
nlohmann::json clockJson(const ClockState& c);

// One line for systemd's STATUS=: "reflecting on 1 interface(s), port(s)
// 862; 2 session(s) running, 1 scheduled".
std::string statusLine(const ReflectorConfig& rc, bool reflectorRunning, size_t interfaces,
                       size_t running, size_t scheduled);

// "862,863": the reflector's ports for log lines.
std::string portList(const ReflectorConfig& rc);

}  // namespace stamp
