// Unit tests of the configuration parser (daemon/config): strict keys and types, ranges,
// secrets, kafka:// URLs, routes, destinations, and error reporting.
#include "config/config.h"

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/secret.h"

#ifndef TOMSTREAM_SOURCE_DIR
#error "TOMSTREAM_SOURCE_DIR must be defined (tests/unit/CMakeLists.txt)"
#endif

namespace tomstream::config {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// Secret must not be printable: a value streamed into a log line would leak.
template <typename T>
concept Streamable = requires(std::ostream& os, const T& t) { os << t; };
static_assert(!Streamable<Secret>, "Secret must not have an operator<<");

constexpr const char* kSource = "test.toml";

// A SecretResolver over an in-memory environment and file system. Records the paths read.
class FakeSecrets {
 public:
  FakeSecrets& Env(const std::string& name, const std::string& value) {
    env_[name] = value;
    return *this;
  }
  FakeSecrets& File(const std::string& path, const std::string& content) {
    files_[path] = content;
    return *this;
  }
  const std::vector<std::string>& reads() const { return *reads_; }

  SecretResolver Resolver() const {
    SecretResolver r;
    r.getenv = [env = env_](const std::string& name) -> std::optional<std::string> {
      auto it = env.find(name);
      if (it == env.end()) return std::nullopt;
      return it->second;
    };
    r.read_file = [files = files_, reads = reads_](const std::string& path) -> Result<std::string> {
      reads->push_back(path);
      auto it = files.find(path);
      if (it == files.end()) {
        return Status::IoError("cannot read " + path + ": No such file or directory");
      }
      return it->second;
    };
    return r;
  }

 private:
  std::map<std::string, std::string> env_;
  std::map<std::string, std::string> files_;
  std::shared_ptr<std::vector<std::string>> reads_ = std::make_shared<std::vector<std::string>>();
};

// Joins lines with '\n', so that a test can name the line an error must point at (1-based).
std::string Toml(std::initializer_list<std::string_view> lines) {
  std::string out;
  for (std::string_view l : lines) {
    out += l;
    out += '\n';
  }
  return out;
}

Result<Config> Parse(const std::string& text, const FakeSecrets& secrets = FakeSecrets()) {
  return ParseConfig(text, kSource, secrets.Resolver());
}

// Parses text that must be valid; reports the errors otherwise.
Config MustParse(const std::string& text, const FakeSecrets& secrets = FakeSecrets()) {
  auto cfg = Parse(text, secrets);
  if (!cfg.ok()) {
    ADD_FAILURE() << "unexpected config error:\n" << cfg.status().message() << "\nin:\n" << text;
    return Config{};
  }
  return std::move(cfg).value();
}

// Parses text that must be invalid; returns the error message (one line per error).
std::string MustFail(const std::string& text, const FakeSecrets& secrets = FakeSecrets()) {
  auto cfg = Parse(text, secrets);
  if (cfg.ok()) {
    ADD_FAILURE() << "config was accepted but should not be:\n" << text;
    return "";
  }
  EXPECT_EQ(cfg.status().code(), StatusCode::kInvalidArgument) << cfg.status().ToString();
  return cfg.status().message();
}

std::vector<std::string> SplitLines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// The 1-based number of the first line of `path` that starts with `needle` (after indentation;
// comments do not count); 0 when none does.
int LineOf(const std::string& path, const std::string& needle) {
  std::ifstream in(path);
  int n = 0;
  for (std::string line; std::getline(in, line);) {
    ++n;
    const size_t start = line.find_first_not_of(" \t");
    if (start != std::string::npos && line.compare(start, needle.size(), needle) == 0) return n;
  }
  return 0;
}

const std::string kExamplePath = std::string(TOMSTREAM_SOURCE_DIR) + "/etc/tomstreamd.toml";

FakeSecrets ExampleSecrets() {
  return FakeSecrets()
      .Env("HOP_PASSWORD", "hop-pw")
      .Env("GCN_CLIENT_SECRET", "gcn-secret")
      .Env("HERMES_API_KEY", "hermes-key");
}

// A minimal valid stream, to which a test appends keys (lines 1-3).
const std::string kStreamHead = Toml({"[[stream]]", "name = \"s\"", "url = \"kafka://broker/\""});

// =============================================================================================
// The example configuration
// =============================================================================================

TEST(ExampleConfigTest, ParsesWhenItsSecretsAreProvided) {
  const FakeSecrets secrets = ExampleSecrets();
  auto loaded = LoadConfig(kExamplePath, secrets.Resolver());
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  const Config& cfg = loaded.value();

  EXPECT_TRUE(std::filesystem::path(cfg.source_path).is_absolute()) << cfg.source_path;
  EXPECT_EQ(std::filesystem::path(cfg.source_path).filename(), "tomstreamd.toml");

  EXPECT_EQ(cfg.daemon.log_level, "info");
  EXPECT_EQ(cfg.daemon.shutdown_timeout, std::chrono::milliseconds(10000));
  EXPECT_EQ(cfg.store.path, "/var/lib/tomstreamd/tomstream.db");
  EXPECT_EQ(cfg.store.busy_timeout, std::chrono::milliseconds(5000));
  EXPECT_EQ(cfg.store.commit_max_messages, 1000);
  EXPECT_EQ(cfg.store.commit_max_delay, std::chrono::milliseconds(5));
  EXPECT_EQ(cfg.store.reader_connections, 2);
  EXPECT_EQ(cfg.control.socket, "/run/tomstreamd/control.sock");
  EXPECT_EQ(cfg.control.socket_group, "");
  EXPECT_EQ(cfg.control.tcp_listen, "");
  EXPECT_EQ(cfg.control.max_message_bytes, 4194304);

  ASSERT_EQ(cfg.streams.size(), 2u);
  const StreamConfig& hop = cfg.streams[0];
  EXPECT_EQ(hop.name, "hopskotch");
  EXPECT_TRUE(hop.active);
  EXPECT_THAT(hop.bootstrap, ElementsAre("kafka.scimma.org:9092"));
  EXPECT_EQ(hop.security, Security::kScramSha512);
  EXPECT_TRUE(hop.tls);
  EXPECT_EQ(hop.username, "my-scimma-user");
  ASSERT_TRUE(hop.password.is_set());
  EXPECT_EQ(hop.password.reveal(), "hop-pw");
  EXPECT_EQ(hop.password.describe(), "env HOP_PASSWORD");
  EXPECT_EQ(hop.group_id, "my-scimma-user-tomstream-hopskotch");
  EXPECT_EQ(hop.start.kind, StartPosition::Kind::kEarliest);
  EXPECT_EQ(hop.heartbeat_topic, "sys.heartbeat");
  EXPECT_EQ(hop.heartbeat_timeout, std::chrono::milliseconds(60000));
  ASSERT_EQ(hop.routes.size(), 2u);
  EXPECT_EQ(hop.routes[0].match, RouteConfig::Match::kExact);
  EXPECT_EQ(hop.routes[0].topic, "hermes.test");
  EXPECT_EQ(hop.routes[0].handler, "hermes");
  EXPECT_FALSE(hop.routes[0].start.has_value());
  EXPECT_EQ(hop.routes[1].match, RouteConfig::Match::kPattern);
  EXPECT_EQ(hop.routes[1].topic, "tomtoolkit.*");
  EXPECT_EQ(hop.routes[1].handler, "raw");
  ASSERT_TRUE(hop.routes[1].start.has_value());
  EXPECT_EQ(hop.routes[1].start->kind, StartPosition::Kind::kLastN);
  EXPECT_EQ(hop.routes[1].start->last_n, 100);
  EXPECT_FALSE(hop.routes[1].include_test);

  const StreamConfig& gcn = cfg.streams[1];
  EXPECT_EQ(gcn.name, "gcn");
  EXPECT_FALSE(gcn.active);
  EXPECT_THAT(gcn.bootstrap, ElementsAre("kafka.gcn.nasa.gov:9092"));
  EXPECT_EQ(gcn.security, Security::kOauthBearer);
  EXPECT_TRUE(gcn.tls);
  EXPECT_EQ(gcn.token_endpoint, "https://auth.gcn.nasa.gov/oauth2/token");
  EXPECT_EQ(gcn.client_id, "my-gcn-client-id");
  EXPECT_EQ(gcn.client_secret.reveal(), "gcn-secret");
  EXPECT_EQ(gcn.client_secret.describe(), "env GCN_CLIENT_SECRET");
  EXPECT_EQ(gcn.group_id, "tomstream-gcn");
  EXPECT_EQ(gcn.start.kind, StartPosition::Kind::kLatest);
  EXPECT_EQ(gcn.heartbeat_timeout, std::chrono::milliseconds(30000));
  ASSERT_EQ(gcn.routes.size(), 2u);
  EXPECT_EQ(gcn.routes[0].match, RouteConfig::Match::kRegex);
  EXPECT_EQ(gcn.routes[0].topic, "gcn\\.notices\\..*");
  EXPECT_EQ(gcn.routes[0].handler, "gcn");
  EXPECT_EQ(gcn.routes[1].topic, "gcn.circulars");

  ASSERT_EQ(cfg.destinations.size(), 2u);
  const DestinationConfig& hermes = cfg.destinations[0];
  EXPECT_EQ(hermes.name, "hermes");
  EXPECT_EQ(hermes.kind, DestinationKind::kHermes);
  EXPECT_EQ(hermes.base_url, "https://hermes.lco.global/");
  EXPECT_EQ(hermes.api_key.reveal(), "hermes-key");
  EXPECT_THAT(hermes.topics, ElementsAre("hermes.test"));
  EXPECT_EQ(hermes.request_timeout, std::chrono::milliseconds(30000));
  EXPECT_EQ(hermes.max_attempts, 10);
  const DestinationConfig& direct = cfg.destinations[1];
  EXPECT_EQ(direct.name, "hop-direct");
  EXPECT_EQ(direct.kind, DestinationKind::kKafka);
  EXPECT_EQ(direct.stream, "hopskotch");
  EXPECT_FALSE(direct.api_key.is_set());
  EXPECT_THAT(direct.topics, ElementsAre("tomtoolkit.photometry"));
}

TEST(ExampleConfigTest, NamesEveryMissingSecretWithItsLine) {
  auto loaded = LoadConfig(kExamplePath, FakeSecrets().Resolver());
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kInvalidArgument);
  const std::string& msg = loaded.status().message();

  struct Expected {
    std::string key;
    std::string env;
    std::string line_text;
  };
  const std::vector<Expected> expected = {
      {"stream[0].password", "HOP_PASSWORD", "password = { env = \"HOP_PASSWORD\" }"},
      {"stream[1].client_secret", "GCN_CLIENT_SECRET",
       "client_secret = { env = \"GCN_CLIENT_SECRET\" }"},
      {"destination[0].api_key", "HERMES_API_KEY", "api_key = { env = \"HERMES_API_KEY\" }"},
  };
  const std::vector<std::string> lines = SplitLines(msg);
  EXPECT_EQ(lines.size(), expected.size()) << msg;
  for (const Expected& e : expected) {
    const int line = LineOf(kExamplePath, e.line_text);
    ASSERT_GT(line, 0) << "the example no longer contains: " << e.line_text;
    EXPECT_THAT(msg, HasSubstr("tomstreamd.toml:" + std::to_string(line) + ": " + e.key +
                               ": environment variable " + e.env + " is not set"))
        << msg;
  }
}

TEST(ExampleConfigTest, OneMissingSecretIsTheOnlyError) {
  FakeSecrets secrets = FakeSecrets().Env("HOP_PASSWORD", "x").Env("HERMES_API_KEY", "y");
  auto loaded = LoadConfig(kExamplePath, secrets.Resolver());
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(SplitLines(loaded.status().message()),
              ElementsAre(HasSubstr("stream[1].client_secret: environment variable "
                                    "GCN_CLIENT_SECRET is not set")));
}

TEST(LoadConfigTest, MissingFileIsNotFoundNamingThePath) {
  auto loaded = LoadConfig("/nonexistent/dir/tomstreamd.toml", FakeSecrets().Resolver());
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(loaded.status().message(), HasSubstr("/nonexistent/dir/tomstreamd.toml"));
}

// =============================================================================================
// Defaults
// =============================================================================================

TEST(DefaultsTest, EmptyFileGivesDefaults) {
  const Config cfg = MustParse("");
  const Config defaults;
  EXPECT_EQ(cfg.source_path, kSource);
  EXPECT_EQ(cfg.daemon.log_level, "info");
  EXPECT_EQ(cfg.daemon.shutdown_timeout, std::chrono::milliseconds(10000));
  EXPECT_EQ(cfg.store.path, "/var/lib/tomstreamd/tomstream.db");
  EXPECT_EQ(cfg.store.busy_timeout, std::chrono::milliseconds(5000));
  EXPECT_EQ(cfg.store.commit_max_messages, 1000);
  EXPECT_EQ(cfg.store.commit_max_delay, std::chrono::milliseconds(5));
  EXPECT_EQ(cfg.store.reader_connections, 2);
  EXPECT_EQ(cfg.control.socket, "/run/tomstreamd/control.sock");
  EXPECT_EQ(cfg.control.socket_group, "");
  EXPECT_EQ(cfg.control.tcp_listen, "");
  EXPECT_EQ(cfg.control.max_message_bytes, 4 * 1024 * 1024);
  EXPECT_TRUE(cfg.streams.empty());
  EXPECT_TRUE(cfg.destinations.empty());
}

TEST(DefaultsTest, EmptySectionsGiveDefaults) {
  const Config cfg = MustParse(Toml({"[daemon]", "[store]", "[control]"}));
  EXPECT_EQ(cfg.daemon.log_level, "info");
  EXPECT_EQ(cfg.daemon.shutdown_timeout, std::chrono::milliseconds(10000));
  EXPECT_EQ(cfg.store.path, "/var/lib/tomstreamd/tomstream.db");
  EXPECT_EQ(cfg.store.reader_connections, 2);
  EXPECT_EQ(cfg.control.socket, "/run/tomstreamd/control.sock");
}

TEST(DefaultsTest, PartialSectionKeepsOtherDefaults) {
  const Config cfg = MustParse(Toml({"[store]", "path = \"/tmp/x.db\"", "reader_connections = 5"}));
  EXPECT_EQ(cfg.store.path, "/tmp/x.db");
  EXPECT_EQ(cfg.store.reader_connections, 5);
  EXPECT_EQ(cfg.store.busy_timeout, std::chrono::milliseconds(5000));
  EXPECT_EQ(cfg.store.commit_max_messages, 1000);
}

TEST(DefaultsTest, MinimalStreamGetsDefaults) {
  const Config cfg = MustParse(kStreamHead);
  ASSERT_EQ(cfg.streams.size(), 1u);
  const StreamConfig& s = cfg.streams[0];
  EXPECT_EQ(s.name, "s");
  EXPECT_TRUE(s.active);
  EXPECT_THAT(s.bootstrap, ElementsAre("broker:9092"));
  EXPECT_EQ(s.security, Security::kNone);
  EXPECT_FALSE(s.tls);
  EXPECT_EQ(s.username, "");
  EXPECT_FALSE(s.password.is_set());
  EXPECT_FALSE(s.client_secret.is_set());
  EXPECT_EQ(s.group_id, "tomstream-s");
  EXPECT_EQ(s.start.kind, StartPosition::Kind::kEarliest);
  EXPECT_EQ(s.heartbeat_topic, "");
  EXPECT_EQ(s.heartbeat_timeout, std::chrono::milliseconds(60000));
  EXPECT_TRUE(s.routes.empty());
}

TEST(DefaultsTest, TlsDefaultsOnForScramAndOauthAndCanBeTurnedOff) {
  const std::string scram = kStreamHead + Toml({"security = \"scram-sha-512\"", "username = \"u\"",
                                                "password = \"p\""});
  EXPECT_TRUE(MustParse(scram).streams.at(0).tls);
  EXPECT_FALSE(MustParse(scram + "tls = false\n").streams.at(0).tls);

  const std::string plain =
      kStreamHead + Toml({"security = \"plain\"", "username = \"u\"", "password = \"p\""});
  EXPECT_FALSE(MustParse(plain).streams.at(0).tls);
  EXPECT_TRUE(MustParse(plain + "tls = true\n").streams.at(0).tls);

  const std::string oauth = kStreamHead + Toml({"security = \"oauthbearer\"",
                                                "token_endpoint = \"https://auth/token\"",
                                                "client_id = \"c\"", "client_secret = \"s\""});
  EXPECT_TRUE(MustParse(oauth).streams.at(0).tls);
}

TEST(DefaultsTest, MinimalDestinationGetsDefaults) {
  const Config cfg =
      MustParse(Toml({"[[destination]]", "name = \"h\"", "api_key = \"k\"", "topics = [\"t\"]"}));
  ASSERT_EQ(cfg.destinations.size(), 1u);
  const DestinationConfig& d = cfg.destinations[0];
  EXPECT_EQ(d.kind, DestinationKind::kHermes);
  EXPECT_EQ(d.base_url, "https://hermes.lco.global/");
  EXPECT_EQ(d.default_authors, "");
  EXPECT_EQ(d.request_timeout, std::chrono::milliseconds(30000));
  EXPECT_EQ(d.max_attempts, 10);
  EXPECT_EQ(d.api_key.reveal(), "k");
  EXPECT_EQ(d.api_key.describe(), "inline");
}

// =============================================================================================
// Unknown keys
// =============================================================================================

TEST(UnknownKeyTest, AtTopLevelNamedWithLine) {
  const std::string msg = MustFail(Toml({"[daemon]", "log_level = \"info\"", "", "colour = 1"}));
  // A top-level key after [daemon] belongs to [daemon]; put it first to be top level.
  EXPECT_THAT(msg, HasSubstr("test.toml:4: daemon.colour: unknown key")) << msg;

  const std::string top = MustFail(Toml({"colour = 1", "[daemon]"}));
  EXPECT_THAT(SplitLines(top), ElementsAre("test.toml:1: colour: unknown key"));
}

TEST(UnknownKeyTest, UnknownSectionIsUnknownKey) {
  const std::string msg = MustFail(Toml({"[daemon]", "", "[deamon]", "log_level = \"x\""}));
  EXPECT_THAT(msg, HasSubstr("deamon: unknown key")) << msg;
  EXPECT_THAT(msg, Not(HasSubstr("daemon.log_level"))) << msg;
}

TEST(UnknownKeyTest, InEachSectionNamedWithLine) {
  EXPECT_THAT(SplitLines(MustFail(Toml({"[store]", "path = \"/x\"", "pth = \"/y\""}))),
              ElementsAre("test.toml:3: store.pth: unknown key"));
  EXPECT_THAT(SplitLines(MustFail(Toml({"[control]", "sockets = \"/x\""}))),
              ElementsAre("test.toml:2: control.sockets: unknown key"));
  EXPECT_THAT(SplitLines(MustFail(kStreamHead + "passwd = \"x\"\n")),
              ElementsAre("test.toml:4: stream[0].passwd: unknown key"));
  EXPECT_THAT(SplitLines(MustFail(Toml({"[[destination]]", "name = \"h\"", "api_key = \"k\"",
                                         "topics = [\"t\"]", "topic = \"t\""}))),
              ElementsAre("test.toml:5: destination[0].topic: unknown key"));
}

TEST(UnknownKeyTest, InRouteNamedWithPathAndLine) {
  const std::string text = kStreamHead + Toml({"[[stream.route]]",     // 4
                                               "topic = \"a\"",         // 5
                                               "handler = \"raw\"",     // 6
                                               "[[stream.route]]",      // 7
                                               "topic = \"b\"",         // 8
                                               "handler = \"raw\"",     // 9
                                               "includ_test = true"});  // 10
  EXPECT_THAT(SplitLines(MustFail(text)),
              ElementsAre("test.toml:10: stream[0].route[1].includ_test: unknown key"));
}

TEST(UnknownKeyTest, InSecondStreamNamedWithIndex) {
  const std::string text = kStreamHead + Toml({"[[stream]]", "name = \"t\"",
                                               "url = \"kafka://b2/\"", "nmae = \"x\""});
  EXPECT_THAT(SplitLines(MustFail(text)), ElementsAre("test.toml:7: stream[1].nmae: unknown key"));
}

TEST(UnknownKeyTest, InSecretTable) {
  const std::string msg =
      MustFail(kStreamHead + "password = { env = \"P\", fallback = \"x\" }\n",
               FakeSecrets().Env("P", "pw"));
  EXPECT_THAT(msg, HasSubstr("test.toml:4: stream[0].password.fallback: unknown key")) << msg;
  EXPECT_THAT(msg, Not(HasSubstr("pw"))) << msg;
}

// =============================================================================================
// Wrong types
// =============================================================================================

TEST(WrongTypeTest, IntegerWhereStringExpected) {
  EXPECT_THAT(SplitLines(MustFail(Toml({"[daemon]", "log_level = 3"}))),
              ElementsAre("test.toml:2: daemon.log_level: must be a string, not an integer"));
}

TEST(WrongTypeTest, StringWhereIntegerExpected) {
  EXPECT_THAT(SplitLines(MustFail(Toml({"[store]", "busy_timeout_ms = \"5000\""}))),
              ElementsAre("test.toml:2: store.busy_timeout_ms: must be an integer, not a string"));
}

TEST(WrongTypeTest, FloatWhereIntegerExpected) {
  EXPECT_THAT(MustFail(Toml({"[store]", "reader_connections = 2.0"})),
              HasSubstr("test.toml:2: store.reader_connections: must be an integer, not a float"));
}

TEST(WrongTypeTest, StringWhereBooleanExpected) {
  EXPECT_THAT(SplitLines(MustFail(kStreamHead + "active = \"false\"\n")),
              ElementsAre("test.toml:4: stream[0].active: must be a boolean, not a string"));
  EXPECT_THAT(MustFail(kStreamHead + "tls = 1\n"),
              HasSubstr("stream[0].tls: must be a boolean, not an integer"));
}

TEST(WrongTypeTest, StringWhereArrayExpected) {
  const std::string msg = MustFail(
      Toml({"[[destination]]", "name = \"h\"", "api_key = \"k\"", "topics = \"hermes.test\""}));
  EXPECT_THAT(msg, HasSubstr("test.toml:4: destination[0].topics: must be an array of strings, "
                             "not a string"))
      << msg;
}

TEST(WrongTypeTest, ArrayElementOfWrongType) {
  const std::string msg = MustFail(
      Toml({"[[destination]]", "name = \"h\"", "api_key = \"k\"", "topics = [\"a\", 2]"}));
  EXPECT_THAT(msg, HasSubstr("destination[0].topics[1]: must be a non-empty string")) << msg;
  EXPECT_THAT(MustFail(Toml({"[[destination]]", "name = \"h\"", "api_key = \"k\"",
                             "topics = [\"\"]"})),
              HasSubstr("destination[0].topics[0]: must be a non-empty string"));
}

TEST(WrongTypeTest, SectionThatIsNotATable) {
  EXPECT_THAT(SplitLines(MustFail("daemon = 1\n")),
              ElementsAre("test.toml:1: daemon: must be a table, not an integer"));
}

TEST(WrongTypeTest, StreamAsPlainTable) {
  const std::string msg = MustFail(Toml({"[stream]", "name = \"s\"", "url = \"kafka://b/\""}));
  EXPECT_THAT(msg, HasSubstr("stream: must be an array of tables ([[stream]]), not a table"))
      << msg;
}

TEST(WrongTypeTest, SecretOfWrongType) {
  EXPECT_THAT(MustFail(kStreamHead + "password = 1234\n"),
              HasSubstr("test.toml:4: stream[0].password: must be a string or a table"));
}

TEST(WrongTypeTest, RouteStartOfWrongType) {
  const std::string msg = MustFail(
      kStreamHead + Toml({"[[stream.route]]", "topic = \"a\"", "handler = \"raw\"", "start = 5"}));
  EXPECT_THAT(msg, HasSubstr("test.toml:7: stream[0].route[0].start: must be \"earliest\", "
                             "\"latest\", \"last:N\" or a date-time, not an integer"))
      << msg;
}

TEST(ValueTest, InvalidLogLevel) {
  EXPECT_THAT(MustFail(Toml({"[daemon]", "log_level = \"loud\""})),
              HasSubstr("test.toml:2: daemon.log_level: must be one of trace, debug, info, warn, "
                        "error, critical, off; not \"loud\""));
  for (const char* level : {"trace", "debug", "info", "warn", "error", "critical", "off"}) {
    EXPECT_EQ(MustParse(Toml({"[daemon]", std::string("log_level = \"") + level + "\""}))
                  .daemon.log_level,
              level);
  }
}

TEST(ValueTest, EmptyStringsRejectedWhereANameIsNeeded) {
  EXPECT_THAT(MustFail(Toml({"[store]", "path = \"\""})), HasSubstr("store.path: must not be empty"));
  EXPECT_THAT(MustFail(Toml({"[[stream]]", "name = \"\"", "url = \"kafka://b/\""})),
              HasSubstr("stream[0].name: must not be empty"));
}

TEST(ValueTest, InvalidStreamName) {
  EXPECT_THAT(MustFail(Toml({"[[stream]]", "name = \"has space\"", "url = \"kafka://b/\""})),
              HasSubstr("test.toml:2: stream[0].name: must be 1-64 characters"));
}

TEST(ValueTest, ControlSocketPathTooLong) {
  const std::string long_path = "/run/" + std::string(110, 'x') + ".sock";
  EXPECT_THAT(MustFail(Toml({"[control]", "socket = \"" + long_path + "\""})),
              HasSubstr("test.toml:2: control.socket: is longer than a Unix socket path may be"));
  EXPECT_EQ(MustParse(Toml({"[control]", "socket = \"/run/t/c.sock\"", "socket_group = \"tom\"",
                            "tcp_listen = \"127.0.0.1:50051\""}))
                .control.socket_group,
            "tom");
}

// =============================================================================================
// Integer ranges
// =============================================================================================

struct RangeCase {
  std::string toml;     // the whole file
  std::string key;      // the key path in the error
  std::string message;  // expected in the error
};

class RangeTest : public ::testing::TestWithParam<RangeCase> {};

TEST_P(RangeTest, OutOfRangeNamesKeyLineAndBounds) {
  const RangeCase& c = GetParam();
  const std::vector<std::string> lines = SplitLines(MustFail(c.toml));
  ASSERT_EQ(lines.size(), 1u) << ::testing::PrintToString(lines);
  EXPECT_THAT(lines[0], StartsWith("test.toml:"));
  EXPECT_THAT(lines[0], HasSubstr(": " + c.key + ": " + c.message));
}

const std::string kDestHead =
    Toml({"[[destination]]", "name = \"h\"", "api_key = \"k\"", "topics = [\"t\"]"});

INSTANTIATE_TEST_SUITE_P(
    Config, RangeTest,
    ::testing::Values(
        RangeCase{"[store]\nreader_connections = 0\n", "store.reader_connections",
                  "must be between 1 and 64, not 0"},
        RangeCase{"[store]\nreader_connections = 65\n", "store.reader_connections",
                  "must be between 1 and 64, not 65"},
        RangeCase{"[store]\nreader_connections = 9223372036854775807\n",
                  "store.reader_connections", "must be between 1 and 64, not 9223372036854775807"},
        RangeCase{"[store]\ncommit_max_messages = 0\n", "store.commit_max_messages",
                  "must be between 1 and 1000000, not 0"},
        RangeCase{"[store]\ncommit_max_delay_ms = 10001\n", "store.commit_max_delay_ms",
                  "must be between 0 and 10000, not 10001"},
        RangeCase{"[store]\nbusy_timeout_ms = -1\n", "store.busy_timeout_ms",
                  "must be between 0 and 600000, not -1"},
        RangeCase{"[daemon]\nshutdown_timeout_ms = 99\n", "daemon.shutdown_timeout_ms",
                  "must be between 100 and 600000, not 99"},
        RangeCase{"[control]\nmax_message_bytes = 1023\n", "control.max_message_bytes",
                  "must be between 1024 and 67108864, not 1023"},
        RangeCase{kStreamHead + "heartbeat_timeout_ms = 999\n", "stream[0].heartbeat_timeout_ms",
                  "must be between 1000 and 86400000, not 999"},
        RangeCase{kDestHead + "max_attempts = 0\n", "destination[0].max_attempts",
                  "must be between 1 and 1000, not 0"},
        RangeCase{kDestHead + "request_timeout_ms = 600001\n",
                  "destination[0].request_timeout_ms", "must be between 100 and 600000, not 600001"}));

TEST(RangeBoundsTest, BoundsThemselvesAreAccepted) {
  const Config lo = MustParse(Toml({"[store]", "reader_connections = 1", "commit_max_messages = 1",
                                    "commit_max_delay_ms = 0", "busy_timeout_ms = 0", "[daemon]",
                                    "shutdown_timeout_ms = 100", "[control]",
                                    "max_message_bytes = 1024"}));
  EXPECT_EQ(lo.store.reader_connections, 1);
  EXPECT_EQ(lo.store.commit_max_messages, 1);
  EXPECT_EQ(lo.store.commit_max_delay, std::chrono::milliseconds(0));
  EXPECT_EQ(lo.daemon.shutdown_timeout, std::chrono::milliseconds(100));
  EXPECT_EQ(lo.control.max_message_bytes, 1024);
  const Config hi = MustParse(Toml({"[store]", "reader_connections = 64",
                                    "commit_max_messages = 1000000", "[control]",
                                    "max_message_bytes = 67108864"}));
  EXPECT_EQ(hi.store.reader_connections, 64);
  EXPECT_EQ(hi.store.commit_max_messages, 1000000);
  EXPECT_EQ(hi.control.max_message_bytes, 64 * 1024 * 1024);
}

// =============================================================================================
// Security kinds and their required keys
// =============================================================================================

TEST(SecurityTest, NoneNeedsNoCredentials) {
  const Config cfg = MustParse(kStreamHead + "security = \"none\"\n");
  EXPECT_EQ(cfg.streams.at(0).security, Security::kNone);
}

TEST(SecurityTest, PlainNeedsUsernameAndPassword) {
  const std::string msg = MustFail(kStreamHead + "security = \"plain\"\n");
  EXPECT_THAT(msg, HasSubstr("test.toml:1: stream[0].username: is required with security = \"plain\""))
      << msg;
  EXPECT_THAT(msg, HasSubstr("test.toml:1: stream[0].password: is required with security = \"plain\""))
      << msg;
  EXPECT_EQ(SplitLines(msg).size(), 2u) << msg;

  const Config cfg = MustParse(kStreamHead + Toml({"security = \"plain\"", "username = \"u\"",
                                                   "password = \"p\""}));
  EXPECT_EQ(cfg.streams.at(0).security, Security::kPlain);
  EXPECT_EQ(cfg.streams.at(0).username, "u");
  EXPECT_EQ(cfg.streams.at(0).password.reveal(), "p");
}

TEST(SecurityTest, ScramNeedsUsernameAndPassword) {
  const std::string only_user = MustFail(kStreamHead + Toml({"security = \"scram-sha-512\"",
                                                             "username = \"u\""}));
  EXPECT_THAT(SplitLines(only_user),
              ElementsAre("test.toml:1: stream[0].password: is required with security = "
                          "\"scram-sha-512\""));
  const std::string only_pw = MustFail(kStreamHead + Toml({"security = \"scram-sha-512\"",
                                                           "password = \"p\""}));
  EXPECT_THAT(SplitLines(only_pw),
              ElementsAre("test.toml:1: stream[0].username: is required with security = "
                          "\"scram-sha-512\""));
}

TEST(SecurityTest, OauthbearerNeedsEndpointClientIdAndSecret) {
  const std::string msg = MustFail(kStreamHead + "security = \"oauthbearer\"\n");
  EXPECT_THAT(msg, HasSubstr("stream[0].token_endpoint: is required with security = \"oauthbearer\""));
  EXPECT_THAT(msg, HasSubstr("stream[0].client_id: is required with security = \"oauthbearer\""));
  EXPECT_THAT(msg, HasSubstr("stream[0].client_secret: is required with security = \"oauthbearer\""));
  EXPECT_EQ(SplitLines(msg).size(), 3u) << msg;
  // A username and password do not stand in for client credentials.
  const std::string with_pw = MustFail(kStreamHead + Toml({"security = \"oauthbearer\"",
                                                           "username = \"u\"", "password = \"p\"",
                                                           "token_endpoint = \"https://a/t\"",
                                                           "client_id = \"c\""}));
  EXPECT_THAT(SplitLines(with_pw),
              ElementsAre(HasSubstr("stream[0].client_secret: is required with security = "
                                    "\"oauthbearer\"")));
}

TEST(SecurityTest, UnknownSecurityKind) {
  EXPECT_THAT(MustFail(kStreamHead + "security = \"sasl\"\n"),
              HasSubstr("test.toml:4: stream[0].security: must be one of none, plain, "
                        "scram-sha-512, oauthbearer; not \"sasl\""));
}

TEST(SecurityTest, UsernameFromUrlSatisfiesRequirement) {
  const Config cfg = MustParse(Toml({"[[stream]]", "name = \"s\"", "url = \"kafka://alice@broker/\"",
                                     "security = \"scram-sha-512\"", "password = \"p\""}));
  EXPECT_EQ(cfg.streams.at(0).username, "alice");
  EXPECT_THAT(cfg.streams.at(0).bootstrap, ElementsAre("broker:9092"));
}

TEST(SecurityTest, UsernameKeyOverridesUrlUser) {
  const Config cfg = MustParse(Toml({"[[stream]]", "name = \"s\"", "url = \"kafka://alice@broker/\"",
                                     "username = \"bob\""}));
  EXPECT_EQ(cfg.streams.at(0).username, "bob");
  EXPECT_EQ(cfg.streams.at(0).group_id, "bob-tomstream-s");
}

TEST(SecurityTest, CaFileMustBeReadable) {
  FakeSecrets secrets = FakeSecrets().File("/etc/ssl/ca.pem", "PEM");
  EXPECT_EQ(MustParse(kStreamHead + "ca_file = \"/etc/ssl/ca.pem\"\n", secrets).streams.at(0).ca_file,
            "/etc/ssl/ca.pem");
  EXPECT_THAT(MustFail(kStreamHead + "ca_file = \"/etc/ssl/missing.pem\"\n"),
              HasSubstr("test.toml:4: stream[0].ca_file: cannot read /etc/ssl/missing.pem"));
}

// =============================================================================================
// Secrets
// =============================================================================================

TEST(SecretTest, Inline) {
  const Config cfg = MustParse(kStreamHead + "password = \"inline-pw\"\n");
  const Secret& pw = cfg.streams.at(0).password;
  EXPECT_TRUE(pw.is_set());
  EXPECT_EQ(pw.reveal(), "inline-pw");
  EXPECT_EQ(pw.describe(), "inline");
}

TEST(SecretTest, FromEnvironment) {
  const Config cfg =
      MustParse(kStreamHead + "password = { env = \"HOP_PASSWORD\" }\n",
                FakeSecrets().Env("HOP_PASSWORD", "env-pw"));
  const Secret& pw = cfg.streams.at(0).password;
  EXPECT_EQ(pw.reveal(), "env-pw");
  EXPECT_EQ(pw.describe(), "env HOP_PASSWORD");
}

TEST(SecretTest, FromUnsetEnvironmentVariable) {
  EXPECT_THAT(SplitLines(MustFail(kStreamHead + "password = { env = \"HOP_PASSWORD\" }\n")),
              ElementsAre("test.toml:4: stream[0].password: environment variable HOP_PASSWORD "
                          "is not set"));
}

TEST(SecretTest, FromCredentialsDirectory) {
  FakeSecrets secrets = FakeSecrets()
                            .Env("CREDENTIALS_DIRECTORY", "/run/credentials/tomstreamd.service")
                            .File("/run/credentials/tomstreamd.service/hop-password", "cred-pw\n");
  const Config cfg = MustParse(kStreamHead + "password = { credential = \"hop-password\" }\n", secrets);
  const Secret& pw = cfg.streams.at(0).password;
  EXPECT_EQ(pw.reveal(), "cred-pw");
  EXPECT_EQ(pw.describe(), "credential hop-password");
  EXPECT_THAT(secrets.reads(), ElementsAre("/run/credentials/tomstreamd.service/hop-password"));
}

TEST(SecretTest, CredentialMissingFromDirectory) {
  FakeSecrets secrets = FakeSecrets().Env("CREDENTIALS_DIRECTORY", "/run/credentials/x");
  EXPECT_THAT(MustFail(kStreamHead + "password = { credential = \"hop-password\" }\n", secrets),
              HasSubstr("test.toml:4: stream[0].password: cannot read "
                        "/run/credentials/x/hop-password"));
}

TEST(SecretTest, CredentialWithoutCredentialsDirectory) {
  const std::string text = kStreamHead + "password = { credential = \"hop-password\" }\n";
  const std::string msg = MustFail(text);
  EXPECT_THAT(msg, HasSubstr("test.toml:4: stream[0].password: credential hop-password needs "
                             "$CREDENTIALS_DIRECTORY"))
      << msg;
  // Set but empty counts as unset.
  EXPECT_THAT(MustFail(text, FakeSecrets().Env("CREDENTIALS_DIRECTORY", "")),
              HasSubstr("needs $CREDENTIALS_DIRECTORY"));
}

TEST(SecretTest, CredentialNameWithSlashIsRejectedWithoutReading) {
  FakeSecrets secrets = FakeSecrets()
                            .Env("CREDENTIALS_DIRECTORY", "/run/credentials/x")
                            .File("/run/credentials/x/../../../etc/shadow", "root:...");
  const std::string msg =
      MustFail(kStreamHead + "password = { credential = \"../../../etc/shadow\" }\n", secrets);
  EXPECT_THAT(msg, HasSubstr("stream[0].password: credential name must not contain '/'")) << msg;
  EXPECT_TRUE(secrets.reads().empty()) << ::testing::PrintToString(secrets.reads());
}

TEST(SecretTest, FromFileTrailingNewlineStripped) {
  FakeSecrets secrets = FakeSecrets()
                            .File("/etc/tomstreamd/a.pw", "file-pw\n")
                            .File("/etc/tomstreamd/b.pw", "crlf-pw\r\n")
                            .File("/etc/tomstreamd/c.pw", "no-newline")
                            .File("/etc/tomstreamd/d.pw", "line1\nline2\n");
  auto secret_from = [&](const std::string& path) {
    const Config cfg = MustParse(kStreamHead + "password = { file = \"" + path + "\" }\n", secrets);
    return cfg.streams.empty() ? Secret() : cfg.streams[0].password;
  };
  EXPECT_EQ(secret_from("/etc/tomstreamd/a.pw").reveal(), "file-pw");
  EXPECT_EQ(secret_from("/etc/tomstreamd/a.pw").describe(), "file /etc/tomstreamd/a.pw");
  EXPECT_EQ(secret_from("/etc/tomstreamd/b.pw").reveal(), "crlf-pw");
  EXPECT_EQ(secret_from("/etc/tomstreamd/c.pw").reveal(), "no-newline");
  EXPECT_EQ(secret_from("/etc/tomstreamd/d.pw").reveal(), "line1\nline2");
}

TEST(SecretTest, FromMissingFile) {
  EXPECT_THAT(SplitLines(MustFail(kStreamHead + "password = { file = \"/etc/tomstreamd/none.pw\" }\n")),
              ElementsAre(AllOf(StartsWith("test.toml:4: stream[0].password: "),
                                HasSubstr("/etc/tomstreamd/none.pw"))));
}

TEST(SecretTest, EmptySecretsRejected) {
  EXPECT_THAT(MustFail(kStreamHead + "password = \"\"\n"),
              HasSubstr("test.toml:4: stream[0].password: must not be empty"));
  EXPECT_THAT(MustFail(kStreamHead + "password = { env = \"P\" }\n", FakeSecrets().Env("P", "")),
              HasSubstr("stream[0].password: the secret from env P is empty"));
  EXPECT_THAT(MustFail(kStreamHead + "password = { file = \"/f\" }\n", FakeSecrets().File("/f", "\n")),
              HasSubstr("stream[0].password: the secret from file /f is empty"));
  EXPECT_THAT(MustFail(kStreamHead + "password = { env = \"\" }\n"),
              HasSubstr("stream[0].password.env: must not be empty"));
}

TEST(SecretTest, TableNeedsExactlyOneSource) {
  EXPECT_THAT(MustFail(kStreamHead + "password = {}\n"),
              HasSubstr("stream[0].password: give exactly one of env, credential or file"));
  EXPECT_THAT(MustFail(kStreamHead + "password = { env = \"P\", file = \"/f\" }\n",
                       FakeSecrets().Env("P", "x").File("/f", "y")),
              HasSubstr("stream[0].password: give exactly one of env, credential or file"));
}

TEST(SecretTest, EverySecretKeyAcceptsEveryForm) {
  FakeSecrets secrets = FakeSecrets()
                            .Env("CS", "client-secret")
                            .Env("CREDENTIALS_DIRECTORY", "/creds")
                            .File("/creds/hermes", "api-key\n");
  const Config cfg = MustParse(
      kStreamHead + Toml({"security = \"oauthbearer\"", "token_endpoint = \"https://a/t\"",
                          "client_id = \"c\"", "client_secret = { env = \"CS\" }",
                          "[[destination]]", "name = \"h\"", "api_key = { credential = \"hermes\" }",
                          "topics = [\"t\"]"}),
      secrets);
  EXPECT_EQ(cfg.streams.at(0).client_secret.reveal(), "client-secret");
  EXPECT_EQ(cfg.destinations.at(0).api_key.reveal(), "api-key");
  EXPECT_EQ(cfg.destinations.at(0).api_key.describe(), "credential hermes");
}

// The real resolver: environment variables and files.
class SystemSecretTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = ::testing::TempDir() + "config_test_XXXXXX";
    ASSERT_NE(mkdtemp(templ.data()), nullptr);
    dir_ = templ;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    unsetenv("TOMSTREAM_CONFIG_TEST_SECRET");
  }
  std::string dir_;
};

TEST_F(SystemSecretTest, ReadsEnvironmentAndFiles) {
  ASSERT_EQ(setenv("TOMSTREAM_CONFIG_TEST_SECRET", "from-env", 1), 0);
  const std::string file = dir_ + "/pw";
  std::ofstream(file) << "from-file\n";
  const SecretResolver system = SecretResolver::System();
  auto cfg = ParseConfig(
      kStreamHead + Toml({"password = { env = \"TOMSTREAM_CONFIG_TEST_SECRET\" }",
                          "[[destination]]", "name = \"h\"", "api_key = { file = \"" + file + "\" }",
                          "topics = [\"t\"]"}),
      kSource, system);
  ASSERT_TRUE(cfg.ok()) << cfg.status().message();
  EXPECT_EQ(cfg->streams.at(0).password.reveal(), "from-env");
  EXPECT_EQ(cfg->destinations.at(0).api_key.reveal(), "from-file");
}

TEST_F(SystemSecretTest, MissingFileNamesThePath) {
  const std::string file = dir_ + "/absent.pw";
  auto cfg = ParseConfig(kStreamHead + "password = { file = \"" + file + "\" }\n", kSource,
                         SecretResolver::System());
  ASSERT_FALSE(cfg.ok());
  EXPECT_THAT(cfg.status().message(), HasSubstr("stream[0].password: cannot read " + file));
}

TEST(SecretLeakTest, SecretValuesNeverAppearInErrors) {
  const std::vector<std::string> values = {"S3cr3t-inline", "S3cr3t-env", "S3cr3t-file",
                                           "S3cr3t-cred", "S3cr3t-api"};
  FakeSecrets secrets = FakeSecrets()
                            .Env("PW", "S3cr3t-env")
                            .Env("CREDENTIALS_DIRECTORY", "/creds")
                            .File("/creds/cs", "S3cr3t-cred\n")
                            .File("/pw", "S3cr3t-file\n");
  // Every secret resolves, and nearly everything around them is wrong.
  const std::string text = Toml({
      "S3cr3t-top = \"S3cr3t-inline\"",
      "[daemon]",
      "log_level = \"S3cr3t-loud\"",
      "[[stream]]",
      "name = \"a\"",
      "url = \"kafka://user@host:99999/\"",
      "security = \"plain\"",
      "password = \"S3cr3t-inline\"",
      "pasword = \"S3cr3t-inline\"",
      "client_secret = { credential = \"cs\", extra = \"S3cr3t-inline\" }",
      "[[stream]]",
      "name = \"b\"",
      "url = \"http://host/\"",
      "security = \"scram-sha-512\"",
      "password = { env = \"PW\" }",
      "client_secret = [\"S3cr3t-inline\"]",
      "[[stream]]",
      "name = \"c\"",
      "url = \"kafka://host/topic\"",
      "password = { file = \"/pw\" }",
      "heartbeat_timeout_ms = 5",
      "[[destination]]",
      "name = \"h\"",
      "api_key = \"S3cr3t-api\"",
      "base_url = \"ftp://x/\"",
      "topics = []",
  });
  const std::string msg = MustFail(text, secrets);
  EXPECT_GE(SplitLines(msg).size(), 8u) << msg;
  for (const std::string& v : values) EXPECT_THAT(msg, Not(HasSubstr(v))) << msg;

  // The same secrets with every error fixed resolve to the expected values: they did reach the
  // parser, so their absence above means something.
  const Config ok = MustParse(Toml({"[[stream]]", "name = \"a\"", "url = \"kafka://host/\"",
                                    "password = \"S3cr3t-inline\"",
                                    "client_secret = { credential = \"cs\" }", "[[stream]]",
                                    "name = \"b\"", "url = \"kafka://host/\"",
                                    "password = { env = \"PW\" }", "[[stream]]", "name = \"c\"",
                                    "url = \"kafka://host/\"", "password = { file = \"/pw\" }",
                                    "[[destination]]", "name = \"h\"", "api_key = \"S3cr3t-api\"",
                                    "topics = [\"t\"]"}),
                              secrets);
  ASSERT_EQ(ok.streams.size(), 3u);
  EXPECT_EQ(ok.streams[0].password.reveal(), "S3cr3t-inline");
  EXPECT_EQ(ok.streams[0].client_secret.reveal(), "S3cr3t-cred");
  EXPECT_EQ(ok.streams[1].password.reveal(), "S3cr3t-env");
  EXPECT_EQ(ok.streams[2].password.reveal(), "S3cr3t-file");
  EXPECT_EQ(ok.destinations.at(0).api_key.reveal(), "S3cr3t-api");
  // describe() is what may be logged: it names the origin only.
  for (const Secret* s : {&ok.streams[0].password, &ok.streams[0].client_secret,
                          &ok.streams[1].password, &ok.streams[2].password,
                          &ok.destinations[0].api_key}) {
    for (const std::string& v : values) EXPECT_THAT(s->describe(), Not(HasSubstr(v)));
  }
}

TEST(SecretLeakTest, SyntaxErrorNearASecretDoesNotEchoIt) {
  const std::string msg = MustFail(kStreamHead + "password = \"S3cr3t-unterminated\n");
  EXPECT_THAT(msg, Not(HasSubstr("S3cr3t"))) << msg;
  const std::string msg2 = MustFail(kStreamHead + "password = \"S3cr3t-a\" junk\n");
  EXPECT_THAT(msg2, Not(HasSubstr("S3cr3t"))) << msg2;
}

// =============================================================================================
// kafka:// URLs
// =============================================================================================

Config WithUrl(const std::string& url) {
  return MustParse(Toml({"[[stream]]", "name = \"s\"", "url = \"" + url + "\""}));
}
std::string UrlError(const std::string& url) {
  return MustFail(Toml({"[[stream]]", "name = \"s\"", "url = \"" + url + "\""}));
}

TEST(KafkaUrlTest, SingleHostDefaultPort) {
  EXPECT_THAT(WithUrl("kafka://kafka.scimma.org/").streams.at(0).bootstrap,
              ElementsAre("kafka.scimma.org:9092"));
  EXPECT_THAT(WithUrl("kafka://kafka.scimma.org").streams.at(0).bootstrap,
              ElementsAre("kafka.scimma.org:9092"));
}

TEST(KafkaUrlTest, ExplicitPort) {
  EXPECT_THAT(WithUrl("kafka://broker:9093/").streams.at(0).bootstrap, ElementsAre("broker:9093"));
  EXPECT_THAT(WithUrl("kafka://broker:65535/").streams.at(0).bootstrap,
              ElementsAre("broker:65535"));
}

TEST(KafkaUrlTest, MultipleHostsMixedPorts) {
  EXPECT_THAT(WithUrl("kafka://a.example:9093,b.example,c.example:19092/").streams.at(0).bootstrap,
              ElementsAre("a.example:9093", "b.example:9092", "c.example:19092"));
}

TEST(KafkaUrlTest, BracketedIpv6) {
  EXPECT_THAT(WithUrl("kafka://[::1]:9093,[fe80::2]/").streams.at(0).bootstrap,
              ElementsAre("[::1]:9093", "[fe80::2]:9092"));
}

TEST(KafkaUrlTest, UserInUrl) {
  const Config cfg = WithUrl("kafka://alice@a:9093,b/");
  EXPECT_EQ(cfg.streams.at(0).username, "alice");
  EXPECT_THAT(cfg.streams.at(0).bootstrap, ElementsAre("a:9093", "b:9092"));
  EXPECT_EQ(cfg.streams.at(0).group_id, "alice-tomstream-s");
}

TEST(KafkaUrlTest, BadPortRejected) {
  for (const std::string port : {"99999", "65536", "0", "abc", "", "90a", "123456"}) {
    SCOPED_TRACE("port \"" + port + "\"");
    const std::string msg = UrlError("kafka://broker:" + port + "/");
    EXPECT_THAT(SplitLines(msg),
                ElementsAre("test.toml:3: stream[0].url: has an invalid port in \"broker:" + port +
                            "\""));
  }
  EXPECT_THAT(UrlError("kafka://good:9092,bad:x/"), HasSubstr("invalid port in \"bad:x\""));
}

TEST(KafkaUrlTest, TopicsInUrlRejected) {
  const std::string msg = UrlError("kafka://kafka.scimma.org/hermes.test");
  EXPECT_THAT(msg, HasSubstr("test.toml:3: stream[0].url: must not name topics (\"hermes.test\")"))
      << msg;
  EXPECT_THAT(UrlError("kafka://broker/a,b"), HasSubstr("must not name topics"));
}

TEST(KafkaUrlTest, WrongSchemeRejected) {
  for (const std::string url : {"http://broker/", "kafka:/broker/", "broker:9092",
                                "KAFKA://broker/", "kafkas://broker/"}) {
    SCOPED_TRACE(url);
    EXPECT_THAT(SplitLines(UrlError(url)),
                ElementsAre(HasSubstr("test.toml:3: stream[0].url: must start with kafka://")));
  }
}

TEST(KafkaUrlTest, NoOrEmptyHostRejected) {
  EXPECT_THAT(UrlError("kafka:///"), HasSubstr("stream[0].url: names no broker host"));
  EXPECT_THAT(UrlError("kafka://"), HasSubstr("stream[0].url: names no broker host"));
  EXPECT_THAT(UrlError("kafka://a,,b/"), HasSubstr("stream[0].url: has an empty host"));
}

TEST(KafkaUrlTest, UrlIsRequired) {
  EXPECT_THAT(SplitLines(MustFail(Toml({"[[stream]]", "name = \"s\""}))),
              ElementsAre(HasSubstr("stream[0].url: is required")));
  EXPECT_THAT(SplitLines(MustFail(Toml({"[[stream]]", "url = \"kafka://b/\""}))),
              ElementsAre(HasSubstr("stream[0].name: is required")));
}

// =============================================================================================
// Routes
// =============================================================================================

std::string WithRoute(std::initializer_list<std::string_view> route_lines) {
  // Stream head on lines 1-3, "[[stream.route]]" on line 4, route keys from line 5.
  return kStreamHead + "[[stream.route]]\n" + Toml(route_lines);
}

TEST(RouteTest, EachSelectorKind) {
  const Config cfg = MustParse(kStreamHead + Toml({"[[stream.route]]", "topic = \"t.exact\"",
                                                   "handler = \"hermes\"", "[[stream.route]]",
                                                   "pattern = \"t.*\"", "handler = \"raw\"",
                                                   "[[stream.route]]", "regex = \"t\\\\.[a-z]+\"",
                                                   "handler = \"log\"", "include_test = true"}));
  const auto& routes = cfg.streams.at(0).routes;
  ASSERT_EQ(routes.size(), 3u);
  EXPECT_EQ(routes[0].match, RouteConfig::Match::kExact);
  EXPECT_EQ(routes[0].topic, "t.exact");
  EXPECT_EQ(routes[1].match, RouteConfig::Match::kPattern);
  EXPECT_EQ(routes[1].topic, "t.*");
  EXPECT_EQ(routes[2].match, RouteConfig::Match::kRegex);
  EXPECT_EQ(routes[2].topic, "t\\.[a-z]+");
  EXPECT_EQ(routes[2].handler, "log");
  EXPECT_TRUE(routes[2].include_test);
  EXPECT_FALSE(routes[0].include_test);
}

TEST(RouteTest, NeedsExactlyOneSelector) {
  EXPECT_THAT(SplitLines(MustFail(WithRoute({"handler = \"raw\""}))),
              ElementsAre(HasSubstr("stream[0].route[0].topic: a route needs exactly one of "
                                    "topic, pattern or regex")));
  EXPECT_THAT(MustFail(WithRoute({"topic = \"a\"", "pattern = \"a*\"", "handler = \"raw\""})),
              HasSubstr("stream[0].route[0].topic: a route needs exactly one of topic, pattern or "
                        "regex"));
  EXPECT_THAT(MustFail(WithRoute({"pattern = \"a*\"", "regex = \"a.*\"", "handler = \"raw\""})),
              HasSubstr("a route needs exactly one of topic, pattern or regex"));
  EXPECT_THAT(MustFail(WithRoute({"topic = \"a\"", "pattern = \"a*\"", "regex = \"a.*\"",
                                  "handler = \"raw\""})),
              HasSubstr("a route needs exactly one of topic, pattern or regex"));
}

TEST(RouteTest, InvalidRegexRejected) {
  const std::string msg = MustFail(WithRoute({"regex = \"gcn\\\\.(notices\"", "handler = \"gcn\""}));
  EXPECT_THAT(SplitLines(msg),
              ElementsAre(HasSubstr("test.toml:5: stream[0].route[0].regex: is not a valid "
                                    "regular expression")));
}

TEST(RouteTest, HandlerRequiredAndKnown) {
  EXPECT_THAT(SplitLines(MustFail(WithRoute({"topic = \"a\""}))),
              ElementsAre(HasSubstr("stream[0].route[0].handler: is required")));
  EXPECT_THAT(SplitLines(MustFail(WithRoute({"topic = \"a\"", "handler = \"email\""}))),
              ElementsAre("test.toml:6: stream[0].route[0].handler: must be one of hermes, gcn, "
                          "raw, log; not \"email\""));
  for (const char* h : {"hermes", "gcn", "raw", "log"}) {
    EXPECT_EQ(MustParse(WithRoute({"topic = \"a\"", std::string("handler = \"") + h + "\""}))
                  .streams.at(0)
                  .routes.at(0)
                  .handler,
              h);
  }
}

// Start positions, valid in a stream and in a route.
struct StartCase {
  std::string value;  // TOML value text
  StartPosition::Kind kind;
  int64_t time_ms;
  int64_t last_n;
};

class StartTest : public ::testing::TestWithParam<StartCase> {};

TEST_P(StartTest, ParsedInStreamAndRoute) {
  const StartCase& c = GetParam();
  const Config cfg = MustParse(kStreamHead + "start = " + c.value + "\n" +
                               Toml({"[[stream.route]]", "topic = \"a\"", "handler = \"raw\"",
                                     "start = " + c.value}));
  ASSERT_EQ(cfg.streams.size(), 1u);
  const StartPosition& s = cfg.streams[0].start;
  EXPECT_EQ(s.kind, c.kind);
  EXPECT_EQ(s.time_ms, c.time_ms);
  EXPECT_EQ(s.last_n, c.last_n);
  ASSERT_EQ(cfg.streams[0].routes.size(), 1u);
  ASSERT_TRUE(cfg.streams[0].routes[0].start.has_value());
  const StartPosition& r = *cfg.streams[0].routes[0].start;
  EXPECT_EQ(r.kind, c.kind);
  EXPECT_EQ(r.time_ms, c.time_ms);
  EXPECT_EQ(r.last_n, c.last_n);
}

// 2026-05-01T00:00:00Z is 1777593600 s after the epoch.
INSTANTIATE_TEST_SUITE_P(
    Config, StartTest,
    ::testing::Values(
        StartCase{"\"earliest\"", StartPosition::Kind::kEarliest, 0, 0},
        StartCase{"\"latest\"", StartPosition::Kind::kLatest, 0, 0},
        StartCase{"\"last:1\"", StartPosition::Kind::kLastN, 0, 1},
        StartCase{"\"last:250\"", StartPosition::Kind::kLastN, 0, 250},
        StartCase{"2026-05-01T00:00:00Z", StartPosition::Kind::kTime, 1777593600000, 0},
        StartCase{"2026-05-01T02:00:00+02:00", StartPosition::Kind::kTime, 1777593600000, 0},
        StartCase{"2026-04-30T19:30:00-04:30", StartPosition::Kind::kTime, 1777593600000, 0},
        StartCase{"2026-05-01T00:00:00.250Z", StartPosition::Kind::kTime, 1777593600250, 0},
        StartCase{"1970-01-01T00:00:00Z", StartPosition::Kind::kTime, 0, 0}));

TEST(StartTest, RouteWithoutStartUsesStreams) {
  const Config cfg = MustParse(kStreamHead + "start = \"latest\"\n" +
                               Toml({"[[stream.route]]", "topic = \"a\"", "handler = \"raw\""}));
  EXPECT_FALSE(cfg.streams.at(0).routes.at(0).start.has_value());
  EXPECT_EQ(cfg.streams.at(0).start.kind, StartPosition::Kind::kLatest);
}

class BadStartTest : public ::testing::TestWithParam<std::pair<std::string, std::string>> {};

TEST_P(BadStartTest, RejectedInStreamAndRoute) {
  const auto& [value, message] = GetParam();
  EXPECT_THAT(SplitLines(MustFail(kStreamHead + "start = " + value + "\n")),
              ElementsAre("test.toml:4: stream[0].start: " + message));
  EXPECT_THAT(SplitLines(MustFail(WithRoute({"topic = \"a\"", "handler = \"raw\"",
                                             "start = " + value}))),
              ElementsAre("test.toml:7: stream[0].route[0].start: " + message));
}

INSTANTIATE_TEST_SUITE_P(
    Config, BadStartTest,
    ::testing::Values(
        std::pair<std::string, std::string>{
            "\"last:0\"",
            "must be \"earliest\", \"latest\", \"last:N\" (N > 0) or a date-time, not \"last:0\""},
        std::pair<std::string, std::string>{
            "\"last:-3\"",
            "must be \"earliest\", \"latest\", \"last:N\" (N > 0) or a date-time, not \"last:-3\""},
        std::pair<std::string, std::string>{
            "\"last:\"",
            "must be \"earliest\", \"latest\", \"last:N\" (N > 0) or a date-time, not \"last:\""},
        std::pair<std::string, std::string>{
            "\"last:5x\"",
            "must be \"earliest\", \"latest\", \"last:N\" (N > 0) or a date-time, not \"last:5x\""},
        std::pair<std::string, std::string>{
            "\"newest\"",
            "must be \"earliest\", \"latest\", \"last:N\" (N > 0) or a date-time, not \"newest\""},
        std::pair<std::string, std::string>{
            "2026-05-01T00:00:00",
            "a start time needs a UTC offset, e.g. 2026-05-01T00:00:00Z"},
        std::pair<std::string, std::string>{
            "2026-05-01",
            "must be \"earliest\", \"latest\", \"last:N\" or a date-time, not a date"}));

// =============================================================================================
// Group ids and names
// =============================================================================================

TEST(GroupIdTest, DerivedWithoutUsername) {
  EXPECT_EQ(MustParse(Toml({"[[stream]]", "name = \"gcn\"", "url = \"kafka://b/\""}))
                .streams.at(0)
                .group_id,
            "tomstream-gcn");
}

TEST(GroupIdTest, DerivedWithUsername) {
  EXPECT_EQ(MustParse(Toml({"[[stream]]", "name = \"hop\"", "url = \"kafka://b/\"",
                            "username = \"my-user\""}))
                .streams.at(0)
                .group_id,
            "my-user-tomstream-hop");
}

TEST(GroupIdTest, ExplicitGroupIdKept) {
  EXPECT_EQ(MustParse(Toml({"[[stream]]", "name = \"hop\"", "url = \"kafka://b/\"",
                            "username = \"my-user\"", "group_id = \"my-user-custom\""}))
                .streams.at(0)
                .group_id,
            "my-user-custom");
  EXPECT_THAT(MustFail(kStreamHead + "group_id = \"\"\n"),
              HasSubstr("stream[0].group_id: must not be empty"));
}

TEST(DuplicateNameTest, Streams) {
  const std::string msg = MustFail(kStreamHead + Toml({"[[stream]]", "name = \"s\"",
                                                       "url = \"kafka://other/\""}));
  EXPECT_THAT(SplitLines(msg),
              ElementsAre("test.toml:5: stream[1].name: another stream is already named \"s\""));
}

TEST(DuplicateNameTest, Destinations) {
  const std::string msg = MustFail(kDestHead + kDestHead);
  EXPECT_THAT(SplitLines(msg),
              ElementsAre("test.toml:6: destination[1].name: another destination is already "
                          "named \"h\""));
}

TEST(DuplicateNameTest, StreamAndDestinationMayShareAName) {
  const Config cfg = MustParse(Toml({"[[stream]]", "name = \"h\"", "url = \"kafka://b/\""}) +
                               kDestHead);
  EXPECT_EQ(cfg.streams.at(0).name, cfg.destinations.at(0).name);
}

// =============================================================================================
// Destinations
// =============================================================================================

TEST(DestinationTest, HermesNeedsApiKey) {
  EXPECT_THAT(SplitLines(MustFail(Toml({"[[destination]]", "name = \"h\"", "kind = \"hermes\"",
                                         "topics = [\"t\"]"}))),
              ElementsAre("test.toml:1: destination[0].api_key: is required for a hermes "
                          "destination"));
}

TEST(DestinationTest, KafkaNeedsStream) {
  EXPECT_THAT(SplitLines(MustFail(Toml({"[[destination]]", "name = \"k\"", "kind = \"kafka\"",
                                         "topics = [\"t\"]"}))),
              ElementsAre(HasSubstr("destination[0].stream: is required for a kafka destination")));
}

TEST(DestinationTest, KafkaNeedsAnExistingStream) {
  EXPECT_THAT(SplitLines(MustFail(Toml({"[[destination]]", "name = \"k\"", "kind = \"kafka\"",
                                         "stream = \"nope\"", "topics = [\"t\"]"}))),
              ElementsAre("test.toml:4: destination[0].stream: names no configured stream: "
                          "\"nope\""));
  // The stream may be declared after the destination in the file.
  const Config cfg = MustParse(Toml({"[[destination]]", "name = \"k\"", "kind = \"kafka\"",
                                     "stream = \"s\"", "topics = [\"t\"]"}) +
                               kStreamHead);
  EXPECT_EQ(cfg.destinations.at(0).kind, DestinationKind::kKafka);
  EXPECT_EQ(cfg.destinations.at(0).stream, "s");
  EXPECT_FALSE(cfg.destinations.at(0).api_key.is_set());
}

TEST(DestinationTest, BaseUrlGetsTrailingSlash) {
  EXPECT_EQ(MustParse(kDestHead + "base_url = \"https://hermes-dev.lco.global/api\"\n")
                .destinations.at(0)
                .base_url,
            "https://hermes-dev.lco.global/api/");
  EXPECT_EQ(MustParse(kDestHead + "base_url = \"http://localhost:8000/\"\n").destinations.at(0).base_url,
            "http://localhost:8000/");
}

TEST(DestinationTest, NonHttpBaseUrlRejected) {
  for (const std::string url : {"ftp://hermes/", "hermes.lco.global", "file:///etc/passwd"}) {
    SCOPED_TRACE(url);
    EXPECT_THAT(SplitLines(MustFail(kDestHead + "base_url = \"" + url + "\"\n")),
                ElementsAre("test.toml:5: destination[0].base_url: must start with http:// or "
                            "https://"));
  }
}

TEST(DestinationTest, UnknownKind) {
  EXPECT_THAT(MustFail(kDestHead + "kind = \"smtp\"\n"),
              HasSubstr("test.toml:5: destination[0].kind: must be \"hermes\" or \"kafka\", not "
                        "\"smtp\""));
}

TEST(DestinationTest, TopicsRequiredAndNotEmpty) {
  EXPECT_THAT(SplitLines(MustFail(Toml({"[[destination]]", "name = \"h\"", "api_key = \"k\""}))),
              ElementsAre(HasSubstr("destination[0].topics: is required")));
  EXPECT_THAT(SplitLines(MustFail(Toml({"[[destination]]", "name = \"h\"", "api_key = \"k\"",
                                         "topics = []"}))),
              ElementsAre("test.toml:4: destination[0].topics: must list at least one topic"));
}

// =============================================================================================
// Error reporting
// =============================================================================================

TEST(ErrorReportTest, SyntaxErrorReportsLineAndColumn) {
  auto cfg = Parse(Toml({"[daemon]", "log_level = \"info\"", "shutdown_timeout_ms = = 5"}));
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.status().code(), StatusCode::kInvalidArgument);
  // The second '=' is the 23rd character of line 3.
  EXPECT_THAT(cfg.status().message(), StartsWith("test.toml:3:23: ")) << cfg.status().message();
  EXPECT_EQ(SplitLines(cfg.status().message()).size(), 1u);
}

TEST(ErrorReportTest, OtherSyntaxErrorsReportLineAndColumn) {
  // An unterminated array on line 2 (reported where the parser notices it).
  auto cfg = Parse(Toml({"# comment", "x = [1, 2", "y = 3"}));
  ASSERT_FALSE(cfg.ok());
  EXPECT_THAT(cfg.status().message(), ::testing::MatchesRegex("test\\.toml:3:[1-9][0-9]*: .+"))
      << cfg.status().message();
  auto dup = Parse(Toml({"[store]", "path = \"/a\"", "path = \"/b\""}));
  ASSERT_FALSE(dup.ok());
  EXPECT_THAT(dup.status().message(), ::testing::MatchesRegex("test\\.toml:3:[1-9][0-9]*: .+"))
      << dup.status().message();
}

TEST(ErrorReportTest, AllErrorsReportedAtOnce) {
  const std::string text = Toml({
      "bogus = true",                // 1: unknown key
      "[daemon]",                    // 2
      "log_level = 7",               // 3: wrong type
      "[store]",                     // 4
      "reader_connections = 100",    // 5: out of range
      "[[stream]]",                  // 6
      "name = \"s\"",                // 7
      "url = \"http://b/\"",         // 8: wrong scheme
      "[[stream.route]]",            // 9
      "topic = \"t\"",               // 10
      "handler = \"nope\"",          // 11: unknown handler
      "[[destination]]",             // 12: api_key missing
      "name = \"h\"",                // 13
      "topics = [\"t\"]",            // 14
  });
  const std::vector<std::string> lines = SplitLines(MustFail(text));
  EXPECT_THAT(lines, ::testing::UnorderedElementsAre(
                         "test.toml:1: bogus: unknown key",
                         "test.toml:3: daemon.log_level: must be a string, not an integer",
                         "test.toml:5: store.reader_connections: must be between 1 and 64, not 100",
                         HasSubstr("test.toml:8: stream[0].url: must start with kafka://"),
                         HasSubstr("test.toml:11: stream[0].route[0].handler: must be one of"),
                         "test.toml:12: destination[0].api_key: is required for a hermes "
                         "destination"));
}

}  // namespace
}  // namespace tomstream::config
