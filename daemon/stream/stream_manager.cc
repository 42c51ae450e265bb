#include "stream/stream_manager.h"

#include <regex>
#include <thread>

#include <spdlog/spdlog.h>

#include "common/text.h"
#include "handlers/handler.h"
#include "kafka/client_config.h"
#include "store/routes.h"
#include "store/store.h"

namespace tomstream::stream {
namespace {

using Match = config::RouteConfig::Match;

const char* MatchName(Match m) {
  switch (m) {
    case Match::kExact: return "exact";
    case Match::kPattern: return "pattern";
    case Match::kRegex: return "regex";
  }
  return "exact";
}

Match ParseMatch(const std::string& s) {
  if (s == "pattern") return Match::kPattern;
  if (s == "regex") return Match::kRegex;
  return Match::kExact;
}

Route FromConfig(const config::RouteConfig& rc) {
  Route r;
  r.match = rc.match;
  r.topic = rc.topic;
  r.handler = rc.handler;
  r.start = rc.start;
  r.include_test = rc.include_test;
  return r;
}

}  // namespace

StreamManager::StreamManager(const config::Config& config, store::Store& store)
    : store_(store), config_(config) {}

StreamManager::~StreamManager() { Stop(std::chrono::seconds(10)); }

const config::StreamConfig* StreamManager::FindStream(const std::string& name) const {
  for (const auto& s : config_.streams) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

RouteTable StreamManager::TableFor(const std::string& stream) const {
  std::vector<Route> routes;
  if (const auto* s = FindStream(stream)) {
    for (const auto& rc : s->routes) routes.push_back(FromConfig(rc));
  }
  for (const auto& info : runtime_routes_) {
    if (info.stream == stream) routes.push_back(info.route);
  }
  return RouteTable(std::move(routes));
}

Status StreamManager::Start() {
  store::RouteStore route_store(store_);
  auto stored = route_store.List();
  if (!stored.ok()) return stored.status().WithContext("loading runtime routes");
  {
    std::lock_guard lock(mu_);
    for (const auto& sr : *stored) {
      if (FindStream(sr.stream) == nullptr) {
        // Kept: a reload that configures the stream again brings the route back into use.
        spdlog::warn("runtime route {} names stream {}, which is not configured; unused for now",
                     sr.id, sr.stream);
      }
      auto start = DecodeStart(sr.start);
      RouteInfo info;
      info.stream = sr.stream;
      info.route = {sr.id, ParseMatch(sr.match), sr.topic, sr.handler,
                    start.ok() ? std::optional(*start) : std::nullopt, sr.include_test};
      info.runtime = true;
      info.created_at_ms = sr.created_at_ms;
      runtime_routes_.push_back(std::move(info));
    }
  }
  std::lock_guard lock(mu_);
  for (const auto& s : config_.streams) {
    if (s.active) consumers_.emplace(s.name, StartConsumer(s));
  }
  return Status::Ok();
}

std::shared_ptr<StreamConsumer> StreamManager::StartConsumer(const config::StreamConfig& s) {
  ConsumerOptions options;
  options.stream = s;
  options.commit_max_messages = config_.store.commit_max_messages;
  options.commit_max_delay = config_.store.commit_max_delay;
  options.topic_refresh = s.topic_refresh;
  auto consumer = std::make_shared<StreamConsumer>(std::move(options), store_, TableFor(s.name));
  consumer->Start();
  return consumer;
}

std::shared_ptr<StreamConsumer> StreamManager::ConsumerFor(const std::string& stream) const {
  std::lock_guard lock(mu_);
  auto it = consumers_.find(stream);
  return it == consumers_.end() ? nullptr : it->second;
}

namespace {

// Stops the consumers in parallel, each bounded by `budget`.
void StopAll(const std::vector<std::shared_ptr<StreamConsumer>>& consumers,
             std::chrono::milliseconds budget) {
  std::vector<std::thread> stoppers;
  for (const auto& c : consumers) stoppers.emplace_back([c, budget] { c->Stop(budget); });
  for (auto& t : stoppers) t.join();
}

// The stream's settings apart from its routes.
config::StreamConfig WithoutRoutes(config::StreamConfig s) {
  s.routes.clear();
  return s;
}

}  // namespace

void StreamManager::Stop(std::chrono::milliseconds budget) {
  std::vector<std::shared_ptr<StreamConsumer>> all;
  {
    std::lock_guard lock(mu_);
    for (auto& [name, consumer] : consumers_) all.push_back(consumer);
  }
  StopAll(all, budget);
}

std::vector<std::string> StreamManager::Reload(const config::Config& next,
                                               std::chrono::milliseconds budget) {
  std::vector<std::string> changes;
  std::vector<std::string> restart;  // names of streams to stop (and start again if present)
  std::map<std::string, std::shared_ptr<StreamConsumer>> stopping;
  {
    std::lock_guard lock(mu_);
    const bool commit_changed =
        next.store.commit_max_messages != config_.store.commit_max_messages ||
        next.store.commit_max_delay != config_.store.commit_max_delay;
    for (const auto& old : config_.streams) {
      const auto it = std::find_if(next.streams.begin(), next.streams.end(),
                                   [&](const auto& n) { return n.name == old.name; });
      if (it == next.streams.end()) {
        changes.push_back("stream " + old.name + " removed");
        restart.push_back(old.name);
      } else if (commit_changed || WithoutRoutes(old) != WithoutRoutes(*it)) {
        changes.push_back("stream " + old.name + " changed: restarted");
        restart.push_back(old.name);
      } else if (old.routes != it->routes) {
        changes.push_back("stream " + old.name + ": routes changed");
      }
    }
    for (const auto& n : next.streams) {
      if (FindStream(n.name) == nullptr) changes.push_back("stream " + n.name + " added");
    }
    for (const auto& name : restart) {
      if (auto it = consumers_.find(name); it != consumers_.end()) {
        stopping.insert(consumers_.extract(it));
      }
    }
  }
  // Stopped outside the lock: status and route calls go on meanwhile.
  std::vector<std::shared_ptr<StreamConsumer>> to_stop;
  for (auto& [name, c] : stopping) to_stop.push_back(c);
  StopAll(to_stop, budget);

  std::lock_guard lock(mu_);
  for (const auto& c : to_stop) {
    if (c->ClientLeftBehind()) retired_.push_back(c);
  }
  config_ = next;
  for (const auto& s : config_.streams) {
    if (!s.active) continue;  // an active stream made inactive was stopped above
    auto it = consumers_.find(s.name);
    if (it == consumers_.end()) {
      consumers_.emplace(s.name, StartConsumer(s));
    } else {
      it->second->SetRoutes(TableFor(s.name));
    }
  }
  return changes;
}

std::vector<std::string> StreamManager::Stalled(std::chrono::milliseconds limit) const {
  std::vector<std::string> out;
  std::lock_guard lock(mu_);
  for (const auto& [name, consumer] : consumers_) {
    if (consumer->SinceProgress() > limit) out.push_back("stream " + name);
  }
  return out;
}

Result<RouteInfo> StreamManager::AddRoute(const std::string& stream, Route route) {
  std::optional<config::StartPosition> stream_start;
  {
    std::lock_guard lock(mu_);
    if (const auto* s = FindStream(stream)) stream_start = s->start;
  }
  if (!stream_start) {
    return Status::InvalidArgument("route.stream: no configured stream " + Quoted(stream));
  }
  if (route.topic.empty()) {
    return Status::InvalidArgument("route: give one of topic, pattern or regex");
  }
  if (route.topic.size() > config::kMaxRouteExpressionBytes) {
    const std::string field = route.match == Match::kExact ? "topic" : MatchName(route.match);
    return Status::InvalidArgument("route." + field + ": is longer than " +
                                   std::to_string(config::kMaxRouteExpressionBytes) +
                                   " characters");
  }
  if (handlers::MakeHandler(route.handler) == nullptr) {
    return Status::InvalidArgument("route.handler: must be one of hermes, gcn, raw, log; not " +
                                   Quoted(route.handler));
  }
  if (route.match == Match::kRegex) {
    try {
      std::regex re(route.topic, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      return Status::InvalidArgument(std::string("route.regex: not a valid regular expression: ") +
                                     e.what());
    }
  }
  if (route.start && route.start->kind == config::StartPosition::Kind::kLastN &&
      route.start->last_n <= 0) {
    return Status::InvalidArgument("route.start.last_n: must be greater than 0");
  }
  store::StoredRoute sr;
  sr.stream = stream;
  sr.match = MatchName(route.match);
  sr.topic = route.topic;
  sr.handler = route.handler;
  sr.start = route.start ? EncodeStart(*route.start) : "";
  sr.include_test = route.include_test;
  if (sr.start.empty()) sr.start = EncodeStart(*stream_start);
  store::RouteStore route_store(store_);
  auto added = route_store.Add(sr);
  if (!added.ok()) return added.status();

  RouteInfo info;
  info.stream = stream;
  info.route = route;
  info.route.id = added->id;
  info.runtime = true;
  info.created_at_ms = added->created_at_ms;
  {
    std::lock_guard lock(mu_);
    runtime_routes_.push_back(info);
    if (auto it = consumers_.find(stream); it != consumers_.end()) {
      it->second->SetRoutes(TableFor(stream));
    }
  }
  spdlog::info("route {} added: stream {} {} \"{}\" -> {}", info.route.id, stream,
               MatchName(route.match), route.topic, route.handler);
  return info;
}

Status StreamManager::RemoveRoute(int64_t id) {
  store::RouteStore route_store(store_);
  TOMSTREAM_RETURN_IF_ERROR(route_store.Remove(id));
  {
    std::lock_guard lock(mu_);
    std::string stream;
    for (auto it = runtime_routes_.begin(); it != runtime_routes_.end(); ++it) {
      if (it->route.id == id) {
        stream = it->stream;
        runtime_routes_.erase(it);
        break;
      }
    }
    if (auto it = consumers_.find(stream); it != consumers_.end()) {
      it->second->SetRoutes(TableFor(stream));
    }
  }
  spdlog::info("route {} removed", id);
  return Status::Ok();
}

std::vector<RouteInfo> StreamManager::ListRoutes(const std::string& stream) const {
  std::vector<RouteInfo> out;
  std::map<std::string, RouteTable> tables;
  {
    std::lock_guard lock(mu_);
    for (const auto& s : config_.streams) {
      if (!stream.empty() && s.name != stream) continue;
      for (const auto& rc : s.routes) out.push_back({s.name, FromConfig(rc), false, 0, {}});
    }
    for (const auto& info : runtime_routes_) {
      if (stream.empty() || info.stream == stream) out.push_back(info);
    }
    for (const auto& info : out) {
      if (!tables.contains(info.stream)) tables.emplace(info.stream, TableFor(info.stream));
    }
  }
  for (auto& info : out) {
    const auto consumer = ConsumerFor(info.stream);
    if (consumer == nullptr) continue;
    const RouteTable& table = tables.at(info.stream);
    for (const auto& topic : consumer->status().subscribed_topics) {
      const Route* winner = table.Match(topic);
      if (winner != nullptr && winner->id == info.route.id && winner->topic == info.route.topic &&
          winner->match == info.route.match) {
        info.matched_topics.push_back(topic);
      }
    }
  }
  return out;
}

Result<std::vector<PartitionStatusSnapshot>> StreamManager::SeekRoute(
    int64_t id, const std::string& stream, const std::string& topic,
    const config::StartPosition& position, std::optional<int64_t> offset) {
  std::optional<RouteInfo> found;
  for (const auto& info : ListRoutes(stream)) {
    if (id != 0 ? info.route.id == id : (info.stream == stream && info.route.topic == topic)) {
      found = info;
      break;
    }
  }
  if (!found) {
    if (id != 0) return Status::NotFound("no runtime route with id " + std::to_string(id));
    // A topic without a route of its own text: seek the topic itself, if a route selects it.
    bool configured = false;
    {
      std::lock_guard lock(mu_);
      configured = FindStream(stream) != nullptr;
    }
    if (!configured) {
      return Status::InvalidArgument("stream: no configured stream " + Quoted(stream));
    }
    Route exact;
    exact.topic = topic;
    found = RouteInfo{stream, exact, false, 0, {}};
  }
  const auto consumer = ConsumerFor(found->stream);
  if (consumer == nullptr) {
    return Status::FailedPrecondition("stream " + found->stream + " is not active");
  }
  SeekRequest req;
  req.route = found->route;
  req.position = position;
  req.absolute_offset = offset;
  return consumer->Seek(req);
}

std::vector<StreamStatusSnapshot> StreamManager::Snapshot() const {
  // Each entry: a running consumer, or the snapshot of an inactive stream. status() is called
  // outside mu_, as it may wait for a consumer busy with the broker.
  std::vector<std::pair<std::shared_ptr<StreamConsumer>, StreamStatusSnapshot>> entries;
  {
    std::lock_guard lock(mu_);
    for (const auto& s : config_.streams) {
      auto it = consumers_.find(s.name);
      if (it != consumers_.end()) {
        entries.emplace_back(it->second, StreamStatusSnapshot{});
        continue;
      }
      StreamStatusSnapshot snap;
      snap.name = s.name;
      snap.security = config::SecurityName(s.security);
      snap.group_id = s.group_id;
      snap.bootstrap = kafka::BootstrapServers(s);
      snap.state = StreamState::kInactive;
      entries.emplace_back(nullptr, std::move(snap));
    }
  }
  std::vector<StreamStatusSnapshot> out;
  out.reserve(entries.size());
  for (auto& [consumer, snap] : entries) {
    out.push_back(consumer ? consumer->status() : std::move(snap));
  }
  return out;
}

}  // namespace tomstream::stream
