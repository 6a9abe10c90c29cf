"""An MCP server on the official Python SDK (`mcp`, FastMCP), used as an upstream target of the
gateway in the interop tests (gateway/tests/e2e/mcp_upstream_interop.rs).

    python3 tests/python/mcp_server.py --transport stdio|sse|streamable-http [--port P] [--resumable]
        [--require-header NAME=VALUE]

HTTP transports listen on 127.0.0.1:P: `sse` serves GET /sse (endpoint POST /messages/),
`streamable-http` serves /mcp. With `--resumable` (Streamable HTTP) the server keeps its SSE
events in memory and resumes streams after `Last-Event-ID`. With `--require-header` (HTTP
transports) every request without that header value is refused with 401, as an API behind a
key would.

Tools:
- echo(message): returns `message`.
- progress(n): reports progress 1..n (total n), then returns `done <n>`.
- confirm(question): elicits `{answer: str}` from the client, returns `<action>: <answer>`.
- chatty(): logs "chatty debug", "chatty info" and "chatty warning" at those levels (on the
  call's stream), then returns `chatted`.
- roots(): asks the client for its roots (`roots/list`), returns their URIs space-separated.
- touch(uri): announces `notifications/resources/updated` for `uri` (not tied to the call, so on
  the standalone stream), returns `touched`.
- interrupted(n): reports progress 1 of n, closes its own response stream (with `--resumable`;
  the client must resume it to hear the rest), then reports 2..n and returns `resumed <n>`.
- interest(): JSON `{"levels": [...], "subscribed": [...]}`: the levels `logging/setLevel` asked
  for, in order, and the URIs subscribed now.

Resources: `note://greeting` (text `hello`). The server declares `logging` and
`resources.subscribe` (the SDK never declares the latter on its own).
"""

import argparse
import asyncio
import json

from pydantic import AnyUrl, BaseModel

from mcp.server.fastmcp import Context, FastMCP
from mcp.server.streamable_http import EventMessage, EventStore


class MemoryEventStore(EventStore):
    """Every SSE event, kept in memory, so a stream can be resumed after any of them."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, object]] = []

    async def store_event(self, stream_id, message):
        event_id = str(len(self.events) + 1)
        self.events.append((event_id, stream_id, message))
        return event_id

    async def replay_events_after(self, last_event_id, send_callback):
        index = next((i for i, e in enumerate(self.events) if e[0] == last_event_id), None)
        if index is None:
            return None
        stream_id = self.events[index][1]
        for event_id, stream, message in self.events[index + 1 :]:
            if stream == stream_id and message is not None:
                await send_callback(EventMessage(message, event_id))
        return stream_id


class Answer(BaseModel):
    answer: str


def build(port: int, resumable: bool) -> FastMCP:
    store = MemoryEventStore() if resumable else None
    mcp = FastMCP(
        "py-interop",
        host="127.0.0.1",
        port=port,
        log_level="WARNING",
        event_store=store,
        retry_interval=50 if resumable else None,
    )

    @mcp.tool()
    def echo(message: str) -> str:
        """Returns the message."""
        return message

    @mcp.tool()
    async def progress(n: int, ctx: Context) -> str:
        """Reports progress n times, then returns."""
        for i in range(1, n + 1):
            await ctx.report_progress(i, n, f"step {i}")
            await asyncio.sleep(0.02)
        return f"done {n}"

    @mcp.tool()
    async def confirm(question: str, ctx: Context) -> str:
        """Asks the user a question and returns the answer."""
        result = await ctx.elicit(message=question, schema=Answer)
        if result.action == "accept":
            return f"accept: {result.data.answer}"
        return result.action

    @mcp.tool()
    async def interrupted(n: int, ctx: Context) -> str:
        """Reports progress 1, closes its response stream, then reports the rest."""
        await ctx.report_progress(1, n)
        await ctx.close_sse_stream()
        await asyncio.sleep(0.1)
        for i in range(2, n + 1):
            await ctx.report_progress(i, n)
            await asyncio.sleep(0.02)
        return f"resumed {n}"

    @mcp.tool()
    async def chatty(ctx: Context) -> str:
        """Logs one message at each of debug, info and warning, then returns."""
        await ctx.debug("chatty debug")
        await ctx.info("chatty info")
        await ctx.warning("chatty warning")
        return "chatted"

    @mcp.tool()
    async def roots(ctx: Context) -> str:
        """Returns the client's roots."""
        result = await ctx.session.list_roots()
        return " ".join(str(r.uri) for r in result.roots)

    @mcp.resource("note://greeting")
    def greeting() -> str:
        return "hello"

    @mcp.tool()
    async def touch(uri: str, ctx: Context) -> str:
        """Announces that the resource `uri` changed."""
        await ctx.session.send_resource_updated(AnyUrl(uri))
        return "touched"

    levels: list[str] = []
    subscribed: set[str] = set()
    server = mcp._mcp_server

    @server.set_logging_level()
    async def set_level(level) -> None:
        levels.append(str(level))

    @server.subscribe_resource()
    async def subscribe(uri) -> None:
        subscribed.add(str(uri))

    @server.unsubscribe_resource()
    async def unsubscribe(uri) -> None:
        subscribed.discard(str(uri))

    @mcp.tool()
    def interest() -> str:
        """What the gateway asked for: log levels and resource subscriptions."""
        return json.dumps({"levels": levels, "subscribed": sorted(subscribed)})

    declared = server.get_capabilities

    def capabilities(*args, **kwargs):
        caps = declared(*args, **kwargs)
        if caps.resources is not None:
            caps.resources.subscribe = True
        return caps

    server.get_capabilities = capabilities
    return mcp


class RequireHeader:
    """ASGI middleware: 401 for any HTTP request whose header `name` is not `value`."""

    def __init__(self, app, name: str, value: str) -> None:
        self.app = app
        self.name = name.lower().encode("latin-1")
        self.value = value.encode("latin-1")

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and dict(scope["headers"]).get(self.name) != self.value:
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [(b"content-type", b"text/plain")],
                }
            )
            await send({"type": "http.response.body", "body": b"missing or wrong " + self.name})
            return
        await self.app(scope, receive, send)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--transport", choices=["stdio", "sse", "streamable-http"], default="stdio"
    )
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--resumable", action="store_true")
    parser.add_argument("--require-header", metavar="NAME=VALUE")
    args = parser.parse_args()
    mcp = build(args.port, args.resumable)
    if args.require_header is None or args.transport == "stdio":
        mcp.run(transport=args.transport)
        return
    import uvicorn

    name, _, value = args.require_header.partition("=")
    app = mcp.sse_app() if args.transport == "sse" else mcp.streamable_http_app()
    uvicorn.run(
        RequireHeader(app, name, value), host="127.0.0.1", port=args.port, log_level="warning"
    )


if __name__ == "__main__":
    main()
