// stamp.toml: the full example of docs/configuration.md, the defaults, and
// one error per kind of mistake, each naming FILE:LINE:COLUMN.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "service/config.hpp"

namespace stamp {
namespace {

using namespace std::chrono_literals;

// The example of docs/configuration.md, "A full example".
constexpr const char* kFullConfig = R"toml(
[daemon]
socket     = "/run/stamp/stampd.sock"
bpffs      = "/sys/fs/bpf/stamp"
state_dir  = "/var/lib/stamp"
interfaces = ["eth0"]            # where the tc programs attach
key_file   = "/etc/stamp/keys.toml"  # [keys] name = "hex secret"; readable by stampd only
log_level  = "debug"
attach     = "tcx"

[reflector]
enabled  = true
ports    = [862]
mode     = "stateless"           # or "stateful"
timestamp_format = "ntp"         # or "ptp"
auth_key = "k1"                  # when set, these ports run authenticated mode
addresses = ["192.0.2.10", "2001:db8::10"]

[metrics]
listen   = "127.0.0.1:9862"      # Prometheus endpoint (/metrics); unset: off

[[session]]
name     = "edge-1"
target   = "192.0.2.1"           # IPv4 or IPv6
port     = 862
count    = 100
interval = "100ms"               # durations: "250us", "10ms", "1s", "5m"
timeout  = "2s"                  # a reply later than this counts as lost
schedule = "*/5 * * * *"         # cron; omit for on-demand only
size     = 44                    # octets of STAMP payload, padding included
dscp     = 0
ssid     = 0                     # 0: chosen automatically
timestamp_format = "ntp"
auth_key = "k1"                  # authenticated mode with this key
)toml";

Ip16 ip(const std::string& text) {
  auto r = parseIp(text);
  EXPECT_TRUE(r.ok()) << text;
  return r.ok() ? r.value() : Ip16{};
}

Config parseOk(const std::string& text) {
  auto r = parseConfig(text, "stamp.toml");
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? r.value() : Config{};
}

std::string parseError(const std::string& text) {
  auto r = parseConfig(text, "stamp.toml");
  if (r.ok()) return "(parsed without error)";
  EXPECT_EQ(r.error().code, EINVAL);
  return r.error().message;
}

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

TEST(Config, FullExample) {
  Config c = parseOk(kFullConfig);
  EXPECT_EQ(c.path, "stamp.toml");
  EXPECT_EQ(c.daemon.socket, "/run/stamp/stampd.sock");
  EXPECT_EQ(c.daemon.bpffs, "/sys/fs/bpf/stamp");
  EXPECT_EQ(c.daemon.stateDir, "/var/lib/stamp");
  EXPECT_EQ(c.daemon.interfaces, std::vector<std::string>{"eth0"});
  EXPECT_EQ(c.daemon.keyFile, "/etc/stamp/keys.toml");
  EXPECT_EQ(c.daemon.logLevel, "debug");
  EXPECT_EQ(c.daemon.attach, "tcx");

  EXPECT_TRUE(c.reflector.enabled);
  EXPECT_EQ(c.reflector.ports, std::vector<uint16_t>{862});
  EXPECT_EQ(c.reflector.mode, ReflectorMode::Stateless);
  EXPECT_EQ(c.reflector.tsFormat, TsFormat::Ntp);
  EXPECT_EQ(c.reflector.authKey, "k1");
  EXPECT_EQ(c.reflector.addresses, (std::vector<Ip16>{ip("192.0.2.10"), ip("2001:db8::10")}));

  EXPECT_EQ(c.metrics.listen, "127.0.0.1:9862");

  ASSERT_EQ(c.sessions.size(), 1u);
  const SessionConfig& s = c.sessions[0];
  EXPECT_EQ(s.name, "edge-1");
  EXPECT_EQ(s.target, "192.0.2.1");
  EXPECT_EQ(s.port, 862);
  EXPECT_EQ(s.count, 100u);
  EXPECT_EQ(s.interval, 100ms);
  EXPECT_EQ(s.timeout, 2s);
  EXPECT_EQ(s.schedule, "*/5 * * * *");
  EXPECT_EQ(s.size, 44u);
  EXPECT_EQ(s.dscp, 0);
  EXPECT_EQ(s.ssid, 0);
  EXPECT_EQ(s.tsFormat, TsFormat::Ntp);
  EXPECT_EQ(s.authKey, "k1");
  EXPECT_TRUE(s.enabled);
}

TEST(Config, OtherValuesOfEachKey) {
  Config c = parseOk(R"toml(
[reflector]
enabled = false
ports = [862, 8620, 65535, 1]
mode = "stateful"
timestamp_format = "ptp"

[[session]]
name = "v6"
target = "2001:db8::1"
port = 8620
count = 0
interval = "250us"
timeout = "5m"
size = 1500
dscp = 46
ssid = 65535
timestamp_format = "ptp"
enabled = false

[[session]]
name = "second"
target = "198.51.100.7"
)toml");
  EXPECT_FALSE(c.reflector.enabled);
  EXPECT_EQ(c.reflector.ports, (std::vector<uint16_t>{862, 8620, 65535, 1}));
  EXPECT_EQ(c.reflector.mode, ReflectorMode::Stateful);
  EXPECT_EQ(c.reflector.tsFormat, TsFormat::Ptp);
  ASSERT_EQ(c.sessions.size(), 2u);
  const SessionConfig& s = c.sessions[0];
  EXPECT_EQ(s.port, 8620);
  EXPECT_EQ(s.count, 0u);
  EXPECT_EQ(s.interval, 250us);
  EXPECT_EQ(s.timeout, 5min);
  EXPECT_EQ(s.size, 1500u);
  EXPECT_EQ(s.dscp, 46);
  EXPECT_EQ(s.ssid, 65535);
  EXPECT_EQ(s.tsFormat, TsFormat::Ptp);
  EXPECT_FALSE(s.enabled);
  EXPECT_EQ(c.sessions[1].name, "second");
}

TEST(Config, DefaultsWhenKeysAreAbsent) {
  Config c = parseOk("");
  EXPECT_EQ(c.daemon.socket, "/run/stamp/stampd.sock");
  EXPECT_EQ(c.daemon.bpffs, "/sys/fs/bpf/stamp");
  EXPECT_EQ(c.daemon.stateDir, "/var/lib/stamp");
  EXPECT_EQ(c.daemon.keyFile, "");
  EXPECT_EQ(c.daemon.logLevel, "info");
  EXPECT_EQ(c.daemon.attach, "auto");
  EXPECT_TRUE(c.daemon.interfaces.empty());
  EXPECT_TRUE(c.reflector.enabled);
  EXPECT_EQ(c.reflector.ports, std::vector<uint16_t>{862});
  EXPECT_EQ(c.reflector.mode, ReflectorMode::Stateless);
  EXPECT_EQ(c.reflector.tsFormat, TsFormat::Ntp);
  EXPECT_EQ(c.reflector.authKey, "");
  EXPECT_TRUE(c.reflector.addresses.empty());
  EXPECT_EQ(c.metrics.listen, "");
  EXPECT_TRUE(c.sessions.empty());

  // Empty sections change nothing either.
  Config e = parseOk("[daemon]\n[reflector]\n[metrics]\n");
  EXPECT_EQ(e.reflector.ports, std::vector<uint16_t>{862});
  EXPECT_EQ(e.daemon.logLevel, "info");

  Config m = parseOk("[[session]]\nname = \"min\"\ntarget = \"192.0.2.1\"\n");
  ASSERT_EQ(m.sessions.size(), 1u);
  const SessionConfig& s = m.sessions[0];
  EXPECT_EQ(s.port, 862);
  EXPECT_EQ(s.count, 100u);
  EXPECT_EQ(s.interval, 100ms);
  EXPECT_EQ(s.timeout, 2s);
  EXPECT_EQ(s.schedule, "");
  EXPECT_EQ(s.size, 44u);
  EXPECT_EQ(s.dscp, 0);
  EXPECT_EQ(s.ssid, 0);
  EXPECT_EQ(s.tsFormat, TsFormat::Ntp);
  EXPECT_EQ(s.authKey, "");
  EXPECT_TRUE(s.enabled);
}

// One mistake per row; the message is the whole expected line.
struct BadCase {
  const char* what;
  const char* toml;
  const char* message;
};

const BadCase kBadCases[] = {
    {"unknown key with a suggestion", "[reflector]\nprots = [862]\n",
     "stamp.toml:2:1: unknown key 'reflector.prots' (did you mean 'ports'?)"},
    {"unknown key in a session",
     "[[session]]\nname = \"a\"\ntarget = \"192.0.2.1\"\nintreval = \"1s\"\n",
     "stamp.toml:4:1: unknown key 'session.intreval' (did you mean 'interval'?)"},
    {"unknown key without a close match", "[daemon]\nfrobnicate = 1\n",
     "stamp.toml:2:1: unknown key 'daemon.frobnicate'"},
    {"unknown section", "[reflektor]\nports = [862]\n",
     "stamp.toml:1:2: unknown key 'reflektor' (did you mean 'reflector'?)"},
    {"wrong type: string for integer",
     "[[session]]\nname = \"a\"\ntarget = \"192.0.2.1\"\nport = \"862\"\n",
     "stamp.toml:4:8: 'session.port' must be an integer"},
    {"wrong type: string for bool", "[reflector]\nenabled = \"yes\"\n",
     "stamp.toml:2:11: 'reflector.enabled' must be true or false"},
    {"wrong type: number for string", "[daemon]\nsocket = 5\n",
     "stamp.toml:2:10: 'daemon.socket' must be a string"},
    {"wrong type: section is not a table", "daemon = 5\n",
     "stamp.toml:1:10: 'daemon' must be a table [daemon]"},
    {"wrong type: session is not an array of tables", "[session]\nname = \"a\"\n",
     "stamp.toml:1:1: 'session' must be an array of tables [[session]]"},
    {"wrong type: interfaces is not a list", "[daemon]\ninterfaces = \"eth0\"\n",
     "stamp.toml:2:14: 'daemon.interfaces' must be an array of strings"},
    {"wrong type: interface entry", "[daemon]\ninterfaces = [\"eth0\", 7]\n",
     "stamp.toml:2:23: 'daemon.interfaces' must contain only strings"},
    {"bad duration: no unit",
     "[[session]]\nname = \"a\"\ntarget = \"192.0.2.1\"\ninterval = \"10\"\n",
     "stamp.toml:4:12: 'session.interval' must be a duration such as \"250us\", \"10ms\", \"1s\", "
     "\"5m\""},
    {"bad duration: fraction",
     "[[session]]\nname = \"a\"\ntarget = \"192.0.2.1\"\ntimeout = \"1.5s\"\n",
     "stamp.toml:4:11: 'session.timeout' must be a duration such as \"250us\", \"10ms\", \"1s\", "
     "\"5m\""},
    {"bad duration: a number",
     "[[session]]\nname = \"a\"\ntarget = \"192.0.2.1\"\ninterval = 100\n",
     "stamp.toml:4:12: 'session.interval' must be a duration such as \"250us\", \"10ms\", \"1s\", "
     "\"5m\""},
    {"session port out of range",
     "[[session]]\nname = \"a\"\ntarget = \"192.0.2.1\"\nport = 70000\n",
     "stamp.toml:4:8: 'session.port' = 70000 is out of range 1..65535"},
    {"session port zero", "[[session]]\nname = \"a\"\ntarget = \"192.0.2.1\"\nport = 0\n",
     "stamp.toml:4:8: 'session.port' = 0 is out of range 1..65535"},
    {"dscp out of range", "[[session]]\nname = \"a\"\ntarget = \"192.0.2.1\"\ndscp = 64\n",
     "stamp.toml:4:8: 'session.dscp' = 64 is out of range 0..63"},
    {"reflector port out of range", "[reflector]\nports = [862, 65536]\n",
     "stamp.toml:2:15: 'reflector.ports': port must be an integer 1..65535"},
    {"reflector port zero", "[reflector]\nports = [0]\n",
     "stamp.toml:2:10: 'reflector.ports': port must be an integer 1..65535"},
    {"reflector port not an integer", "[reflector]\nports = [\"862\"]\n",
     "stamp.toml:2:10: 'reflector.ports': port must be an integer 1..65535"},
    {"reflector ports empty", "[reflector]\nports = []\n",
     "stamp.toml:2:9: 'reflector.ports' must be a non-empty array of ports"},
    {"duplicate port", "[reflector]\nports = [862, 863, 862]\n",
     "stamp.toml:2:20: 'reflector.ports': port 862 is listed twice"},
    {"bad session target", "[[session]]\nname = \"a\"\ntarget = \"192.0.2.300\"\n",
     "stamp.toml:3:10: session 'a': '192.0.2.300' is not an IPv4 or IPv6 address"},
    {"bad reflector address", "[reflector]\naddresses = [\"192.0.2.1\", \"fe80::zz\"]\n",
     "stamp.toml:2:27: 'reflector.addresses': 'fe80::zz' is not an IPv4 or IPv6 address"},
    {"duplicate session name",
     "[[session]]\nname = \"a\"\ntarget = \"192.0.2.1\"\n"
     "[[session]]\nname = \"a\"\ntarget = \"192.0.2.2\"\n",
     "stamp.toml:4:1: duplicate session name 'a'"},
    {"session without a name", "[[session]]\ntarget = \"192.0.2.1\"\n",
     "stamp.toml:1:1: a [[session]] needs a 'name'"},
    {"session without a target", "[[session]]\nname = \"a\"\n",
     "stamp.toml:1:1: session 'a' needs a 'target'"},
    {"bad timestamp format", "[reflector]\ntimestamp_format = \"utc\"\n",
     "stamp.toml:2:20: 'reflector.timestamp_format' must be \"ntp\" or \"ptp\""},
    {"bad mode", "[reflector]\nmode = \"stateful-ish\"\n",
     "stamp.toml:2:8: 'reflector.mode' must be \"stateless\" or \"stateful\""},
    {"bad log level", "[daemon]\nlog_level = \"verbose\"\n",
     "stamp.toml:2:13: 'daemon.log_level' must be one of trace, debug, info, warn, error"},
    {"bad attach mode", "[daemon]\nattach = \"xdp\"\n",
     "stamp.toml:2:10: 'daemon.attach' must be \"auto\", \"tcx\" or \"tc\""},
    {"session ecn out of range", "[[session]]\nname = \"a\"\ntarget = \"192.0.2.1\"\necn = 4\n",
     "stamp.toml:4:7: 'session.ecn' = 4 is out of range 0..3"},
    {"session ecn as a name", "[[session]]\nname = \"a\"\ntarget = \"192.0.2.1\"\necn = \"ect1\"\n",
     "stamp.toml:4:7: 'session.ecn' must be an integer"},
    {"reflector dscp out of range", "[reflector]\ndscp = 64\n",
     "stamp.toml:2:8: 'reflector.dscp' must be \"copy\" or an integer 0..63"},
    {"reflector dscp negative", "[reflector]\ndscp = -1\n",
     "stamp.toml:2:8: 'reflector.dscp' must be \"copy\" or an integer 0..63"},
    {"reflector dscp a float", "[reflector]\ndscp = 46.0\n",
     "stamp.toml:2:8: 'reflector.dscp' must be \"copy\" or an integer 0..63"},
    {"reflector dscp another word", "[reflector]\ndscp = \"keep\"\n",
     "stamp.toml:2:8: 'reflector.dscp' must be \"copy\" or an integer 0..63"},
    {"reflector ecn out of range", "[reflector]\necn = 4\n",
     "stamp.toml:2:7: 'reflector.ecn' must be \"copy\" or an integer 0..3"},
    {"reflector ecn a boolean", "[reflector]\necn = true\n",
     "stamp.toml:2:7: 'reflector.ecn' must be \"copy\" or an integer 0..3"},
};

TEST(Config, DscpAndEcn) {
  Config d = parseOk("[[session]]\nname = \"a\"\ntarget = \"192.0.2.1\"\n");
  EXPECT_FALSE(d.reflector.dscp) << "default: copy the request's DSCP";
  EXPECT_FALSE(d.reflector.ecn) << "default: copy the request's ECN";
  EXPECT_EQ(d.sessions.at(0).ecn, 0) << "default: Not-ECT";

  Config c = parseOk(R"toml(
[reflector]
dscp = 10
ecn = 0
[[session]]
name = "ef"
target = "192.0.2.1"
dscp = 46
ecn = 1
)toml");
  EXPECT_EQ(c.reflector.dscp, std::optional<uint8_t>(10));
  EXPECT_EQ(c.reflector.ecn, std::optional<uint8_t>(0));
  EXPECT_EQ(c.sessions.at(0).dscp, 46);
  EXPECT_EQ(c.sessions.at(0).ecn, 1);

  Config copy = parseOk("[reflector]\ndscp = \"copy\"\necn = \"copy\"\n");
  EXPECT_FALSE(copy.reflector.dscp);
  EXPECT_FALSE(copy.reflector.ecn);
  Config edges = parseOk("[reflector]\ndscp = 63\necn = 3\n");
  EXPECT_EQ(edges.reflector.dscp, std::optional<uint8_t>(63));
  EXPECT_EQ(edges.reflector.ecn, std::optional<uint8_t>(3));
  // A changed policy is a changed reflector (reload applies it).
  EXPECT_FALSE(copy.reflector == edges.reflector);
}

TEST(Config, ErrorsNamePathLineColumn) {
  for (const BadCase& c : kBadCases) EXPECT_EQ(parseError(c.toml), c.message) << c.what;
}

TEST(Config, TomlSyntaxErrorNamesPosition) {
  std::string msg = parseError("[daemon]\nsocket = \"/run/x\"\n[reflector\nports = [862]\n");
  EXPECT_TRUE(std::regex_match(msg, std::regex(R"(stamp\.toml:3:11: .+)"))) << msg;
  msg = parseError("[daemon]\nsocket = \"unterminated\n");
  EXPECT_TRUE(std::regex_match(msg, std::regex(R"(stamp\.toml:2:\d+: .+)"))) << msg;
  msg = parseError("[reflector]\nports = [862]\nports = [863]\n");  // TOML forbids redefinition
  EXPECT_TRUE(std::regex_match(msg, std::regex(R"(stamp\.toml:3:\d+: .+)"))) << msg;
}

TEST(Config, ReportsAllProblemsAtOnce) {
  std::string msg = parseError(
      "[daemon]\nlog_level = \"loud\"\n"
      "[reflector]\nports = [862, 862]\n"
      "[[session]]\nname = \"a\"\ntarget = \"nowhere\"\ninterval = \"soon\"\n");
  auto got = lines(msg);
  ASSERT_EQ(got.size(), 4u) << msg;
  for (const auto& l : got)
    EXPECT_TRUE(std::regex_match(l, std::regex(R"(stamp\.toml:\d+:\d+: .+)"))) << l;
  EXPECT_NE(msg.find("stamp.toml:2:13: 'daemon.log_level'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("stamp.toml:4:15: 'reflector.ports': port 862 is listed twice"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("stamp.toml:7:10: session 'a': 'nowhere' is not"), std::string::npos) << msg;
  EXPECT_NE(msg.find("stamp.toml:8:12: 'session.interval' must be a duration"), std::string::npos)
      << msg;
}

TEST(Config, LoadConfigReadsAFile) {
  char path[] = "/tmp/stamp_config_test_XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  {
    std::ofstream out(path);
    out << "[reflector]\nports = [8620]\n[daemon]\nlog_levl = \"info\"\n";
  }
  auto r = loadConfig(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message,
            std::string(path) + ":4:1: unknown key 'daemon.log_levl' (did you mean 'log_level'?)");
  {
    std::ofstream out(path);
    out << "[reflector]\nports = [8620]\n";
  }
  auto ok = loadConfig(path);
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->path, path);
  EXPECT_EQ(ok->reflector.ports, std::vector<uint16_t>{8620});
  std::remove(path);

  auto missing = loadConfig("/nonexistent/stamp.toml");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ENOENT);
  EXPECT_NE(missing.error().message.find("/nonexistent/stamp.toml"), std::string::npos);
}

// Inputs that toml++ 3.3.0 mishandles internally (upstream
// marzer/tomlplusplus#190, #295, #301); the library stampd links must still
// answer each with an error naming the position, not crash.
TEST(Config, MalformedTomlIsAnError) {
  struct Row {
    const char* what;
    std::string toml;
  };
  const Row rows[] = {
      {"'[[[' table header (#301)", "[[[1]]]\n"},
      {"'[[=' (#301)", "[[=\n"},
      {"NUL in a table header", std::string("[\t\0x]\n", 6)},
      {"'[&' (#294)", "[&"},
      {"non-ASCII where whitespace may be (#295)", "a = [\xc9\x99]\n"},
      {"lone combining mark (#295)", "\xcc\xaa"},
      {"non-ASCII after a line-ending backslash (#190)", "s = \"\"\"\\\n\xc2\xa7\"\"\"\n"},
      {"truncated UTF-8", "a = \"\xe2\x82\"\n"},
  };
  for (const Row& r : rows) {
    std::string msg = parseError(r.toml);
    EXPECT_TRUE(std::regex_search(msg, std::regex(R"(^stamp\.toml:\d+:\d+: )")))
        << r.what << ": " << msg;
  }
}

// config.hpp promises one line per problem; messages that echo a key, a
// value or a toml++ description can carry a newline of the input.
TEST(Config, EveryErrorIsOneLine) {
  const char* inputs[] = {
      "[daemon]\nsocket = tru\n",                          // toml++: "saw 'tru\n'"
      "[daemon]\n\"sock\\net\" = \"x\"\n",                 // unknown key with an escaped newline
      "[reflector]\naddresses = [\"192.0.2.1\\n::1\"]\n",  // a bad address with a newline
  };
  std::string broken;
  for (const char* toml : inputs) {
    std::string msg = parseError(toml);
    if (msg.find('\n') != std::string::npos)
      broken += "\n  input " + std::string(toml) + "  message " + msg;
  }
  EXPECT_TRUE(broken.empty()) << "an error message spans lines:" << broken;
}

}  // namespace
}  // namespace stamp

namespace stamp {
namespace {
// Found by fuzz_config: a float among the ports was converted to an integer
// (undefined behaviour when out of range) before its type was checked.
TEST(Config, FloatPortIsATypeError) {
  for (const char* toml : {"[reflector]\nports = [1e35]\n", "[reflector]\nports = [862.0]\n"}) {
    auto r = parseConfig(toml, "stamp.toml");
    ASSERT_FALSE(r.ok()) << toml;
    EXPECT_NE(r.error().message.find("port must be an integer"), std::string::npos)
        << r.error().message;
  }
}
}  // namespace
}  // namespace stamp

namespace stamp {
namespace {
TEST(Config, ScheduleKeysAreValidated) {
  auto ok = parseConfig(
      "[[session]]\nname = \"a\"\ntarget = \"192.0.2.1\"\nschedule = \"*/5 * * * MON-FRI\"\n"
      "timezone = \"local\"\nsplay = \"30s\"\n",
      "stamp.toml");
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->sessions[0].schedule, "*/5 * * * MON-FRI");
  EXPECT_TRUE(ok->sessions[0].localTime);
  EXPECT_EQ(ok->sessions[0].splay, std::chrono::seconds(30));

  auto bad =
      parseConfig("[[session]]\nname = \"a\"\ntarget = \"192.0.2.1\"\nschedule = \"0 25 * * *\"\n",
                  "stamp.toml");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message,
            "stamp.toml:4:12: 'session.schedule': hour field: 25 is out of range 0..23 (column 3)");
  auto tz = parseConfig("[[session]]\nname = \"a\"\ntarget = \"192.0.2.1\"\ntimezone = \"CET\"\n",
                        "stamp.toml");
  ASSERT_FALSE(tz.ok());
  EXPECT_NE(tz.error().message.find("'session.timezone' must be \"utc\" or \"local\""),
            std::string::npos);
}
}  // namespace
}  // namespace stamp

// [reflector] guards: allow and deny prefixes, rate limits and bursts.
namespace stamp {
namespace {
TEST(Config, GuardKeys) {
  Config d = parseOk("");
  EXPECT_TRUE(d.reflector.allow.empty());
  EXPECT_TRUE(d.reflector.deny.empty());
  // Non-zero by default: 5,000/s per source, 50,000/s for all, bursts of
  // one second's worth (docs/configuration.md says why).
  EXPECT_EQ(d.reflector.rateLimitPerSource, 5000u);
  EXPECT_EQ(d.reflector.rateLimitPerSourceBurst, 0u);
  EXPECT_EQ(d.reflector.rateLimit, 50000u);
  EXPECT_EQ(d.reflector.rateLimitBurst, 0u);
  EXPECT_EQ(d.reflector.rateLimitIpv6Prefix, 64u);
  EXPECT_FALSE(d.reflector.answerShortRequests);
  EXPECT_FALSE(d.reflector.answerReflectorSourcePorts);
  EXPECT_FALSE(d.reflector.answerReflectedPackets);

  Config c = parseOk(R"toml(
[reflector]
allow = ["192.0.2.0/24", "2001:db8::/32", "198.51.100.7", "::ffff:203.0.113.0/120"]
deny = ["192.0.2.128/25", "0.0.0.0/0"]
rate_limit_per_source = 10
rate_limit_per_source_burst = 20
rate_limit = 100000000
rate_limit_burst = 1
)toml");
  auto texts = [](const std::vector<IpPrefix>& v) {
    std::vector<std::string> out;
    for (const auto& p : v) out.push_back(formatPrefix(p));
    return out;
  };
  EXPECT_EQ(texts(c.reflector.allow),
            (std::vector<std::string>{"192.0.2.0/24", "2001:db8::/32", "198.51.100.7/32",
                                      "203.0.113.0/24"}));
  EXPECT_EQ(c.reflector.allow[0].length, 96 + 24);
  EXPECT_EQ(c.reflector.allow[1].length, 32);
  EXPECT_EQ(texts(c.reflector.deny), (std::vector<std::string>{"192.0.2.128/25", "0.0.0.0/0"}));
  EXPECT_EQ(c.reflector.rateLimitPerSource, 10u);
  EXPECT_EQ(c.reflector.rateLimitPerSourceBurst, 20u);
  EXPECT_EQ(c.reflector.rateLimit, 100000000u);
  EXPECT_EQ(c.reflector.rateLimitBurst, 1u);
  // An empty list is "no list".
  EXPECT_TRUE(parseOk("[reflector]\nallow = []\n").reflector.allow.empty());

  Config a = parseOk(R"toml(
[reflector]
rate_limit = 0
rate_limit_per_source = 0
rate_limit_ipv6_prefix = 56
answer_short_requests = true
answer_reflector_source_ports = true
answer_reflected_packets = true
)toml");
  EXPECT_EQ(a.reflector.rateLimit, 0u);
  EXPECT_EQ(a.reflector.rateLimitPerSource, 0u);
  EXPECT_EQ(a.reflector.rateLimitIpv6Prefix, 56u);
  EXPECT_TRUE(a.reflector.answerShortRequests);
  EXPECT_TRUE(a.reflector.answerReflectorSourcePorts);
  EXPECT_TRUE(a.reflector.answerReflectedPackets);
}

// [reflector] addresses are this host's unicast addresses: multicast,
// broadcast and unspecified ones are refused with FILE:LINE:COLUMN.
TEST(Config, ReflectorAddressesMustBeUnicast) {
  const BadCase cases[] = {
      {"IPv4 multicast", "[reflector]\naddresses = [\"192.0.2.1\", \"224.0.0.1\"]\n",
       "stamp.toml:2:27: 'reflector.addresses': 224.0.0.1 is multicast, not an address of this "
       "host to answer on"},
      {"IPv4 multicast, top", "[reflector]\naddresses = [\"239.255.255.255\"]\n",
       "stamp.toml:2:14: 'reflector.addresses': 239.255.255.255 is multicast, not an address of "
       "this host to answer on"},
      {"broadcast", "[reflector]\naddresses = [\"255.255.255.255\"]\n",
       "stamp.toml:2:14: 'reflector.addresses': 255.255.255.255 is the broadcast address, not an "
       "address of this host to answer on"},
      {"IPv4 unspecified", "[reflector]\naddresses = [\"0.0.0.0\"]\n",
       "stamp.toml:2:14: 'reflector.addresses': 0.0.0.0 is unspecified, not an address of this "
       "host to answer on"},
      {"IPv6 multicast", "[reflector]\naddresses = [\"ff02::1\"]\n",
       "stamp.toml:2:14: 'reflector.addresses': ff02::1 is multicast, not an address of this "
       "host to answer on"},
      {"IPv6 unspecified", "[reflector]\naddresses = [\"::\"]\n",
       "stamp.toml:2:14: 'reflector.addresses': :: is unspecified, not an address of this host "
       "to answer on"},
      {"IPv4-mapped multicast", "[reflector]\naddresses = [\"::ffff:224.1.2.3\"]\n",
       "stamp.toml:2:14: 'reflector.addresses': ::ffff:224.1.2.3 is multicast, not an address "
       "of this host to answer on"},
      {"IPv6 prefix out of range", "[reflector]\nrate_limit_ipv6_prefix = 0\n",
       "stamp.toml:2:26: 'reflector.rate_limit_ipv6_prefix' = 0 is out of range 1..128"},
      {"IPv6 prefix over 128", "[reflector]\nrate_limit_ipv6_prefix = 129\n",
       "stamp.toml:2:26: 'reflector.rate_limit_ipv6_prefix' = 129 is out of range 1..128"},
      {"answer_ not a boolean", "[reflector]\nanswer_short_requests = 1\n",
       "stamp.toml:2:25: 'reflector.answer_short_requests' must be true or false"},
  };
  for (const BadCase& c : cases) EXPECT_EQ(parseError(c.toml), c.message) << c.what;
  Config ok = parseOk("[reflector]\naddresses = [\"223.255.255.255\", \"127.0.0.1\", \"::1\"]\n");
  EXPECT_EQ(ok.reflector.addresses.size(), 3u) << "unicast, loopback included";
}

TEST(Config, GuardErrorsNamePathLineColumn) {
  const BadCase cases[] = {
      {"not a prefix", "[reflector]\nallow = [\"192.0.2.0/24\", \"192.0.2.x/24\"]\n",
       "stamp.toml:2:26: 'reflector.allow': '192.0.2.x/24' is not an IPv4 or IPv6 address or "
       "prefix"},
      {"IPv4 length over 32", "[reflector]\nallow = [\"192.0.2.0/33\"]\n",
       "stamp.toml:2:10: 'reflector.allow': '192.0.2.0/33': the prefix length must be 0..32"},
      {"IPv6 length over 128", "[reflector]\ndeny = [\"2001:db8::/129\"]\n",
       "stamp.toml:2:9: 'reflector.deny': '2001:db8::/129': the prefix length must be 0..128"},
      {"empty length", "[reflector]\nallow = [\"192.0.2.0/\"]\n",
       "stamp.toml:2:10: 'reflector.allow': '192.0.2.0/': the prefix length must be 0..32"},
      {"host bits", "[reflector]\nallow = [\"192.0.2.1/24\"]\n",
       "stamp.toml:2:10: 'reflector.allow': '192.0.2.1/24' has bits set beyond its length (did "
       "you mean '192.0.2.0/24'?)"},
      {"IPv6 host bits", "[reflector]\nallow = [\"2001:db8::1/32\"]\n",
       "stamp.toml:2:10: 'reflector.allow': '2001:db8::1/32' has bits set beyond its length "
       "(did you mean '2001:db8::/32'?)"},
      {"not a string", "[reflector]\nallow = [24]\n",
       "stamp.toml:2:10: 'reflector.allow': not a string"},
      {"not a list", "[reflector]\ndeny = \"192.0.2.0/24\"\n",
       "stamp.toml:2:8: 'reflector.deny' must be an array of prefixes"},
      {"listed twice", "[reflector]\nallow = [\"192.0.2.0/24\", \"::ffff:192.0.2.0/120\"]\n",
       "stamp.toml:2:26: 'reflector.allow': 192.0.2.0/24 is listed twice"},
      {"in both lists", "[reflector]\nallow = [\"192.0.2.0/24\"]\ndeny = [\"192.0.2.0/24\"]\n",
       "stamp.toml:3:9: 'reflector.deny': 192.0.2.0/24 is also in 'reflector.allow'"},
      {"rate out of range", "[reflector]\nrate_limit = 100000001\n",
       "stamp.toml:2:14: 'reflector.rate_limit' = 100000001 is out of range 0..100000000"},
      {"negative rate", "[reflector]\nrate_limit_per_source = -1\n",
       "stamp.toml:2:25: 'reflector.rate_limit_per_source' = -1 is out of range 0..100000000"},
      {"burst not an integer", "[reflector]\nrate_limit_burst = \"10\"\n",
       "stamp.toml:2:20: 'reflector.rate_limit_burst' must be an integer"},
      {"misspelt key", "[reflector]\nalow = [\"192.0.2.0/24\"]\n",
       "stamp.toml:2:1: unknown key 'reflector.alow' (did you mean 'allow'?)"},
  };
  for (const BadCase& c : cases) EXPECT_EQ(parseError(c.toml), c.message) << c.what;
}

TEST(Config, GuardPrefixesAreBounded) {
  std::string many = "[reflector]\nallow = [";
  for (int i = 0; i < 1025; ++i)  // one more than the trie holds
    many += "\"10." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ".0/24\", ";
  many += "]\n";
  std::string msg = parseError(many);
  EXPECT_NE(msg.find("'reflector.allow': more than 1024 prefixes in allow and deny together"),
            std::string::npos)
      << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << "one line for the whole list";
  // Exactly as many as the trie holds, the last one in deny, is fine.
  std::string full = "[reflector]\nallow = [";
  for (int i = 0; i < 1023; ++i)
    full += "\"10." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ".0/24\", ";
  full += "]\ndeny = [\"10.255.0.0/16\"]\n";
  EXPECT_EQ(parseOk(full).reflector.allow.size(), 1023u);
}
}  // namespace
}  // namespace stamp

namespace stamp {
namespace {

// Every integer key is range-checked as a 64-bit value before it is
// narrowed to its field: one beyond each end, and the ends of int64_t,
// are errors at the value's FILE:LINE:COLUMN; the ends themselves load.
TEST(Config, IntegerKeysAreRangeCheckedBeforeNarrowing) {
  struct Key {
    const char* section;  // the lines before "KEY = VALUE"
    const char* key;      // as written
    const char* name;     // as the error names it
    int64_t lo, hi;
  };
  const char* session = "[[session]]\nname = \"a\"\ntarget = \"192.0.2.1\"\n";
  const Key keys[] = {
      {session, "port", "session.port", 1, 65535},
      {session, "count", "session.count", 0, INT64_MAX},
      {session, "size", "session.size", 44, 8952},
      {session, "dscp", "session.dscp", 0, 63},
      {session, "ecn", "session.ecn", 0, 3},
      {session, "ssid", "session.ssid", 0, 65535},
      {session, "source_port", "session.source_port", 0, 65535},
      {session, "histogram_bins", "session.histogram_bins", 1, 10000},
      {session, "tlv_padding", "session.tlv_padding", 0, 8952},
      {"[reflector]\n", "max_sessions", "reflector.max_sessions", 1, 1 << 24},
      {"[reflector]\n", "rate_limit", "reflector.rate_limit", 0, 100'000'000},
      {"[reflector]\n", "rate_limit_burst", "reflector.rate_limit_burst", 0, 100'000'000},
      {"[reflector]\n", "rate_limit_per_source", "reflector.rate_limit_per_source", 0, 100'000'000},
      {"[reflector]\n", "rate_limit_per_source_burst", "reflector.rate_limit_per_source_burst", 0,
       100'000'000},
      {"[results]\n", "max_runs", "results.max_runs", 0, INT64_MAX},
  };
  for (const Key& k : keys) {
    const int line = int(std::count(k.section, k.section + std::strlen(k.section), '\n')) + 1;
    const std::string at =
        "stamp.toml:" + std::to_string(line) + ":" + std::to_string(std::strlen(k.key) + 4) + ": ";
    std::vector<int64_t> bad = {INT64_MIN};
    if (k.lo > INT64_MIN) bad.push_back(k.lo - 1);
    if (k.hi < INT64_MAX) bad.push_back(k.hi + 1);
    if (k.hi < INT64_MAX) bad.push_back(INT64_MAX);
    for (int64_t v : bad) {
      const std::string toml = std::string(k.section) + k.key + " = " + std::to_string(v) + "\n";
      EXPECT_EQ(parseError(toml), at + "'" + k.name + "' = " + std::to_string(v) +
                                      " is out of range " + std::to_string(k.lo) + ".." +
                                      std::to_string(k.hi))
          << toml;
    }
    for (int64_t v : {k.lo, k.hi}) {
      const std::string toml = std::string(k.section) + k.key + " = " + std::to_string(v) + "\n";
      auto r = parseConfig(toml, "stamp.toml");
      EXPECT_TRUE(r.ok()) << toml << (r.ok() ? "" : r.error().message);
    }
  }
  Config c = parseOk(std::string(session) + "count = 9223372036854775807\nsize = 8952\n");
  EXPECT_EQ(c.sessions.at(0).count, uint64_t(INT64_MAX));
  EXPECT_EQ(c.sessions.at(0).size, 8952u);

  // Keys inside inline tables.
  EXPECT_EQ(parseError(std::string(session) + "tlv_cos = { dscp = 64 }\n"),
            "stamp.toml:4:20: 'session.tlv_cos.dscp' = 64 is out of range 0..63");
  EXPECT_EQ(parseError(std::string(session) + "tlv_access_report = { access_id = 3 }\n"),
            "stamp.toml:4:35: 'session.tlv_access_report.access_id' = 3 is out of range 1..2");
  EXPECT_EQ(parseError(std::string(session) + "tlv_access_report = { retries = 4294967297 }\n"),
            "stamp.toml:4:33: 'session.tlv_access_report.retries' = 4294967297 is out of range "
            "0..100");
  // A literal beyond int64_t is a TOML error, at its position.
  std::string msg = parseError(std::string(session) + "count = 18446744073709551615\n");
  EXPECT_TRUE(std::regex_match(msg, std::regex(R"(stamp\.toml:4:\d+: .+)"))) << msg;
}

// What the shape check refuses it refuses at the spot, before toml++.
std::string deepError(const std::string& toml) {
  auto shape = checkTomlShape(toml, "stamp.toml");
  std::string viaParse = parseError(toml);
  EXPECT_EQ(shape.ok() ? "(shape accepted)" : shape.error().message, viaParse);
  return viaParse;
}

const std::string kTooDeep =
    ": nested deeper than 32 levels (table header and dotted key parts, arrays and inline "
    "tables); refused before parsing";

std::string repeat(std::string_view s, size_t n) {
  std::string out;
  out.reserve(s.size() * n);
  for (size_t k = 0; k < n; ++k) out += s;
  return out;
}

// The audit's input: a dotted key 100000 parts deep crashed toml++ (its
// stack). Every kind of nesting, that deep, is refused at the part that
// crosses the limit; the process is still here to check the message.
TEST(Config, DeepNestingIsRefusedBeforeTheParser) {
  const size_t kDeep = 100'000;
  // Key parts: "a" is level 1, the 32nd dot (index 63) opens level 33.
  EXPECT_EQ(deepError("a" + repeat(".a", kDeep) + " = 1\n"), "stamp.toml:1:64" + kTooDeep);
  EXPECT_EQ(deepError("[daemon]\n\"q.x\"" + repeat(".'b'", kDeep) + " = 1\n"),
            "stamp.toml:2:126" + kTooDeep);
  // Table headers: [a.a...] and [[a.a...]] (the array of tables is a level).
  EXPECT_EQ(deepError("[a" + repeat(".a", kDeep) + "]\n"), "stamp.toml:1:65" + kTooDeep);
  EXPECT_EQ(deepError("\n[[a" + repeat(".a", kDeep) + "]]\n"), "stamp.toml:2:64" + kTooDeep);
  // Arrays and inline tables: "x" is level 1, the 32nd bracket level 33.
  EXPECT_EQ(deepError("x = " + repeat("[", kDeep) + repeat("]", kDeep) + "\n"),
            "stamp.toml:1:36" + kTooDeep);
  EXPECT_EQ(deepError("x = " + repeat("{a = ", kDeep) + "1" + repeat("}", kDeep) + "\n"),
            "stamp.toml:1:81" + kTooDeep);
  EXPECT_EQ(deepError("x = [" + repeat("{a.b = [", kDeep) + "\n"), "stamp.toml:1:64" + kTooDeep);
  // Levels add up: a header 20 deep and a key 20 deep below it.
  EXPECT_EQ(deepError("[" + repeat("t.", 19) + "t]\n" + repeat("k.", 19) + "k = 1\n"),
            "stamp.toml:2:24" + kTooDeep);
}

// Text that only looks deep: brackets and dots in strings and comments,
// and 32 levels exactly, reach the parser (and its own errors).
TEST(Config, NestingInStringsAndCommentsDoesNotCount) {
  const std::string deep = repeat("[{.", 200);
  Config c = parseOk("# " + deep + "\n[[session]] # " + deep + "\nname = \"" + deep +
                     "\"\ntarget = '192.0.2.1' # '" + deep + "\n[metrics]\nlisten = \"\"\"\n" +
                     deep + " \\\"\"\" \"\"\"\n[daemon]\nsocket = '''\n" + deep +
                     "'''\nkey_file = \"\\\"" + deep + "\"\n");
  ASSERT_EQ(c.sessions.size(), 1u);
  EXPECT_EQ(c.sessions[0].name, deep);
  EXPECT_EQ(c.metrics.listen, deep + " \"\"\" ");
  EXPECT_EQ(c.daemon.socket, deep);
  EXPECT_EQ(c.daemon.keyFile, "\"" + deep);
  // 32 levels: the shape is fine, the key unknown.
  std::string msg = parseError("a" + repeat(".a", 31) + " = 1\n");
  EXPECT_EQ(msg.find("nested deeper"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unknown key"), std::string::npos) << msg;
  EXPECT_TRUE(checkTomlShape("x = " + repeat("[", 31) + repeat("]", 31) + "\n", "s").ok());
  EXPECT_FALSE(checkTomlShape("x = " + repeat("[", 32) + repeat("]", 32) + "\n", "s").ok());
  // Malformed text is the parser's to report.
  for (const char* odd : {"[", "[[", "a.", "x = [", "x = {", "x = \"", "x = '''", "]]]", "= 1",
                          "x = {a = 1,, }", "\"", "a = [1,\n2,\n# c\n]"})
    EXPECT_TRUE(checkTomlShape(odd, "s").ok()) << odd;
}

TEST(Config, LargeFilesAreRefusedBeforeTheParser) {
  std::string text = "# " + std::string(kMaxConfigBytes - 3, 'x') + "\n";
  ASSERT_EQ(text.size(), kMaxConfigBytes);
  EXPECT_TRUE(checkTomlShape(text, "stamp.toml").ok());
  text += "\n";
  EXPECT_EQ(parseError(text),
            "stamp.toml:2:1: the file is larger than 4194304 bytes; it is refused before parsing");

  // loadConfig reads one byte beyond the limit, not the whole file:
  // /dev/zero ends at once.
  auto zero = loadConfig("/dev/zero");
  ASSERT_FALSE(zero.ok());
  EXPECT_EQ(zero.error().message,
            "/dev/zero:1:4194305: the file is larger than 4194304 bytes; it is refused before "
            "parsing");
  char path[] = "/tmp/stamp-config-test-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  std::string big = repeat("# padding padding padding padding padding padding padding\n", 80000);
  ASSERT_EQ(::write(fd, big.data(), big.size()), ssize_t(big.size()));
  ::close(fd);
  auto r = loadConfig(path);
  ::unlink(path);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("larger than 4194304 bytes"), std::string::npos)
      << r.error().message;
}

}  // namespace
}  // namespace stamp
