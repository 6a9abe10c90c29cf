#!/usr/bin/env python3
"""MCP test client on the official Python SDK (`mcp`, pinned in tests/requirements.txt) for the
Switchboard interop tests.

Connects to URL over Streamable HTTP (or, with `--sse`, the legacy HTTP+SSE transport, URL
being the SSE stream's), initializes, lists all tools (following cursors), then calls each
`--call` tool in order, in the same session:

    python3 tests/python/mcp_client.py URL [--timeout S] [--sse] [--progress] [--meta]
        [--header NAME VALUE]... [--keep-going] [--call NAME ARGS_JSON]...

`--header` sends a header with every request (an API key); with `--keep-going` a call that
fails with a JSON-RPC error prints `{"kind": "call", "name", "error": {"code", "message"}}`
and the next call is made.

Output on stdout, one JSON object per line:
- `{"kind": "initialize", "protocolVersion", "serverInfo": {"name", "version"}, "sessionId"}`;
- `{"kind": "tools", "names": [NAME...]}` (in list order);
- per call `{"kind": "call", "name", "isError", "text": [TEXT...], "content": [BLOCK...],
  "structuredContent"}` where `text` holds the text of the text content blocks and `content`
  every block as JSON. A tool result with `isError: true` is a result, not a failure.
  With `--progress` each call asks for progress (a progress callback, so the SDK sends a
  progress token) and its line also has `"progress": [{"progress", "total", "message"}...]`
  (in arrival order, all received before the call returned); with `--meta` it also has
  `"meta"`, the result's `_meta`.
On failure (a JSON-RPC error, a transport error, the timeout): exit code 1 and one JSON line on
stderr: `{"error": exception class, "code": JSON-RPC code or null, "message": ...}`.
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import asynccontextmanager
from datetime import timedelta

import anyio
import httpx

from mcp import ClientSession
from mcp.shared.exceptions import McpError

try:  # mcp >= 1.24: the non-deprecated name; `streamablehttp_client` wraps it.
    from mcp.client.streamable_http import streamable_http_client
except ImportError:  # older 1.x
    streamable_http_client = None
    from mcp.client.streamable_http import streamablehttp_client


def emit(obj: dict) -> None:
    print(json.dumps(obj), flush=True)


def leaf(exc: BaseException) -> BaseException:
    """The first non-group exception inside (nested) exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def transport(url: str, timeout: float, headers: dict[str, str] | None = None):
    t = httpx.Timeout(timeout)
    if streamable_http_client is not None:
        from mcp.shared._httpx_utils import create_mcp_http_client

        client = create_mcp_http_client(headers=headers or None, timeout=t)
        return streamable_http_client(url, http_client=client)
    return streamablehttp_client(
        url, headers=headers or None, timeout=timeout, sse_read_timeout=timeout
    )


@asynccontextmanager
async def legacy_sse(url: str, timeout: float, headers: dict[str, str] | None = None):
    """The HTTP+SSE transport, shaped like the Streamable HTTP one (no session id)."""
    from mcp.client.sse import sse_client

    async with sse_client(
        url, headers=headers or None, timeout=timeout, sse_read_timeout=timeout
    ) as (read, write):
        yield read, write, (lambda: None)


async def run(args: argparse.Namespace) -> None:
    connect = legacy_sse if args.sse else transport
    with anyio.fail_after(args.timeout):
        headers = dict(args.header or [])
        async with connect(args.url, args.timeout, headers) as (read, write, session_id):
            async with ClientSession(
                read, write, read_timeout_seconds=timedelta(seconds=args.timeout)
            ) as session:
                init = await session.initialize()
                emit(
                    {
                        "kind": "initialize",
                        "protocolVersion": str(init.protocolVersion),
                        "serverInfo": {
                            "name": init.serverInfo.name,
                            "version": init.serverInfo.version,
                        },
                        "sessionId": session_id(),
                    }
                )

                names: list[str] = []
                cursor = None
                for _ in range(100):
                    page = await session.list_tools(cursor=cursor)
                    names.extend(t.name for t in page.tools)
                    cursor = page.nextCursor
                    if not cursor:
                        break
                emit({"kind": "tools", "names": names})

                for name, raw in args.call or []:
                    arguments = json.loads(raw)
                    progress: list[dict] = []

                    async def on_progress(
                        value: float, total: float | None, message: str | None
                    ) -> None:
                        progress.append({"progress": value, "total": total, "message": message})

                    try:
                        if args.progress:
                            r = await session.call_tool(
                                name, arguments, progress_callback=on_progress
                            )
                        else:
                            r = await session.call_tool(name, arguments)
                    except McpError as e:
                        if not args.keep_going:
                            raise
                        error = {"code": e.error.code, "message": e.error.message}
                        emit({"kind": "call", "name": name, "error": error})
                        continue
                    line = {
                        "kind": "call",
                        "name": name,
                        "isError": bool(r.isError),
                        "text": [c.text for c in r.content if c.type == "text"],
                        "content": [c.model_dump(mode="json", by_alias=True) for c in r.content],
                        "structuredContent": r.structuredContent,
                    }
                    if args.progress:
                        line["progress"] = list(progress)  # a copy: what arrived before the result
                    if args.meta:
                        line["meta"] = r.meta
                    emit(line)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("url")
    p.add_argument("--timeout", type=float, default=20.0, help="bound for the whole run (s)")
    p.add_argument(
        "--progress",
        action="store_true",
        help="ask for progress on each call and print the notifications received",
    )
    p.add_argument("--meta", action="store_true", help="print each call result's _meta")
    p.add_argument(
        "--sse", action="store_true", help="use the legacy HTTP+SSE transport (URL: the SSE stream)"
    )
    p.add_argument(
        "--header",
        nargs=2,
        action="append",
        metavar=("NAME", "VALUE"),
        help="send this header with every request (repeatable)",
    )
    p.add_argument(
        "--keep-going",
        action="store_true",
        help="print a call's JSON-RPC error as its line and go on with the next call",
    )
    p.add_argument(
        "--call",
        nargs=2,
        action="append",
        metavar=("NAME", "ARGS_JSON"),
        help="call tool NAME with the JSON object ARGS_JSON (repeatable)",
    )
    args = p.parse_args()
    try:
        anyio.run(run, args)
    except BaseException as e:  # noqa: BLE001 - report everything as one JSON line
        err = leaf(e)
        if isinstance(err, (KeyboardInterrupt, SystemExit)):
            raise
        code = err.error.code if isinstance(err, McpError) else None
        message = str(err) or repr(err)
        if isinstance(err, TimeoutError):
            message = f"timed out after {args.timeout}s: {message}"
        print(
            json.dumps({"error": type(err).__name__, "code": code, "message": message}),
            file=sys.stderr,
            flush=True,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
