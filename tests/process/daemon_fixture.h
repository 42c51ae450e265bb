// The fixture of the process-level tests: a private directory, a config file, the real
// tomstreamd started with a test-owned NOTIFY_SOCKET, and the real tomctl.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "notify_listener.h"
#include "subprocess.h"

namespace tomstream::testing {

class DaemonProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("tsd");
    socket_ = dir_ + "/run/control.sock";
    store_ = dir_ + "/state/tomstream.db";
    config_ = dir_ + "/tomstreamd.toml";
    WriteConfig("");
  }
  void TearDown() override {
    daemon_.reset();
    notify_.reset();
    if (!HasFailure()) std::filesystem::remove_all(dir_);
  }

  void WriteConfig(const std::string& extra) {
    WriteFile(config_, "[daemon]\nlog_level = \"debug\"\nshutdown_timeout_ms = 5000\n"
                       "[store]\npath = \"" + store_ + "\"\n"
                       "[control]\nsocket = \"" + socket_ + "\"\n" + extra);
  }

  // Starts the daemon and waits for READY=1 on a test-owned NOTIFY_SOCKET; `env` adds to the
  // daemon's environment.
  ::testing::AssertionResult StartDaemon(std::map<std::string, std::string> env = {}) {
    daemon_.reset();
    notify_.reset();  // before binding its path again
    notify_ = std::make_unique<NotifyListener>(dir_ + "/notify.sock");
    env["NOTIFY_SOCKET"] = notify_->path();
    daemon_ = std::make_unique<Subprocess>(
        std::vector<std::string>{TOMSTREAMD_BIN, "--config", config_}, dir_, env);
    if (!notify_->WaitFor("READY=1", std::chrono::seconds(20))) {
      return ::testing::AssertionFailure()
             << "no READY=1 within 20 s; stderr:\n" << daemon_->Stderr();
    }
    return ::testing::AssertionSuccess();
  }

  RunResult Tomctl(std::vector<std::string> args,
                   const std::map<std::string, std::string>& env = {}) {
    std::vector<std::string> argv{TOMCTL_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProgram(argv, dir_, std::chrono::seconds(30), env);
  }
  RunResult TomctlHere(std::vector<std::string> args) {
    args.insert(args.begin(), {"--socket", socket_});
    return Tomctl(args);
  }

  std::string dir_, socket_, store_, config_;
  std::unique_ptr<NotifyListener> notify_;
  std::unique_ptr<Subprocess> daemon_;
};

}  // namespace tomstream::testing
