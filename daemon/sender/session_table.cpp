#include "sender/session_table.hpp"

namespace stamp {

Result<Session*> SessionTable::start(SessionSpec spec, EventLoop& loop, SenderBpf* bpf,
                                     const ClockState& clock, Session::Observer observer) {
  const std::string name = spec.name;
  if (Session* old = find(name)) {
    if (!old->finished()) return makeError(EBUSY, "session '" + name + "' is already running");
    erase(name);
  }
  uint32_t id = nextId_++;
  auto s = Session::start(std::move(spec), id, loop, bpf, clock, std::move(observer));
  if (!s) return s.error();
  Session* raw = s->get();
  byId_[id] = raw;
  byName_[name] = std::move(*s);
  return raw;
}

Session* SessionTable::find(const std::string& name) const {
  auto it = byName_.find(name);
  return it == byName_.end() ? nullptr : it->second.get();
}

void SessionTable::erase(const std::string& name) {
  auto it = byName_.find(name);
  if (it == byName_.end()) return;
  byId_.erase(it->second->id());
  byName_.erase(it);
}

void SessionTable::onRecord(const stamp_rx_record& rec, const ClockState& clock) {
  if (auto it = byId_.find(rec.session_id); it != byId_.end()) it->second->onRecord(rec, clock);
}

void SessionTable::onTlvRecord(const stamp_tlv_record& rec, const ClockState& clock) {
  if (auto it = byId_.find(rec.session_id); it != byId_.end()) it->second->onTlvRecord(rec, clock);
}

size_t SessionTable::running() const {
  size_t n = 0;
  for (const auto& [name, s] : byName_) n += !s->finished();
  return n;
}

void SessionTable::stopAll() {
  for (auto& [name, s] : byName_) s->stop();
}

void SessionTable::clear() {
  byId_.clear();
  byName_.clear();
}

}  // namespace stamp
