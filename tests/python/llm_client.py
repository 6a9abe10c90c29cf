#!/usr/bin/env python3
"""One request through the official `openai` or `anthropic` Python SDK, for the LLM tests.

    python3 tests/python/llm_client.py --sdk openai|openai-responses|anthropic --base-url URL --model M
        [--stream] [--tool] [--prompt TEXT] [--max-tokens N] [--retries N] [--timeout S]
        [--header NAME=VALUE]...

`--base-url`: the OpenAI SDK's base URL ends in `/v1`; the Anthropic SDK's is the origin (it
adds `/v1/messages`). Streams: OpenAI with `stream_options={"include_usage": True}`, read chunk
by chunk and accumulated here; Anthropic with `client.messages.stream(...)`, whose own
accumulator builds the final message (text, tool input from `input_json_delta`, usage merged
from `message_start` and `message_delta`). `--tool` sends one tool, `get_weather(location)`. `openai-responses`: the OpenAI SDK's
`client.responses.create` (Responses API); streamed with `client.responses.stream(...)`, whose
own accumulator builds the final response from the events (`get_final_response`).

Prints one JSON line on stdout:
  {"sdk", "stream", "id", "model", "text", "tool_calls": [{"id", "name", "arguments"}],
   "usage": {"input_tokens", "output_tokens", "cached_tokens"}, "stop_reason",
   "events": [event or chunk types in arrival order], "error": null | {"class", "status", "message"}}
`arguments` is the parsed JSON object (or the raw string when it does not parse). Exit code 0
when the SDK returned, 1 when it raised (the summary then holds what arrived before the error).
"""

from __future__ import annotations

import argparse
import json
import sys

TOOL_DESCRIPTION = "Current weather for a city."
TOOL_SCHEMA = {
    "type": "object",
    "properties": {"location": {"type": "string", "description": "City name"}},
    "required": ["location"],
}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--sdk", choices=["openai", "openai-responses", "anthropic"], required=True)
    p.add_argument("--base-url", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--stream", action="store_true")
    p.add_argument("--tool", action="store_true")
    p.add_argument("--prompt", default="Say hello in five words.")
    p.add_argument("--max-tokens", type=int, default=32)
    p.add_argument("--retries", type=int, default=0)
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("--header", action="append", default=[])
    p.add_argument("--api-key", default="sk-test")
    return p.parse_args()


def headers(args) -> dict:
    out = {}
    for h in args.header:
        name, _, value = h.partition("=")
        out[name] = value
    return out


def parsed(arguments):
    if isinstance(arguments, str):
        try:
            return json.loads(arguments)
        except ValueError:
            return arguments
    return arguments


def error_of(e: BaseException) -> dict:
    return {
        "class": type(e).__name__,
        "status": getattr(e, "status_code", None),
        "message": str(e)[:1000],
    }


def run_openai(args, out: dict) -> None:
    import openai

    client = openai.OpenAI(
        base_url=args.base_url,
        api_key=args.api_key,
        timeout=args.timeout,
        max_retries=args.retries,
        default_headers=headers(args),
    )
    kw = {
        "model": args.model,
        "max_tokens": args.max_tokens,
        "messages": [
            {"role": "system", "content": "You are a terse assistant."},
            {"role": "user", "content": args.prompt},
        ],
    }
    if args.tool:
        kw["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": TOOL_DESCRIPTION,
                    "parameters": TOOL_SCHEMA,
                },
            }
        ]
    if not args.stream:
        r = client.chat.completions.create(**kw)
        out["id"], out["model"] = r.id, r.model
        choice = r.choices[0]
        out["text"] = choice.message.content or ""
        out["stop_reason"] = choice.finish_reason
        for tc in choice.message.tool_calls or []:
            out["tool_calls"].append(
                {"id": tc.id, "name": tc.function.name, "arguments": parsed(tc.function.arguments)}
            )
        if r.usage:
            out["usage"] = usage_openai(r.usage)
        return
    calls: dict[int, dict] = {}
    try:
        stream = client.chat.completions.create(
            stream=True, stream_options={"include_usage": True}, **kw
        )
        for chunk in stream:
            out["events"].append(chunk.object)
            out["id"], out["model"] = chunk.id, chunk.model
            if chunk.usage:
                out["usage"] = usage_openai(chunk.usage)
            for choice in chunk.choices:
                d = choice.delta
                if d.content:
                    out["text"] += d.content
                for tc in d.tool_calls or []:
                    c = calls.setdefault(tc.index, {"id": None, "name": "", "arguments": ""})
                    if tc.id:
                        c["id"] = tc.id
                    if tc.function and tc.function.name:
                        c["name"] += tc.function.name
                    if tc.function and tc.function.arguments:
                        c["arguments"] += tc.function.arguments
                if choice.finish_reason:
                    out["stop_reason"] = choice.finish_reason
    finally:
        for i in sorted(calls):
            c = calls[i]
            out["tool_calls"].append(
                {"id": c["id"], "name": c["name"], "arguments": parsed(c["arguments"])}
            )


def run_responses(args, out: dict) -> None:
    import openai

    client = openai.OpenAI(
        base_url=args.base_url,
        api_key=args.api_key,
        timeout=args.timeout,
        max_retries=args.retries,
        default_headers=headers(args),
    )
    kw = {
        "model": args.model,
        "max_output_tokens": args.max_tokens,
        "instructions": "You are a terse assistant.",
        "input": [{"role": "user", "content": [{"type": "input_text", "text": args.prompt}]}],
    }
    if args.tool:
        kw["tools"] = [
            {
                "type": "function",
                "name": "get_weather",
                "description": TOOL_DESCRIPTION,
                "parameters": TOOL_SCHEMA,
                "strict": False,
            }
        ]
    if args.stream:
        with client.responses.stream(**kw) as stream:
            for event in stream:
                out["events"].append(event.type)
            r = stream.get_final_response()
    else:
        r = client.responses.create(**kw)
    out["id"], out["model"] = r.id, r.model
    out["text"] = r.output_text
    out["stop_reason"] = r.status
    for item in r.output:
        if item.type == "function_call":
            out["tool_calls"].append(
                {"id": item.call_id, "name": item.name, "arguments": parsed(item.arguments)}
            )
    if r.usage:
        out["usage"] = {
            "input_tokens": r.usage.input_tokens,
            "output_tokens": r.usage.output_tokens,
            "cached_tokens": r.usage.input_tokens_details.cached_tokens or 0,
        }


def usage_openai(u) -> dict:
    details = getattr(u, "prompt_tokens_details", None)
    return {
        "input_tokens": u.prompt_tokens,
        "output_tokens": u.completion_tokens,
        "cached_tokens": (getattr(details, "cached_tokens", None) or 0) if details else 0,
    }


def run_anthropic(args, out: dict) -> None:
    import anthropic

    client = anthropic.Anthropic(
        base_url=args.base_url,
        api_key=args.api_key,
        timeout=args.timeout,
        max_retries=args.retries,
        default_headers=headers(args),
    )
    kw = {
        "model": args.model,
        "max_tokens": args.max_tokens,
        "system": "You are a terse assistant.",
        "messages": [{"role": "user", "content": args.prompt}],
    }
    if args.tool:
        kw["tools"] = [
            {"name": "get_weather", "description": TOOL_DESCRIPTION, "input_schema": TOOL_SCHEMA}
        ]
    if not args.stream:
        message_anthropic(client.messages.create(**kw), out)
        return
    with client.messages.stream(**kw) as stream:
        for ev in stream:
            out["events"].append(ev.type)
            if ev.type == "text":
                out["text"] += ev.text
        message_anthropic(stream.get_final_message(), out)


def message_anthropic(m, out: dict) -> None:
    out["id"], out["model"] = m.id, m.model
    out["text"] = "".join(b.text for b in m.content if b.type == "text")
    out["tool_calls"] = [
        {"id": b.id, "name": b.name, "arguments": b.input} for b in m.content if b.type == "tool_use"
    ]
    out["stop_reason"] = m.stop_reason
    u = m.usage
    out["usage"] = {
        "input_tokens": u.input_tokens,
        "output_tokens": u.output_tokens,
        "cached_tokens": u.cache_read_input_tokens or 0,
    }


def main() -> int:
    args = parse_args()
    out = {
        "sdk": args.sdk,
        "stream": args.stream,
        "id": None,
        "model": None,
        "text": "",
        "tool_calls": [],
        "usage": None,
        "stop_reason": None,
        "events": [],
        "error": None,
    }
    code = 0
    try:
        if args.sdk == "openai":
            run_openai(args, out)
        elif args.sdk == "openai-responses":
            run_responses(args, out)
        else:
            run_anthropic(args, out)
    except Exception as e:  # noqa: BLE001 - every SDK failure is reported to the test
        out["error"] = error_of(e)
        code = 1
    print(json.dumps(out), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
