#include "service/commands.hpp"

#include <algorithm>
#include <map>

#include "libstamp/control_protocol.hpp"

namespace stamp {
namespace {

namespace arg = control::arg;
using nlohmann::json;

// An optional argument of one JSON type: nullopt when absent, an error
// message when present with another type.
template <typename T>
Result<std::optional<T>> optionalArg(const json& args, const char* key) {
  auto it = args.find(key);
  if (it == args.end()) return std::optional<T>();
  bool ok = false;
  const char* want = "";
  if constexpr (std::is_same_v<T, std::string>) {
    ok = it->is_string(), want = "a string";
  } else if constexpr (std::is_same_v<T, bool>) {
    ok = it->is_boolean(), want = "true or false";
  } else if constexpr (std::is_same_v<T, uint64_t>) {
    ok = it->is_number_unsigned() || (it->is_number_integer() && it->get<int64_t>() >= 0),
    want = "a non-negative integer";
  } else {
    static_assert(std::is_same_v<T, int64_t>);
    ok = it->is_number_integer(), want = "an integer";
  }
  if (!ok) return makeError(EINVAL, std::string("\"") + key + "\" must be " + want);
  return std::optional<T>(it->get<T>());
}

json when(std::optional<UnixNs> t) {
  return t && *t != Schedule::kNever ? json(formatRfc3339(*t)) : json(nullptr);
}

}  // namespace

std::span<const Commands::Entry> Commands::table() {
  static constexpr Entry kTable[] = {
      {control::kStatus, Access::kRead, &Commands::status},
      {control::kSessionList, Access::kRead, &Commands::sessionList},
      {control::kSessionShow, Access::kRead, &Commands::sessionShow},
      {control::kResults, Access::kRead, &Commands::results},
      {control::kSessionStart, Access::kMutate, &Commands::sessionStart},
      {control::kSessionStop, Access::kMutate, &Commands::sessionStop},
      {control::kReload, Access::kMutate, &Commands::reload},
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
  (this->*(it->handler))(r);
}

void Commands::status(const ControlRequest& r) {
  replier_.respond(r, target_.status());
}

void Commands::sessionStart(const ControlRequest& r) {
  auto bad = [&](const std::string& m) { replier_.fail(r, control::kErrBadArgument, m); };
  auto follow = optionalArg<bool>(r.args, arg::kFollow);
  if (!follow) return bad(follow.error().message);
  auto requireSync = optionalArg<bool>(r.args, arg::kRequireSync);
  if (!requireSync) return bad(requireSync.error().message);

  Result<SessionSpec> spec = makeError(EINVAL, "");
  const bool adhoc = !(r.args.contains(arg::kName) && !r.args.contains(arg::kTarget));
  if (!adhoc) {
    auto name = optionalArg<std::string>(r.args, arg::kName);
    if (!name) return bad(name.error().message);
    const auto& sessions = target_.config().sessions;
    auto it = std::find_if(sessions.begin(), sessions.end(),
                           [&](const SessionConfig& c) { return c.name == **name; });
    if (it == sessions.end())
      return replier_.fail(r, control::kErrNotFound, "no configured session '" + **name + "'");
    spec = specFromConfig(*it);
  } else {
    spec = specFromJson(r.args);
    if (spec && spec->name.empty()) spec->name = "adhoc-" + std::to_string(++adhocCounter_);
  }
  if (!spec) return bad(spec.error().message);
  if (*requireSync) spec->requireSync = **requireSync;

  const bool following = follow->value_or(false);
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

void Commands::sessionList(const ControlRequest& r) {
  std::map<std::string, SessionView> ran;
  for (auto& v : target_.sessions()) ran.emplace(v.name, std::move(v));
  json list = json::array();
  const auto& configured = target_.config().sessions;
  for (const auto& c : configured) {
    auto it = ran.find(c.name);
    const SessionView* s = it == ran.end() ? nullptr : &it->second;
    json e = {{"name", c.name},     {"target", c.target},
              {"port", c.port},     {"schedule", c.schedule},
              {"configured", true}, {"state", s ? (s->running ? "running" : "finished") : "idle"}};
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
    list.push_back(e);
  }
  for (const auto& [name, s] : ran) {
    if (std::any_of(configured.begin(), configured.end(),
                    [&n = name](const SessionConfig& c) { return c.name == n; }))
      continue;
    list.push_back({{"name", name},
                    {"target", s.target},
                    {"port", s.port},
                    {"schedule", ""},
                    {"configured", false},
                    {"state", s.running ? "running" : "finished"},
                    {"sent", s.counts.sent},
                    {"received", s.counts.received},
                    {"last_run", formatRfc3339(s.startedAt)}});
  }
  replier_.respond(r, {{"sessions", list}});
}

void Commands::sessionShow(const ControlRequest& r) {
  auto name = optionalArg<std::string>(r.args, arg::kName);
  if (!name || !*name)
    return replier_.fail(r, control::kErrBadArgument, "\"name\" must be a string");
  auto sum = target_.summary(**name);
  if (!sum) return replier_.fail(r, control::kErrNotFound, "no session '" + **name + "' has run");
  replier_.respond(r, *sum);
}

void Commands::sessionStop(const ControlRequest& r) {
  auto name = optionalArg<std::string>(r.args, arg::kName);
  if (!name || !*name)
    return replier_.fail(r, control::kErrBadArgument, "\"name\" must be a string");
  auto sum = target_.stopRun(**name);  // followers are answered by the target
  if (!sum) return replier_.fail(r, control::kErrNotFound, "no session '" + **name + "'");
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
  auto bad = [&](const std::string& m) { replier_.fail(r, control::kErrBadArgument, m); };
  ResultsQuery q;
  auto name = optionalArg<std::string>(r.args, arg::kName);
  if (!name) return bad(name.error().message);
  q.name = *name;
  auto since = optionalArg<int64_t>(r.args, arg::kSinceNs);
  if (!since) return bad(since.error().message);
  q.sinceNs = *since;
  auto limit = optionalArg<uint64_t>(r.args, arg::kLimit);
  if (!limit || (*limit && **limit > 10000)) return bad("\"limit\" must be 0..10000");
  if (*limit) q.limit = size_t(**limit);
  auto detail = optionalArg<bool>(r.args, arg::kDetail);
  if (!detail) return bad(detail.error().message);
  q.detail = detail->value_or(false);
  auto res = target_.results(q);
  if (!res) return replier_.fail(r, control::kErrUnavailable, res.error().message);
  replier_.respond(r, *res);
}

}  // namespace stamp
