"""Self-test of fake_hermes.py: starts it as a subprocess on port 0 and talks to it over HTTP.

Run: cd tests/outbox && python3 -m unittest -v test_fake_hermes
"""

import copy
import http.client
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest
import urllib.error
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "fake_hermes.py")
TOKEN = "s3cret-token"

# The example body of /work/shared/REFERENCE.md section 1.
VALID = {
    "title": "Updated data for SN 2026abc from MyTOM.",
    "topic": "hermes.test",
    "submitter": "MyTOM",
    "authors": "A. Observer, B. Reducer",
    "message_text": "",
    "data": {
        "targets": [
            {"name": "SN 2026abc", "ra": "150.1234", "dec": "-20.5678",
             "aliases": ["ZTF26aaaaaaa"]}
        ],
        "photometry": [
            {"target_name": "SN 2026abc", "date_obs": "2026-05-01T03:04:05+00:00",
             "telescope": "1m0a.doma.elp.lco", "instrument": "fa16", "bandpass": "g",
             "brightness": 18.52, "brightness_error": 0.05, "brightness_unit": "AB mag"},
            {"target_name": "SN 2026abc", "date_obs": 2461161.5, "telescope": "1m0a.doma.elp.lco",
             "bandpass": "r", "limiting_brightness": 20.2, "limiting_brightness_unit": "AB mag"}
        ]
    }
}


def start_server(*args):
    """(process, port) of a fresh fake_hermes; waits at most 10 s for its PORT line."""
    proc = subprocess.Popen([sys.executable, SERVER, "--port", "0"] + list(args),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    ready, _, _ = select.select([proc.stdout], [], [], 10)
    line = proc.stdout.readline() if ready else ""
    if not line.startswith("PORT "):
        proc.kill()
        proc.wait(5)
        raise RuntimeError("fake_hermes did not print its port: %r" % line)
    return proc, int(line.split()[1])


def stop_server(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    proc.stdout.close()


class FakeHermesTest(unittest.TestCase):
    def setUp(self):
        self.proc, self.port = start_server("--token", TOKEN)
        self.addCleanup(stop_server, self.proc)
        self.base = "http://127.0.0.1:%d" % self.port

    # --- helpers
    def call(self, method, path, body=None, token=TOKEN, raw=None, timeout=5,
             content_type="application/json"):
        """(status, decoded JSON or raw bytes) of one request."""
        data = raw if raw is not None else (
            None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8"))
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None and content_type:
            req.add_header("Content-Type", content_type)
        if token is not None:
            req.add_header("Authorization", "Token " + token)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, payload = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, payload = err.code, err.read()
            err.close()
        try:
            return status, json.loads(payload)
        except ValueError:
            return status, payload

    def submit(self, body, **kw):
        return self.call("POST", "/api/v0/submit_message/", body, **kw)

    def set_mode(self, mode, count=None):
        req = {"mode": mode} if count is None else {"mode": mode, "count": count}
        status, answer = self.call("POST", "/_control/mode", req, token=None)
        self.assertEqual(status, 200, answer)
        return answer

    def messages(self):
        return self.call("GET", "/_control/messages", token=None)[1]["messages"]

    def stats(self):
        return self.call("GET", "/_control/stats", token=None)[1]

    def assert_rejected(self, body, path):
        """400 with an error at path (a tuple of dict keys / list indexes)."""
        status, errors = self.submit(body)
        self.assertEqual(status, 400, errors)
        node = errors
        for step in path:
            if isinstance(step, int):
                self.assertIsInstance(node, list, errors)
                self.assertLess(step, len(node), errors)
            else:
                self.assertIn(step, node, errors)
            node = node[step]
        self.assertTrue(node, errors)
        return errors

    # --- Hermes API
    def test_valid_message_accepted_and_recorded(self):
        status, answer = self.submit(VALID)
        self.assertEqual(status, 200, answer)
        self.assertEqual(uuid.UUID(answer["uuid"]).version, 4)
        self.assertEqual({k: v for k, v in answer.items() if k != "uuid"}, VALID)
        recorded = self.messages()
        self.assertEqual(len(recorded), 1)
        self.assertEqual(recorded[0]["uuid"], answer["uuid"])
        self.assertEqual(recorded[0]["body"], VALID)
        self.assertEqual(recorded[0]["headers"]["authorization"], "Token " + TOKEN)
        self.assertEqual(self.stats(), {"requests": 1, "accepted": 1, "rejected": 0, "faults": 0})

    def test_valid_variants(self):
        def variant(change):
            msg = copy.deepcopy(VALID)
            change(msg)
            return msg
        tgt = lambda m: m["data"]["targets"][0]
        ph0 = lambda m: m["data"]["photometry"][0]
        ph1 = lambda m: m["data"]["photometry"][1]
        cases = {
            "sexagesimal colons": lambda m: tgt(m).update(ra="10:00:29.6", dec="-20:34:04.1"),
            "sexagesimal hms/dms": lambda m: tgt(m).update(ra="10h00m29.6s", dec="-20d34m04s"),
            "sexagesimal spaces": lambda m: tgt(m).update(ra="10 00 29.6", dec="+20 34 04"),
            "error units": lambda m: tgt(m).update(ra_error=0.3, ra_error_units="arcsec",
                                                   dec_error=1, dec_error_units="mas"),
            "orbital elements": lambda m: (tgt(m).pop("ra"), tgt(m).pop("dec"), tgt(m).update(
                orbital_elements={"epoch_of_elements": "2026-05-01", "orbital_inclination": 10.0,
                                  "longitude_of_the_ascending_node": 80.0,
                                  "argument_of_the_perihelion": 70.0, "eccentricity": 0.1,
                                  "semimajor_axis": 2.5, "mean_anomaly": 12.0})),
            "mjd": lambda m: ph1(m).update(date_obs=61161.0),
            "zulu date": lambda m: ph0(m).update(date_obs="2026-05-01T03:04:05Z"),
            "space date": lambda m: ph0(m).update(date_obs="2026-05-01 03:04:05.123"),
            "flux unit": lambda m: ph0(m).update(brightness=1.2e-16,
                                                 brightness_unit="erg / s / cm\u00b2 / \u212b"),
            "vega and mJy": lambda m: (ph0(m).update(brightness_unit="Vega mag"),
                                       ph1(m).update(limiting_brightness_unit="mJy")),
            "instrument only": lambda m: (ph0(m).pop("telescope"), ph1(m).update(
                telescope="", instrument="fa16")),
            "nulls stripped": lambda m: ph0(m).update(brightness_error=None, observer=None),
            "pass-through data": lambda m: m["data"].update(custom={"x": [1, 2]}, event_id="S1"),
            "no data": lambda m: m.pop("data"),
            "negative limit": lambda m: ph1(m).update(limiting_brightness=-1.5),
        }
        for name, change in cases.items():
            with self.subTest(name):
                status, answer = self.submit(variant(change))
                self.assertEqual(status, 200, answer)
                self.assertIn("uuid", answer)
        # ensure_ascii JSON (\u escapes) is the same message as raw UTF-8.
        msg = variant(cases["flux unit"])
        status, answer = self.submit(None, raw=json.dumps(msg).encode("ascii"))
        self.assertEqual(status, 200, answer)
        self.assertEqual(self.messages()[-1]["body"], msg)

    def test_validation_rules(self):
        def bad(change):
            msg = copy.deepcopy(VALID)
            change(msg)
            return msg
        tgt = lambda m: m["data"]["targets"][0]
        ph0 = lambda m: m["data"]["photometry"][0]
        ph1 = lambda m: m["data"]["photometry"][1]
        T, P = ("data", "targets", 0), ("data", "photometry")
        cases = [
            ("no title", lambda m: m.pop("title"), ("title",)),
            ("blank title", lambda m: m.update(title="  "), ("title",)),
            ("no topic", lambda m: m.pop("topic"), ("topic",)),
            ("null topic", lambda m: m.update(topic=None), ("topic",)),
            ("no submitter", lambda m: m.pop("submitter"), ("submitter",)),
            ("data not object", lambda m: m.update(data=[1]), ("data", "non_field_errors")),
            ("targets not list", lambda m: m["data"].update(targets={"name": "x"}),
             ("data", "targets", "non_field_errors")),
            ("no target name", lambda m: tgt(m).pop("name"), T + ("name",)),
            ("duplicate target", lambda m: m["data"]["targets"].append(dict(tgt(m))),
             ("data", "targets", 1, "name")),
            ("ra without dec", lambda m: tgt(m).pop("dec"), T + ("dec",)),
            ("dec without ra", lambda m: tgt(m).pop("ra"), T + ("ra",)),
            ("no position", lambda m: (tgt(m).pop("ra"), tgt(m).pop("dec")), T + ("ra",)),
            ("ra garbage", lambda m: tgt(m).update(ra="abc"), T + ("ra",)),
            ("ra nan string", lambda m: tgt(m).update(ra="nan"), T + ("ra",)),
            ("dec inf string", lambda m: tgt(m).update(dec="-inf"), T + ("dec",)),
            ("ra minutes 61", lambda m: tgt(m).update(ra="10:61:00"), T + ("ra",)),
            ("dec beyond pole", lambda m: tgt(m).update(dec="95.0"), T + ("dec",)),
            ("sexagesimal dec beyond pole", lambda m: tgt(m).update(dec="-91:00:00"),
             T + ("dec",)),
            ("ra error units", lambda m: tgt(m).update(ra_error=1, ra_error_units="furlong"),
             T + ("ra_error_units",)),
            ("dec error units", lambda m: tgt(m).update(dec_error_units="degree"),
             T + ("dec_error_units",)),
            ("ra error not number", lambda m: tgt(m).update(ra_error="wide"), T + ("ra_error",)),
            ("unknown target_name", lambda m: ph0(m).update(target_name="SN 2026xyz"),
             P + (0, "target_name")),
            ("no target_name", lambda m: ph1(m).pop("target_name"), P + (1, "target_name")),
            ("no date_obs", lambda m: ph0(m).pop("date_obs"), P + (0, "date_obs")),
            ("date_obs garbage", lambda m: ph0(m).update(date_obs="last tuesday"),
             P + (0, "date_obs")),
            ("date_obs bad month", lambda m: ph0(m).update(date_obs="2026-13-01T00:00:00"),
             P + (0, "date_obs")),
            ("jd too large", lambda m: ph1(m).update(date_obs=2700000.5), P + (1, "date_obs")),
            ("jd lower bound", lambda m: ph1(m).update(date_obs=2400000), P + (1, "date_obs")),
            ("number neither jd nor mjd", lambda m: ph1(m).update(date_obs=500.0),
             P + (1, "date_obs")),
            ("number between mjd and jd", lambda m: ph1(m).update(date_obs=200000.0),
             P + (1, "date_obs")),
            ("date_obs bool", lambda m: ph1(m).update(date_obs=True), P + (1, "date_obs")),
            ("no bandpass", lambda m: ph1(m).pop("bandpass"), P + (1, "bandpass")),
            ("no telescope/instrument", lambda m: (ph0(m).pop("telescope"),
                                                   ph0(m).pop("instrument")),
             P + (0, "telescope")),
            ("blank telescope", lambda m: ph1(m).update(telescope=""), P + (1, "telescope")),
            ("no brightness", lambda m: ph1(m).pop("limiting_brightness"),
             P + (1, "brightness")),
            ("zero brightness", lambda m: (ph0(m).update(brightness=0.0)), P + (0, "brightness")),
            ("zero limit", lambda m: (ph1(m).update(limiting_brightness=0)),
             P + (1, "limiting_brightness")),
            ("brightness not number", lambda m: ph0(m).update(brightness="bright"),
             P + (0, "brightness")),
            ("brightness unit", lambda m: ph0(m).update(brightness_unit="erg/s/cm2/A"),
             P + (0, "brightness_unit")),
            ("limit unit", lambda m: ph1(m).update(limiting_brightness_unit="Jy"),
             P + (1, "limiting_brightness_unit")),
            ("blank observer", lambda m: ph1(m).update(observer=""), P + (1, "observer")),
        ]
        for name, change, path in cases:
            with self.subTest(name):
                self.assert_rejected(bad(change), path)
        self.assertEqual(self.messages(), [])
        self.assertEqual(self.stats()["rejected"], len(cases))

    def test_error_shapes(self):
        msg = copy.deepcopy(VALID)
        del msg["data"]["photometry"][1]["bandpass"]
        self.assertEqual(self.submit(msg),
                         (400, {"data": {"photometry": [{}, {"bandpass": [
                             "This field is required."]}]}}))
        msg = copy.deepcopy(VALID)
        del msg["title"]
        self.assertEqual(self.submit(msg), (400, {"title": ["This field is required."]}))

    def test_nan_and_infinity_rejected(self):
        good = json.dumps(VALID)
        bodies = {
            "NaN token": good.replace("18.52", "NaN"),
            "Infinity token": good.replace("0.05", "Infinity"),
            "-Infinity in pass-through": good.replace('"data": {', '"data": {"x": -Infinity, '),
            "overflowing number": good.replace("20.2", "1e999"),
            "not JSON": "title=hello",
            "truncated": good[:-5],
            "invalid UTF-8": None,
        }
        for name, text in bodies.items():
            with self.subTest(name):
                raw = b"\xff\xfe{}" if text is None else text.encode()
                status, answer = self.submit(None, raw=raw)
                self.assertEqual(status, 400, answer)
                self.assertIn("detail", answer)
        self.assertEqual(self.messages(), [])

    def test_content_type_required(self):
        status, answer = self.submit(VALID, content_type="application/x-www-form-urlencoded")
        self.assertEqual(status, 415, answer)
        status, answer = self.submit(VALID, content_type="application/json; charset=utf-8")
        self.assertEqual(status, 200, answer)

    def test_token_required(self):
        status, answer = self.submit(VALID, token=None)
        self.assertEqual(status, 401)
        self.assertIn("detail", answer)
        status, answer = self.submit(VALID, token="wrong")
        self.assertEqual(status, 401)
        self.assertIn("detail", answer)
        self.assertEqual(self.messages(), [])
        self.assertEqual(self.stats(), {"requests": 2, "accepted": 0, "rejected": 2, "faults": 0})

    def test_validate_endpoint_and_heartbeat(self):
        self.assertEqual(self.call("POST", "/api/v0/submit_message/validate/", VALID), (200, {}))
        status, _ = self.call("POST", "/api/v0/submit_message/validate/", {"title": "x"})
        self.assertEqual(status, 400)
        self.assertEqual(self.call("GET", "/api/v0/heartbeat/", token=None), (200, {}))
        self.assertEqual(self.call("GET", "/nowhere", token=None)[0], 404)
        self.assertEqual(self.messages(), [])
        self.assertEqual(self.stats()["requests"], 0)

    def test_keep_alive(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        self.addCleanup(conn.close)
        headers = {"Content-Type": "application/json", "Authorization": "Token " + TOKEN}
        socks = set()
        for body in (VALID, {"title": "no"}, VALID):
            conn.request("POST", "/api/v0/submit_message/", json.dumps(body), headers)
            resp = conn.getresponse()
            self.assertIsNotNone(resp.getheader("Content-Length"))
            resp.read()
            self.assertFalse(resp.will_close)
            socks.add(id(conn.sock))
        conn.request("GET", "/api/v0/heartbeat/")
        self.assertEqual(conn.getresponse().read(), b"{}")
        self.assertEqual(len(socks), 1)
        self.assertEqual(len(self.messages()), 2)

    # --- failure injection
    def test_mode_500_with_count(self):
        self.assertEqual(self.set_mode("500", 2), {"mode": "500", "count": 2})
        self.assertEqual(self.submit(VALID)[0], 500)
        self.assertEqual(self.submit(VALID)[0], 500)
        status, answer = self.submit(VALID)
        self.assertEqual(status, 200)
        self.assertEqual([m["uuid"] for m in self.messages()], [answer["uuid"]])
        self.assertEqual(self.stats(), {"requests": 3, "accepted": 1, "rejected": 0, "faults": 2})
        self.assertEqual(self.call("GET", "/_control/mode", token=None)[1],
                         {"mode": "ok", "count": -1})

    def test_mode_error200_until_changed(self):
        self.set_mode("error200")
        for _ in range(3):
            status, answer = self.submit(VALID)
            self.assertEqual(status, 200)
            self.assertIn("error", answer)
            self.assertNotIn("uuid", answer)
        self.assertEqual(self.messages(), [])
        self.set_mode("ok")
        self.assertEqual(self.submit(VALID)[0], 200)
        self.assertEqual(self.stats(), {"requests": 4, "accepted": 1, "rejected": 0, "faults": 3})

    def test_mode_drop(self):
        self.set_mode("drop", 1)
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError,
                                urllib.error.URLError)):
            self.submit(VALID)
        self.assertEqual(self.messages(), [])
        self.assertEqual(self.submit(VALID)[0], 200)
        self.assertEqual(self.stats(), {"requests": 2, "accepted": 1, "rejected": 0, "faults": 1})

    def test_mode_hang_does_not_block_others(self):
        self.set_mode("hang", 1)
        outcome = {}

        def hanging_submit():
            started = time.monotonic()
            try:
                outcome["result"] = self.submit(VALID, timeout=1)
            except (TimeoutError, socket.timeout, urllib.error.URLError) as exc:
                outcome["error"] = exc
            outcome["elapsed"] = time.monotonic() - started

        thread = threading.Thread(target=hanging_submit)
        thread.start()
        time.sleep(0.3)
        self.assertEqual(self.call("GET", "/api/v0/heartbeat/", token=None, timeout=2), (200, {}))
        thread.join(10)
        self.assertFalse(thread.is_alive())
        self.assertIn("error", outcome, outcome)
        self.assertGreaterEqual(outcome["elapsed"], 0.9)
        self.assertEqual(self.messages(), [])
        self.assertEqual(self.submit(VALID)[0], 200)
        self.assertEqual(self.stats(), {"requests": 2, "accepted": 1, "rejected": 0, "faults": 1})

    def test_hang_does_not_block_shutdown(self):
        self.set_mode("hang")
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        self.addCleanup(sock.close)
        body = json.dumps(VALID).encode()
        sock.sendall(b"POST /api/v0/submit_message/ HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\nAuthorization: Token " + TOKEN.encode() +
                     b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        time.sleep(0.3)
        self.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.proc.wait(5), 0)

    def test_bad_mode_request(self):
        for req in ({"mode": "explode"}, {"mode": "500", "count": -2}, {"count": 1},
                    {"mode": "500", "count": "2"}):
            with self.subTest(req):
                self.assertEqual(self.call("POST", "/_control/mode", req, token=None)[0], 400)

    # --- stats and reset
    def test_stats_and_reset(self):
        self.submit(VALID)
        self.submit({"title": "x"})
        self.submit(VALID, token=None)
        self.set_mode("500", 1)
        self.submit(VALID)
        self.set_mode("hang")
        self.assertEqual(self.stats(), {"requests": 4, "accepted": 1, "rejected": 2, "faults": 1})
        self.assertEqual(len(self.messages()), 1)
        self.assertEqual(self.call("POST", "/_control/reset", {}, token=None), (200, {}))
        self.assertEqual(self.stats(), {"requests": 0, "accepted": 0, "rejected": 0, "faults": 0})
        self.assertEqual(self.messages(), [])
        self.assertEqual(self.call("GET", "/_control/mode", token=None)[1],
                         {"mode": "ok", "count": -1})
        self.assertEqual(self.submit(VALID)[0], 200)

    def test_sigint_exits_zero(self):
        self.proc.send_signal(signal.SIGINT)
        self.assertEqual(self.proc.wait(5), 0)


class StartupTest(unittest.TestCase):
    def test_no_token_means_no_auth(self):
        proc, port = start_server()
        self.addCleanup(stop_server, proc)
        req = urllib.request.Request("http://127.0.0.1:%d/api/v0/submit_message/" % port,
                                     data=json.dumps(VALID).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            self.assertEqual(resp.status, 200)

    def test_refuses_other_addresses(self):
        proc = subprocess.run([sys.executable, SERVER, "--port", "0", "--host", "0.0.0.0"],
                              capture_output=True, text=True, timeout=10)
        self.assertNotEqual(proc.returncode, 0)
        self.assertEqual(proc.stdout, "")


if __name__ == "__main__":
    unittest.main()
