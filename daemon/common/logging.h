// Process-wide logging set-up (spdlog).
//
// Under systemd (JOURNAL_STREAM names our stderr) records go to journald with their priority
// and structured fields; otherwise to stderr with a timestamp. All modules log through spdlog's
// default logger.
//
// Structured fields: a LogField set on a thread adds a journal field to every record that thread
// logs while it is in scope, e.g. TOMSTREAM_STREAM=gcn on a consumer thread, so that
// `journalctl TOMSTREAM_STREAM=gcn` shows one stream's records. On stderr they are not shown
// (the messages name what they are about).
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

// A journal field for the current thread's records while in scope. `name` is the part after
// "TOMSTREAM_" (upper case, digits and underscores: STREAM, TOPIC, PARTITION, OFFSET,
// DESTINATION, OUTBOX_UUID). Scopes nest; an inner field of the same name wins.
class LogField {
 public:
  LogField(std::string_view name, std::string value);
  ~LogField();
  LogField(const LogField&) = delete;
  LogField& operator=(const LogField&) = delete;
};

}  // namespace tomstream
