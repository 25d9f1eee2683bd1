// What one stampd lets its users ask for: runs in progress (all together
// and per client user), the packet rate and bandwidth of a run and of all
// runs together. The defaults are far above legitimate use (ten thousand
// probing sessions at one packet per second use 1 % of them) and bound
// what a script or a stamp-group user can make the host send.
// docs/configuration.md, [limits], has the numbers and their reasons.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>

#include "libstamp/result.hpp"
#include "service/config.hpp"

namespace stamp {

struct SessionSpec;

// The load one run puts on the network.
struct RunDemand {
  double packetsPerSecond = 0;
  double bitsPerSecond = 0;  // IP and UDP headers included
};
RunDemand demandOf(const SessionSpec& spec);

// The runs in progress, with their owners and demand; admits a new run or
// says which limit it would break (EDQUOT).
class RunLedger {
 public:
  // Runs started by stampd itself (schedules, configuration) have no
  // client user; a run of root's is limited by the totals only.
  static constexpr uid_t kNoUser = uid_t(-1);

  Result<void> admit(const LimitsConfig& limits, const std::string& name, const RunDemand& d,
                     uid_t user) const;
  void add(const std::string& name, const RunDemand& d, uid_t user);
  void remove(const std::string& name);
  size_t running() const { return runs_.size(); }
  size_t runningOf(uid_t user) const;
  double totalBitsPerSecond() const { return totalBps_; }

 private:
  struct Run {
    RunDemand demand;
    uid_t user = kNoUser;
  };
  std::map<std::string, Run> runs_;
  std::map<uid_t, size_t> perUser_;
  double totalBps_ = 0;
};

}  // namespace stamp
