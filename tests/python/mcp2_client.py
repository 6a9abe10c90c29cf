#!/usr/bin/env python3
"""MCP test client on the official Python SDK 2.x (`mcp==2.3.0`, pinned in
tests/requirements-mcp2.txt and installed apart from 1.x in tests/.python-mcp2: run it with
`PYTHONPATH=tests/.python-mcp2`) for the Switchboard interop tests of the 2026-07-28 era.

Connects `mcp.Client` to URL over Streamable HTTP in one of three modes:
- `modern` (default): `mode="2026-07-28"` (the version is adopted, no probe), then an explicit
  `server/discover` whose result is adopted; a failing discover fails the run (no fallback);
- `auto`: the SDK's default, `mode="auto"`: probes `server/discover` and falls back to
  `initialize` on anything that is not a modern answer (so the output says which era won);
- `legacy`: `mode="legacy"`, the `initialize` handshake and `Mcp-Session-Id`.
Then lists all tools (following cursors) and calls each `--call` tool in order, each with a
progress callback (so the SDK sends a progress token). A call that fails (a JSON-RPC error) is
recorded and the run goes on. With `--elicit ANSWER` the client declares elicitation and
accepts every form elicitation with `{"answer": ANSWER}` (a 2026-07-28 server asks by
`input_required` results the SDK answers and retries; a legacy one by `elicitation/create`).
With `--ping` it also sends `ping` (deprecated in the SDK, removed from 2026-07-28) after the
list.

    PYTHONPATH=tests/.python-mcp2 python3 tests/python/mcp2_client.py URL
        [--mode modern|auto|legacy] [--timeout S] [--elicit ANSWER] [--ping]
        [--call NAME ARGS_JSON]...

Output: one JSON object on stdout:
- `sdkVersion`, `mode`;
- `protocolVersion` (negotiated), `era` (`modern` when a DiscoverResult was adopted, else
  `legacy`), `serverInfo` (`{name, version}` or null);
- `discover`: the adopted DiscoverResult as JSON (null in legacy), `initialize`: the
  InitializeResult as JSON (null in modern);
- `tools`: the names, in list order;
- `calls`: per call `{name, ok, isError, text, content, structuredContent, resultType,
  progress, progressAfter, error}`: `text` is the text of the text blocks, `content` every
  block as JSON, `resultType` the result's `resultType` as received (null when absent),
  `progress` the progress notifications (`{progress, total, message}`) the
  callback had received when the call returned, `progressAfter` the ones received in the 200 ms
  after it; `error` is null or `{type, code, message, data}` (then `ok` is false);
- `ping`: null without `--ping`, else `{ok, error}` (`error` as in `calls`);
- `elicitations`: the elicitation requests the callback got (`{message, requestedSchema}`);
- `http`: every HTTP exchange the SDK made, in order: `{method, status, contentType,
  requestHeaders (the MCP ones and Accept), responseHeaders (Mcp-Session-Id,
  Content-Type), body: {method, id, metaKeys, progressToken, protocolVersion (of `_meta`),
  inputResponseKeys, hasRequestState} or null}` (response bodies are not read here);
- `error`: null, or `{type, code, message, data}` when the run itself failed (connect,
  discover, list, the timeout): exit code 1 then, with the JSON still printed.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import sys
import warnings
from typing import Any

import anyio
import httpx2
import mcp_types as types
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

MODERN = "2026-07-28"
PROTOCOL_VERSION_META = "io.modelcontextprotocol/protocolVersion"
MCP_REQUEST_HEADERS = ("accept", "mcp-protocol-version", "mcp-method", "mcp-name", "mcp-session-id")


def leaf(exc: BaseException) -> BaseException:
    """The first non-group exception inside (nested) exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def describe(exc: BaseException) -> dict[str, Any]:
    err = leaf(exc)
    if isinstance(err, MCPError):
        return {"type": type(err).__name__, "code": err.code, "message": err.message, "data": err.data}
    return {"type": type(err).__name__, "code": None, "message": str(err) or repr(err), "data": None}


class Recorder:
    """httpx2 event hooks that record each exchange (the request body, never the response's)."""

    def __init__(self) -> None:
        self.exchanges: list[dict[str, Any]] = []

    async def on_request(self, request: httpx2.Request) -> None:
        body = None
        try:
            raw = request.content
        except Exception:  # a streamed body: not ours to read
            raw = b""
        if raw:
            try:
                msg = json.loads(raw)
            except ValueError:
                msg = None
            if isinstance(msg, dict):
                params = msg.get("params") if isinstance(msg.get("params"), dict) else {}
                meta = params.get("_meta") if isinstance(params.get("_meta"), dict) else {}
                body = {
                    "method": msg.get("method"),
                    "id": msg.get("id"),
                    "metaKeys": sorted(meta),
                    "progressToken": meta.get("progressToken"),
                    "protocolVersion": meta.get(PROTOCOL_VERSION_META),
                    "inputResponseKeys": sorted(params.get("inputResponses") or {}),
                    "hasRequestState": "requestState" in params,
                }
        self.exchanges.append(
            {
                "method": request.method,
                "requestHeaders": {h: request.headers[h] for h in MCP_REQUEST_HEADERS if h in request.headers},
                "body": body,
                "status": None,
                "contentType": None,
                "responseHeaders": {},
            }
        )
        request.extensions["mcp2_client_index"] = len(self.exchanges) - 1

    async def on_response(self, response: httpx2.Response) -> None:
        index = response.request.extensions.get("mcp2_client_index")
        if index is None:
            return
        ex = self.exchanges[index]
        ex["status"] = response.status_code
        ex["contentType"] = response.headers.get("content-type")
        ex["responseHeaders"] = {
            h: response.headers[h] for h in ("mcp-session-id", "content-type") if h in response.headers
        }


def dump(model: Any) -> Any:
    return None if model is None else model.model_dump(mode="json", by_alias=True, exclude_none=True)


async def call(client: Client, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    progress: list[dict[str, Any]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append({"progress": value, "total": total, "message": message})

    line: dict[str, Any] = {
        "name": name,
        "ok": False,
        "isError": None,
        "text": [],
        "content": [],
        "structuredContent": None,
        "resultType": None,
        "progress": [],
        "progressAfter": [],
        "error": None,
    }
    try:
        r = await client.call_tool(name, arguments, progress_callback=on_progress)
        line["progress"] = list(progress)  # a copy: what arrived before the result
        line.update(
            ok=True,
            isError=bool(r.is_error),
            text=[c.text for c in r.content if c.type == "text"],
            content=[c.model_dump(mode="json", by_alias=True, exclude_none=True) for c in r.content],
            structuredContent=r.structured_content,
            resultType=r.result_type if "result_type" in r.model_fields_set else None,
        )
    except MCPError as e:
        line["progress"] = list(progress)
        line["error"] = describe(e)
    await anyio.sleep(0.2)
    line["progressAfter"] = progress[len(line["progress"]) :]
    return line


async def run(args: argparse.Namespace, out: dict[str, Any], recorder: Recorder) -> None:
    mode = {"modern": MODERN, "auto": "auto", "legacy": "legacy"}[args.mode]
    extra: dict[str, Any] = {}
    if args.elicit is not None:
        answer = args.elicit

        async def on_elicit(_ctx: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
            out["elicitations"].append(params.model_dump(mode="json", by_alias=True, exclude_none=True))
            return types.ElicitResult(action="accept", content={"answer": answer})

        extra["elicitation_callback"] = on_elicit
    http = create_mcp_http_client(timeout=httpx2.Timeout(args.timeout))
    http.event_hooks = {"request": [recorder.on_request], "response": [recorder.on_response]}
    with anyio.fail_after(args.timeout):
        async with http:
            transport = streamable_http_client(args.url, http_client=http)
            async with Client(transport, mode=mode, read_timeout_seconds=args.timeout, **extra) as client:
                session = client.session
                if args.mode == "modern":
                    # The adopted version is a pin with a synthesized DiscoverResult; ask the
                    # server for the real one and adopt it (no fallback: an error fails the run).
                    raw = await session.send_discover(MODERN)
                    session.adopt(types.DiscoverResult.model_validate(raw))
                out["protocolVersion"] = client.protocol_version
                out["era"] = "modern" if session.discover_result is not None else "legacy"
                info = client.server_info
                out["serverInfo"] = None if info is None else {"name": info.name, "version": info.version}
                out["discover"] = dump(session.discover_result)
                out["initialize"] = dump(session.initialize_result)

                names: list[str] = []
                cursor = None
                for _ in range(100):
                    page = await client.list_tools(cursor=cursor)
                    names.extend(t.name for t in page.tools)
                    cursor = page.next_cursor
                    if not cursor:
                        break
                out["tools"] = names

                if args.ping:
                    try:
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore")
                            await client.send_ping()
                        out["ping"] = {"ok": True, "error": None}
                    except MCPError as e:
                        out["ping"] = {"ok": False, "error": describe(e)}

                for name, raw_args in args.call or []:
                    out["calls"].append(await call(client, name, json.loads(raw_args)))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("url")
    p.add_argument("--mode", choices=["modern", "auto", "legacy"], default="modern")
    p.add_argument("--timeout", type=float, default=20.0, help="bound for the whole run (s)")
    p.add_argument("--elicit", metavar="ANSWER", help="accept elicitations with {answer: ANSWER}")
    p.add_argument("--ping", action="store_true", help="send ping after the list")
    p.add_argument(
        "--call",
        nargs=2,
        action="append",
        metavar=("NAME", "ARGS_JSON"),
        help="call tool NAME with the JSON object ARGS_JSON (repeatable)",
    )
    args = p.parse_args()
    recorder = Recorder()
    out: dict[str, Any] = {
        "sdkVersion": importlib.metadata.version("mcp"),
        "mode": args.mode,
        "protocolVersion": None,
        "era": None,
        "serverInfo": None,
        "discover": None,
        "initialize": None,
        "tools": None,
        "calls": [],
        "ping": None,
        "elicitations": [],
        "http": recorder.exchanges,
        "error": None,
    }
    code = 0
    try:
        anyio.run(run, args, out, recorder)
    except BaseException as e:  # noqa: BLE001 - report everything in the one JSON document
        if isinstance(leaf(e), (KeyboardInterrupt, SystemExit)):
            raise
        out["error"] = describe(e)
        if isinstance(leaf(e), TimeoutError):
            out["error"]["message"] = f"timed out after {args.timeout}s: {out['error']['message']}"
        code = 1
    print(json.dumps(out, default=str), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
