// The results store: one row per finished measurement run (or per closed
// window of a continuous session) in an SQLite database under state_dir, so
// results outlive the daemon and can be listed over the control socket.
//
// Called from the single-threaded event loop: every call is synchronous and
// short (one small transaction; a busy database waits at most
// kBusyTimeoutMs). Not thread-safe. Nothing here throws or aborts; every
// failure (corrupt file, full disk, no write permission, read-only file
// system) comes back as an Error whose message names the file and the cause,
// and the store stays usable: the next call simply tries again.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "libstamp/error_estimate.hpp"
#include "libstamp/result.hpp"
#include "libstamp/timefmt.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace stamp {

// What is kept. A value of 0 disables that limit.
struct Retention {
  std::chrono::seconds maxAge{std::chrono::hours(24 * 30)};  // by end time
  uint64_t maxRuns = 100'000;                                // oldest go first
};

// One end's clock at the time of the run.
struct ClockAtRun {
  bool synchronized = false;
  std::optional<int64_t> errorNs;  // empty: unknown (or beyond int64 ns)
  // From an Error Estimate field (ours, or the reflector's from its reply).
  static ClockAtRun from(const ErrorEstimate& ee);
  bool operator==(const ClockAtRun&) const = default;
};

struct RunRecord {
  int64_t id = 0;  // assigned by ResultsStore::record(); ignored on input
  std::string session;
  std::string target;
  uint16_t port = 0;
  bool scheduled = false;  // started by the schedule, not by a command
  bool window = false;     // a closed window of a continuous session, not a whole run
  UnixNs startNs = 0;
  UnixNs endNs = 0;
  uint64_t sent = 0, received = 0, lost = 0, duplicates = 0, reordered = 0;
  // Empty when the run has no such value (nothing received, or replies
  // without T2/T3 for the one-way figures).
  std::optional<int64_t> rttMinNs, rttAvgNs, rttMaxNs, rttP50Ns, rttP99Ns;
  std::optional<int64_t> forwardAvgNs, forwardP99Ns, backwardAvgNs, backwardP99Ns;
  ClockAtRun local;   // this host
  ClockAtRun remote;  // the reflector, from its replies' Error Estimate
  // The run summary (Session::summary()) without the three "histogram"
  // objects, which are in histogramJson as {"rtt","forward","backward"}:
  // stored once each, not twice.
  std::string summaryJson;
  std::string histogramJson;

  // What the summary JSON does not carry.
  struct Context {
    bool scheduled = false;
    bool window = false;
    UnixNs startNs = 0;
    UnixNs endNs = 0;
    ClockAtRun local, remote;
  };
  // Fills a record from a summary object as stats.cpp toJson() and
  // Session::summary() make it. Never throws: a missing or mistyped key
  // leaves its field at the default (0, empty or nullopt).
  static RunRecord fromSummary(nlohmann::json summary, const Context& ctx);

  bool operator==(const RunRecord&) const = default;
};

// For the control socket ("results"): the record's fields (nulls for empty
// optionals), times also as RFC 3339, and with `detail` "summary": the run
// summary as Session::summary() gave it, histograms put back in.
nlohmann::json toJson(const RunRecord& r, bool detail = true);

class ResultsStore {
 public:
  static constexpr int kSchemaVersion = 1;  // PRAGMA user_version
  static constexpr int kBusyTimeoutMs = 250;

  // Opens or creates the database at `path`, creating missing parent
  // directories (mode 0750). Fails on a file that is not an SQLite database
  // or fails PRAGMA quick_check (which reads the whole file: O(size) at
  // start-up), a file or directory this process cannot write, a schema newer
  // than kSchemaVersion, or a file system without WAL support.
  static Result<ResultsStore> open(const std::string& path, Retention retention);

  // Move-only; the destructor closes the database.

  // Stores `r` (its id ignored) in one transaction and returns the new id;
  // once it returns, the run survives a crash of this process. Then applies
  // retention; a failure there does not undo the record: it shows in
  // lastError()/healthy() and is retried by the next record().
  Result<int64_t> record(const RunRecord& r);
  // Many records in one transaction (all or none), then one prune: what
  // thousands of continuous sessions closing their windows in the same
  // second cost one commit, not one each. Returns how many were stored.
  Result<size_t> recordAll(std::span<const RunRecord> runs);

  // Runs newest first (by end time), at most `limit`; only `session`'s when
  // given, only those that ended at or after `sinceUnixNs` when given.
  Result<std::vector<RunRecord>> query(std::optional<std::string> session,
                                       std::optional<int64_t> sinceUnixNs, size_t limit);

  // Deletes runs that ended before now - maxAge, then the oldest beyond
  // maxRuns. record() calls it; call it on a timer too if runs are rare.
  // Returns the number deleted.
  Result<uint64_t> prune(UnixNs now);

  // Takes effect at the next prune() (e.g. after a reload).
  void setRetention(const Retention& r) { retention_ = r; }
  const Retention& retention() const { return retention_; }

  // false after any failed call; true again after the next successful write
  // (record() or prune()), since writes are what fail on a full disk.
  bool healthy() const { return healthy_; }
  // The most recent error message, kept after recovery; empty if none.
  const std::string& lastError() const { return lastError_; }
  const std::string& path() const { return path_; }

  // For tests: caps the file at `pages` pages (PRAGMA max_page_count, this
  // connection only), so that writes fail as on a full disk (SQLITE_FULL).
  Result<void> capPagesForTest(uint64_t pages);

 private:
  // Binds and steps the insert statement (no transaction of its own).
  Result<int64_t> insertRow(const RunRecord& r);
  struct DbClose {
    void operator()(sqlite3* db) const;
  };
  struct StmtFinalize {
    void operator()(sqlite3_stmt* s) const;
  };
  using Db = std::unique_ptr<sqlite3, DbClose>;
  using Stmt = std::unique_ptr<sqlite3_stmt, StmtFinalize>;

  ResultsStore(std::string path, Retention retention, Db db);
  Result<void> init();
  Result<void> exec(const char* sql, const char* what);
  Result<Stmt> prepare(const char* sql, const char* what);
  Result<uint64_t> pruneLocked(UnixNs now);
  // The error for SQLite result `rc` (with `detail` instead of SQLite's own
  // message when given), also remembered as lastError().
  Error fail(int rc, const std::string& what, const char* detail = nullptr);
  Error failWith(Error e);

  std::string path_;
  Retention retention_;
  Db db_;  // declared before the statements: closed after they are finalized
  Stmt insert_, pruneAge_, pruneOldest_, count_, queryAll_, querySession_;
  std::optional<uint64_t> rows_;  // cached count(*); empty: count again
  std::string lastError_;
  bool healthy_ = true;
};

}  // namespace stamp
