// The console's only way to the API: fetch with the bearer token from
// POST /login (a users file's user) or from an OpenID provider (the
// authorization code flow with PKCE, the code redeemed through POST
// /login/oidc). The token lives in sessionStorage (this tab only, gone
// when the tab closes); it is never written to the DOM, a URL or a
// cookie. Because no cookie carries it, a page on another site cannot
// make the browser send an authenticated request (no CSRF).

const KEY = "kgate.session";

export function session() {
  try { return JSON.parse(sessionStorage.getItem(KEY)); } catch { return null; }
}

function setSession(v) {
  if (v) sessionStorage.setItem(KEY, JSON.stringify(v));
  else sessionStorage.removeItem(KEY);
}

// ApiError is a refused or failed call: status, Confluent error_code
// and the API's message.
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let onUnauthenticated = () => {};
// whenSignedOut sets what happens when the API says the token is no
// longer good (401): the console forgets it and shows the login page.
export function whenSignedOut(fn) { onUnauthenticated = fn; }

export async function login(user, password) {
  const r = await fetch("../login", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ username: user, password }),
    credentials: "omit",
    cache: "no-store",
  });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new ApiError(r.status, body.error_code, body.message || r.statusText);
  setSession({ user, token: body.token, expires: Date.now() + body.expires_in * 1000 });
}

const FLOW = "kgate.oidc";

function b64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

// oidcIssuers lists the OpenID providers the gateway offers sign-in
// with (GET /login/oidc).
export async function oidcIssuers() {
  const r = await fetch("../login/oidc", { headers: { Accept: "application/json" }, credentials: "omit", cache: "no-store" });
  if (!r.ok) return [];
  return (await r.json()).issuers || [];
}

// startOIDC sends the tab to the provider's login page: the
// authorization code flow with PKCE (S256) for the console's public
// client. The verifier and state stay in this tab's sessionStorage;
// the provider sends the browser back to /ui/ with a one-time code.
export async function startOIDC(iss) {
  if (!crypto.subtle) throw new Error("Signing in with an OpenID provider needs https (or a loopback address).");
  const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
  const state = b64url(crypto.getRandomValues(new Uint8Array(16)));
  const challenge = b64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  const redirect = new URL("./", location.href);
  redirect.search = "";
  redirect.hash = "";
  const back = location.hash.startsWith("#/") && location.hash !== "#/login" ? location.hash : "#/topics";
  sessionStorage.setItem(FLOW, JSON.stringify({ issuer: iss.issuer, state, verifier, redirect: redirect.href, back }));
  const u = new URL(iss.authorization_endpoint);
  for (const [k, v] of Object.entries({ response_type: "code", client_id: iss.client_id, redirect_uri: redirect.href,
    scope: iss.scope, state, code_challenge: challenge, code_challenge_method: "S256" })) u.searchParams.set(k, v);
  location.assign(u.href);
}

// finishOIDC completes a sign-in the provider sent the tab back from
// (/ui/?code=...&state=...): it takes the code out of the address bar
// and the history at once, checks the state, and redeems the code
// through the gateway, which answers the access token once it has
// verified it. It returns false when the page was not such a return.
export async function finishOIDC() {
  const q = new URLSearchParams(location.search);
  if (!q.has("state")) return false;
  let flow = null;
  try { flow = JSON.parse(sessionStorage.getItem(FLOW)); } catch { /* none */ }
  sessionStorage.removeItem(FLOW);
  history.replaceState(null, "", location.pathname + ((flow && flow.back) || "#/topics"));
  if (!flow || q.get("state") !== flow.state) throw new Error("This answer of the provider is not for a sign-in this tab started. Sign in again.");
  if (q.has("iss") && q.get("iss") !== flow.issuer) throw new Error("The answer came from another provider than the one asked. Sign in again.");
  if (q.has("error")) throw new Error("The provider refused the sign-in: " + q.get("error") + (q.get("error_description") ? " (" + q.get("error_description") + ")" : "") + ".");
  const r = await fetch("../login/oidc", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ issuer: flow.issuer, code: q.get("code") || "", code_verifier: flow.verifier, redirect_uri: flow.redirect }),
    credentials: "omit",
    cache: "no-store",
  });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new ApiError(r.status, body.error_code, body.message || r.statusText);
  setSession({ user: body.principal, token: body.token, expires: Date.now() + body.expires_in * 1000, issuer: flow.issuer });
  return true;
}

// openSession is a session without a token, for a gateway without a
// users file (open development mode), where /login answers 404.
export function openSession() { setSession({ user: "anonymous (open mode)", token: "" }); }

export function logout() { setSession(null); clusterID = null; }

// call sends one API request; body objects go as JSON. It resolves to
// the decoded answer (null for 204) or throws ApiError. A 401 signs the
// tab out (the login page says why), except for background refreshes
// (opts.background), which only stop: the page keeps what it shows
// (such as a live tail's end message) until the user acts.
export async function call(method, path, body, opts = {}) {
  const s = session();
  const headers = { Accept: "application/json" };
  if (s && s.token) headers.Authorization = "Bearer " + s.token;
  const init = { method, headers, credentials: "omit", cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const r = await fetch(".." + path, init);
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { message: text }; }
  if (!r.ok) {
    const err = new ApiError(r.status, data && data.error_code, (data && data.message) || r.statusText);
    if (r.status === 401 && !opts.background) {
      setSession(null);
      onUnauthenticated(err);
    }
    throw err;
  }
  return data;
}

let info = null;
// gateway returns what the gateway says about itself before sign-in
// (GET /ui/gateway.json): {sign_in, audit_topic}.
export async function gateway() {
  if (!info) {
    try {
      const r = await fetch("gateway.json", { cache: "no-store", credentials: "omit" });
      info = await r.json();
    } catch { info = { sign_in: true }; }
  }
  return info;
}

let clusterID = null;
// cluster returns the v3 path prefix of the cluster.
export async function cluster() {
  if (!clusterID) {
    const r = await call("GET", "/v3/clusters");
    clusterID = r.data[0].cluster_id;
  }
  return "/v3/clusters/" + encodeURIComponent(clusterID);
}

// streamSocket opens the push stream of topic as a WebSocket. A browser
// cannot set Authorization on a WebSocket, so the token travels as a
// second subprotocol (a header, never the URL); kgate answers kgate.v1.
export async function streamSocket(topic, query) {
  const base = await cluster();
  const u = new URL(".." + base + "/topics/" + encodeURIComponent(topic) + "/records/stream", location.href);
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  u.search = query.toString();
  const s = session();
  return new WebSocket(u.href, s && s.token ? ["kgate.v1", "kgate.bearer." + s.token] : ["kgate.v1"]);
}

// why turns a refusal into a sentence for the page: what was refused
// and what the user could do.
export function why(err, what) {
  if (!(err instanceof ApiError)) return what + " failed: " + err.message;
  const msg = String(err.message).replace(/\.$/, "");
  switch (err.status) {
    case 403:
      return what + " is not allowed for you: the gateway answered 403 (" + msg +
        "). Your permissions entry does not grant it; ask an administrator.";
    case 401:
      return what + ": your session ended (" + msg + "). Sign in again.";
    case 404:
      return what + ": not found (" + msg + ").";
    case 429:
      return what + ": too many requests for your limits (" + msg + "). Try again shortly.";
  }
  return what + " failed: " + err.status + " " + msg + ".";
}
