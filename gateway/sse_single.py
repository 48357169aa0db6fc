"""graphql-sse's single connection mode: one event stream carries every operation of a client.

The protocol (graphql-sse's PROTOCOL.md, as its client speaks it): ``PUT /graphql`` reserves a
stream and answers ``201`` with a one-time token; ``GET /graphql`` with
``Accept: text/event-stream`` and the token (``X-GraphQL-Event-Stream-Token`` header or
``?token=``) opens it; each ``POST /graphql`` with the token and
``extensions.operationId`` answers ``202`` and sends its results on that stream as
``next`` events ``{"id", "payload"}`` then ``complete`` ``{"id"}``; ``DELETE
/graphql?operationId=`` stops one. A request that is refused before running (parse,
validation, variables) answers over HTTP as GraphQL over HTTP does (400, or the request
error's own status), as the protocol asks.

Nothing grows without bound: a caller holds at most ``GATEWAY_MAX_SUBSCRIPTIONS``
reservations, one that no stream opens within ``RESERVATION_TTL_S`` is dropped, each stream
holds a short queue of events (a slow reader holds its operations back rather than piling up
results), and a stream that closes ends its operations and its reservation (the token is
then spent). Reservations live in the process that made them: behind ``serve --workers`` use
the distinct connections mode or a WebSocket, or route a client to one worker.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from .errors import RequestError, StreamConflict, StreamNotFound, TooManyStreams
from .execution import Caller, GraphQLRequest, Result, dumps_response
from .transports import SSE, EventStreamResponse, accepts_event_stream, body_of, sse_event

TOKEN_HEADER = "x-graphql-event-stream-token"
TOKEN_QUERY = "token"
RESERVATION_TTL_S = 30.0  # a reservation no stream has opened by then is dropped
QUEUE_SIZE = 16  # events waiting for a slow reader before its operations wait
PING_S = 12.0  # a comment line this often keeps proxies from closing an idle stream
MAX_OPERATION_ID = 200


@dataclass
class Reservation:
    """One client's reserved stream: its token, its caller and the operations sending on it."""

    token: str
    caller_id: str
    events: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    operations: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    open: bool = False
    expiry: asyncio.TimerHandle | None = None


def token_of(request: Request) -> str | None:
    """The event-stream token a request presents, if any."""
    return request.headers.get(TOKEN_HEADER) or request.query_params.get(TOKEN_QUERY) or None


class SingleConnections:
    """The reservations of this process, and the HTTP requests of the single connection mode."""

    def __init__(self, http: Any) -> None:
        self.http = http
        self.reservations: dict[str, Reservation] = {}

    async def handle(self, request: Request) -> Response:
        """Answer a ``PUT``, a ``DELETE``, or a ``GET``/``POST`` that presents a token."""
        try:
            caller = self.http.caller(request)
            if request.method == "PUT":
                return self._reserve(caller)
            reservation = self._find(request, caller)
            if request.method == "DELETE":
                self._stop(reservation, request.query_params.get("operationId"))
                return Response(status_code=200)
            if request.method == "GET" and accepts_event_stream(request):
                return self._open(reservation)
            return await self._execute(request, reservation, caller)
        except RequestError as e:
            response: Response = self.http._error_response(e, "application/json")
            return response

    # -- reservations -----------------------------------------------------------------------
    def _reserve(self, caller: Caller) -> Response:
        held = sum(1 for r in self.reservations.values() if r.caller_id == caller.id)
        limit = self.http.gateway.settings.max_subscriptions
        if held >= limit:
            raise TooManyStreams(
                f"this caller already holds {limit} event-stream reservations (GATEWAY_MAX_SUBSCRIPTIONS)"
            )
        token = secrets.token_urlsafe(24)
        reservation = Reservation(token, caller.id)
        reservation.expiry = asyncio.get_running_loop().call_later(RESERVATION_TTL_S, self._expire, token)
        self.reservations[token] = reservation
        return PlainTextResponse(token, status_code=201)

    def _find(self, request: Request, caller: Caller) -> Reservation:
        token = token_of(request)
        reservation = self.reservations.get(token or "")
        if reservation is None or reservation.caller_id != caller.id:
            raise StreamNotFound("no event stream is reserved for this token here; reserve one with PUT")
        return reservation

    def _expire(self, token: str) -> None:
        reservation = self.reservations.get(token)
        if reservation is not None and not reservation.open:
            self._end(reservation)

    def _end(self, reservation: Reservation) -> None:
        """Drop the reservation and stop its operations (each gives back what it holds)."""
        if self.reservations.get(reservation.token) is reservation:
            del self.reservations[reservation.token]
        if reservation.expiry is not None:
            reservation.expiry.cancel()
        for task in reservation.operations.values():
            task.cancel()
        reservation.operations.clear()

    # -- the stream -------------------------------------------------------------------------
    def _open(self, reservation: Reservation) -> Response:
        if reservation.open:
            raise StreamConflict("the event stream of this reservation is already open")
        reservation.open = True
        if reservation.expiry is not None:
            reservation.expiry.cancel()

        async def events() -> AsyncIterator[str]:
            try:
                yield ":\n\n"  # headers and a first byte at once: the client waits for them
                while True:
                    try:
                        yield await asyncio.wait_for(reservation.events.get(), PING_S)
                    except TimeoutError:
                        yield ":\n\n"
            finally:
                self._end(reservation)

        return EventStreamResponse(
            events(), media_type=SSE, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        )

    # -- operations -------------------------------------------------------------------------
    async def _execute(self, request: Request, reservation: Reservation, caller: Caller) -> Response:
        params = await self.http._read_params(request)
        extensions = params.get("extensions") if isinstance(params, dict) else None
        op_id = extensions.get("operationId") if isinstance(extensions, dict) else None
        if not isinstance(op_id, str) or not 0 < len(op_id) <= MAX_OPERATION_ID:
            raise RequestError(
                "single connection mode: one operation per request, with extensions.operationId "
                f"(text of 1 to {MAX_OPERATION_ID} characters)"
            )
        if op_id in reservation.operations:
            raise StreamConflict(f"operation {op_id!r} is already running on this stream")
        gql = self.http.request_from(params)
        refused = gql if isinstance(gql, Result) else await self.http.gateway.execution.refusal(gql)
        if refused is not None:
            status, headers = self.http._status(refused, "application/graphql-response+json")
            body = dumps_response(refused.formatted())
            return Response(body, status_code=status, media_type="application/json", headers=headers)
        assert isinstance(gql, GraphQLRequest)
        task = asyncio.create_task(self._run(reservation, op_id, gql, caller))
        reservation.operations[op_id] = task
        return Response(status_code=202)

    async def _run(self, reservation: Reservation, op_id: str, gql: GraphQLRequest, caller: Caller) -> None:
        """Send one operation's results on the reservation's stream, then ``complete``."""
        results = self.http.gateway.execution.stream(gql, caller)
        try:
            async for result in results:
                await reservation.events.put(sse_event("next", {"id": op_id, "payload": body_of(result)}))
            await reservation.events.put(sse_event("complete", {"id": op_id}))
        finally:
            await results.aclose()
            if reservation.operations.get(op_id) is asyncio.current_task():
                del reservation.operations[op_id]

    def _stop(self, reservation: Reservation, op_id: str | None) -> None:
        if not op_id:
            raise RequestError("DELETE names the operation to stop: ?operationId=<id>")
        task = reservation.operations.pop(op_id, None)
        if task is not None:
            task.cancel()
