#include "commands.h"

#include <memory>

#include "output.h"

namespace tomctl {
namespace {

namespace pb = tomstream::v1;

// Registers `name` as a subcommand whose callback opens a connection and calls `run`.
CLI::App* AddCommand(CLI::App& app, GlobalOptions& globals, const std::string& name,
                     const std::string& help, std::function<void(Connection&)> run) {
  CLI::App* sub = app.add_subcommand(name, help);
  sub->callback([&globals, run = std::move(run)] {
    Connection conn(globals.connection);
    run(conn);
  });
  return sub;
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
    out << "  stream " << stream.name() << ": " << pb::StreamState_Name(stream.state())
        << ", stored " << stream.stored() << "\n";
  }
}

}  // namespace

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
  log->callback([&globals, &out, level] {
    Connection conn(globals.connection);
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
}

}  // namespace tomctl
