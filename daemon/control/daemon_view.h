// What the control service needs from the rest of the daemon, as a plain interface.
// The gRPC layer (control_server.cc) translates between these structs and the proto; tests
// substitute their own DaemonView.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "common/status.h"

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
};

class DaemonView {
 public:
  virtual ~DaemonView() = default;
  // Thread-safe; called from RPC threads. Must not block on the store's writer.
  virtual DaemonSnapshot Snapshot() const = 0;
  virtual VersionInfo Versions() const = 0;
  // Changes the log level; on success `previous` holds the old one.
  virtual Status SetLogLevel(const std::string& level, std::string& previous) = 0;
};

}  // namespace tomstream::control
