#!/usr/bin/env python3
"""A2A test agent on a2a-sdk 1.3.0 for the Switchboard interop tests.

One process, one port, three interfaces (reference/a2a.md §11.1):
1.0 JSON-RPC at /a2a/jsonrpc, 1.0 HTTP+JSON at /a2a/rest, 0.3 JSON-RPC at /a2a/jsonrpc.

    python3 tests/python/a2a_agent.py --port N --mode echo|stream

Modes:
- echo: a message gets a completed task whose artifact is "echo: TEXT".
- stream: a message gets a task, then STREAM_EVENTS artifact chunks STREAM_INTERVAL s apart,
  then the completed status.
In both modes the text "slow" makes the task work for ~60 s (a "working" status every 300 ms)
unless it is cancelled, and the text "ask" makes the task stop in input-required with the agent
message "What is your name?"; the next message sent to that task (same taskId) completes it with
the artifact "hello, TEXT".

Test hooks (not A2A):
- The card (at /.well-known/agent-card.json and the legacy /.well-known/agent.json) carries a
  vendor field `xSwitchboardTest` that a relay must keep untouched.
- Requests carrying `A2A-Extensions` get it echoed in the response (as agents echo the
  extensions they activated).
- Every request except the card and /_test/* is recorded; GET /_test/requests returns them as
  `[{"method", "path", "headers": {lower-case name: value}, "body": text}]`.

Prints `READY http://127.0.0.1:N` on stdout once listening.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

import uvicorn

from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.request_handlers.response_helpers import agent_card_to_dict
from a2a.server.routes import create_jsonrpc_routes, create_rest_routes
from a2a.server.tasks import InMemoryPushNotificationConfigStore, InMemoryTaskStore, TaskUpdater
from a2a.types import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentSkill,
    Part,
    Task,
    TaskState,
    TaskStatus,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

STREAM_EVENTS = 5
STREAM_INTERVAL = 0.3
SLOW_SECONDS = 60.0
ASK_QUESTION = "What is your name?"

VENDOR_FIELD = {
    "keep": [1, 2, 3],
    "docs": "http://example.invalid/not-an-interface",
}


class Agent(AgentExecutor):
    def __init__(self, mode: str):
        self.mode = mode

    async def execute(self, ctx: RequestContext, q: EventQueue) -> None:
        if ctx.current_task is None:
            await q.enqueue_event(
                Task(
                    id=ctx.task_id,
                    context_id=ctx.context_id,
                    status=TaskStatus(state=TaskState.TASK_STATE_SUBMITTED),
                    history=[ctx.message],
                )
            )
        u = TaskUpdater(q, ctx.task_id, ctx.context_id)
        await u.start_work()
        text = ctx.get_user_input()
        current = ctx.current_task
        if current is not None and current.status.state == TaskState.TASK_STATE_INPUT_REQUIRED:
            await u.add_artifact([Part(text=f"hello, {text}")], name="answer", last_chunk=True)
            await u.complete()
            return
        if text.strip() == "ask":
            await u.requires_input(message=u.new_agent_message([Part(text=ASK_QUESTION)]))
            return
        if text.strip() == "slow":
            steps = int(SLOW_SECONDS / 0.3)
            for i in range(steps):
                await asyncio.sleep(0.3)
                await u.update_status(
                    TaskState.TASK_STATE_WORKING,
                    message=u.new_agent_message([Part(text=f"working {i}")]),
                )
            await u.add_artifact([Part(text="slow done")], name="slow", last_chunk=True)
            await u.complete()
            return
        if self.mode == "stream":
            for i in range(STREAM_EVENTS):
                await asyncio.sleep(STREAM_INTERVAL)
                await u.add_artifact(
                    [Part(text=f"chunk {i}: {text}")],
                    artifact_id="stream",
                    name="stream",
                    append=i > 0,
                    last_chunk=i == STREAM_EVENTS - 1,
                )
            await u.complete()
            return
        await u.add_artifact([Part(text=f"echo: {text}")], name="echo", last_chunk=True)
        await u.complete()

    async def cancel(self, ctx: RequestContext, q: EventQueue) -> None:
        await TaskUpdater(q, ctx.task_id, ctx.context_id).cancel()


class Recorder:
    """Pure ASGI middleware: records requests, echoes A2A-Extensions (does not buffer SSE)."""

    def __init__(self, app):
        self.app = app
        self.requests: list[dict] = []

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if path.startswith("/_test/") or path.startswith("/.well-known/"):
            return await self.app(scope, receive, send)
        entry = {"method": scope["method"], "path": path, "headers": headers, "body": ""}
        self.requests.append(entry)
        chunks: list[bytes] = []

        async def recv():
            msg = await receive()
            if msg["type"] == "http.request":
                chunks.append(msg.get("body", b""))
                entry["body"] = b"".join(chunks).decode("utf-8", "replace")
            return msg

        ext = headers.get("a2a-extensions")

        async def snd(msg):
            if ext is not None and msg["type"] == "http.response.start":
                msg = dict(msg)
                msg["headers"] = list(msg.get("headers", [])) + [
                    (b"a2a-extensions", ext.encode("latin-1"))
                ]
            await send(msg)

        return await self.app(scope, recv, snd)


def build(port: int, mode: str) -> Starlette:
    base = f"http://127.0.0.1:{port}"

    def iface(path: str, binding: str, version: str) -> AgentInterface:
        return AgentInterface(url=base + path, protocol_binding=binding, protocol_version=version)

    card = AgentCard(
        name=f"Switchboard test agent ({mode})",
        description=f"{mode} agent for the Switchboard interop tests",
        version="1.0.0",
        supported_interfaces=[
            iface("/a2a/jsonrpc", "JSONRPC", "1.0"),
            iface("/a2a/rest", "HTTP+JSON", "1.0"),
            iface("/a2a/jsonrpc", "JSONRPC", "0.3"),
        ],
        capabilities=AgentCapabilities(streaming=True, push_notifications=True),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=[AgentSkill(id=mode, name=mode, description=f"{mode} skill", tags=[mode])],
    )
    handler = DefaultRequestHandler(
        agent_executor=Agent(mode),
        task_store=InMemoryTaskStore(),
        agent_card=card,
        push_config_store=InMemoryPushNotificationConfigStore(),
    )
    card_dict = agent_card_to_dict(card)
    # 0.3 cards list every transport in `additionalInterfaces` (a2a-sdk 1.3.0 leaves it out of
    # the hybrid card; real 0.3 agents serve it, so the relay must rewrite it too).
    card_dict["additionalInterfaces"] = [
        {"url": base + "/a2a/jsonrpc", "transport": "JSONRPC"},
        {"url": base + "/a2a/rest", "transport": "HTTP+JSON"},
    ]
    card_dict["xSwitchboardTest"] = VENDOR_FIELD

    async def serve_card(_request: Request) -> JSONResponse:
        return JSONResponse(card_dict)

    recorder_ref: list[Recorder] = []

    async def recorded(_request: Request) -> JSONResponse:
        return JSONResponse(recorder_ref[0].requests)

    app = Starlette(
        routes=[
            Route("/.well-known/agent-card.json", serve_card, methods=["GET"]),
            Route("/.well-known/agent.json", serve_card, methods=["GET"]),
            Route("/_test/requests", recorded, methods=["GET"]),
            *create_jsonrpc_routes(
                request_handler=handler, rpc_url="/a2a/jsonrpc", enable_v0_3_compat=True
            ),
            *create_rest_routes(
                request_handler=handler, path_prefix="/a2a/rest", enable_v0_3_compat=True
            ),
        ]
    )
    rec = Recorder(app)
    recorder_ref.append(rec)
    return rec


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--mode", choices=["echo", "stream"], default="echo")
    args = p.parse_args()
    app = build(args.port, args.mode)
    config = uvicorn.Config(app, host="127.0.0.1", port=args.port, log_level="warning")
    server = uvicorn.Server(config)

    async def run() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                task.result()
                sys.exit(1)
            await asyncio.sleep(0.02)
        print(f"READY http://127.0.0.1:{args.port}", flush=True)
        await task

    asyncio.run(run())


if __name__ == "__main__":
    main()
