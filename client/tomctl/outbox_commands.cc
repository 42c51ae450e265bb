// tomctl publish photometry | outbox ls|show|retry|cancel
#include <memory>
#include <optional>

#include "commands.h"
#include "output.h"
#include "photometry_file.h"

namespace tomctl {
namespace {

namespace pb = tomstream::v1;

struct PublishOptions {
  tomstream::tomctl::PublishDefaults defaults;
  std::string file;
  std::string format;
  bool dry_run = false;
  // One photometry row from flags, when there is no file.
  std::string target, ra, dec, date_obs, bandpass, telescope, instrument, unit, observer,
      comments, catalog;
  std::optional<double> brightness, brightness_error, limiting_brightness, exposure_time;
};

const char* StateName(pb::OutboxState s) {
  switch (s) {
    case pb::OUTBOX_STATE_PENDING: return "pending";
    case pb::OUTBOX_STATE_SENDING: return "sending";
    case pb::OUTBOX_STATE_DELIVERED: return "delivered";
    case pb::OUTBOX_STATE_DEAD: return "dead";
    case pb::OUTBOX_STATE_CANCELLED: return "cancelled";
    default: return "-";
  }
}

pb::OutboxState ParseState(const std::string& text) {
  for (pb::OutboxState s : {pb::OUTBOX_STATE_PENDING, pb::OUTBOX_STATE_SENDING,
                            pb::OUTBOX_STATE_DELIVERED, pb::OUTBOX_STATE_DEAD,
                            pb::OUTBOX_STATE_CANCELLED}) {
    if (text == StateName(s)) return s;
  }
  throw CommandError("--state: must be pending, sending, delivered, dead or cancelled, not \"" +
                     text + "\"");
}

// The message given by flags (one target, one photometry row).
pb::PhotometryMessage MessageFromFlags(const PublishOptions& o) {
  if (o.target.empty()) {
    throw CommandError("give --file, or --target with the photometry flags (see --help)");
  }
  pb::PhotometryMessage m;
  const auto& d = o.defaults;
  m.set_destination(d.destination);
  m.set_topic(d.topic);
  m.set_title(d.title.empty() ? "Photometry of " + o.target : d.title);
  m.set_submitter(d.submitter);
  m.set_authors(d.authors);
  m.set_message_text(d.message_text);
  m.set_idempotency_key(d.idempotency_key);
  pb::Target* t = m.add_targets();
  t->set_name(o.target);
  t->set_ra(o.ra);
  t->set_dec(o.dec);
  pb::Photometry* p = m.add_photometry();
  p->set_target_name(o.target);
  // A number is a JD (above 2400000) or an MJD; anything else an ISO time.
  char* end = nullptr;
  const double number = std::strtod(o.date_obs.c_str(), &end);
  if (!o.date_obs.empty() && end != nullptr && *end == '\0') {
    if (number > 2400000) {
      p->set_date_obs_jd(number);
    } else {
      p->set_date_obs_mjd(number);
    }
  } else {
    p->set_date_obs_iso(o.date_obs);
  }
  p->set_bandpass(o.bandpass);
  p->set_telescope(o.telescope);
  p->set_instrument(o.instrument);
  if (o.brightness) p->set_brightness(*o.brightness);
  if (o.brightness_error) p->set_brightness_error(*o.brightness_error);
  if (o.limiting_brightness) p->set_limiting_brightness(*o.limiting_brightness);
  if (o.exposure_time) p->set_exposure_time(*o.exposure_time);
  if (!o.unit.empty()) {
    if (o.brightness) p->set_brightness_unit(o.unit);
    if (o.limiting_brightness) p->set_limiting_brightness_unit(o.unit);
  }
  p->set_observer(o.observer);
  p->set_comments(o.comments);
  p->set_catalog(o.catalog);
  return m;
}

void PrintEntry(std::ostream& out, const pb::OutboxEntry& e) {
  out << e.uuid() << "  " << StateName(e.state()) << "  " << e.destination() << "/" << e.topic()
      << "  attempts " << e.attempts() << "  " << FormatTime(e.created_at()) << "  " << e.title()
      << "\n";
}

void PrintEntryDetail(std::ostream& out, const pb::OutboxEntry& e) {
  out << "uuid:            " << e.uuid() << "\n"
      << "state:           " << StateName(e.state()) << "\n"
      << "destination:     " << e.destination() << "\n"
      << "topic:           " << e.topic() << "\n"
      << "title:           " << e.title() << "\n"
      << "attempts:        " << e.attempts() << "\n"
      << "created:         " << FormatTime(e.created_at()) << "\n"
      << "updated:         " << FormatTime(e.updated_at()) << "\n";
  if (e.has_next_attempt_at()) out << "next attempt:    " << FormatTime(e.next_attempt_at()) << "\n";
  if (e.has_delivered_at()) out << "delivered:       " << FormatTime(e.delivered_at()) << "\n";
  if (!e.idempotency_key().empty()) out << "idempotency key: " << e.idempotency_key() << "\n";
  if (!e.hermes_uuid().empty()) out << "hermes uuid:     " << e.hermes_uuid() << "\n";
  if (!e.last_error().empty()) out << "last error:      " << e.last_error() << "\n";
  if (!e.response_body().empty()) out << "response:        " << e.response_body() << "\n";
  if (!e.body_json().empty()) out << "body:            " << e.body_json() << "\n";
}

// outbox show|retry|cancel UUID: one call that answers with the entry.
template <typename Call>
void AddEntryCommand(CLI::App* parent, GlobalOptions& g, std::ostream& out, const char* name,
                     const char* help, Call call) {
  auto uuid = std::make_shared<std::string>();
  CLI::App* sub = parent->add_subcommand(name, help);
  sub->add_option("uuid", *uuid, "The entry's uuid")->required();
  OnRun(sub, g, [&g, &out, uuid, call, name](Connection& c) {
    pb::OutboxEntry e;
    c.Check(call(c, *uuid, e), std::string("outbox ") + name);
    if (g.json) {
      out << ToJson(e);
    } else {
      PrintEntryDetail(out, e);
    }
  });
}

}  // namespace

void AddOutboxCommands(CLI::App& app, GlobalOptions& g, std::ostream& out) {
  CLI::App* publish = app.add_subcommand("publish", "Share data through the outbox");
  publish->require_subcommand(1);
  auto po = std::make_shared<PublishOptions>();
  CLI::App* ph = publish->add_subcommand(
      "photometry",
      "Queue photometry for a destination: from --file (CSV or JSON; one message per target) "
      "or from flags (one row)");
  ph->add_option("--destination", po->defaults.destination, "A configured destination")->required();
  ph->add_option("--topic", po->defaults.topic, "One of the destination's topics")->required();
  ph->add_option("--title", po->defaults.title, "Default: \"Photometry of <target>\"");
  ph->add_option("--submitter", po->defaults.submitter);
  ph->add_option("--authors", po->defaults.authors, "Default: the destination's default authors");
  ph->add_option("--message", po->defaults.message_text, "Message text");
  ph->add_option("--idempotency-key", po->defaults.idempotency_key,
                 "Repeating a publish with this key returns the first entry");
  ph->add_option("--file", po->file, "CSV or JSON file of photometry rows or Hermes messages");
  ph->add_option("--format", po->format, "csv or json (default: from the file name)")
      ->check(CLI::IsMember({"csv", "json"}));
  ph->add_flag("--dry-run", po->dry_run, "Validate only; queue nothing");
  ph->add_option("--target", po->target, "Target name (without --file)");
  ph->add_option("--ra", po->ra, "Target RA: decimal degrees or sexagesimal hours");
  ph->add_option("--dec", po->dec, "Target Dec: decimal or sexagesimal degrees");
  ph->add_option("--date-obs", po->date_obs, "ISO time, JD or MJD");
  ph->add_option("--bandpass", po->bandpass);
  ph->add_option("--telescope", po->telescope);
  ph->add_option("--instrument", po->instrument);
  ph->add_option("--brightness", po->brightness);
  ph->add_option("--brightness-error", po->brightness_error);
  ph->add_option("--limiting-brightness", po->limiting_brightness);
  ph->add_option("--unit", po->unit, "AB mag (default), Vega mag, mJy, ...");
  ph->add_option("--exposure-time", po->exposure_time);
  ph->add_option("--observer", po->observer);
  ph->add_option("--comments", po->comments);
  ph->add_option("--catalog", po->catalog);
  OnRun(ph, g, [&g, &out, po](Connection& c) {
    pb::EnqueuePhotometryRequest req;
    if (!po->file.empty()) {
      auto messages = tomstream::tomctl::ReadPhotometryFile(po->file, po->format, po->defaults);
      if (!messages.ok()) throw CommandError(messages.status().message());
      for (auto& m : *messages) *req.add_messages() = std::move(m);
    } else {
      *req.add_messages() = MessageFromFlags(*po);
    }
    req.set_validate_only(po->dry_run);
    pb::EnqueuePhotometryResponse resp;
    c.Check(c.stub().EnqueuePhotometry(c.NewContext().get(), req, &resp), "publish photometry");
    if (g.json) {
      out << ToJson(resp);
      return;
    }
    if (po->dry_run) {
      out << "valid: " << req.messages_size() << (req.messages_size() == 1 ? " message" : " messages")
          << " (nothing queued)\n";
      return;
    }
    for (int i = 0; i < resp.results_size(); ++i) {
      const pb::EnqueueResult& r = resp.results(i);
      out << (r.duplicate() ? "already queued " : "queued ") << r.uuid() << "  "
          << StateName(r.state()) << "  " << req.messages(i).title() << "\n";
    }
  });

  CLI::App* ob = app.add_subcommand("outbox", "Messages queued for publishing");
  ob->require_subcommand(1);
  struct LsOptions {
    std::string state, destination, topic, page;
    int limit = 50;
  };
  auto ls = std::make_shared<LsOptions>();
  CLI::App* l = ob->add_subcommand("ls", "List outbox entries, newest first");
  l->add_option("--state", ls->state, "pending, sending, delivered, dead or cancelled");
  l->add_option("--destination", ls->destination);
  l->add_option("--topic", ls->topic);
  l->add_option("--limit", ls->limit, "Page size")->capture_default_str()->check(CLI::Range(1, 1000));
  l->add_option("--page", ls->page, "Page token from a previous listing");
  OnRun(l, g, [&g, &out, ls](Connection& c) {
    pb::ListOutboxRequest req;
    if (!ls->state.empty()) req.set_state(ParseState(ls->state));
    req.set_destination(ls->destination);
    req.set_topic(ls->topic);
    req.set_page_size(ls->limit);
    req.set_page_token(ls->page);
    pb::ListOutboxResponse resp;
    c.Check(c.stub().ListOutbox(c.NewContext().get(), req, &resp), "outbox ls");
    if (g.json) {
      out << ToJson(resp);
      return;
    }
    if (resp.entries().empty()) out << "no outbox entries\n";
    for (const auto& e : resp.entries()) PrintEntry(out, e);
    if (!resp.next_page_token().empty()) out << "more: --page " << resp.next_page_token() << "\n";
  });
  AddEntryCommand(ob, g, out, "show", "Show one entry, with its body and last answer",
                  [](Connection& c, const std::string& uuid, pb::OutboxEntry& e) {
                    pb::GetOutboxEntryRequest req;
                    req.set_uuid(uuid);
                    return c.stub().GetOutboxEntry(c.NewContext().get(), req, &e);
                  });
  AddEntryCommand(ob, g, out, "retry", "Send a dead or cancelled entry again",
                  [](Connection& c, const std::string& uuid, pb::OutboxEntry& e) {
                    pb::RetryOutboxEntryRequest req;
                    req.set_uuid(uuid);
                    return c.stub().RetryOutboxEntry(c.NewContext().get(), req, &e);
                  });
  AddEntryCommand(ob, g, out, "cancel", "Cancel a pending entry",
                  [](Connection& c, const std::string& uuid, pb::OutboxEntry& e) {
                    pb::CancelOutboxEntryRequest req;
                    req.set_uuid(uuid);
                    return c.stub().CancelOutboxEntry(c.NewContext().get(), req, &e);
                  });
}

}  // namespace tomctl
