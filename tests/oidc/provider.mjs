// A real OpenID Provider for the single sign-on tests: panva's node-oidc-provider (a
// certified implementation), with its development sign-in form (any password) and the
// accounts and clients the test passes as JSON in argv[2]:
//   {"port": 20001, "clients": [{client_id, client_secret, redirect_uris, ...}],
//    "accounts": {"ann": ["ops"]}, "alg": "RS256"}
// It prints "READY <issuer>" once it listens. Consent is granted without asking: the
// engine is a first-party client of its company's provider, as it is in production.
import { generateKeyPairSync } from 'node:crypto';

import Provider from 'oidc-provider';

const config = JSON.parse(process.argv[2]);
const issuer = `http://127.0.0.1:${config.port}`;

function jwk(type, options, kid) {
  const { privateKey } = generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), kid, use: 'sig' };
}

const keys = [
  jwk('rsa', { modulusLength: 2048 }, 'rsa-1'),
  jwk('ec', { namedCurve: 'P-256' }, 'ec-1'),
];
// The first key of the id_token's algorithm signs: an ES256 client gets ec-1.
for (const key of keys) key.alg = key.kty === 'RSA' ? 'RS256' : 'ES256';

const provider = new Provider(issuer, {
  clients: config.clients,
  jwks: { keys },
  claims: {
    openid: ['sub'],
    profile: ['preferred_username', 'name'],
    email: ['email'],
    groups: ['groups'],
  },
  scopes: ['openid', 'profile', 'email', 'groups'],
  async findAccount(ctx, id) {
    const groups = config.accounts[id];
    if (groups === undefined) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, preferred_username: id, email: `${id}@example.org`, groups };
      },
    };
  },
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid profile email groups');
    await grant.save();
    return grant;
  },
  cookies: { keys: ['test-only-cookie-key'] },
  features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
});

provider.listen(config.port, '127.0.0.1', () => {
  console.log(`READY ${issuer}`);
});
