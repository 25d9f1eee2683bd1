#include "service/logging.hpp"

#include <sys/stat.h>
#include <sys/uio.h>
#include <syslog.h>

#include <cstdio>
#include <cstdlib>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-journal.h>

namespace stamp {
namespace {

// stampd logs from its one thread; the fields are per thread all the same.
thread_local std::vector<LogFields::Field> tFields;

int priorityOf(spdlog::level::level_enum l) {
  switch (l) {
    case spdlog::level::trace:
    case spdlog::level::debug:
      return LOG_DEBUG;
    case spdlog::level::info:
      return LOG_INFO;
    case spdlog::level::warn:
      return LOG_WARNING;
    case spdlog::level::err:
      return LOG_ERR;
    case spdlog::level::critical:
      return LOG_CRIT;
    default:
      return LOG_INFO;
  }
}

// One journal entry per message: MESSAGE, PRIORITY, SYSLOG_IDENTIFIER and
// the fields of the live LogFields scopes.
class JournalSink final : public spdlog::sinks::base_sink<spdlog::details::null_mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    std::vector<std::string> items;
    items.reserve(3 + tFields.size());
    items.push_back("MESSAGE=" + std::string(msg.payload.data(), msg.payload.size()));
    items.push_back("PRIORITY=" + std::to_string(priorityOf(msg.level)));
    items.push_back("SYSLOG_IDENTIFIER=stampd");
    for (const auto& [k, v] : tFields) items.push_back(k + "=" + v);
    std::vector<iovec> iov;
    iov.reserve(items.size());
    for (auto& s : items) iov.push_back({s.data(), s.size()});
    if (sd_journal_sendv(iov.data(), int(iov.size())) < 0) {
      // The journal went away: stderr still reaches someone.
      std::fprintf(stderr, "stampd: %.*s\n", int(msg.payload.size()), msg.payload.data());
    }
  }
  void flush_() override {}
};

}  // namespace

bool stderrIsJournal() {
  const char* js = std::getenv("JOURNAL_STREAM");
  if (!js) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(js, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st {};
  if (fstat(2, &st) != 0) return false;
  return st.st_dev == dev && st.st_ino == ino;
}

void setupLogging(const std::string& level) {
  std::shared_ptr<spdlog::logger> logger;
  if (stderrIsJournal()) {
    logger = std::make_shared<spdlog::logger>("stampd", std::make_shared<JournalSink>());
  } else {
    logger = spdlog::stderr_color_mt("stampd");
    logger->set_pattern("stampd[%P]: %^%l%$: %v");
  }
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
}

LogFields::LogFields(std::initializer_list<Field> fields) : mark_(tFields.size()) {
  tFields.insert(tFields.end(), fields.begin(), fields.end());
}

LogFields::LogFields(std::vector<Field> fields) : mark_(tFields.size()) {
  tFields.insert(tFields.end(), fields.begin(), fields.end());
}

LogFields::~LogFields() {
  tFields.resize(mark_);
}

const std::vector<LogFields::Field>& LogFields::current() {
  return tFields;
}

}  // namespace stamp
