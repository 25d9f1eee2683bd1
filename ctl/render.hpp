// The text stampctl prints for each answer of stampd: pure functions from
// the JSON of libstamp/control_protocol.hpp to the lines, newline-terminated,
// ready to write out. No socket, no globals, no clock: the same JSON always
// gives the same text. Scripts (tests/e2e/*.sh, tests/system/system_test.sh)
// parse this text, so a change here is a change of stampctl's interface.
//
// Missing fields print as "-", 0 or nothing, as each function says; none of
// them throws on a well-formed answer of stampd.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace stamp::ctl {

// A duration in ns as "1.234 ms"; "-" when `ns` is not a number.
std::string formatMs(const nlohmann::json& ns);

// "stampctl: MESSAGE (CODE)\n" for a response with "ok": false.
std::string renderError(const nlohmann::json& response);

// The run summary (session.start's final answer, session.stop, session.show):
// counts, the delay table, DSCP/ECN, notes, then the TLV report of "tlvs".
std::string renderSummary(const nlohmann::json& summary);
// What came back in RFC 8972 TLVs ("tlvs" of a summary), a line per type.
std::string renderTlvs(const nlohmann::json& tlvs);
// The round-trip histogram of a summary ("rtt_ns"."histogram"); empty when
// the summary has none.
std::string renderHistogram(const nlohmann::json& summary);
// session.show: the summary, then its histogram.
std::string renderShow(const nlohmann::json& summary);

// session.start --follow: the "started" event's line; `args` (the request's)
// stands in for a field the event lacks.
std::string renderStarted(const nlohmann::json& data, const nlohmann::json& args);
// session.start --follow: one "reply" event, like ping(8).
std::string renderReply(const nlohmann::json& data);
// The first line of a `session show --watch` frame; `clock` is the local
// time of the frame as HH:MM:SS.
std::string renderWatchHeader(const std::string& name, bool running, const std::string& clock);

// The answers of status, session.list, reload and results.
std::string renderStatus(const nlohmann::json& status);
std::string renderList(const nlohmann::json& list);
std::string renderReload(const nlohmann::json& reload);
// A reload refused with bad_config: every problem of the file, one
// "FILE:LINE:COLUMN: reason" per line, then what it means.
std::string renderReloadRefused(const nlohmann::json& error);
std::string renderResults(const nlohmann::json& results);

}  // namespace stamp::ctl
