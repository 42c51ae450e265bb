// An exclusive, advisory lock on a file (flock), naming its holder's pid.
//
// Used to make sure one daemon at a time owns a store and a control socket. The lock belongs to
// the open file description: it is released when the LockFile is destroyed or the process dies,
// so a crashed daemon never leaves a stale lock behind.
#pragma once

#include <string>

#include "common/status.h"

namespace tomstream {

class LockFile {
 public:
  // Creates `path` (mode 0600) if needed and locks it without waiting. Fails with
  // ALREADY_EXISTS, naming `what` and the holder's pid, when another process holds it.
  static Result<LockFile> Acquire(const std::string& path, const std::string& what);

  LockFile() = default;
  LockFile(LockFile&& other) noexcept;
  LockFile& operator=(LockFile&& other) noexcept;
  LockFile(const LockFile&) = delete;
  LockFile& operator=(const LockFile&) = delete;
  ~LockFile();

  bool held() const { return fd_ >= 0; }

 private:
  explicit LockFile(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace tomstream
