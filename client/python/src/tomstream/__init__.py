"""Python client of tomstreamd's control API (gRPC over its Unix socket).

    import tomstream
    with tomstream.Client("/run/tomstreamd/control.sock") as client:
        print(client.status().outbox.pending)

`tomstream.pb` holds the generated protobuf messages (tomstream.v1.control_pb2); the wrapper
returns them as they are, and accepts them (or dicts of the same fields) to publish.
"""

from tomstream._client import DEFAULT_SOCKET, Client, Error, OutboxState, PhotometryMessageLike
from tomstream.v1 import control_pb2 as pb

__all__ = ["DEFAULT_SOCKET", "Client", "Error", "OutboxState", "PhotometryMessageLike", "pb"]
