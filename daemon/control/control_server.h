// The gRPC control server. This header is free of gRPC types; only control_server.cc includes
// gRPC.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "common/lock_file.h"
#include "common/status.h"
#include "control/daemon_view.h"

namespace tomstream::control {

struct ControlServerOptions {
  std::string socket_path;
  std::string socket_group;  // empty: the daemon's group
  std::string tcp_listen;    // empty: no TCP listener
  int max_message_bytes = 4 * 1024 * 1024;
  // A listening socket systemd passed for socket_path (TakeActivatedSocket()), or -1. The
  // server then accepts on it instead of creating the socket, and leaves the file alone.
  int listen_fd = -1;
};

class ControlServer {
 public:
  // Claims the socket path: see ClaimSocketPath() in unix_socket.h (with an activated socket,
  // only its lock). Done before the rest of the daemon starts, so that a second daemon gives up
  // before touching anything.
  static Result<LockFile> Claim(const ControlServerOptions& options);

  // Starts serving on the claimed socket with reflection enabled and sets the socket's group and
  // mode 0660. `view` must outlive the server. On failure nothing is left listening and the
  // error names the socket (or TCP address).
  static Result<std::unique_ptr<ControlServer>> Start(const ControlServerOptions& options,
                                                      LockFile claim, DaemonView& view);

  // Makes a GetVersion call through the server's own handler threads, waiting up to `limit`: the
  // watchdog's proof that the server still answers.
  Status Probe(std::chrono::milliseconds limit);

  // Stops accepting calls, lets in-flight calls finish for up to `grace`, cancels the rest and
  // removes the socket file. Idempotent.
  void Shutdown(std::chrono::milliseconds grace);

  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

 private:
  struct Impl;
  explicit ControlServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tomstream::control
