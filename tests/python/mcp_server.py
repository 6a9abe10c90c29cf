"""An MCP server on the official Python SDK (`mcp`, FastMCP), used as an upstream target of the
gateway in the interop tests (tests/tests/e2e/mcp_upstream_interop.rs).

    python3 tests/python/mcp_server.py --transport stdio|sse|streamable-http [--port P]

HTTP transports listen on 127.0.0.1:P: `sse` serves GET /sse (endpoint POST /messages/),
`streamable-http` serves /mcp.

Tools:
- echo(message): returns `message`.
- progress(n): reports progress 1..n (total n), then returns `done <n>`.
- confirm(question): elicits `{answer: str}` from the client, returns `<action>: <answer>`.
- chatty(): logs "chatty debug", "chatty info" and "chatty warning" at those levels (on the
  call's stream), then returns `chatted`.
- roots(): asks the client for its roots (`roots/list`), returns their URIs space-separated.
- touch(uri): announces `notifications/resources/updated` for `uri` (not tied to the call, so on
  the standalone stream), returns `touched`.
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


class Answer(BaseModel):
    answer: str


def build(port: int) -> FastMCP:
    mcp = FastMCP("py-interop", host="127.0.0.1", port=port, log_level="WARNING")

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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--transport", choices=["stdio", "sse", "streamable-http"], default="stdio"
    )
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    build(args.port).run(transport=args.transport)


if __name__ == "__main__":
    main()
