"""pytest fixtures of the interoperability tests (helpers in interop_support.py).

- `kafka` (session): the real broker of ctest's "kafka" fixture, from TOMSTREAM_KAFKA_ENV. Unset
  or missing, every test FAILS with the reason: an integration test that did not run is no pass.
- `binaries` (session): TOMSTREAMD_BIN and TOMCTL_BIN, which ctest sets.
- `fixtures` (session): shared/fixtures beside the repository (public example messages).
- `daemon`: a factory of Daemons (tomstreamd with its own config, store and sockets), killed
  after the test if still running; their directories are kept when the test failed.
- `hop_env`: the environment for hop CLI runs (a private, empty hop configuration).
"""
import os
from pathlib import Path

import pytest

from interop_support import Daemon, Kafka, fixtures_dir


@pytest.fixture(scope="session")
def kafka():
    env_file = os.environ.get("TOMSTREAM_KAFKA_ENV")
    if not env_file:
        pytest.fail("TOMSTREAM_KAFKA_ENV is not set: these tests need the real Kafka broker. Run "
                    "them through ctest (ctest -R \"kafka_broker|python_venv|interop\"), or start "
                    "one with tests/kafka/broker.sh start DIR and set "
                    "TOMSTREAM_KAFKA_ENV=DIR/broker.env", pytrace=False)
    if not Path(env_file).is_file():
        pytest.fail(f"TOMSTREAM_KAFKA_ENV={env_file} does not exist: is the broker running? "
                    "(ctest fixture kafka_broker_start, or tests/kafka/broker.sh start DIR)",
                    pytrace=False)
    kafka = Kafka(env_file)
    kafka.check_reachable()
    return kafka


@pytest.fixture(scope="session")
def binaries():
    found = {}
    for var in ("TOMSTREAMD_BIN", "TOMCTL_BIN"):
        path = os.environ.get(var)
        if not path or not os.access(path, os.X_OK):
            pytest.fail(f"{var} must name the built binary (ctest sets it; by hand e.g. "
                        f"{var}=build/...); got {path!r}", pytrace=False)
        found[var] = path
    return found


@pytest.fixture(scope="session")
def fixtures():
    return fixtures_dir()


@pytest.fixture()
def hop_env(tmp_path):
    """The environment of hop CLI runs: a private, empty hop configuration directory (no
    credentials of the machine's user are read; the URLs say --no-auth or give their own)."""
    env = dict(os.environ)
    env["XDG_CONFIG_HOME"] = str(tmp_path / "hop-config")
    return env


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, "rep_" + report.when, report)


@pytest.fixture()
def daemon(request, binaries, kafka):
    """A factory: daemon() -> a new (not yet started) Daemon; all are torn down after the
    test, their directories kept when it failed."""
    made = []

    def make():
        d = Daemon(binaries, kafka)
        made.append(d)
        return d

    yield make
    failed = any(getattr(request.node, "rep_" + w, None) is not None and
                 getattr(request.node, "rep_" + w).failed for w in ("setup", "call"))
    for d in made:
        d.close(keep=failed)
