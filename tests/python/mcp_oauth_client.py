#!/usr/bin/env python3
"""MCP client on the official Python SDK (`mcp`, tests/requirements.txt) that authorizes itself
the way the MCP authorization spec describes, for gateway/tests/e2e/mcp_oauth_interop.rs.

It is given only the MCP URL and how to authorize. Everything else it discovers from the
server's `401`: the RFC 9728 document named by `resource_metadata`, the authorization server
listed there, that server's metadata, then a token requested with the RFC 8707 `resource`
parameter. Then it initializes, lists the tools and calls TOOL with ARGS_JSON:

    python3 tests/python/mcp_oauth_client.py URL CLIENT_ID CLIENT_SECRET TOOL ARGS_JSON
    python3 tests/python/mcp_oauth_client.py URL --code USER TOOL ARGS_JSON

- with CLIENT_ID and CLIENT_SECRET: the client-credentials grant (the SDK's
  `ClientCredentialsOAuthProvider`);
- with `--code USER`: the authorization code grant with PKCE (the SDK's `OAuthClientProvider`),
  registering itself by dynamic client registration. The "browser" is this script: it follows
  the authorization URL and fills in the oidc-provider development login (as USER) and consent
  forms over HTTP (tests/oidc/server.mjs), then hands the code from the redirect to the SDK.

Output on stdout, one JSON object: {"authorizationServer", "resourceMetadata", "tools",
"text", "claims"} where `claims` are the access token's claims (decoded, not verified: the
test compares them with what the gateway was told). On failure: exit code 1 and the error on
stderr.
"""

from __future__ import annotations

import base64
import json
import re
import sys
import traceback
from urllib.parse import parse_qs, urljoin, urlparse

import anyio
import httpx

from mcp import ClientSession
from mcp.client.auth import OAuthClientProvider, TokenStorage
from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

try:  # mcp >= 1.24
    from mcp.client.streamable_http import streamable_http_client
except ImportError:  # older 1.x
    streamable_http_client = None
    from mcp.client.streamable_http import streamablehttp_client


class Memory(TokenStorage):
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


REDIRECT_URI = "http://127.0.0.1:9/callback"


class Browser:
    """Plays the user's browser for the authorization code grant: follows the authorization
    URL through oidc-provider's development login and consent pages, posting their forms,
    until the redirect to REDIRECT_URI, whose code and state it keeps."""

    def __init__(self, user: str) -> None:
        self.user = user
        self.result: tuple[str, str | None] | None = None

    async def redirect(self, authorization_url: str) -> None:
        async with httpx.AsyncClient(follow_redirects=False, timeout=10.0) as http:
            url, method, form = authorization_url, "GET", None
            for _ in range(12):
                r = await http.request(method, url, data=form)
                if r.is_redirect:
                    url = urljoin(url, r.headers["location"])
                    method, form = "GET", None
                    if url.startswith(REDIRECT_URI):
                        q = parse_qs(urlparse(url).query)
                        if "code" not in q:
                            raise RuntimeError(f"authorization failed: {q}")
                        self.result = (q["code"][0], q.get("state", [None])[0])
                        return
                    continue
                if r.status_code != 200:
                    raise RuntimeError(f"{method} {url}: {r.status_code} {r.text[:300]}")
                page = r.text
                action = re.search(r'<form[^>]*action="([^"]+)"', page)
                prompt = re.search(r'name="prompt" value="([^"]+)"', page)
                if not action or not prompt:
                    raise RuntimeError(f"no form at {url}: {page[:300]}")
                url, method = urljoin(url, action.group(1)), "POST"
                form = {"prompt": prompt.group(1)}
                if prompt.group(1) == "login":
                    form.update({"login": self.user, "password": "any"})
            raise RuntimeError("too many redirects")

    async def callback(self) -> tuple[str, str | None]:
        if self.result is None:
            raise RuntimeError("no authorization code")
        return self.result


def claims(jwt: str) -> dict:
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


async def main(url: str, client_id: str, secret: str, tool: str, args: dict) -> None:
    with anyio.fail_after(30):
        await run(url, client_id, secret, tool, args)


async def run(url: str, client_id: str, secret: str, tool: str, args: dict) -> None:
    storage = Memory()
    if client_id == "--code":
        browser = Browser(user=secret)
        auth = OAuthClientProvider(
            server_url=url,
            client_metadata=OAuthClientMetadata(
                client_name="switchboard-test",
                redirect_uris=[REDIRECT_URI],
                grant_types=["authorization_code"],
                response_types=["code"],
                token_endpoint_auth_method="none",
            ),
            storage=storage,
            redirect_handler=browser.redirect,
            callback_handler=browser.callback,
        )
    else:
        # No `issuer`: the authorization server is whatever Switchboard's metadata names
        # (the point of the test); the SDK warns that this is deprecated.
        auth = ClientCredentialsOAuthProvider(
            server_url=url, storage=storage, client_id=client_id, client_secret=secret
        )
    if streamable_http_client is not None:
        http = httpx.AsyncClient(auth=auth, timeout=httpx.Timeout(20.0), follow_redirects=True)
        transport = streamable_http_client(url, http_client=http)
    else:
        transport = streamablehttp_client(url, auth=auth)
    async with transport as (read, write, _):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = await session.list_tools()
            result = await session.call_tool(tool, args)
    prm = auth.context.protected_resource_metadata
    out = {
        "authorizationServer": auth.context.auth_server_url,
        "resourceMetadata": json.loads(prm.model_dump_json(exclude_none=True)) if prm else None,
        "tools": [t.name for t in tools.tools],
        "text": [c.text for c in result.content if getattr(c, "type", "") == "text"],
        "claims": claims(storage.tokens.access_token) if storage.tokens else None,
    }
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    url, client_id, secret, tool, args = sys.argv[1:6]
    try:
        anyio.run(main, url, client_id, secret, tool, json.loads(args))
    except BaseException:  # noqa: BLE001 - report everything, exit 1
        traceback.print_exc()
        sys.exit(1)
