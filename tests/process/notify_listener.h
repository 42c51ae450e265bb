// A test-owned $NOTIFY_SOCKET: receives the datagrams a daemon sends with sd_notify().
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace tomstream::testing {

class NotifyListener {
 public:
  explicit NotifyListener(std::string path);  // binds a datagram socket at `path`
  ~NotifyListener();
  NotifyListener(const NotifyListener&) = delete;
  NotifyListener& operator=(const NotifyListener&) = delete;

  const std::string& path() const { return path_; }
  // The next datagram, or nullopt after `limit`.
  std::optional<std::string> Next(std::chrono::milliseconds limit);
  // Reads datagrams until one contains the line `line` (e.g. "READY=1"); returns it, or nullopt
  // after `limit`. Every datagram read is kept in received().
  std::optional<std::string> WaitFor(const std::string& line, std::chrono::milliseconds limit);
  const std::vector<std::string>& received() const { return received_; }

 private:
  std::string path_;
  int fd_ = -1;
  std::vector<std::string> received_;
};

}  // namespace tomstream::testing
