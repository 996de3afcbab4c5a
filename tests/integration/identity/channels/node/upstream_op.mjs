// Upstream OP for the federation test: panva's oidc-provider (npm) on loopback.
//
//   node upstream_op.mjs PROVIDER_INDEX_JS PORT CALLBACK_URI NAME ID_NUMBER PHONE [LEVEL [VERIFIED]]
//
// LEVEL is the asserted assurance level (default P4); VERIFIED the comma-separated claims the
// upstream marks as verified inside verified_claims (default "name,cn_citizen_id").
//
// One confidential client ("broker", client_secret_basic, PKCE S256), ES256 ID tokens, the
// development login/consent pages, and one synthetic account whose claims mirror what the
// national platform releases: name, phone, citizen ID number (scope realname_id) and
// verified_claims with its proofing level (scope realname).
import { generateKeyPairSync } from 'node:crypto';
import { pathToFileURL } from 'node:url';

const [providerPath, portText, callback, name, idNumber, phone, level = 'P4', verifiedText = 'name,cn_citizen_id'] =
  process.argv.slice(2);
const verifiedNames = verifiedText.split(',').filter((n) => n);
const { default: Provider } = await import(pathToFileURL(providerPath).href);
const port = Number(portText);
const issuer = `http://localhost:${port}`;
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'upstream-es256', alg: 'ES256', use: 'sig' };

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'broker',
    client_secret: 'broker-secret-for-tests-only',
    redirect_uris: [callback],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'ES256',
  }],
  jwks: { keys: [jwk] },
  pkce: { required: () => true },
  scopes: ['openid', 'profile', 'phone', 'realname', 'realname_id'],
  claims: {
    openid: ['sub'],
    profile: ['name'],
    phone: ['phone_number'],
    realname: ['verified_claims'],
    realname_id: ['cn_citizen_id'],
  },
  cookies: { keys: ['upstream-test-cookie-key'] },
  features: { devInteractions: { enabled: true } },
  async findAccount(_ctx, id) {
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          name,
          phone_number: `+86${phone}`,
          cn_citizen_id: idNumber,
          verified_claims: {
            verification: { trust_framework: 'cn_gov_realname', assurance_level: level },
            claims: Object.fromEntries(
              verifiedNames.map((n) => [n, { name, cn_citizen_id: idNumber }[n]]),
            ),
          },
        };
      },
    };
  },
});
provider.listen(port, '127.0.0.1', () => console.log(`listening ${issuer}`));
