// Claiming and securing the control socket's path.
//
// Before the gRPC server binds, ClaimSocketPath() makes sure no other daemon serves the path:
// it takes an exclusive lock on "<path>.lock" (held for the daemon's life), then probes the
// socket. A socket that answers belongs to a live server and startup fails; one that refuses
// connections is stale and is removed. gRPC then creates the socket under the daemon's umask
// (0077: owner only), and SecureSocket() hands it to the configured group and widens it to 0660,
// so permissions only ever widen and there is no window in which the socket is too open.
#pragma once

#include <string>

#include "common/lock_file.h"
#include "common/status.h"

namespace tomstream::control {

// Creates the socket's directory if missing (mode 0755), locks "<path>.lock" for this process
// and removes a stale socket. Fails with ALREADY_EXISTS, naming the path, when another process
// serves it.
// The returned lock must be held for as long as the socket is served.
Result<LockFile> ClaimSocketPath(const std::string& path);

// Sets the socket's group (when `group` is not empty) and mode 0660.
Status SecureSocket(const std::string& path, const std::string& group);

// The listening control socket systemd passed to us (socket activation, sd_listen_fds()), or
// -1 when it passed none. Fails, naming both paths, when it passed more than one socket, a socket
// of another kind, or one bound to a path other than `path` (control.socket must name the path
// of the .socket unit's ListenStream=, so that tomctl's default finds it). Clears $LISTEN_FDS so
// that child processes do not see it.
Result<int> TakeActivatedSocket(const std::string& path);

// True when something accepts connections on the Unix socket at `path`.
bool SocketAnswers(const std::string& path);

}  // namespace tomstream::control
