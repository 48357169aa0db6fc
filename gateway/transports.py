"""Streaming transports: ``multipart/mixed`` HTTP responses for ``@defer``/``@stream``, GraphQL
over Server-Sent Events (``graphql-sse``, distinct connections mode; the single connection mode
is :mod:`gateway.sse_single`) and GraphQL over WebSocket (``graphql-ws``, subprotocol
``graphql-transport-ws``).

Both only frame what ``Gateway.execution.stream`` yields, and both close that stream (which
releases the operation's watch and the caller's subscription slot) when it ends or the client
goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from .execution import Caller, GraphQLRequest, Result

SSE = "text/event-stream"
JSON_TYPES = ("application/json", "application/graphql-response+json", "application/*", "*/*")
MULTIPART = "multipart/mixed"
WS_PROTOCOL = "graphql-transport-ws"


def _accepts(request: Request, media: str) -> bool:
    accept = request.headers.get("accept", "")
    return any(part.split(";")[0].strip().lower() == media for part in accept.split(","))


def wants_event_stream(request: Request) -> bool:
    """Only an event stream is acceptable (graphql-sse clients); urql also offers
    ``text/event-stream`` beside JSON, and gets JSON unless the operation must stream."""
    return _accepts(request, SSE) and not any(_accepts(request, t) for t in JSON_TYPES)


def accepts_event_stream(request: Request) -> bool:
    return _accepts(request, SSE)


def wants_multipart(request: Request) -> bool:
    return _accepts(request, MULTIPART)


def may_defer(document: str) -> bool:
    """A cheap first look: only a document naming defer or stream can have parts."""
    return "defer" in document or "stream" in document


# -- multipart/mixed (incremental delivery over plain HTTP) --------------------------------
async def multipart_response(http: Any, gql: GraphQLRequest, caller: Caller, media: str, read_only: bool) -> Response:
    """The parts of a ``@defer``/``@stream`` result as ``multipart/mixed; boundary="-"``; an
    operation that turns out to have one result (or none: a refusal) answers as usual."""
    results = http.gateway.execution.stream(gql, caller, read_only=read_only)
    first = await results.__anext__()
    if isinstance(first, Result):
        await results.aclose()
        answer: Response = http._result_response(first, media)
        return answer

    async def body() -> AsyncIterator[str]:
        # each part is followed at once by the next delimiter, so a client sees a part as soon as
        # it is sent rather than when the next one begins (Apollo Server's framing)
        try:
            yield "\r\n---" + _part(first)
            async for part in results:
                yield _part(body_of(part))
        finally:
            await results.aclose()
        yield "--\r\n"

    return EventStreamResponse(
        body(), media_type=None, headers={"Content-Type": 'multipart/mixed; boundary="-"', "Cache-Control": "no-cache"}
    )


def _part(payload: dict[str, Any]) -> str:
    return "\r\nContent-Type: application/json; charset=utf-8\r\n\r\n" + json.dumps(payload, default=str) + "\r\n---"


# -- Server-Sent Events -------------------------------------------------------------------
async def sse_response(http: Any, request: Request) -> Response:
    """Answer one operation as an event stream: ``next`` per result, then ``complete``.

    Errors found before the operation runs are sent as a ``next`` event too, as the protocol asks.
    """
    from .errors import RequestError

    try:
        caller = http.caller(request)
        params = await http._read_params(request)
    except RequestError as e:
        response: Response = http._error_response(e, "application/json")
        return response
    return event_stream(http, GraphQLRequest.from_params(params), caller)


def event_stream(http: Any, gql: GraphQLRequest | Result, caller: Caller) -> Response:
    """The ``next`` events of one operation (already read from the request), then ``complete``."""

    async def events() -> AsyncIterator[str]:
        if isinstance(gql, Result):
            yield sse_event("next", gql.formatted())
        else:
            results = http.gateway.execution.stream(gql, caller)
            try:
                async for result in results:
                    yield sse_event("next", body_of(result))
            finally:
                await results.aclose()
        yield "event: complete\ndata: \n\n"

    return EventStreamResponse(
        events(), media_type=SSE, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )


def body_of(result: Result | dict[str, Any]) -> dict[str, Any]:
    """A result's response body; a part of an incremental result is one already."""
    return result if isinstance(result, dict) else result.formatted()


def sse_event(name: str, payload: Any) -> str:
    return f"event: {name}\ndata: {json.dumps(payload, default=str)}\n\n"


class EventStreamResponse(StreamingResponse):
    """A stream that ends when the client disconnects, even while it waits for the next change.

    Starlette only notices a gone client when it next sends; a subscription may wait for
    hours, so the disconnect is listened for and cancels the stream (its ``finally`` then
    releases the subscription).
    """

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async with anyio.create_task_group() as group:

            async def stream() -> None:
                with contextlib.suppress(OSError):
                    await self.stream_response(send)
                group.cancel_scope.cancel()

            group.start_soon(stream)
            await self.listen_for_disconnect(receive)
            group.cancel_scope.cancel()


# -- WebSocket ----------------------------------------------------------------------------
class GraphQLWebSocket:
    """One ``graphql-transport-ws`` connection: init and ack, then any number of operations."""

    def __init__(self, http: Any, websocket: WebSocket, init_timeout_s: float = 10.0) -> None:
        self.http = http
        self.ws = websocket
        self.init_timeout_s = init_timeout_s
        self.caller: Caller | None = None
        self.operations: dict[str, asyncio.Task[None]] = {}
        self.init_seen = False
        self.closing: asyncio.Future[None] | None = None  # held so the close on init timeout is not collected mid-way

    async def serve(self) -> None:
        if WS_PROTOCOL not in self.ws.scope.get("subprotocols", []):
            await self.ws.close(4406, "Subprotocol not acceptable")
            return
        await self.ws.accept(subprotocol=WS_PROTOCOL)
        timer = asyncio.get_running_loop().call_later(self.init_timeout_s, self._init_timed_out)
        try:
            while True:
                try:
                    message = json.loads(await self.ws.receive_text())
                except (ValueError, KeyError):
                    await self._close(4400, "Invalid message received")
                    return
                if not await self._handle(message, timer):
                    return
        except WebSocketDisconnect:
            pass
        finally:
            timer.cancel()
            for task in list(self.operations.values()):
                task.cancel()
            await asyncio.gather(*self.operations.values(), return_exceptions=True)

    def _init_timed_out(self) -> None:
        if self.caller is None:
            self.closing = asyncio.ensure_future(self._close(4408, "Connection initialisation timeout"))

    async def _handle(self, message: Any, timer: asyncio.TimerHandle) -> bool:
        """Act on one client message; False once the connection is closed."""
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "connection_init":
            if self.init_seen:
                await self._close(4429, "Too many initialisation requests")
                return False
            self.init_seen = True
            return await self._init(message.get("payload"), timer)
        if kind == "ping":
            await self._send({"type": "pong"})
            return True
        if kind == "pong":
            return True
        if kind == "subscribe":
            if self.caller is None:
                await self._close(4401, "Unauthorized")
                return False
            op_id, payload = message.get("id"), message.get("payload")
            if not isinstance(op_id, str) or not isinstance(payload, dict):
                await self._close(4400, "Invalid message received")
                return False
            if op_id in self.operations:
                await self._close(4409, f"Subscriber for {op_id} already exists")
                return False
            self.operations[op_id] = asyncio.create_task(self._run(op_id, payload))
            return True
        if kind == "complete":
            task = self.operations.pop(str(message.get("id")), None)
            if task is not None:
                task.cancel()
            return True
        await self._close(4400, "Invalid message received")
        return False

    async def _init(self, payload: Any, timer: asyncio.TimerHandle) -> bool:
        """Authenticate from the upgrade's headers or the init payload (``Authorization``, ``apiKey``)."""
        from .errors import RequestError

        headers = {k.lower(): v for k, v in self.ws.headers.items()}
        if isinstance(payload, dict):
            given = {str(k).lower(): str(v) for k, v in payload.items() if isinstance(v, str)}
            if "apikey" in given:
                given["x-api-key"] = given.pop("apikey")
            headers |= given
        try:
            self.caller = self.http.caller(self.ws, headers)
        except RequestError:
            await self._close(4403, "Forbidden")
            return False
        timer.cancel()
        await self._send({"type": "connection_ack"})
        return True

    async def _run(self, op_id: str, params: dict[str, Any]) -> None:
        gql = GraphQLRequest.from_params(params)
        if isinstance(gql, Result):
            await self._send({"id": op_id, "type": "error", "payload": gql.errors})
            return
        results = self.http.gateway.execution.stream(gql, self.caller)
        try:
            async for result in results:
                if isinstance(result, Result) and not result.executed:  # refused: the protocol's error message
                    await self._send({"id": op_id, "type": "error", "payload": result.errors})
                    return
                await self._send({"id": op_id, "type": "next", "payload": body_of(result)})
            await self._send({"id": op_id, "type": "complete"})
        except (WebSocketDisconnect, RuntimeError):
            pass  # the client went away mid-send
        finally:
            await results.aclose()
            if self.operations.get(op_id) is asyncio.current_task():
                del self.operations[op_id]

    async def _send(self, message: dict[str, Any]) -> None:
        if self.ws.application_state == WebSocketState.CONNECTED:
            await self.ws.send_text(json.dumps(message, default=str))

    async def _close(self, code: int, reason: str) -> None:
        if self.ws.application_state == WebSocketState.CONNECTED:
            await self.ws.close(code, reason)
