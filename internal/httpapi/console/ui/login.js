import { login, openSession, oidcIssuers, startOIDC, gateway, ApiError } from "./api.js";
import { h, field } from "./dom.js";

// loginPage asks for a user name and password and exchanges them for a
// token at POST /login (the users file's identities), and offers the
// OpenID providers the gateway trusts for the console (a button each).
export function loginPage(main, notice, done) {
  const err = h("p", { id: "login-error", class: "error", role: "alert" });
  const user = field("User name", { name: "username", autocomplete: "username", required: true, id: "username" });
  const pass = field("Password", { name: "password", type: "password", autocomplete: "current-password", required: true, id: "password" });
  const form = h("form", { class: "card login", "aria-describedby": "login-error" },
    h("h1", {}, "Sign in to kgate"),
    notice ? h("p", { class: "notice" }, notice) : null,
    user, pass,
    h("button", { type: "submit" }, "Sign in"),
    err,
    h("p", { class: "hint" }, "The same user names and passwords as the API. The console keeps your token in this tab only."));
  const providers = h("div", { class: "card login", id: "oidc", hidden: true });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    err.textContent = "";
    const u = form.elements.username.value, p = form.elements.password.value;
    form.elements.password.value = "";
    try {
      await login(u, p);
      done();
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) { // open mode: no users file
        openSession();
        done();
        return;
      }
      err.textContent = e instanceof ApiError && e.status === 401 ? "Wrong user name or password." :
        "Sign-in failed: " + e.message;
      form.elements.password.focus();
    }
  });
  main.append(form, providers);
  let stopped = false;
  gateway().then(async (g) => {
    if (g.sign_in === false) { // OpenID providers only: no users file
      form.hidden = true;
      if (notice) providers.append(h("p", { class: "notice" }, notice));
    } else {
      form.elements.username.focus();
    }
    if (!g.oidc) return;
    const list = await oidcIssuers();
    if (stopped || !list.length) return;
    const oerr = h("p", { id: "oidc-error", class: "error", role: "alert" });
    providers.append(h("h2", {}, g.sign_in === false ? "Sign in to kgate" : "Or sign in with your organization"),
      ...list.map((iss, i) => {
        const u = new URL(iss.issuer);
        const name = u.host + u.pathname.replace(/\/$/, "");
        return h("p", {}, iss.authorization_endpoint ?
          h("button", { type: "button", id: "oidc-" + i, onclick: () => startOIDC(iss).catch((e) => { oerr.textContent = e.message; }) }, "Sign in with " + name) :
          h("span", { class: "refused" }, name + ": unavailable (" + iss.error + ")"));
      }),
      oerr,
      h("p", { class: "hint" }, "Your provider's login page opens in this tab and sends you back here; the console then uses the provider's access token as your bearer token, in this tab only."));
    providers.hidden = false;
    if (g.sign_in === false) providers.querySelector("button")?.focus();
  });
  return () => { stopped = true; };
}
