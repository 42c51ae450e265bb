"""Runs every example of docs/api-clients.md against the live daemon.

The fenced blocks run in document order in one scratch directory (with `proto` linked to the
repository's), with the daemon's socket in place of /run/tomstreamd/control.sock: `python`
blocks with this interpreter (tomstream-client importable as for the tests), `sh` blocks with
bash -e, grpcurl and this venv's python3 first on PATH. A `text` block after a runnable one
lists lines its output must contain, in order, `...` matching anything. A block of any other
language fails the test: every example in the guide is run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from support import REPO, Daemon

DOC = REPO / "docs/api-clients.md"
DOC_SOCKET = "/run/tomstreamd/control.sock"
RUNNERS = {"python": [sys.executable, "-"], "sh": ["bash", "-euo", "pipefail", "-s"]}
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


@dataclass
class Example:
    line: int              # of the opening fence, for messages
    language: str
    code: str
    expected: list[str]    # lines of the text block that follows, if any


def examples() -> list[Example]:
    found: list[Example] = []
    text = DOC.read_text()
    for match in FENCE.finditer(text):
        language, body = match.group(1), match.group(2)
        line = text.count("\n", 0, match.start()) + 1
        if language == "text":
            assert found and not found[-1].expected, (
                f"{DOC}:{line}: a text block must follow a python or sh block")
            found[-1].expected = [row.strip() for row in body.splitlines() if row.strip()]
            continue
        assert language in RUNNERS, (f"{DOC}:{line}: ```{language} block: every example must be "
                                     f"one of {sorted(RUNNERS)}, so that it is run")
        found.append(Example(line, language, body, []))
    return found


def missing_lines(expected: list[str], output: str) -> list[str]:
    """The expected lines not found in order among the output's lines ([] when all are)."""
    lines = iter(row.strip() for row in output.splitlines())
    for i, want in enumerate(expected):
        pattern = re.compile(".*".join(re.escape(part) for part in want.split("...")))
        if not any(pattern.fullmatch(got) for got in lines):
            return expected[i:]
    return []


@pytest.fixture(scope="module")
def grpcurl_dir() -> Path:
    # Built once into ~/.cache/tomstream with Go; allow for a fresh machine's first build.
    script = Path(__file__).with_name("grpcurl.sh")
    found = subprocess.run([str(script)], stdout=subprocess.PIPE, text=True, timeout=900)
    assert found.returncode == 0, f"{script} failed (see its stderr above)"
    return Path(found.stdout.strip()).parent


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("docs")
    (directory / "proto").symlink_to(REPO / "proto")
    return directory


@pytest.mark.parametrize("example", examples(), ids=lambda e: f"line{e.line}-{e.language}")
def test_example(example: Example, daemon: Daemon, grpcurl_dir: Path, workdir: Path) -> None:
    path = os.pathsep.join([str(grpcurl_dir), str(Path(sys.executable).parent),
                            os.environ.get("PATH", "")])
    run = subprocess.run(RUNNERS[example.language],
                         input=example.code.replace(DOC_SOCKET, daemon.socket_path),
                         cwd=workdir, env={**os.environ, "PATH": path}, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    where = f"{DOC.name}:{example.line} ({example.language})"
    assert run.returncode == 0, f"{where} exited with {run.returncode}:\n{run.stdout}"
    missing = missing_lines(example.expected, run.stdout)
    assert not missing, f"{where}: output lacks {missing}; it printed:\n{run.stdout}"
