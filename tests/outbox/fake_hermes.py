#!/usr/bin/env python3
"""A local fake of the Hermes HTTP API (LCOGT/SCiMMA) for tomstream's tests.

Standard library only. It accepts photometry messages the way Hermes's submit API does,
validates them with an independent implementation of the Hermes serializer rules (see
/work/shared/REFERENCE.md section 1), records what it accepted, and can be told over HTTP to
misbehave so that a C++ test can drive the daemon's outbox through failures.

Start:
    python3 fake_hermes.py --port 0 [--token SECRET] [--host 127.0.0.1] [--verbose]
It binds 127.0.0.1 only, prints exactly one line ``PORT <n>`` on stdout once it is listening,
and serves until SIGTERM or SIGINT (exit status 0). Request logging goes to stderr only with
--verbose. HTTP/1.1 keep-alive; every response has a Content-Length.

Hermes API:
    POST /api/v0/submit_message/            (Authorization: Token <SECRET> when --token given,
                                             Content-Type: application/json)
        200  the posted message plus "uuid" (a new uuid4); the message is recorded
        400  Django-REST-framework-shaped field errors, e.g.
             {"title": ["This field is required."]} or
             {"data": {"photometry": [{}, {"bandpass": ["This field is required."]}]}};
             a body that is not JSON (or holds NaN/Infinity) gives {"detail": "JSON parse error - ..."}
        401  {"detail": "Authentication credentials were not provided."} / {"detail": "Invalid token."}
        415  {"detail": "Unsupported media type ..."} when Content-Type is not application/json
    POST /api/v0/submit_message/validate/    200 {} or 400 errors; never recorded, not counted,
                                             not subject to fault injection
    GET  /api/v0/heartbeat/                  200 {}

Control API (no authentication):
    POST /_control/mode      {"mode": M, "count": N}  -> 200 {"mode": M, "count": N}
         M: "ok" | "500" | "error200" | "hang" | "drop"
           500      HTTP 500 with a small HTML body
           error200 HTTP 200 with {"error": "You must have a SCiMMA credential ..."} (Hermes's trap)
           hang     read the request, never answer; the connection is closed once the client
                    gives up (or the server stops)
           drop     read the request, close the connection without any response
         N: how many submit requests get that behaviour before the mode reverts to "ok";
            omitted or -1 = until changed. Faulty answers never record the message.
    GET  /_control/mode      -> {"mode": M, "count": N} (remaining count, -1 = unlimited)
    GET  /_control/messages  -> {"messages": [{"uuid": U, "body": <posted JSON>,
                                               "headers": {<lower-case name>: value, ...}}, ...]}
                                in arrival order; headers include "authorization"
    GET  /_control/stats     -> {"requests": n, "accepted": n, "rejected": n, "faults": n}
                                over submit requests (requests = accepted + rejected + faults)
    POST /_control/reset     -> {} ; clears messages, stats and mode

Note for libcurl clients: a "drop" on a *reused* connection may be retried by libcurl itself on
a fresh connection; /_control/stats shows how many requests really arrived.
"""

import argparse
import datetime
import json
import math
import re
import select
import signal
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODES = ("ok", "500", "error200", "hang", "drop")
ERROR200_BODY = {"error": "You must have a SCiMMA credential to submit messages through Hermes. "
                          "Please log in to SCiMMA Auth and create one."}
MAX_BODY = 16 * 1024 * 1024

ERROR_UNITS = ("degrees", "mas", "arcsec", "arcmin")
DISTANCE_UNITS = ("cm", "m", "km", "pc", "kpc", "Mpc", "Gpc", "ly", "au")
# Hermes's serializers spell the last unit with U+212B ANGSTROM SIGN (REFERENCE.md shows the
# look-alike U+00C5, which Hermes refuses).
BRIGHTNESS_UNITS = ("AB mag", "Vega mag", "mJy", "erg / s / cm\u00b2 / \u212b")
REQUIRED = "This field is required."


# ----------------------------------------------------------------------------- validation
# Each check_* returns an error dict/list in the shape Django REST framework would produce,
# or an empty value when valid. As in DRF, object-level checks run only once every field of
# that object is valid, and cross-references only once every item is valid.

def _not_string(value):
    return isinstance(value, (bool, dict, list)) or value is None


def check_str(obj, key, required=False, allow_blank=False, allow_null=False):
    """Errors (list of strings) for a CharField."""
    if key not in obj:
        return [REQUIRED] if required else []
    value = obj[key]
    if value is None:
        return [] if allow_null and not required else ["This field may not be null."]
    if _not_string(value):
        return ["Not a valid string."]
    if not str(value).strip() and not allow_blank:
        return ["This field may not be blank."]
    return []


def to_float(value):
    """A finite float from a JSON number or numeric string, else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        f = float(value)
    except (ValueError, OverflowError):
        return None
    return f if math.isfinite(f) else None


def check_float(obj, key):
    if obj.get(key) is None:
        return []
    return [] if to_float(obj[key]) is not None else ["A valid number is required."]


def check_choice(obj, key, choices):
    if key not in obj:
        return []
    if obj[key] is None:
        return ["This field may not be null."]
    return [] if obj[key] in choices else ['"%s" is not a valid choice.' % (obj[key],)]


def _sexagesimal(text):
    """(sign, first, minutes, seconds) from '10:00:29.6', '10 00 29.6', '10h00m29.6s',
    '-20d34m04s', '-20°34\u203204\u2033'; None when not sexagesimal."""
    parts = re.sub("[hdms:\u00b0'\"\u2032\u2033]", " ", text.strip()).split()
    if not 2 <= len(parts) <= 3:
        return None
    sign = 1.0
    if parts[0][:1] in "+-":
        sign = -1.0 if parts[0][0] == "-" else 1.0
        parts[0] = parts[0][1:]
    if not all(re.fullmatch(r"\d+(\.\d*)?", p) for p in parts):
        return None
    nums = [float(p) for p in parts] + [0.0] * (3 - len(parts))
    if nums[1] >= 60 or nums[2] >= 60:
        return None
    return sign, nums[0], nums[1], nums[2]


def parse_angle(value, is_ra):
    """Degrees for an RA (decimal degrees or sexagesimal hours) or Dec (decimal or sexagesimal
    degrees), or an error string."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return "Not a valid string."
    text = str(value)
    try:
        deg = float(text)
    except ValueError:
        deg = None
    if deg is not None:
        if not math.isfinite(deg):
            return "Value must be finite" if is_ra else "Dec value must be finite"
    else:
        sexa = _sexagesimal(text)
        if sexa is None:
            return "Must be in a format astropy understands"
        sign, a, m, s = sexa
        deg = sign * (a + m / 60.0 + s / 3600.0) * (15.0 if is_ra else 1.0)
    if not is_ra and not -90.0 <= deg <= 90.0:
        return "Latitude angle(s) must be within -90 deg <= angle <= 90 deg"
    return deg


def check_date_obs(value):
    """Errors for date_obs: an ISO date-time string, or a JD in (2400000, 2600000), or an MJD in
    (1000, 150000)."""
    msg = ("%s does not parse with dateutil.parser.parse. Please specify the date in a standard "
           "format or as a JD or MJD." % (value,))
    if value is None:
        return ["This field may not be null."]
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return ["Not a valid string."]
    if isinstance(value, str) and not value.strip():
        return ["This field may not be blank."]
    number = None
    try:
        number = float(value)
    except ValueError:
        pass
    if number is not None:
        ok = math.isfinite(number) and (2400000 < number < 2600000 or 1000 < number < 150000)
        return [] if ok else [msg]
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        datetime.datetime.fromisoformat(text)
    except ValueError:
        return [msg]
    return []


ORBITAL_REQUIRED = ("epoch_of_elements", "orbital_inclination", "longitude_of_the_ascending_node",
                    "argument_of_the_perihelion", "eccentricity")


def check_target(t):
    if not isinstance(t, dict):
        return {"non_field_errors": ["Invalid data. Expected a dictionary, but got %s."
                                     % type(t).__name__]}
    err = {}
    err["name"] = check_str(t, "name", required=True)
    for key in ("ra", "dec"):
        if t.get(key) is not None:
            res = parse_angle(t[key], key == "ra")
            err[key] = [res] if isinstance(res, str) else []
    for key in ("ra_error", "dec_error", "pm_ra", "pm_dec", "distance", "distance_error",
                "redshift", "host_redshift"):
        err[key] = check_float(t, key)
    err["ra_error_units"] = check_choice(t, "ra_error_units", ERROR_UNITS)
    err["dec_error_units"] = check_choice(t, "dec_error_units", ERROR_UNITS)
    if t.get("distance_units") is not None:
        err["distance_units"] = check_choice(t, "distance_units", DISTANCE_UNITS)
    aliases = t.get("aliases")
    if aliases is not None and not (isinstance(aliases, list) and all(
            isinstance(a, str) and a.strip() for a in aliases)):
        err["aliases"] = ["Expected a list of non-empty strings."]
    orbit = t.get("orbital_elements")
    if orbit is not None:
        if not isinstance(orbit, dict):
            err["orbital_elements"] = {"non_field_errors": ["Invalid data. Expected a dictionary."]}
        else:
            oerr = {k: [REQUIRED] for k in ORBITAL_REQUIRED if orbit.get(k) is None}
            oerr.update({k: ["A valid number is required."] for k in ORBITAL_REQUIRED[1:]
                         if k not in oerr and to_float(orbit[k]) is None})
            if oerr:
                err["orbital_elements"] = oerr
    err = {k: v for k, v in err.items() if v}
    if err:
        return err
    # Object level: both ra and dec, or orbital elements.
    has_ra, has_dec = t.get("ra") not in (None, ""), t.get("dec") not in (None, "")
    if has_ra and not has_dec:
        return {"dec": ["Must set dec if ra is set"]}
    if has_dec and not has_ra:
        return {"ra": ["Must set ra if dec is set"]}
    if not has_ra and not orbit:
        msg = "ra/dec or orbital elements are required"
        return {"ra": [msg], "dec": [msg], "orbital_elements": {"non_field_errors": [msg]}}
    return {}


def check_photometry(p):
    if not isinstance(p, dict):
        return {"non_field_errors": ["Invalid data. Expected a dictionary, but got %s."
                                     % type(p).__name__]}
    err = {}
    err["target_name"] = check_str(p, "target_name", required=True)
    err["date_obs"] = check_date_obs(p["date_obs"]) if "date_obs" in p else [REQUIRED]
    err["bandpass"] = check_str(p, "bandpass", required=True)
    for key in ("telescope", "instrument"):
        err[key] = check_str(p, key, allow_blank=True, allow_null=True)
    for key in ("observer", "comments", "catalog"):
        err[key] = check_str(p, key, allow_null=True)
    for key in ("brightness", "brightness_error", "limiting_brightness",
                "limiting_brightness_error", "exposure_time"):
        err[key] = check_float(p, key)
    for key in ("brightness_unit", "limiting_brightness_unit"):
        err[key] = check_choice(p, key, BRIGHTNESS_UNITS)
    err = {k: v for k, v in err.items() if v}
    if err:
        return err
    if not (p.get("telescope") or p.get("instrument")):
        msg = "Must have at least one of telescope or instrument set"
        return {"telescope": [msg], "instrument": [msg]}
    if not (to_float(p.get("brightness")) or to_float(p.get("limiting_brightness"))):
        msg = "brightness or limiting_brightness are required"
        return {"brightness": [msg], "limiting_brightness": [msg]}
    return {}


def check_list(data, key, item_check):
    """(items, errors) for a list of nested objects."""
    value = data.get(key)
    if value is None:
        return [], None
    if not isinstance(value, list):
        return [], {"non_field_errors": ['Expected a list of items but got type "%s".'
                                         % type(value).__name__]}
    errors = [item_check(item) for item in value]
    return value, (errors if any(errors) else None)


def check_data(data):
    if not isinstance(data, dict):
        return {"non_field_errors": ["Invalid data. Expected a dictionary, but got %s."
                                     % type(data).__name__]}
    err = {}
    if data.get("event_id") is not None:
        err["event_id"] = check_str(data, "event_id")
    targets, err["targets"] = check_list(data, "targets", check_target)
    photometry, err["photometry"] = check_list(data, "photometry", check_photometry)
    err = {k: v for k, v in err.items() if v}
    if err:
        return err
    # Cross references (only once every item is valid).
    names = [t["name"].strip() for t in targets]  # DRF trims CharField whitespace
    target_errors = [{"name": ["The target name must be unique within the submission"]}
                     if names.count(n) > 1 else {} for n in names]
    if any(target_errors):
        err["targets"] = target_errors
    photometry_errors = [{} if p["target_name"].strip() in names else
                         {"target_name": ["The target_name must reference a name in your "
                                          "target table"]} for p in photometry]
    if any(photometry_errors):
        err["photometry"] = photometry_errors
    return err


def validate_message(msg):
    """Field errors of a Hermes message ({} when valid)."""
    if not isinstance(msg, dict):
        return {"non_field_errors": ["Invalid data. Expected a dictionary, but got %s."
                                     % type(msg).__name__]}
    err = {}
    for key in ("title", "topic", "submitter"):
        err[key] = check_str(msg, key, required=True)
    for key in ("authors", "message_text"):
        err[key] = check_str(msg, key, allow_blank=True)
    if "data" in msg:
        err["data"] = check_data(msg["data"]) if msg["data"] is not None else \
            ["This field may not be null."]
    return {k: v for k, v in err.items() if v}


def _reject_constant(name):
    raise ValueError("Out of range float values are not allowed: %s" % name)


def _finite_float(text):
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("Out of range float values are not allowed: %s" % text)
    return value


def parse_json(raw):
    """Strict JSON: NaN, Infinity and out-of-range numbers are refused."""
    return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant,
                      parse_float=_finite_float)


# ----------------------------------------------------------------------------- server state

class State:
    def __init__(self, token):
        self.token = token
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.reset()

    def reset(self):
        with self.lock:
            self.messages = []
            self.stats = {"requests": 0, "accepted": 0, "rejected": 0, "faults": 0}
            self.mode, self.count = "ok", -1

    def take_fault(self):
        """Count a submit request and return the fault it gets ("ok" for none)."""
        with self.lock:
            self.stats["requests"] += 1
            mode = self.mode
            if mode == "ok":
                return mode
            if self.count > 0:
                self.count -= 1
                if self.count == 0:
                    self.mode, self.count = "ok", -1
            self.stats["faults"] += 1
            return mode

    def count_result(self, accepted):
        with self.lock:
            self.stats["accepted" if accepted else "rejected"] += 1


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake_hermes/1"

    def log_message(self, fmt, *args):
        if self.server.verbose:
            super().log_message(fmt, *args)

    # --- plumbing
    def send_body(self, status, body, content_type="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        if status == 401:
            self.send_header("WWW-Authenticate", "Token")
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def read_body(self):
        """The request body, or None after answering an unreadable one."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks, size = [], 0
            while True:
                line = self.rfile.readline(1024)
                try:
                    n = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    n = -1
                if n < 0 or size + n > MAX_BODY:
                    self.close_connection = True
                    self.send_body(400, {"detail": "Bad chunked body."})
                    return None
                if n == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(n))
                self.rfile.readline(1024)
                size += n
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self.close_connection = True
            self.send_body(413 if length > MAX_BODY else 400, {"detail": "Bad Content-Length."})
            return None
        return self.rfile.read(length)

    def path_only(self):
        return self.path.split("?", 1)[0]

    # --- dispatch
    def do_GET(self):
        path, state = self.path_only(), self.server.state
        if path == "/api/v0/heartbeat/":
            self.send_body(200, {})
        elif path == "/_control/messages":
            with state.lock:
                answer = {"messages": list(state.messages)}
            self.send_body(200, answer)
        elif path == "/_control/stats":
            with state.lock:
                answer = dict(state.stats)
            self.send_body(200, answer)
        elif path == "/_control/mode":
            with state.lock:
                answer = {"mode": state.mode, "count": state.count}
            self.send_body(200, answer)
        elif path in ("/api/v0/submit_message/", "/api/v0/submit_message/validate/",
                      "/_control/reset"):
            self.send_body(405, {"detail": 'Method "GET" not allowed.'})
        else:
            self.send_body(404, {"detail": "Not found."})

    def do_POST(self):
        body = self.read_body()
        if body is None:
            return
        path = self.path_only()
        if path == "/api/v0/submit_message/":
            self.submit(body)
        elif path == "/api/v0/submit_message/validate/":
            self.validate_only(body)
        elif path == "/_control/mode":
            self.set_mode(body)
        elif path == "/_control/reset":
            self.server.state.reset()
            self.send_body(200, {})
        elif path == "/api/v0/heartbeat/":
            self.send_body(405, {"detail": 'Method "POST" not allowed.'})
        else:
            self.send_body(404, {"detail": "Not found."})

    # --- Hermes
    def check_request(self, body):
        """(status, error body) for auth/media type/JSON/validation failures, else (200, msg)."""
        token = self.server.state.token
        if token is not None:
            auth = self.headers.get("Authorization")
            if not auth:
                return 401, {"detail": "Authentication credentials were not provided."}
            if auth.strip() != "Token " + token:
                return 401, {"detail": "Invalid token."}
        ctype = self.headers.get("Content-Type", "")
        if ctype.split(";")[0].strip().lower() != "application/json":
            return 415, {"detail": 'Unsupported media type "%s" in request.' % ctype}
        try:
            msg = parse_json(body)
        except (ValueError, UnicodeDecodeError) as exc:
            return 400, {"detail": "JSON parse error - %s" % exc}
        errors = validate_message(msg)
        return (400, errors) if errors else (200, msg)

    def submit(self, body):
        state = self.server.state
        fault = state.take_fault()
        if fault != "ok":
            return self.fault(fault)
        status, result = self.check_request(body)
        if status != 200:
            state.count_result(False)
            return self.send_body(status, result)
        answer = dict(result, uuid=str(uuid.uuid4()))
        headers = {k.lower(): v for k, v in self.headers.items()}
        with state.lock:
            state.messages.append({"uuid": answer["uuid"], "body": result, "headers": headers})
            state.stats["accepted"] += 1
        self.send_body(200, answer)

    def validate_only(self, body):
        status, result = self.check_request(body)
        self.send_body(status, result if status != 200 else {})

    def fault(self, mode):
        if mode == "500":
            self.send_body(500, b"<h1>Server Error (500)</h1>", "text/html")
        elif mode == "error200":
            self.send_body(200, ERROR200_BODY)
        elif mode == "drop":
            self.close_connection = True
        elif mode == "hang":
            self.close_connection = True
            self.hang()

    def hang(self):
        """Answer nothing until the client closes its side or the server stops."""
        sock = self.connection
        while not self.server.state.stopping.is_set():
            try:
                ready, _, _ = select.select([sock], [], [], 0.2)
                if ready and not sock.recv(4096):
                    return
            except OSError:
                return

    # --- control
    def set_mode(self, body):
        try:
            req = parse_json(body)
            mode, count = req["mode"], req.get("count", -1)
            if count is None:
                count = -1
            if mode not in MODES or isinstance(count, bool) or not isinstance(count, int) \
                    or count < -1:
                raise ValueError
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            return self.send_body(400, {"detail": 'Expected {"mode": one of %s, "count": '
                                                  'integer >= -1}' % (list(MODES),)})
        state = self.server.state
        with state.lock:
            state.mode, state.count = (mode, count) if mode != "ok" and count != 0 else ("ok", -1)
            answer = {"mode": state.mode, "count": state.count}
        self.send_body(200, answer)


class Server(ThreadingHTTPServer):
    daemon_threads = True


def main(argv=None):
    parser = argparse.ArgumentParser(description="Fake Hermes HTTP API for tests.")
    parser.add_argument("--port", type=int, default=0, help="TCP port (0 = any free port)")
    parser.add_argument("--token", default=None, help="required API token (none = no auth)")
    parser.add_argument("--host", default="127.0.0.1", help="must be 127.0.0.1 (or localhost)")
    parser.add_argument("--verbose", action="store_true", help="log requests to stderr")
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost"):
        parser.error("refusing to bind %r: only 127.0.0.1 is allowed" % args.host)

    server = Server(("127.0.0.1", args.port), Handler)
    server.state = State(args.token)
    server.verbose = args.verbose
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                              daemon=True)
    thread.start()
    sys.stdout.write("PORT %d\n" % server.server_address[1])
    sys.stdout.flush()
    while not stop.wait(0.5):
        pass
    server.state.stopping.set()
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
