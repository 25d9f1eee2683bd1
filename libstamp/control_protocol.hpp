// The control protocol between stampctl (or any client) and stampd: one
// header names every command, its arguments and its error codes.
//
// Transport: a Unix stream socket (default /run/stamp/stampd.sock),
// newline-delimited JSON, one object per line: a request at most
// kMaxLineBytes, a response or event at most kMaxResponseLineBytes.
//
// Request:   {"version": 1, "id": 7, "command": "session.start", "args": {...}}
// Response:  {"version": 1, "id": 7, "ok": true, "result": {...}}
//        or  {"version": 1, "id": 7, "ok": false,
//             "error": {"code": "not_found", "message": "no session 'x'"}}
// Event:     {"version": 1, "id": 7, "event": "reply", "data": {...}}
//            (only for a request with "args": {"follow": true}; events come
//            before that request's final response)
//
// History of kVersion:
//   1  first version: status, session.start/list/show/stop; reload (added
//      within version 1: an older stampd answers it with unknown_command).
#pragma once

#include <string_view>

namespace stamp::control {

inline constexpr int kVersion = 1;
inline constexpr size_t kMaxLineBytes = size_t{64} * 1024;
// Answers run longer than requests ("results" lists thousands of runs).
// stampd drops a client with more than this queued for it
// (ControlServer::kMaxPendingOutput), so no longer line ever arrives.
inline constexpr size_t kMaxResponseLineBytes = 4 << 20;
inline constexpr const char* kDefaultSocket = "/run/stamp/stampd.sock";

// ---- Commands ----
// "status"          args: none.
//                   result: {"version","pid","uptime_s","clock":{"synchronized",
//                   "tai_offset_s","error_estimate":{"s","z","scale","multiplier",
//                   "error_ns"}},"reflector":{"enabled","ports":[..],"mode",
//                   "dscp","ecn" (each "copy" or the configured value),
//                   "guards":{"allow":[PREFIX..],"deny":[..],"rate_limit",
//                   "rate_limit_burst","rate_limit_per_source",
//                   "rate_limit_per_source_burst"},
//                   "interfaces":{"NAME":{"attach","rx","reflected",...,
//                   "drops":{"REASON":N}}}},"sessions_running":N}
inline constexpr std::string_view kStatus = "status";
// "session.start"   args: {"name": configured session} or an ad-hoc session
//                   {"target","port","count","interval_ns","timeout_ns","size",
//                   "dscp","ecn","ssid","source_port","require_sync"}, plus
//                   "follow": true to receive "reply" events.
//                   result: the run's summary (docs/control-protocol.md, "The
//                   run summary": sent, received, lost, rtt_ns, ... plus e.g. "dscp","ecn" sent and
//                   "reply_dscp","reply_ecn"
//                   {"VALUE": replies}, "reply_ecn_ce") when the run ends; without follow,
//                   {"session": NAME} at once.
inline constexpr std::string_view kSessionStart = "session.start";
// "session.list"    args (all optional): {"limit": 1..100000, "after": NAME,
//                   "state": "running"|"finished"|"idle"}. result:
//                   {"sessions":[{"name","target","port","state",
//                   "sent","received","schedule"}], "total": N, "next": NAME}
//                   sorted by name; "total" counts the sessions of that
//                   state, "next" (the "after" of the next page) is there
//                   only when more remain.
inline constexpr std::string_view kSessionList = "session.list";
// "session.show"    args: {"name"}. result: the current summary of the
//                   session (running or last finished run).
inline constexpr std::string_view kSessionShow = "session.show";
// "session.stop"    args: {"name"}. result: the summary of the stopped run.
inline constexpr std::string_view kSessionStop = "session.stop";
// "reload"          args: none. Re-reads the configuration file stampd was
//                   started with, validates all of it, then applies only
//                   the difference. result: {"config": PATH, "changed": bool,
//                   "sessions":{"added":[..],"removed":[..],"changed":[..],
//                   "unchanged":[..]},"reflector":{"enabled","ports":[..],
//                   "attached":[..],"detached":[..]},"restart_required":[KEY..]}.
//                   A bad file: error bad_config, message "FILE:LINE:COL: ..."
//                   (every problem, one per line); the running config stays.
inline constexpr std::string_view kReload = "reload";
// "results"         args: {"name"?, "since_ns"? (runs that ended at or after,
//                   unix ns), "limit"? (default 100, at most 10000),
//                   "detail"? (with each run's full summary)}.
//                   result: {"runs":[{"id","session","target","port",
//                   "scheduled","window","start","end","sent","received",
//                   "lost",...}], newest first, "store":{"path","healthy",
//                   "error"}}. Error "unavailable" when the store is.
inline constexpr std::string_view kResults = "results";

// ---- Argument keys ----
// Every key a request's "args" may hold, named once for stampd and
// stampctl. The commands above say which command takes which.
namespace arg {
inline constexpr const char* kName = "name";
inline constexpr const char* kFollow = "follow";
inline constexpr const char* kRequireSync = "require_sync";
// session.start, ad-hoc
inline constexpr const char* kTarget = "target";
inline constexpr const char* kPort = "port";
inline constexpr const char* kCount = "count";
inline constexpr const char* kIntervalNs = "interval_ns";
inline constexpr const char* kTimeoutNs = "timeout_ns";
inline constexpr const char* kWindowNs = "window_ns";
inline constexpr const char* kSize = "size";
inline constexpr const char* kDscp = "dscp";
inline constexpr const char* kEcn = "ecn";
inline constexpr const char* kSsid = "ssid";
inline constexpr const char* kSourcePort = "source_port";
inline constexpr const char* kTimestampFormat = "timestamp_format";
inline constexpr const char* kReflectorMode = "reflector_mode";
inline constexpr const char* kAuthKey = "auth_key";
inline constexpr const char* kRetries = "retries";
inline constexpr const char* kStopOnZeroSsid = "stop_on_zero_ssid";
inline constexpr const char* kHistogramBins = "histogram_bins";
inline constexpr const char* kHistogramFloorNs = "histogram_floor_ns";
inline constexpr const char* kHistogramCeilingNs = "histogram_ceiling_ns";
inline constexpr const char* kTlvPadding = "tlv_padding";
inline constexpr const char* kTlvLocation = "tlv_location";
inline constexpr const char* kTlvTimestampInfo = "tlv_timestamp_info";
inline constexpr const char* kTlvCosDscp = "tlv_cos_dscp";
inline constexpr const char* kTlvDirectMeasurement = "tlv_direct_measurement";
inline constexpr const char* kTlvAccessReport = "tlv_access_report";
inline constexpr const char* kTlvFollowUp = "tlv_follow_up";
inline constexpr const char* kAccessId = "access_id";
inline constexpr const char* kReturnCode = "return_code";
// session.list (and kLimit)
inline constexpr const char* kAfter = "after";
inline constexpr const char* kState = "state";
// results
inline constexpr const char* kSinceNs = "since_ns";
inline constexpr const char* kLimit = "limit";
inline constexpr const char* kDetail = "detail";
}  // namespace arg

// ---- Events ----
// "started" data: {"session","ssid","target","port","source_port"}; the
//          first event of a followed session.start, once the run is set up.
inline constexpr std::string_view kEventStarted = "started";
// "reply"  data: {"seq","rtt_ns","forward_ns","backward_ns","ttl","size",
//          "late", "kernel_timestamps", "dscp", "ecn"}; one-way fields are
//          null when the reply lacked them, dscp/ecn when unknown.
inline constexpr std::string_view kEventReply = "reply";

// ---- Error codes ----
inline constexpr std::string_view kErrBadRequest =
    "bad_request";  // not JSON, not an object, too long
inline constexpr std::string_view kErrBadVersion = "bad_version";  // version missing or unsupported
inline constexpr std::string_view kErrUnknownCommand = "unknown_command";
inline constexpr std::string_view kErrBadArgument = "bad_argument";  // missing or invalid argument
inline constexpr std::string_view kErrNotFound = "not_found";        // no such session
inline constexpr std::string_view kErrBusy = "busy";                 // session already running
inline constexpr std::string_view kErrLimit = "limit_exceeded";      // a [limits] cap
inline constexpr std::string_view kErrClockUnsync = "clock_unsynchronized";
inline constexpr std::string_view kErrPermission = "permission_denied";
inline constexpr std::string_view kErrInternal = "internal";
inline constexpr std::string_view kErrBadConfig = "bad_config";     // reload: the file is refused
inline constexpr std::string_view kErrUnavailable = "unavailable";  // results store down

}  // namespace stamp::control
