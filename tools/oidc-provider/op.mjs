// A real OAuth 2.1 / OpenID Connect provider on loopback, for Trcker's tests only.
//
// It stands in for the operator's identity provider (WorkOS AuthKit, Okta, Keycloak, Auth0):
// staff single sign-on (authorization code + PKCE, through mozilla-django-oidc) and
// external-issuer JWT access tokens for the MCP endpoint (RFC 8707 resource indicators →
// RFC 9068 JWTs). Everything is in memory and the signing key is new on every start, so no
// token outlives the process. Never expose it: devInteractions accepts any password.
//
// Environment:
//   PORT                 port on 127.0.0.1 (required)
//   RESOURCE             the MCP resource URL; access tokens for it are RS256 JWTs with aud = it
//   EXTRA_RESOURCES      comma-separated further resource URLs served the same way (tests use
//                        one to mint tokens for the wrong audience)
//   ACCESS_TOKEN_TTL     lifetime of resource access tokens in seconds (default 300)
//   WEB_CLIENT_ID, WEB_CLIENT_SECRET, WEB_REDIRECT_URIS (comma-separated)
//                        the confidential web client used for staff SSO; omitted when no id
//   SVC_ORG              the org claim of the client_credentials client svc (default acme-org)
//   PARTNER_CLIENTS      JSON list of further confidential web clients, each
//                        {"client_id", "client_secret", "redirect_uris": [...]}: the brands'
//                        own providers for partner portal sign-in (one client per brand)

import * as crypto from 'node:crypto';
import * as http from 'node:http';

import Provider, { errors } from 'oidc-provider';

const PORT = Number.parseInt(process.env.PORT ?? '', 10);
if (!Number.isInteger(PORT) || PORT <= 0) {
  console.error('op.mjs: set PORT to a free port on 127.0.0.1');
  process.exit(2);
}
const ISSUER = `http://127.0.0.1:${PORT}`;
const RESOURCE = process.env.RESOURCE || 'http://127.0.0.1:8000/api/mcp';
const RESOURCES = new Set([
  RESOURCE,
  ...(process.env.EXTRA_RESOURCES ?? '').split(',').map((s) => s.trim()).filter(Boolean),
]);
const ACCESS_TOKEN_TTL = Number.parseInt(process.env.ACCESS_TOKEN_TTL || '300', 10);
const MCP_SCOPE = 'mcp:read mcp:write';

// Claims as an IdP would release them. `org` is deliberately a string for most users and a
// list for dave, because real IdPs do both and Trcker must accept both.
const ACCOUNTS = {
  alice: { email: 'alice@acme.test', org: 'acme-org', trcker_role: 'admin' },
  bob: { email: 'bob@globex.test', org: 'globex-org' },
  carol: { email: 'carol@initech.test', org: 'initech-org', trcker_role: 'owner' },
  dave: { email: 'dave@example.test', org: ['acme-org', 'globex-org'] },
  // Partners signing in to a brand's portal: a verified address, one the IdP has not
  // verified, and one that no brand has as a partner.
  pia: { email: 'pia@partner.test' },
  una: { email: 'una@partner.test', email_verified: false },
  nemo: { email: 'nemo@nowhere.test' },
};
const CLIENT_ORGS = { svc: process.env.SVC_ORG || 'acme-org' };

function signingKey() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    ...privateKey.export({ format: 'jwk' }),
    kid: crypto.randomBytes(8).toString('hex'),
    alg: 'RS256',
    use: 'sig',
  };
}

function clients() {
  const list = [
    {
      client_id: 'svc',
      client_secret: 'svc-secret',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
    },
  ];
  if (process.env.WEB_CLIENT_ID) {
    list.push({
      client_id: process.env.WEB_CLIENT_ID,
      client_secret: process.env.WEB_CLIENT_SECRET || 'web-secret',
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: (process.env.WEB_REDIRECT_URIS ?? '').split(',').map((s) => s.trim()).filter(Boolean),
    });
  }
  for (const client of JSON.parse(process.env.PARTNER_CLIENTS || '[]')) {
    list.push({
      client_id: client.client_id,
      client_secret: client.client_secret,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: client.redirect_uris,
    });
  }
  return list;
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

function isLoopback(url) {
  return url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname);
}

const provider = new Provider(ISSUER, {
  jwks: { keys: [signingKey()] },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  clients: clients(),
  pkce: { required: () => true },
  scopes: ['openid', 'offline_access', 'email', 'org'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    org: ['org', 'trcker_role'],
  },
  async findAccount(_ctx, id) {
    const account = ACCOUNTS[id];
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, email_verified: true, ...account };
      },
    };
  },
  async extraTokenClaims(_ctx, token) {
    const org = token.accountId ? ACCOUNTS[token.accountId]?.org : CLIENT_ORGS[token.clientId];
    return org === undefined ? undefined : { org };
  },
  ttl: {
    AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? 600,
    ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? 600,
    AuthorizationCode: 60,
    IdToken: 600,
    Interaction: 600,
    Session: 3600,
    Grant: 3600,
  },
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    registration: { enabled: true },
    revocation: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // No resource requested → an opaque token that is only good at userinfo, which is what
      // the SSO login needs; MCP clients always name the resource (MCP authorization spec).
      defaultResource: () => undefined,
      useGrantedResource: () => true,
      getResourceServerInfo(_ctx, resourceIndicator) {
        if (!RESOURCES.has(resourceIndicator)) {
          throw new errors.InvalidTarget(`unknown resource ${resourceIndicator}`);
        }
        return {
          scope: MCP_SCOPE,
          audience: resourceIndicator,
          accessTokenTTL: ACCESS_TOKEN_TTL,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
});

// The tests' Django live server listens on a port chosen at run time, so a loopback redirect
// URI matches on scheme, loopback host and path whatever the port (the RFC 8252 §7.3 rule,
// applied here to the web client too). Non-loopback redirect URIs still match exactly.
const redirectUriAllowed = provider.Client.prototype.redirectUriAllowed;
provider.Client.prototype.redirectUriAllowed = function allowAnyLoopbackPort(value) {
  if (redirectUriAllowed.call(this, value)) return true;
  let wanted;
  try {
    wanted = new URL(value);
  } catch {
    return false;
  }
  if (!isLoopback(wanted)) return false;
  return this.redirectUris.some((registered) => {
    const allowed = new URL(registered);
    return isLoopback(allowed) && allowed.pathname === wanted.pathname
      && allowed.search === wanted.search;
  });
};

http.createServer(provider.callback()).listen(PORT, '127.0.0.1', () => {
  console.log(`oidc-provider test OP ready: ${ISSUER} (resources: ${[...RESOURCES].join(', ')})`);
});
