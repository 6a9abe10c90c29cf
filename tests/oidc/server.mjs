// A real OAuth 2.1 / OpenID authorization server for the mcpAuthentication end-to-end test
// (gateway/tests/e2e/mcp_oauth_interop.rs): npm `oidc-provider` (pinned in package.json,
// installed by scripts/test.sh), on 127.0.0.1.
//
//   node tests/oidc/server.mjs RESOURCE
//
// RESOURCE is the protected resource (Switchboard's MCP route URL). The server:
// - listens on a free loopback port; its issuer is http://127.0.0.1:PORT, with OIDC discovery
//   (/.well-known/openid-configuration) and RFC 8414 metadata, and its keys at /jwks;
// - signs with an RSA key generated at start (nothing on disk);
// - has one confidential client (`mcp-client` / `mcp-secret`) allowed the client-credentials
//   grant, and open dynamic client registration (RFC 7591) for clients of the authorization
//   code grant with PKCE; its development login and consent pages (`devInteractions`: any
//   user name signs in) are what a test drives over HTTP in place of a browser;
// - has the resource-indicators feature (RFC 8707) on: a token requested for RESOURCE is a JWT
//   with `aud` = RESOURCE and the granted scopes in `scope`; any other resource is refused
//   (`invalid_target`).
// It prints one JSON line on stdout once it listens: {"issuer", "port"}, then one line per
// token it issues: {"event": "token", "grant", "resource", "scope"} (as the client asked).
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import Provider, { errors } from 'oidc-provider';

const resource = process.argv[2];
if (!resource) {
  console.error('usage: node server.mjs RESOURCE');
  process.exit(2);
}

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' };

// Port 0 first to learn a free port, then the issuer that names it.
const http = await import('node:http');
const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'mcp-client',
      client_secret: 'mcp-secret',
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'mcp:tools mcp:admin',
    },
  ],
  // `offline_access` makes the refresh_token grant registrable: rmcp's dynamic registration
  // always asks for it (grant_types authorization_code and refresh_token), and oidc-provider
  // refuses a grant type it does not offer.
  scopes: ['openid', 'offline_access', 'mcp:tools', 'mcp:admin'],
  // The subject of a signed-in user is the user name typed into the login page.
  findAccount: (ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
  jwks: { keys: [jwk] },
  features: {
    clientCredentials: { enabled: true },
    devInteractions: { enabled: true },
    registration: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => undefined,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, indicator) => {
        if (indicator !== resource) {
          throw new errors.InvalidTarget(`unknown resource ${indicator}`);
        }
        return {
          scope: 'mcp:tools mcp:admin',
          audience: resource,
          accessTokenTTL: 300,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
});

provider.on('grant.success', (ctx) => {
  const { grant_type: grant, resource: asked, scope } = ctx.oidc.params;
  console.log(JSON.stringify({ event: 'token', grant, resource: asked, scope }));
});
provider.on('server_error', (ctx, err) => console.error('server_error', err));
provider.on('grant.error', (ctx, err) => console.error('grant.error', err.message, err.error_description));

server.on('request', provider.callback());
console.log(JSON.stringify({ issuer, port }));

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => server.close(() => process.exit(0)));
}
// Exit with the test: stdin closes when the parent goes away.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
