// stampctl: the command-line client of stampd. The control socket and its
// commands arrive with the sender (see the project's issues); this build
// knows its version and says plainly that the daemon cannot be reached.
#include <cstdio>

#include <CLI/CLI.hpp>

int main(int argc, char** argv) {
  CLI::App app{"stampctl: control stampd"};
  bool version = false;
  app.add_flag("--version", version, "print the version and exit");
  CLI11_PARSE(app, argc, argv);
  if (version) {
    std::printf("stampctl %s\n", STAMPD_VERSION);
    return 0;
  }
  std::fprintf(stderr, "stampctl: this version of stampd has no control socket yet\n");
  return 3;
}
