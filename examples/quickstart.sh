#!/usr/bin/env bash
# Switchboard quickstart: builds the gateway and the demo upstream, starts two upstreams
# (127.0.0.1:9001 and :9002) in the background and the gateway (127.0.0.1:8080, admin :15000)
# in the foreground. Ctrl-C stops everything.
#
# Needs only a Rust toolchain (cargo). Run from anywhere:  examples/quickstart.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
CONFIG=examples/quickstart.yaml

echo "==> building (dev profile): cargo build -p gateway -p examples -p mcp-mux --bins"
cargo build -p gateway -p examples -p mcp-mux --bins

SWITCHBOARD=$TARGET_DIR/debug/switchboard
UPSTREAM=$TARGET_DIR/debug/demo-upstream
PETSTORE=$TARGET_DIR/debug/petstore
DEMO_MCP=$TARGET_DIR/debug/demo-mcp
DEMO_LLM=$TARGET_DIR/debug/demo-llm

# port_open PORT: true when something accepts TCP connections on 127.0.0.1:PORT (bash /dev/tcp,
# so curl is not needed).
port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# http_status PORT PATH: prints the HTTP status code of GET PATH, or nothing.
http_status() {
    local line=""
    {
        exec 3<>"/dev/tcp/127.0.0.1/$1" &&
            printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3 &&
            IFS=' ' read -r _ line _ <&3
    } 2>/dev/null || true
    printf '%s' "$line"
}

for port in 8080 15000 9001 9002 4010 4020 4030; do
    if port_open "$port"; then
        echo "error: 127.0.0.1:$port is already in use; stop whatever listens there and retry" >&2
        exit 1
    fi
done

PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "==> starting demo upstreams on 127.0.0.1:9001 (upstream-1) and 127.0.0.1:9002 (upstream-2)"
"$UPSTREAM" --listen 127.0.0.1:9001 --name upstream-1 &
PIDS+=($!)
"$UPSTREAM" --listen 127.0.0.1:9002 --name upstream-2 &
PIDS+=($!)
echo "==> starting the petstore REST API on 127.0.0.1:4010 (served as MCP tools at /mcp)"
"$PETSTORE" 4010 &
PIDS+=($!)
echo "==> starting the demo MCP server on 127.0.0.1:4020 (Streamable HTTP, federated at /mcp)"
"$DEMO_MCP" 4020 &
PIDS+=($!)
echo "==> starting the demo LLM (an OpenAI-compatible echo model) on 127.0.0.1:4030 (routed at /llm)"
"$DEMO_LLM" 4030 &
PIDS+=($!)

for port in 9001 9002 4010 4020 4030; do
    for _ in $(seq 1 50); do
        port_open "$port" && break
        sleep 0.1
    done
    port_open "$port" || { echo "error: demo upstream on port $port did not start" >&2; exit 1; }
done

# Print what to try once the gateway reports ready on its admin port.
(
    for _ in $(seq 1 300); do
        if [ "$(http_status 15000 /readyz)" = "200" ]; then
            cat <<'TRY'

==> Switchboard is ready on http://127.0.0.1:8080 (admin: http://127.0.0.1:15000). Try:

  curl -i http://127.0.0.1:8080/api/echo/hello          # weighted 3:1 over both upstreams, x-served-by header
  curl -i http://127.0.0.1:8080/old                     # 301 redirect to /new, answered by the gateway
  curl -N 'http://127.0.0.1:8080/events?count=5&interval_ms=300'   # SSE relayed as it streams
  curl -i -X OPTIONS http://127.0.0.1:8080/public/echo/x \
       -H 'Origin: https://app.example.com' -H 'Access-Control-Request-Method: POST'   # CORS preflight
  curl http://127.0.0.1:15000/metrics                   # Prometheus metrics

  MCP: one virtual server at http://127.0.0.1:8080/mcp (Streamable HTTP) federating a stdio
  server (tools demo_*), a Streamable HTTP server (remote_*) and the petstore REST API as
  tools (petstore_*). For example:
  curl -si http://127.0.0.1:8080/mcp -H 'content-type: application/json' \
       -H 'accept: application/json, text/event-stream' \
       -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}'
  # then with the returned Mcp-Session-Id header: tools/list, tools/call {"name":"petstore_listPets"}

  LLM: OpenAI and Anthropic APIs at http://127.0.0.1:8080/llm, served by a demo echo model
  (OpenAI SDK: base_url=http://127.0.0.1:8080/llm/v1; Anthropic SDK: base_url=http://127.0.0.1:8080/llm).
  curl http://127.0.0.1:8080/llm/v1/chat/completions -H 'content-type: application/json' \
       -d '{"model":"fast","messages":[{"role":"user","content":"hello"}]}'
  curl -N http://127.0.0.1:8080/llm/v1/messages -H 'content-type: application/json' \
       -d '{"model":"claude-demo","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"hello"}]}'
  curl http://127.0.0.1:15000/metrics | grep gen_ai     # tokens, cost, time to first token

  Ctrl-C stops the gateway and the demo servers.

TRY
            exit 0
        fi
        sleep 0.2
    done
    echo "warning: switchboard did not report ready on http://127.0.0.1:15000/readyz within 60s" >&2
) &
PIDS+=($!)

echo "==> starting switchboard: $SWITCHBOARD run -c $CONFIG"
status=0
"$SWITCHBOARD" run -c "$CONFIG" || status=$?
exit "$status"
