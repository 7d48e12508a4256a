// The console's shell: a hash router (#/topics, #/topics/NAME,
// #/groups, #/groups/NAME, #/admin) over pages that each render into
// <main> and return a function that stops what they started (timers,
// streams).
import { session, logout, whenSignedOut, openSession, gateway, finishOIDC } from "./api.js";
import { h } from "./dom.js";
import { loginPage } from "./login.js";
import { topicsPage } from "./topics.js";
import { topicPage } from "./topic.js";
import { groupsPage, groupPage } from "./groups.js";
import { adminPage } from "./admin.js";

const main = document.getElementById("main");
let stop = null;
let notice = "";

const routes = [
  [/^#\/topics\/(.+)$/, topicPage],
  [/^#\/topics$/, topicsPage],
  [/^#\/groups\/(.+)$/, groupPage],
  [/^#\/groups$/, groupsPage],
  [/^#\/admin$/, adminPage],
];

function render() {
  if (stop) { stop(); stop = null; }
  const s = session();
  const expired = s && s.expires && s.expires < Date.now();
  document.getElementById("nav").hidden = !s || expired;
  document.getElementById("logout").hidden = !s || !s.token;
  document.getElementById("who").textContent = s ? "Signed in as " + s.user : "";
  main.replaceChildren();
  document.getElementById("toast").textContent = "";
  if (!s || (s.expires && s.expires < Date.now())) {
    if (s) notice = "Your session expired. Sign in again.";
    logout();
    stop = loginPage(main, notice, () => {
      notice = "";
      if (!location.hash || location.hash === "#/login") location.hash = "#/topics";
      else render();
    });
    return;
  }
  const hash = location.hash || "#/topics";
  for (const a of document.querySelectorAll("#nav a")) {
    if (hash.startsWith(a.getAttribute("href"))) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  for (const [re, page] of routes) {
    const m = hash.match(re);
    if (m) {
      stop = page(main, ...m.slice(1).map(decodeURIComponent)) || null;
      main.focus({ preventScroll: true });
      return;
    }
  }
  main.append(h("h1", {}, "Not found"), h("p", {}, "The console has no page " + hash + ". ", h("a", { href: "#/topics" }, "Go to the topics.")));
}

whenSignedOut((err) => {
  notice = "Your session ended: " + err.message + " Sign in again.";
  render();
});
document.getElementById("logout").addEventListener("click", () => {
  logout();
  notice = "Signed out.";
  render();
});
window.addEventListener("hashchange", render);

// Back from an OpenID provider's login page: redeem the code.
try {
  await finishOIDC();
} catch (e) {
  logout();
  notice = "Signing in with your provider failed: " + e.message;
}
// Without a users file or an OpenID provider (open development mode)
// there is no one to sign in as: the pages call the API anonymously.
const g = await gateway();
if (g.sign_in === false && !g.oidc && !session()) openSession();
render();
