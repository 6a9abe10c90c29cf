#!/usr/bin/env python3
"""A2A test client on a2a-sdk 1.3.0 for the Switchboard interop tests.

Resolves the agent card from BASE_URL (`BASE_URL/.well-known/agent-card.json`), keeps the card's
interfaces of the requested protocol version and binding, then does one operation:

    python3 tests/python/a2a_client.py BASE_URL [--version 1.0|0.3] [--binding JSONRPC|HTTP+JSON]
        [--header NAME=VALUE]... [--timeout S] OP ARGS

    OP: send TEXT [--no-wait] | stream TEXT | get TASK_ID | cancel TASK_ID

Output on stdout, one JSON object per line:
- first `{"kind": "card", "interfaces": [URL...]}`: the interface URLs the client kept;
- then one line per result/event: `{"kind": "task"|"statusUpdate"|"artifactUpdate"|"message",
  "t": seconds since the operation started (monotonic), "taskId", "state", "text", "raw"}`
  where `text` joins the text parts of the event (artifact or status message) and `raw` is the
  ProtoJSON of the event.
On failure: exit code 1 and one JSON line on stderr:
`{"error": exception class, "code": JSON-RPC code or null, "message": ...}`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid

import httpx

from a2a.client import A2ACardResolver, ClientConfig, ClientFactory
from a2a.types import (
    CancelTaskRequest,
    GetTaskRequest,
    Message,
    Part,
    Role,
    SendMessageRequest,
)
from a2a.utils.errors import JSON_RPC_ERROR_CODE_MAP
from google.protobuf.json_format import MessageToDict

T0 = time.monotonic()


def emit(obj: dict) -> None:
    print(json.dumps(obj), flush=True)


def texts(parts) -> str:
    return "".join(p.text for p in parts if p.HasField("text"))


def state_name(status) -> str:
    return status.DESCRIPTOR.fields_by_name["state"].enum_type.values_by_number[status.state].name


def event_line(ev) -> dict:
    kind = ev.WhichOneof("payload")
    t = round(time.monotonic() - T0, 4)
    if kind == "task":
        line = {
            "kind": "task",
            "taskId": ev.task.id,
            "contextId": ev.task.context_id,
            "state": state_name(ev.task.status),
            "text": "".join(texts(a.parts) for a in ev.task.artifacts),
        }
        raw = MessageToDict(ev.task)
    elif kind == "status_update":
        su = ev.status_update
        line = {
            "kind": "statusUpdate",
            "taskId": su.task_id,
            "contextId": su.context_id,
            "state": state_name(su.status),
            "text": texts(su.status.message.parts),
        }
        raw = MessageToDict(su)
    elif kind == "artifact_update":
        au = ev.artifact_update
        line = {
            "kind": "artifactUpdate",
            "taskId": au.task_id,
            "contextId": au.context_id,
            "state": None,
            "text": texts(au.artifact.parts),
        }
        raw = MessageToDict(au)
    elif kind == "message":
        m = ev.message
        line = {
            "kind": "message",
            "taskId": m.task_id,
            "contextId": m.context_id,
            "state": None,
            "text": texts(m.parts),
        }
        raw = MessageToDict(m)
    else:
        line = {"kind": str(kind), "taskId": None, "state": None, "text": ""}
        raw = MessageToDict(ev)
    line["t"] = t
    line["raw"] = raw
    return line


def task_result_line(task) -> dict:
    return {
        "kind": "task",
        "t": round(time.monotonic() - T0, 4),
        "taskId": task.id,
        "contextId": task.context_id,
        "state": state_name(task.status),
        "text": "".join(texts(a.parts) for a in task.artifacts),
        "raw": MessageToDict(task),
    }


async def run(args: argparse.Namespace) -> None:
    global T0
    headers = dict(h.split("=", 1) for h in args.header)
    timeout = httpx.Timeout(args.timeout)
    async with httpx.AsyncClient(headers=headers, timeout=timeout) as http:
        card = await A2ACardResolver(http, args.base_url).get_agent_card()
        want = args.version
        kept = [
            i
            for i in card.supported_interfaces
            if i.protocol_binding == args.binding
            and ".".join(i.protocol_version.split(".")[:2]) == want
        ]
        if not kept:
            raise SystemExit(
                f"the card has no {args.binding} interface for version {want}: "
                f"{[(i.url, i.protocol_binding, i.protocol_version) for i in card.supported_interfaces]}"
            )
        del card.supported_interfaces[:]
        card.supported_interfaces.extend(kept)
        emit({"kind": "card", "interfaces": [i.url for i in kept]})

        streaming = args.op == "stream"
        polling = args.op == "send" and args.no_wait
        config = ClientConfig(
            streaming=streaming,
            polling=polling,
            httpx_client=http,
            supported_protocol_bindings=[args.binding],
        )
        client = ClientFactory(config).create(card)
        T0 = time.monotonic()
        if args.op in ("send", "stream"):
            req = SendMessageRequest(
                message=Message(
                    role=Role.ROLE_USER,
                    message_id=str(uuid.uuid4()),
                    parts=[Part(text=args.arg)],
                )
            )
            async for ev in client.send_message(req):
                emit(event_line(ev))
        elif args.op == "get":
            emit(task_result_line(await client.get_task(GetTaskRequest(id=args.arg))))
        elif args.op == "cancel":
            emit(task_result_line(await client.cancel_task(CancelTaskRequest(id=args.arg))))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("base_url")
    p.add_argument("--version", default="1.0", choices=["1.0", "0.3"])
    p.add_argument("--binding", default="JSONRPC", choices=["JSONRPC", "HTTP+JSON"])
    p.add_argument("--header", action="append", default=[], help="NAME=VALUE, repeatable")
    p.add_argument("--timeout", type=float, default=20.0)
    p.add_argument("op", choices=["send", "stream", "get", "cancel"])
    p.add_argument("arg")
    p.add_argument("--no-wait", action="store_true", help="send: return at once (non-blocking)")
    args = p.parse_args()
    try:
        asyncio.run(run(args))
    except SystemExit:
        raise
    except BaseException as e:  # noqa: BLE001 - report every failure the same way
        code = JSON_RPC_ERROR_CODE_MAP.get(type(e))
        print(
            json.dumps({"error": type(e).__name__, "code": code, "message": str(e)}),
            file=sys.stderr,
            flush=True,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
