#include "service/control_server.hpp"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/fsuid.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <ctime>
#include <filesystem>

#include <spdlog/spdlog.h>

#include "libstamp/control_protocol.hpp"
#include "service/permissions.hpp"

namespace stamp {

namespace {

// Binds `fd` to `path` as a socket node of mode 0660 and, when `group` is
// set, that group, without following a symbolic link at any step: a link
// planted at the path is removed, not followed, and nothing is ever
// changed through a path that could have become a link.
//
// fchown()/fchmod() on the socket's descriptor would not do: they change
// the socket's own inode, not the node bind() creates. So the node is born
// right instead: umask gives the mode; the group is the creating thread's
// filesystem gid, which under systemd is already the unit's Group= and
// otherwise is switched for the bind() when stampd may (CAP_SETGID, as
// root). Only when neither worked is the group changed afterwards, with
// fchownat(AT_SYMLINK_NOFOLLOW) relative to the directory, after checking
// that the name is still our socket.
Result<void> bindSocketNode(int fd, const std::string& path, std::optional<gid_t> group) {
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path))
    return makeError(ENAMETOOLONG, "control socket path too long: " + path);
  std::filesystem::path p(path);
  std::string dir = p.has_parent_path() ? p.parent_path().string() : std::string(".");
  std::string name = p.filename().string();
  if (name.empty() || name == "." || name == "..")
    return makeError(EINVAL, "control socket path " + path + " names no file");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  int dfd = ::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return errnoError("cannot open the control socket's directory " + dir);
  UniqueFd dirFd(dfd);
  // A stale socket (stampd killed) or a symbolic link is replaced; unlink
  // removes a link itself. Anything else at the path is not stampd's.
  struct stat st {};
  if (::fstatat(dfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (!S_ISSOCK(st.st_mode) && !S_ISLNK(st.st_mode))
      return makeError(EEXIST, "control socket path " + path +
                                   " exists and is not a socket; refusing to replace it");
    if (::unlinkat(dfd, name.c_str(), 0) != 0 && errno != ENOENT)
      return errnoError("cannot remove the stale control socket " + path);
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  const gid_t fsgid = gid_t(setfsgid(-1));
  const bool switchGroup = group && *group != fsgid;
  if (switchGroup) setfsgid(*group);  // refused silently without CAP_SETGID
  mode_t old = umask(0117);
  int rc = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  int bindErrno = errno;
  umask(old);
  if (switchGroup) setfsgid(fsgid);
  if (rc != 0)
    return makeError(bindErrno,
                     "cannot bind control socket " + path + ": " + std::strerror(bindErrno));
  if (!group) return {};
  if (::fstatat(dfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
    return errnoError("cannot stat control socket " + path);
  if (!S_ISSOCK(st.st_mode) || st.st_uid != geteuid())
    return makeError(EEXIST, "control socket " + path + " was replaced right after bind");
  if (st.st_gid != *group &&
      ::fchownat(dfd, name.c_str(), static_cast<uid_t>(-1), *group, AT_SYMLINK_NOFOLLOW) != 0)
    spdlog::warn("cannot give {} to the group {}: {}", path, *group, std::strerror(errno));
  return {};
}

}  // namespace

Result<std::unique_ptr<ControlServer>> ControlServer::listen(const std::string& path,
                                                             EventLoop& loop, Handler onRequest,
                                                             DisconnectHandler onDisconnect,
                                                             const char* group) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return makeError(errno, std::string("control socket: ") + std::strerror(errno));
  UniqueFd owner(fd);
  // Read-only commands answer anyone who may connect: root and the group
  // (mode 0660).
  if (auto r = bindSocketNode(fd, path, group ? groupId(group) : std::nullopt); !r)
    return r.error();
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

namespace {

int64_t monoNowNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

void ControlServer::onAccept() {
  for (;;) {
    int cfd = accept4(fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd < 0) {
      acceptPause_.onAcceptError(loop_, fd_.get(), errno, "control socket");
      return;
    }
    uint64_t id = nextId_++;
    Client c;
    c.fd.reset(cfd);
    c.lastActiveNs = monoNowNs();
    socklen_t len = sizeof(c.cred);
    getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &c.cred, &len);
    if ((c.cred.uid != 0 || !limits_.rootExempt) && clients_.size() >= limits_.maxClients) {
      // One line saying why, then the connection closes; root (stampctl
      // run by an administrator) always gets in.
      std::string line =
          nlohmann::json{{"version", control::kVersion},
                         {"id", nullptr},
                         {"ok", false},
                         {"error",
                          {{"code", control::kErrLimit},
                           {"message", "too many control clients (max_control_clients = " +
                                           std::to_string(limits_.maxClients) + ")"}}}}
              .dump() +
          "\n";
      (void)!::send(cfd, line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      continue;  // c.fd closes it
    }
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

void ControlServer::sweep(const std::function<bool(uint64_t client)>& busy) {
  acceptPause_.resume(loop_, fd_.get());
  if (limits_.idleTimeout.count() <= 0) return;
  const int64_t now = monoNowNs();
  std::vector<uint64_t> idle;
  for (const auto& [id, c] : clients_)
    if (now - c.lastActiveNs > limits_.idleTimeout.count() && c.out.empty() && !busy(id))
      idle.push_back(id);
  for (uint64_t id : idle) {
    spdlog::info(
        "control client pid {} idle for {} ms: disconnected", clients_[id].cred.pid,
        std::chrono::duration_cast<std::chrono::milliseconds>(limits_.idleTimeout).count());
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
  it->second.lastActiveNs = monoNowNs();
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
