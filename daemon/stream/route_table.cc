#include "stream/route_table.h"

#include <algorithm>

namespace tomstream::stream {

std::string WildcardToRegex(const std::string& pattern) {
  std::string re;
  for (char c : pattern) {
    switch (c) {
      case '*': re += ".*"; break;
      case '?': re += '.'; break;
      case '.': case '^': case '$': case '|': case '(': case ')': case '[': case ']':
      case '{': case '}': case '+': case '\\': case '/':
        re += '\\';
        re += c;
        break;
      default: re += c;
    }
  }
  return re;
}

RouteTable::RouteTable(std::vector<Route> routes) : routes_(std::move(routes)) {
  using Match = config::RouteConfig::Match;
  for (Match kind : {Match::kPattern, Match::kRegex}) {
    for (size_t i = 0; i < routes_.size(); ++i) {
      if (routes_[i].match != kind) continue;
      const std::string re = kind == Match::kPattern ? WildcardToRegex(routes_[i].topic)
                                                     : routes_[i].topic;
      compiled_.push_back({i, std::regex(re, std::regex::ECMAScript | std::regex::optimize)});
    }
  }
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
      if (std::regex_match(topic, c.re)) {
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
      if (std::regex_match(topic, c.re)) {
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
