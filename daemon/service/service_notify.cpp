#include "service/service_notify.hpp"

#include <time.h>

#include <systemd/sd-daemon.h>

namespace stamp::service {
namespace {

void notify(const std::string& state) {
  (void)sd_notify(0, state.c_str());
}

}  // namespace

void ready(const std::string& s) {
  notify("READY=1\nSTATUS=" + s);
}

void reloading() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  uint64_t usec = uint64_t(ts.tv_sec) * 1'000'000 + uint64_t(ts.tv_nsec) / 1000;
  notify("RELOADING=1\nSTATUS=reloading the configuration\nMONOTONIC_USEC=" + std::to_string(usec));
}

void stopping() {
  notify("STOPPING=1\nSTATUS=stopping");
}
void status(const std::string& s) {
  notify("STATUS=" + s);
}
void watchdog() {
  notify("WATCHDOG=1");
}

std::optional<std::chrono::microseconds> watchdogInterval() {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::nullopt;
  return std::chrono::microseconds(usec);
}

}  // namespace stamp::service
