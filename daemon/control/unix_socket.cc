#include "control/unix_socket.h"

#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

namespace tomstream::control {
namespace {

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

Status EnsureDirectory(const std::filesystem::path& dir) {
  if (dir.empty()) return Status::Ok();
  std::error_code ec;
  if (std::filesystem::is_directory(dir, ec)) return Status::Ok();
  TOMSTREAM_RETURN_IF_ERROR(EnsureDirectory(dir.parent_path()));
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return Status::IoError(Errno("cannot create socket directory " + dir.string()));
  }
  // mkdir applies the umask; members of the socket's group need to traverse the directory.
  if (chmod(dir.c_str(), 0755) != 0) {
    return Status::IoError(Errno("cannot set mode of " + dir.string()));
  }
  return Status::Ok();
}

}  // namespace

Result<int> TakeActivatedSocket(const std::string& path) {
  const int n = sd_listen_fds(1);
  if (n < 0) return Status::Internal(std::string("sd_listen_fds: ") + std::strerror(-n));
  if (n == 0) return -1;
  if (n > 1) {
    return Status::InvalidArgument("systemd passed " + std::to_string(n) +
                                   " sockets; the control socket unit must listen on one");
  }
  const int fd = SD_LISTEN_FDS_START;
  if (sd_is_socket_unix(fd, SOCK_STREAM, 1, nullptr, 0) <= 0) {
    return Status::InvalidArgument(
        "systemd passed a socket that is not a listening Unix stream socket; the control "
        "socket unit needs ListenStream= with a path");
  }
  sockaddr_un bound{};
  socklen_t len = sizeof(bound);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len) != 0) {
    return Status::IoError(Errno("getsockname on the socket systemd passed"));
  }
  const std::string bound_path(bound.sun_path);
  if (bound_path != path) {
    return Status::InvalidArgument("control.socket is " + path +
                                   " but systemd passed a socket listening on " + bound_path +
                                   "; make them the same");
  }
  return fd;
}

bool SocketAnswers(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path)) return false;
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const bool answers = connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return answers;
}

Result<LockFile> ClaimSocketPath(const std::string& path) {
  sockaddr_un addr{};
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return Status::InvalidArgument("control socket path must be 1-107 bytes: " + path);
  }
  TOMSTREAM_RETURN_IF_ERROR(EnsureDirectory(std::filesystem::path(path).parent_path()));

  auto lock = LockFile::Acquire(path + ".lock", "control socket " + path);
  if (!lock.ok()) return lock.status();

  struct stat st {};
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return Status::AlreadyExists("control socket path " + path +
                                   " exists and is not a socket; refusing to replace it");
    }
    if (SocketAnswers(path)) {
      return Status::AlreadyExists("another server is already answering on the control socket " +
                                   path);
    }
    if (unlink(path.c_str()) != 0 && errno != ENOENT) {
      return Status::IoError(Errno("cannot remove stale socket " + path));
    }
  }
  return std::move(lock).value();
}

Status SecureSocket(const std::string& path, const std::string& group_name) {
  if (!group_name.empty()) {
    std::vector<char> buf(16384);
    struct group grp {};
    struct group* found = nullptr;
    const int rc = getgrnam_r(group_name.c_str(), &grp, buf.data(), buf.size(), &found);
    if (rc != 0 || found == nullptr) {
      return Status::InvalidArgument("control.socket_group: no such group \"" + group_name + "\"");
    }
    if (chown(path.c_str(), static_cast<uid_t>(-1), found->gr_gid) != 0) {
      return Status::IoError(Errno("cannot give " + path + " to group " + group_name));
    }
  }
  if (chmod(path.c_str(), 0660) != 0) return Status::IoError(Errno("cannot chmod " + path));
  return Status::Ok();
}

}  // namespace tomstream::control
