#include "notify_listener.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <sstream>
#include <stdexcept>

namespace tomstream::testing {

NotifyListener::NotifyListener(std::string path) : path_(std::move(path)) {
  fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path_.size() >= sizeof(addr.sun_path)) throw std::runtime_error("path too long: " + path_);
  std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
  unlink(path_.c_str());
  if (bind(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    throw std::runtime_error("bind " + path_ + ": " + std::strerror(errno));
  }
}

NotifyListener::~NotifyListener() {
  if (fd_ >= 0) close(fd_);
  unlink(path_.c_str());
}

std::optional<std::string> NotifyListener::Next(std::chrono::milliseconds limit) {
  pollfd p{fd_, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(limit.count())) <= 0) return std::nullopt;
  char buf[4096];
  const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
  if (n < 0) return std::nullopt;
  received_.emplace_back(buf, static_cast<size_t>(n));
  return received_.back();
}

std::optional<std::string> NotifyListener::WaitFor(const std::string& line,
                                                   std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    auto msg = Next(left);
    if (!msg) return std::nullopt;
    std::istringstream lines(*msg);
    std::string l;
    while (std::getline(lines, l)) {
      if (l == line) return msg;
    }
  }
}

}  // namespace tomstream::testing
