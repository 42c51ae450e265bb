"""The daemon and route calls, and how failures surface as tomstream.Error."""

from __future__ import annotations

import os
import uuid
from datetime import datetime, timezone

import grpc
import pytest

import tomstream
from conftest import CLOSED_STREAM
from support import Daemon


def test_version(client: tomstream.Client) -> None:
    version = client.version()
    assert version.api_version == "tomstream.v1"
    assert version.version and version.sqlite_version and version.grpc_version


def test_status(client: tomstream.Client, daemon: Daemon) -> None:
    status = client.status()
    assert status.pid == daemon.process.pid
    assert status.control_socket == daemon.socket_path
    assert status.store.path == str(daemon.directory / "state" / "tomstream.db")
    assert status.store.schema_version > 0
    assert CLOSED_STREAM in [s.name for s in status.streams]
    assert {"hermes", "unreachable"} <= {d.name for d in status.outbox.destinations}
    assert [s.name for s in client.streams()] == [s.name for s in status.streams]


def test_set_log_level(client: tomstream.Client) -> None:
    assert client.set_log_level("debug") == "info"
    assert client.status().log_level == "debug"
    assert client.set_log_level("info") == "debug"
    with pytest.raises(tomstream.Error) as caught:
        client.set_log_level("loud")
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT


def test_routes_add_list_remove(client: tomstream.Client) -> None:
    topic = f"pyclient-{uuid.uuid4().hex[:8]}"
    exact = client.add_route(CLOSED_STREAM, topic=topic, handler="raw", start="last:10",
                             include_test=True)
    pattern = client.add_route(CLOSED_STREAM, pattern=topic + ".*", handler="log",
                               start=datetime(2026, 5, 1, tzinfo=timezone.utc))
    assert exact.id > 0 and pattern.id > exact.id
    assert exact.origin == tomstream.pb.ROUTE_ORIGIN_RUNTIME
    assert exact.start.last_n == 10 and exact.include_test

    listed = {r.id: r for r in client.routes(CLOSED_STREAM)}
    assert listed[exact.id].topic == topic and listed[exact.id].handler == "raw"
    assert listed[pattern.id].pattern == topic + ".*"
    assert listed[pattern.id].start.time.ToDatetime(timezone.utc) == datetime(
        2026, 5, 1, tzinfo=timezone.utc)

    client.remove_route(exact.id)
    client.remove_route(pattern.id)
    remaining = {r.id for r in client.routes()}
    assert exact.id not in remaining and pattern.id not in remaining


def test_route_errors(client: tomstream.Client) -> None:
    with pytest.raises(tomstream.Error) as caught:
        client.add_route(CLOSED_STREAM, topic="a", pattern="b*", handler="raw")
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "exactly one of topic, pattern or regex" in caught.value.message
    with pytest.raises(tomstream.Error) as caught:
        client.add_route("no-such-stream", topic="a", handler="raw")
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.message.startswith("route.stream: ")
    assert "no-such-stream" in caught.value.message
    with pytest.raises(tomstream.Error) as caught:
        client.remove_route(999999)
    assert caught.value.code == grpc.StatusCode.NOT_FOUND
    with pytest.raises(ValueError, match="last:N"):
        client.add_route(CLOSED_STREAM, topic="a", handler="raw", start="yesterday")


def test_error_carries_method_code_and_message(client: tomstream.Client) -> None:
    with pytest.raises(tomstream.Error) as caught:
        client.remove_route(0)
    error = caught.value
    assert error.method == "RemoveRoute"
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.message.startswith("id: ")
    assert str(error) == f"RemoveRoute: INVALID_ARGUMENT: {error.message}"


def test_no_daemon_is_unavailable(tmp_path: os.PathLike[str]) -> None:
    missing = os.path.join(tmp_path, "nothing.sock")
    with tomstream.Client(missing, timeout=5) as client:
        with pytest.raises(tomstream.Error) as caught:
            client.status()
    assert caught.value.code == grpc.StatusCode.UNAVAILABLE
    assert missing in caught.value.message


def test_watch_alerts_deadline(client: tomstream.Client) -> None:
    # Nothing is stored for this topic: the call's deadline ends the watch as an Error.
    watch = client.watch_alerts(topic=f"never-{uuid.uuid4().hex}", timeout=1)
    with pytest.raises(tomstream.Error) as caught:
        next(watch)
    assert caught.value.method == "WatchAlerts"
    assert caught.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
