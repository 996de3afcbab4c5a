// Peer OP for bench/oidc_bench.py: panva's oidc-provider on loopback, configured like our OP.
//
//   node server.mjs PORT CONFIG_JSON_PATH
//
// CONFIG_JSON_PATH names a JSON file written by the bench: {"client_id", "client_secret",
// "redirect_uri", "resource", "scope", "store"} and, for the Redis store, "redis_url". The
// settings mirror ours: ES256 only (ID tokens and JWT access tokens, RFC 9068 via resource
// indicators), PKCE S256 required for every client, client_secret_basic, no access-log middleware.
//
// Storage ("store"), the one thing the two peer configurations differ in:
//
// - "memory": the in-process Map adapter below. The provider's own MemoryAdapter (its docs: for
//   development only, not for production) is an LRU of 1,000 entries, which drops pre-created
//   codes (each code is two entries: its Grant and itself) long before a bench uses them; a Map
//   is the same kind of store without that limit, and the fastest the peer could have. Codes and
//   grants live in this process only: a restart loses them, and two processes cannot share them.
// - "redis": RedisAdapter below, after the provider's example Redis adapter (one JSON value per
//   object, a hash for consumable ones so that consume() is one HSET, a list per grant of the keys
//   to revoke with it), through ioredis with auto-pipelining. The bench points it at a private
//   redis-server with an append-only file fsynced every second (Redis's documented durable
//   setting; "always" would be the equal of PostgreSQL's synchronous commit, and slower).
//
// Bench-only route (not part of the provider): POST /bench/codes?n=N&challenge=C mints N
// authorization codes for the bench client through the provider's own models (Grant +
// AuthorizationCode, the objects its authorize flow saves) and answers {"codes": [...]}.
// That is the peer's equivalent of inserting codes through our service layer.

import { createServer } from 'node:http';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';

import Redis from 'ioredis';
import Provider from 'oidc-provider';

const port = Number(process.argv[2]);
const bench = JSON.parse(readFileSync(process.argv[3], 'utf8'));
const issuer = `http://127.0.0.1:${port}`;

const memory = new Map();
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
    memory.set(this.key(id), { payload, expiresAt });
    if (payload.grantId) {
      const gkey = `grant:${payload.grantId}`;
      const members = memory.get(gkey) || { payload: [], expiresAt: Infinity };
      members.payload.push(this.key(id));
      memory.set(gkey, members);
    }
  }

  async find(id) {
    const entry = memory.get(this.key(id));
    if (!entry) return undefined;
    if (entry.expiresAt <= epoch()) {
      memory.delete(this.key(id));
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
    const entry = memory.get(this.key(id));
    if (entry) entry.payload.consumed = epoch();
  }

  async destroy(id) {
    memory.delete(this.key(id));
  }

  async revokeByGrantId(grantId) {
    const gkey = `grant:${grantId}`;
    const members = memory.get(gkey);
    if (members) members.payload.forEach((key) => memory.delete(key));
    memory.delete(gkey);
  }
}

const grantable = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
]);
const consumable = new Set([
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
]);

let redis;

class RedisAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    const multi = redis.multi();
    if (consumable.has(this.model)) {
      multi.hset(key, { payload: JSON.stringify(payload) });
    } else {
      multi.set(key, JSON.stringify(payload));
    }
    if (expiresIn) multi.expire(key, expiresIn);
    if (grantable.has(this.model) && payload.grantId) {
      const grantKey = `grant:${payload.grantId}`;
      multi.rpush(grantKey, key);
      const ttl = await redis.ttl(grantKey);
      if (expiresIn && expiresIn > ttl) multi.expire(grantKey, expiresIn);
    }
    if (payload.userCode) {
      multi.set(`userCode:${payload.userCode}`, id);
      if (expiresIn) multi.expire(`userCode:${payload.userCode}`, expiresIn);
    }
    if (payload.uid) {
      multi.set(`uid:${payload.uid}`, id);
      if (expiresIn) multi.expire(`uid:${payload.uid}`, expiresIn);
    }
    await multi.exec();
  }

  async find(id) {
    const key = this.key(id);
    if (consumable.has(this.model)) {
      const data = await redis.hgetall(key);
      if (!data || !data.payload) return undefined;
      const { payload, ...rest } = data;
      const found = { ...JSON.parse(payload) };
      if (rest.consumed) found.consumed = Number(rest.consumed);
      return found;
    }
    const data = await redis.get(key);
    return data ? JSON.parse(data) : undefined;
  }

  async findByUid(uid) {
    const id = await redis.get(`uid:${uid}`);
    return id ? this.find(id) : undefined;
  }

  async findByUserCode(userCode) {
    const id = await redis.get(`userCode:${userCode}`);
    return id ? this.find(id) : undefined;
  }

  async consume(id) {
    await redis.hset(this.key(id), 'consumed', epoch());
  }

  async destroy(id) {
    await redis.del(this.key(id));
  }

  async revokeByGrantId(grantId) {
    const grantKey = `grant:${grantId}`;
    const keys = await redis.lrange(grantKey, 0, -1);
    const multi = redis.multi();
    keys.forEach((key) => multi.del(key));
    multi.del(grantKey);
    await multi.exec();
  }
}

const store = bench.store || 'memory';
if (store === 'redis') {
  redis = new Redis(bench.redis_url, { enableAutoPipelining: true, lazyConnect: false });
} else if (store !== 'memory') {
  throw new Error(`unknown store ${store}`);
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
  adapter: store === 'redis' ? RedisAdapter : MapAdapter,
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
