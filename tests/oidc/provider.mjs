// A real OpenID Provider for the single sign-on tests: panva's node-oidc-provider (a
// certified implementation), with its development sign-in form (any password) and the
// accounts and clients the test passes as JSON in argv[2]:
//   {"port": 20001, "clients": [{client_id, client_secret, redirect_uris, ...}],
//    "accounts": {"ann": ["ops"]}, "alg": "RS256"}
// It prints "READY <issuer>" once it listens. Consent is granted without asking: the
// engine is a first-party client of its company's provider, as it is in production.
// A client allowed the refresh_token grant gets a refresh token (rotated at each use)
// without asking for offline_access, as Keycloak and Entra ID give one.
//
// Test-only routes beside the provider's, for the re-check tests:
//   PUT /test-admin/accounts/<id> with a JSON list of groups: the account's groups now
//   DELETE /test-admin/accounts/<id>: the account is gone (its grants fail: invalid_grant)
//   GET /test-admin/grants: how many token requests of each grant type were answered
//     ({"refresh_token": {"success": 1, "error": 0}, ...})
//   POST /test-admin/stop: the provider exits (a provider that is down)
import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';

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
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: true,
  cookies: { keys: ['test-only-cookie-key'] },
  features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
});

const grants = {};
function count(ctx, outcome) {
  const type = ctx.oidc?.params?.grant_type ?? 'unknown';
  grants[type] ??= { success: 0, error: 0 };
  grants[type][outcome] += 1;
}
provider.on('grant.success', (ctx) => count(ctx, 'success'));
provider.on('grant.error', (ctx) => count(ctx, 'error'));

function answer(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function admin(req, res) {
  const path = new URL(req.url, issuer).pathname;
  const account = path.match(/^\/test-admin\/accounts\/([^/]+)$/);
  if (account && req.method === 'PUT') {
    let text = '';
    for await (const chunk of req) text += chunk;
    config.accounts[decodeURIComponent(account[1])] = JSON.parse(text);
    return answer(res, 200, { ok: true });
  }
  if (account && req.method === 'DELETE') {
    delete config.accounts[decodeURIComponent(account[1])];
    return answer(res, 200, { ok: true });
  }
  if (path === '/test-admin/grants' && req.method === 'GET') return answer(res, 200, grants);
  if (path === '/test-admin/stop' && req.method === 'POST') {
    answer(res, 200, { ok: true });
    server.close();
    server.closeAllConnections();
    return setTimeout(() => process.exit(0), 50);
  }
  return answer(res, 404, { error: 'no such test route' });
}

const handle = provider.callback();
const server = createServer((req, res) => {
  if (req.url.startsWith('/test-admin/')) return admin(req, res);
  return handle(req, res);
});
server.listen(config.port, '127.0.0.1', () => {
  console.log(`READY ${issuer}`);
});
