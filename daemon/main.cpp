// stampd: the STAMP daemon. Subsystems start in a fixed order here and stop
// in reverse: configuration, logging, the reflector's BPF, the event loop.
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "config.hpp"
#include "event_loop.hpp"
#include "reflector.hpp"

using namespace stamp;

namespace {

int fail(const std::string& message) {
  std::fprintf(stderr, "stampd: %s\n", message.c_str());
  return 1;
}

void setupLogging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("stampd");
  logger->set_pattern("stampd[%P]: %^%l%$: %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
}

int runDaemon(const Config& cfg) {
  setupLogging(cfg.daemon.logLevel);
  installLibbpfLogger();

  AttachMode mode = cfg.daemon.attach == "tcx"  ? AttachMode::Tcx
                    : cfg.daemon.attach == "tc" ? AttachMode::Tc
                                                : AttachMode::Auto;
  auto signals = makeSignalFd();  // before anything that may spawn threads
  if (!signals) return fail(signals.error().message);
  auto loop = EventLoop::create();
  if (!loop) return fail(loop.error().message);

  auto reflector = Reflector::start(cfg, mode);
  if (!reflector) return fail(reflector.error().message);

  auto tick = makePeriodicTimer(1'000'000'000);
  if (!tick) return fail(tick.error().message);

  int sigfd = signals->get();
  (void)loop->add(sigfd, EPOLLIN, [&](uint32_t) {
    signalfd_siginfo si{};
    while (read(sigfd, &si, sizeof(si)) == sizeof(si)) {
      if (si.ssi_signo == SIGHUP) {
        spdlog::warn("SIGHUP: live reload is not available in this version; restart stampd to "
                     "apply configuration changes");
        continue;
      }
      spdlog::info("signal {}: stopping", si.ssi_signo);
      loop->stop();
    }
  });
  int tfd = tick->get();
  (void)loop->add(tfd, EPOLLIN, [&](uint32_t) {
    uint64_t n;
    (void)!read(tfd, &n, sizeof(n));
    if (auto r = reflector->refresh(); !r) spdlog::warn("reflector refresh: {}", r.error().message);
  });

  std::string ports;
  for (auto p : cfg.reflector.ports) ports += (ports.empty() ? "" : ",") + std::to_string(p);
  spdlog::info("stampd {} running: reflector {} on UDP port(s) {}", STAMPD_VERSION,
               cfg.reflector.enabled ? "enabled" : "disabled", ports);

  auto ran = loop->run();
  auto stopped = reflector->stop();
  if (!stopped) spdlog::error("detach: {}", stopped.error().message);
  if (!ran) return fail(ran.error().message);
  spdlog::info("stopped; reflector detached");
  return stopped ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"stampd: STAMP (RFC 8762/8972) Session-Sender and Session-Reflector daemon"};
  std::string configPath = kDefaultConfigPath;
  std::string checkPath;
  bool version = false;
  app.add_option("--config", configPath, "configuration file")->capture_default_str();
  auto* check = app.add_option("--check-config", checkPath,
                               "validate the configuration (PATH or --config) and exit")
                    ->expected(0, 1);
  app.add_flag("--version", version, "print the version and exit");
  CLI11_PARSE(app, argc, argv);

  if (version) {
    std::printf("stampd %s (STAMP ABI %d)\n", STAMPD_VERSION, STAMP_ABI_VERSION);
    return 0;
  }
  if (check->count() > 0) {
    std::string path = checkPath.empty() ? configPath : checkPath;
    auto cfg = loadConfig(path);
    if (!cfg) {
      std::fprintf(stderr, "%s\n", cfg.error().message.c_str());
      return 1;
    }
    std::printf("%s: configuration OK (%zu sessions)\n", path.c_str(), cfg->sessions.size());
    return 0;
  }

  auto cfg = loadConfig(configPath);
  if (!cfg) {
    std::fprintf(stderr, "%s\n", cfg.error().message.c_str());
    return 1;
  }
  return runDaemon(*cfg);
}
