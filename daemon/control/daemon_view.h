// What the control service needs from the rest of the daemon, as a plain interface.
// The gRPC layer (control_server.cc) translates between these structs and the proto; tests
// substitute their own DaemonView.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>
#include <string>

#include "common/status.h"
#include "outbox/outbox.h"
#include "store/outbox.h"
#include "store/queries.h"
#include "stream/stream_manager.h"
#include "stream/stream_status.h"

namespace tomstream::control {

struct VersionInfo {
  std::string version;
  std::string git_revision;
  std::string librdkafka_version;
  std::string sqlite_version;
};

struct StoreSnapshot {
  std::string path;
  int schema_version = 0;
  int64_t size_bytes = 0;
  int64_t wal_size_bytes = 0;
  std::string write_error;
};

struct DaemonSnapshot {
  std::string version;
  int pid = 0;
  std::chrono::system_clock::time_point started_at;
  std::chrono::steady_clock::duration uptime{};
  std::string config_path;
  std::string control_socket;
  std::string log_level;
  StoreSnapshot store;
  std::vector<stream::StreamStatusSnapshot> streams;
  std::optional<outbox::OutboxStatus> outbox;  // absent when the daemon has no outbox
};

class DaemonView {
 public:
  virtual ~DaemonView() = default;
  // Thread-safe; called from RPC threads. Must not block on the store's writer.
  virtual DaemonSnapshot Snapshot() const = 0;
  virtual VersionInfo Versions() const = 0;
  // Changes the log level; on success `previous` holds the old one.
  virtual Status SetLogLevel(const std::string& level, std::string& previous) = 0;

  // Streams and routes. The defaults answer UNIMPLEMENTED (for views that have no streams).
  virtual Result<stream::RouteInfo> AddRoute(const std::string& stream, stream::Route route);
  virtual Status RemoveRoute(int64_t id);
  virtual Result<std::vector<stream::RouteInfo>> ListRoutes(const std::string& stream);
  virtual Result<std::vector<stream::PartitionStatusSnapshot>> SeekRoute(
      int64_t id, const std::string& stream, const std::string& topic,
      const config::StartPosition& position, std::optional<int64_t> offset);

  // Stored alerts (see store/queries.h for the paging rules).
  virtual Result<std::vector<store::AlertRow>> ListAlerts(const store::AlertFilter& filter,
                                                          int64_t before_id, int limit);
  virtual Result<std::vector<store::AlertRow>> AlertsAfter(const store::AlertFilter& filter,
                                                           int64_t after_id, int limit);
  virtual Result<store::AlertRow> GetAlert(int64_t id);
  virtual Result<int64_t> LatestAlertId();
  // Blocks until an alert newer than `after_id` is committed or `limit` passes.
  virtual void WaitForAlerts(int64_t after_id, std::chrono::milliseconds limit);
  virtual Result<std::vector<store::PhotometryRow>> ListPhotometry(
      const std::string& target, std::optional<double> jd_from, std::optional<double> jd_to,
      int64_t after_id, int limit);
  virtual Result<std::vector<store::QuarantineRow>> ListQuarantine(const std::string& stream,
                                                                   const std::string& topic,
                                                                   bool include_payload,
                                                                   int64_t before_id, int limit);

  // The outbox (see outbox/outbox.h). uuids are 16 raw bytes.
  virtual Result<std::vector<store::EnqueueOutcome>> EnqueuePhotometry(
      std::vector<outbox::PhotometryMessage> messages, bool validate_only);
  virtual Result<std::vector<store::OutboxEntry>> ListOutbox(const store::OutboxFilter& filter,
                                                             int64_t before_id, int limit);
  virtual Result<store::OutboxEntry> GetOutboxEntry(const std::string& uuid);
  virtual Result<store::OutboxEntry> RetryOutboxEntry(const std::string& uuid);
  virtual Result<store::OutboxEntry> CancelOutboxEntry(const std::string& uuid);
};

}  // namespace tomstream::control
