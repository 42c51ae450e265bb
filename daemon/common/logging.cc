#include "common/logging.h"

#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace tomstream {
namespace {

constexpr std::array<std::pair<std::string_view, spdlog::level::level_enum>, 7> kLevels{{
    {"trace", spdlog::level::trace},
    {"debug", spdlog::level::debug},
    {"info", spdlog::level::info},
    {"warn", spdlog::level::warn},
    {"error", spdlog::level::err},
    {"critical", spdlog::level::critical},
    {"off", spdlog::level::off},
}};

// The current thread's fields, innermost last: "TOMSTREAM_STREAM=gcn".
thread_local std::vector<std::string> tls_fields;

int SyslogPriority(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug: return 7;
    case spdlog::level::info: return 6;
    case spdlog::level::warn: return 4;
    case spdlog::level::err: return 3;
    case spdlog::level::critical: return 2;
    default: return 6;
  }
}

// Records to journald through sd_journal_sendv(): MESSAGE, PRIORITY, SYSLOG_IDENTIFIER, the
// source location, and the thread's LogFields. (spdlog's own systemd sink has no way to add
// fields.)
class JournalSink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    std::vector<std::string> fields;
    fields.reserve(6 + tls_fields.size());
    fields.push_back("MESSAGE=" + std::string(msg.payload.data(), msg.payload.size()));
    fields.push_back("PRIORITY=" + std::to_string(SyslogPriority(msg.level)));
    fields.push_back("SYSLOG_IDENTIFIER=tomstreamd");
    fields.push_back("TID=" + std::to_string(msg.thread_id));
    if (msg.source.filename != nullptr) {
      fields.push_back(std::string("CODE_FILE=") + msg.source.filename);
      fields.push_back("CODE_LINE=" + std::to_string(msg.source.line));
    }
    // A field set again in an inner scope replaces the outer value.
    for (auto it = tls_fields.rbegin(); it != tls_fields.rend(); ++it) {
      const std::string_view name(it->data(), it->find('=') + 1);
      const bool inner_has_it = std::any_of(fields.begin(), fields.end(), [&](const auto& f) {
        return std::string_view(f).starts_with(name);
      });
      if (!inner_has_it) fields.push_back(*it);
    }
    std::vector<iovec> iov(fields.size());
    for (size_t i = 0; i < fields.size(); ++i) {
      iov[i].iov_base = fields[i].data();
      iov[i].iov_len = fields[i].size();
    }
    // Nothing sensible to do when journald is away: the record is lost either way.
    (void)sd_journal_sendv(iov.data(), static_cast<int>(iov.size()));
  }
  void flush_() override {}
};

}  // namespace

LogField::LogField(std::string_view name, std::string value) {
  std::string field = "TOMSTREAM_";
  field += name;
  field += '=';
  field += value;
  tls_fields.push_back(std::move(field));
}

LogField::~LogField() { tls_fields.pop_back(); }

std::optional<spdlog::level::level_enum> ParseLogLevel(std::string_view name) {
  for (const auto& [n, level] : kLevels) {
    if (n == name) return level;
  }
  return std::nullopt;
}

std::string_view LogLevelName(spdlog::level::level_enum level) {
  for (const auto& [n, l] : kLevels) {
    if (l == level) return n;
  }
  return "info";
}

bool StderrIsJournal() {
  const char* env = std::getenv("JOURNAL_STREAM");
  if (env == nullptr) return false;
  unsigned long long dev = 0;
  unsigned long long ino = 0;
  if (std::sscanf(env, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st {};
  if (fstat(STDERR_FILENO, &st) != 0) return false;
  return st.st_dev == dev && st.st_ino == ino;
}

void SetupLogging(spdlog::level::level_enum level) {
  std::shared_ptr<spdlog::logger> logger;
  if (StderrIsJournal()) {
    auto sink = std::make_shared<JournalSink>();
    logger = std::make_shared<spdlog::logger>("tomstreamd", std::move(sink));
  } else {
    auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    logger = std::make_shared<spdlog::logger>("tomstreamd", std::move(sink));
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ [%t] %v");
  }
  logger->set_level(level);
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace tomstream
