"""The package itself: what an install holds, version floors in step with the generated code,
and an sdist that builds on its own (it carries the proto, found nowhere else)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
from importlib import metadata
from pathlib import Path

import tomstream
from support import REPO

PACKAGE = REPO / "client/python"
PROTO = "tomstream/v1/control.proto"


def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, text=True, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=300)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}"
    return done.stdout


def test_installed_package_is_typed_and_generated() -> None:
    package = Path(tomstream.__file__).parent
    assert (package / "py.typed").is_file()
    assert (package / "v1/control_pb2.pyi").is_file()
    assert tomstream.pb.DESCRIPTOR.name == PROTO
    for name, value in tomstream.pb.OutboxState.items()[1:]:  # all but UNSPECIFIED
        short = name.removeprefix("OUTBOX_STATE_")
        assert getattr(tomstream.OutboxState, short) == value
        assert tomstream.OutboxState.name(value) == short
    requires = metadata.requires("tomstream-client") or []
    assert any(r.startswith("grpcio") for r in requires)
    assert any(r.startswith("protobuf") for r in requires)


def test_dependency_floors_match_the_generated_code() -> None:
    """pyproject.toml's grpcio and protobuf floors are the versions the generated modules
    demand at import (they refuse an older runtime)."""
    project = tomllib.loads((PACKAGE / "pyproject.toml").read_text())["project"]
    floors = {}
    for dependency in project["dependencies"]:
        floor = re.fullmatch(r"(\w+)>=([\d.]+)(,<\d+)?", dependency)
        assert floor, f"unexpected dependency form {dependency!r}"
        floors[floor[1]] = floor[2]
    generated = Path(tomstream.__file__).parent / "v1"
    grpc_code = (generated / "control_pb2_grpc.py").read_text()
    pb_code = (generated / "control_pb2.py").read_text()
    assert f"GRPC_GENERATED_VERSION = '{floors['grpcio']}'" in grpc_code
    assert f"# Protobuf Python Version: {floors['protobuf']}\n" in pb_code


def test_sdist_carries_the_proto_and_builds(tmp_path: Path) -> None:
    # Build from a copy laid out as the repository is, so the source tree stays clean.
    source = tmp_path / "repo/client/python"
    shutil.copytree(PACKAGE, source, ignore=shutil.ignore_patterns(
        "tests", "build", "*.egg-info", "__pycache__", "v1"))
    shutil.copytree(REPO / "proto", tmp_path / "repo/proto")
    dist = tmp_path / "dist"
    run(sys.executable, "-c", "import sys, setuptools.build_meta as b; "
        "print(b.build_sdist(sys.argv[1]))", str(dist), cwd=source)
    (sdist,) = dist.glob("tomstream_client-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = tar.getnames()
        top = names[0].split("/")[0]
        carried = tar.extractfile(f"{top}/proto/{PROTO}")
        assert carried is not None and carried.read() == (REPO / "proto" / PROTO).read_bytes()
    assert not [n for n in names if "_pb2" in n], "generated modules must not be in the sdist"

    # pip unpacks the sdist elsewhere: only its own proto/ copy can be found.
    site = tmp_path / "site"
    run(sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps",
        "--no-build-isolation", "--target", str(site), str(sdist))
    printed = run(sys.executable, "-c", "import tomstream; print(tomstream.pb.DESCRIPTOR.name)",
                  cwd=tmp_path, env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"})
    assert printed.strip() == PROTO
