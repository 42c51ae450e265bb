"""Helpers of the interoperability tests: a live tomstreamd against the real Kafka broker.

- `Kafka`: the test broker's listeners (tests/kafka/broker.sh's broker.env), topic creation
  (AdminClient) and a plain reader of a topic (confluent-kafka, independent of hop-client, kcat
  and tomstreamd).
- `Daemon`: writes its own config in a private directory, starts tomstreamd with a NOTIFY_SOCKET
  it binds, waits for READY=1, runs tomctl, reads the SQLite store read-only and stops the daemon
  with SIGTERM (expecting exit status 0).
- `hop_read`: reads a topic with hop-client's Python API; `kcat_json_records` parses kcat -J.

Every wait is bounded: conditions are polled until a deadline (`wait_until`), processes run with
a timeout.
"""
import dataclasses
import json
import os
import select
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Optional

import pytest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree (fake_hermes is imported)

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

# ----------------------------------------------------------------------------------- helpers


def wait_until(condition, timeout, what, poll=0.1, detail=None):
    """Polls `condition` until it returns a true value (returned) or `timeout` seconds pass;
    then fails the test naming `what` (and `detail()`, when given, for diagnosis)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            extra = ("\n" + detail()) if detail is not None else ""
            pytest.fail(f"timed out after {timeout} s waiting for {what}{extra}")
        time.sleep(poll)


def unique_name(prefix):
    """A topic / stream / group name no other test or run uses."""
    return f"interop-{prefix}-{os.getpid()}-{uuid.uuid4().hex[:10]}"


def random_hop_id(allow_nul=True):
    """A hop _id: uuid4 as 16 raw bytes. kcat takes header values from argv, where a NUL byte
    cannot travel: `allow_nul=False` draws again until there is none."""
    while True:
        raw = uuid.uuid4().bytes
        if allow_nul or b"\0" not in raw:
            return raw


def uuid_bytes(text):
    """'0190a1b2-c3d4-...' (an outbox entry's uuid) as its 16 bytes."""
    return uuid.UUID(text).bytes


def decode_stored_headers(blob):
    """The header blob of an alert (daemon/store/ingest.h EncodeHeaders), decoded here
    independently: per header a 4-byte little-endian key length, the key, a 4-byte value length
    (0xFFFFFFFF: null value) and the value. Returns [(key, bytes or None)]."""
    out, pos = [], 0
    blob = bytes(blob)

    def u32():
        nonlocal pos
        if len(blob) - pos < 4:
            raise ValueError(f"bad header blob at byte {pos}")
        value = int.from_bytes(blob[pos:pos + 4], "little")
        pos += 4
        return value

    while pos < len(blob):
        n = u32()
        key = blob[pos:pos + n].decode("utf-8")
        pos += n
        n = u32()
        if n == 0xFFFFFFFF:
            out.append((key, None))
            continue
        out.append((key, blob[pos:pos + n]))
        pos += n
    return out


def first_header(headers, key):
    """The value of the first header named `key` in [(key, value)], or None."""
    for k, v in headers or []:
        if k == key:
            return v if isinstance(v, bytes) or v is None else v.encode("utf-8")
    return None


def hermes_errors(message):
    """The Hermes rules on a message (a dict), by the fake Hermes server's independent
    implementation (tests/outbox/fake_hermes.py): {} when valid, else the field errors."""
    outbox_tests = str(REPO / "tests" / "outbox")
    if outbox_tests not in sys.path:
        sys.path.insert(0, outbox_tests)
    import fake_hermes
    return fake_hermes.validate_message(message)


def toml_string(s):
    # A JSON string is a valid TOML basic string (same escapes, \\uXXXX included).
    return json.dumps(str(s))


def fixtures_dir():
    """shared/fixtures beside the repository (as the C++ tests find it), or
    TOMSTREAM_FIXTURES_DIR."""
    path = Path(os.environ.get("TOMSTREAM_FIXTURES_DIR", REPO.parent / "shared" / "fixtures"))
    if not (path / "SOURCES.md").is_file():
        pytest.fail(f"example messages not found in {path}: shared/fixtures must sit beside the "
                    "repository checkout (or set TOMSTREAM_FIXTURES_DIR)")
    return path


# ----------------------------------------------------------------------------------- the broker


@dataclasses.dataclass
class Record:
    """One message read back from a topic."""
    topic: str
    partition: int
    offset: int
    headers: list  # [(key, bytes or None)]
    value: bytes


class Kafka:
    """The test broker (tests/kafka/broker.sh): listeners from its broker.env."""

    def __init__(self, env_file):
        self.env_file = env_file
        self.values = {}
        for line in Path(env_file).read_text().splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, sep, value = line.partition("=")
            if not sep or not key:
                raise ValueError(f"malformed line in {env_file}: {line}")
            value = value.strip()
            if len(value) >= 2 and value[0] in "'\"" and value[-1] == value[0]:
                value = value[1:-1]
            self.values[key.strip()] = value
        for key in ("KAFKA_PLAINTEXT", "KAFKA_SASL_PLAINTEXT", "KAFKA_USER", "KAFKA_PASSWORD"):
            if not self.values.get(key):
                raise ValueError(f"Kafka broker env file {env_file} has no {key} "
                                 "(written by tests/kafka/broker.sh start)")
        self.plaintext = self.values["KAFKA_PLAINTEXT"]           # 127.0.0.1:PORT
        self.sasl_plaintext = self.values["KAFKA_SASL_PLAINTEXT"]  # PLAIN and SCRAM-SHA-512
        self.user = self.values["KAFKA_USER"]
        self.password = self.values["KAFKA_PASSWORD"]

    def check_reachable(self, timeout=15):
        """Fails (naming the env file) unless the broker answers a metadata request."""
        from confluent_kafka.admin import AdminClient
        from confluent_kafka import KafkaException

        try:
            AdminClient({"bootstrap.servers": self.plaintext}).list_topics(timeout=timeout)
        except KafkaException as e:
            pytest.fail(f"the Kafka broker of {self.env_file} ({self.plaintext}) does not answer "
                        f"within {timeout} s: {e}. Is it running? (ctest fixture "
                        "kafka_broker_start, or tests/kafka/broker.sh start DIR)", pytrace=False)

    def hop_url(self, topic, listener=None):
        return f"kafka://{listener or self.plaintext}/{topic}"

    def create_topics(self, *topics, partitions=1, timeout=30):
        """Creates the topics and waits (bounded) until the broker's metadata lists them."""
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.plaintext})
        futures = admin.create_topics([NewTopic(t, num_partitions=partitions, replication_factor=1)
                                       for t in topics], operation_timeout=timeout,
                                      request_timeout=timeout)
        for topic, future in futures.items():
            future.result(timeout=timeout)  # raises on failure
        wait_until(lambda: all(t in admin.list_topics(timeout=5).topics for t in topics),
                   timeout, f"topics {topics} in the broker's metadata")

    def read(self, topic, count, timeout=30, partition=0):
        """The first `count` messages of one partition of `topic`, read from the beginning with a
        plain confluent-kafka consumer (no group membership); fails if fewer came in time."""
        from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING

        consumer = Consumer({"bootstrap.servers": self.plaintext,
                             "group.id": unique_name("reader"),
                             "enable.auto.commit": False,
                             "enable.partition.eof": False})
        try:
            consumer.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)])
            out = []
            deadline = time.monotonic() + timeout
            while len(out) < count and time.monotonic() < deadline:
                m = consumer.poll(0.2)
                if m is None:
                    continue
                if m.error() is not None:
                    raise AssertionError(f"reading {topic}: {m.error()}")
                out.append(Record(m.topic(), m.partition(), m.offset(),
                                  list(m.headers() or []), m.value() or b""))
            if len(out) < count:
                pytest.fail(f"only {len(out)} of {count} messages on {topic} within {timeout} s")
            return out
        finally:
            consumer.close()


def run_tool(argv, timeout=120, input=None, env=None):
    """Runs a tool (hop, kcat), bounded; fails with its output when it exits non-zero."""
    try:
        r = subprocess.run(argv, input=input, capture_output=True, timeout=timeout, env=env)
    except OSError as e:
        pytest.fail(f"cannot run {argv[0]}: {e}")
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{argv[0]} still running after {timeout} s: {argv}\n"
                    f"stdout: {e.stdout!r}\nstderr: {e.stderr!r}")
    if r.returncode != 0:
        pytest.fail(f"{argv} exited {r.returncode}\nstdout: {r.stdout.decode(errors='replace')}\n"
                    f"stderr: {r.stderr.decode(errors='replace')}")
    return r


# ----------------------------------------------------------------------------------- the daemon


@dataclasses.dataclass
class Route:
    topic: str
    handler: str
    selector: str = "topic"  # topic | pattern | regex
    include_test: bool = False


@dataclasses.dataclass
class Stream:
    name: str
    url: str
    routes: list
    security: str = "none"
    tls: Optional[bool] = None  # None: the daemon's default (true for scram-sha-512)
    username: str = ""
    password: str = ""
    start: str = "earliest"

    def toml(self):
        lines = ["[[stream]]",
                 f"name = {toml_string(self.name)}",
                 f"url = {toml_string(self.url)}",
                 f"security = {toml_string(self.security)}"]
        if self.tls is not None:
            lines.append(f"tls = {'true' if self.tls else 'false'}")
        if self.username:
            lines.append(f"username = {toml_string(self.username)}")
        if self.password:
            lines.append(f"password = {toml_string(self.password)}")
        lines += [f"group_id = {toml_string('tomstream-interop-' + self.name)}",
                  f"start = {toml_string(self.start)}",
                  "topic_refresh_ms = 1000"]
        for r in self.routes:
            lines += ["", "  [[stream.route]]",
                      f"  {r.selector} = {toml_string(r.topic)}",
                      f"  handler = {toml_string(r.handler)}"]
            if r.include_test:
                lines.append("  include_test = true")
        return "\n".join(lines) + "\n"


class Daemon:
    """One tomstreamd process with its own directory, config, store, control and notify
    sockets. Paths are kept short: Unix socket paths are limited to 107 bytes."""

    def __init__(self, binaries, kafka):
        self.bin = binaries["TOMSTREAMD_BIN"]
        self.tomctl_bin = binaries["TOMCTL_BIN"]
        self.kafka = kafka
        self.dir = Path(tempfile.mkdtemp(prefix="tomstream-interop-"))
        self.config = self.dir / "tomstreamd.toml"
        self.store_path = self.dir / "state" / "tomstream.db"
        self.socket = self.dir / "ctl.sock"
        self.notify_path = self.dir / "notify.sock"
        self.log_path = self.dir / "tomstreamd.log"
        self.proc = None
        self.notify = None
        self.notifications = []

    # --- configuration -----------------------------------------------------------------------
    def plaintext_stream(self, routes, **kw):
        """A stream on the broker's PLAINTEXT listener (security none) with a unique name."""
        return Stream(name=unique_name("s"), url=f"kafka://{self.kafka.plaintext}/",
                      routes=routes, **kw)

    def configure(self, streams, tail=""):
        text = ("[daemon]\nlog_level = \"info\"\nshutdown_timeout_ms = 10000\n\n"
                f"[store]\npath = {toml_string(self.store_path)}\n\n"
                f"[control]\nsocket = {toml_string(self.socket)}\n\n")
        text += "\n".join(s.toml() for s in streams) + "\n" + tail
        self.config.write_text(text)

    # --- process -----------------------------------------------------------------------------
    def start(self, timeout=30):
        """Starts tomstreamd and waits for READY=1 on the NOTIFY_SOCKET bound here."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        if self.notify is not None:
            self.notify.close()
        if self.notify_path.exists():
            self.notify_path.unlink()
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(str(self.notify_path))
        env = dict(os.environ)
        env["NOTIFY_SOCKET"] = str(self.notify_path)
        env.pop("JOURNAL_STREAM", None)  # logs to stderr, i.e. our log file
        with open(self.log_path, "ab") as log:
            try:
                self.proc = subprocess.Popen([self.bin, "--config", str(self.config)],
                                             cwd=self.dir, env=env, stdin=subprocess.DEVNULL,
                                             stdout=log, stderr=subprocess.STDOUT)
            except OSError as e:
                pytest.fail(f"cannot run {self.bin}: {e} (is the build relinking it?)")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._wait_notification("READY=1", 0.2):
                return
            if self.proc.poll() is not None:
                pytest.fail(f"tomstreamd exited with status {self.proc.returncode} before "
                            f"READY=1; log tail:\n{self.log_tail()}")
        pytest.fail(f"no READY=1 from tomstreamd within {timeout} s; log tail:\n"
                    f"{self.log_tail()}")

    def _wait_notification(self, line, timeout):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            ready, _, _ = select.select([self.notify], [], [], left)
            if not ready:
                return False
            datagram = self.notify.recv(65536).decode("utf-8", errors="replace")
            self.notifications.append(datagram)
            if line in datagram.split("\n"):
                return True

    def stop(self, timeout=20):
        """SIGTERM; expects exit status 0 within `timeout` (else kills it and fails)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            pytest.fail(f"tomstreamd still running {timeout} s after SIGTERM; log tail:\n"
                        f"{self.log_tail()}")
        assert code == 0, f"tomstreamd exited {code} after SIGTERM; log tail:\n{self.log_tail()}"

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def close(self, keep):
        """Teardown: SIGKILL a daemon still running; keep the directory when a test failed."""
        if self.running():
            self.proc.kill()
            self.proc.wait(10)
        if self.notify is not None:
            self.notify.close()
        if keep:
            print(f"tomstreamd test directory kept: {self.dir}", file=sys.stderr)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def log_tail(self, lines=60):
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    # --- tomctl --------------------------------------------------------------------------------
    def tomctl(self, *args, timeout=30, check=True):
        argv = [self.tomctl_bin, "--socket", str(self.socket), *map(str, args)]
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"tomctl {args} still running after {timeout} s")
        except OSError as e:
            pytest.fail(f"cannot run {self.tomctl_bin}: {e} (is the build relinking it?)")
        if check and r.returncode != 0:
            pytest.fail(f"tomctl {' '.join(map(str, args))} exited {r.returncode}: {r.stderr}"
                        f"\nlog tail:\n{self.log_tail()}")
        return r

    def tomctl_json(self, *args, timeout=30):
        r = self.tomctl("--json", *args, timeout=timeout)
        try:
            return json.loads(r.stdout)
        except json.JSONDecodeError as e:
            pytest.fail(f"tomctl --json {args} printed no JSON ({e}): {r.stdout!r}")

    # --- the store (read-only) ------------------------------------------------------------------
    def query(self, sql, params=()):
        """Rows of `sql` on a fresh read-only connection to the daemon's SQLite store."""
        db = sqlite3.connect(f"file:{self.store_path}?mode=ro", uri=True, timeout=5)
        try:
            return db.execute(sql, params).fetchall()
        finally:
            db.close()

    def scalar(self, sql, params=(), default=0):
        try:
            rows = self.query(sql, params)
        except sqlite3.Error:
            return default  # the store may not exist yet
        return rows[0][0] if rows and rows[0][0] is not None else default

    def next_offset(self, stream, topic, partition=0):
        """The stored next offset of a partition (-1 when none): all messages before it are
        stored, counted as duplicates, quarantined or skipped, in one transaction with it."""
        return self.scalar("SELECT next_offset FROM partition_offsets WHERE stream = ? AND "
                           "topic = ? AND partition = ?", (stream, topic, partition), -1)

    def wait_consumed(self, stream, topic, count, timeout=60):
        """Waits until the first `count` messages of partition 0 of `topic` are processed."""
        wait_until(lambda: self.next_offset(stream, topic) >= count, timeout,
                   f"stream {stream} to process {count} messages of {topic}",
                   detail=lambda: f"next offset {self.next_offset(stream, topic)}; log tail:\n"
                                  f"{self.log_tail()}")

    def counters(self, stream):
        rows = self.query("SELECT stored, duplicates, quarantined, skipped FROM stream_counters "
                          "WHERE stream = ?", (stream,))
        keys = ("stored", "duplicates", "quarantined", "skipped")
        return dict(zip(keys, rows[0])) if rows else dict.fromkeys(keys, 0)

    def alerts(self, topic):
        """The stored alerts of `topic` as dicts, in offset order."""
        cols = ("id", "stream", "topic", "partition", "offset", "handler", "message_id", "format",
                "payload", "headers", "summary")
        select_list = ", ".join('"offset"' if c == "offset" else c for c in cols)
        rows = self.query(f"SELECT {select_list} FROM alerts WHERE topic = ? "
                          "ORDER BY \"offset\", id", (topic,))
        out = []
        for row in rows:
            a = dict(zip(cols, row))
            a["message_id"] = bytes(a["message_id"])
            a["payload"] = bytes(a["payload"])
            a["headers"] = decode_stored_headers(a["headers"])
            out.append(a)
        return out

    def quarantine(self):
        return self.query("SELECT topic, \"offset\", handler, error FROM quarantine")


def hop_read(url, count, timeout=30, auth=False):
    """Reads `count` messages of `url` from the beginning with hop-client's Python API
    (hop.io.Stream / Consumer). Returns [(model, hop.io.Metadata)]. Bounded: a timer stops the
    consumer at the deadline (its loop checks every second)."""
    from hop import io as hop_io

    stream = hop_io.Stream(auth=auth, start_at=hop_io.StartPosition.EARLIEST)
    out = []
    with stream.open(url, "r", group_id=unique_name("hop-reader")) as consumer:
        timer = threading.Timer(timeout, consumer.stop)
        timer.start()
        try:
            for message, metadata in consumer.read(metadata=True):
                out.append((message, metadata))
                if len(out) >= count:
                    break
        finally:
            timer.cancel()
    if len(out) < count:
        pytest.fail(f"hop-client read only {len(out)} of {count} messages of {url} within "
                    f"{timeout} s")
    return out


def kcat_json_records(stdout):
    """kcat -J output (one JSON envelope per line) as dicts whose header values and payload are
    bytes. kcat escapes control characters as \\u00XX and writes other bytes as they are, so
    decoding with surrogateescape and encoding back gives the exact bytes."""
    records = []
    # split("\n"), not splitlines(): random _id bytes may decode to U+0085 or U+2028.
    for line in stdout.decode("utf-8", errors="surrogateescape").split("\n"):
        if not line.strip():
            continue
        env = json.loads(line)
        raw = env.get("headers") or []
        env["headers"] = [(raw[i], None if raw[i + 1] is None else
                           raw[i + 1].encode("utf-8", errors="surrogateescape"))
                          for i in range(0, len(raw), 2)]
        if env.get("payload") is not None:
            env["payload"] = env["payload"].encode("utf-8", errors="surrogateescape")
        records.append(env)
    return records

