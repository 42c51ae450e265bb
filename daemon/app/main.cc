// tomstreamd: durable Kafka alert subscriptions and Hermes publishing for TOMs.
#include <sys/stat.h>

#include <cstdio>
#include <iostream>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "app/daemon.h"
#include "common/logging.h"
#include "common/version.h"
#include "config/config.h"

int main(int argc, char** argv) {
  using namespace tomstream;
  // Files and sockets start owner-only; the control socket is widened to 0660 deliberately.
  umask(0077);
  app::BlockSignals();

  CLI::App cli{"tomstreamd: durable Kafka alert subscriptions and Hermes publishing for TOMs",
               "tomstreamd"};
  std::string config_path = config::kDefaultConfigPath;
  bool check_only = false;
  bool show_version = false;
  cli.add_option("-c,--config", config_path, "Configuration file")
      ->capture_default_str();
  cli.add_flag("--check-config", check_only,
               "Validate the configuration (including secrets) and exit: 0 when valid");
  cli.add_flag("-V,--version", show_version, "Print the version and exit");
  CLI11_PARSE(cli, argc, argv);

  if (show_version) {
    std::cout << "tomstreamd " << kVersion;
    if (*kGitRevision != '\0') std::cout << " (" << kGitRevision << ")";
    std::cout << '\n';
    return 0;
  }

  auto loaded = config::LoadConfig(config_path, config::SecretResolver::System());
  if (!loaded.ok()) {
    std::fprintf(stderr, "tomstreamd: invalid configuration:\n%s\n",
                 loaded.status().message().c_str());
    return 1;
  }
  if (check_only) {
    std::printf("%s: configuration is valid\n", config_path.c_str());
    return 0;
  }

  SetupLogging(*ParseLogLevel(loaded->daemon.log_level));
  app::Daemon daemon(std::move(loaded).value());
  const int status = daemon.Run();
  spdlog::shutdown();
  return status;
}
