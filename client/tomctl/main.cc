// tomctl: the command-line client of tomstreamd's control socket.
//
// Exit status: 0 on success; 1 when the daemon cannot be reached or answers with an error
// (one line on stderr says why); CLI11's codes for usage errors.
#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>

#include "commands.h"

int main(int argc, char** argv) {
  tomctl::GlobalOptions globals;
  if (const char* env = std::getenv("TOMSTREAM_SOCKET"); env != nullptr && *env != '\0') {
    globals.connection.socket = env;
  }
  CLI::App app{"tomctl: control a running tomstreamd", "tomctl"};
  app.require_subcommand(1);
  app.add_option("-s,--socket", globals.connection.socket,
                 "Control socket path or gRPC target (env TOMSTREAM_SOCKET)")
      ->capture_default_str();
  double timeout_s = 5.0;
  app.add_option("-t,--timeout", timeout_s, "Seconds to wait for the daemon")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 3600.0));
  app.add_flag("--json", globals.json, "Print JSON (proto field names) instead of text");
  app.parse_complete_callback([&] {
    globals.connection.timeout = std::chrono::milliseconds(static_cast<long long>(timeout_s * 1000));
  });
  tomctl::AddCommands(app, globals, std::cout);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const tomctl::CommandError& e) {
    std::cerr << "tomctl: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
