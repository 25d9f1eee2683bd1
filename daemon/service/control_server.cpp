#include "service/control_server.hpp"

#include <grp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include <spdlog/spdlog.h>

#include "libstamp/control_protocol.hpp"

namespace stamp {

Result<std::unique_ptr<ControlServer>> ControlServer::listen(const std::string& path,
                                                             EventLoop& loop, Handler onRequest,
                                                             DisconnectHandler onDisconnect) {
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path))
    return makeError(ENAMETOOLONG, "control socket path too long: " + path);
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return makeError(errno, std::string("control socket: ") + std::strerror(errno));
  UniqueFd owner(fd);
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  ::unlink(path.c_str());
  mode_t old = umask(0117);
  int rc = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  umask(old);
  if (rc != 0)
    return makeError(errno, "cannot bind control socket " + path + ": " + std::strerror(errno));
  // Read-only commands answer anyone who may connect: root and the stamp
  // group (mode 0660). Under systemd the unit's Group=stamp gives the
  // socket its group; elsewhere root hands it over.
  if (group* g = getgrnam("stamp"); g) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && st.st_gid != g->gr_gid &&
        ::chown(path.c_str(), static_cast<uid_t>(-1), g->gr_gid) != 0)
      spdlog::warn("cannot give {} to the stamp group: {}", path, std::strerror(errno));
  }
  if (::listen(fd, 64) != 0)
    return makeError(errno, "cannot listen on " + path + ": " + std::strerror(errno));
  std::unique_ptr<ControlServer> s(new ControlServer(
      loop, std::move(owner), path, std::move(onRequest), std::move(onDisconnect)));
  ControlServer* raw = s.get();
  if (auto r = loop.add(fd, EPOLLIN, [raw](uint32_t) { raw->onAccept(); }); !r) return r.error();
  return s;
}

ControlServer::~ControlServer() {
  while (!clients_.empty()) drop(clients_.begin()->first);
  loop_.remove(fd_.get());
  ::unlink(path_.c_str());
}

void ControlServer::onAccept() {
  for (;;) {
    int cfd = accept4(fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd < 0) return;
    uint64_t id = nextId_++;
    Client c;
    c.fd.reset(cfd);
    socklen_t len = sizeof(c.cred);
    getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &c.cred, &len);
    // The supplementary groups from the socket itself (Linux 4.13), not
    // /proc/PID/status: no race with the pid, and it works under
    // ProtectProc=invisible.
    c.groups.resize(64);
    socklen_t glen = socklen_t(c.groups.size() * sizeof(gid_t));
    if (getsockopt(cfd, SOL_SOCKET, SO_PEERGROUPS, c.groups.data(), &glen) != 0 &&
        errno == ERANGE) {
      c.groups.resize(glen / sizeof(gid_t));
      if (getsockopt(cfd, SOL_SOCKET, SO_PEERGROUPS, c.groups.data(), &glen) != 0) glen = 0;
    }
    c.groups.resize(glen / sizeof(gid_t));
    clients_.emplace(id, std::move(c));
    if (!loop_.add(cfd, EPOLLIN | EPOLLRDHUP, [this, id](uint32_t ev) { onClient(id, ev); }))
      drop(id);
  }
}

void ControlServer::onClient(uint64_t id, uint32_t events) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return;
  if (events & EPOLLOUT) flush(id);
  if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP))) return;
  it = clients_.find(id);
  if (it == clients_.end()) return;
  // One read per wakeup: epoll is level-triggered and hands back the rest on
  // a later turn, so a client that writes faster than we parse cannot keep
  // the loop from its timers and other clients.
  char buf[16384];
  ssize_t n = read(it->second.fd.get(), buf, sizeof(buf));
  if (n == 0) return drop(id);
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return;
    return drop(id);
  }
  it->second.in.append(buf, size_t(n));
  // Lines are cut at an advancing offset and the buffer trimmed once;
  // erasing each line from the front is quadratic in a read of short lines.
  size_t start = 0;
  for (;;) {
    it = clients_.find(id);
    if (it == clients_.end()) return;  // an answer overflowed its output and dropped it
    size_t pos = it->second.in.find('\n', start);
    if (pos == std::string::npos) break;
    std::string line = it->second.in.substr(start, pos - start);
    start = pos + 1;
    handleLine(id, line);
  }
  it->second.in.erase(0, start);
  if (it->second.in.size() > control::kMaxLineBytes) {
    // No newline to resynchronise on: answer once and hang up.
    Request r;
    r.client = id;
    fail(r, control::kErrBadRequest,
         "request longer than " + std::to_string(control::kMaxLineBytes) + " bytes");
    flush(id);
    drop(id);
  }
}

ParsedLine parseRequestLine(std::string_view line) {
  ParsedLine p;
  auto error = [&p](std::string_view code, std::string message) {
    p.errorCode = code;
    p.errorMessage = std::move(message);
    return std::move(p);
  };
  if (line.find_first_not_of(" \t\r") == std::string_view::npos) return p;
  // However the bytes arrived, the limit is on the line.
  if (line.size() > control::kMaxLineBytes)
    return error(control::kErrBadRequest,
                 "request longer than " + std::to_string(control::kMaxLineBytes) + " bytes");
  nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return error(control::kErrBadRequest, "a request is one JSON object per line");
  if (auto id = j.find("id"); id != j.end()) p.id = *id;
  auto version = j.find("version");
  if (version == j.end() || !version->is_number_integer() ||
      (version->is_number_unsigned() ? version->get<uint64_t>() != uint64_t(control::kVersion)
                                     : version->get<int64_t>() != control::kVersion))
    return error(control::kErrBadVersion,
                 "\"version\" must be " + std::to_string(control::kVersion));
  auto command = j.find("command");
  if (command == j.end() || !command->is_string())
    return error(control::kErrBadRequest, "\"command\" must be a string");
  ControlRequest r;
  r.id = p.id;
  r.command = command->get<std::string>();
  auto args = j.find("args");
  r.args = args == j.end() ? nlohmann::json::object() : *args;
  if (!r.args.is_object()) return error(control::kErrBadRequest, "\"args\" must be an object");
  p.request = std::move(r);
  return p;
}

void ControlServer::handleLine(uint64_t id, const std::string& line) {
  Request r;
  r.client = id;
  try {
    ParsedLine p = parseRequestLine(line);
    if (!p.request && p.errorCode.empty()) return;
    if (!p.request) {
      r.id = std::move(p.id);
      return fail(r, p.errorCode, p.errorMessage);
    }
    r = std::move(*p.request);
    r.client = id;
    const Client& c = clients_.at(id);
    r.uid = c.cred.uid;
    r.gid = c.cred.gid;
    r.pid = c.cred.pid;
    r.groups = c.groups;
    onRequest_(r);
  } catch (const std::exception& e) {
    internalError(r, e.what());
  } catch (...) {
    internalError(r, "an exception that is not a std::exception");
  }
}

// The last resort: whatever went wrong with one request, the daemon keeps
// serving the others.
void ControlServer::internalError(const Request& r, const std::string& what) {
  spdlog::error("control: request '{}' from pid {} failed: {}", r.command, r.pid, what);
  try {
    fail(r, control::kErrInternal, "'" + r.command + "' failed: " + what);
  } catch (...) {
    spdlog::error("control: request '{}': the error answer failed too", r.command);
  }
}

namespace {
// Invalid UTF-8 (a name read from a file, say) is replaced, never thrown.
std::string toLine(const nlohmann::json& obj) {
  return obj.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}
}  // namespace

std::string responseLine(const nlohmann::json& id, const nlohmann::json& result) {
  return toLine({{"version", control::kVersion}, {"id", id}, {"ok", true}, {"result", result}});
}

std::string errorLine(const nlohmann::json& id, std::string_view code, const std::string& message) {
  return toLine({{"version", control::kVersion},
                 {"id", id},
                 {"ok", false},
                 {"error", {{"code", code}, {"message", message}}}});
}

std::string eventLine(const nlohmann::json& id, std::string_view name, const nlohmann::json& data) {
  return toLine({{"version", control::kVersion}, {"id", id}, {"event", name}, {"data", data}});
}

void ControlServer::respond(const Request& r, const nlohmann::json& result) {
  send(r.client, responseLine(r.id, result));
}

void ControlServer::fail(const Request& r, std::string_view code, const std::string& message) {
  send(r.client, errorLine(r.id, code, message));
}

void ControlServer::event(const Request& r, std::string_view name, const nlohmann::json& data) {
  send(r.client, eventLine(r.id, name, data));
}

void ControlServer::send(uint64_t id, const std::string& line) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return;
  it->second.out += line;
  if (it->second.out.size() > kMaxPendingOutput) {
    spdlog::warn("control client pid {} stalled with {} bytes pending: disconnected",
                 it->second.cred.pid, it->second.out.size());
    return drop(id);
  }
  flush(id);
}

void ControlServer::flush(uint64_t id) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return;
  Client& c = it->second;
  while (!c.out.empty()) {
    ssize_t n = ::send(c.fd.get(), c.out.data(), c.out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) break;
      return drop(id);
    }
    c.out.erase(0, size_t(n));
  }
  bool want = !c.out.empty();
  if (want != c.wantWrite) {
    c.wantWrite = want;
    loop_.modify(c.fd.get(), EPOLLIN | EPOLLRDHUP | (want ? uint32_t(EPOLLOUT) : 0u));
  }
}

void ControlServer::drop(uint64_t id) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return;
  loop_.remove(it->second.fd.get());
  clients_.erase(it);
  if (onDisconnect_) onDisconnect_(id);
}

}  // namespace stamp
