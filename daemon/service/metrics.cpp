#include "service/metrics.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>

#include <spdlog/spdlog.h>

namespace stamp {
namespace {

constexpr size_t kMaxRequest = 8192;
constexpr int64_t kIdleSeconds = 10;

int64_t monoSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec;
}

}  // namespace

void PromHistogram::observe(double v) {
  auto it = std::lower_bound(bounds_->begin(), bounds_->end(), v);  // le: v <= bound
  ++counts_[size_t(it - bounds_->begin())];
  sum_ += v;
  ++count_;
}

std::vector<double> delayBucketsSeconds() {
  return {50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3,
          50e-3, 100e-3, 250e-3, 500e-3, 1.0,  2.5,    5.0,  10.0};
}

std::shared_ptr<const std::vector<double>> sharedDelayBuckets() {
  static const auto shared = std::make_shared<const std::vector<double>>(delayBucketsSeconds());
  return shared;
}

std::string MetricsText::escapeLabel(const std::string& v) {
  std::string o;
  o.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      o += "\\\\";
    else if (c == '"')
      o += "\\\"";
    else if (c == '\n')
      o += "\\n";
    else
      o += c;
  }
  return o;
}

std::string MetricsText::number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char b[40];
  // Integers exactly (counters up to 2^53), others with full precision.
  if (v == std::floor(v) && std::fabs(v) < 9.007199254740992e15)
    std::snprintf(b, sizeof(b), "%.0f", v);
  else {
    // The shortest of %.15g..%.17g that reads back as v: 5e-05, not
    // 5.0000000000000002e-05.
    for (int prec = 15; prec <= 17; ++prec) {
      std::snprintf(b, sizeof(b), "%.*g", prec, v);
      if (std::strtod(b, nullptr) == v) break;
    }
  }
  return b;
}

void MetricsText::family(const std::string& name, const char* type, const std::string& help) {
  if (declared_[name]) return;
  declared_[name] = true;
  out_ += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

namespace {

std::string labelText(const Labels& labels, const std::string& extraKey = {},
                      const std::string& extraValue = {}) {
  if (labels.empty() && extraKey.empty()) return "";
  std::string s = "{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    s += (first ? "" : ",") + k + "=\"" + MetricsText::escapeLabel(v) + "\"";
    first = false;
  }
  if (!extraKey.empty()) s += (first ? "" : ",") + extraKey + "=\"" + extraValue + "\"";
  return s + "}";
}

}  // namespace

void MetricsText::sample(const std::string& name, const Labels& labels, double value) {
  out_ += name + labelText(labels) + " " + number(value) + "\n";
}

void MetricsText::histogram(const std::string& name, const Labels& labels, const PromHistogram& h) {
  uint64_t cum = 0;
  for (size_t i = 0; i < h.counts().size(); ++i) {
    cum += h.counts()[i];
    std::string le = i < h.bounds().size() ? number(h.bounds()[i]) : "+Inf";
    out_ += name + "_bucket" + labelText(labels, "le", le) + " " + number(double(cum)) + "\n";
  }
  out_ += name + "_sum" + labelText(labels) + " " + number(h.sum()) + "\n";
  out_ += name + "_count" + labelText(labels) + " " + number(double(h.count())) + "\n";
}

Result<std::unique_ptr<MetricsServer>> MetricsServer::start(const std::string& listen,
                                                            EventLoop& loop, Render render) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon + 1 == listen.size())
    return makeError(EINVAL, "metrics listen address '" + listen + "' is not HOST:PORT");
  std::string host = listen.substr(0, colon);
  // Port 0 lets the kernel choose (tests).
  int port = -1;
  std::string_view digits = std::string_view(listen).substr(colon + 1);
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
  if (ec != std::errc() || end != digits.data() + digits.size() || port < 0 || port > 65535)
    return makeError(EINVAL, "metrics listen port in '" + listen + "' is out of range");
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family = AF_INET;
  if (auto* a4 = reinterpret_cast<sockaddr_in*>(&ss);
      inet_pton(AF_INET, host.c_str(), &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons(uint16_t(port));
    len = sizeof(sockaddr_in);
  } else if (auto* a6 = reinterpret_cast<sockaddr_in6*>(&ss);
             inet_pton(AF_INET6, host.c_str(), &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(uint16_t(port));
    len = sizeof(sockaddr_in6);
    family = AF_INET6;
  } else {
    return makeError(EINVAL,
                     "metrics listen address '" + host + "' is not an IPv4 or IPv6 address");
  }
  int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return errnoError("metrics socket");
  UniqueFd owner(fd);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0)
    return errnoError("cannot listen for metrics on " + listen);
  if (::listen(fd, 16) != 0) return errnoError("cannot listen for metrics on " + listen);
  sockaddr_storage bound{};
  socklen_t blen = sizeof(bound);
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &blen);
  std::unique_ptr<MetricsServer> s(new MetricsServer(loop, std::move(owner), std::move(render)));
  s->port_ = ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                                     : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  MetricsServer* raw = s.get();
  if (auto r = loop.add(fd, EPOLLIN, [raw](uint32_t) { raw->onAccept(); }); !r) return r.error();
  auto sweep = makePeriodicTimer(1'000'000'000);
  if (!sweep) return sweep.error();
  s->sweep_ = std::move(*sweep);
  if (auto r = loop.add(s->sweep_.get(), EPOLLIN, [raw](uint32_t) { raw->onSweep(); }); !r)
    return r.error();
  return s;
}

MetricsServer::~MetricsServer() {
  while (!clients_.empty()) drop(clients_.begin()->first);
  if (sweep_.valid()) loop_.remove(sweep_.get());
  loop_.remove(fd_.get());
}

void MetricsServer::onAccept() {
  for (;;) {
    int fd = accept4(fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      acceptPause_.onAcceptError(loop_, fd_.get(), errno, "metrics");
      return;
    }
    if (clients_.size() >= maxClients_) {
      ::close(fd);
      continue;
    }
    auto c = std::make_unique<Client>();
    c->fd.reset(fd);
    c->acceptedMono = monoSeconds();
    clients_[fd] = std::move(c);
    if (!loop_.add(fd, EPOLLIN, [this, fd](uint32_t ev) { onClient(fd, ev); })) drop(fd);
  }
}

void MetricsServer::respond(Client& c, int status, const char* reason, const std::string& type,
                            const std::string& body) {
  c.out = "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\nContent-Type: " + type +
          "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" +
          body;
  c.sent = 0;
  loop_.modify(c.fd.get(), EPOLLOUT);
}

void MetricsServer::onClient(int fd, uint32_t events) {
  auto it = clients_.find(fd);
  if (it == clients_.end()) return;
  Client& c = *it->second;
  if (events & (EPOLLERR | EPOLLHUP)) return drop(fd);
  if (!c.out.empty()) {
    while (c.sent < c.out.size()) {
      ssize_t n = ::send(fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (n <= 0) return drop(fd);
      c.sent += size_t(n);
    }
    return drop(fd);
  }
  char buf[2048];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n <= 0) return drop(fd);
    c.in.append(buf, size_t(n));
    if (c.in.size() > kMaxRequest)
      return respond(c, 431, "Request Header Fields Too Large", "text/plain",
                     "request too large\n");
  }
  if (c.in.find("\r\n\r\n") == std::string::npos && c.in.find("\n\n") == std::string::npos)
    return;  // the headers are not complete yet
  std::string line = c.in.substr(0, c.in.find_first_of("\r\n"));
  auto sp1 = line.find(' '), sp2 = line.find(' ', sp1 == std::string::npos ? 0 : sp1 + 1);
  if (sp1 == std::string::npos || sp2 == std::string::npos)
    return respond(c, 400, "Bad Request", "text/plain", "bad request line\n");
  std::string method = line.substr(0, sp1), path = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (auto q = path.find('?'); q != std::string::npos) path.resize(q);
  if (method != "GET" && method != "HEAD")
    return respond(c, 405, "Method Not Allowed", "text/plain", "only GET\n");
  if (path != "/metrics" && path != "/")
    return respond(c, 404, "Not Found", "text/plain", "stampd serves /metrics\n");
  std::string body = render_();
  respond(c, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", method == "HEAD" ? "" : body);
}

void MetricsServer::drop(int fd) {
  loop_.remove(fd);
  clients_.erase(fd);
}

void MetricsServer::onSweep() {
  uint64_t n;
  (void)!read(sweep_.get(), &n, sizeof(n));
  acceptPause_.resume(loop_, fd_.get());
  int64_t now = monoSeconds();
  std::vector<int> idle;
  for (const auto& [fd, c] : clients_)
    if (now - c->acceptedMono > kIdleSeconds) idle.push_back(fd);
  for (int fd : idle) drop(fd);
}

}  // namespace stamp
