"""kcat (/usr/bin/kcat, librdkafka's command-line client) and tomstreamd, both ways.

1. Messages kcat produces, with hop headers given by hand (-H _format=..., -H _id=<16 bytes>)
   or with none at all, are ingested by tomstreamd: keyed by the `_id` (a repeat is stored once)
   or, without one, by the topic and payload; the format from `_format`, else detected (JSON, a
   hop-client legacy {"format", "content"} envelope, or a blob).
2. kcat consumes what tomstreamd's outbox publishes to a kind = "kafka" destination: its -J
   envelope shows hop-client's headers (`_id` = the entry's uuid as 16 raw bytes, `_format`,
   `_sender`, Hermes's `title` and `topic`) and a body that passes the Hermes rules.
"""
import hashlib
import json
import shutil

import pytest

from interop_support import (Route, first_header, hermes_errors, kcat_json_records,
                             random_hop_id, run_tool, unique_name, uuid_bytes, wait_until)


@pytest.fixture()
def kcat(tmp_path):
    path = shutil.which("kcat")
    if path is None:
        pytest.fail("kcat not found (Debian package kcat)", pytrace=False)
    home = tmp_path / "kcat-home"  # no ~/.config/kcat.conf of the machine's user is read
    home.mkdir()

    def run(*args, input=None, timeout=60):
        return run_tool([path, *args], input=input, timeout=timeout, env={"HOME": str(home)})
    return run


def kcat_produce(kcat, kafka, topic, files, headers=()):
    """kcat -P: each file is one message; every message gets `headers` [(key, bytes)]."""
    argv = ["-P", "-b", kafka.plaintext, "-t", topic, "-p", "0"]
    for key, value in headers:
        argv += ["-H", key.encode() + b"=" + value]
    kcat(*argv, *map(str, files))


def test_kcat_produced_messages_are_ingested(kafka, daemon, fixtures, kcat):
    topics = {name: unique_name(f"kcat-{name}") for name in ("hermes", "gcn", "raw")}
    kafka.create_topics(*topics.values())
    d = daemon()
    stream = d.plaintext_stream([Route(topics["hermes"], "hermes"),
                                 Route(topics["gcn"], "gcn"),
                                 Route(topics["raw"], "raw")])
    d.configure([stream])
    d.start()

    # A Hermes message with hop's headers, set by hand; then the same _id again.
    hermes_file = fixtures / "hermes/photometry_example.json"
    hermes_id = random_hop_id(allow_nul=False)
    hop_headers = [("_format", b"json"), ("_id", hermes_id), ("_sender", b"kcat-user")]
    kcat_produce(kcat, kafka, topics["hermes"], [hermes_file], hop_headers)
    kcat_produce(kcat, kafka, topics["hermes"], [hermes_file], hop_headers)

    # VOEvents, each with its own _id; then a GCN circular in hop-client's legacy envelope
    # ({"format": "circular", "content": {...}}, as SCiMMA's skip has it), without headers.
    voevent_files = [fixtures / "gcn/voevent/LVC_PRELIMINARY__lvc_preliminary_75550.xml",
                     fixtures / "gcn/voevent/KONUS_LC__Konus_Lightcurve_2015-07-10T00_28_01.68.xml"]
    voevent_ids = [random_hop_id(allow_nul=False) for _ in voevent_files]
    for path, hop_id in zip(voevent_files, voevent_ids):
        kcat_produce(kcat, kafka, topics["gcn"], [path],
                     [("_format", b"voevent"), ("_id", hop_id)])
    envelope_file = fixtures / "hop/skip/gcn_circular_message__S190510g.json"
    kcat_produce(kcat, kafka, topics["gcn"], [envelope_file])

    # No headers at all: JSON (twice: a repeat by content) and a blob.
    json_file = fixtures / "hop/test_data/example_json.json"
    blob_file = fixtures / "hop/test_data/example_blob.txt"
    kcat_produce(kcat, kafka, topics["raw"], [json_file, json_file, blob_file])

    d.wait_consumed(stream.name, topics["hermes"], 2)
    d.wait_consumed(stream.name, topics["gcn"], len(voevent_files) + 1)
    d.wait_consumed(stream.name, topics["raw"], 3)
    assert d.quarantine() == [], f"quarantined: {d.quarantine()}\n{d.log_tail()}"

    # Hermes: stored once under the _id kcat sent, with its photometry.
    alerts = d.alerts(topics["hermes"])
    assert len(alerts) == 1, f"{len(alerts)} alerts for one _id sent twice"
    a = alerts[0]
    assert (a["offset"], a["message_id"], a["format"], a["handler"]) == \
        (0, hermes_id, "json", "hermes")
    assert a["payload"] == hermes_file.read_bytes()
    assert a["headers"] == hop_headers
    assert d.query("SELECT count(*) FROM photometry WHERE alert_id = ?", (a["id"],)) == [(2,)]

    # VOEvents: as sent, parsed by the gcn handler. The envelope: unwrapped (format circular),
    # keyed by SHA-256 of topic, NUL, payload (it has no _id), stored as it came.
    def content_id(topic, path):
        return hashlib.sha256(topic.encode() + b"\0" + path.read_bytes()).digest()

    alerts = d.alerts(topics["gcn"])
    assert [(x["message_id"], x["format"], x["payload"]) for x in alerts] == \
        [(i, "voevent", p.read_bytes()) for i, p in zip(voevent_ids, voevent_files)] + \
        [(content_id(topics["gcn"], envelope_file), "circular", envelope_file.read_bytes())]
    notices = d.query("SELECT kind, ivorn, event_id, title FROM gcn_notices JOIN alerts ON "
                      "alerts.id = alert_id WHERE topic = ? ORDER BY \"offset\"", (topics["gcn"],))
    envelope = json.loads(envelope_file.read_bytes())["content"]["header"]
    assert notices == [
        ("voevent", "ivo://gwnet/LVC#MS260402r-1-Preliminary", "MS260402r", None),  # GraceID
        ("voevent", "ivo://nasa.gsfc.gcn/KONUS#Lightcurve_2015-07-10T00:28:01.68_000001-877",
         "1721301681", None),  # TrigID
        ("circular", None, envelope["NUMBER"], envelope["SUBJECT"]),
    ]

    # No _id: keyed by content; the repeated JSON is stored once. Formats as hop-client decodes
    # them without a _format header: valid JSON is json, anything else a blob.
    alerts = d.alerts(topics["raw"])
    assert [(x["offset"], x["message_id"], x["format"], x["headers"], x["payload"])
            for x in alerts] == [
        (0, content_id(topics["raw"], json_file), "json", [], json_file.read_bytes()),
        (2, content_id(topics["raw"], blob_file), "blob", [], blob_file.read_bytes()),
    ]
    counters = d.counters(stream.name)
    assert (counters["stored"], counters["duplicates"]) == (1 + 3 + 2, 2)
    d.stop()


def test_kcat_consumes_what_tomstreamd_publishes(kafka, daemon, kcat):
    topic = unique_name("kcat-phot")
    kafka.create_topics(topic)
    d = daemon()
    stream = d.plaintext_stream([])  # the destination's broker; nothing is consumed
    d.configure([stream], tail=(
        "[[destination]]\nname = \"hop\"\nkind = \"kafka\"\n"
        f"stream = \"{stream.name}\"\ntopics = [\"{topic}\"]\n"
        "retry_initial_ms = 100\nretry_max_ms = 1000\n"))
    d.start()

    targets = ["SN 2026kca", "AT 2026kcb"]
    uuids = []
    for i, target in enumerate(targets):
        published = d.tomctl_json(
            "publish", "photometry", "--destination", "hop", "--topic", topic,
            "--submitter", "interop", "--target", target, "--ra", "10:00:24.3", "--dec",
            "-20:34:04", "--date-obs", str(60431.5 + i), "--bandpass", "r", "--instrument",
            "fa16", "--limiting-brightness", "20.5")
        uuids.append(published["results"][0]["uuid"])
    wait_until(lambda: d.scalar("SELECT count(*) FROM outbox WHERE state = 3") == 2, 30,
               "both outbox entries delivered",
               detail=lambda: f"{d.query('SELECT state, attempts, last_error FROM outbox')}\n"
                              f"{d.log_tail()}")
    bodies = {bytes(u): b for u, b in d.query("SELECT uuid, body FROM outbox")}

    out = kcat("-C", "-b", kafka.plaintext, "-t", topic, "-p", "0", "-o", "beginning",
               "-c", "2", "-e", "-J", timeout=60).stdout
    records = kcat_json_records(out)
    assert len(records) == 2, f"kcat printed {len(records)} messages: {out!r}"
    for record, entry_uuid, target in zip(records, uuids, targets):
        headers = record["headers"]
        assert first_header(headers, "_id") == uuid_bytes(entry_uuid)
        assert first_header(headers, "_format") == b"json"
        assert first_header(headers, "_sender") == b"tomstreamd"  # PLAINTEXT: no user name
        assert first_header(headers, "title") == f"Photometry of {target}".encode()
        assert first_header(headers, "topic") == topic.encode()
        assert record["payload"] == bodies[uuid_bytes(entry_uuid)].encode()
        body = json.loads(record["payload"])
        assert hermes_errors(body) == {}
        assert body["data"]["targets"][0]["name"] == target
        assert body["data"]["photometry"][0]["limiting_brightness"] == 20.5
    d.stop()
