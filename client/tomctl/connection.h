// tomctl's connection to the daemon: one channel, every call bounded by the same timeout.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "tomstream/v1/control.grpc.pb.h"

namespace tomctl {

inline constexpr const char* kDefaultSocket = "/run/tomstreamd/control.sock";

struct ConnectionOptions {
  // A Unix socket path (anything with a '/' or without a ':'), "unix:PATH", or a gRPC target
  // such as "127.0.0.1:50051" or "dns:///host:50051".
  std::string socket = kDefaultSocket;
  std::chrono::milliseconds timeout{5000};
};

// Thrown by commands for a one-line error; main() prints it and exits non-zero.
struct CommandError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Connection {
 public:
  explicit Connection(ConnectionOptions options);

  // A context whose deadline is the configured timeout from now.
  std::unique_ptr<grpc::ClientContext> NewContext() const;
  // A context without a deadline (for a live tail), after waiting (bounded by the timeout) for
  // the channel to connect.
  std::unique_ptr<grpc::ClientContext> NewStreamingContext();
  tomstream::v1::Control::Stub& stub();
  // Throws CommandError "<what>: <code>: <message> (socket <path>)" unless `st` is OK.
  void Check(const grpc::Status& st, const std::string& what) const;

  const ConnectionOptions& options() const { return options_; }

 private:
  // Fails fast, naming the socket, when nothing listens there (instead of waiting out the
  // timeout while gRPC retries).
  void ProbeUnixSocket() const;

  ConnectionOptions options_;
  std::string target_;
  std::string unix_path_;  // empty for TCP targets
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<tomstream::v1::Control::Stub> stub_;
};

}  // namespace tomctl
