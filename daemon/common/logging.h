// Process-wide logging set-up (spdlog).
//
// Under systemd (JOURNAL_STREAM names our stderr) records go to journald with their priority;
// otherwise to stderr with a timestamp. All modules log through spdlog's default logger.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <spdlog/common.h>

namespace tomstream {

// Parses "trace", "debug", "info", "warn", "error", "critical" or "off".
std::optional<spdlog::level::level_enum> ParseLogLevel(std::string_view name);
std::string_view LogLevelName(spdlog::level::level_enum level);

// True when stderr is the journal stream systemd connected us to ($JOURNAL_STREAM = dev:inode).
bool StderrIsJournal();

// Installs the default logger. Call once, early, before other threads start.
void SetupLogging(spdlog::level::level_enum level);

}  // namespace tomstream
