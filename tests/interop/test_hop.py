"""hop-client (scimma/hop-client 0.13 from PyPI) and tomstreamd, both ways, on the real broker.

1. Messages published with the `hop publish` CLI in its formats (JSON, VOEVENT, CIRCULAR,
   GCNTEXTNOTICE, BLOB, AVRO) are ingested by tomstreamd: one alert per Kafka message, keyed by
   the message's hop `_id`, with hop's format, the payload and headers as they are on the topic,
   and the handler's records (hermes, gcn, raw). A message hop-client re-sends with the same
   `_id` is stored once, also across a restart. `hop publish -t` test messages are skipped unless
   the route includes them.
2. Photometry tomstreamd publishes to a kind = "kafka" destination is read by hop-client's
   Python API (and its `hop subscribe` CLI) as JSON messages with the outbox entry's uuid as
   `_id`, `_format` json, the right `_sender`, and bodies that pass the Hermes rules.

Messages are real examples from shared/fixtures (see its SOURCES.md).
"""
import base64
import json
import os
import sys
import xml.etree.ElementTree as ET

import pytest

from interop_support import (Route, first_header, hermes_errors, hop_read, run_tool, unique_name,
                             uuid_bytes, wait_until)

VENV_BIN = os.path.dirname(sys.executable)


def hop_cli():
    path = os.path.join(VENV_BIN, "hop")
    if not os.access(path, os.X_OK):
        pytest.fail(f"no hop CLI next to {sys.executable}: run the tests with the venv of "
                    "tests/python/venv.sh", pytrace=False)
    return path


def hop_publish(kafka, hop_env, topic, fmt, files):
    """`hop publish --no-auth -f FMT kafka://.../topic FILE...`: one message per file."""
    run_tool([hop_cli(), "publish", "--no-auth", "--timeout", "30", "-f", fmt,
              kafka.hop_url(topic), *map(str, files)], env=hop_env)


def check_alerts_match_topic(d, kafka, topic, count, handler, fmt):
    """The alerts of `topic` are exactly the messages on it: one per offset, message id = the
    message's `_id` header (16 bytes), payload and headers as sent, hop's format. Returns the
    [(alert, record)] pairs."""
    records = kafka.read(topic, count)
    alerts = d.alerts(topic)
    assert [a["offset"] for a in alerts] == [r.offset for r in records], \
        f"{topic}: stored offsets differ from the topic's"
    pairs = list(zip(alerts, records))
    for a, r in pairs:
        hop_id = first_header(r.headers, "_id")
        assert hop_id is not None and len(hop_id) == 16, f"hop sent no 16-byte _id: {r.headers}"
        assert a["message_id"] == hop_id, f"{topic}@{r.offset}: stored message id != hop _id"
        assert first_header(r.headers, "_format") == fmt.encode()
        assert a["format"] == fmt
        assert a["handler"] == handler
        assert a["payload"] == r.value
        assert a["headers"] == [(k, v) for k, v in r.headers]
    return pairs


def test_hop_cli_publish_in_each_format_is_ingested(kafka, daemon, fixtures, hop_env):
    topics = {name: unique_name(f"hop-{name}") for name in
              ("hermes", "gcnjson", "voevent", "circular", "text", "raw")}
    kafka.create_topics(*topics.values())
    d = daemon()
    stream = d.plaintext_stream([
        Route(topics["hermes"], "hermes"),
        Route(topics["gcnjson"], "gcn"),
        Route(topics["voevent"], "gcn"),
        Route(topics["circular"], "gcn"),
        Route(topics["text"], "gcn"),
        Route(topics["raw"], "raw"),
    ])
    d.configure([stream])
    d.start()

    hermes_file = fixtures / "hermes/photometry_example.json"
    gcn_json_files = [fixtures / "gcn/json/einstein_probe.wxt.alert__alert_247.json",
                      fixtures / "gcn/json/classic.SWIFT_BAT_GRB_POS_ACK.example.json"]
    voevent_files = [fixtures / "hop/test_data/example_voevent.xml"] + [
        fixtures / "gcn/voevent" / name for name in (
            "SWIFT_BAT_GRB_POS__SWIFT_bat_position_v2.0_example.xml",
            "FERMI_GBM_FLT_POS__fermi_gbm_flt_pos_8554.xml",
            "LVC_RETRACTION__lvc_retraction_16779.xml",
            "svom.voevent.mxt__mxt_53.xml")]
    circular_files = [fixtures / "hop/example.gcn3", fixtures / "hop/test_data/example_gcn.gcn3"]
    text_files = [fixtures / "gcn/text/AMON_ICECUBE_ASTROTRACK_BRONZE__example_gcn.txt"]
    blob_file = fixtures / "hop/test_data/example_blob.txt"
    avro_file = fixtures / "hop/test_data/example_avro.avro"

    hop_publish(kafka, hop_env, topics["hermes"], "JSON", [hermes_file])
    hop_publish(kafka, hop_env, topics["gcnjson"], "JSON", gcn_json_files)
    hop_publish(kafka, hop_env, topics["voevent"], "VOEVENT", voevent_files)
    hop_publish(kafka, hop_env, topics["circular"], "CIRCULAR", circular_files)
    hop_publish(kafka, hop_env, topics["text"], "GCNTEXTNOTICE", text_files)
    hop_publish(kafka, hop_env, topics["raw"], "BLOB", [blob_file])
    hop_publish(kafka, hop_env, topics["raw"], "AVRO", [avro_file])

    expected = {"hermes": 1, "gcnjson": len(gcn_json_files), "voevent": len(voevent_files),
                "circular": len(circular_files), "text": len(text_files), "raw": 2}
    for name, n in expected.items():
        d.wait_consumed(stream.name, topics[name], n)
    assert d.quarantine() == [], f"quarantined: {d.quarantine()}\n{d.log_tail()}"
    counters = d.counters(stream.name)
    assert counters["stored"] == sum(expected.values())
    assert counters["duplicates"] == 0

    # JSON (a Hermes message): hop re-serialises the JSON; the stored payload is what it sent.
    (alert, record), = check_alerts_match_topic(d, kafka, topics["hermes"], 1, "hermes", "json")
    assert json.loads(alert["payload"]) == json.loads(hermes_file.read_bytes())
    rows = d.query("SELECT title, submitter FROM hermes_messages WHERE alert_id = ?",
                   (alert["id"],))
    assert rows == [("Updated data for SN 2026abc from MyTOM.", "MyTOM")]
    rows = d.query("SELECT bandpass, brightness, limiting_brightness FROM photometry "
                   "WHERE alert_id = ? ORDER BY bandpass", (alert["id"],))
    assert rows == [("g", 18.52, None), ("r", None, 20.2)]
    assert d.query("SELECT alias FROM target_aliases JOIN targets ON targets.id = target_id "
                   "WHERE alert_id = ?", (alert["id"],)) == [("ZTF26aaaaaaa",)]

    # JSON (GCN notices) to the gcn handler.
    pairs = check_alerts_match_topic(d, kafka, topics["gcnjson"], 2, "gcn", "json")
    for (alert, _), path in zip(pairs, gcn_json_files):
        assert json.loads(alert["payload"]) == json.loads(path.read_bytes())
    notices = [gcn_row(d, a["id"]) for a, _ in pairs]
    assert notices[0]["kind"] == "json"
    assert notices[0]["notice_type"] == "einstein_probe.wxt.alert"  # from its $schema
    assert notices[1]["kind"] == "json"
    assert notices[1]["mission"] == "SWIFT"

    # VOEVENT: hop sends the XML document unchanged.
    voevent_pairs = check_alerts_match_topic(d, kafka, topics["voevent"], len(voevent_files),
                                             "gcn", "voevent")
    for (alert, _), path in zip(voevent_pairs, voevent_files):
        assert alert["payload"] == path.read_bytes()
        root = ET.fromstring(path.read_bytes())
        notice = gcn_row(d, alert["id"])
        assert notice["kind"] == "voevent"
        assert notice["ivorn"] == root.get("ivorn").strip()
        assert notice["role"] == root.get("role", "").strip()

    # CIRCULAR: hop parses the GCN3 text (RFC 822 style) and sends {"header", "body"} as JSON.
    pairs = check_alerts_match_topic(d, kafka, topics["circular"], len(circular_files), "gcn",
                                     "circular")
    for (alert, _), path in zip(pairs, circular_files):
        sent = json.loads(alert["payload"])
        assert set(sent) == {"header", "body"}
        notice = gcn_row(d, alert["id"])
        assert notice["kind"] == "circular"
        assert notice["event_id"] == header_line(path, "NUMBER")
        assert notice["title"] == header_line(path, "SUBJECT")

    # GCNTEXTNOTICE: the text as it is.
    (alert, _), = check_alerts_match_topic(d, kafka, topics["text"], 1, "gcn", "gcntextnotice")
    assert alert["payload"] == text_files[0].read_bytes()
    assert gcn_row(d, alert["id"])["kind"] == "text"

    # BLOB and AVRO to the raw handler: kept as they are, with hop's format.
    records = kafka.read(topics["raw"], 2)
    alerts = d.alerts(topics["raw"])
    assert [(a["message_id"], a["format"], a["handler"], a["payload"]) for a in alerts] == \
        [(first_header(r.headers, "_id"), fmt, "raw", r.value)
         for r, fmt in zip(records, ("blob", "avro"))]
    assert alerts[0]["payload"] == blob_file.read_bytes()

    # The control API shows the same: message_id (bytes, base64 in proto JSON) is hop's _id.
    listed = d.tomctl_json("alerts", "ls", "--topic", topics["voevent"], "--limit", "100")
    by_offset = {int(a["offset"]): a for a in listed["alerts"]}
    for _, record in voevent_pairs:
        shown = by_offset[record.offset]
        assert base64.b64decode(shown["message_id"]) == first_header(record.headers, "_id")
        assert shown["format"] == "voevent"
        assert shown["handler"] == "gcn"
    d.stop()


def gcn_row(d, alert_id):
    cols = ("kind", "notice_type", "mission", "instrument", "event_id", "ivorn", "role", "title")
    rows = d.query(f"SELECT {', '.join(cols)} FROM gcn_notices WHERE alert_id = ?", (alert_id,))
    assert len(rows) == 1, f"alert {alert_id} has {len(rows)} gcn_notices rows"
    return dict(zip(cols, rows[0]))


def header_line(path, key):
    """The value of a GCN3 circular's header line KEY: value."""
    for line in path.read_text().splitlines():
        if line.startswith(key + ":"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"{path} has no {key} line")


def test_hop_republished_id_is_stored_once(kafka, daemon, fixtures):
    """hop-client re-sends a message with the same `_id` the way its RobustProducer does:
    Producer.pack once, write_raw again. tomstreamd stores it once, also after a restart; the
    same content under a new `_id` is a new message."""
    from hop import io as hop_io
    from hop import models

    topic = unique_name("hop-repeat")
    kafka.create_topics(topic)
    d = daemon()
    stream = d.plaintext_stream([Route(topic, "gcn")])
    d.configure([stream])
    d.start()

    voevent = models.VOEvent.load_file(fixtures / "hop/test_data/example_voevent.xml")
    payload, headers = hop_io.Producer.pack(voevent)
    hop_id = first_header(headers, "_id")
    url = kafka.hop_url(topic)
    with hop_io.Stream(auth=False).open(url, "w") as producer:
        producer.write_raw(payload, headers)        # offset 0
        producer.write_raw(payload, list(headers))  # offset 1: the same _id again
        producer.write(voevent)                     # offset 2: same content, a new _id
    d.wait_consumed(stream.name, topic, 3)

    records = kafka.read(topic, 3)
    ids = [first_header(r.headers, "_id") for r in records]
    assert ids[0] == ids[1] == hop_id and ids[2] != hop_id
    assert records[0].value == records[1].value == records[2].value
    alerts = d.alerts(topic)
    assert [(a["offset"], a["message_id"]) for a in alerts] == [(0, ids[0]), (2, ids[2])]
    counters = d.counters(stream.name)
    assert (counters["stored"], counters["duplicates"]) == (2, 1)

    # Dedupe lives in the store: after a restart the _id is still known.
    d.stop()
    with hop_io.Stream(auth=False).open(url, "w") as producer:
        producer.write_raw(payload, list(headers))  # offset 3
    d.start()
    d.wait_consumed(stream.name, topic, 4)
    assert len(d.alerts(topic)) == 2
    assert d.counters(stream.name)["duplicates"] == 2
    assert d.quarantine() == []
    d.stop()


def test_hop_test_messages_are_skipped_unless_the_route_includes_them(kafka, daemon, fixtures,
                                                                      hop_env):
    """`hop publish -t` marks a message with the `_test` header, which hop-client's consumers
    skip by default; so does tomstreamd, unless the route sets include_test."""
    skip_topic, keep_topic = unique_name("hop-test-skip"), unique_name("hop-test-keep")
    kafka.create_topics(skip_topic, keep_topic)
    d = daemon()
    stream = d.plaintext_stream([Route(skip_topic, "raw"),
                                 Route(keep_topic, "raw", include_test=True)])
    d.configure([stream])
    d.start()
    message = fixtures / "hop/test_data/example_json.json"
    run_tool([hop_cli(), "publish", "--no-auth", "--timeout", "30", "-f", "JSON", "-t",
              kafka.hop_url(skip_topic), str(message)], env=hop_env)
    hop_publish(kafka, hop_env, skip_topic, "JSON", [message])
    run_tool([hop_cli(), "publish", "--no-auth", "--timeout", "30", "-f", "JSON", "-t",
              kafka.hop_url(keep_topic), str(message)], env=hop_env)
    d.wait_consumed(stream.name, skip_topic, 2)
    d.wait_consumed(stream.name, keep_topic, 1)

    skip_records = kafka.read(skip_topic, 2)
    assert first_header(skip_records[0].headers, "_test") == b"true"
    assert first_header(skip_records[1].headers, "_test") is None
    assert [(a["offset"], a["message_id"]) for a in d.alerts(skip_topic)] == \
        [(1, first_header(skip_records[1].headers, "_id"))]
    (kept,) = d.alerts(keep_topic)
    assert first_header(kept["headers"], "_test") == b"true"
    counters = d.counters(stream.name)
    assert (counters["stored"], counters["skipped"]) == (2, 1)
    d.stop()


@pytest.mark.parametrize("listener", ["plaintext", "scram"])
def test_hop_reads_photometry_tomstreamd_publishes(kafka, daemon, hop_env, listener):
    """tomctl publish photometry -> outbox -> kind = "kafka" destination -> hop-client reads it.
    PLAINTEXT: _sender is tomstreamd's default; SASL SCRAM-SHA-512 (Hopskotch's mechanism, here
    without TLS): _sender is the stream's user name, as hop-client sets it from its credential.
    The second message has non-ASCII text and the flux unit, which Hermes spells with U+212B."""
    from hop import models
    from hop.auth import Auth, SASLMethod

    topic = unique_name("hop-phot")
    kafka.create_topics(topic)
    d = daemon()
    if listener == "plaintext":
        stream = d.plaintext_stream([])
        hop_auth, sender, url = False, "tomstreamd", kafka.hop_url(topic)
    else:
        stream = d.plaintext_stream([], security="scram-sha-512", tls=False,
                                    username=kafka.user, password=kafka.password)
        stream.url = f"kafka://{kafka.sasl_plaintext}/"
        hop_auth = Auth(kafka.user, kafka.password, ssl=False, method=SASLMethod.SCRAM_SHA_512)
        sender, url = kafka.user, kafka.hop_url(topic, kafka.sasl_plaintext)
    d.configure([stream], tail=(
        "[[destination]]\nname = \"hop\"\nkind = \"kafka\"\n"
        f"stream = \"{stream.name}\"\ntopics = [\"{topic}\"]\n"
        "retry_initial_ms = 100\nretry_max_ms = 1000\n"))
    d.start()

    common = ("publish", "photometry", "--destination", "hop", "--topic", topic,
              "--ra", "150.1234", "--dec", "-20.5678", "--date-obs", "2026-05-01T03:04:05Z")
    targets = ["SN 2026hop", "AT 2026hóp Zoë"]
    uuids = [
        d.tomctl_json(*common, "--submitter", "interop", "--target", targets[0],
                      "--bandpass", "g", "--telescope", "1m0a.doma.elp.lco",
                      "--brightness", "18.5", "--brightness-error", "0.05"),
        d.tomctl_json(*common, "--submitter", "Zoë Observer", "--target", targets[1],
                      "--bandpass", "r", "--instrument", "fa16", "--brightness", "1.5e-17",
                      "--unit", "erg / s / cm\u00b2 / \u00c5"),
    ]
    uuids = [u["results"][0]["uuid"] for u in uuids]
    wait_until(lambda: d.scalar("SELECT count(*) FROM outbox WHERE state = 3") == 2,
               30, "both outbox entries delivered",
               detail=lambda: f"{d.query('SELECT state, attempts, last_error FROM outbox')}\n"
                              f"{d.log_tail()}")
    bodies = {bytes(u): b for u, b in d.query("SELECT uuid, body FROM outbox")}

    messages = hop_read(url, 2, auth=hop_auth)
    for (message, metadata), entry_uuid, target in zip(messages, uuids, targets):
        assert isinstance(message, models.JSONBlob), \
            f"hop-client decoded a {type(message).__name__}, not JSON"
        headers = metadata.headers
        hop_id = first_header(headers, "_id")
        assert hop_id == uuid_bytes(entry_uuid) and len(hop_id) == 16
        assert first_header(headers, "_format") == b"json"
        assert first_header(headers, "_sender") == sender.encode()
        assert first_header(headers, "title") == f"Photometry of {target}".encode()
        assert first_header(headers, "topic") == topic.encode()
        assert first_header(headers, "_test") is None
        assert metadata.topic == topic
        assert message.content == json.loads(bodies[hop_id])
        assert hermes_errors(message.content) == {}
        assert message.content["topic"] == topic
        assert message.content["data"]["targets"][0]["name"] == target
    phot = [m.content["data"]["photometry"][0] for m, _ in messages]
    assert (phot[0]["bandpass"], phot[0]["brightness"], phot[0]["brightness_unit"]) == \
        ("g", 18.5, "AB mag")
    assert (phot[1]["bandpass"], phot[1]["brightness"], phot[1]["brightness_unit"]) == \
        ("r", 1.5e-17, "erg / s / cm\u00b2 / \u212b")
    assert messages[1][0].content["submitter"] == "Zoë Observer"

    if listener == "plaintext":
        # hop's CLI too: `hop subscribe -j` prints each message's JSON on a line.
        out = run_tool([hop_cli(), "subscribe", "--no-auth", "--start-at", "EARLIEST",
                        "--until-eos", "--json", url], env=hop_env, timeout=60).stdout
        printed = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
        assert printed == [m.content for m, _ in messages]
    d.stop()
