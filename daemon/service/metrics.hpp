// Prometheus metrics: the text exposition format (version 0.0.4) and a
// minimal HTTP/1.1 server for GET /metrics on the daemon's event loop.
//
// Debian 12 has no prometheus-cpp package, and the format is small: a
// builder that writes HELP/TYPE once per family, escapes label values and
// prints histograms cumulatively is all stampd needs. Scrapes run on the
// loop thread like everything else, so no locking.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "event_loop.hpp"
#include "libstamp/result.hpp"
#include "libstamp/unique_fd.hpp"

namespace stamp {

using Labels = std::vector<std::pair<std::string, std::string>>;

// A cumulative histogram with fixed upper bounds (in the metric's unit).
class PromHistogram {
 public:
  explicit PromHistogram(std::vector<double> bounds)
      : PromHistogram(std::make_shared<const std::vector<double>>(std::move(bounds))) {}
  // Bounds shared by many histograms (every session's delay histograms).
  explicit PromHistogram(std::shared_ptr<const std::vector<double>> bounds)
      : bounds_(std::move(bounds)), counts_(bounds_->size() + 1, 0) {}
  void observe(double v);
  const std::vector<double>& bounds() const { return *bounds_; }
  // Per bucket (not cumulative), the last one is +Inf.
  const std::vector<uint64_t>& counts() const { return counts_; }
  double sum() const { return sum_; }
  uint64_t count() const { return count_; }

 private:
  std::shared_ptr<const std::vector<double>> bounds_;
  std::vector<uint64_t> counts_;
  double sum_ = 0;
  uint64_t count_ = 0;
};

// Delay buckets in seconds: 50 us to 10 s, roughly 1-2.5-5 per decade.
std::vector<double> delayBucketsSeconds();
// The same, one copy for every histogram that uses them.
std::shared_ptr<const std::vector<double>> sharedDelayBuckets();

class MetricsText {
 public:
  // Declares a family; samples of it follow. `type`: counter, gauge,
  // histogram. A family declared twice is written once.
  void family(const std::string& name, const char* type, const std::string& help);
  void sample(const std::string& name, const Labels& labels, double value);
  void histogram(const std::string& name, const Labels& labels, const PromHistogram& h);
  const std::string& text() const { return out_; }

  static std::string escapeLabel(const std::string& v);
  static std::string number(double v);

 private:
  std::string out_;
  std::map<std::string, bool> declared_;
};

// GET /metrics (and /) over HTTP/1.1, one response per connection. Other
// paths get 404, other methods 405, requests over 8 KiB 431; a client that
// sends nothing for 10 s is dropped, and at most 64 are served at once.
class MetricsServer {
 public:
  using Render = std::function<std::string()>;
  // `listen` is "HOST:PORT" or "[V6]:PORT"; HOST may be a name-less address
  // only (127.0.0.1, ::1, 0.0.0.0, ...).
  static Result<std::unique_ptr<MetricsServer>> start(const std::string& listen, EventLoop& loop,
                                                      Render render);
  ~MetricsServer();
  uint16_t port() const { return port_; }
  // Connections beyond this are closed at once ([limits] max_metrics_clients).
  void setMaxClients(size_t n) { maxClients_ = n; }

 private:
  struct Client {
    UniqueFd fd;
    std::string in, out;
    size_t sent = 0;
    int64_t acceptedMono = 0;
  };
  MetricsServer(EventLoop& loop, UniqueFd fd, Render render)
      : loop_(loop), fd_(std::move(fd)), render_(std::move(render)) {}
  void onAccept();
  void onClient(int fd, uint32_t events);
  void respond(Client& c, int status, const char* reason, const std::string& type,
               const std::string& body);
  void drop(int fd);
  void onSweep();

  EventLoop& loop_;
  UniqueFd fd_, sweep_;
  Render render_;
  std::map<int, std::unique_ptr<Client>> clients_;
  uint16_t port_ = 0;
  size_t maxClients_ = 64;
  AcceptPause acceptPause_;  // resumed by onSweep()
};

}  // namespace stamp
