// Small, real OpenID Connect provider for end-to-end tests (oidc-provider 8.8.1).
// Usage: node server.mjs CONFIG.json   (see README.md next to this file)
// stdout carries exactly one line, "ISSUER http://HOST:PORT"; everything else goes to stderr.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import Provider, { interactionPolicy } from 'oidc-provider';

// oidc-provider prints notices with console.info (stdout); the parent test reads stdout, so
// route every console method to stderr before anything can print.
console.log = console.info = console.debug = (...a) => console.error(...a);
const log = (...a) => console.error(new Date().toISOString(), '[idp]', ...a);

if (process.argv.length < 3) { console.error('usage: node server.mjs CONFIG.json'); process.exit(2); }
const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const host = cfg.host || '127.0.0.1';

// Users live in memory only, keyed by username; the admin API mutates this map.
const users = new Map();
const putUser = (u) => {
  if (!u || !u.username || typeof u.password !== 'string') throw new Error('user needs username and password');
  users.set(u.username, { sub: u.username, groups: [], claims: {}, disabled: false, ...u });
};
(cfg.users || []).forEach(putUser);
const userBySub = (sub) => [...users.values()].find((u) => u.sub === sub);

// Extra per-user claims must be mapped to a scope or oidc-provider filters them out; the
// mapping is fixed at construction, so collect names now ("extra_claims" may pre-declare
// names for users that are only added later through the admin API).
const extraClaims = [...new Set([...(cfg.extra_claims || []),
  ...[...users.values()].flatMap((u) => Object.keys(u.claims || {}))])];

// Tiny Map-backed adapter: the built-in memory adapter cannot be enumerated, and the admin
// "logout user" call has to find that user's sessions.
const store = new Map(); // "Model:id" -> { payload, exp (ms) }
const live = function* (model) {
  for (const [key, e] of store) {
    if (e.exp <= Date.now()) { store.delete(key); continue; }
    if (key.startsWith(`${model}:`)) yield [key, e.payload];
  }
};
class MapAdapter {
  constructor(model) { this.model = model; }
  async upsert(id, payload, expiresIn) {
    store.set(`${this.model}:${id}`, { payload, exp: expiresIn ? Date.now() + expiresIn * 1000 : Infinity });
  }
  async find(id) { for (const [k, p] of live(this.model)) if (k === `${this.model}:${id}`) return p; return undefined; }
  async findByUid(uid) { for (const [, p] of live(this.model)) if (p.uid === uid) return p; return undefined; }
  async findByUserCode(code) { for (const [, p] of live(this.model)) if (p.userCode === code) return p; return undefined; }
  async consume(id) { const p = await this.find(id); if (p) p.consumed = Math.floor(Date.now() / 1000); }
  async destroy(id) { store.delete(`${this.model}:${id}`); }
  async revokeByGrantId(grantId) { for (const [k, p] of live(this.model)) if (p.grantId === grantId) store.delete(k); }
}

// Fresh keys every start: RS256 is the clients' id_token alg, ES256 is published as well.
const jwk = (type, opts, alg) => ({ ...crypto.generateKeyPairSync(type, opts).privateKey.export({ format: 'jwk' }), alg, use: 'sig', kid: `${alg.toLowerCase()}-${crypto.randomBytes(4).toString('hex')}` });
const jwks = { keys: [jwk('rsa', { modulusLength: 2048 }, 'RS256'), jwk('ec', { namedCurve: 'P-256' }, 'ES256')] };

// A browser session whose account was disabled or deleted would otherwise hit a server_error
// (no account -> no grant); treat it like "not logged in" so the login form (and its
// "Account disabled" message) is shown instead.
const policy = interactionPolicy.base();
policy.get('login').checks.add(new interactionPolicy.Check('account_unavailable', 'account disabled or removed', 'login_required',
  (ctx) => Boolean(ctx.oidc.session.accountId && !ctx.oidc.account)));

const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const page = (title, body) => `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${esc(title)}</title></head><body>${body}</body></html>`;
const loginPage = (uid, username, error) => page('Sign in', `<h1>Sign in</h1>
${error ? `<p id="error" role="alert">${esc(error)}</p>` : ''}
<form method="post" action="/interaction/${esc(uid)}/login" autocomplete="off">
  <label>Username <input name="username" value="${esc(username)}" autofocus></label>
  <label>Password <input name="password" type="password"></label>
  <button type="submit">Sign in</button>
</form>`);

// The issuer contains the port, and port 0 means "pick one": listen first, build the provider after.
const server = http.createServer();
await new Promise((resolve, reject) => { server.once('error', reject); server.listen(cfg.port || 0, host, resolve); });
const issuer = `http://${host.includes(':') ? `[${host}]` : host}:${server.address().port}`;

const provider = new Provider(issuer, {
  adapter: MapAdapter,
  jwks,
  clients: (cfg.clients || []).map((c) => ({
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic', // v8 accepts client_secret_post for it too
    id_token_signed_response_alg: 'RS256',
    ...(c.backchannel_logout_uri ? { backchannel_logout_session_required: true } : {}),
    ...c,
  })),
  responseTypes: ['code'],
  clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'none'],
  pkce: { methods: ['S256'], required: () => true },
  // Put scope-requested claims into the ID token as well (Keycloak does; the VPN plugin reads them there).
  conformIdTokenClaims: false,
  scopes: ['openid', 'offline_access', 'profile', 'email', 'groups'],
  claims: {
    openid: ['sub', ...extraClaims],
    profile: ['preferred_username', 'name'],
    email: ['email', 'email_verified'],
    groups: ['groups'],
  },
  // Refresh tokens without an offline_access consent. They stay bound to the login session
  // (default expiresWithSession), so logout ends them, as with Keycloak.
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  async findAccount(ctx, sub) {
    const user = userBySub(sub);
    // Disabled or deleted accounts are "not found": code and refresh grants then fail with
    // invalid_grant and userinfo with invalid_token.
    if (!user || user.disabled) return undefined;
    return {
      accountId: sub,
      async claims() {
        return {
          sub, preferred_username: user.username, name: user.name, email: user.email,
          email_verified: true, groups: user.groups, ...user.claims,
        };
      },
    };
  },
  cookies: {
    keys: [crypto.randomBytes(32).toString('hex')],
    // Plain http on loopback: never Secure, and Lax because browsers drop SameSite=None without Secure.
    long: { httpOnly: true, sameSite: 'lax', secure: false },
    short: { httpOnly: true, sameSite: 'lax', secure: false },
  },
  ttl: { AccessToken: 300, IdToken: 300, RefreshToken: 1800, Interaction: 600, Session: 36000, Grant: 36000, ...(cfg.ttl || {}) },
  clientBasedCORS: () => true,
  interactions: { policy },
  features: {
    devInteractions: { enabled: false },
    revocation: { enabled: true },
    introspection: { enabled: true, allowedPolicy: async () => true },
    userinfo: { enabled: true },
    backchannelLogout: { enabled: true },
    rpInitiatedLogout: {
      enabled: true,
      logoutSource: async (ctx, form) => { ctx.body = page('Sign out', `<h1>Sign out?</h1>${form}<button type="submit" form="op.logoutForm" name="logout" value="yes">Yes, sign me out</button><button type="submit" form="op.logoutForm">No</button>`); },
      postLogoutSuccessSource: async (ctx) => { ctx.body = page('Signed out', '<h1>Signed out</h1>'); },
    },
  },
  // Own pages everywhere: the library defaults pull web fonts from the internet.
  renderError: async (ctx, out) => { ctx.type = 'html'; ctx.body = page('Error', `<h1>Error</h1><pre>${esc(JSON.stringify(out, null, 2))}</pre>`); },
});
for (const ev of ['server_error', 'grant.error', 'authorization.error', 'end_session.error', 'backchannel.error', 'introspection.error', 'revocation.error', 'userinfo.error']) {
  provider.on(ev, (ctx, err) => log(ev, err?.message, err?.error_detail || err?.error_description || ''));
}
provider.on('backchannel.success', (ctx, client, accountId) => log('backchannel logout sent to', client.clientId, 'for', accountId));

async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const c of req) { size += c.length; if (size > 1e6) throw new Error('body too large'); chunks.push(c); }
  return Buffer.concat(chunks).toString('utf8');
}
const send = (res, status, body, type = 'text/html; charset=utf-8') => {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
};
const json = (res, status, obj) => send(res, status, JSON.stringify(obj), 'application/json');

// Consent is granted automatically with everything that is being asked for.
async function autoConsent(req, res, details) {
  const { prompt: { details: missing }, params, session: { accountId }, grantId } = details;
  const grant = (grantId && await provider.Grant.find(grantId)) || new provider.Grant({ accountId, clientId: params.client_id });
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes || {})) grant.addResourceScope(indicator, scopes.join(' '));
  await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
}

async function interaction(req, res, uid, isLogin) {
  let details;
  try { details = await provider.interactionDetails(req, res); } catch (err) {
    return send(res, 400, page('Error', `<p>Login session expired or unknown (${esc(err.message)})</p>`));
  }
  if (details.uid !== uid) return send(res, 400, page('Error', '<p>Interaction mismatch</p>'));
  if (details.prompt.name === 'consent') return autoConsent(req, res, details);
  if (details.prompt.name !== 'login') return send(res, 400, page('Error', `<p>Unsupported prompt ${esc(details.prompt.name)}</p>`));
  if (!isLogin) return send(res, 200, loginPage(uid, details.params.login_hint));
  if (req.method !== 'POST') return send(res, 405, 'method not allowed', 'text/plain');
  const form = new URLSearchParams(await readBody(req));
  const username = form.get('username') || '';
  const user = users.get(username);
  if (!user || user.password !== form.get('password')) return send(res, 200, loginPage(uid, username, 'Invalid username or password'));
  if (user.disabled) return send(res, 200, loginPage(uid, username, 'Account disabled'));
  log('login ok', username);
  // Only the login here; the provider then comes back with a consent prompt, which autoConsent answers.
  return provider.interactionFinished(req, res, { login: { accountId: user.sub } }, { mergeWithLastSubmission: false });
}

// Ends every session of one account: back-channel logout to each client of the session that
// registered a backchannel_logout_uri, then revoke the grants (tokens) and drop the session.
async function logoutAccount(sub) {
  const report = { sessions: 0, backchannel: [] };
  for (const [key, s] of [...live('Session')]) {
    if (s.accountId !== sub) continue;
    report.sessions += 1;
    for (const [clientId, auth] of Object.entries(s.authorizations || {})) {
      const client = await provider.Client.find(clientId);
      if (client?.backchannelLogoutUri) {
        try {
          await client.backchannelLogout(sub, auth.sid);
          report.backchannel.push({ client_id: clientId, ok: true });
          log('backchannel logout sent to', clientId, 'for', sub);
        } catch (err) {
          report.backchannel.push({ client_id: clientId, ok: false, error: err.message });
          log('backchannel logout to', clientId, 'failed:', err.message);
        }
      }
      if (auth.grantId) {
        for (const m of ['AccessToken', 'RefreshToken', 'AuthorizationCode']) await provider[m].adapter.revokeByGrantId(auth.grantId);
        store.delete(`Grant:${auth.grantId}`);
      }
    }
    store.delete(key);
  }
  return report;
}

async function admin(req, res, path) {
  const expected = `Bearer ${cfg.admin_token}`;
  const given = req.headers.authorization || '';
  if (!cfg.admin_token || given.length !== expected.length
    || !crypto.timingSafeEqual(Buffer.from(given), Buffer.from(expected))) return json(res, 403, { error: 'forbidden' });
  const m = path.match(/^\/__admin\/(users|logout)(?:\/([^/]+))?(?:\/(enable|disable))?$/);
  const name = m?.[2] && decodeURIComponent(m[2]);
  const user = name && users.get(name);
  if (m && m[1] === 'users' && !name && req.method === 'POST') {
    try { putUser(JSON.parse(await readBody(req))); } catch (err) { return json(res, 400, { error: err.message }); }
    return json(res, 200, { ok: true });
  }
  if (!m || !name) return json(res, 404, { error: 'not found' });
  if (!user) return json(res, 404, { error: `no user ${name}` });
  if (m[1] === 'users' && m[3] && req.method === 'POST') {
    user.disabled = m[3] === 'disable';
    return json(res, 200, { ok: true, username: name, disabled: user.disabled });
  }
  if (m[1] === 'users' && !m[3] && req.method === 'DELETE') { users.delete(name); return json(res, 200, { ok: true }); }
  if (m[1] === 'logout' && !m[3] && req.method === 'POST') return json(res, 200, { ok: true, ...await logoutAccount(user.sub) });
  return json(res, 405, { error: 'method not allowed' });
}

const oidc = provider.callback();
server.on('request', async (req, res) => {
  const { pathname } = new URL(req.url, issuer);
  res.on('finish', () => log(req.method, req.url.length > 160 ? `${req.url.slice(0, 160)}...` : req.url, res.statusCode));
  try {
    const im = pathname.match(/^\/interaction\/([^/]+)(\/login)?$/);
    if (im) return await interaction(req, res, im[1], !!im[2]);
    if (pathname.startsWith('/__admin/')) return await admin(req, res, pathname);
    return oidc(req, res);
  } catch (err) {
    log('error', err.stack || err);
    if (!res.headersSent) send(res, 500, 'internal error', 'text/plain'); else res.end();
  }
});

const stop = (sig) => {
  log(`${sig}, shutting down`);
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));

process.stdout.write(`ISSUER ${issuer}\n`);
log(`listening, ${users.size} users, ${(cfg.clients || []).length} clients`);
