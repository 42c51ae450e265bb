#include "stream/route_table.h"

#include <algorithm>

namespace tomstream::stream {

bool WildcardMatch(std::string_view pattern, std::string_view name) {
  // One pass with a single resumption point, the last '*': when the text after it fails to
  // match, that '*' takes one more character. A later '*' supersedes an earlier one, so the cost
  // is O(pattern x name) at worst, where a regex engine backtracks exponentially on "a*a*a*b".
  size_t p = 0, n = 0;
  size_t star = std::string_view::npos, star_n = 0;
  while (n < name.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_n = n;
    } else if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == name[n])) {
      ++p;
      ++n;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      n = ++star_n;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

RouteTable::RouteTable(std::vector<Route> routes) : routes_(std::move(routes)) {
  using Match = config::RouteConfig::Match;
  for (Match kind : {Match::kPattern, Match::kRegex}) {
    for (size_t i = 0; i < routes_.size(); ++i) {
      if (routes_[i].match != kind) continue;
      Compiled c{i, std::nullopt};
      if (kind == Match::kRegex) {
        c.re.emplace(routes_[i].topic, std::regex::ECMAScript | std::regex::optimize);
      }
      compiled_.push_back(std::move(c));
    }
  }
}

bool RouteTable::Selects(const Compiled& c, const std::string& topic) const {
  return c.re ? std::regex_match(topic, *c.re) : WildcardMatch(routes_[c.route_index].topic, topic);
}

const Route* RouteTable::Match(const std::string& topic) const {
  if (auto it = cache_.find(topic); it != cache_.end()) return it->second;
  const Route* found = nullptr;
  for (const Route& r : routes_) {
    if (r.match == config::RouteConfig::Match::kExact && r.topic == topic) {
      found = &r;
      break;
    }
  }
  if (found == nullptr) {
    for (const Compiled& c : compiled_) {
      if (Selects(c, topic)) {
        found = &routes_[c.route_index];
        break;
      }
    }
  }
  cache_.emplace(topic, found);
  return found;
}

std::vector<std::string> RouteTable::ExactTopics() const {
  std::vector<std::string> out;
  for (const Route& r : routes_) {
    if (r.match == config::RouteConfig::Match::kExact &&
        std::find(out.begin(), out.end(), r.topic) == out.end()) {
      out.push_back(r.topic);
    }
  }
  return out;
}

std::vector<std::string> RouteTable::MatchPatterns(const std::vector<std::string>& existing) const {
  std::vector<std::string> out;
  for (const std::string& topic : existing) {
    if (topic.rfind("__", 0) == 0) continue;  // Kafka's internal topics
    for (const Compiled& c : compiled_) {
      if (Selects(c, topic)) {
        out.push_back(topic);
        break;
      }
    }
  }
  return out;
}

}  // namespace tomstream::stream

namespace tomstream::stream {

std::string EncodeStart(const config::StartPosition& start) {
  using Kind = config::StartPosition::Kind;
  switch (start.kind) {
    case Kind::kEarliest: return "earliest";
    case Kind::kLatest: return "latest";
    case Kind::kLastN: return "last:" + std::to_string(start.last_n);
    case Kind::kTime: return "time:" + std::to_string(start.time_ms);
  }
  return "earliest";
}

Result<config::StartPosition> DecodeStart(const std::string& text) {
  config::StartPosition p;
  using Kind = config::StartPosition::Kind;
  try {
    if (text == "earliest") {
      p.kind = Kind::kEarliest;
    } else if (text == "latest") {
      p.kind = Kind::kLatest;
    } else if (text.rfind("last:", 0) == 0) {
      p.kind = Kind::kLastN;
      p.last_n = std::stoll(text.substr(5));
    } else if (text.rfind("time:", 0) == 0) {
      p.kind = Kind::kTime;
      p.time_ms = std::stoll(text.substr(5));
    } else {
      return Status::InvalidArgument("unknown start position \"" + text + "\"");
    }
  } catch (const std::exception&) {
    return Status::InvalidArgument("unknown start position \"" + text + "\"");
  }
  return p;
}

}  // namespace tomstream::stream
