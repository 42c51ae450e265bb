"""Processes the tests run: tomstreamd itself, and the repository's fake Hermes server."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[3]
TOMSTREAMD = Path(os.environ.get("TOMSTREAMD_BIN", REPO / "build/daemon/app/tomstreamd"))
FAKE_HERMES = REPO / "tests/outbox/fake_hermes.py"

_T = TypeVar("_T")


def wait_for(what: str, probe: Callable[[], _T | None], timeout: float = 30.0,
              interval: float = 0.1) -> _T:
    """probe()'s first truthy result, polled until `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def stop_process(process: subprocess.Popen[Any], timeout: float) -> int | None:
    """SIGTERM, then SIGKILL after `timeout` seconds; the exit status, None if it was killed."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
            return None
    return process.returncode


def read_kafka_env(path: str) -> dict[str, str]:
    """tests/kafka/broker.sh's broker.env: KEY=VALUE lines (see tests/kafka/kafka_env.cc)."""
    values: dict[str, str] = {}
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key:
            raise ValueError(f"malformed line in {path}: {line}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    if not values.get("KAFKA_PLAINTEXT"):
        raise ValueError(f"{path} has no KAFKA_PLAINTEXT (written by tests/kafka/broker.sh start)")
    return values


class FakeHermes:
    """tests/outbox/fake_hermes.py on a free loopback port, driven through its control API."""

    def __init__(self, token: str, log_path: Path) -> None:
        self._log = open(log_path, "w")
        self.process = subprocess.Popen(
            [sys.executable, str(FAKE_HERMES), "--port", "0", "--token", token, "--verbose"],
            stdout=subprocess.PIPE, stderr=self._log, text=True)
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], 20)
        line = self.process.stdout.readline() if ready else ""
        if not line.startswith("PORT "):
            stop_process(self.process, 5)
            raise RuntimeError(f"fake_hermes.py printed no PORT line (got {line!r}); "
                               f"log: {log_path}")
        self.base_url = f"http://127.0.0.1:{int(line.split()[1])}/"
        # Loopback only: never through a proxy from the environment.
        self._http = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def _control(self, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path.lstrip("/"), data=data,
                                         headers={"Content-Type": "application/json"})
        with self._http.open(request, timeout=10) as response:
            return json.load(response)

    def set_mode(self, mode: str, count: int = -1) -> None:
        """"ok", "500", "error200", "hang" or "drop" for the next `count` submits (-1: all)."""
        self._control("/_control/mode", {"mode": mode, "count": count})

    def messages(self) -> list[dict[str, Any]]:
        """The accepted submissions, in arrival order: {"uuid", "body", "headers"}."""
        return list(self._control("/_control/messages")["messages"])

    def stop(self) -> None:
        stop_process(self.process, 5)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._log.close()


class Daemon:
    """The built tomstreamd, started with `config` in `directory` and ready on its socket."""

    def __init__(self, directory: Path, config: str) -> None:
        self.directory = directory
        self.socket_path = str(directory / "control.sock")
        self.config_path = directory / "tomstreamd.toml"
        self.log_path = directory / "tomstreamd.log"
        self.config_path.write_text(config.replace("@DIR@", str(directory)))
        if not os.access(TOMSTREAMD, os.X_OK):
            raise RuntimeError(f"no tomstreamd at {TOMSTREAMD}: build it, or set TOMSTREAMD_BIN")
        # The systemd notify protocol: the daemon sends READY=1 here once its socket is up.
        notify_path = str(directory / "notify.sock")
        self._notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._notify.bind(notify_path)
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(
                [str(TOMSTREAMD), "--config", str(self.config_path)], stdout=log,
                stderr=subprocess.STDOUT, env={**os.environ, "NOTIFY_SOCKET": notify_path})
        try:
            self._wait_ready(30.0)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"tomstreamd exited with status {self.process.returncode} "
                                   f"before READY=1; log:\n{self.log_tail()}")
            ready, _, _ = select.select([self._notify], [], [], 0.2)
            if ready and "READY=1" in self._notify.recv(4096).decode().splitlines():
                return
        raise RuntimeError(f"no READY=1 from tomstreamd within {timeout:.0f} s; log:\n"
                           f"{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> int | None:
        """SIGTERM; the exit status (None: still running after 20 s, then killed)."""
        status = stop_process(self.process, 20)
        self._notify.close()
        return status
