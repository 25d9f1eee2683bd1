#include "service/results_store.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <utility>

#include <nlohmann/json.hpp>

namespace stamp {
namespace {

using json = nlohmann::json;

// One list for INSERT and SELECT, so the two cannot drift apart.
#define STAMP_RUN_COLUMNS                                                                  \
  "session, target, port, scheduled, is_window, start_ns, end_ns, sent, received, lost, "  \
  "duplicates, reordered, rtt_min_ns, rtt_avg_ns, rtt_max_ns, rtt_p50_ns, rtt_p99_ns, "    \
  "forward_avg_ns, forward_p99_ns, backward_avg_ns, backward_p99_ns, local_synchronized, " \
  "local_error_ns, remote_synchronized, remote_error_ns, summary, histogram"

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY,
  session TEXT NOT NULL, target TEXT NOT NULL, port INTEGER NOT NULL,
  scheduled INTEGER NOT NULL, is_window INTEGER NOT NULL,
  start_ns INTEGER NOT NULL, end_ns INTEGER NOT NULL,
  sent INTEGER NOT NULL, received INTEGER NOT NULL, lost INTEGER NOT NULL,
  duplicates INTEGER NOT NULL, reordered INTEGER NOT NULL,
  rtt_min_ns INTEGER, rtt_avg_ns INTEGER, rtt_max_ns INTEGER, rtt_p50_ns INTEGER,
  rtt_p99_ns INTEGER, forward_avg_ns INTEGER, forward_p99_ns INTEGER,
  backward_avg_ns INTEGER, backward_p99_ns INTEGER,
  local_synchronized INTEGER NOT NULL, local_error_ns INTEGER,
  remote_synchronized INTEGER NOT NULL, remote_error_ns INTEGER,
  summary TEXT NOT NULL, histogram TEXT NOT NULL);
-- Retention and the newest-first listing walk these instead of the table.
CREATE INDEX IF NOT EXISTS runs_end ON runs(end_ns);
CREATE INDEX IF NOT EXISTS runs_session_end ON runs(session, end_ns);
PRAGMA user_version = 1;
)sql";
static_assert(ResultsStore::kSchemaVersion == 1, "update kSchema's user_version");

// The summary's delay objects and their names in histogramJson.
constexpr std::pair<const char*, const char*> kDelays[] = {
    {"rtt_ns", "rtt"}, {"forward_ns", "forward"}, {"backward_ns", "backward"}};

std::optional<int64_t> optInt(const json& obj, const char* key) {
  if (!obj.is_object()) return std::nullopt;
  auto it = obj.find(key);
  if (it == obj.end()) return std::nullopt;
  if (it->is_number_unsigned() && it->get<uint64_t>() > INT64_MAX) return std::nullopt;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_number_float()) {
    double d = it->get<double>();
    if (std::isfinite(d) && std::fabs(d) < 9.2e18) return std::llround(d);
  }
  return std::nullopt;
}

uint64_t counter(const json& obj, const char* key) {
  auto v = optInt(obj, key);
  return v && *v > 0 ? uint64_t(*v) : 0;
}

const json& member(const json& obj, const char* key) {
  static const json kNull;
  if (!obj.is_object()) return kNull;
  auto it = obj.find(key);
  return it == obj.end() ? kNull : *it;
}

// Never throws on strings that are not UTF-8 (they are replaced).
std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

json orNull(const std::optional<int64_t>& v) {
  return v ? json(*v) : json(nullptr);
}

std::string parentDir(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

Result<void> makeParents(const std::string& path) {
  for (auto slash = path.find('/', 1); slash != std::string::npos;
       slash = path.find('/', slash + 1)) {
    std::string dir = path.substr(0, slash);
    if (::mkdir(dir.c_str(), 0750) == 0 || errno == EEXIST) continue;
    int err = errno;
    struct stat st {};
    if (::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) continue;
    return sysError(err, "results store " + path + ": cannot create directory " + dir);
  }
  return {};
}

// SQLite reports only "unable to open" or "readonly"; the file system
// knows why. Returns the errno and the reason, or {0, ""}.
std::pair<int, std::string> writeProblem(const std::string& path) {
  auto denied = [](const std::string& p) {
    return ::faccessat(AT_FDCWD, p.c_str(), W_OK, AT_EACCESS) != 0;
  };
  if (::access(path.c_str(), F_OK) == 0 && denied(path)) {
    int err = errno;
    return {err, "file " + path + " not writable: " + std::strerror(err)};
  }
  std::string dir = parentDir(path);
  if (denied(dir)) {
    int err = errno;
    return {err, "directory " + dir + " not writable: " + std::strerror(err)};
  }
  return {0, {}};
}

// The errno and the words for an SQLite result code.
std::pair<int, std::string> cause(const std::string& path, int rc, int sysErrno) {
  switch (rc & 0xff) {
    case SQLITE_FULL:
      return {ENOSPC, "disk full"};
    case SQLITE_NOTADB:
      return {EBADMSG, "not an SQLite database (corrupt, or some other file)"};
    case SQLITE_CORRUPT:
      return {EBADMSG, "database file is corrupt"};
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return {EBUSY, "database locked by another process"};
    case SQLITE_NOMEM:
      return {ENOMEM, "out of memory"};
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
      if (auto p = writeProblem(path); p.first != 0) return p;
      return {EACCES, "cannot open for writing"};
    case SQLITE_IOERR:
      if (sysErrno == ENOSPC) return {ENOSPC, "disk full"};
      if (sysErrno == 0) sysErrno = EIO;
      return {sysErrno, std::string("I/O error: ") + std::strerror(sysErrno)};
    default:
      return {EIO, "SQLite error"};
  }
}

Error describe(const std::string& path, int rc, int sysErrno, const std::string& what,
               std::string detail) {
  auto [code, why] = cause(path, rc, sysErrno);
  std::replace(detail.begin(), detail.end(), '\n', ' ');  // quick_check's lines
  return makeError(code, "results store " + path + ": " + what + " failed: " + why +
                             " [SQLite: " + detail + "]");
}

// Every use of a statement ends with it reset and its parameters cleared,
// whichever way the function leaves.
struct StmtReset {
  sqlite3_stmt* s;
  ~StmtReset() {
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
  }
};

class Binder {
 public:
  explicit Binder(sqlite3_stmt* s) : s_(s) {}
  Binder& i64(int64_t v) { return note(sqlite3_bind_int64(s_, ++n_, v)); }
  Binder& opt(const std::optional<int64_t>& v) {
    return note(v ? sqlite3_bind_int64(s_, ++n_, *v) : sqlite3_bind_null(s_, ++n_));
  }
  // SQLITE_STATIC: the caller's string outlives the step (see StmtReset).
  Binder& text(const std::string& v) {
    return note(sqlite3_bind_text64(s_, ++n_, v.data(), v.size(), SQLITE_STATIC, SQLITE_UTF8));
  }
  int rc() const { return rc_; }

 private:
  Binder& note(int rc) {
    if (rc_ == SQLITE_OK) rc_ = rc;
    return *this;
  }
  sqlite3_stmt* s_;
  int n_ = 0;
  int rc_ = SQLITE_OK;
};

RunRecord readRow(sqlite3_stmt* s) {
  int c = 0;
  auto i64 = [&] { return sqlite3_column_int64(s, c++); };
  auto opt = [&]() -> std::optional<int64_t> {
    if (sqlite3_column_type(s, c) == SQLITE_NULL) return ++c, std::nullopt;
    return sqlite3_column_int64(s, c++);
  };
  auto text = [&] {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, c));
    std::string v = p ? std::string(p, size_t(sqlite3_column_bytes(s, c))) : std::string();
    ++c;
    return v;
  };
  RunRecord r;
  r.id = i64();
  r.session = text();
  r.target = text();
  r.port = uint16_t(i64());
  r.scheduled = i64() != 0;
  r.window = i64() != 0;
  r.startNs = i64();
  r.endNs = i64();
  for (uint64_t* v : {&r.sent, &r.received, &r.lost, &r.duplicates, &r.reordered})
    *v = uint64_t(i64());
  for (auto* v : {&r.rttMinNs, &r.rttAvgNs, &r.rttMaxNs, &r.rttP50Ns, &r.rttP99Ns, &r.forwardAvgNs,
                  &r.forwardP99Ns, &r.backwardAvgNs, &r.backwardP99Ns})
    *v = opt();
  r.local.synchronized = i64() != 0;
  r.local.errorNs = opt();
  r.remote.synchronized = i64() != 0;
  r.remote.errorNs = opt();
  r.summaryJson = text();
  r.histogramJson = text();
  return r;
}

}  // namespace

ClockAtRun ClockAtRun::from(const ErrorEstimate& ee) {
  ClockAtRun c{ee.synchronized, std::nullopt};
  // Beyond int64 ns (292 years) only "unknown" (S=0, Scale 63) can get.
  if (auto e = ee.errorNs(); e && *e < 9.2e18) c.errorNs = int64_t(std::ceil(*e));
  return c;
}

RunRecord RunRecord::fromSummary(json summary, const Context& ctx) {
  RunRecord r;
  if (const json& v = member(summary, "session"); v.is_string()) r.session = v.get<std::string>();
  if (const json& v = member(summary, "target"); v.is_string()) r.target = v.get<std::string>();
  if (auto p = optInt(summary, "port"); p && *p > 0 && *p <= 65535) r.port = uint16_t(*p);
  r.scheduled = ctx.scheduled;
  r.window = ctx.window;
  r.startNs = ctx.startNs;
  r.endNs = ctx.endNs;
  r.sent = counter(summary, "sent");
  r.received = counter(summary, "received");
  r.lost = counter(summary, "lost");
  r.duplicates = counter(summary, "duplicates");
  r.reordered = counter(summary, "reordered");
  const json& rtt = member(summary, "rtt_ns");
  r.rttMinNs = optInt(rtt, "min");
  r.rttAvgNs = optInt(rtt, "avg");
  r.rttMaxNs = optInt(rtt, "max");
  r.rttP50Ns = optInt(rtt, "p50");
  r.rttP99Ns = optInt(rtt, "p99");
  r.forwardAvgNs = optInt(member(summary, "forward_ns"), "avg");
  r.forwardP99Ns = optInt(member(summary, "forward_ns"), "p99");
  r.backwardAvgNs = optInt(member(summary, "backward_ns"), "avg");
  r.backwardP99Ns = optInt(member(summary, "backward_ns"), "p99");
  r.local = ctx.local;
  r.remote = ctx.remote;

  // The summary is ours (moved in by the recorder): no copy of the tree.
  json rest = summary.is_object() ? std::move(summary) : json::object();
  json histograms = json::object();
  for (auto [key, name] : kDelays) {
    auto it = rest.find(key);
    if (it == rest.end() || !it->is_object() || !it->contains("histogram")) continue;
    histograms[name] = std::move((*it)["histogram"]);
    it->erase("histogram");
  }
  r.summaryJson = dump(rest);
  r.histogramJson = dump(histograms);
  return r;
}

json toJson(const RunRecord& r, bool detail) {
  auto clock = [](const ClockAtRun& c) {
    return json{{"synchronized", c.synchronized}, {"error_ns", orNull(c.errorNs)}};
  };
  json j = {{"id", r.id},
            {"session", r.session},
            {"target", r.target},
            {"port", r.port},
            {"scheduled", r.scheduled},
            {"window", r.window},
            {"start", formatRfc3339(r.startNs)},
            {"end", formatRfc3339(r.endNs)},
            {"start_ns", r.startNs},
            {"end_ns", r.endNs},
            {"sent", r.sent},
            {"received", r.received},
            {"lost", r.lost},
            {"duplicates", r.duplicates},
            {"reordered", r.reordered},
            {"rtt_ns",
             {{"min", orNull(r.rttMinNs)},
              {"avg", orNull(r.rttAvgNs)},
              {"max", orNull(r.rttMaxNs)},
              {"p50", orNull(r.rttP50Ns)},
              {"p99", orNull(r.rttP99Ns)}}},
            {"forward_ns", {{"avg", orNull(r.forwardAvgNs)}, {"p99", orNull(r.forwardP99Ns)}}},
            {"backward_ns", {{"avg", orNull(r.backwardAvgNs)}, {"p99", orNull(r.backwardP99Ns)}}},
            {"clock", {{"local", clock(r.local)}, {"remote", clock(r.remote)}}}};
  if (!detail) return j;
  // Parse failures give `discarded`, never an exception; shown as null.
  json summary = json::parse(r.summaryJson, nullptr, false);
  json histograms = json::parse(r.histogramJson, nullptr, false);
  if (summary.is_object() && histograms.is_object())
    for (auto [key, name] : kDelays)
      if (histograms.contains(name) && summary.contains(key) && summary[key].is_object())
        summary[key]["histogram"] = histograms[name];
  j["summary"] = summary.is_discarded() ? json(nullptr) : summary;
  return j;
}

void ResultsStore::DbClose::operator()(sqlite3* db) const {
  sqlite3_close_v2(db);
}
void ResultsStore::StmtFinalize::operator()(sqlite3_stmt* s) const {
  sqlite3_finalize(s);
}

ResultsStore::ResultsStore(std::string path, Retention retention, Db db)
    : path_(std::move(path)), retention_(retention), db_(std::move(db)) {}

Result<ResultsStore> ResultsStore::open(const std::string& path, Retention retention) {
  if (path.empty()) return makeError(EINVAL, "results store: empty path");
  if (auto r = makeParents(path); !r) return r.error();
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  Db db(raw);  // even a failed open returns a handle to close
  if (rc != SQLITE_OK)
    return describe(path, rc, 0, "open", raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc));
  ResultsStore store(path, retention, std::move(db));
  if (auto r = store.init(); !r) return r.error();
  return store;
}

Result<void> ResultsStore::init() {
  // SQLite quietly falls back to read-only when it may not write.
  if (sqlite3_db_readonly(db_.get(), "main") == 1)
    return fail(SQLITE_READONLY, "open", "opened read-only");
  // Bounded, because the caller is the event loop. Only stampd writes, and
  // in WAL mode readers (an operator's sqlite3 shell) never block it.
  sqlite3_busy_timeout(db_.get(), kBusyTimeoutMs);

  auto text = [this](const char* sql, const char* what) -> Result<std::string> {
    auto st = prepare(sql, what);
    if (!st) return st.error();
    int rc = sqlite3_step(st->get());
    if (rc != SQLITE_ROW) return fail(rc, what);
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st->get(), 0));
    return std::string(p ? p : "");
  };
  auto check = text("PRAGMA quick_check(1)", "integrity check");
  if (!check) return check.error();
  if (*check != "ok") return fail(SQLITE_CORRUPT, "integrity check", check->c_str());

  // Durability: in WAL mode a commit is in the -wal file (at least in the
  // kernel's page cache) before sqlite3_step() returns, so a committed run
  // survives kill -9 of stampd; synchronous=NORMAL only skips the fsync per
  // commit, which matters for a power cut or kernel crash (the last commits
  // may be lost then, the file still not corrupt).
  auto mode = text("PRAGMA journal_mode=WAL", "enabling WAL");
  if (!mode) return mode.error();
  if (*mode != "wal")
    return failWith(makeError(ENOTSUP, "results store " + path_ +
                                           ": enabling WAL failed: journal mode stays " + *mode +
                                           " (a file system without shared memory, e.g. NFS?)"));
  if (auto r = exec("PRAGMA synchronous=NORMAL", "setting synchronous"); !r) return r;
  // Checkpoints do not shrink the -wal file; cap what it keeps afterwards.
  if (auto r = exec("PRAGMA journal_size_limit=4194304", "setting journal_size_limit"); !r)
    return r;

  auto version = text("PRAGMA user_version", "reading the schema version");
  if (!version) return version.error();
  int v = std::atoi(version->c_str());
  if (v > kSchemaVersion)
    return failWith(makeError(ENOTSUP, "results store " + path_ + ": schema version " + *version +
                                           " is newer than this stampd's (" +
                                           std::to_string(kSchemaVersion) + ")"));
  if (v < kSchemaVersion) {
    if (auto r = exec("BEGIN IMMEDIATE", "creating the schema"); !r) return r;
    if (auto r = exec(kSchema, "creating the schema"); !r) {
      sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
      return r;
    }
    if (auto r = exec("COMMIT", "creating the schema"); !r) {
      sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
      return r;
    }
  }

  struct {
    Stmt* stmt;
    const char* sql;
  } const statements[] = {
      {&insert_, "INSERT INTO runs (" STAMP_RUN_COLUMNS
                 ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"},
      {&pruneAge_, "DELETE FROM runs WHERE end_ns < ?"},
      {&pruneOldest_,
       "DELETE FROM runs WHERE id IN (SELECT id FROM runs ORDER BY end_ns, id LIMIT ?)"},
      {&count_, "SELECT count(*) FROM runs"},
      {&queryAll_, "SELECT id, " STAMP_RUN_COLUMNS
                   " FROM runs WHERE end_ns >= ? ORDER BY end_ns DESC, id DESC LIMIT ?"},
      {&querySession_,
       "SELECT id, " STAMP_RUN_COLUMNS " FROM runs WHERE session = ? AND end_ns >= ?"
       " ORDER BY end_ns DESC, id DESC LIMIT ?"},
  };
  for (const auto& s : statements) {
    auto st = prepare(s.sql, "preparing statements");
    if (!st) return st.error();
    *s.stmt = std::move(*st);
  }
  return {};
}

Result<void> ResultsStore::exec(const char* sql, const char* what) {
  int rc = sqlite3_exec(db_.get(), sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return fail(rc, what);
  return {};
}

Result<ResultsStore::Stmt> ResultsStore::prepare(const char* sql, const char* what) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v3(db_.get(), sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
  Stmt st(raw);
  if (rc != SQLITE_OK) return fail(rc, what);
  return st;
}

Error ResultsStore::fail(int rc, const std::string& what, const char* detail) {
  return failWith(describe(path_, rc, sqlite3_system_errno(db_.get()), what,
                           detail ? detail : sqlite3_errmsg(db_.get())));
}

Error ResultsStore::failWith(Error e) {
  lastError_ = e.message;
  healthy_ = false;
  return e;
}

Result<int64_t> ResultsStore::record(const RunRecord& r) {
  if (!db_) return makeError(EBADF, "results store: used after move");
  // One statement in autocommit mode: its own transaction. On failure
  // (SQLITE_FULL included) SQLite has rolled it back already.
  auto id = insertRow(r);
  if (!id) return id.error();
  if (rows_) ++*rows_;
  healthy_ = true;
  (void)prune(realtimeNow());  // a failure is kept in lastError()
  return id;
}

Result<size_t> ResultsStore::recordAll(std::span<const RunRecord> runs) {
  if (!db_) return makeError(EBADF, "results store: used after move");
  if (runs.empty()) return size_t{0};
  if (auto r = exec("BEGIN IMMEDIATE", "insert"); !r) return r.error();
  for (const RunRecord& r : runs)
    if (auto id = insertRow(r); !id) {
      if (!sqlite3_get_autocommit(db_.get()))
        sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
      return id.error();
    }
  if (auto r = exec("COMMIT", "insert"); !r) {
    if (!sqlite3_get_autocommit(db_.get()))
      sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
    return r.error();
  }
  if (rows_) *rows_ += runs.size();
  healthy_ = true;
  (void)prune(realtimeNow());
  return runs.size();
}

Result<int64_t> ResultsStore::insertRow(const RunRecord& r) {
  sqlite3_stmt* st = insert_.get();
  StmtReset reset{st};
  Binder b(st);
  b.text(r.session).text(r.target).i64(r.port).i64(r.scheduled).i64(r.window);
  b.i64(r.startNs).i64(r.endNs);
  for (uint64_t v : {r.sent, r.received, r.lost, r.duplicates, r.reordered}) b.i64(int64_t(v));
  for (const auto* v : {&r.rttMinNs, &r.rttAvgNs, &r.rttMaxNs, &r.rttP50Ns, &r.rttP99Ns,
                        &r.forwardAvgNs, &r.forwardP99Ns, &r.backwardAvgNs, &r.backwardP99Ns})
    b.opt(*v);
  b.i64(r.local.synchronized).opt(r.local.errorNs).i64(r.remote.synchronized).opt(r.remote.errorNs);
  b.text(r.summaryJson).text(r.histogramJson);
  if (b.rc() != SQLITE_OK) return fail(b.rc(), "insert");
  int rc = sqlite3_step(st);
  if (rc != SQLITE_DONE) return fail(rc, "insert");
  return sqlite3_last_insert_rowid(db_.get());
}

Result<uint64_t> ResultsStore::prune(UnixNs now) {
  if (!db_) return makeError(EBADF, "results store: used after move");
  if (auto r = exec("BEGIN IMMEDIATE", "retention"); !r) return r.error();
  auto n = pruneLocked(now);
  if (n) {
    if (auto r = exec("COMMIT", "retention"); !r) n = r.error();
  }
  if (!n) {
    if (!sqlite3_get_autocommit(db_.get()))
      sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
    rows_.reset();
    return n.error();
  }
  healthy_ = true;
  return *n;
}

// Inside a transaction; rows_ is updated only after the commit.
Result<uint64_t> ResultsStore::pruneLocked(UnixNs now) {
  uint64_t rows = 0;
  if (rows_) {
    rows = *rows_;
  } else {
    StmtReset reset{count_.get()};
    int rc = sqlite3_step(count_.get());
    if (rc != SQLITE_ROW) return fail(rc, "counting runs");
    rows = uint64_t(sqlite3_column_int64(count_.get(), 0));
  }
  uint64_t deleted = 0;
  auto run = [&](sqlite3_stmt* st, int64_t arg) -> Result<void> {
    StmtReset reset{st};
    Binder(st).i64(arg);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) return fail(rc, "retention");
    auto changes = uint64_t(sqlite3_changes64(db_.get()));
    deleted += changes;
    rows -= std::min(rows, changes);
    return {};
  };
  if (int64_t age = retention_.maxAge.count(); age > 0) {
    int64_t ageNs = age >= INT64_MAX / kNsPerSec ? INT64_MAX : age * kNsPerSec;
    if (auto r = run(pruneAge_.get(), now < INT64_MIN + ageNs ? INT64_MIN : now - ageNs); !r)
      return r.error();
  }
  if (retention_.maxRuns > 0 && rows > retention_.maxRuns) {
    if (auto r = run(pruneOldest_.get(), int64_t(rows - retention_.maxRuns)); !r) return r.error();
  }
  rows_ = rows;
  return deleted;
}

Result<std::vector<RunRecord>> ResultsStore::query(std::optional<std::string> session,
                                                   std::optional<int64_t> sinceUnixNs,
                                                   size_t limit) {
  if (!db_) return makeError(EBADF, "results store: used after move");
  sqlite3_stmt* st = session ? querySession_.get() : queryAll_.get();
  StmtReset reset{st};
  Binder b(st);
  if (session) b.text(*session);
  b.i64(sinceUnixNs.value_or(INT64_MIN)).i64(int64_t(std::min<size_t>(limit, INT64_MAX)));
  if (b.rc() != SQLITE_OK) return fail(b.rc(), "query");
  std::vector<RunRecord> out;
  for (;;) {
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) return fail(rc, "query");
    out.push_back(readRow(st));
  }
  return out;
}

Result<void> ResultsStore::capPagesForTest(uint64_t pages) {
  // PRAGMA arguments cannot be bound; this is a number, not text.
  std::string sql = "PRAGMA max_page_count = " + std::to_string(pages);
  auto st = prepare(sql.c_str(), "max_page_count");
  if (!st) return st.error();
  int rc = sqlite3_step(st->get());
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return fail(rc, "max_page_count");
  return {};
}

}  // namespace stamp
