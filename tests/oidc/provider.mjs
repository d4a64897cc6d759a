// The OpenID provider of the single sign-on tests: the certified `oidc-provider`, on loopback,
// with the accounts of accounts.json and a sign-in form of its own.
//
//   node tests/oidc/provider.mjs
//
// It listens on a free port of 127.0.0.1 and prints `listening <issuer>` on one line. The test
// then registers its portal's client (`POST /test/setup`), and may change the provider while it
// runs:
//   POST /test/setup          {client_id, client_secret, redirect_uri, backchannel_logout_uri}
//                             (again: the client registered anew, its grants and tokens kept)
//   POST /test/accounts/<id>  {groups?, disabled?, email?, email_verified?}  (merged in)
//   POST /test/id-token       {mode}: the next ID token the token endpoint answers is
//                             "foreign-key" (signed by a key the provider does not publish, same
//                             kid), "expired", "other-audience" or "wrong-nonce"; "normal" again after.
//   POST /test/logout/<id>    ends the account's sessions as the provider's own logout does,
//                             back-channel logout of the clients included.
//   POST /test/rotate         publishes a second key; ID tokens are signed with it from then on.
//   POST /test/stats          {jwks_requests, token_errors}: how often the keys were fetched, and
//                             how often the token endpoint answered an error.
// Nothing here is reachable from outside the machine.

import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import Provider from 'oidc-provider';
import { createMemoryAdapter } from 'oidc-provider/lib/adapters/memory_adapter.js';
import { SignJWT, decodeJwt, exportJWK, generateKeyPair, importJWK } from 'jose';

const accounts = JSON.parse(readFileSync(new URL('./accounts.json', import.meta.url)));

const { privateKey } = await generateKeyPair('RS256', { extractable: true });
const signing = { ...(await exportJWK(privateKey)), kid: 'keyport-test-1', alg: 'RS256', use: 'sig' };
// The key of the forged tokens: never published, and it claims the published key's id.
const { privateKey: foreignKey } = await generateKeyPair('RS256', { extractable: true });
// A second key of the provider's, published from the moment the test rotates to it.
const { privateKey: nextKey, publicKey: nextPublic } = await generateKeyPair('RS256', { extractable: true });
const nextJwk = { ...(await exportJWK(nextPublic)), kid: 'keyport-test-2', alg: 'RS256', use: 'sig' };
let rotated = false;
let jwksRequests = 0;
let tokenErrors = 0;
const signingKey = await importJWK(signing, 'RS256');

let provider;
let issuer;
// The provider's store (grants, refresh tokens, sessions), kept when the test registers the
// client again (another client secret): the grants outlive the client's registration.
const adapter = createMemoryAdapter();
let nextIdToken = 'normal';

function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title, body) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title>
<meta name="viewport" content="width=device-width"></head><body><main><h1>${escape(title)}</h1>${body}</main></body></html>`;
}

async function findAccount(_ctx, id) {
  const account = accounts[id];
  // A disabled or removed account is unknown: its refresh tokens are refused.
  if (!account || account.disabled) return undefined;
  return {
    accountId: id,
    async claims() {
      return {
        sub: id,
        email: account.email,
        email_verified: account.email_verified,
        name: account.name,
        // `groups: null` leaves the claim out, as many providers do in a refresh's ID token.
        ...(account.groups == null ? {} : { groups: account.groups }),
      };
    },
  };
}

function configure(client) {
  return {
    clients: [{
      client_id: client.client_id,
      client_secret: client.client_secret,
      redirect_uris: [client.redirect_uri],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      backchannel_logout_uri: client.backchannel_logout_uri,
      backchannel_logout_session_required: true,
    }],
    jwks: { keys: [signing] },
    adapter,
    findAccount,
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name'],
      groups: ['groups'],
    },
    // Claims go into the ID token itself, as Keycloak and Entra ID put them.
    conformIdTokenClaims: false,
    features: {
      devInteractions: { enabled: false },
      backchannelLogout: { enabled: true },
      rpInitiatedLogout: { enabled: true },
    },
    // A refresh token for every sign-in of a client that may refresh, as Keycloak does; it ends
    // with the account's session at the provider.
    issueRefreshToken: async (_ctx, c) => c.grantTypeAllowed('refresh_token'),
    // The portal is the provider's own client: no consent screen.
    loadExistingGrant: async (ctx) => {
      const grantId = ctx.oidc.result?.consent?.grantId
        || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope('openid email profile groups offline_access');
      await grant.save();
      return grant;
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    ttl: { IdToken: 300, AccessToken: 300, RefreshToken: 3600, Session: 3600, Grant: 3600 },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    // The back-channel logout goes to the portal on loopback, which the provider's own guard
    // against requests to special-use addresses refuses: the guard's dispatcher is left out.
    fetch: (url, { dispatcher, ...options }) => globalThis.fetch(url, options),
  };
}

// An ID token changed after the provider signed it, signed again by its own key (the token's
// content is wrong) or by a foreign one (the signature is).
async function forge(idToken, mode) {
  const claims = decodeJwt(idToken);
  const now = Math.floor(Date.now() / 1000);
  let key = signingKey;
  let kid = signing.kid;
  if (mode === 'foreign-key') key = foreignKey;
  if (mode === 'rotated') [key, kid] = [nextKey, nextJwk.kid];
  if (mode === 'unknown-kid') kid = 'a-key-nobody-published';
  if (mode === 'expired') Object.assign(claims, { iat: now - 900, exp: now - 600 });
  if (mode === 'other-audience') claims.aud = 'another-client';
  if (mode === 'wrong-nonce') claims.nonce = 'not-the-nonce-of-this-sign-in';
  return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' }).sign(key);
}

async function readJson(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return body ? JSON.parse(body) : {};
}

function send(res, status, type, body) {
  res.writeHead(status, { 'content-type': type });
  res.end(body);
}

async function interaction(req, res, url) {
  const details = await provider.interactionDetails(req, res);
  const { uid, prompt, params } = details;
  if (req.method === 'GET') {
    const hint = params.login_hint ? escape(params.login_hint) : '';
    return send(res, 200, 'text/html', page('Sign in to the test provider', `
<form method="post" action="/interaction/${uid}">
<label for="login">Username</label> <input id="login" name="login" autocomplete="username" value="${hint}">
<label for="password">Password</label> <input id="password" name="password" type="password" autocomplete="current-password">
<button type="submit">Sign in</button></form><p>prompt: ${escape(prompt.name)}</p>`));
  }
  const form = new URLSearchParams(await new Promise((resolve) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => resolve(body));
  }));
  const id = form.get('login');
  const account = accounts[id];
  if (!account || account.disabled || form.get('password') !== account.password) {
    return send(res, 401, 'text/html', page('Sign in to the test provider', `<p role="alert">Wrong username or password.</p><p><a href="${url.pathname}">Try again</a></p>`));
  }
  return provider.interactionFinished(req, res, { login: { accountId: id } }, { mergeWithLastSubmission: false });
}

async function test(req, res, url) {
  const parts = url.pathname.split('/').filter(Boolean);
  const body = await readJson(req);
  if (parts[1] === 'setup') {
    provider = new Provider(issuer, configure(body));
    // The test talks to it over plain HTTP on loopback.
    provider.proxy = false;
    return send(res, 204, 'text/plain', '');
  }
  if (parts[1] === 'accounts' && accounts[parts[2]]) {
    Object.assign(accounts[parts[2]], body);
    return send(res, 204, 'text/plain', '');
  }
  if (parts[1] === 'id-token') {
    nextIdToken = body.mode;
    return send(res, 204, 'text/plain', '');
  }
  if (parts[1] === 'rotate') {
    rotated = true;
    return send(res, 204, 'text/plain', '');
  }
  if (parts[1] === 'stats') {
    return send(res, 200, 'application/json', JSON.stringify({ jwks_requests: jwksRequests, token_errors: tokenErrors }));
  }
  if (parts[1] === 'logout' && accounts[parts[2]]) {
    const sessions = await endSessions(parts[2]);
    return send(res, 200, 'application/json', JSON.stringify({ sessions }));
  }
  return send(res, 404, 'text/plain', 'no such test switch');
}

// The provider's sessions of an account, kept by its in-memory adapter, ended: each client
// that took part is told through its back-channel logout URI, as /session/end does.
const liveSessions = new Map();
async function endSessions(accountId) {
  let ended = 0;
  for (const [uid, session] of liveSessions) {
    if (session.accountId !== accountId) continue;
    for (const clientId of Object.keys(session.authorizations || {})) {
      const client = await provider.Client.find(clientId);
      const { sid } = session.authorizations[clientId];
      await client.backchannelLogout(accountId, sid);
    }
    const stored = await provider.Session.findByUid(uid);
    if (stored) await stored.destroy();
    liveSessions.delete(uid);
    ended += 1;
  }
  return ended;
}

const server = createServer(async (req, res) => {
  const url = new URL(req.url, issuer);
  try {
    if (url.pathname.startsWith('/test/')) return await test(req, res, url);
    if (!provider) return send(res, 503, 'text/plain', 'not set up yet');
    if (url.pathname.startsWith('/interaction/')) return await interaction(req, res, url);
    return provider.callback()(req, res);
  } catch (e) {
    console.error(e);
    if (!res.headersSent) send(res, 500, 'text/plain', String(e.message));
  }
});

// The provider's answers, seen on their way out: the next ID token forged when asked, and the
// sessions noted for /test/logout.
const callback = Provider.prototype.callback;
Provider.prototype.callback = function wrapped() {
  if (!this.wrappedCallback) {
    this.use(async (ctx, next) => {
      await next();
      if (ctx.path === '/token' && ctx.status >= 400) tokenErrors += 1;
      if (ctx.path === '/token' && ctx.body && ctx.body.id_token && nextIdToken !== 'normal') {
        ctx.body = { ...ctx.body, id_token: await forge(ctx.body.id_token, nextIdToken) };
        nextIdToken = 'normal';
      } else if (ctx.path === '/token' && ctx.body && ctx.body.id_token && rotated) {
        ctx.body = { ...ctx.body, id_token: await forge(ctx.body.id_token, 'rotated') };
      }
      if (ctx.path === '/jwks') {
        jwksRequests += 1;
        if (rotated) ctx.body = { keys: [...ctx.body.keys, nextJwk] };
      }
    });
    this.on('session.saved', (session) => {
      if (session.accountId) liveSessions.set(session.uid, session);
    });
    this.wrappedCallback = callback.call(this);
  }
  return this.wrappedCallback;
};

server.listen(0, '127.0.0.1', () => {
  issuer = `http://127.0.0.1:${server.address().port}`;
  console.log(`listening ${issuer}`);
});
