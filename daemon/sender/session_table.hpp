// The sessions stampd has run since it started: by name (what users and
// the configuration say) and by id (what the kernel's ring-buffer records
// carry). A name has at most one run in progress; a finished run stays
// until the next run of the name replaces it, so `session show` and the
// metrics still see it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "event_loop.hpp"
#include "kernel/clock.hpp"
#include "libstamp/result.hpp"
#include "sender/session.hpp"
#include "stamp_abi.h"

namespace stamp {

class SenderBpf;

class SessionTable {
 public:
  SessionTable() = default;
  SessionTable(const SessionTable&) = delete;
  SessionTable& operator=(const SessionTable&) = delete;
  ~SessionTable() { clear(); }

  // Starts a run of `spec` under a new id (Session::start). A finished run
  // of the same name is replaced; EBUSY if one is in progress.
  Result<Session*> start(SessionSpec spec, EventLoop& loop, SenderBpf* bpf, const ClockState& clock,
                         Session::Observer observer);
  Session* find(const std::string& name) const;
  // Forgets a session; a run in progress ends without a summary.
  void erase(const std::string& name);
  // Hands a kernel record to the session whose id it carries (if any).
  void onRecord(const stamp_rx_record& rec, const ClockState& clock);
  void onTlvRecord(const stamp_tlv_record& rec, const ClockState& clock);
  // Runs in progress.
  size_t running() const;
  // Ends every run in progress (their summaries follow as usual).
  void stopAll();
  // Forgets every session, before the sender's maps and the loop go away.
  void clear();
  const std::map<std::string, std::unique_ptr<Session>>& all() const { return byName_; }

 private:
  std::map<std::string, std::unique_ptr<Session>> byName_;
  std::map<uint32_t, Session*> byId_;
  uint32_t nextId_ = 1;
};

}  // namespace stamp
