// The reload of stamp.toml, decided before anything is applied: what the
// new file changes against the running configuration (planReload, pure),
// and whether all of it can be applied (validateReload). The daemon then
// applies the plan; a refused file changes nothing.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "libstamp/result.hpp"
#include "service/config.hpp"
#include "service/keys.hpp"

namespace stamp {

struct ReloadPlan {
  // Keys a running stampd cannot take over ("daemon.socket", ...): planReload
  // puts their running values back into the new configuration.
  std::vector<std::string> restartRequired;
  // [[session]] names by what happens to them.
  std::vector<std::string> added, removed, changed, unchanged;
  // Runs to stop now (removed or changed sessions; the new definition
  // applies from the next run), with the reason for the log.
  std::vector<std::pair<std::string, std::string>> stopRuns;
  // Schedules to drop, and sessions of the new file to (re)schedule.
  std::vector<std::string> unschedule, reschedule;
  // Interfaces the sender's programs leave.
  std::vector<std::string> interfacesRemoved;
  bool logLevelChanged = false;
  bool resultsChanged = false;
  // Anything at all differs (the report's "changed").
  bool anyChange = false;
};

// Compares `next` with `running`; restores in `next` the keys that need a
// restart (and lists them). Pure: no I/O, no logging.
ReloadPlan planReload(const Config& running, Config& next);

// The report's "sessions" object: {"added","removed","changed","unchanged"}.
nlohmann::json sessionsReport(const ReloadPlan& p);

// Everything reload would refuse in `next`, before anything is touched:
// unknown interfaces, a reflector configuration this version cannot run,
// sessions that cannot start, bad schedules, missing keys. Returns the key
// ring of `next` (the key file is read again, so rotated keys apply).
// Errors carry EINVAL and name the file (FILE:LINE:COLUMN where known).
Result<KeyRing> validateReload(const Config& next);

}  // namespace stamp
