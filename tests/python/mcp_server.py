"""An MCP server on the official Python SDK (`mcp`, FastMCP), used as an upstream target of the
gateway in the interop tests (tests/tests/e2e/mcp_upstream_interop.rs).

    python3 tests/python/mcp_server.py --transport stdio|sse|streamable-http [--port P]

HTTP transports listen on 127.0.0.1:P: `sse` serves GET /sse (endpoint POST /messages/),
`streamable-http` serves /mcp.

Tools:
- echo(message): returns `message`.
- progress(n): reports progress 1..n (total n), then returns `done <n>`.
- confirm(question): elicits `{answer: str}` from the client, returns `<action>: <answer>`.
"""

import argparse
import asyncio

from pydantic import BaseModel

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
