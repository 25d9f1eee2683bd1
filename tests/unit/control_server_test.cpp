// The control socket under hostile and clumsy clients: a real EventLoop and
// a real ControlServer on a socket in a temporary directory, the loop on a
// background thread beside a 5 ms timerfd standing in for measurements.
// Clients are plain blocking Unix sockets driven from the test thread.
//
// Only the loop thread touches the server. The test thread stops the loop
// through an eventfd and reads what the loop recorded under mu_.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <ios>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "libstamp/control_protocol.hpp"
#include "service/control_server.hpp"
#include "service/permissions.hpp"
#include "event_loop.hpp"

namespace stamp {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr int64_t kTickNs = 5'000'000;
// A loop that blocked on a stalled client would be late by the whole flood
// (seconds); the bound leaves room for a shared CI machine's scheduling
// (50 ms was exceeded there under parallel builds).
constexpr int64_t kMaxTickLatenessNs = 250'000'000;
// How long a client waits for the server before the test fails instead of
// hanging; a passing run never comes close.
constexpr auto kIoTimeout = 2s;

int64_t monotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::string requestLine(const json& id, std::string_view command, const json& args) {
  return json{{"version", control::kVersion}, {"id", id}, {"command", command}, {"args", args}}
             .dump() +
         "\n";
}

// A blocking client with read and write timeouts.
class TestClient {
 public:
  explicit TestClient(const std::string& path) {
    fd_.reset(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size());
    if (connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      fd_.reset();
      return;
    }
    timeval tv{std::chrono::duration_cast<std::chrono::seconds>(kIoTimeout).count(), 0};
    setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd_.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  }

  bool connected() const { return fd_.valid(); }
  void close() { fd_.reset(); }

  // Returns 0 once every byte is written, else the errno that stopped it.
  int write(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno;
      }
      bytes.remove_prefix(size_t(n));
    }
    return 0;
  }

  // The next line without its newline; nullopt on end of stream, error or
  // timeout.
  std::optional<std::string> readLine() {
    for (;;) {
      if (size_t pos = in_.find('\n'); pos != std::string::npos) {
        std::string line = in_.substr(0, pos);
        in_.erase(0, pos + 1);
        return line;
      }
      if (!fill()) return std::nullopt;
    }
  }

  std::optional<json> readJson() {
    auto line = readLine();
    if (!line) return std::nullopt;
    json j = json::parse(*line, nullptr, false);
    if (j.is_discarded()) return std::nullopt;
    return j;
  }

  std::optional<json> roundTrip(const std::string& line) {
    if (write(line) != 0) return std::nullopt;
    return readJson();
  }

  // True when the server has closed the connection and nothing unread is
  // left: end of stream, or ECONNRESET (a Unix socket closed with unread
  // input resets its peer).
  bool closedByServer() {
    if (!in_.empty()) return false;
    char c;
    ssize_t n = ::recv(fd_.get(), &c, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }

 private:
  bool fill() {
    char buf[4096];
    ssize_t n;
    do {
      n = ::recv(fd_.get(), buf, sizeof(buf), 0);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) return false;
    in_.append(buf, size_t(n));
    return true;
  }

  UniqueFd fd_;
  std::string in_;
};

// Every response is exactly {"version","id","ok","result"} or
// {"version","id","ok","error":{"code","message"}}.
void expectResult(const std::optional<json>& r, const json& id, const json& result) {
  ASSERT_TRUE(r.has_value()) << "no response";
  EXPECT_EQ(*r,
            (json{{"version", control::kVersion}, {"id", id}, {"ok", true}, {"result", result}}));
}

void expectError(const std::optional<json>& r, const json& id, std::string_view code) {
  ASSERT_TRUE(r.has_value()) << "no response";
  ASSERT_TRUE(r->is_object()) << r->dump();
  EXPECT_EQ(r->size(), 4u) << r->dump();
  EXPECT_EQ(r->value("version", json()), control::kVersion) << r->dump();
  EXPECT_EQ(r->value("id", json("absent")), id) << r->dump();
  EXPECT_EQ(r->value("ok", json()), false) << r->dump();
  const json error = r->value("error", json());
  ASSERT_TRUE(error.is_object()) << r->dump();
  EXPECT_EQ(error.size(), 2u) << r->dump();
  EXPECT_EQ(error.value("code", json()), code) << r->dump();
  ASSERT_TRUE(error.contains("message") && error["message"].is_string()) << r->dump();
  EXPECT_FALSE(error["message"].get<std::string>().empty()) << r->dump();
}

class ControlServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "stampd-ctl-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr) << std::strerror(errno);
    dir_ = tmpl;
    socketPath_ = dir_ + "/stampd.sock";

    auto loop = EventLoop::create();
    ASSERT_TRUE(loop.ok()) << loop.error().message;
    loop_ = std::make_unique<EventLoop>(std::move(*loop));

    auto server = ControlServer::listen(
        socketPath_, *loop_, [this](const ControlServer::Request& r) { onRequest(r); },
        [this](uint64_t client) { onDisconnect(client); });
    ASSERT_TRUE(server.ok()) << server.error().message;
    server_ = std::move(*server);
    server_->setLimits(serverLimits_);

    stopFd_.reset(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    ASSERT_TRUE(stopFd_.valid()) << std::strerror(errno);
    auto added = loop_->add(stopFd_.get(), EPOLLIN, [this](uint32_t) {
      uint64_t count;
      [[maybe_unused]] ssize_t n = read(stopFd_.get(), &count, sizeof(count));
      loop_->stop();
    });
    ASSERT_TRUE(added.ok()) << added.error().message;

    timerStartNs_ = monotonicNs();
    auto timer = makePeriodicTimer(kTickNs);
    ASSERT_TRUE(timer.ok()) << timer.error().message;
    timer_ = std::move(*timer);
    added = loop_->add(timer_.get(), EPOLLIN, [this](uint32_t) { onTick(); });
    ASSERT_TRUE(added.ok()) << added.error().message;

    loopThread_ = std::thread([this] { loopResult_ = loop_->run(); });
  }

  void TearDown() override {
    if (loopThread_.joinable()) {
      uint64_t one = 1;
      EXPECT_EQ(::write(stopFd_.get(), &one, sizeof(one)), ssize_t(sizeof(one)));
      loopThread_.join();
      EXPECT_TRUE(loopResult_.ok()) << loopResult_.error().message;
    }
    server_.reset();
    loop_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // ---- Loop thread ----
  // "echo" answers with its args, "slow" is answered only when the test
  // sets answerStashed_, "throw" and "throw-int" throw (a handler's bug),
  // anything else is an unknown command.
  void onRequest(const ControlServer::Request& r) {
    {
      std::lock_guard lock(mu_);
      lastRequest_ = r;
    }
    if (r.command == "echo") return server_->respond(r, r.args);
    if (r.command == "throw") throw std::runtime_error("boom");
    if (r.command == "throw-int") throw 7;
    if (r.command == "slow") {
      std::lock_guard lock(mu_);
      stashed_.push_back(r);
      cv_.notify_all();
      return;
    }
    server_->fail(r, control::kErrUnknownCommand, "unknown command '" + r.command + "'");
  }

  void onDisconnect(uint64_t client) {
    std::lock_guard lock(mu_);
    disconnected_.push_back(client);
    cv_.notify_all();
  }

  // Lateness is measured against the timer's own schedule, from the
  // earliest tick not yet seen, so a missed tick counts in full.
  void onTick() {
    uint64_t expirations = 0;
    if (read(timer_.get(), &expirations, sizeof(expirations)) != ssize_t(sizeof(expirations)))
      return;
    int64_t due = timerStartNs_ + int64_t(ticksSeen_ + 1) * kTickNs;
    ticksSeen_ += expirations;
    int64_t late = monotonicNs() - due;
    int64_t max = maxLatenessNs_.load();
    while (late > max && !maxLatenessNs_.compare_exchange_weak(max, late)) {
    }
    ticks_.fetch_add(1);
    if (sweep_)
      server_->sweep([this](uint64_t client) {
        std::lock_guard lock(mu_);
        return std::find(busy_.begin(), busy_.end(), client) != busy_.end();
      });

    std::vector<ControlServer::Request> toAnswer;
    {
      std::lock_guard lock(mu_);
      cv_.notify_all();
      if (answerStashed_) toAnswer.swap(stashed_);
    }
    if (toAnswer.empty()) return;
    // Not under mu_: an answer may drop its client, and onDisconnect locks.
    std::vector<bool> connected;
    for (const ControlServer::Request& r : toAnswer) {
      connected.push_back(server_->connected(r.client));
      server_->event(r, "progress", {{"late", true}});
      server_->respond(r, {{"late", true}});
    }
    std::lock_guard lock(mu_);
    connectedWhenAnswered_.insert(connectedWhenAnswered_.end(), connected.begin(), connected.end());
    answered_ += toAnswer.size();
    cv_.notify_all();
  }

  // ---- Test thread ----
  template <typename Pred>
  bool waitFor(Pred pred) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kIoTimeout, pred);
  }

  uint64_t clientIdOfLastRequest() {
    std::lock_guard lock(mu_);
    return lastRequest_ ? lastRequest_->client : 0;
  }

  size_t disconnectCount() {
    std::lock_guard lock(mu_);
    return disconnected_.size();
  }

  // Set by a derived fixture's constructor, before the loop runs.
  ControlServer::Limits serverLimits_;
  bool sweep_ = false;          // the tick sweeps, as stampd's once a second
  std::vector<uint64_t> busy_;  // clients sweep() must keep (under mu_)

  std::string dir_;
  std::string socketPath_;
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<ControlServer> server_;
  UniqueFd stopFd_;
  UniqueFd timer_;
  std::thread loopThread_;
  Result<void> loopResult_;

  int64_t timerStartNs_ = 0;
  uint64_t ticksSeen_ = 0;  // loop thread only
  std::atomic<int64_t> maxLatenessNs_{0};
  std::atomic<uint64_t> ticks_{0};

  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<ControlServer::Request> lastRequest_;
  std::vector<uint64_t> disconnected_;
  std::vector<ControlServer::Request> stashed_;
  bool answerStashed_ = false;
  size_t answered_ = 0;
  std::vector<bool> connectedWhenAnswered_;
};

TEST_F(ControlServerTest, ValidRequestGetsItsResult) {
  TestClient c(socketPath_);
  ASSERT_TRUE(c.connected());
  expectResult(c.roundTrip(requestLine(7, "echo", {{"x", 1}, {"y", "two"}})), 7,
               {{"x", 1}, {"y", "two"}});
  // Any JSON id is echoed; absent args are an empty object.
  expectResult(c.roundTrip(requestLine("abc", "echo", {{"z", nullptr}})), "abc", {{"z", nullptr}});
  expectResult(c.roundTrip(std::string(R"({"version":1,"id":[1,2],"command":"echo"})") + "\n"),
               json::array({1, 2}), json::object());
}

TEST_F(ControlServerTest, MalformedRequestsGetErrorsAndTheConnectionSurvives) {
  struct Case {
    const char* line;
    json id;
    std::string_view code;
  };
  const Case cases[] = {
      {"not json", nullptr, control::kErrBadRequest},
      {R"({"version":1,"id":1,"command":"echo")", nullptr, control::kErrBadRequest},
      {R"([{"version":1,"id":1,"command":"echo"}])", nullptr, control::kErrBadRequest},
      {R"("echo")", nullptr, control::kErrBadRequest},
      {R"({"id":2,"command":"echo"})", 2, control::kErrBadVersion},
      {R"({"version":2,"id":3,"command":"echo"})", 3, control::kErrBadVersion},
      {R"({"version":"1","id":4,"command":"echo"})", 4, control::kErrBadVersion},
      {R"({"version":null,"id":5,"command":"echo"})", 5, control::kErrBadVersion},
      {R"({"version":1,"id":6})", 6, control::kErrBadRequest},
      {R"({"version":1,"id":7,"command":7})", 7, control::kErrBadRequest},
      {R"({"version":1,"id":8,"command":"echo","args":"x"})", 8, control::kErrBadRequest},
      {R"({"version":1,"id":9,"command":"echo","args":[1]})", 9, control::kErrBadRequest},
      {R"({"version":1,"id":10,"command":"echo","args":null})", 10, control::kErrBadRequest},
  };
  TestClient c(socketPath_);
  ASSERT_TRUE(c.connected());
  for (const Case& k : cases) {
    SCOPED_TRACE(k.line);
    expectError(c.roundTrip(std::string(k.line) + "\n"), k.id, k.code);
    expectResult(c.roundTrip(requestLine(100, "echo", {{"after", k.line}})), 100,
                 {{"after", k.line}});
  }
}

// The last resort around a request: a handler that throws gets its
// request answered "internal" with the id, and the loop, the connection
// and the other clients go on.
TEST_F(ControlServerTest, AHandlerThatThrowsIsAnsweredInternalAndTheLoopGoesOn) {
  TestClient c(socketPath_), other(socketPath_);
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(other.connected());
  auto r = c.roundTrip(requestLine(21, "throw", json::object()));
  expectError(r, 21, control::kErrInternal);
  EXPECT_EQ((*r)["error"]["message"], "'throw' failed: boom");
  expectError(c.roundTrip(requestLine(22, "throw-int", json::object())), 22, control::kErrInternal);
  expectResult(c.roundTrip(requestLine(23, "echo", {{"a", 1}})), 23, {{"a", 1}});
  expectResult(other.roundTrip(requestLine(24, "echo", {{"b", 2}})), 24, {{"b", 2}});
}

// The line parser alone (as the fuzz target drives it).
TEST(ParseRequestLine, RequestsErrorsAndBlankLines) {
  ParsedLine p = parseRequestLine(R"({"version":1,"id":"x","command":"status"})");
  ASSERT_TRUE(p.request);
  EXPECT_EQ(p.request->command, "status");
  EXPECT_EQ(p.request->id, "x");
  EXPECT_EQ(p.request->args, json::object());
  EXPECT_TRUE(p.errorCode.empty());

  p = parseRequestLine(" \t\r");
  EXPECT_FALSE(p.request);
  EXPECT_TRUE(p.errorCode.empty());

  // A version of 2^64 + 1 wraps to 1 in a careless reading.
  for (const char* line : {R"({"version":18446744073709551617,"id":3,"command":"status"})",
                           R"({"version":18446744073709551615,"id":3,"command":"status"})",
                           R"({"version":1.0,"id":3,"command":"status"})"}) {
    p = parseRequestLine(line);
    EXPECT_FALSE(p.request) << line;
    EXPECT_EQ(p.errorCode, control::kErrBadVersion) << line;
    EXPECT_EQ(p.id, 3) << line;
  }
  p = parseRequestLine(std::string(control::kMaxLineBytes + 1, ' ') + "{}");
  EXPECT_EQ(p.errorCode, control::kErrBadRequest);
}

TEST_F(ControlServerTest, UnknownCommand) {
  TestClient c(socketPath_);
  ASSERT_TRUE(c.connected());
  expectError(c.roundTrip(requestLine(11, "session.explode", json::object())), 11,
              control::kErrUnknownCommand);
  expectResult(c.roundTrip(requestLine(12, "echo", {{"a", 1}})), 12, {{"a", 1}});
}

TEST_F(ControlServerTest, ManyRequestsInOneWriteAreAnsweredInOrder) {
  TestClient c(socketPath_);
  ASSERT_TRUE(c.connected());
  constexpr int kCount = 300;
  std::string batch;
  for (int i = 0; i < kCount; ++i) {
    if (i % 3 == 1)
      batch += requestLine(i, "nope", json::object());
    else if (i % 7 == 5)
      batch += "{not json}\n";
    else
      batch += requestLine(i, "echo", {{"i", i}});
  }
  ASSERT_EQ(c.write(batch), 0);
  for (int i = 0; i < kCount; ++i) {
    SCOPED_TRACE(i);
    auto r = c.readJson();
    if (i % 3 == 1)
      expectError(r, i, control::kErrUnknownCommand);
    else if (i % 7 == 5)
      expectError(r, nullptr, control::kErrBadRequest);
    else
      expectResult(r, i, {{"i", i}});
    if (testing::Test::HasFatalFailure()) return;
  }
}

// Each byte goes in its own write, and a round trip on another client
// between writes gives the loop the chance to read it alone.
TEST_F(ControlServerTest, RequestsSplitByteByByteAreAnsweredInOrder) {
  TestClient slowpoke(socketPath_);
  TestClient other(socketPath_);
  ASSERT_TRUE(slowpoke.connected() && other.connected());
  const std::string text = requestLine(1, "echo", {{"first", true}}) +
                           requestLine(2, "nope", json::object()) +
                           requestLine(3, "echo", {{"third", "yes"}});
  for (size_t i = 0; i < text.size(); ++i) {
    ASSERT_EQ(slowpoke.write(std::string_view(text).substr(i, 1)), 0);
    expectResult(other.roundTrip(requestLine(int(i), "echo", json::object())), int(i),
                 json::object());
    if (testing::Test::HasFatalFailure()) return;
  }
  expectResult(slowpoke.readJson(), 1, {{"first", true}});
  expectError(slowpoke.readJson(), 2, control::kErrUnknownCommand);
  expectResult(slowpoke.readJson(), 3, {{"third", "yes"}});
}

TEST_F(ControlServerTest, BlankLinesAreIgnored) {
  TestClient c(socketPath_);
  ASSERT_TRUE(c.connected());
  expectResult(c.roundTrip("\n \n\t\r\n\n" + requestLine(5, "echo", {{"b", 1}}) + "\n\n"), 5,
               {{"b", 1}});
  // Nothing was queued for the blank lines: the next answer is the next one.
  expectResult(c.roundTrip(requestLine(6, "echo", {{"b", 2}})), 6, {{"b", 2}});
}

// An unterminated line longer than kMaxLineBytes cannot be resynchronised:
// the client gets bad_request and is closed; the server serves the rest.
TEST_F(ControlServerTest, OverlongUnterminatedLineClosesOnlyThatClient) {
  TestClient bystander(socketPath_);
  TestClient c(socketPath_);
  ASSERT_TRUE(bystander.connected() && c.connected());
  expectResult(bystander.roundTrip(requestLine(1, "echo", json::object())), 1, json::object());
  ASSERT_EQ(c.write(std::string(control::kMaxLineBytes + 1, 'a')), 0);
  expectError(c.readJson(), nullptr, control::kErrBadRequest);
  EXPECT_TRUE(c.closedByServer());
  ASSERT_TRUE(waitFor([&] { return !disconnected_.empty(); }));

  expectResult(bystander.roundTrip(requestLine(2, "echo", json::object())), 2, json::object());
  TestClient newcomer(socketPath_);
  ASSERT_TRUE(newcomer.connected());
  expectResult(newcomer.roundTrip(requestLine(3, "echo", json::object())), 3, json::object());
}

// The limit is on the line, however the bytes arrive: kMaxLineBytes is
// accepted, one more byte is bad_request; the newline keeps the connection
// in step, so it stays open.
TEST_F(ControlServerTest, LineLimitIsExact) {
  TestClient c(socketPath_);
  ASSERT_TRUE(c.connected());
  std::string line = requestLine(1, "echo", {{"pad", true}});
  line.pop_back();
  line.insert(line.size() - 1, control::kMaxLineBytes - line.size(), ' ');
  ASSERT_EQ(line.size(), control::kMaxLineBytes);
  expectResult(c.roundTrip(line + "\n"), 1, {{"pad", true}});

  line.insert(line.size() - 1, " ");
  expectError(c.roundTrip(line + "\n"), nullptr, control::kErrBadRequest);
  expectResult(c.roundTrip(requestLine(2, "echo", json::object())), 2, json::object());
}

TEST_F(ControlServerTest, SilentAndStalledClientsDoNotBlockOthers) {
  TestClient silent(socketPath_);
  TestClient stalled(socketPath_);
  ASSERT_TRUE(silent.connected() && stalled.connected());
  const std::string request = requestLine(2, "echo", {{"stalled", true}});
  const size_t half = request.size() / 2;
  ASSERT_EQ(stalled.write(std::string_view(request).substr(0, half)), 0);

  TestClient busy(socketPath_);
  ASSERT_TRUE(busy.connected());
  for (int i = 0; i < 20; ++i)
    expectResult(busy.roundTrip(requestLine(i, "echo", {{"i", i}})), i, {{"i", i}});

  // Both latecomers are still served once they speak.
  ASSERT_EQ(stalled.write(std::string_view(request).substr(half)), 0);
  expectResult(stalled.readJson(), 2, {{"stalled", true}});
  expectResult(silent.roundTrip(requestLine(3, "echo", json::object())), 3, json::object());
}

// A client that writes requests and never reads fills its own output
// buffer; the server drops it beyond kMaxPendingOutput, and meanwhile the
// timer (the measurements) and another client keep their pace.
TEST_F(ControlServerTest, FloodingClientThatNeverReadsIsDroppedWithoutDelayingTicks) {
#ifdef __SANITIZE_ADDRESS__
  GTEST_SKIP() << "a bound on tick lateness; AddressSanitizer's slowdown voids it (the normal "
                  "build runs it)";
#endif
  TestClient other(socketPath_);
  ASSERT_TRUE(other.connected());
  expectResult(other.roundTrip(requestLine(0, "echo", json::object())), 0, json::object());
  const size_t disconnectsBefore = disconnectCount();

  std::atomic<bool> floodDone{false};
  int floodErrno = 0;
  size_t floodBytes = 0;
  maxLatenessNs_.store(0);
  const uint64_t ticksBefore = ticks_.load();
  const int64_t floodStart = monotonicNs();
  std::thread flooder([&] {
    TestClient f(socketPath_);
    std::string batch;
    for (int i = 0; i < 1000; ++i) batch += requestLine(i, "echo", {{"n", i}});
    // Far more than kMaxPendingOutput of answers; a bound so a server that
    // never drops the flooder fails the test instead of hanging it.
    const size_t limit = 16 * ControlServer::kMaxPendingOutput;
    while (floodErrno == 0 && floodBytes < limit) {
      floodErrno = f.write(batch);
      if (floodErrno == 0) floodBytes += batch.size();
    }
    floodDone = true;
  });
  int served = 0;
  do {
    ++served;
    expectResult(other.roundTrip(requestLine(served, "echo", {{"s", served}})), served,
                 {{"s", served}});
  } while (!floodDone && !testing::Test::HasFailure());
  flooder.join();
  const int64_t floodNs = monotonicNs() - floodStart;
  // Lateness is only known once the timer runs: a tick after the flood
  // covers any stall during it.
  const uint64_t ticksAfterFlood = ticks_.load();
  ASSERT_TRUE(waitFor([&] { return ticks_.load() > ticksAfterFlood; }));
  const uint64_t ticksDuring = ticksAfterFlood - ticksBefore;
  const int64_t maxLate = maxLatenessNs_.load();

  EXPECT_TRUE(floodErrno == EPIPE || floodErrno == ECONNRESET)
      << "flooder was not dropped after " << floodBytes << " bytes: " << std::strerror(floodErrno);
  EXPECT_TRUE(waitFor([&] { return disconnected_.size() > disconnectsBefore; }));
  EXPECT_LT(maxLate, kMaxTickLatenessNs)
      << "a tick was " << maxLate / 1000 << " us late during a " << floodNs / 1000
      << " us flood of " << floodBytes << " bytes";
  EXPECT_GT(ticksDuring, 0u) << "flood lasted " << floodNs / 1000 << " us";
  expectResult(other.roundTrip(requestLine("after", "echo", json::object())), "after",
               json::object());
  RecordProperty("flood_bytes", std::to_string(floodBytes));
  RecordProperty("flood_us", std::to_string(floodNs / 1000));
  RecordProperty("max_tick_lateness_us", std::to_string(maxLate / 1000));
  RecordProperty("round_trips_during_flood", std::to_string(served));
}

TEST_F(ControlServerTest, RequestCarriesPeerCredentials) {
  TestClient c(socketPath_);
  ASSERT_TRUE(c.connected());
  expectResult(c.roundTrip(requestLine(1, "echo", json::object())), 1, json::object());
  std::lock_guard lock(mu_);
  ASSERT_TRUE(lastRequest_.has_value());
  EXPECT_EQ(lastRequest_->uid, getuid());
  EXPECT_EQ(lastRequest_->gid, getgid());
  EXPECT_EQ(lastRequest_->pid, getpid());
}

TEST_F(ControlServerTest, SocketFileIsReadWriteForOwnerAndGroupOnly) {
  struct stat st {};
  ASSERT_EQ(stat(socketPath_.c_str(), &st), 0) << std::strerror(errno);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0660u) << std::oct << (st.st_mode & 07777);
}

TEST_F(ControlServerTest, DisconnectHandlerRunsWhenClientGoesAway) {
  TestClient c(socketPath_);
  ASSERT_TRUE(c.connected());
  expectResult(c.roundTrip(requestLine(1, "echo", json::object())), 1, json::object());
  const uint64_t id = clientIdOfLastRequest();
  ASSERT_NE(id, 0u);
  c.close();
  ASSERT_TRUE(waitFor([&] {
    return std::find(disconnected_.begin(), disconnected_.end(), id) != disconnected_.end();
  }));
  std::lock_guard lock(mu_);
  EXPECT_EQ(std::count(disconnected_.begin(), disconnected_.end(), id), 1);
}

// Answers computed later (as session.start --follow does) may find their
// client gone; respond() and event() then do nothing.
TEST_F(ControlServerTest, AnsweringAClientThatLeftIsHarmless) {
  TestClient stays(socketPath_);
  TestClient leaves(socketPath_);
  ASSERT_TRUE(stays.connected() && leaves.connected());
  ASSERT_EQ(stays.write(requestLine(1, "slow", json::object())), 0);
  ASSERT_TRUE(waitFor([&] { return stashed_.size() == 1; }));
  ASSERT_EQ(leaves.write(requestLine(2, "slow", json::object())), 0);
  ASSERT_TRUE(waitFor([&] { return stashed_.size() == 2; }));
  uint64_t leaverId;
  {
    std::lock_guard lock(mu_);
    leaverId = stashed_[1].client;
  }
  leaves.close();
  ASSERT_TRUE(waitFor([&] {
    return std::find(disconnected_.begin(), disconnected_.end(), leaverId) != disconnected_.end();
  }));

  {
    std::lock_guard lock(mu_);
    answerStashed_ = true;
  }
  ASSERT_TRUE(waitFor([&] { return answered_ == 2; }));
  {
    std::lock_guard lock(mu_);
    EXPECT_EQ(connectedWhenAnswered_, (std::vector<bool>{true, false}));
  }
  EXPECT_EQ(stays.readJson(), (json{{"version", control::kVersion},
                                    {"id", 1},
                                    {"event", "progress"},
                                    {"data", {{"late", true}}}}));
  expectResult(stays.readJson(), 1, {{"late", true}});
  TestClient newcomer(socketPath_);
  ASSERT_TRUE(newcomer.connected());
  expectResult(newcomer.roundTrip(requestLine(3, "echo", json::object())), 3, json::object());
}

// A directory of its own under the temporary directory, removed with
// everything in it when the test ends (also when an assertion fails);
// `path` is empty if it could not be made.
struct TempDir {
  explicit TempDir(const char* pattern) {
    std::string tmpl = (std::filesystem::temp_directory_path() / pattern).string();
    if (mkdtemp(tmpl.data())) path = tmpl;
  }
  ~TempDir() {
    if (!path.empty()) std::filesystem::remove_all(path);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string path;
};

// A symbolic link planted at the socket's path (by someone who may write to
// its directory) is replaced by the socket, never followed: the file it
// points to keeps its owner, group and mode, however the group is given.
// Anything else at the path is refused and left as it is.
TEST(ControlSocketNode, PlantedSymlinkIsReplacedNotFollowed) {
  TempDir tmp("stampd-node-XXXXXX");
  ASSERT_FALSE(tmp.path.empty()) << std::strerror(errno);
  const std::string& dir = tmp.path;
  const std::string victim = dir + "/victim", sock = dir + "/stampd.sock";
  {
    UniqueFd v(::open(victim.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
    ASSERT_TRUE(v.valid()) << std::strerror(errno);
  }
  ASSERT_EQ(::chmod(victim.c_str(), 0644), 0);
  struct stat before {};
  ASSERT_EQ(::stat(victim.c_str(), &before), 0);
  ASSERT_EQ(::symlink(victim.c_str(), sock.c_str()), 0) << std::strerror(errno);

  // A group the victim does not have: nogroup (Debian's base-passwd).
  const char* groupName = "nogroup";
  std::optional<gid_t> gid = groupId(groupName);
  if (!gid || *gid == before.st_gid) GTEST_SKIP() << "no group 'nogroup' to hand the socket to";

  auto loop = EventLoop::create();
  ASSERT_TRUE(loop.ok()) << loop.error().message;
  auto server = ControlServer::listen(
      sock, *loop, [](const ControlServer::Request&) {}, [](uint64_t) {}, groupName);
  ASSERT_TRUE(server.ok()) << server.error().message;

  struct stat after {
  }, node{};
  ASSERT_EQ(::stat(victim.c_str(), &after), 0);
  EXPECT_EQ(after.st_uid, before.st_uid) << "the link's target changed owner";
  EXPECT_EQ(after.st_gid, before.st_gid) << "the link's target changed group";
  EXPECT_EQ(after.st_mode, before.st_mode) << std::oct << after.st_mode;
  ASSERT_EQ(::lstat(sock.c_str(), &node), 0);
  EXPECT_TRUE(S_ISSOCK(node.st_mode)) << "the link was not replaced by the socket";
  EXPECT_EQ(node.st_mode & 07777, 0660u) << std::oct << (node.st_mode & 07777);
  // Root (CAP_SETGID, CAP_CHOWN) creates the node in the group; others
  // may not hand a file to a group they are not in.
  if (geteuid() == 0) {
    EXPECT_EQ(node.st_gid, *gid);
  }
  TestClient c(sock);
  EXPECT_TRUE(c.connected()) << "nothing listens on the replaced path";
  c.close();
  server->reset();

  // A regular file at the path is not stampd's: refused, kept.
  {
    UniqueFd f(::open(sock.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600));
    ASSERT_TRUE(f.valid()) << std::strerror(errno);
  }
  auto refused = ControlServer::listen(
      sock, *loop, [](const ControlServer::Request&) {}, [](uint64_t) {}, groupName);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("exists and is not a socket"), std::string::npos)
      << refused.error().message;
  ASSERT_EQ(::lstat(sock.c_str(), &node), 0);
  EXPECT_TRUE(S_ISREG(node.st_mode)) << "the file at the path was removed";
}

// The race the planted link aims at: the socket's name swapped for a link
// to another file between bind() and handing the node to the group. A
// thread keeps renaming a link over the path while the server is created
// again and again; the link's target must keep its group whatever wins.
TEST(ControlSocketNode, LinkSwappedInAfterBindIsNeverFollowed) {
  TempDir tmp("stampd-race-XXXXXX");
  ASSERT_FALSE(tmp.path.empty()) << std::strerror(errno);
  const std::string& dir = tmp.path;
  const std::string victim = dir + "/victim", sock = dir + "/stampd.sock", link = dir + "/link";
  {
    UniqueFd v(::open(victim.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
    ASSERT_TRUE(v.valid()) << std::strerror(errno);
  }
  struct stat before {};
  ASSERT_EQ(::stat(victim.c_str(), &before), 0);
  const char* groupName = "nogroup";
  std::optional<gid_t> gid = groupId(groupName);
  if (!gid || *gid == before.st_gid) GTEST_SKIP() << "no group 'nogroup' to hand the socket to";
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop.ok()) << loop.error().message;

  std::atomic<bool> stop{false};
  std::thread swapper([&] {
    while (!stop.load()) {
      ::symlink(victim.c_str(), link.c_str());
      ::rename(link.c_str(), sock.c_str());
    }
  });
  int created = 0;
  const auto until = std::chrono::steady_clock::now() + 300ms;
  while (std::chrono::steady_clock::now() < until) {
    auto server = ControlServer::listen(
        sock, *loop, [](const ControlServer::Request&) {}, [](uint64_t) {}, groupName);
    if (server.ok()) ++created;
  }
  stop = true;
  swapper.join();
  struct stat after {};
  ASSERT_EQ(::stat(victim.c_str(), &after), 0);
  EXPECT_EQ(after.st_gid, before.st_gid) << "the link's target was handed to the group";
  EXPECT_EQ(after.st_mode, before.st_mode) << std::oct << after.st_mode;
  RecordProperty("servers_created", std::to_string(created));
}

}  // namespace
}  // namespace stamp

namespace stamp {
namespace {

// Small caps and a sweep on every tick, so the limits show in milliseconds.
class ControlServerLimitsTest : public ControlServerTest {
 protected:
  ControlServerLimitsTest() {
    serverLimits_.maxClients = 2;
    serverLimits_.idleTimeout = 200ms;
    serverLimits_.rootExempt = false;  // the test runs as root
    sweep_ = true;
  }
};

// The same without the idle timeout, for tests that may pause (a loaded
// machine) longer than 200 ms between requests.
class ControlServerCapTest : public ControlServerLimitsTest {
 protected:
  ControlServerCapTest() { serverLimits_.idleTimeout = 0ns; }
};

TEST_F(ControlServerCapTest, ClientsBeyondTheCapGetOneErrorAndAreClosed) {
  TestClient a(socketPath_), b(socketPath_);
  ASSERT_TRUE(a.connected() && b.connected());
  expectResult(a.roundTrip(requestLine(1, "echo", json::object())), 1, json::object());
  expectResult(b.roundTrip(requestLine(2, "echo", json::object())), 2, json::object());
  TestClient c(socketPath_);
  ASSERT_TRUE(c.connected());  // the kernel completes the connect; stampd refuses it
  expectError(c.readJson(), nullptr, control::kErrLimit);
  EXPECT_TRUE(c.closedByServer());
  // The others are untouched, and a slot freed is a slot to take.
  expectResult(a.roundTrip(requestLine(3, "echo", json::object())), 3, json::object());
  b.close();
  ASSERT_TRUE(waitFor([&] { return disconnected_.size() == 1; }));
  TestClient d(socketPath_);
  expectResult(d.roundTrip(requestLine(4, "echo", json::object())), 4, json::object());
}

TEST_F(ControlServerLimitsTest, IdleClientsAreDisconnectedButBusyOnesStay) {
  TestClient idle(socketPath_), busy(socketPath_);
  ASSERT_TRUE(idle.connected() && busy.connected());
  expectResult(busy.roundTrip(requestLine(1, "echo", json::object())), 1, json::object());
  {
    std::lock_guard lock(mu_);
    busy_.push_back(lastRequest_->client);
  }
  expectResult(idle.roundTrip(requestLine(2, "echo", json::object())), 2, json::object());
  // idleTimeout is 200 ms: within kIoTimeout the idle one is gone.
  EXPECT_TRUE(idle.closedByServer());
  // The handler runs just after the socket closes.
  EXPECT_TRUE(waitFor([&] { return disconnected_.size() == 1; }));
  EXPECT_EQ(disconnectCount(), 1u);
  expectResult(busy.roundTrip(requestLine(3, "echo", json::object())), 3, json::object());
}

// Out of descriptors, a pending connection must not keep the loop awake:
// the listen socket pauses until the next sweep. Measured as CPU time over
// a quiet half second: a level-triggered spin burns nearly all of it.
TEST_F(ControlServerCapTest, OutOfDescriptorsPausesAcceptInsteadOfSpinning) {
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  // A connection waits in the backlog; then every descriptor is taken.
  TestClient waiting(socketPath_);
  ASSERT_TRUE(waiting.connected());
  std::vector<UniqueFd> hog;
  int highest = 0;
  for (int fd = 0; fd < 65536; ++fd)
    if (fcntl(fd, F_GETFD) >= 0) highest = fd;
  rlimit low = saved;
  low.rlim_cur = rlim_t(highest + 1 + 16);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0) << std::strerror(errno);
  for (;;) {
    int fd = dup(STDIN_FILENO);
    if (fd < 0) break;
    hog.emplace_back(fd);
  }
  const int dupErrno = errno;
  auto cpuNs = [] {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
  };
  const int64_t cpu0 = cpuNs();
  std::this_thread::sleep_for(500ms);
  const int64_t cpu = cpuNs() - cpu0;
  hog.clear();
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
  EXPECT_EQ(dupErrno, EMFILE);
  // A spin takes ~500 ms of CPU; ticks every 5 ms and a paused accept take
  // a few. 150 ms leaves room for a slow machine (and ASan).
  EXPECT_LT(cpu, 150'000'000) << "the loop spun on accept: " << cpu / 1'000'000 << " ms CPU";
  // Descriptors back: the waiting connection is served after a sweep.
  expectResult(waiting.roundTrip(requestLine(1, "echo", json::object())), 1, json::object());
}

}  // namespace
}  // namespace stamp
