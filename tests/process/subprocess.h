// Runs a program as a child process for process-level tests: start, signal, wait with a bound,
// and read what it printed.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tomstream::testing {

class Subprocess {
 public:
  // Starts `argv[0]` with `argv`; the child's environment is the parent's plus `env` (a value
  // of "" removes the variable). stdout and stderr go to files under `log_dir`.
  Subprocess(std::vector<std::string> argv, const std::string& log_dir,
             const std::map<std::string, std::string>& env = {});
  ~Subprocess();  // SIGKILLs the child if it still runs
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }
  void Signal(int sig) const;
  // The exit status (or 128 + signal number), or nullopt if it still runs after `limit`.
  std::optional<int> Wait(std::chrono::milliseconds limit);
  bool Running();

  std::string Stdout() const;
  std::string Stderr() const;

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string out_path_;
  std::string err_path_;
};

struct RunResult {
  int status = -1;  // exit status, 128 + signal, or -1 when it timed out (and was killed)
  std::string out;
  std::string err;
  std::chrono::milliseconds elapsed{0};
};

// Runs a program to completion, killing it after `limit`.
RunResult RunProgram(std::vector<std::string> argv, const std::string& log_dir,
              std::chrono::milliseconds limit, const std::map<std::string, std::string>& env = {});

// A fresh directory under $TMPDIR (or /tmp), short enough for Unix socket paths.
std::string MakeTempDir(const std::string& prefix);
std::string ReadFile(const std::string& path);
void WriteFile(const std::string& path, const std::string& content);

}  // namespace tomstream::testing
