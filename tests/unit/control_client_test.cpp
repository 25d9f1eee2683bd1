// The control client of libstamp/control_client.hpp against a tiny server
// in the test: one end of a socketpair written by a thread, or a Unix
// socket in a temporary directory. What the server writes is exactly what
// stampd's ControlServer writes: JSON objects, one a line.
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "libstamp/control_client.hpp"
#include "libstamp/control_protocol.hpp"
#include "service/control_server.hpp"

namespace stamp::control {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// stampd never queues a longer answer than the client accepts by default.
static_assert(ControlServer::kMaxPendingOutput <= kMaxResponseLineBytes);
static_assert(kMaxLineBytes < kMaxResponseLineBytes);

// A connected pair: the Client on one end, the "server" fd on the other.
struct Pair {
  Client client;
  UniqueFd server;
};
Pair makePair(size_t maxLineBytes = kMaxResponseLineBytes) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) std::abort();
  return {Client(UniqueFd(sv[0]), maxLineBytes), UniqueFd(sv[1])};
}

void writeAll(int fd, const std::string& bytes) {
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the client went away; the test says why
    off += size_t(n);
  }
}

// One line the server read, without its newline ("" at EOF).
std::string readLine(int fd) {
  std::string line;
  char c;
  while (::read(fd, &c, 1) == 1 && c != '\n') line += c;
  return line;
}

std::string line(const json& j) {
  return j.dump() + "\n";
}

TEST(ControlClient, RequestIsOneVersionedLine) {
  json r = makeRequest(kSessionShow, {{arg::kName, "edge"}}, 7);
  EXPECT_EQ(r,
            json::parse(R"({"version":1,"id":7,"command":"session.show","args":{"name":"edge"}})"));
}

// call(): the request goes out as one line; "started" and "reply" events,
// a line that is not JSON and the answer to another request come before the
// final response and are skipped.
TEST(ControlClient, CallSkipsEventsAndOtherAnswers) {
  auto [client, server] = makePair();
  std::string request;
  std::thread peer([&, fd = server.get()] {
    request = readLine(fd);
    writeAll(fd,
             line({{"version", 1}, {"id", 1}, {"event", "started"}, {"data", {{"session", "s"}}}}) +
                 "not json\n" +
                 line({{"version", 1}, {"id", 1}, {"event", "reply"}, {"data", {{"seq", 0}}}}) +
                 line({{"version", 1}, {"id", 2}, {"ok", true}, {"result", {{"other", 1}}}}) +
                 line({{"version", 1}, {"id", 1}, {"ok", true}, {"result", {{"sent", 3}}}}));
  });
  auto r = client.call(kSessionStart, {{arg::kTarget, "192.0.2.1"}, {arg::kFollow, true}});
  peer.join();
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ((*r)["result"], json({{"sent", 3}}));
  json sent = json::parse(request, nullptr, false);
  ASSERT_FALSE(sent.is_discarded()) << request;
  EXPECT_EQ(sent["command"], "session.start");
  EXPECT_EQ(sent["id"], 1);
  EXPECT_EQ(sent["version"], kVersion);
  EXPECT_EQ(sent["args"], json({{"target", "192.0.2.1"}, {"follow", true}}));
}

// An error answer is a response like any other: the caller reads "ok".
// stampd answers a request it could not read with a null id.
TEST(ControlClient, CallReturnsErrorAnswersWithTheirIdOrNull) {
  auto [client, server] = makePair();
  std::thread peer([fd = server.get()] {
    readLine(fd);
    writeAll(fd, line({{"version", 1},
                       {"id", nullptr},
                       {"ok", false},
                       {"error", {{"code", "bad_request"}, {"message", "too long"}}}}));
  });
  auto r = client.call(kStatus, json::object());
  peer.join();
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE(r->value("ok", true));
  EXPECT_EQ((*r)["error"]["code"], "bad_request");
}

// Messages split across writes, several in one write: next() returns them
// one by one, in order.
TEST(ControlClient, NextReassemblesLines) {
  auto [client, server] = makePair();
  std::string both = line({{"id", 1}, {"event", "reply"}}) + line({{"id", 1}, {"ok", true}});
  std::thread peer([&, fd = server.get()] {
    for (char c : both) {
      writeAll(fd, std::string(1, c));
      if (c == ':') std::this_thread::sleep_for(1ms);
    }
  });
  auto first = client.next();
  auto second = client.next();
  peer.join();
  ASSERT_TRUE(first) << first.error().message;
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ((*first)["event"], "reply");
  EXPECT_TRUE((*second)["ok"].get<bool>());
}

TEST(ControlClient, EofIsAnError) {
  auto [client, server] = makePair();
  writeAll(server.get(), line({{"id", 1}, {"event", "reply"}}));
  server.reset();
  auto m = client.next();
  ASSERT_TRUE(m) << m.error().message;  // what came before the close is still read
  auto eof = client.next();
  ASSERT_FALSE(eof);
  EXPECT_EQ(eof.error().code, ECONNRESET);
  EXPECT_EQ(eof.error().message, "the server closed the connection");
}

TEST(ControlClient, EofInTheMiddleOfALineIsAnError) {
  auto [client, server] = makePair();
  writeAll(server.get(), R"({"id": 1, "ok": tr)");
  server.reset();
  auto r = client.next();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ECONNRESET);
}

TEST(ControlClient, SendToAClosedPeerFailsWithoutSigpipe) {
  auto [client, server] = makePair();
  server.reset();
  auto r = client.call(kStatus, json::object());  // SIGPIPE would kill the test
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, EPIPE);
}

// A line of exactly the limit is accepted; one byte more is refused, and the
// stream cannot be resynchronised: every later read fails the same way.
TEST(ControlClient, TooLongLineIsRefused) {
  constexpr size_t kLimit = 1000;
  auto [client, server] = makePair(kLimit);
  const std::string empty = line({{"id", 1}, {"ok", true}, {"pad", ""}});
  const size_t emptyBytes = empty.size() - 1;  // without the newline
  auto padded = [&](size_t bytes) {
    std::string s = empty;
    s.insert(s.size() - 3, bytes - emptyBytes, 'p');  // inside "pad"'s string
    return s;
  };
  ASSERT_EQ(padded(kLimit).size(), kLimit + 1);
  std::thread peer([&, fd = server.get()] {
    writeAll(fd, padded(kLimit));
    writeAll(fd, padded(kLimit + 1));
    writeAll(fd, line({{"id", 1}, {"ok", true}}));
  });
  auto fits = client.next();
  ASSERT_TRUE(fits) << fits.error().message;
  EXPECT_EQ((*fits)["pad"].get<std::string>().size(), kLimit - emptyBytes);
  auto tooLong = client.next();
  ASSERT_FALSE(tooLong);
  EXPECT_EQ(tooLong.error().code, EMSGSIZE);
  EXPECT_EQ(tooLong.error().message, "a message from the control socket is longer than 1000 bytes");
  auto after = client.next();
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error().code, EMSGSIZE);
  peer.join();
}

// The default limit: a line that never ends is refused once it passes
// kMaxResponseLineBytes, not read until memory runs out.
TEST(ControlClient, EndlessLineIsRefusedAtTheDefaultLimit) {
  auto [client, server] = makePair();
  std::thread peer([fd = server.get()] {
    std::string chunk(64 * 1024, 'x');
    for (size_t sent = 0; sent <= kMaxResponseLineBytes; sent += chunk.size()) writeAll(fd, chunk);
    writeAll(fd, chunk);
  });
  auto r = client.next();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, EMSGSIZE);
  shutdown(client.fd(), SHUT_RDWR);  // unblocks the writer
  peer.join();
}

// A results answer longer than a request may be (kMaxLineBytes) is read.
TEST(ControlClient, AnswerLongerThanARequestIsRead) {
  auto [client, server] = makePair();
  json runs = json::array();
  for (int i = 0; i < 10000; ++i) runs.push_back({{"id", i}, {"session", "edge"}});
  ASSERT_GT(runs.dump().size(), 2 * kMaxLineBytes);
  std::thread peer([&, fd = server.get()] {
    readLine(fd);
    writeAll(fd, line({{"version", 1}, {"id", 1}, {"ok", true}, {"result", {{"runs", runs}}}}));
  });
  auto r = client.call(kResults, {{arg::kLimit, 10000}});
  peer.join();
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ((*r)["result"]["runs"].size(), runs.size());
}

TEST(ControlClient, InterruptedBeforeReadingReturnsEintrAndLosesNothing) {
  auto [client, server] = makePair();
  auto m = client.next([] { return true; });
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code, EINTR);
  writeAll(server.get(), line({{"id", 1}, {"event", "reply"}}) + line({{"id", 1}, {"ok", true}}));
  auto event = client.next();
  ASSERT_TRUE(event) << event.error().message;
  EXPECT_EQ((*event)["event"], "reply");
  // A message already read is returned even when interrupted: no waiting.
  auto ok = client.next([] { return true; });
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_TRUE((*ok)["ok"].get<bool>());
}

volatile sig_atomic_t gSignalled = 0;
void onSignal(int) {
  gSignalled = 1;
}

// Ctrl-C in stampctl: a signal handler without SA_RESTART sets a flag while
// the client is blocked in read(); the predicate sees it and next() returns.
TEST(ControlClient, SignalDuringABlockedReadInterruptsIt) {
  struct sigaction sa {
  }, old{};
  sa.sa_handler = onSignal;
  ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);
  gSignalled = 0;
  auto [client, server] = makePair();
  pthread_t reader = pthread_self();
  std::atomic<bool> done{false};
  // Again and again: one signal could land between the check and read().
  std::thread killer([reader, &done] {
    while (!done) {
      std::this_thread::sleep_for(50ms);
      if (!done) pthread_kill(reader, SIGUSR1);
    }
  });
  auto start = std::chrono::steady_clock::now();
  auto m = client.next([] { return gSignalled != 0; });
  done = true;
  killer.join();
  sigaction(SIGUSR1, &old, nullptr);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code, EINTR);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

// connect(): a real listening socket in a temporary directory, a one-shot
// server answering status.
TEST(ControlClient, ConnectsToAUnixSocket) {
  std::string dir = std::filesystem::temp_directory_path() / "stamp-client-XXXXXX";
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  std::string path = dir + "/stampd.sock";
  UniqueFd listener(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  path.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
  ASSERT_EQ(bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(listener.get(), 1), 0);
  std::thread peer([fd = listener.get()] {
    UniqueFd c(accept(fd, nullptr, nullptr));
    json req = json::parse(readLine(c.get()), nullptr, false);
    writeAll(c.get(), line({{"version", 1},
                            {"id", req.is_object() ? req["id"] : json()},
                            {"ok", true},
                            {"result", {{"pid", 42}}}}));
  });
  auto client = Client::connect(path);
  ASSERT_TRUE(client) << client.error().message;
  auto r = client->call(kStatus, json::object(), 5);
  peer.join();
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ((*r)["id"], 5);
  EXPECT_EQ((*r)["result"]["pid"], 42);
  listener.reset();
  std::filesystem::remove_all(dir);

  auto gone = Client::connect(path);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, ENOENT);
  EXPECT_EQ(gone.error().message, "cannot connect to " + path + ": No such file or directory");
}

TEST(ControlClient, SocketPathTooLong) {
  std::string path = "/tmp/" + std::string(sizeof(sockaddr_un::sun_path), 'a');
  auto c = Client::connect(path);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, ENAMETOOLONG);
  EXPECT_EQ(c.error().message, "socket path too long: " + path);
}

}  // namespace
}  // namespace stamp::control
