// Peer OP for bench/oidc_bench.py: panva's oidc-provider on loopback, configured like our OP.
//
//   node server.mjs PORT CONFIG_JSON_PATH
//
// CONFIG_JSON_PATH names a JSON file written by the bench: {"client_id", "client_secret",
// "redirect_uri", "resource", "scope"}. The settings mirror ours: ES256 only (ID tokens and JWT
// access tokens, RFC 9068 via resource indicators), PKCE S256 required for every client,
// client_secret_basic, no access-log middleware. Storage is the in-process Map adapter below: the
// provider's own development adapter is an LRU of 1,000 entries, which drops pre-created codes
// (each code is two entries: its Grant and itself) long before a bench uses them. A Map is the
// fastest store the peer could have; our side stores codes and grants in its SQL database.
//
// Bench-only route (not part of the provider): POST /bench/codes?n=N&challenge=C mints N
// authorization codes for the bench client through the provider's own models (Grant +
// AuthorizationCode, the objects its authorize flow saves) and answers {"codes": [...]}.
// That is the peer's equivalent of inserting codes through our service layer.

import { createServer } from 'node:http';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';

import Provider from 'oidc-provider';

const port = Number(process.argv[2]);
const bench = JSON.parse(readFileSync(process.argv[3], 'utf8'));
const issuer = `http://127.0.0.1:${port}`;

const store = new Map();
const epoch = () => Math.floor(Date.now() / 1000);

class MapAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const expiresAt = expiresIn ? epoch() + expiresIn : Infinity;
    store.set(this.key(id), { payload, expiresAt });
    if (payload.grantId) {
      const gkey = `grant:${payload.grantId}`;
      const members = store.get(gkey) || { payload: [], expiresAt: Infinity };
      members.payload.push(this.key(id));
      store.set(gkey, members);
    }
  }

  async find(id) {
    const entry = store.get(this.key(id));
    if (!entry) return undefined;
    if (entry.expiresAt <= epoch()) {
      store.delete(this.key(id));
      return undefined;
    }
    return entry.payload;
  }

  async findByUid() {
    return undefined;
  }

  async findByUserCode() {
    return undefined;
  }

  async consume(id) {
    const entry = store.get(this.key(id));
    if (entry) entry.payload.consumed = epoch();
  }

  async destroy(id) {
    store.delete(this.key(id));
  }

  async revokeByGrantId(grantId) {
    const gkey = `grant:${grantId}`;
    const members = store.get(gkey);
    if (members) members.payload.forEach((key) => store.delete(key));
    store.delete(gkey);
  }
}

const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'bench-es256', alg: 'ES256', use: 'sig' };

const resourceServer = {
  audience: bench.resource,
  scope: bench.scope,
  accessTokenFormat: 'jwt',
  accessTokenTTL: 600,
  jwt: { sign: { alg: 'ES256' } },
};

const provider = new Provider(issuer, {
  clients: [{
    client_id: bench.client_id,
    client_secret: bench.client_secret,
    grant_types: ['authorization_code', 'client_credentials'],
    response_types: ['code'],
    redirect_uris: [bench.redirect_uri],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'ES256',
    scope: `openid ${bench.scope}`,
  }],
  adapter: MapAdapter,
  jwks: { keys: [signingKey] },
  scopes: ['openid', bench.scope],
  responseTypes: ['code'],
  enabledJWA: { idTokenSigningAlgValues: ['ES256'] },
  pkce: { required: () => true },
  findAccount: async (ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => bench.resource,
      useGrantedResource: async () => true,
      getResourceServerInfo: async () => resourceServer,
    },
  },
  ttl: {
    AuthorizationCode: 600,
    IdToken: 600,
    AccessToken: 600,
    ClientCredentials: 600,
    Grant: 3600,
  },
});
provider.proxy = false;

async function mintCodes(n, challenge) {
  const client = await provider.Client.find(bench.client_id);
  const codes = [];
  const now = Math.floor(Date.now() / 1000);
  for (let i = 0; i < n; i += 1) {
    const accountId = `bench-person-${i % 64}`;
    const grant = new provider.Grant({ accountId, clientId: client.clientId });
    grant.addOIDCScope('openid');
    grant.addResourceScope(bench.resource, bench.scope);
    const grantId = await grant.save();
    const code = new provider.AuthorizationCode({
      accountId,
      client,
      grantId,
      redirectUri: bench.redirect_uri,
      scope: 'openid',
      codeChallenge: challenge,
      codeChallengeMethod: 'S256',
      authTime: now,
      acr: 'urn:bench:loa:2',
      nonce: randomUUID(),
      resource: bench.resource,
    });
    codes.push(await code.save());
  }
  return codes;
}

const callback = provider.callback();
createServer((req, res) => {
  if (req.method === 'POST' && req.url.startsWith('/bench/codes')) {
    const params = new URL(req.url, issuer).searchParams;
    mintCodes(Number(params.get('n') || '1'), params.get('challenge')).then(
      (codes) => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ codes }));
      },
      (err) => {
        res.statusCode = 500;
        res.end(String(err && err.stack));
      },
    );
    return;
  }
  callback(req, res);
}).listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening ${issuer}\n`);
});
