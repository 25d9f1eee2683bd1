// Where finished runs go: a summary line with structured journal fields
// (STAMP_SESSION, STAMP_SENT, ...), and a row in the results store. The
// store is opened at start and retried every minute while it fails;
// measuring never waits for it, and the log keeps every summary either way.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "libstamp/error_estimate.hpp"
#include "libstamp/result.hpp"
#include "libstamp/timefmt.hpp"
#include "service/config.hpp"
#include "service/results_store.hpp"

namespace stamp {

struct ResultsQuery;

// The circumstances of a run besides its summary.
struct RunContext {
  bool scheduled = false;  // started by the scheduler, not by a command
  UnixNs start = 0, end = 0;
  ErrorEstimate local;                  // this host's clock as sent
  std::optional<ErrorEstimate> remote;  // the reflector's, as last seen
};

class RunRecorder {
 public:
  // The store is `stateDir`/results.db; nothing is opened before open().
  RunRecorder(std::string stateDir, const ResultsConfig& results);

  // Opens the store; on failure logs why (once per distinct reason) and
  // retries from tick() a minute later.
  void open(int64_t monoNowS);
  // Retries a failed open; prunes by age once an hour.
  void tick(int64_t monoNowS, UnixNs now);
  void setRetention(const ResultsConfig& results);

  // A run ended: logs the summary line, and stores it unless `window` is
  // set in the summary's session (continuous sessions store each window
  // through windowClosed() instead).
  void runFinished(const std::string& name, const nlohmann::json& summary, const RunContext& ctx,
                   bool storeIt);
  // A continuous session's window closed: logged now, stored at the next
  // flush() (the daemon flushes after each batch of timers, so thousands
  // of windows closing together share one transaction).
  void windowClosed(const std::string& name, nlohmann::json window, const RunContext& ctx);
  // Stores the windows waiting; runFinished() and query() flush first.
  void flush();

  // The "store" object of status and results: {"path","healthy","error"}.
  nlohmann::json storeJson() const;
  // The "results" result; an error when the store is unavailable.
  Result<nlohmann::json> query(const ResultsQuery& q);

 private:
  void store(const std::string& name, nlohmann::json summary, bool window, const RunContext& ctx);

  std::string path_;
  Retention retention_;
  std::optional<ResultsStore> store_;
  std::vector<RunRecord> pending_;  // windows closed since the last flush()
  std::string error_;               // why the store is unavailable or failed last
  int64_t retryAtS_ = 0;
  int64_t pruneAtS_ = 0;
};

}  // namespace stamp
