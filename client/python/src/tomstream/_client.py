"""The client: one gRPC channel to tomstreamd's control socket and a method per call."""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final, TypeVar, cast, overload

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from tomstream.v1 import control_pb2 as pb
from tomstream.v1 import control_pb2_grpc

DEFAULT_SOCKET = "/run/tomstreamd/control.sock"

# The daemon caps a page at 1000 items (control_server.cc).
_MAX_PAGE = 1000

_Response = TypeVar("_Response", bound=Message)
_Item = TypeVar("_Item")

# A message to publish: the protobuf message, or a dict of the same fields (proto field names,
# as grpcurl and tomctl --json use them).
PhotometryMessageLike = pb.PhotometryMessage | Mapping[str, Any]


class Error(Exception):
    """A call that failed: refused by the daemon, or the daemon could not be reached.

    `code` is the gRPC status code, `message` the daemon's explanation (gRPC's when the daemon
    was not reached) and `method` the RPC. As control.proto says: INVALID_ARGUMENT names the
    offending field by path ("photometry[0].bandpass: is required"), NOT_FOUND the missing id,
    FAILED_PRECONDITION an entry in the wrong state, UNAVAILABLE a daemon that is not running,
    shutting down or whose store refuses writes; DEADLINE_EXCEEDED is the client's timeout.
    """

    def __init__(self, method: str, code: grpc.StatusCode, message: str) -> None:
        super().__init__(f"{method}: {code.name}: {message}")
        self.method = method
        self.code = code
        self.message = message


class OutboxState:
    """Short names for the values of OutboxEntry.state and EnqueueResult.state.

    They are the generated pb.OUTBOX_STATE_* values themselves (not a Python enum, which type
    checkers would not let compare equal to a message's field).
    """

    PENDING: Final = pb.OUTBOX_STATE_PENDING
    SENDING: Final = pb.OUTBOX_STATE_SENDING
    DELIVERED: Final = pb.OUTBOX_STATE_DELIVERED
    DEAD: Final = pb.OUTBOX_STATE_DEAD
    CANCELLED: Final = pb.OUTBOX_STATE_CANCELLED

    @staticmethod
    def name(state: int) -> str:
        """The short name of a state value: "PENDING", "DELIVERED", ..."""
        return pb.OutboxState.Name(state).removeprefix("OUTBOX_STATE_")


def _to_error(method: str, err: grpc.RpcError) -> Error:
    # The errors grpcio raises are also grpc.Call objects, which carry the status.
    if isinstance(err, grpc.Call):
        return Error(method, err.code(), err.details() or "")
    return Error(method, grpc.StatusCode.UNKNOWN, str(err))


def _timestamp(when: datetime) -> Timestamp:
    """A Timestamp; a naive datetime is taken as local time, as datetime.timestamp() does."""
    ts = Timestamp()
    ts.FromDatetime(when if when.tzinfo else when.astimezone())
    return ts


def _start_position(start: str | datetime) -> pb.StartPosition:
    """A StartPosition from "earliest", "latest", "last:N" or a datetime (as tomctl takes)."""
    if isinstance(start, datetime):
        return pb.StartPosition(time=_timestamp(start))
    if start == "earliest":
        return pb.StartPosition(earliest=True)
    if start == "latest":
        return pb.StartPosition(latest=True)
    kind, _, count = start.partition(":")
    if kind == "last" and count.isdigit():
        return pb.StartPosition(last_n=int(count))
    raise ValueError(f'start: expected "earliest", "latest", "last:N" or a datetime, not {start!r}')


def _photometry_message(message: PhotometryMessageLike, index: int) -> pb.PhotometryMessage:
    if isinstance(message, pb.PhotometryMessage):
        return message
    try:
        return json_format.ParseDict(dict(message), pb.PhotometryMessage())
    except json_format.ParseError as err:
        # Found before the call, but reported as the daemon reports a bad field.
        raise Error("EnqueuePhotometry", grpc.StatusCode.INVALID_ARGUMENT,
                    f"messages[{index}]: {err}") from None


class Client:
    """A connection to tomstreamd's control socket.

    Every call waits at most `timeout` seconds (None: no limit) and raises `Error` on failure.
    Connecting is lazy: a daemon that is not running shows as Error(UNAVAILABLE) on the first
    call. A Client may be shared by threads. Close it, or use it as a context manager.

    Calls not wrapped here (ListPhotometry, SeekRoute, ListQuarantine, ...) are available on
    `stub`, the generated ControlStub, with the messages of `tomstream.pb`.
    """

    def __init__(self, socket_path: str | os.PathLike[str] = DEFAULT_SOCKET, *,
                 timeout: float | None = 5.0) -> None:
        self.socket_path = os.fspath(socket_path)
        self.timeout = timeout
        # "unix:" + an absolute path is the gRPC target form (unix:///abs/path is the same).
        self._channel = grpc.insecure_channel("unix:" + os.path.abspath(self.socket_path))
        # The generated gRPC module has no type hints: the stub's methods return Any.
        self.stub = control_pb2_grpc.ControlStub(self._channel)  # type: ignore[no-untyped-call]

    def close(self) -> None:
        """Closes the channel; calls under way (and watch_alerts generators) are cancelled."""
        self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, request: Message, response_type: type[_Response]) -> _Response:
        try:
            response = getattr(self.stub, method)(request, timeout=self.timeout)
        except grpc.RpcError as err:
            raise _to_error(method, err) from None
        return cast(_Response, response)

    def _paged(self, limit: int, fetch: Callable[[int, str], tuple[Sequence[_Item], str]]
               ) -> list[_Item]:
        """Up to `limit` items of a paged list call; fetch(page_size, page_token) gets a page."""
        items: list[_Item] = []
        token = ""
        while len(items) < limit:
            page, token = fetch(min(limit - len(items), _MAX_PAGE), token)
            items.extend(page)
            if not token:
                break
        return items[:limit]

    # --- Daemon ------------------------------------------------------------------------------
    def version(self) -> pb.GetVersionResponse:
        return self._call("GetVersion", pb.GetVersionRequest(), pb.GetVersionResponse)

    def status(self) -> pb.GetStatusResponse:
        """Store, streams with their partitions, outbox counts and destinations."""
        return self._call("GetStatus", pb.GetStatusRequest(), pb.GetStatusResponse)

    def set_log_level(self, level: str) -> str:
        """Sets the daemon's log level until it restarts; returns the previous level."""
        response = self._call("SetLogLevel", pb.SetLogLevelRequest(level=level),
                              pb.SetLogLevelResponse)
        return response.previous_level

    # --- Streams and routes ------------------------------------------------------------------
    def streams(self) -> list[pb.StreamStatus]:
        return list(self._call("ListStreams", pb.ListStreamsRequest(),
                               pb.ListStreamsResponse).streams)

    def routes(self, stream: str = "") -> list[pb.Route]:
        """Config-file and runtime routes (Route.origin tells which), of one stream or all."""
        return list(self._call("ListRoutes", pb.ListRoutesRequest(stream=stream),
                               pb.ListRoutesResponse).routes)

    def add_route(self, stream: str, *, handler: str, topic: str = "", pattern: str = "",
                  regex: str = "", start: str | datetime | None = None,
                  include_test: bool = False) -> pb.Route:
        """Adds a runtime route (kept in the store across restarts); give exactly one of topic,
        pattern or regex. start: "earliest", "latest", "last:N" or a datetime (default: the
        stream's). Returns the route with its id."""
        route = pb.Route(stream=stream, handler=handler, topic=topic, pattern=pattern,
                         regex=regex, include_test=include_test)
        if start is not None:
            route.start.CopyFrom(_start_position(start))
        return self._call("AddRoute", pb.AddRouteRequest(route=route), pb.AddRouteResponse).route

    def remove_route(self, route_id: int) -> None:
        """Removes a runtime route (config-file routes are removed by editing the config)."""
        self._call("RemoveRoute", pb.RemoveRouteRequest(id=route_id), pb.RemoveRouteResponse)

    # --- Alerts ------------------------------------------------------------------------------
    def list_alerts(self, *, stream: str = "", topic: str = "", handler: str = "",
                    since: datetime | None = None, until: datetime | None = None,
                    include_payload: bool = False, limit: int = 100) -> list[pb.Alert]:
        """The newest `limit` stored alerts matching the filters, newest first."""
        request = pb.ListAlertsRequest(stream=stream, topic=topic, handler=handler,
                                       include_payload=include_payload)
        if since is not None:  # TimeRange.from is a Python keyword
            getattr(request.stored, "from").CopyFrom(_timestamp(since))
        if until is not None:
            request.stored.to.CopyFrom(_timestamp(until))

        def fetch(page_size: int, token: str) -> tuple[Sequence[pb.Alert], str]:
            request.page_size, request.page_token = page_size, token
            page = self._call("ListAlerts", request, pb.ListAlertsResponse)
            return page.alerts, page.next_page_token

        return self._paged(limit, fetch)

    def get_alert(self, alert_id: int) -> pb.Alert:
        """One stored alert with its payload."""
        return self._call("GetAlert", pb.GetAlertRequest(id=alert_id), pb.Alert)

    def watch_alerts(self, *, stream: str = "", topic: str = "", handler: str = "",
                     after_id: int = 0, include_payload: bool = False,
                     timeout: float | None = None) -> Generator[pb.Alert, None, None]:
        """A generator of alerts as the daemon stores them, oldest first.

        The call starts at the first next(). With after_id, the alerts stored after that id come
        first (resuming without a gap); with 0, only alerts stored from the start of the call.
        `timeout` bounds the whole call (default: none; the client's timeout is for single
        calls). Closing the generator, or the client, cancels the call.
        """
        request = pb.WatchAlertsRequest(stream=stream, topic=topic, handler=handler,
                                        after_id=after_id, include_payload=include_payload)
        call = self.stub.WatchAlerts(request, timeout=timeout)
        try:
            yield from call
        except grpc.RpcError as err:
            raise _to_error("WatchAlerts", err) from None
        finally:
            call.cancel()

    # --- Outbox ------------------------------------------------------------------------------
    @overload
    def publish_photometry(self, messages: PhotometryMessageLike, *,
                           validate_only: bool = False) -> pb.EnqueueResult: ...

    @overload
    def publish_photometry(self, messages: Iterable[PhotometryMessageLike], *,
                           validate_only: bool = False) -> list[pb.EnqueueResult]: ...

    def publish_photometry(self, messages: PhotometryMessageLike | Iterable[PhotometryMessageLike],
                           *, validate_only: bool = False
                           ) -> pb.EnqueueResult | list[pb.EnqueueResult]:
        """Validates (as Hermes does) and durably queues one message, or several in one
        transaction (all or none); returns its result, or one per message in order.

        An invalid message raises Error(INVALID_ARGUMENT) naming every bad field by path, and
        nothing is queued. With validate_only nothing is queued either way (results have no
        uuid). Publishing an equal message again returns the existing entry (duplicate=True).
        """
        single = isinstance(messages, (pb.PhotometryMessage, Mapping))
        batch = [cast(PhotometryMessageLike, messages)] if single else list(
            cast(Iterable[PhotometryMessageLike], messages))
        request = pb.EnqueuePhotometryRequest(
            messages=[_photometry_message(m, i) for i, m in enumerate(batch)],
            validate_only=validate_only)
        results = list(self._call("EnqueuePhotometry", request,
                                  pb.EnqueuePhotometryResponse).results)
        return results[0] if single else results

    def outbox_list(self, *, state: pb.OutboxState | None = None, destination: str = "",
                    topic: str = "", limit: int = 100) -> list[pb.OutboxEntry]:
        """The newest `limit` outbox entries matching the filters, newest first."""
        request = pb.ListOutboxRequest(state=state, destination=destination, topic=topic)

        def fetch(page_size: int, token: str) -> tuple[Sequence[pb.OutboxEntry], str]:
            request.page_size, request.page_token = page_size, token
            page = self._call("ListOutbox", request, pb.ListOutboxResponse)
            return page.entries, page.next_page_token

        return self._paged(limit, fetch)

    def outbox_show(self, uuid: str) -> pb.OutboxEntry:
        """One entry, with the body as it is sent and the last answer."""
        return self._call("GetOutboxEntry", pb.GetOutboxEntryRequest(uuid=uuid), pb.OutboxEntry)

    def outbox_retry(self, uuid: str) -> pb.OutboxEntry:
        """Sends a dead (or cancelled) entry again: it becomes pending with no attempts."""
        return self._call("RetryOutboxEntry", pb.RetryOutboxEntryRequest(uuid=uuid),
                          pb.OutboxEntry)

    def outbox_cancel(self, uuid: str) -> pb.OutboxEntry:
        """Cancels a pending entry (FAILED_PRECONDITION in any other state)."""
        return self._call("CancelOutboxEntry", pb.CancelOutboxEntryRequest(uuid=uuid),
                          pb.OutboxEntry)
