// Where stampd's log goes: to the journal, with structured fields, when
// systemd connected stderr to it (JOURNAL_STREAM names stderr's device and
// inode); to stderr otherwise. Messages carry extra journal fields (such as
// STAMP_SESSION) through a LogFields scope around the spdlog call:
//
//   LogFields f{{"STAMP_SESSION", name}, {"STAMP_TARGET", target}};
//   spdlog::info("session {} finished: ...", name);
//
// On stderr the fields are dropped; the message text must say it all.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace stamp {

// Installs the default logger at `level` ("debug", "info", ...).
void setupLogging(const std::string& level);
// Whether stderr is the journal's stream (JOURNAL_STREAM matches it).
bool stderrIsJournal();

class LogFields {
 public:
  using Field = std::pair<std::string, std::string>;
  LogFields(std::initializer_list<Field> fields);
  explicit LogFields(std::vector<Field> fields);
  ~LogFields();
  LogFields(const LogFields&) = delete;
  LogFields& operator=(const LogFields&) = delete;
  // The fields of every live scope, outermost first (for the journal sink).
  static const std::vector<Field>& current();

 private:
  size_t mark_;
};

}  // namespace stamp
