// The Prometheus exposition: the text builder against the format's rules
// (HELP/TYPE once, escaped label values, cumulative buckets ending in +Inf,
// _sum and _count), and the HTTP server with a real EventLoop on a loopback
// port chosen by the kernel: GET /metrics, 404, 405, an oversized request.
// The loop runs on a background thread; an eventfd stops it.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "event_loop.hpp"
#include "service/metrics.hpp"

namespace stamp {
namespace {

TEST(MetricsText, FamilyOnceAndEscapedLabels) {
  MetricsText m;
  m.family("x_total", "counter", "Things.");
  m.sample("x_total", {{"session", "a\"b\\c\nd"}}, 3);
  m.family("x_total", "counter", "Things.");
  m.sample("x_total", {{"session", "plain"}}, 4);
  EXPECT_EQ(m.text(),
            "# HELP x_total Things.\n# TYPE x_total counter\n"
            "x_total{session=\"a\\\"b\\\\c\\nd\"} 3\n"
            "x_total{session=\"plain\"} 4\n");
}

TEST(MetricsText, Numbers) {
  EXPECT_EQ(MetricsText::number(0), "0");
  EXPECT_EQ(MetricsText::number(123456789012.0), "123456789012");
  EXPECT_EQ(MetricsText::number(5e-05), "5e-05");
  EXPECT_EQ(MetricsText::number(0.1), "0.1");
  EXPECT_EQ(MetricsText::number(1.0 / 3), "0.3333333333333333");  // 16 digits read back exactly
  EXPECT_EQ(std::stod(MetricsText::number(0.1 + 0.2)), 0.1 + 0.2);
  EXPECT_EQ(MetricsText::number(-2.5), "-2.5");
}

TEST(MetricsText, HistogramIsCumulative) {
  PromHistogram h({0.001, 0.01, 0.1});
  for (double v : {0.0005, 0.001, 0.005, 0.05, 0.5, 7.0}) h.observe(v);
  EXPECT_EQ(h.count(), 6u);
  MetricsText m;
  m.histogram("rtt_seconds", {{"session", "s"}}, h);
  EXPECT_EQ(m.text(),
            "rtt_seconds_bucket{session=\"s\",le=\"0.001\"} 2\n"  // le: 0.001 counts
            "rtt_seconds_bucket{session=\"s\",le=\"0.01\"} 3\n"
            "rtt_seconds_bucket{session=\"s\",le=\"0.1\"} 4\n"
            "rtt_seconds_bucket{session=\"s\",le=\"+Inf\"} 6\n"
            "rtt_seconds_sum{session=\"s\"} 7.5565\n"
            "rtt_seconds_count{session=\"s\"} 6\n");
}

TEST(MetricsText, DelayBucketsAscend) {
  auto b = delayBucketsSeconds();
  ASSERT_FALSE(b.empty());
  for (size_t i = 1; i < b.size(); ++i) EXPECT_LT(b[i - 1], b[i]);
}

// Sends `request` to 127.0.0.1:port and returns everything until close.
std::string httpGet(uint16_t port, const std::string& request) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    close(fd);
    return "connect failed";
  }
  (void)!write(fd, request.data(), request.size());
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) out.append(buf, size_t(n));
  close(fd);
  return out;
}

TEST(MetricsServer, ServesMetricsAndRefusesTheRest) {
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop.ok());
  int renders = 0;
  auto server = MetricsServer::start("127.0.0.1:0", *loop, [&renders] {
    ++renders;
    return std::string("# TYPE up gauge\nup 1\n");
  });
  ASSERT_TRUE(server.ok()) << server.error().message;
  uint16_t port = (*server)->port();
  ASSERT_NE(port, 0);
  int stopFd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  EventLoop* lp = &*loop;
  ASSERT_TRUE(lp->add(stopFd, EPOLLIN, [lp](uint32_t) { lp->stop(); }).ok());

  std::string ok, head, notFound, post, big, bad;
  std::thread client([&] {
    ok = httpGet(port, "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: text/plain\r\n\r\n");
    head = httpGet(port, "HEAD /metrics HTTP/1.1\r\n\r\n");
    notFound = httpGet(port, "GET /nope HTTP/1.1\r\n\r\n");
    post = httpGet(port, "POST /metrics HTTP/1.1\r\n\r\n");
    big = httpGet(port, "GET /metrics HTTP/1.1\r\nX: " + std::string(10000, 'a') + "\r\n\r\n");
    bad = httpGet(port, "garbage\r\n\r\n");
    uint64_t one = 1;
    (void)!write(stopFd, &one, sizeof(one));
  });
  ASSERT_TRUE(lp->run().ok());
  client.join();
  close(stopFd);

  EXPECT_EQ(ok.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << ok;
  EXPECT_NE(ok.find("Content-Type: text/plain; version=0.0.4"), std::string::npos);
  EXPECT_NE(ok.find("Content-Length: 21\r\n"), std::string::npos) << ok;
  EXPECT_EQ(ok.substr(ok.size() - 21), "# TYPE up gauge\nup 1\n");
  EXPECT_EQ(head.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  EXPECT_EQ(head.find("up 1"), std::string::npos) << "HEAD carries no body";
  EXPECT_EQ(notFound.rfind("HTTP/1.1 404", 0), 0u) << notFound;
  EXPECT_EQ(post.rfind("HTTP/1.1 405", 0), 0u) << post;
  EXPECT_EQ(big.rfind("HTTP/1.1 431", 0), 0u) << big;
  EXPECT_EQ(bad.rfind("HTTP/1.1 400", 0), 0u) << bad;
  EXPECT_EQ(renders, 2);
}

TEST(MetricsServer, RefusesBadListenAddresses) {
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop.ok());
  auto render = [] { return std::string(); };
  EXPECT_FALSE(MetricsServer::start("127.0.0.1", *loop, render).ok());
  EXPECT_FALSE(MetricsServer::start("127.0.0.1:99999", *loop, render).ok());
  EXPECT_FALSE(MetricsServer::start("localhost:9862", *loop, render).ok());
  auto v6 = MetricsServer::start("[::1]:0", *loop, render);
  EXPECT_TRUE(v6.ok()) << v6.error().message;
}

}  // namespace
}  // namespace stamp
