#include "service/commands.hpp"

#include <algorithm>
#include <exception>
#include <map>
#include <optional>
#include <string_view>

#include <spdlog/spdlog.h>

#include "libstamp/control_args.hpp"
#include "libstamp/control_protocol.hpp"

namespace stamp {
namespace {

namespace arg = control::arg;
namespace schema = control::schema;
using control::boolArg;
using control::intArg;
using control::stringArg;
using nlohmann::json;

json when(std::optional<UnixNs> t) {
  return t && *t != Schedule::kNever ? json(formatRfc3339(*t)) : json(nullptr);
}

}  // namespace

std::span<const Commands::Entry> Commands::table() {
  static constexpr Entry kTable[] = {
      {control::kStatus, Access::kRead, schema::kNone, &Commands::status},
      {control::kSessionList, Access::kRead, schema::kSessionList, &Commands::sessionList},
      {control::kSessionShow, Access::kRead, schema::kName, &Commands::sessionShow},
      {control::kResults, Access::kRead, schema::kResults, &Commands::results},
      {control::kSessionStart, Access::kMutate, schema::kSessionStart, &Commands::sessionStart},
      {control::kSessionStop, Access::kMutate, schema::kName, &Commands::sessionStop},
      {control::kReload, Access::kMutate, schema::kNone, &Commands::reload},
  };
  return kTable;
}

void Commands::dispatch(const ControlRequest& r) {
  auto t = table();
  auto it = std::find_if(t.begin(), t.end(), [&](const Entry& e) { return e.name == r.command; });
  if (it == t.end())
    return replier_.fail(r, control::kErrUnknownCommand, "unknown command '" + r.command + "'");
  if (!permitted(it->access, {r.uid, r.gid, r.groups},
                 it->access == Access::kRead ? std::nullopt : operatorGid_()))
    return replier_.fail(
        r, control::kErrPermission,
        "'" + r.command + "' needs root or membership of the " + kOperatorGroup + " group");
  if (auto ok = control::checkArgs(r.args, it->args); !ok)
    return replier_.fail(r, control::kErrBadArgument, ok.error().message);
  guarded(*it, r);
}

// The last resort: a bug in a handler, or in what it calls, costs one
// request its answer, not the daemon.
void Commands::guarded(const Entry& e, const ControlRequest& r) {
  std::string what;
  replier_.begin(r);
  try {
    (this->*(e.handler))(r);
    return;
  } catch (const std::exception& ex) {
    what = ex.what();
  } catch (...) {
    what = "an exception that is not a std::exception";
  }
  spdlog::error("control: command '{}' from pid {} failed: {}", r.command, r.pid, what);
  if (replier_.answered()) return;
  try {
    replier_.fail(r, control::kErrInternal, "'" + r.command + "' failed: " + what);
  } catch (...) {
    spdlog::error("control: command '{}': the error answer failed too", r.command);
  }
}

// Noted before forwarding: an answer that throws on its way out may have
// gone out, and a request gets at most one final answer.
void Commands::Tracker::respond(const ControlRequest& r, const json& result) {
  if (&r == current_) answered_ = true;
  out_.respond(r, result);
}

void Commands::Tracker::fail(const ControlRequest& r, std::string_view code,
                             const std::string& message) {
  if (&r == current_) answered_ = true;
  out_.fail(r, code, message);
}

void Commands::status(const ControlRequest& r) {
  replier_.respond(r, target_.status());
}

void Commands::sessionStart(const ControlRequest& r) {
  auto bad = [&](const std::string& m) { replier_.fail(r, control::kErrBadArgument, m); };
  Result<SessionSpec> spec = makeError(EINVAL, "");
  const bool adhoc = !(r.args.contains(arg::kName) && !r.args.contains(arg::kTarget));
  if (!adhoc) {
    // A configured session's settings are its own, from stamp.toml.
    for (const auto& [key, value] : r.args.items())
      if (std::none_of(std::begin(schema::kConfiguredStartKeys),
                       std::end(schema::kConfiguredStartKeys),
                       [&k = key](const char* known) { return k == known; }))
        return bad("\"" + key +
                   "\" is for ad-hoc sessions (with \"target\"); a configured session takes "
                   "its settings from the configuration file");
    const std::string name = stringArg(r.args, arg::kName);
    const auto& sessions = target_.config().sessions;
    auto it = std::find_if(sessions.begin(), sessions.end(),
                           [&](const SessionConfig& c) { return c.name == name; });
    if (it == sessions.end())
      return replier_.fail(r, control::kErrNotFound, "no configured session '" + name + "'");
    spec = specFromConfig(*it);
  } else {
    spec = specFromJson(r.args);
    if (spec && spec->name.empty()) spec->name = "adhoc-" + std::to_string(++adhocCounter_);
  }
  if (!spec) return bad(spec.error().message);
  if (r.args.contains(arg::kRequireSync))
    spec->requireSync = boolArg(r.args, arg::kRequireSync, false);

  const bool following = boolArg(r.args, arg::kFollow, false);
  auto started = target_.startRun(std::move(*spec), r, following, adhoc);
  if (!started) {
    int code = started.error().code;
    std::string_view err = code == EAGAIN                       ? control::kErrClockUnsync
                           : code == EBUSY                      ? control::kErrBusy
                           : code == EDQUOT                     ? control::kErrLimit
                           : code == EMSGSIZE || code == EINVAL ? control::kErrBadArgument
                                                                : control::kErrInternal;
    return replier_.fail(r, err, started.error().message);
  }
  if (!following) return replier_.respond(r, {{"session", started->name}});
  replier_.event(r, control::kEventStarted,
                 {{"session", started->name},
                  {"ssid", started->ssid},
                  {"target", started->target},
                  {"port", started->port},
                  {"source_port", started->sourcePort}});
}

// Every session, configured or ad hoc, by name: a page is the `limit`
// names after `after` that match `state`. The views come from
// CommandTarget::sessions() (RunCounts per session); an entry's JSON is
// built only for the names on the page.
void Commands::sessionList(const ControlRequest& r) {
  const std::string state = stringArg(r.args, arg::kState);
  if (r.args.contains(arg::kState) && state != "running" && state != "finished" && state != "idle")
    return replier_.fail(r, control::kErrBadArgument,
                         "\"state\" must be \"running\", \"finished\" or \"idle\", not " +
                             r.args[arg::kState].dump());
  const bool paged = r.args.contains(arg::kAfter);
  const std::string after = stringArg(r.args, arg::kAfter);
  const size_t limit = size_t(intArg(r.args, arg::kLimit, 0));  // 0: all

  struct Row {
    std::string_view name;
    const SessionConfig* configured = nullptr;
    const SessionView* ran = nullptr;
    const char* state() const { return ran ? (ran->running ? "running" : "finished") : "idle"; }
  };
  const std::vector<SessionView> views = target_.sessions();
  // One sorted vector, a configured session and its run merged into one
  // row: no allocation per session, as a map would make.
  std::vector<Row> rows;
  rows.reserve(target_.config().sessions.size() + views.size());
  for (const auto& c : target_.config().sessions) rows.push_back({c.name, &c, nullptr});
  for (const auto& v : views) rows.push_back({v.name, nullptr, &v});
  std::stable_sort(rows.begin(), rows.end(),
                   [](const Row& a, const Row& b) { return a.name < b.name; });
  size_t kept = 0;
  for (size_t k = 0; k < rows.size(); ++k) {
    if (kept > 0 && rows[kept - 1].name == rows[k].name) {
      if (rows[k].configured && !rows[kept - 1].configured)
        rows[kept - 1].configured = rows[k].configured;
      if (rows[k].ran && !rows[kept - 1].ran) rows[kept - 1].ran = rows[k].ran;
      continue;
    }
    rows[kept++] = rows[k];
  }
  rows.resize(kept);
  auto matches = [&](const Row& row) { return state.empty() || state == row.state(); };

  auto entry = [&](const Row& row) {
    const SessionView* s = row.ran;
    if (!row.configured)
      return json{{"name", row.name},
                  {"target", s->target},
                  {"port", s->port},
                  {"schedule", ""},
                  {"configured", false},
                  {"state", row.state()},
                  {"sent", s->counts.sent},
                  {"received", s->counts.received},
                  {"last_run", formatRfc3339(s->startedAt)}};
    const SessionConfig& c = *row.configured;
    json e = {{"name", c.name},         {"target", c.target}, {"port", c.port},
              {"schedule", c.schedule}, {"configured", true}, {"state", row.state()}};
    if (s) {
      e["sent"] = s->counts.sent;
      e["received"] = s->counts.received;
      // A run started by a command counts as the last run too.
      e["last_run"] = formatRfc3339(s->startedAt);
    }
    if (auto info = target_.scheduleInfo(c.name)) {
      e["next_run"] = when(info->nextRun);
      if (!s || (info->lastStart && *info->lastStart > s->startedAt))
        e["last_run"] = when(info->lastStart);
      e["runs"] = info->runs;
      e["skipped_overlaps"] = info->skippedOverlaps;
      e["timezone"] = info->zone == ScheduleZone::kLocal ? "local" : "utc";
    }
    return e;
  };

  size_t total = 0;
  for (const Row& row : rows) total += matches(row);
  json list = json::array();
  std::string_view last;  // the name of the page's last entry
  std::optional<std::string_view> next;
  auto it = paged
                ? std::upper_bound(rows.begin(), rows.end(), std::string_view(after),
                                   [](std::string_view a, const Row& row) { return a < row.name; })
                : rows.begin();
  for (; it != rows.end(); ++it) {
    if (!matches(*it)) continue;
    if (limit > 0 && list.size() == limit) {
      next = last;
      break;
    }
    list.push_back(entry(*it));
    last = it->name;
  }
  json result = {{"sessions", std::move(list)}, {"total", total}};
  if (next) result["next"] = *next;
  replier_.respond(r, result);
}

void Commands::sessionShow(const ControlRequest& r) {
  const std::string name = stringArg(r.args, arg::kName);
  auto sum = target_.summary(name);
  if (!sum) return replier_.fail(r, control::kErrNotFound, "no session '" + name + "' has run");
  replier_.respond(r, *sum);
}

void Commands::sessionStop(const ControlRequest& r) {
  const std::string name = stringArg(r.args, arg::kName);
  auto sum = target_.stopRun(name);  // followers are answered by the target
  if (!sum) return replier_.fail(r, control::kErrNotFound, "no session '" + name + "'");
  replier_.respond(r, *sum);
}

void Commands::reload(const ControlRequest& r) {
  auto res = target_.reload();
  if (!res)
    return replier_.fail(
        r, res.error().code == EINVAL ? control::kErrBadConfig : control::kErrInternal,
        res.error().message);
  replier_.respond(r, *res);
}

void Commands::results(const ControlRequest& r) {
  ResultsQuery q;
  if (r.args.contains(arg::kName)) q.name = stringArg(r.args, arg::kName);
  if (r.args.contains(arg::kSinceNs)) q.sinceNs = intArg(r.args, arg::kSinceNs, 0);
  q.limit = size_t(intArg(r.args, arg::kLimit, int64_t(q.limit)));
  q.detail = boolArg(r.args, arg::kDetail, false);
  auto res = target_.results(q);
  if (!res) return replier_.fail(r, control::kErrUnavailable, res.error().message);
  replier_.respond(r, *res);
}

}  // namespace stamp
