import { login, openSession, ApiError } from "./api.js";
import { h, field } from "./dom.js";

// loginPage asks for a user name and password and exchanges them for a
// token at POST /login (the users file's identities).
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
  main.append(form);
  form.elements.username.focus();
  return null;
}
