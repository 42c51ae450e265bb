// tomctl's commands. Each sends one or a few calls to the daemon and prints the answer.
#pragma once

#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "connection.h"

namespace tomctl {

struct GlobalOptions {
  ConnectionOptions connection;
  bool json = false;
};

// Makes `sub` run `fn` with a connection to the daemon when it is used.
void OnRun(CLI::App* sub, GlobalOptions& globals, std::function<void(Connection&)> fn);

// Adds every command to `app`. A command's action runs with a connected Connection and writes
// to `out`; errors are thrown as CommandError.
void AddCommands(CLI::App& app, GlobalOptions& globals, std::ostream& out);

// topics, alerts, photometry, quarantine (stream_commands.cc).
void AddStreamCommands(CLI::App& app, GlobalOptions& globals, std::ostream& out);

// publish, outbox (outbox_commands.cc).
void AddOutboxCommands(CLI::App& app, GlobalOptions& globals, std::ostream& out);

}  // namespace tomctl
