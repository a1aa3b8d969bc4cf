// A thin launcher around panva's oidc-provider for Ferry's tests: it issues
// RFC 9068 JWT access tokens by the client credentials grant with
// private_key_jwt client authentication, as SMART Backend Services do, and
// rotates its own signing keys on request.
//
//   node server.mjs '<config json>'
//
// config: {"audience": "...", "scopes": "...", "clients": [{"client_id",
//   "jwks": {"keys": [...]}, "scope": "...", "claims": {...}}]}
// claims are added to each access token of that client (SMART's "patient"
// claim, a purpose of use).
//
// It prints one JSON line when it serves ({"ready":true,"issuer":...}), then
// reads commands on stdin, one a line, answering each with one JSON line:
//   rotate  publish a new signing key, first, beside the old ones
//   retire  keep only the newest key
import http from 'node:http';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import readline from 'node:readline';
import Provider from 'oidc-provider';

// How far start-up got (ms since the process started), on stderr: the Go
// side shows it when a start stalls.
const progress = (what) => process.stderr.write(`oidc peer: ${what} at ${Math.round(process.uptime() * 1000)} ms\n`);
progress('imported');

const cfg = JSON.parse(process.argv[2] ?? '{}');
const clients = new Map((cfg.clients ?? []).map((c) => [c.client_id, c]));

function newKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' };
}

let keys = [newKey()];
progress('signing key made');
let provider;
const server = http.createServer((req, res) => provider.callback()(req, res));

function build(issuer) {
  const p = new Provider(issuer, {
    clients: (cfg.clients ?? []).map((c) => ({
      client_id: c.client_id,
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'ES384',
      jwks: c.jwks,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      scope: c.scope,
    })),
    jwks: { keys },
    enabledJWA: { clientAuthSigningAlgValues: ['ES384', 'RS384'] },
    clientAuthMethods: ['private_key_jwt'],
    scopes: cfg.scopes.split(' '),
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => cfg.audience,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: cfg.scopes,
          audience: cfg.audience,
          accessTokenFormat: 'jwt',
          accessTokenTTL: 300,
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
    ttl: { ClientCredentials: 300 },
    extraTokenClaims: (ctx, token) => clients.get(token.clientId)?.claims,
  });
  p.on('server_error', (ctx, err) => process.stderr.write(`server_error: ${err.stack}\n`));
  return p;
}

server.listen(0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  progress('listening');
  provider = build(issuer);
  progress('provider built');
  process.stdout.write(JSON.stringify({ ready: true, issuer, kids: keys.map((k) => k.kid) }) + '\n');
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    if (line === 'rotate') keys = [newKey(), ...keys];
    else if (line === 'retire') keys = keys.slice(0, 1);
    else {
      process.stdout.write(JSON.stringify({ error: 'unknown command' }) + '\n');
      return;
    }
    provider = build(issuer);
    process.stdout.write(JSON.stringify({ ok: true, kids: keys.map((k) => k.kid) }) + '\n');
  });
  rl.on('close', () => process.exit(0));
});
