// A client of stampd's control socket: connects, sends requests and reads
// the newline-delimited JSON answers of libstamp/control_protocol.hpp.
// Blocking and single-threaded; one Client is one connection. Used by
// stampctl and by tests that drive stampd's control protocol.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "libstamp/control_protocol.hpp"
#include "libstamp/result.hpp"
#include "libstamp/unique_fd.hpp"

namespace stamp::control {

// {"version": kVersion, "id": id, "command": command, "args": args}.
nlohmann::json makeRequest(std::string_view command, nlohmann::json args, int64_t id);

// Asked before every blocking read and again whenever a signal cuts a read
// short; true ends the wait with EINTR. A SIGINT handler installed without
// SA_RESTART that sets a flag this returns makes Ctrl-C prompt. Empty: the
// reads are not interruptible.
using Interrupted = std::function<bool()>;

class Client {
 public:
  // Connects to the Unix stream socket at `path`. Fails with ENAMETOOLONG
  // ("socket path too long: PATH") or the errno of socket()/connect()
  // ("cannot connect to PATH: REASON"). `maxLineBytes` bounds every line
  // read from the server.
  static Result<Client> connect(const std::string& path,
                                size_t maxLineBytes = kMaxResponseLineBytes);
  // Takes over a connected stream socket (e.g. one end of a socketpair).
  explicit Client(UniqueFd fd, size_t maxLineBytes = kMaxResponseLineBytes)
      : fd_(std::move(fd)), maxLineBytes_(maxLineBytes) {}

  // Writes `message` and a newline, all of it. Fails with the errno of
  // send() (EPIPE once the server has gone; never raises SIGPIPE).
  Result<void> send(const nlohmann::json& message);
  Result<void> sendRequest(std::string_view command, nlohmann::json args, int64_t id) {
    return send(makeRequest(command, std::move(args), id));
  }

  // The next message from the server: a response or an event. A line that
  // is not JSON is skipped. Fails with
  //   ECONNRESET  the server closed the connection (at a line boundary or
  //               in the middle of a line);
  //   EMSGSIZE    a line longer than maxLineBytes: the stream cannot be
  //               resynchronised, so every later call fails the same way;
  //   EINTR       `interrupted` said so (nothing is lost: call again);
  //   the errno of read().
  Result<nlohmann::json> next(const Interrupted& interrupted = {});

  // Sends one request and returns its final response (the message with
  // "ok"), skipping events and the answers to other ids. The response may
  // say "ok": false; only transport failures are errors, as for next().
  Result<nlohmann::json> call(std::string_view command, nlohmann::json args, int64_t id = 1,
                              const Interrupted& interrupted = {});

  int fd() const { return fd_.get(); }

 private:
  UniqueFd fd_;
  size_t maxLineBytes_;
  std::string buf_;     // bytes read and not yet returned
  size_t scanned_ = 0;  // buf_[0, scanned_) holds no newline
  bool overflowed_ = false;
};

}  // namespace stamp::control
