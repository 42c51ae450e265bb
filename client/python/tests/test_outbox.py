"""Publishing photometry and the outbox calls, delivered to the fake Hermes server."""

from __future__ import annotations

import json
import uuid
from typing import Any

import grpc
import pytest

import tomstream
from conftest import HERMES, TOPIC, UNREACHABLE
from support import FakeHermes, wait_for

State = tomstream.OutboxState


def message(destination: str = HERMES, **photometry: Any) -> dict[str, Any]:
    """A valid message about a target of its own (equal bodies would be deduplicated)."""
    target = f"SN 2026py{uuid.uuid4().hex[:8]}"
    point = {"target_name": target, "date_obs_iso": "2026-05-01T03:04:05Z", "telescope": "1m0",
             "bandpass": "g", "brightness": 18.5, "brightness_error": 0.05}
    point.update(photometry)
    return {"destination": destination, "topic": TOPIC, "title": f"Photometry of {target}",
            "submitter": "pyclient-test",
            "targets": [{"name": target, "ra": "150.125", "dec": "-20.5"}],
            "photometry": [{k: v for k, v in point.items() if v is not None}]}


def wait_state(client: tomstream.Client, uuid_: str,
               state: tomstream.pb.OutboxState) -> tomstream.pb.OutboxEntry:
    def reached() -> tomstream.pb.OutboxEntry | None:
        entry = client.outbox_show(uuid_)
        return entry if entry.state == state else None
    return wait_for(f"outbox entry {uuid_} to be {State.name(state)}", reached)


def outbox_total(client: tomstream.Client) -> int:
    counts = client.status().outbox
    return counts.pending + counts.sending + counts.delivered + counts.dead + counts.cancelled


def test_invalid_message_names_the_field(client: tomstream.Client) -> None:
    before = outbox_total(client)
    with pytest.raises(tomstream.Error) as caught:
        client.publish_photometry(message(bandpass=None))
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "photometry[0].bandpass: is required" in caught.value.message
    assert outbox_total(client) == before


def test_invalid_message_in_a_batch_refuses_the_batch(client: tomstream.Client) -> None:
    before = outbox_total(client)
    with pytest.raises(tomstream.Error) as caught:
        client.publish_photometry([message(), message(bandpass=None, telescope=None)])
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "messages[1].photometry[0].bandpass" in caught.value.message
    assert "messages[1].photometry[0].telescope" in caught.value.message
    assert "messages[0]" not in caught.value.message
    assert outbox_total(client) == before


def test_unknown_key_is_refused_before_the_call(client: tomstream.Client) -> None:
    bad = message()
    bad["photometry"][0]["bandpas"] = "g"
    with pytest.raises(tomstream.Error) as caught:
        client.publish_photometry(bad)
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "messages[0]" in caught.value.message and "bandpas" in caught.value.message


def test_validate_only_stores_nothing(client: tomstream.Client) -> None:
    before = outbox_total(client)
    result = client.publish_photometry(message(), validate_only=True)
    assert result.uuid == "" and not result.duplicate
    results = client.publish_photometry([message(), message()], validate_only=True)
    assert len(results) == 2
    with pytest.raises(tomstream.Error) as caught:
        client.publish_photometry(message(date_obs_iso="not a date"), validate_only=True)
    assert "photometry[0].date_obs" in caught.value.message
    assert outbox_total(client) == before


def test_delivered_to_hermes(client: tomstream.Client, fake_hermes: FakeHermes) -> None:
    msg = message()
    result = client.publish_photometry(msg)
    assert result.uuid and not result.duplicate
    assert result.state in (State.PENDING, State.SENDING, State.DELIVERED)

    entry = wait_state(client, result.uuid, State.DELIVERED)
    assert entry.destination == HERMES and entry.topic == TOPIC and entry.title == msg["title"]
    assert entry.attempts == 1 and entry.hermes_uuid
    assert json.loads(entry.body_json)["data"]["targets"][0]["name"] == msg["targets"][0]["name"]
    received = {m["uuid"]: m for m in fake_hermes.messages()}
    assert received[entry.hermes_uuid]["body"]["title"] == msg["title"]

    delivered = client.outbox_list(state=State.DELIVERED, destination=HERMES, limit=1000)
    assert result.uuid in [e.uuid for e in delivered]
    assert all(e.state == State.DELIVERED for e in delivered)

    again = client.publish_photometry(msg)
    assert again.duplicate and again.uuid == result.uuid


def test_batch_publish_and_list_paging(client: tomstream.Client,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    results = client.publish_photometry(
        [tomstream.pb.PhotometryMessage(**_proto_fields(message())) for _ in range(3)])
    assert len({r.uuid for r in results}) == 3
    for r in results:
        wait_state(client, r.uuid, State.DELIVERED)
    # Two entries per page: the wrapper follows the page tokens.
    monkeypatch.setattr(tomstream._client, "_MAX_PAGE", 2)
    newest = client.outbox_list(destination=HERMES, limit=3)
    assert [e.uuid for e in newest] == [r.uuid for r in reversed(results)]


def _proto_fields(msg: dict[str, Any]) -> dict[str, Any]:
    """A message dict as keyword arguments of the protobuf constructors."""
    return {**msg, "targets": [tomstream.pb.Target(**t) for t in msg["targets"]],
            "photometry": [tomstream.pb.Photometry(**p) for p in msg["photometry"]]}


def test_retry_a_dead_entry(client: tomstream.Client, fake_hermes: FakeHermes) -> None:
    # Hermes's "200 with an error" is permanent: the entry is dead at once.
    fake_hermes.set_mode("error200")
    try:
        result = client.publish_photometry(message())
        dead = wait_state(client, result.uuid, State.DEAD)
    finally:
        fake_hermes.set_mode("ok")
    assert "credential" in dead.last_error + dead.response_body

    retried = client.outbox_retry(result.uuid)
    assert retried.state == State.PENDING and retried.attempts == 0
    wait_state(client, result.uuid, State.DELIVERED)

    with pytest.raises(tomstream.Error) as caught:
        client.outbox_retry(result.uuid)
    assert caught.value.code == grpc.StatusCode.FAILED_PRECONDITION


def test_cancel_a_pending_entry(client: tomstream.Client) -> None:
    result = client.publish_photometry(message(destination=UNREACHABLE))
    # The first attempt fails (connection refused); the next one is 10 minutes away.
    def failed_once() -> bool:
        entry = client.outbox_show(result.uuid)
        return entry.state == State.PENDING and entry.attempts >= 1
    wait_for("a failed first attempt", failed_once)
    cancelled = client.outbox_cancel(result.uuid)
    assert cancelled.state == State.CANCELLED
    assert client.outbox_show(result.uuid).state == State.CANCELLED
    assert result.uuid in [e.uuid for e in client.outbox_list(state=State.CANCELLED)]

    with pytest.raises(tomstream.Error) as caught:
        client.outbox_cancel(result.uuid)
    assert caught.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "cancel" in caught.value.message


def test_outbox_errors(client: tomstream.Client) -> None:
    with pytest.raises(tomstream.Error) as caught:
        client.outbox_show(str(uuid.uuid4()))
    assert caught.value.code == grpc.StatusCode.NOT_FOUND
    with pytest.raises(tomstream.Error) as caught:
        client.outbox_show("not-a-uuid")
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.message.startswith("uuid: ")
