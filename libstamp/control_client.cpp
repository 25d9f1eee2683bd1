#include "libstamp/control_client.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace stamp::control {

using nlohmann::json;

json makeRequest(std::string_view command, json args, int64_t id) {
  return {{"version", kVersion}, {"id", id}, {"command", command}, {"args", std::move(args)}};
}

Result<Client> Client::connect(const std::string& path, size_t maxLineBytes) {
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path))
    return makeError(ENAMETOOLONG, "socket path too long: " + path);
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid() || ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
    return errnoError("cannot connect to " + path);
  return Client(std::move(fd), maxLineBytes);
}

Result<void> Client::send(const json& message) {
  const std::string line = message.dump() + "\n";
  size_t off = 0;
  while (off < line.size()) {
    ssize_t n = ::send(fd_.get(), line.data() + off, line.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errnoError("send to the control socket");
    off += size_t(n);
  }
  return {};
}

Result<json> Client::next(const Interrupted& interrupted) {
  auto tooLong = [&] {
    overflowed_ = true;
    buf_.clear();
    scanned_ = 0;
    return makeError(EMSGSIZE, "a message from the control socket is longer than " +
                                   std::to_string(maxLineBytes_) + " bytes");
  };
  if (overflowed_) return tooLong();
  for (;;) {
    // Only the bytes not searched yet: a long answer arrives in many reads.
    size_t nl = buf_.find('\n', scanned_);
    if (nl != std::string::npos) {
      if (nl > maxLineBytes_) return tooLong();
      json j = json::parse(buf_.begin(), buf_.begin() + std::ptrdiff_t(nl), nullptr, false);
      buf_.erase(0, nl + 1);
      scanned_ = 0;
      if (j.is_discarded()) continue;
      return j;
    }
    scanned_ = buf_.size();
    if (buf_.size() > maxLineBytes_) return tooLong();
    if (interrupted && interrupted()) return makeError(EINTR, "interrupted");
    char tmp[64 * 1024];
    ssize_t n = ::read(fd_.get(), tmp, sizeof(tmp));
    if (n < 0 && errno == EINTR) continue;  // `interrupted` decides
    if (n < 0) return errnoError("read from the control socket");
    if (n == 0) return makeError(ECONNRESET, "the server closed the connection");
    buf_.append(tmp, size_t(n));
  }
}

Result<json> Client::call(std::string_view command, json args, int64_t id,
                          const Interrupted& interrupted) {
  if (auto sent = sendRequest(command, std::move(args), id); !sent) return sent.error();
  for (;;) {
    auto m = next(interrupted);
    if (!m) return m;
    if (!m->is_object() || !m->contains("ok")) continue;  // an event
    // A request the server could not read is answered with a null id.
    const json& rid = m->value("id", json());
    if (rid.is_null() || rid == id) return m;
  }
}

}  // namespace stamp::control
