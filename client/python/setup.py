"""Build hooks of tomstream-client: the gRPC and protobuf modules are generated from the
repository's control.proto at build time, never committed.

The proto lives outside this directory (../../proto from here, in the repository). An sdist
carries a copy in proto/ next to this file, which is looked for first, so the sdist builds on
its own. Everything else about the package is in pyproject.toml.
"""

from __future__ import annotations

import shutil
from importlib.resources import files
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = Path(__file__).resolve().parent
PROTO_FILE = "tomstream/v1/control.proto"
# The sdist's copy first, then the repository's proto/.
PROTO_ROOTS = (HERE / "proto", HERE.parent.parent / "proto")


def proto_root() -> Path:
    for root in PROTO_ROOTS:
        if (root / PROTO_FILE).is_file():
            return root
    raise FileNotFoundError(
        f"{PROTO_FILE} not found under {' or '.join(str(r) for r in PROTO_ROOTS)}: build from "
        "the repository's client/python or from an sdist")


def generate_stubs(out_dir: Path) -> None:
    """Writes tomstream/v1/{__init__,control_pb2,control_pb2_grpc}.py and control_pb2.pyi."""
    from grpc_tools import protoc  # a build requirement (pyproject.toml)

    root = proto_root()
    well_known = files("grpc_tools") / "_proto"  # google/protobuf/*.proto
    args = ["grpc_tools.protoc", f"-I{root}", f"-I{well_known}", f"--python_out={out_dir}",
            f"--pyi_out={out_dir}", f"--grpc_python_out={out_dir}", str(root / PROTO_FILE)]
    if protoc.main(args) != 0:
        raise RuntimeError(f"grpc_tools.protoc failed on {root / PROTO_FILE}")
    (out_dir / "tomstream" / "v1" / "__init__.py").write_text(
        '"""Generated from tomstream/v1/control.proto at build time. Do not edit."""\n')


class BuildPyWithStubs(build_py):
    def run(self) -> None:
        super().run()
        # An editable install imports the package from src/, so the modules go there (ignored by
        # git: client/python/.gitignore); a wheel takes them from build_lib.
        generate_stubs(HERE / "src" if self.editable_mode else Path(self.build_lib))


class SdistWithProto(sdist):
    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        target = Path(base_dir) / "proto" / PROTO_FILE
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(proto_root() / PROTO_FILE, target)


setup(cmdclass={"build_py": BuildPyWithStubs, "sdist": SdistWithProto})
