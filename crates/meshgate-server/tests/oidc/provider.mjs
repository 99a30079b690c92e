// A real OpenID provider for meshgate's sign-in tests: `oidc-provider` (the certified Node
// implementation) with its development login pages, run as its own process.
//
//   node provider.mjs --port 9000 --keys /tmp/keys.json [--rotate] [--redirect URL]...
//
// Issuer: http://127.0.0.1:PORT. Users sign in with any name on the provider's login form
// (`login` field; any password); their claims: sub = name, email = name@example.com
// (verified), name, groups. Clients:
// - `meshgate` (secret `meshgate-secret`): authorization code + PKCE, refresh tokens, device
//   flow, client credentials; the audience of its ID tokens and of access tokens for the
//   resource `urn:meshgate`.
// - `meshgate-cli` (public): device flow and refresh tokens, as `meshgate login` uses it.
// - `etl-job` (secret `etl-secret`), `short-lived` (secret `short-secret`, 2-second tokens):
//   client credentials.
// Access tokens are JWTs (RFC 9068) for `urn:meshgate` (aud `meshgate`) or `urn:other`
// (aud `other`, a wrong audience for meshgate) and carry the user's groups.
//
// What an admin would do in the provider's console, the tests do over HTTP:
// - PUT /test/groups/NAME with a JSON list: the user's groups from now on.
// Signing keys are kept in --keys: with --rotate a new key is made and signs from now on
// (the old one is still published), so a restart with --rotate is a key rotation.

import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const args = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const port = Number(arg('--port', '9000'));
const keysFile = arg('--keys', null);
const redirects = args.flatMap((a, i) => (a === '--redirect' ? [args[i + 1]] : []));
if (redirects.length === 0) redirects.push('http://127.0.0.1:1/auth/callback');
const issuer = `http://127.0.0.1:${port}`;

function newKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' };
}

let keys = keysFile && existsSync(keysFile) ? JSON.parse(readFileSync(keysFile, 'utf8')) : [];
if (keys.length === 0 || args.includes('--rotate')) keys = [newKey(), ...keys];
if (keysFile) writeFileSync(keysFile, JSON.stringify(keys));

const groups = new Map();

const configuration = {
  clients: [
    {
      client_id: 'meshgate',
      client_secret: 'meshgate-secret',
      redirect_uris: redirects,
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials',
        'urn:ietf:params:oauth:grant-type:device_code'],
      response_types: ['code'],
      post_logout_redirect_uris: redirects.map((r) => new URL('/', r).href),
    },
    {
      // The CLI: a public client (no secret) signing in with the device authorization grant.
      client_id: 'meshgate-cli',
      token_endpoint_auth_method: 'none',
      grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
      response_types: [],
      redirect_uris: [],
    },
    { client_id: 'etl-job', client_secret: 'etl-secret', grant_types: ['client_credentials'], response_types: [], redirect_uris: [] },
    { client_id: 'short-lived', client_secret: 'short-secret', grant_types: ['client_credentials'], response_types: [], redirect_uris: [] },
  ],
  jwks: { keys },
  pkce: { required: () => true },
  conformIdTokenClaims: false,
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  },
  scopes: ['openid', 'offline_access', 'email', 'profile', 'groups', 'read'],
  cookies: { keys: ['meshgate-test-cookie-key'] },
  ttl: {
    IdToken: 600,
    AccessToken: 600,
    ClientCredentials: (ctx, token, client) => (client.clientId === 'short-lived' ? 2 : 600),
  },
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    deviceFlow: { enabled: true },
    revocation: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'urn:meshgate',
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource, client) => ({
        scope: 'read',
        audience: resource === 'urn:other' ? 'other' : 'meshgate',
        accessTokenFormat: 'jwt',
        accessTokenTTL: client.clientId === 'short-lived' ? 2 : 600,
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
  extraTokenClaims: async (ctx, token) => (token.accountId
    ? { groups: groups.get(token.accountId) ?? [] }
    : undefined),
  findAccount: async (ctx, id) => ({
    accountId: id,
    claims: async () => ({
      sub: id,
      email: `${id}@example.com`,
      email_verified: true,
      name: id.charAt(0).toUpperCase() + id.slice(1),
      preferred_username: id,
      groups: groups.get(id) ?? [],
    }),
  }),
};

const provider = new Provider(issuer, configuration);
const callback = provider.callback();

createServer((req, res) => {
  const url = new URL(req.url, issuer);
  const match = url.pathname.match(/^\/test\/groups\/([^/]+)$/);
  if (req.method === 'PUT' && match) {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      groups.set(decodeURIComponent(match[1]), JSON.parse(body));
      res.writeHead(204).end();
    });
    return;
  }
  if (url.pathname === '/test/health') {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    return;
  }
  callback(req, res);
}).listen(port, '127.0.0.1', () => {
  console.log(`ready ${issuer} signing-key ${keys[0].kid}`);
});
