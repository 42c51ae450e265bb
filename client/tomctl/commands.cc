#include "commands.h"

#include <cctype>
#include <memory>

#include "output.h"

namespace tomctl {
namespace {

namespace pb = tomstream::v1;

// Registers `name` as a subcommand whose callback opens a connection and calls `run`.
CLI::App* AddCommand(CLI::App& app, GlobalOptions& globals, const std::string& name,
                     const std::string& help, std::function<void(Connection&)> run) {
  CLI::App* sub = app.add_subcommand(name, help);
  OnRun(sub, globals, std::move(run));
  return sub;
}

std::string StateName(pb::StreamState state) {
  std::string name = pb::StreamState_Name(state);
  name = name.substr(std::string("STREAM_STATE_").size());
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

void PrintStatus(const pb::GetStatusResponse& s, std::ostream& out) {
  out << "tomstreamd " << s.version() << ", pid " << s.pid() << ", up "
      << FormatDuration(s.uptime()) << " (since " << FormatTime(s.started_at()) << ")\n";
  out << "  config:    " << s.config_path() << "\n";
  out << "  socket:    " << s.control_socket() << "\n";
  out << "  log level: " << s.log_level() << "\n";
  const pb::StoreStatus& st = s.store();
  out << "  store:     " << st.path() << " (schema v" << st.schema_version() << ", "
      << FormatBytes(st.size_bytes()) << " + " << FormatBytes(st.wal_size_bytes()) << " WAL)\n";
  if (!st.write_error().empty()) out << "  STORE REFUSES WRITES: " << st.write_error() << "\n";
  if (s.streams_size() == 0) {
    out << "  streams:   none\n";
  }
  for (const pb::StreamStatus& stream : s.streams()) {
    out << "  stream " << stream.name() << " (" << stream.bootstrap() << ", " << stream.security()
        << ", group " << stream.group_id() << "): " << StateName(stream.state()) << "\n";
    out << "    stored " << stream.stored() << ", duplicates " << stream.duplicates_skipped()
        << ", quarantined " << stream.quarantined() << ", skipped " << stream.skipped_test() << ", "
        << stream.messages_per_second() << " msg/s\n";
    if (!stream.last_error().empty()) {
      out << "    last error: " << stream.last_error() << " (" << FormatTime(stream.last_error_at())
          << ")\n";
    }
    if (stream.has_last_heartbeat_at()) {
      out << "    last heartbeat: " << FormatTime(stream.last_heartbeat_at()) << "\n";
    }
    for (const pb::PartitionStatus& p : stream.partitions()) {
      out << "    " << p.topic() << "[" << p.partition() << "]  offset " << p.stored_offset()
          << "  high " << p.high_watermark() << "  lag " << p.lag();
      if (p.has_last_message_at()) out << "  last " << FormatTime(p.last_message_at());
      out << "\n";
    }
  }
  if (s.has_outbox()) {
    const pb::OutboxStatus& o = s.outbox();
    out << "  outbox:    " << o.pending() << " pending, " << o.sending() << " sending, "
        << o.delivered() << " delivered, " << o.dead() << " dead, " << o.cancelled()
        << " cancelled; " << o.deliveries_per_second() << " deliveries/s";
    if (o.has_oldest_pending_age()) out << "; oldest pending " << FormatDuration(o.oldest_pending_age());
    out << "\n";
    for (const pb::DestinationStatus& d : o.destinations()) {
      out << "    destination " << d.name() << " (" << d.kind() << "): " << d.delivered()
          << " delivered since start\n";
      if (!d.last_error().empty()) {
        out << "      last error: " << d.last_error() << " (" << FormatTime(d.last_error_at())
            << ")\n";
      }
    }
  }
}

}  // namespace

void OnRun(CLI::App* sub, GlobalOptions& globals, std::function<void(Connection&)> fn) {
  sub->callback([&globals, fn = std::move(fn)] {
    Connection conn(globals.connection);
    fn(conn);
  });
}

void AddCommands(CLI::App& app, GlobalOptions& globals, std::ostream& out) {
  AddCommand(app, globals, "status", "Show the daemon's state", [&](Connection& conn) {
    pb::GetStatusResponse resp;
    auto ctx = conn.NewContext();
    conn.Check(conn.stub().GetStatus(ctx.get(), pb::GetStatusRequest(), &resp), "status");
    if (globals.json) {
      out << ToJson(resp);
    } else {
      PrintStatus(resp, out);
    }
  });

  AddCommand(app, globals, "version", "Show the daemon's (and tomctl's) version",
             [&](Connection& conn) {
               pb::GetVersionResponse resp;
               auto ctx = conn.NewContext();
               conn.Check(conn.stub().GetVersion(ctx.get(), pb::GetVersionRequest(), &resp),
                          "version");
               if (globals.json) {
                 out << ToJson(resp);
                 return;
               }
               out << "tomstreamd " << resp.version();
               if (!resp.git_revision().empty()) out << " (" << resp.git_revision() << ")";
               out << "\n  api " << resp.api_version() << ", librdkafka "
                   << resp.librdkafka_version() << ", SQLite " << resp.sqlite_version()
                   << ", gRPC " << resp.grpc_version() << "\n";
             });

  CLI::App* log = app.add_subcommand("log-level", "Change the daemon's log level until restart");
  auto level = std::make_shared<std::string>();
  log->add_option("level", *level, "trace, debug, info, warn, error, critical or off")
      ->required();
  OnRun(log, globals, [&globals, &out, level](Connection& conn) {
    pb::SetLogLevelRequest req;
    req.set_level(*level);
    pb::SetLogLevelResponse resp;
    auto ctx = conn.NewContext();
    conn.Check(conn.stub().SetLogLevel(ctx.get(), req, &resp), "log-level");
    if (globals.json) {
      out << ToJson(resp);
    } else {
      out << "log level " << resp.previous_level() << " -> " << resp.level() << "\n";
    }
  });
  AddStreamCommands(app, globals, out);
  AddOutboxCommands(app, globals, out);
}

}  // namespace tomctl
