#include "config/config.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>
#include <regex>
#include <set>
#include <sstream>

#include <toml++/toml.h>

#include "common/logging.h"

namespace tomstream::config {
namespace {

// `s` with control characters escaped ("\n", "\x01"): one error is one line, although keys and
// values from the file, and toml++'s descriptions that quote it, may hold line breaks.
std::string OneLine(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte != 0x7f) {
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    }
  }
  return out;
}

// Collects every problem found in a file, each prefixed with "file:line: key.path: ".
class Errors {
 public:
  explicit Errors(std::string source) : source_(std::move(source)) {}

  void Add(const toml::source_region* where, const std::string& key, const std::string& message) {
    std::ostringstream line;
    line << source_;
    if (where != nullptr && where->begin.line > 0) line << ':' << where->begin.line;
    line << ": " << key << ": " << message;
    lines_.push_back(OneLine(line.str()));
  }
  bool empty() const { return lines_.empty(); }
  std::string Join() const {
    std::string out;
    for (const auto& l : lines_) {
      if (!out.empty()) out += '\n';
      out += l;
    }
    return out;
  }

 private:
  std::string source_;
  std::vector<std::string> lines_;
};

const char* TypeName(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    default: return "nothing";
  }
}

// Reads the keys of one table, remembering which were used so that Finish() can report the
// rest as unknown. Every getter leaves its output unchanged when the key is absent or wrong.
class TableReader {
 public:
  TableReader(Errors& errors, const toml::table& table, std::string path)
      : errors_(errors), table_(table), path_(std::move(path)) {}

  std::string KeyPath(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }
  const toml::node* Get(std::string_view key) {
    used_.insert(std::string(key));
    return table_.get(key);
  }
  void Error(std::string_view key, const std::string& message) {
    const toml::node* n = table_.get(key);
    errors_.Add(n != nullptr ? &n->source() : &table_.source(), KeyPath(key), message);
  }
  bool Has(std::string_view key) const { return table_.contains(key); }

  bool String(std::string_view key, std::string& out) {
    const toml::node* n = Get(key);
    if (n == nullptr) return false;
    if (auto v = n->value<std::string>(); v && n->is_string()) {
      out = *v;
      return true;
    }
    WrongType(key, *n, "a string");
    return false;
  }

  // A string that must not be empty when present.
  bool NonEmptyString(std::string_view key, std::string& out) {
    std::string v;
    if (!String(key, v)) return false;
    if (v.empty()) {
      Error(key, "must not be empty");
      return false;
    }
    out = std::move(v);
    return true;
  }

  bool Bool(std::string_view key, bool& out) {
    const toml::node* n = Get(key);
    if (n == nullptr) return false;
    if (!n->is_boolean()) {
      WrongType(key, *n, "a boolean");
      return false;
    }
    out = *n->value<bool>();
    return true;
  }

  template <typename Int>
  bool Integer(std::string_view key, int64_t min, int64_t max, Int& out) {
    const toml::node* n = Get(key);
    if (n == nullptr) return false;
    if (!n->is_integer()) {
      WrongType(key, *n, "an integer");
      return false;
    }
    const int64_t v = *n->value<int64_t>();
    if (v < min || v > max) {
      Error(key, "must be between " + std::to_string(min) + " and " + std::to_string(max) +
                     ", not " + std::to_string(v));
      return false;
    }
    out = static_cast<Int>(v);
    return true;
  }

  bool Millis(std::string_view key, int64_t min, int64_t max, std::chrono::milliseconds& out) {
    int64_t v = 0;
    if (!Integer(key, min, max, v)) return false;
    out = std::chrono::milliseconds(v);
    return true;
  }

  bool StringList(std::string_view key, std::vector<std::string>& out) {
    const toml::node* n = Get(key);
    if (n == nullptr) return false;
    const toml::array* arr = n->as_array();
    if (arr == nullptr) {
      WrongType(key, *n, "an array of strings");
      return false;
    }
    std::vector<std::string> values;
    for (size_t i = 0; i < arr->size(); ++i) {
      const toml::node& item = (*arr)[i];
      if (!item.is_string() || item.value<std::string>()->empty()) {
        errors_.Add(&item.source(), KeyPath(key) + "[" + std::to_string(i) + "]",
                    "must be a non-empty string");
        return false;
      }
      values.push_back(*item.value<std::string>());
    }
    out = std::move(values);
    return true;
  }

  const toml::table* Table(std::string_view key) {
    const toml::node* n = Get(key);
    if (n == nullptr) return nullptr;
    if (!n->is_table()) {
      WrongType(key, *n, "a table");
      return nullptr;
    }
    return n->as_table();
  }

  // An array of tables ([[key]]); nullptr when absent or wrong.
  const toml::array* TableArray(std::string_view key) {
    const toml::node* n = Get(key);
    if (n == nullptr) return nullptr;
    const toml::array* arr = n->as_array();
    if (arr == nullptr || !arr->is_array_of_tables()) {
      WrongType(key, *n, "an array of tables ([[" + KeyPath(key) + "]])");
      return nullptr;
    }
    return arr;
  }

  // A secret: an inline string, or a table with exactly one of env, credential, file.
  bool SecretValue(std::string_view key, const SecretResolver& resolver, Secret& out) {
    const toml::node* n = Get(key);
    if (n == nullptr) return false;
    if (n->is_string()) {
      std::string v = *n->value<std::string>();
      if (v.empty()) {
        Error(key, "must not be empty");
        return false;
      }
      out = Secret(std::move(v), "inline");
      return true;
    }
    const toml::table* t = n->as_table();
    if (t == nullptr) {
      WrongType(key, *n, "a string or a table { env | credential | file = \"...\" }");
      return false;
    }
    TableReader ref(errors_, *t, KeyPath(key));
    std::string env;
    std::string credential;
    std::string file;
    int given = int{ref.NonEmptyString("env", env)} + int{ref.NonEmptyString("credential", credential)} +
                int{ref.NonEmptyString("file", file)};
    ref.Finish();
    if (given != 1) {
      Error(key, "give exactly one of env, credential or file");
      return false;
    }
    std::optional<std::string> value;
    std::string origin;
    if (!env.empty()) {
      value = resolver.getenv(env);
      origin = "env " + env;
      if (!value) {
        Error(key, "environment variable " + env + " is not set");
        return false;
      }
    } else {
      std::string path = file;
      origin = "file " + file;
      if (!credential.empty()) {
        if (credential.find('/') != std::string::npos) {
          Error(key, "credential name must not contain '/': " + credential);
          return false;
        }
        auto dir = resolver.getenv("CREDENTIALS_DIRECTORY");
        if (!dir || dir->empty()) {
          Error(key, "credential " + credential +
                         " needs $CREDENTIALS_DIRECTORY (systemd LoadCredential=), which is not set");
          return false;
        }
        path = *dir + "/" + credential;
        origin = "credential " + credential;
      }
      auto content = resolver.read_file(path);
      if (!content.ok()) {
        Error(key, content.status().message());
        return false;
      }
      std::string v = std::move(content).value();
      while (!v.empty() && (v.back() == '\n' || v.back() == '\r')) v.pop_back();
      value = std::move(v);
    }
    if (value->empty()) {
      Error(key, "the secret from " + origin + " is empty");
      return false;
    }
    out = Secret(std::move(*value), std::move(origin));
    return true;
  }

  // Reports every key that no getter asked for.
  void Finish() {
    for (const auto& [k, v] : table_) {
      if (used_.count(std::string(k.str())) == 0) {
        errors_.Add(&v.source(), KeyPath(k.str()), "unknown key");
      }
    }
  }

  Errors& errors() { return errors_; }
  const toml::table& table() const { return table_; }

 private:
  void WrongType(std::string_view key, const toml::node& n, const std::string& wanted) {
    Error(key, "must be " + wanted + ", not " + TypeName(n));
  }

  Errors& errors_;
  const toml::table& table_;
  std::string path_;
  std::set<std::string> used_;
};

const std::set<std::string>& KnownHandlers() {
  static const std::set<std::string> handlers{"hermes", "gcn", "raw", "log"};
  return handlers;
}

bool ValidName(const std::string& s) {
  return !s.empty() && s.size() <= 64 &&
         std::all_of(s.begin(), s.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
         });
}

// Parses "earliest", "latest", "last:N" or a TOML offset date-time.
bool ReadStart(TableReader& r, std::string_view key, StartPosition& out) {
  const toml::node* n = r.Get(key);
  if (n == nullptr) return false;
  if (const auto* dt = n->as_date_time()) {
    const toml::date_time& d = dt->get();
    if (!d.offset) {
      r.Error(key, "a start time needs a UTC offset, e.g. 2026-05-01T00:00:00Z");
      return false;
    }
    std::tm tm{};
    tm.tm_year = d.date.year - 1900;
    tm.tm_mon = d.date.month - 1;
    tm.tm_mday = d.date.day;
    tm.tm_hour = d.time.hour;
    tm.tm_min = d.time.minute;
    tm.tm_sec = d.time.second;
    const int64_t secs = timegm(&tm) - int64_t{d.offset->minutes} * 60;
    out.kind = StartPosition::Kind::kTime;
    out.time_ms = secs * 1000 + d.time.nanosecond / 1000000;
    return true;
  }
  if (!n->is_string()) {
    r.Error(key, std::string("must be \"earliest\", \"latest\", \"last:N\" or a date-time, not ") +
                     TypeName(*n));
    return false;
  }
  const std::string v = *n->value<std::string>();
  if (v == "earliest") {
    out.kind = StartPosition::Kind::kEarliest;
    return true;
  }
  if (v == "latest") {
    out.kind = StartPosition::Kind::kLatest;
    return true;
  }
  if (v.rfind("last:", 0) == 0) {
    const std::string digits = v.substr(5);
    const bool numeric = !digits.empty() && digits.size() <= 18 &&
                         std::all_of(digits.begin(), digits.end(), ::isdigit);
    if (numeric && std::stoll(digits) > 0) {
      out.kind = StartPosition::Kind::kLastN;
      out.last_n = std::stoll(digits);
      return true;
    }
  }
  r.Error(key, "must be \"earliest\", \"latest\", \"last:N\" (N > 0) or a date-time, not \"" + v +
                   "\"");
  return false;
}

// kafka://[user@]host[:port][,host[:port]...][/]
bool ParseKafkaUrl(TableReader& r, const std::string& url, std::vector<std::string>& bootstrap,
                   std::string& user_from_url) {
  constexpr std::string_view kScheme = "kafka://";
  if (url.rfind(kScheme, 0) != 0) {
    r.Error("url", "must start with kafka://, e.g. kafka://kafka.scimma.org/");
    return false;
  }
  std::string rest = url.substr(kScheme.size());
  const auto slash = rest.find('/');
  if (slash != std::string::npos) {
    if (slash + 1 != rest.size()) {
      r.Error("url", "must not name topics (\"" + rest.substr(slash + 1) +
                         "\"); list them as [[stream.route]] entries");
      return false;
    }
    rest.resize(slash);
  }
  if (const auto at = rest.find('@'); at != std::string::npos) {
    user_from_url = rest.substr(0, at);
    rest = rest.substr(at + 1);
    if (user_from_url.find(':') != std::string::npos) {
      // Not echoed: what follows the ':' is probably a password.
      r.Error("url", "must not contain a password (user:password@); use the password key");
      return false;
    }
  }
  std::stringstream hosts(rest);
  std::string host;
  while (std::getline(hosts, host, ',')) {
    if (host.empty()) {
      r.Error("url", "has an empty host");
      return false;
    }
    const auto colon = host.rfind(':');
    const bool bracketed = host.front() == '[';
    const bool has_port = colon != std::string::npos && (!bracketed || host[colon - 1] == ']');
    if (has_port) {
      const std::string port = host.substr(colon + 1);
      const bool numeric = !port.empty() && port.size() <= 5 &&
                           std::all_of(port.begin(), port.end(), ::isdigit) &&
                           std::stoi(port) > 0 && std::stoi(port) < 65536;
      if (!numeric) {
        r.Error("url", "has an invalid port in \"" + host + "\"");
        return false;
      }
      bootstrap.push_back(host);
    } else {
      bootstrap.push_back(host + ":9092");
    }
  }
  if (bootstrap.empty()) {
    r.Error("url", "names no broker host");
    return false;
  }
  return true;
}

// Patterns and regexes become std::regex: see kMaxRouteExpressionBytes (the daemon crashed at
// --check-config, on reload, or for a pattern when the stream started).
std::string TooLongExpression() {
  return "is longer than " + std::to_string(kMaxRouteExpressionBytes) + " characters";
}

void ReadRoute(TableReader& r, RouteConfig& route) {
  int selectors = 0;
  std::string value;
  if (r.NonEmptyString("topic", value)) {
    route.match = RouteConfig::Match::kExact;
    route.topic = value;
    ++selectors;
  }
  if (r.NonEmptyString("pattern", value)) {
    route.match = RouteConfig::Match::kPattern;
    route.topic = value;
    ++selectors;
    if (value.size() > kMaxRouteExpressionBytes) r.Error("pattern", TooLongExpression());
  }
  if (r.NonEmptyString("regex", value)) {
    route.match = RouteConfig::Match::kRegex;
    route.topic = value;
    ++selectors;
    if (value.size() > kMaxRouteExpressionBytes) {
      r.Error("regex", TooLongExpression());
    } else {
      try {
        std::regex re(value, std::regex::ECMAScript);
      } catch (const std::regex_error& e) {
        r.Error("regex", std::string("is not a valid regular expression: ") + e.what());
      }
    }
  }
  if (selectors != 1) {
    r.errors().Add(&r.table().source(), r.KeyPath("topic"),
                   "a route needs exactly one of topic, pattern or regex");
  }
  if (!r.NonEmptyString("handler", route.handler)) {
    if (!r.Has("handler")) r.errors().Add(&r.table().source(), r.KeyPath("handler"), "is required");
  } else if (KnownHandlers().count(route.handler) == 0) {
    r.Error("handler", "must be one of hermes, gcn, raw, log; not \"" + route.handler + "\"");
  }
  StartPosition start;
  if (ReadStart(r, "start", start)) route.start = start;
  r.Bool("include_test", route.include_test);
  r.Finish();
}

void Require(TableReader& r, bool present, std::string_view key, const std::string& why) {
  if (!present) {
    r.errors().Add(&r.table().source(), r.KeyPath(key),
                   why.empty() ? "is required" : "is required " + why);
  }
}

void ReadStream(TableReader& r, const SecretResolver& secrets, StreamConfig& s) {
  if (r.NonEmptyString("name", s.name) && !ValidName(s.name)) {
    r.Error("name", "must be 1-64 characters of letters, digits, '-', '_' or '.'");
  }
  Require(r, r.Has("name"), "name", "");
  r.Bool("active", s.active);
  std::string url;
  std::string user_from_url;
  if (r.NonEmptyString("url", url)) ParseKafkaUrl(r, url, s.bootstrap, user_from_url);
  Require(r, r.Has("url"), "url", "(kafka://host[:port]/)");

  std::string security = "none";
  if (r.String("security", security)) {
    if (security == "none") {
      s.security = Security::kNone;
    } else if (security == "plain") {
      s.security = Security::kPlain;
    } else if (security == "scram-sha-512") {
      s.security = Security::kScramSha512;
    } else if (security == "oauthbearer") {
      s.security = Security::kOauthBearer;
    } else {
      r.Error("security", "must be one of none, plain, scram-sha-512, oauthbearer; not \"" +
                              security + "\"");
    }
  }
  s.tls = s.security == Security::kScramSha512 || s.security == Security::kOauthBearer;
  r.Bool("tls", s.tls);
  if (r.NonEmptyString("ca_file", s.ca_file)) {
    auto content = secrets.read_file(s.ca_file);
    if (!content.ok()) r.Error("ca_file", content.status().message());
  }
  r.NonEmptyString("username", s.username);
  if (s.username.empty()) s.username = user_from_url;
  r.SecretValue("password", secrets, s.password);
  r.NonEmptyString("token_endpoint", s.token_endpoint);
  r.NonEmptyString("client_id", s.client_id);
  r.SecretValue("client_secret", secrets, s.client_secret);

  const std::string sec_name = SecurityName(s.security);
  if (s.security == Security::kPlain || s.security == Security::kScramSha512) {
    Require(r, !s.username.empty(), "username", "with security = \"" + sec_name + "\"");
    Require(r, r.Has("password"), "password", "with security = \"" + sec_name + "\"");
  }
  if (s.security == Security::kOauthBearer) {
    Require(r, r.Has("token_endpoint"), "token_endpoint", "with security = \"oauthbearer\"");
    Require(r, r.Has("client_id"), "client_id", "with security = \"oauthbearer\"");
    Require(r, r.Has("client_secret"), "client_secret", "with security = \"oauthbearer\"");
  }

  if (!r.NonEmptyString("group_id", s.group_id)) {
    // Stable across restarts, never random. Hopskotch wants group ids to start with the user name.
    s.group_id = (s.username.empty() ? std::string() : s.username + "-") + "tomstream-" + s.name;
  }
  ReadStart(r, "start", s.start);
  r.NonEmptyString("heartbeat_topic", s.heartbeat_topic);
  r.Millis("heartbeat_timeout_ms", 1000, 24LL * 3600 * 1000, s.heartbeat_timeout);
  r.Millis("topic_refresh_ms", 100, 3600 * 1000, s.topic_refresh);

  if (const toml::array* routes = r.TableArray("route")) {
    for (size_t i = 0; i < routes->size(); ++i) {
      const toml::table* t = (*routes)[i].as_table();
      if (t == nullptr) continue;  // TableArray() checked; never taken
      TableReader rr(r.errors(), *t, r.KeyPath("route") + "[" + std::to_string(i) + "]");
      RouteConfig route;
      ReadRoute(rr, route);
      s.routes.push_back(std::move(route));
    }
  }
  r.Finish();
}

void ReadDestination(TableReader& r, const SecretResolver& secrets, DestinationConfig& d) {
  if (r.NonEmptyString("name", d.name) && !ValidName(d.name)) {
    r.Error("name", "must be 1-64 characters of letters, digits, '-', '_' or '.'");
  }
  Require(r, r.Has("name"), "name", "");
  std::string kind = "hermes";
  if (r.String("kind", kind)) {
    if (kind == "hermes") {
      d.kind = DestinationKind::kHermes;
    } else if (kind == "kafka") {
      d.kind = DestinationKind::kKafka;
    } else {
      r.Error("kind", "must be \"hermes\" or \"kafka\", not \"" + kind + "\"");
    }
  }
  if (r.NonEmptyString("base_url", d.base_url)) {
    if (d.base_url.rfind("http://", 0) != 0 && d.base_url.rfind("https://", 0) != 0) {
      r.Error("base_url", "must start with http:// or https://");
    }
  }
  if (d.base_url.back() != '/') d.base_url += '/';
  r.SecretValue("api_key", secrets, d.api_key);
  r.String("default_authors", d.default_authors);
  r.StringList("topics", d.topics);
  Require(r, r.Has("topics"), "topics", "(the topics a publish may target)");
  if (r.Has("topics") && d.topics.empty()) r.Error("topics", "must list at least one topic");
  r.NonEmptyString("stream", d.stream);
  r.Millis("request_timeout_ms", 100, 600000, d.request_timeout);
  r.Integer("max_attempts", 1, 1000, d.max_attempts);
  r.Millis("retry_initial_ms", 10, 3600000, d.retry_initial);
  r.Millis("retry_max_ms", 10, 86400000, d.retry_max);
  if (d.retry_max < d.retry_initial) r.Error("retry_max_ms", "must not be below retry_initial_ms");
  r.Integer("max_in_flight", 1, 100000, d.max_in_flight);
  if (d.max_in_flight == 0) d.max_in_flight = d.kind == DestinationKind::kHermes ? 4 : 1000;
  if (d.kind == DestinationKind::kHermes) {
    Require(r, r.Has("api_key"), "api_key", "for a hermes destination");
  } else {
    Require(r, r.Has("stream"), "stream", "for a kafka destination (the stream whose broker it uses)");
  }
  r.Finish();
}

}  // namespace

const char* SecurityName(Security s) {
  switch (s) {
    case Security::kNone: return "none";
    case Security::kPlain: return "plain";
    case Security::kScramSha512: return "scram-sha-512";
    case Security::kOauthBearer: return "oauthbearer";
  }
  return "none";
}

Result<Config> ParseConfig(std::string_view text, const std::string& source_name,
                           const SecretResolver& secrets) {
  toml::table root;
  try {
    root = toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    std::ostringstream m;
    m << source_name << ':' << e.source().begin.line << ':' << e.source().begin.column << ": "
      << e.description();
    return Status::InvalidArgument(OneLine(m.str()));
  }

  Errors errors(source_name);
  Config cfg;
  cfg.source_path = source_name;
  TableReader top(errors, root, "");

  if (const toml::table* t = top.Table("daemon")) {
    TableReader r(errors, *t, "daemon");
    if (r.String("log_level", cfg.daemon.log_level) && !ParseLogLevel(cfg.daemon.log_level)) {
      r.Error("log_level", "must be one of trace, debug, info, warn, error, critical, off; not \"" +
                               cfg.daemon.log_level + "\"");
    }
    r.Millis("shutdown_timeout_ms", 100, 600000, cfg.daemon.shutdown_timeout);
    r.Finish();
  }
  if (const toml::table* t = top.Table("store")) {
    TableReader r(errors, *t, "store");
    r.NonEmptyString("path", cfg.store.path);
    r.Millis("busy_timeout_ms", 0, 600000, cfg.store.busy_timeout);
    r.Integer("commit_max_messages", 1, 1000000, cfg.store.commit_max_messages);
    r.Millis("commit_max_delay_ms", 0, 10000, cfg.store.commit_max_delay);
    r.Integer("reader_connections", 1, 64, cfg.store.reader_connections);
    r.Integer("max_size_mb", 0, int64_t{1} << 30, cfg.store.max_size_mb);
    r.Finish();
  }
  if (const toml::table* t = top.Table("control")) {
    TableReader r(errors, *t, "control");
    r.NonEmptyString("socket", cfg.control.socket);
    if (cfg.control.socket.size() >= 108) {
      r.Error("socket", "is longer than a Unix socket path may be (107 bytes)");
    }
    r.String("socket_group", cfg.control.socket_group);
    r.String("tcp_listen", cfg.control.tcp_listen);
    r.Integer("max_message_bytes", 1024, 64 * 1024 * 1024, cfg.control.max_message_bytes);
    r.Finish();
  }
  if (const toml::array* streams = top.TableArray("stream")) {
    std::set<std::string> names;
    for (size_t i = 0; i < streams->size(); ++i) {
      const toml::table* t = (*streams)[i].as_table();
      if (t == nullptr) continue;  // TableArray() checked; never taken
      TableReader r(errors, *t, "stream[" + std::to_string(i) + "]");
      StreamConfig s;
      ReadStream(r, secrets, s);
      if (!s.name.empty() && !names.insert(s.name).second) {
        r.Error("name", "another stream is already named \"" + s.name + "\"");
      }
      cfg.streams.push_back(std::move(s));
    }
  }
  if (const toml::array* dests = top.TableArray("destination")) {
    std::set<std::string> names;
    for (size_t i = 0; i < dests->size(); ++i) {
      const toml::table* t = (*dests)[i].as_table();
      if (t == nullptr) continue;  // TableArray() checked; never taken
      TableReader r(errors, *t, "destination[" + std::to_string(i) + "]");
      DestinationConfig d;
      ReadDestination(r, secrets, d);
      if (!d.name.empty() && !names.insert(d.name).second) {
        r.Error("name", "another destination is already named \"" + d.name + "\"");
      }
      if (!d.stream.empty() &&
          std::none_of(cfg.streams.begin(), cfg.streams.end(),
                       [&](const StreamConfig& s) { return s.name == d.stream; })) {
        r.Error("stream", "names no configured stream: \"" + d.stream + "\"");
      }
      cfg.destinations.push_back(std::move(d));
    }
  }
  top.Finish();

  if (!errors.empty()) return Status::InvalidArgument(errors.Join());
  return cfg;
}

Result<Config> LoadConfig(const std::string& path, const SecretResolver& secrets) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot read config file " + path);
  std::ostringstream buf;
  buf << in.rdbuf();
  std::error_code ec;
  const std::filesystem::path absolute = std::filesystem::absolute(path, ec);
  return ParseConfig(buf.str(), ec ? path : absolute.lexically_normal().string(), secrets);
}

}  // namespace tomstream::config
