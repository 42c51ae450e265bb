"""Alerts the daemon consumed from the real Kafka broker: list_alerts, get_alert, watch_alerts.

Messages are produced with confluent_kafka (installed with hop-client) on the broker's PLAINTEXT
listener, to a topic of the test's own that a runtime route of the "broker" stream consumes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta, timezone

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

import tomstream
from conftest import BROKER_STREAM
from support import wait_for

pytestmark = pytest.mark.kafka


def kafka_config(kafka: dict[str, str]) -> dict[str, str | int | float | bool]:
    return {"bootstrap.servers": kafka["KAFKA_PLAINTEXT"], "broker.address.family": "v4"}


def produce(kafka: dict[str, str], topic: str, *payloads: bytes) -> None:
    producer = Producer({**kafka_config(kafka), "message.timeout.ms": "30000"})
    errors: list[object] = []
    for payload in payloads:
        producer.produce(topic, payload, on_delivery=lambda err, _msg: errors.append(err))
    assert producer.flush(60) == 0, "messages still unsent after 60 s"
    assert errors == [None] * len(payloads)


@pytest.fixture
def topic(kafka: dict[str, str], client: tomstream.Client) -> Iterator[str]:
    """A new topic, consumed by the daemon through a runtime route (removed afterwards)."""
    name = f"tomstream-pyclient-{uuid.uuid4().hex[:12]}"
    admin = AdminClient(kafka_config(kafka))
    admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)],
                        request_timeout=30)[name].result(timeout=60)
    route = client.add_route(BROKER_STREAM, topic=name, handler="raw", start="earliest")
    yield name
    client.remove_route(route.id)


def stored(client: tomstream.Client, topic: str, count: int) -> list[tomstream.pb.Alert]:
    """The topic's alerts, newest first, once `count` are stored."""
    def enough() -> list[tomstream.pb.Alert] | None:
        alerts = client.list_alerts(topic=topic, include_payload=True)
        return alerts if len(alerts) >= count else None
    return wait_for(f"{count} alerts of {topic}", enough, timeout=60, interval=0.2)


def test_list_and_get_alerts(client: tomstream.Client, kafka: dict[str, str], topic: str) -> None:
    produce(kafka, topic, b'{"n": 1}', b'{"n": 2}')
    alerts = stored(client, topic, 2)
    assert [a.payload for a in alerts] == [b'{"n": 2}', b'{"n": 1}']
    assert [a.offset for a in alerts] == [1, 0]
    assert all(a.stream == BROKER_STREAM and a.handler == "raw" for a in alerts)
    assert alerts[0].id > alerts[1].id

    without_payload = client.list_alerts(topic=topic, stream=BROKER_STREAM, limit=1)
    assert [a.id for a in without_payload] == [alerts[0].id]
    assert without_payload[0].payload == b""
    assert client.get_alert(alerts[1].id).payload == b'{"n": 1}'

    stored_at = alerts[1].stored_at.ToDatetime(timezone.utc)
    assert len(client.list_alerts(topic=topic, since=stored_at - timedelta(hours=1))) == 2
    assert client.list_alerts(topic=topic, since=stored_at + timedelta(hours=1)) == []
    assert client.list_alerts(topic=topic, until=stored_at - timedelta(hours=1)) == []


def test_watch_alerts(client: tomstream.Client, kafka: dict[str, str], topic: str) -> None:
    produce(kafka, topic, b"first")
    (first,) = stored(client, topic, 1)
    # Resuming after the alert before it: the stored one comes first, then new ones as they come.
    watch = client.watch_alerts(topic=topic, after_id=first.id - 1, include_payload=True,
                                timeout=60)
    try:
        assert next(watch).id == first.id
        produce(kafka, topic, b"second")
        second = next(watch)
        assert second.payload == b"second" and second.id > first.id and second.topic == topic
    finally:
        watch.close()

