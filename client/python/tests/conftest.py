"""Fixtures: one live tomstreamd for the session, publishing to the fake Hermes server and, when
$TOMSTREAM_KAFKA_ENV names a broker (as ctest's "kafka" fixture does), consuming from it.

Run from the repository root with the package importable (tests/run.sh does all of it):
    PYTHONPATH=<where tomstream-client is installed> python -m pytest client/python/tests
Tests marked `kafka` FAIL without the broker; deselect them with -m "not kafka".
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

import tomstream
from support import Daemon, FakeHermes, read_kafka_env

HERMES_TOKEN = "python-client-token"
# Destinations of the daemon under test.
HERMES = "hermes"            # the fake Hermes; fast retries
UNREACHABLE = "unreachable"  # a closed port; the first retry waits 10 minutes
TOPIC = "hermes.test"
# Streams: "closed" (a closed port: routes can be added and listed) and, with the broker, "broker".
CLOSED_STREAM = "closed"
BROKER_STREAM = "broker"

CONFIG = """
[daemon]
log_level = "info"
shutdown_timeout_ms = 10000

[store]
path = "@DIR@/state/tomstream.db"

[control]
socket = "@DIR@/control.sock"

[[stream]]
name = "closed"
url = "kafka://127.0.0.1:9/"
security = "none"

[[destination]]
name = "hermes"
kind = "hermes"
base_url = "{hermes_url}"
api_key = "{token}"
topics = ["hermes.test"]
request_timeout_ms = 3000
max_attempts = 3
retry_initial_ms = 100
retry_max_ms = 300

[[destination]]
name = "unreachable"
kind = "hermes"
base_url = "http://127.0.0.1:9/"
api_key = "unused"
topics = ["hermes.test"]
request_timeout_ms = 1000
retry_initial_ms = 600000
retry_max_ms = 600000
"""

BROKER_STREAM_CONFIG = """
[[stream]]
name = "broker"
url = "kafka://{bootstrap}/"
security = "none"
group_id = "{group}"
start = "earliest"
topic_refresh_ms = 500
"""


@pytest.fixture(scope="session")
def kafka_env() -> dict[str, str] | None:
    """The broker's listeners, or None without $TOMSTREAM_KAFKA_ENV."""
    path = os.environ.get("TOMSTREAM_KAFKA_ENV")
    return read_kafka_env(path) if path else None


@pytest.fixture
def kafka(kafka_env: dict[str, str] | None) -> dict[str, str]:
    """The broker, for tests that need it: without one they fail, never skip."""
    if kafka_env is None:
        pytest.fail("TOMSTREAM_KAFKA_ENV is not set: this test needs the real Kafka broker. Run "
                    "it through ctest (fixture 'kafka'), or start one with tests/kafka/broker.sh "
                    "start DIR and export TOMSTREAM_KAFKA_ENV=DIR/broker.env (or deselect it: "
                    "-m 'not kafka')", pytrace=False)
    return kafka_env


@pytest.fixture(scope="session")
def fake_hermes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeHermes]:
    server = FakeHermes(HERMES_TOKEN, tmp_path_factory.mktemp("hermes") / "fake_hermes.log")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def daemon(tmp_path_factory: pytest.TempPathFactory, fake_hermes: FakeHermes,
           kafka_env: dict[str, str] | None) -> Iterator[Daemon]:
    config = CONFIG.format(hermes_url=fake_hermes.base_url, token=HERMES_TOKEN)
    if kafka_env is not None:
        # A group of its own: offsets committed by an earlier run on the same broker don't apply.
        config += BROKER_STREAM_CONFIG.format(bootstrap=kafka_env["KAFKA_PLAINTEXT"],
                                              group=f"tomstream-pyclient-{uuid.uuid4().hex[:12]}")
    # A short directory: a Unix socket path must fit in 108 bytes.
    process = Daemon(tmp_path_factory.mktemp("daemon"), config)
    yield process
    status = process.stop()
    assert status == 0, (f"tomstreamd exited with {status} after SIGTERM; log:\n"
                         f"{process.log_tail()}")


@pytest.fixture
def client(daemon: Daemon) -> Iterator[tomstream.Client]:
    with tomstream.Client(daemon.socket_path, timeout=10) as c:
        yield c

