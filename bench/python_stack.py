"""The Python stack TOM users run today, on the ingest benchmark's broker, topic and messages:
hop-client reading the stream and every message saved the way tom-alertstreams saves it.

How it mirrors tom-alertstreams (TOMToolkit/tom-alertstreams: HopskotchAlertStream.listen() run
by the readstreams management command, and its Alert model), step by step:

- Consumer: hop-client's own. hop.io.Stream(auth, start_at).open("kafka://host/topic", "r",
  group_id=...) and a loop over consumer.read(metadata=True), which yields one (model, Metadata)
  pair at a time. hop deserialises each payload by its _format header (a JSONBlob here), skips
  _test messages, stores each message's offset as it is yielded and commits offsets every few
  seconds: all of it unchanged, as tom-alertstreams gets it. (tom-alertstreams starts at
  StartPosition.LATEST; here EARLIEST, so that the benchmark's backlog is read.)
- Dispatch: as listen() does, the handler is looked up by metadata.topic in a dict of topic ->
  handler and called with (alert, metadata) for every message, synchronously.
- Handler: does what tom-alertstreams' handlers and its Alert model do with a message: take the
  hop _id from metadata.headers as a uuid.UUID, pick the object name, position, brightness and
  observation time out of the content, and save one Alert row holding them and the whole
  payload as JSON (Django's JSONField: json.dumps into a TEXT column checked with json_valid).
- Save: one Django ORM Model.save() per message in Django's default autocommit mode, i.e. one
  INSERT that SQLite commits by itself: one transaction, and one fsync, per message. The
  connection has tomstreamd's durability: journal_mode=WAL, synchronous=FULL.
- Left out, which only makes the Python side faster (so the ratio is a lower bound): Django's
  own per-save work (model instance, SQL compilation, signals), and the FIFO trim recent
  tom-alertstreams runs after each save (a SELECT and a DELETE per message). tom-alertstreams
  has no dedupe, so none here either.

Three passes over the first --messages messages of the topic (each reading pass with a new
consumer group, each saving pass into a new database):
  read-only  hop-client alone, nothing stored: how fast the Python consumer itself goes;
  save-only  the handler and save alone, on the messages the read-only pass kept in memory;
  stored     hop-client and the save per message: the stack as TOM users run it.
The first two show where the stack's time goes. A rate runs from the first message handled to
the last, (count - 1) / seconds, as bench/ingest_bench.cc measures its consumers. Each reading
pass is bounded by --max-seconds: a timer stops hop's consumer, and the rate is then over the
messages handled so far.

Usage: python_stack.py --broker-env DIR/broker.env --topic T [--messages N] [--max-seconds S]
                       [--json FILE]
"""
import argparse
import datetime
import json
import os
import platform
import sqlite3
import sys
import tempfile
import threading
import time
import uuid

# The table Django makes for an Alert-like model (tom-alertstreams' fields and indexes): an
# integer primary key, the stream and topic, the alert's ids, a few extracted values, the whole
# payload as JSON, and the receipt time.
SCHEMA = """
CREATE TABLE alertstreams_alert (
  id               INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
  stream_name      VARCHAR(100) NOT NULL,
  topic            VARCHAR(200) NOT NULL,
  observation_time DATETIME NULL,
  published_time   DATETIME NULL,
  alert_id         VARCHAR(200) NOT NULL,
  object_id        VARCHAR(200) NULL,
  ra               REAL NULL,
  dec              REAL NULL,
  magnitude        REAL NULL,
  flux             REAL NULL,
  raw_payload      TEXT NOT NULL CHECK ((JSON_VALID(raw_payload) OR raw_payload IS NULL)),
  created          DATETIME NULL
);
CREATE INDEX alertstreams_alert_stream_name ON alertstreams_alert (stream_name);
CREATE INDEX alertstreams_alert_observation_time ON alertstreams_alert (observation_time);
CREATE INDEX alertstreams_alert_created ON alertstreams_alert (created);
CREATE INDEX alertstreams_alert_stream_obs ON alertstreams_alert (stream_name, observation_time);
"""

INSERT = ("INSERT INTO alertstreams_alert (stream_name, topic, observation_time, published_time, "
          "alert_id, object_id, ra, dec, magnitude, flux, raw_payload, created) "
          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


def broker_plaintext(env_file):
    """KAFKA_PLAINTEXT of a tests/kafka/broker.sh broker.env."""
    with open(env_file) as f:
        for line in f:
            key, sep, value = line.strip().partition("=")
            if sep and key == "KAFKA_PLAINTEXT":
                return value
    raise SystemExit(f"python_stack.py: no KAFKA_PLAINTEXT in {env_file}")


def django_datetime(dt):
    """A datetime as Django's SQLite backend stores it."""
    return dt.strftime("%Y-%m-%d %H:%M:%S.%f") if dt is not None else None


def open_database(path):
    # isolation_level=None: the sqlite3 module leaves transactions alone, so every statement
    # outside BEGIN ... COMMIT commits by itself, which is how Django runs in autocommit mode.
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.executescript(SCHEMA)
    return db


def float_or_none(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def make_saving_handler(db, stream_name):
    """The per-message handler: extract, then one autocommitted INSERT (Alert.save())."""

    def save_alert(alert, metadata):
        hop_id = next((value for key, value in metadata.headers or [] if key == "_id"), None)
        alert_id = str(uuid.UUID(bytes=hop_id)) if hop_id else f"{metadata.topic}-{metadata.offset}"
        content = alert.content if hasattr(alert, "content") else {}
        data = content.get("data", {}) if isinstance(content, dict) else {}
        target = (data.get("targets") or [{}])[0]
        phot = (data.get("photometry") or [{}])[0]
        observed = None
        if phot.get("date_obs"):
            try:
                observed = datetime.datetime.fromisoformat(phot["date_obs"])
            except ValueError:
                observed = None
        published = None
        if metadata.timestamp:
            published = datetime.datetime.fromtimestamp(metadata.timestamp / 1000,
                                                         datetime.timezone.utc)
        db.execute(INSERT, (
            stream_name, metadata.topic, django_datetime(observed), django_datetime(published),
            alert_id, target.get("name"), float_or_none(target.get("ra")),
            float_or_none(target.get("dec")), float_or_none(phot.get("brightness")), None,
            json.dumps(content), django_datetime(datetime.datetime.now(datetime.timezone.utc))))

    return save_alert


def run_pass(url, topic, count, max_seconds, handler):
    """Reads up to `count` messages of the topic from its start with hop-client, calling
    `handler(alert, metadata)` for each (None: nothing). Returns (handled, seconds from the first
    message handled to the last)."""
    from hop import io as hop_io

    alert_handler = {topic: handler}  # tom-alertstreams' topic -> handler dispatch
    stream = hop_io.Stream(auth=False, start_at=hop_io.StartPosition.EARLIEST)
    group = f"python-stack-{os.getpid()}-{uuid.uuid4().hex[:10]}"
    handled = 0
    first = last = None
    with stream.open(url, "r", group_id=group) as consumer:
        timer = threading.Timer(max_seconds, consumer.stop)
        timer.start()
        try:
            for alert, metadata in consumer.read(metadata=True):
                fn = alert_handler.get(metadata.topic)
                if fn is not None:
                    fn(alert, metadata)
                handled += 1
                last = time.monotonic()
                if first is None:
                    first = last
                if handled >= count:
                    break
        finally:
            timer.cancel()
    return handled, (last - first) if handled > 1 else 0.0


def rate(handled, seconds):
    return (handled - 1) / seconds if handled > 1 and seconds > 0 else 0.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--broker-env", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--max-seconds", type=float, default=120)
    parser.add_argument("--json")
    args = parser.parse_args()

    import confluent_kafka
    import hop

    url = f"kafka://{broker_plaintext(args.broker_env)}/{args.topic}"
    kept = []  # the read-only pass's messages, for the save-only pass
    read_n, read_s = run_pass(url, args.topic, args.messages, args.max_seconds,
                              lambda alert, metadata: kept.append((alert, metadata)))
    print(f"hop-client, read only              {rate(read_n, read_s):10.0f} msg/s  "
          f"({read_n} messages in {read_s:.2f} s)", flush=True)

    with tempfile.TemporaryDirectory(prefix="tomstream-pystack-") as tmp:
        db = open_database(os.path.join(tmp, "save-only.sqlite3"))
        handler = make_saving_handler(db, "bench")
        t0 = time.monotonic()
        for i, (alert, metadata) in enumerate(kept):
            handler(alert, metadata)
            if i == 0:
                t0 = time.monotonic()
        save_n, save_s = len(kept), time.monotonic() - t0
        db.close()
        kept.clear()
        print(f"one save per message, no Kafka     {rate(save_n, save_s):10.0f} msg/s  "
              f"({save_n} messages in {save_s:.2f} s)", flush=True)

        db = open_database(os.path.join(tmp, "stored.sqlite3"))
        handler = make_saving_handler(db, "bench")
        stored_n, stored_s = run_pass(url, args.topic, args.messages, args.max_seconds, handler)
        rows = db.execute("SELECT count(*) FROM alertstreams_alert").fetchone()[0]
        db.close()
    if rows != stored_n:
        raise SystemExit(f"python_stack.py: {stored_n} messages handled but {rows} rows stored")
    print(f"hop-client + one save per message  {rate(stored_n, stored_s):10.0f} msg/s  "
          f"({stored_n} messages in {stored_s:.2f} s)", flush=True)

    result = {
        "url": url,
        "messages_requested": args.messages,
        "max_seconds": args.max_seconds,
        "read_only": {"messages": read_n, "seconds": read_s, "rate": rate(read_n, read_s)},
        "save_only": {"messages": save_n, "seconds": save_s, "rate": rate(save_n, save_s)},
        "stored": {"messages": stored_n, "seconds": stored_s, "rate": rate(stored_n, stored_s)},
        "versions": {
            "python": platform.python_version(),
            "hop-client": hop.__version__,
            "confluent-kafka": confluent_kafka.__version__,
            "librdkafka": confluent_kafka.libversion()[0],
            "sqlite": sqlite3.sqlite_version,
        },
    }
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
    if stored_n < 2:
        sys.exit("python_stack.py: fewer than 2 messages stored; no rate")


if __name__ == "__main__":
    main()
