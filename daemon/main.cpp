// stampd: the STAMP daemon. main() parses the command line, validates the
// configuration and hands over to Daemon, whose members start in a fixed
// order and stop in reverse.
#include <cstdio>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "daemon.hpp"
#include "kernel/pin_root.hpp"
#include "kernel/reflector_bpf.hpp"
#include "reflector/reflector.hpp"
#include "service/config.hpp"
#include "service/keys.hpp"
#include "service/logging.hpp"

#include <sys/resource.h>
#include <unistd.h>

using namespace stamp;

namespace {

// Every session holds descriptors (a socket, a timer): the soft limit goes
// up to the hard one, which the unit sets (LimitNOFILE=). A shell's 1024
// would otherwise cap a stampd started by hand at a few hundred sessions.
void raiseFileLimit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur >= lim.rlim_max) return;
  const rlim_t was = lim.rlim_cur;
  lim.rlim_cur = lim.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &lim) == 0)
    spdlog::debug("open files limit raised from {} to {}", was, lim.rlim_cur);
}

int fail(const std::string& message) {
  std::fprintf(stderr, "stampd: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"stampd: STAMP (RFC 8762/8972) Session-Sender and Session-Reflector daemon"};
  std::string configPath = kDefaultConfigPath;
  std::string checkPath;
  bool version = false, teardown = false;
  app.add_option("--config", configPath, "configuration file")->capture_default_str();
  auto* check = app.add_option("--check-config", checkPath,
                               "validate the configuration (PATH or --config) and exit")
                    ->expected(0, 1);
  app.add_flag("--version", version, "print the version and exit");
  app.add_flag("--teardown", teardown,
               "detach and unpin everything stampd owns under [daemon] bpffs, then exit");
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
    // The key file too, when the configuration names keys (mode, owner,
    // syntax, and that every named key is there).
    if (auto keys = keysFor(*cfg); !keys) {
      std::fprintf(stderr, "%s\n", keys.error().message.c_str());
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
  if (teardown) {
    // Nothing pinned where ROOT does not exist: then nothing is mounted,
    // created or removed.
    auto lock = lockExistingPinRoot(cfg->daemon.bpffs);
    if (!lock) return fail(lock.error().message);
    size_t count = 0;
    if (*lock) {
      auto removed = ReflectorBpf::teardown(pinDirFor(cfg->daemon.bpffs));
      if (!removed) return fail(removed.error().message);
      for (const auto& what : *removed) std::printf("removed %s\n", what.c_str());
      count = removed->size();
      lock->reset();
      ::rmdir(cfg->daemon.bpffs.c_str());  // only when empty
    }
    std::printf("stampd: teardown of %s done (%zu removed)\n", cfg->daemon.bpffs.c_str(), count);
    return 0;
  }
  setupLogging(cfg->daemon.logLevel);
  installLibbpfLogger();
  raiseFileLimit();
  auto daemon = Daemon::create(std::move(*cfg));
  if (!daemon) return fail(daemon.error().message);
  if (auto where = mountedBpffs()) spdlog::info("mounted bpffs at {}", *where);
  auto ran = (*daemon)->run();
  if (!ran) return fail(ran.error().message);
  return 0;
}
