// tomctl topics | alerts | photometry | quarantine
#include <google/protobuf/util/time_util.h>

#include <cctype>
#include <cstdio>
#include <memory>

#include "commands.h"
#include "output.h"

namespace tomctl {
namespace {

namespace pb = tomstream::v1;
using google::protobuf::util::TimeUtil;

google::protobuf::Timestamp ParseTime(const std::string& text, const std::string& option) {
  google::protobuf::Timestamp t;
  if (!TimeUtil::FromString(text, &t)) {
    throw CommandError(option + ": not an RFC 3339 time (e.g. 2026-05-01T00:00:00Z): " + text);
  }
  return t;
}

// "earliest", "latest", "last:N", "offset:N" (seek only) or an RFC 3339 time.
pb::StartPosition ParsePosition(const std::string& text, const std::string& option,
                                bool allow_offset) {
  pb::StartPosition p;
  auto number = [&](const std::string& digits) {
    if (digits.empty() || digits.size() > 18 ||
        !std::all_of(digits.begin(), digits.end(), [](char c) { return std::isdigit(c); })) {
      throw CommandError(option + ": not a number in \"" + text + "\"");
    }
    return std::stoll(digits);
  };
  if (text == "earliest") {
    p.set_earliest(true);
  } else if (text == "latest") {
    p.set_latest(true);
  } else if (text.rfind("last:", 0) == 0) {
    p.set_last_n(number(text.substr(5)));
  } else if (allow_offset && text.rfind("offset:", 0) == 0) {
    p.set_offset(number(text.substr(7)));
  } else {
    *p.mutable_time() = ParseTime(text, option);
  }
  return p;
}

std::string PositionText(const pb::StartPosition& p) {
  switch (p.position_case()) {
    case pb::StartPosition::kEarliest: return "earliest";
    case pb::StartPosition::kLatest: return "latest";
    case pb::StartPosition::kLastN: return "last:" + std::to_string(p.last_n());
    case pb::StartPosition::kOffset: return "offset:" + std::to_string(p.offset());
    case pb::StartPosition::kTime: return FormatTime(p.time());
    default: return "-";
  }
}

// The payload as text when it is printable UTF-8-ish, else a hex dump of its start.
std::string Printable(const std::string& bytes) {
  const bool text = std::all_of(bytes.begin(), bytes.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x20 || c == '\n' || c == '\r' || c == '\t';
  });
  if (text) return bytes;
  std::string out;
  char buf[4];
  for (size_t i = 0; i < bytes.size() && i < 64; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", static_cast<unsigned char>(bytes[i]));
    out += buf;
  }
  return out + (bytes.size() > 64 ? "... (" + std::to_string(bytes.size()) + " bytes)" : "");
}

void PrintAlertLine(const pb::Alert& a, std::ostream& out) {
  out << a.id() << "  " << FormatTime(a.stored_at()) << "  " << a.stream() << "  " << a.topic()
      << "[" << a.partition() << "]@" << a.offset() << "  " << a.summary() << "\n";
}

void PrintRoutes(const pb::ListRoutesResponse& resp, std::ostream& out) {
  if (resp.routes().empty()) {
    out << "no routes\n";
    return;
  }
  for (const pb::Route& r : resp.routes()) {
    const char* kind = !r.pattern().empty() ? "pattern" : !r.regex().empty() ? "regex" : "topic";
    const std::string& sel = !r.pattern().empty() ? r.pattern() : !r.regex().empty() ? r.regex()
                                                                                      : r.topic();
    out << (r.origin() == pb::ROUTE_ORIGIN_RUNTIME ? std::to_string(r.id()) : "config") << "  "
        << r.stream() << "  " << kind << " " << sel << " -> " << r.handler();
    if (r.has_start()) out << "  start " << PositionText(r.start());
    if (r.include_test()) out << "  +test";
    if (!r.matched_topics().empty()) {
      out << "  [";
      for (int i = 0; i < r.matched_topics_size(); ++i) {
        out << (i ? ", " : "") << r.matched_topics(i);
      }
      out << "]";
    }
    out << "\n";
  }
}

struct TopicsAdd {
  std::string stream, topic, handler = "raw", start;
  bool pattern = false, regex = false, include_test = false;
};
struct TopicsSeek {
  std::vector<std::string> target;
  std::string to;
};
struct AlertsLs {
  std::string stream, topic, handler, since, until, page;
  int limit = 20;
  bool payload = false;
};
struct AlertsTail {
  std::string stream, topic, handler;
  int64_t after = 0;
  int count = 0;
  bool payload = false;
};
struct PhotometryLs {
  std::string target, since, until, page;
  int limit = 100;
};
struct QuarantineLs {
  std::string stream, topic, page;
  int limit = 20;
  bool payload = false;
};

void AddTopics(CLI::App& app, GlobalOptions& g, std::ostream& out) {
  CLI::App* topics = app.add_subcommand("topics", "Routes from topics to handlers");
  topics->require_subcommand(1);

  auto ls_stream = std::make_shared<std::string>();
  CLI::App* ls = topics->add_subcommand("ls", "List routes (config-file and runtime)");
  ls->add_option("--stream", *ls_stream, "Only this stream");
  OnRun(ls, g, [&g, &out, ls_stream](Connection& c) {
    pb::ListRoutesRequest req;
    req.set_stream(*ls_stream);
    pb::ListRoutesResponse resp;
    c.Check(c.stub().ListRoutes(c.NewContext().get(), req, &resp), "topics ls");
    if (g.json) {
      out << ToJson(resp);
    } else {
      PrintRoutes(resp, out);
    }
  });

  auto add = std::make_shared<TopicsAdd>();
  CLI::App* a = topics->add_subcommand("add", "Add a runtime route (kept across restarts)");
  a->add_option("stream", add->stream, "Configured stream")->required();
  a->add_option("topic", add->topic, "Topic name (or pattern / regex)")->required();
  a->add_option("--handler", add->handler, "hermes, gcn, raw or log")->capture_default_str();
  a->add_flag("--pattern", add->pattern, "TOPIC is a wildcard pattern (* and ?)");
  a->add_flag("--regex", add->regex, "TOPIC is a regular expression (whole name)");
  a->add_option("--start", add->start,
                "Where to start without a stored position: earliest, latest, last:N, or a time");
  a->add_flag("--include-test", add->include_test, "Also store hop _test messages");
  OnRun(a, g, [&g, &out, add](Connection& c) {
    if (add->pattern && add->regex) throw CommandError("--pattern and --regex exclude each other");
    pb::AddRouteRequest req;
    pb::Route* r = req.mutable_route();
    r->set_stream(add->stream);
    if (add->pattern) {
      r->set_pattern(add->topic);
    } else if (add->regex) {
      r->set_regex(add->topic);
    } else {
      r->set_topic(add->topic);
    }
    r->set_handler(add->handler);
    r->set_include_test(add->include_test);
    if (!add->start.empty()) *r->mutable_start() = ParsePosition(add->start, "--start", false);
    pb::AddRouteResponse resp;
    c.Check(c.stub().AddRoute(c.NewContext().get(), req, &resp), "topics add");
    if (g.json) {
      out << ToJson(resp);
    } else {
      out << "added route " << resp.route().id() << "\n";
    }
  });

  auto rm_id = std::make_shared<int64_t>(0);
  CLI::App* rm = topics->add_subcommand("rm", "Remove a runtime route");
  rm->add_option("id", *rm_id, "Route id (tomctl topics ls)")->required();
  OnRun(rm, g, [&g, &out, rm_id](Connection& c) {
    pb::RemoveRouteRequest req;
    req.set_id(*rm_id);
    pb::RemoveRouteResponse resp;
    c.Check(c.stub().RemoveRoute(c.NewContext().get(), req, &resp), "topics rm");
    if (g.json) {
      out << ToJson(resp);
    } else {
      out << "removed route " << *rm_id << "\n";
    }
  });

  auto seek = std::make_shared<TopicsSeek>();
  CLI::App* sk = topics->add_subcommand("seek", "Replay or skip: move a route's partitions");
  sk->add_option("target", seek->target, "A runtime route id, or STREAM TOPIC")
      ->required()
      ->expected(1, 2);
  sk->add_option("--to", seek->to, "earliest, latest, last:N, offset:N or a time")->required();
  OnRun(sk, g, [&g, &out, seek](Connection& c) {
    pb::SeekRouteRequest req;
    if (seek->target.size() == 1) {
      try {
        req.set_id(std::stoll(seek->target[0]));
      } catch (const std::exception&) {
        throw CommandError("seek: give a route id, or STREAM TOPIC");
      }
    } else {
      req.set_stream(seek->target[0]);
      req.set_topic(seek->target[1]);
    }
    *req.mutable_position() = ParsePosition(seek->to, "--to", true);
    pb::SeekRouteResponse resp;
    c.Check(c.stub().SeekRoute(c.NewContext().get(), req, &resp), "topics seek");
    if (g.json) {
      out << ToJson(resp);
      return;
    }
    for (const auto& p : resp.partitions()) {
      out << p.topic() << "[" << p.partition() << "] -> offset " << p.stored_offset() << "\n";
    }
  });
}

void AddAlerts(CLI::App& app, GlobalOptions& g, std::ostream& out) {
  CLI::App* alerts = app.add_subcommand("alerts", "Stored alerts");
  alerts->require_subcommand(1);

  auto ls = std::make_shared<AlertsLs>();
  CLI::App* l = alerts->add_subcommand("ls", "List alerts, newest first");
  l->add_option("--stream", ls->stream);
  l->add_option("--topic", ls->topic);
  l->add_option("--handler", ls->handler);
  l->add_option("--since", ls->since, "Stored at or after (RFC 3339)");
  l->add_option("--until", ls->until, "Stored before (RFC 3339)");
  l->add_option("--limit", ls->limit, "Page size")->capture_default_str()->check(CLI::Range(1, 1000));
  l->add_option("--page", ls->page, "Page token from a previous listing");
  l->add_flag("--payload", ls->payload, "Include payloads (--json)");
  OnRun(l, g, [&g, &out, ls](Connection& c) {
    pb::ListAlertsRequest req;
    req.set_stream(ls->stream);
    req.set_topic(ls->topic);
    req.set_handler(ls->handler);
    if (!ls->since.empty()) *req.mutable_stored()->mutable_from() = ParseTime(ls->since, "--since");
    if (!ls->until.empty()) *req.mutable_stored()->mutable_to() = ParseTime(ls->until, "--until");
    req.set_page_size(ls->limit);
    req.set_page_token(ls->page);
    req.set_include_payload(ls->payload);
    pb::ListAlertsResponse resp;
    c.Check(c.stub().ListAlerts(c.NewContext().get(), req, &resp), "alerts ls");
    if (g.json) {
      out << ToJson(resp);
      return;
    }
    if (resp.alerts().empty()) out << "no alerts\n";
    for (const auto& a : resp.alerts()) PrintAlertLine(a, out);
    if (!resp.next_page_token().empty()) out << "more: --page " << resp.next_page_token() << "\n";
  });

  auto id = std::make_shared<int64_t>(0);
  CLI::App* show = alerts->add_subcommand("show", "Show one alert with its headers and payload");
  show->add_option("id", *id, "Alert id")->required();
  OnRun(show, g, [&g, &out, id](Connection& c) {
    pb::GetAlertRequest req;
    req.set_id(*id);
    pb::Alert a;
    c.Check(c.stub().GetAlert(c.NewContext().get(), req, &a), "alerts show");
    if (g.json) {
      out << ToJson(a);
      return;
    }
    out << "alert " << a.id() << "\n  stream:   " << a.stream() << "\n  topic:    " << a.topic()
        << "[" << a.partition() << "] offset " << a.offset() << "\n  stored:   "
        << FormatTime(a.stored_at()) << "\n  handler:  " << a.handler() << "\n  format:   "
        << a.format() << "\n  summary:  " << a.summary() << "\n  headers:\n";
    for (const auto& h : a.headers()) out << "    " << h.key() << ": " << Printable(h.value()) << "\n";
    out << "  payload (" << a.payload().size() << " bytes):\n" << Printable(a.payload()) << "\n";
  });

  auto tail = std::make_shared<AlertsTail>();
  CLI::App* t = alerts->add_subcommand("tail", "Print alerts as they are stored");
  t->add_option("--stream", tail->stream);
  t->add_option("--topic", tail->topic);
  t->add_option("--handler", tail->handler);
  t->add_option("--after", tail->after, "Resume after this alert id (default: only new ones)");
  t->add_option("--count", tail->count, "Stop after this many alerts (default: run until ^C)");
  t->add_flag("--payload", tail->payload, "Include payloads (--json)");
  OnRun(t, g, [&g, &out, tail](Connection& c) {
    pb::WatchAlertsRequest req;
    req.set_stream(tail->stream);
    req.set_topic(tail->topic);
    req.set_handler(tail->handler);
    req.set_after_id(tail->after);
    req.set_include_payload(tail->payload);
    auto ctx = c.NewStreamingContext();
    auto reader = c.stub().WatchAlerts(ctx.get(), req);
    pb::Alert a;
    int seen = 0;
    while (reader->Read(&a)) {
      if (g.json) {
        out << ToJsonLine(a);
      } else {
        PrintAlertLine(a, out);
      }
      out.flush();
      if (tail->count > 0 && ++seen >= tail->count) {
        ctx->TryCancel();
        return;
      }
    }
    c.Check(reader->Finish(), "alerts tail");
  });
}

void AddPhotometry(CLI::App& app, GlobalOptions& g, std::ostream& out) {
  CLI::App* phot = app.add_subcommand("photometry", "Photometry from stored Hermes messages");
  phot->require_subcommand(1);
  auto ls = std::make_shared<PhotometryLs>();
  CLI::App* l = phot->add_subcommand("ls", "Photometry of a target (name or alias)");
  l->add_option("target", ls->target, "Target name or alias")->required();
  l->add_option("--since", ls->since, "date_obs at or after (RFC 3339)");
  l->add_option("--until", ls->until, "date_obs before (RFC 3339)");
  l->add_option("--limit", ls->limit, "Page size")->capture_default_str()->check(CLI::Range(1, 1000));
  l->add_option("--page", ls->page, "Page token from a previous listing");
  OnRun(l, g, [&g, &out, ls](Connection& c) {
    pb::ListPhotometryRequest req;
    req.set_target(ls->target);
    if (!ls->since.empty()) *req.mutable_date_obs()->mutable_from() = ParseTime(ls->since, "--since");
    if (!ls->until.empty()) *req.mutable_date_obs()->mutable_to() = ParseTime(ls->until, "--until");
    req.set_page_size(ls->limit);
    req.set_page_token(ls->page);
    pb::ListPhotometryResponse resp;
    c.Check(c.stub().ListPhotometry(c.NewContext().get(), req, &resp), "photometry ls");
    if (g.json) {
      out << ToJson(resp);
      return;
    }
    if (resp.photometry().empty()) out << "no photometry for " << ls->target << "\n";
    for (const auto& p : resp.photometry()) {
      out << FormatTime(p.date_obs()) << "  " << p.target_name() << "  " << p.bandpass() << "  ";
      if (p.has_brightness()) {
        out << p.brightness();
        if (p.has_brightness_error()) out << " ± " << p.brightness_error();
        out << " " << p.brightness_unit();
      } else if (p.has_limiting_brightness()) {
        out << "> " << p.limiting_brightness() << " " << p.limiting_brightness_unit();
      }
      out << "  " << p.telescope() << (p.instrument().empty() ? "" : "/" + p.instrument())
          << "  (alert " << p.alert_id() << ")\n";
    }
    if (!resp.next_page_token().empty()) out << "more: --page " << resp.next_page_token() << "\n";
  });
}

void AddQuarantine(CLI::App& app, GlobalOptions& g, std::ostream& out) {
  CLI::App* q = app.add_subcommand("quarantine", "Messages a handler could not parse");
  q->require_subcommand(1);
  auto ls = std::make_shared<QuarantineLs>();
  CLI::App* l = q->add_subcommand("ls", "List quarantined messages, newest first");
  l->add_option("--stream", ls->stream);
  l->add_option("--topic", ls->topic);
  l->add_option("--limit", ls->limit, "Page size")->capture_default_str()->check(CLI::Range(1, 1000));
  l->add_option("--page", ls->page, "Page token from a previous listing");
  l->add_flag("--payload", ls->payload, "Include payloads");
  OnRun(l, g, [&g, &out, ls](Connection& c) {
    pb::ListQuarantineRequest req;
    req.set_stream(ls->stream);
    req.set_topic(ls->topic);
    req.set_page_size(ls->limit);
    req.set_page_token(ls->page);
    req.set_include_payload(ls->payload);
    pb::ListQuarantineResponse resp;
    c.Check(c.stub().ListQuarantine(c.NewContext().get(), req, &resp), "quarantine ls");
    if (g.json) {
      out << ToJson(resp);
      return;
    }
    if (resp.messages().empty()) out << "quarantine is empty\n";
    for (const auto& m : resp.messages()) {
      out << m.id() << "  " << FormatTime(m.stored_at()) << "  " << m.stream() << "  " << m.topic()
          << "[" << m.partition() << "]@" << m.offset() << "  " << m.handler() << ": " << m.error()
          << "\n";
      if (ls->payload) out << "    " << Printable(m.payload()) << "\n";
    }
    if (!resp.next_page_token().empty()) out << "more: --page " << resp.next_page_token() << "\n";
  });
}

}  // namespace

void AddStreamCommands(CLI::App& app, GlobalOptions& globals, std::ostream& out) {
  AddTopics(app, globals, out);
  AddAlerts(app, globals, out);
  AddPhotometry(app, globals, out);
  AddQuarantine(app, globals, out);
}

}  // namespace tomctl
