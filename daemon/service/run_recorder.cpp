#include "service/run_recorder.hpp"

#include <spdlog/spdlog.h>

#include "service/commands.hpp"
#include "service/logging.hpp"

namespace stamp {
namespace {
// Windows held for one transaction at most: a batch of timers larger than
// this commits in several.
constexpr size_t kMaxPending = 4096;

Retention retentionOf(const ResultsConfig& r) {
  return {std::chrono::duration_cast<std::chrono::seconds>(r.maxAge), r.maxRuns};
}

// A number of the summary as text ("0" when absent), a delay figure of one
// of its delay objects ("null" when absent).
std::string num(const nlohmann::json& s, const char* k) {
  return s.value(k, nlohmann::json(0)).dump();
}
std::string figure(const nlohmann::json& s, const char* delay, const char* k) {
  auto d = s.value(delay, nlohmann::json());
  return d.is_object() ? d.value(k, nlohmann::json(nullptr)).dump() : std::string("null");
}

}  // namespace

RunRecorder::RunRecorder(std::string stateDir, const ResultsConfig& results)
    : path_(std::move(stateDir) + "/results.db"), retention_(retentionOf(results)) {}

void RunRecorder::open(int64_t monoNowS) {
  auto s = ResultsStore::open(path_, retention_);
  if (!s) {
    if (s.error().message != error_)
      spdlog::error("{}; measuring goes on, run summaries stay in the log (retrying every minute)",
                    s.error().message);
    error_ = s.error().message;
    retryAtS_ = monoNowS + 60;
    return;
  }
  store_.emplace(std::move(*s));
  if (!error_.empty()) spdlog::info("results store {} is available again", path_);
  error_.clear();
  spdlog::debug("results store {}", path_);
}

void RunRecorder::tick(int64_t monoNowS, UnixNs now) {
  if (!store_ && monoNowS >= retryAtS_) open(monoNowS);
  // Retention by age also when no run ends for a while (record() prunes
  // as it writes).
  if (!store_ || monoNowS < pruneAtS_) return;
  pruneAtS_ = monoNowS + 3600;
  if (auto n = store_->prune(now); !n)
    spdlog::error("results store: retention failed: {}", n.error().message);
  else if (*n)
    spdlog::info("results store: {} runs past retention deleted", *n);
}

void RunRecorder::setRetention(const ResultsConfig& results) {
  retention_ = retentionOf(results);
  if (store_) store_->setRetention(retention_);
}

void RunRecorder::runFinished(const std::string& name, const nlohmann::json& sum,
                              const RunContext& ctx, bool storeIt) {
  // The summary figures as journal fields, so `journalctl -u stampd
  // STAMP_SESSION=NAME -o json` gives them without parsing the text.
  LogFields fields{{"STAMP_SESSION", name},
                   {"STAMP_TARGET", sum.value("target", "")},
                   {"STAMP_PORT", num(sum, "port")},
                   {"STAMP_SCHEDULED", ctx.scheduled ? "1" : "0"},
                   {"STAMP_SENT", num(sum, "sent")},
                   {"STAMP_RECEIVED", num(sum, "received")},
                   {"STAMP_LOST", num(sum, "lost")},
                   {"STAMP_DUPLICATES", num(sum, "duplicates")},
                   {"STAMP_RTT_MIN_NS", figure(sum, "rtt_ns", "min")},
                   {"STAMP_RTT_AVG_NS", figure(sum, "rtt_ns", "avg")},
                   {"STAMP_RTT_MAX_NS", figure(sum, "rtt_ns", "max")},
                   {"STAMP_RTT_P99_NS", figure(sum, "rtt_ns", "p99")},
                   {"STAMP_FORWARD_AVG_NS", figure(sum, "forward_ns", "avg")},
                   {"STAMP_BACKWARD_AVG_NS", figure(sum, "backward_ns", "avg")}};
  spdlog::info("session {} finished: target {} sent {} received {} lost {} rtt avg {} ns p99 {} ns",
               name, sum.value("target", ""), num(sum, "sent"), num(sum, "received"),
               num(sum, "lost"), figure(sum, "rtt_ns", "avg"), figure(sum, "rtt_ns", "p99"));
  if (storeIt) {
    flush();  // rows in the order the runs and windows ended
    store(name, sum, false, ctx);
  }
}

void RunRecorder::flush() {
  if (pending_.empty()) return;
  std::vector<RunRecord> runs = std::move(pending_);
  pending_.clear();
  if (!store_) return;
  if (auto n = store_->recordAll(runs); !n)
    spdlog::error("{} windows not stored: {} (their summaries are in the log)", runs.size(),
                  n.error().message);
}

void RunRecorder::windowClosed(const std::string& name, nlohmann::json w, const RunContext& ctx) {
  LogFields fields{{"STAMP_SESSION", name},
                   {"STAMP_TARGET", w.value("target", "")},
                   {"STAMP_WINDOW", "1"},
                   {"STAMP_SENT", num(w, "sent")},
                   {"STAMP_RECEIVED", num(w, "received")},
                   {"STAMP_LOST", num(w, "lost")},
                   {"STAMP_RTT_AVG_NS", figure(w, "rtt_ns", "avg")},
                   {"STAMP_RTT_P99_NS", figure(w, "rtt_ns", "p99")}};
  spdlog::info("session {} window {} .. {}: sent {} received {} lost {} rtt avg {} ns p99 {} ns",
               name, w.value("started", ""), w.value("ended", ""), num(w, "sent"),
               num(w, "received"), num(w, "lost"), figure(w, "rtt_ns", "avg"),
               figure(w, "rtt_ns", "p99"));
  RunContext c = ctx;
  c.start = w.value("started_ns", UnixNs(0));
  c.end = w.value("ended_ns", UnixNs(0));
  store(name, std::move(w), true, c);
}

void RunRecorder::store(const std::string& name, nlohmann::json summary, bool window,
                        const RunContext& ctx) {
  if (!store_) return;
  RunRecord::Context rc;
  rc.scheduled = ctx.scheduled;
  rc.window = window;
  rc.startNs = ctx.start;
  rc.endNs = ctx.end;
  rc.local = ClockAtRun::from(ctx.local);
  if (ctx.remote) rc.remote = ClockAtRun::from(*ctx.remote);
  if (window) {
    pending_.push_back(RunRecord::fromSummary(std::move(summary), rc));
    if (pending_.size() >= kMaxPending) flush();
    return;
  }
  auto id = store_->record(RunRecord::fromSummary(std::move(summary), rc));
  if (!id) {
    LogFields fields{{"STAMP_SESSION", name}};
    spdlog::error("session {}: run not stored: {} (the summary above is in the log)", name,
                  id.error().message);
  }
}

nlohmann::json RunRecorder::storeJson() const {
  if (!store_) return {{"path", path_}, {"healthy", false}, {"error", error_}};
  return {
      {"path", store_->path()},
      {"healthy", store_->healthy()},
      {"error", store_->healthy() ? nlohmann::json(nullptr) : nlohmann::json(store_->lastError())}};
}

Result<nlohmann::json> RunRecorder::query(const ResultsQuery& q) {
  flush();
  if (!store_) return makeError(EIO, "the results store is unavailable: " + error_);
  auto runs = store_->query(q.name, q.sinceNs, q.limit);
  if (!runs) return runs.error();
  nlohmann::json list = nlohmann::json::array();
  for (const auto& run : *runs) list.push_back(toJson(run, q.detail));
  return nlohmann::json{{"runs", list}, {"store", storeJson()}};
}

}  // namespace stamp
