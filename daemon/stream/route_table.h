// Which topics a stream subscribes to, and which route (hence handler) a topic's messages take.
//
// A route selects topics by exact name, by wildcard pattern (* any run of characters, ? one
// character) or by ECMAScript regular expression matched against the whole name. When several
// routes match a topic, an exact route wins over a pattern, a pattern over a regex, and among
// equals the older route wins (config-file routes, in file order, before runtime routes).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "config/config.h"

namespace tomstream::stream {

struct Route {
  int64_t id = 0;  // 0 for config-file routes, else the store's id
  config::RouteConfig::Match match = config::RouteConfig::Match::kExact;
  std::string topic;  // name, pattern or regex
  std::string handler;
  std::optional<config::StartPosition> start;  // unset: the stream's start
  bool include_test = false;
};

// Whether the whole of `name` matches `pattern`: '*' any run of characters, '?' one character,
// anything else itself.
bool WildcardMatch(std::string_view pattern, std::string_view name);

class RouteTable {
 public:
  RouteTable() = default;
  // REQUIRES: every regex and pattern compiles (the config and AddRoute validate them).
  explicit RouteTable(std::vector<Route> routes);

  const std::vector<Route>& routes() const { return routes_; }
  // The route for `topic`, or nullptr.
  const Route* Match(const std::string& topic) const;
  // Exact topic names to subscribe to.
  std::vector<std::string> ExactTopics() const;
  bool HasPatterns() const { return !compiled_.empty(); }
  // The topics among `existing` that pattern or regex routes select.
  std::vector<std::string> MatchPatterns(const std::vector<std::string>& existing) const;

 private:
  struct Compiled {
    size_t route_index;
    std::optional<std::regex> re;  // regex routes; pattern routes use WildcardMatch
  };
  bool Selects(const Compiled& c, const std::string& topic) const;
  std::vector<Route> routes_;
  std::vector<Compiled> compiled_;  // pattern and regex routes, in precedence order
  mutable std::map<std::string, const Route*> cache_;  // topic -> route (nullptr: none)
};

}  // namespace tomstream::stream

namespace tomstream::stream {

// "earliest", "latest", "last:N" or "time:<Unix epoch ms>": how runtime routes store a start.
std::string EncodeStart(const config::StartPosition& start);
Result<config::StartPosition> DecodeStart(const std::string& text);

}  // namespace tomstream::stream
