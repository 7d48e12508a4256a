import { call, cluster, gateway, streamSocket, why } from "./api.js";
import { h, table, fmtBytes, toast } from "./dom.js";
import { barChart, multiLineChart } from "./chart.js";

// The usage routes give today's totals, not a history: while the admin
// page is open it samples them every USAGE_EVERY ms and charts the rates
// of the last USAGE_SPAN ms (kept in the page only).
const USAGE_EVERY = 5000, USAGE_SPAN = 10 * 60 * 1000;

// adminPage shows what the admin endpoints let the user see: replicas,
// usage per tenant, API keys and tokens (with revoke). Each section is
// loaded on its own, so a user with revoke but not admin (an operator)
// sees the token section and is told why the others are hidden.
export function adminPage(main) {
  const sec = (id, title, need) => h("section", { id, "aria-labelledby": id + "-h", class: "card" },
    h("h2", { id: id + "-h" }, title), h("p", { class: "hint" }, "Needs the " + need + " right."));
  const nodes = sec("nodes", "Replicas", "admin");
  const usage = sec("usage", "Usage today per tenant", "admin");
  const keys = sec("apikeys", "API keys", "admin (revoking: revoke)");
  const tokens = sec("tokens", "Tokens", "revoke");
  const users = sec("users", "Users and what they may do", "admin");
  const audit = sec("audit", "Audit trail, live (the last hour, then as it happens)", "admin");
  main.append(h("h1", {}, "Administration"), nodes, usage, users, keys, tokens, audit);
  const stopAudit = auditTail(audit);

  const refused = (el, e, what) => el.append(h("p", { class: "refused" }, why(e, what)));

  call("GET", "/admin/nodes").then((r) => {
    nodes.append(table("Live kgate replicas", ["Node", "URL", "Version", "Started", "Last heartbeat", "Requests in flight"],
      r.nodes.map((n) => [n.node_id, n.url, n.version, new Date(n.started).toLocaleString(), new Date(n.heartbeat).toLocaleTimeString(),
        String(n.load ? n.load.in_flight_requests : "")]), { id: "nodes-table" }));
  }, (e) => refused(nodes, e, "Listing the replicas"));

  const hist = new Map(); // principal -> [{t, b: bytes today, r: requests today}]
  let usageTimer = null, usageStopped = false, sampled = 0;
  const rate = (a, k) => a.slice(1).map((p, i) => ({ t: p.t, v: Math.max(0, p[k] - a[i][k]) / Math.max(0.001, (p.t - a[i].t) / 1000) }));
  function loadUsage() {
    call("GET", "/admin/usage", undefined, { background: sampled > 0 }).then((r) => {
      if (usageStopped) return;
      const now = Date.now();
      const ps = r.principals || [];
      for (const p of ps) {
        const a = hist.get(p.principal) || [];
        if (a.length && p.bytes < a[a.length - 1].b) a.length = 0; // a new day: today's totals restarted
        a.push({ t: now, b: p.bytes, r: p.requests });
        while (a.length && a[0].t < now - USAGE_SPAN) a.shift();
        hist.set(p.principal, a);
      }
      sampled++;
      const top = [...hist.entries()].sort((x, y) => y[1][y[1].length - 1].b - x[1][x[1].length - 1].b).slice(0, 5);
      const lim = (n) => (n ? fmtBytes(n) : "no limit");
      const perSec = (f) => (v) => f(v) + "/s";
      usage.replaceChildren(usage.children[0], usage.children[1],
        barChart(ps.map((p) => ({ name: p.principal, v: p.bytes, text: fmtBytes(p.bytes) })), "Bytes today per principal"),
        table("Usage on " + r.day, ["Principal", "Requests today", "Bytes today", "Daily byte quota", "Bytes this month"],
          ps.map((p) => [p.principal, String(p.requests), fmtBytes(p.bytes), lim(p.limits.daily_bytes), fmtBytes(p.this_month.bytes)]), { id: "usage-table" }),
        h("h3", {}, "Rates while this page is open"),
        h("p", { class: "hint", id: "usage-sampled" }, "Sampled by this page every " + USAGE_EVERY / 1000 + " s since you opened it (" + sampled +
          (sampled === 1 ? " sample" : " samples") + ", the last " + USAGE_SPAN / 60000 + " minutes kept, nothing stored): the gateway keeps today's totals, not a history. The five busiest principals."),
        h("div", { id: "usage-bytes-chart" }, multiLineChart(top.map(([name, a]) => ({ name, pts: rate(a, "b") })), USAGE_SPAN, "Bytes per second per principal",
          perSec((v) => fmtBytes(Math.round(v))))),
        h("div", { id: "usage-requests-chart" }, multiLineChart(top.map(([name, a]) => ({ name, pts: rate(a, "r") })), USAGE_SPAN, "Requests per second per principal",
          perSec((v) => (v >= 10 ? v.toFixed(0) : v.toFixed(1))))));
      usageTimer = setTimeout(loadUsage, USAGE_EVERY);
    }, (e) => { if (!sampled) refused(usage, e, "Reading usage"); });
  }
  loadUsage();

  const keyUsage = h("div", { id: "apikey-usage", "aria-live": "polite" });
  function loadKeys() {
    call("GET", "/admin/apikeys").then((r) => {
      const ks = r.api_keys || [];
      keys.replaceChildren(keys.firstChild, keys.children[1], ks.length ? table("API keys (never the keys themselves)", ["Id", "User", "Plan", "Description", "Created", "Expires", "State", "", ""],
        ks.map((k) => [k.id, k.user, k.plan || "", k.description || "", new Date(k.created).toLocaleString(),
          k.expires ? new Date(k.expires).toLocaleString() : "never", k.revoked ? "revoked by " + (k.revoked_by || "?") : "active",
          h("button", { type: "button", onclick: () => usageOf(k.id) }, "Usage"),
          k.revoked ? "" : h("button", { type: "button", class: "danger", onclick: () => revoke("/admin/apikeys/" + encodeURIComponent(k.id), "API key " + k.id, loadKeys) }, "Revoke")]),
        { id: "apikeys-table" }) : h("p", {}, "No API keys."), keyUsage);
    }, (e) => refused(keys, e, "Listing API keys"));
  }
  async function usageOf(id) {
    try {
      const r = await call("GET", "/admin/apikeys/" + encodeURIComponent(id) + "/usage");
      const u = r.usage, l = u.limits;
      const lim = (n, f) => (n ? f(n) : "no limit");
      keyUsage.replaceChildren(table("Usage of API key " + id + " (counted as " + r.counted_as + ")", ["Period", "Requests", "Request limit", "Bytes", "Byte limit"], [
        ["today", String(u.requests), lim(l.daily_requests, String), fmtBytes(u.bytes), lim(l.daily_bytes, fmtBytes)],
        ["this week", String(u.this_week.requests), lim(l.weekly_requests, String), fmtBytes(u.this_week.bytes), lim(l.weekly_bytes, fmtBytes)],
        ["this month", String(u.this_month.requests), lim(l.monthly_requests, String), fmtBytes(u.this_month.bytes), lim(l.monthly_bytes, fmtBytes)],
      ], { id: "apikey-usage-table" }));
    } catch (e) {
      keyUsage.replaceChildren(h("p", { class: "refused" }, why(e, "Reading the key's usage")));
    }
  }
  loadKeys();

  const result = h("div", { id: "tokens-list" });
  const form = h("form", { class: "inline", id: "tokens-form" }, h("label", { for: "tokens-user" }, "User"),
    h("input", { id: "tokens-user", name: "user", required: true, autocomplete: "off" }), h("button", { type: "submit" }, "Show tokens"));
  tokens.append(form, result);
  async function loadTokens() {
    const user = form.elements.user.value.trim();
    try {
      const r = await call("GET", "/admin/tokens/" + encodeURIComponent(user));
      const ts = r.tokens || [];
      result.replaceChildren(ts.length ? table("Live tokens of " + user + " (ids, never the tokens)", ["Token id", "Issued", "Expires", ""],
        ts.map((t) => [t.jti, new Date(t.issued_at).toLocaleString(), new Date(t.expires_at).toLocaleString(),
          h("button", { type: "button", class: "danger", onclick: () => revoke("/admin/tokens/id/" + encodeURIComponent(t.jti), "token " + t.jti, loadTokens) }, "Revoke")]),
        { id: "tokens-table" }) : h("p", {}, user + " has no live tokens."),
      ts.length ? h("button", { type: "button", class: "danger", id: "revoke-all", onclick: () => revoke("/admin/tokens/" + encodeURIComponent(user), "every token of " + user, loadTokens) }, "Revoke all of " + user + "'s tokens") : null);
    } catch (e) {
      result.replaceChildren(h("p", { class: "refused" }, why(e, "Listing tokens")));
    }
  }
  form.addEventListener("submit", (ev) => { ev.preventDefault(); loadTokens(); });

  const explained = h("div", { id: "policy", "aria-live": "polite" });
  const pform = h("form", { class: "inline", id: "policy-form" },
    h("div", { class: "field" }, h("label", { for: "policy-user" }, "User"), h("input", { id: "policy-user", name: "user", required: true, autocomplete: "off" })),
    h("div", { class: "field" }, h("label", { for: "policy-topic" }, "Topic (optional)"), h("input", { id: "policy-topic", name: "topic", autocomplete: "off" })),
    h("div", { class: "field" }, h("label", { for: "policy-group" }, "Group (optional)"), h("input", { id: "policy-group", name: "group", autocomplete: "off" })),
    h("div", { class: "field" }, h("label", { for: "policy-ip" }, "From address (optional)"), h("input", { id: "policy-ip", name: "ip", autocomplete: "off" })),
    h("button", { type: "submit" }, "Explain"));
  call("GET", "/admin/users").then((r) => {
    users.append(table("Users of the users file (never their passwords)", ["User", "Groups", "Plan", "Password", "Kafka port", ""],
      r.users.map((u) => [u.name, u.groups.join(", ") || "—", u.plan || "—", u.password ? "yes" : "certificate only", u.kafka ? "yes" : "no",
        h("button", { type: "button", onclick: () => { pform.elements.user.value = u.name; explain(); } }, "Explain")]), { id: "users-table" }),
    h("p", { class: "hint" }, "What a user may do by the permissions in force now: every cluster-wide action, and the topic and group actions on the names you give."),
    pform, explained);
  }, (e) => refused(users, e, "Listing users"));
  const reasons = {
    granted: "granted by an entry of the permissions file (the user's, one of its groups', \"*\" or anonymous')",
    admin: "the user is an admin: every action is allowed",
    "denied by a deny entry": "refused by a deny entry, which wins over every grant",
    "kgate internal topic (admin only)": "kgate's internal topics are for admins only",
    "client address not in the allowed CIDRs": "the user's entry allows only some addresses (CIDRs); give the address to check",
    "no permissions for this principal": "no entry of the permissions file applies to this user",
    "invalid resource name": "not a valid name",
  };
  async function explain() {
    const f = pform.elements;
    const q = new URLSearchParams();
    for (const k of ["topic", "group", "ip"]) if (f[k].value.trim()) q.set(k, f[k].value.trim());
    try {
      const r = await call("GET", "/admin/users/" + encodeURIComponent(f.user.value.trim()) + "/policy?" + q);
      explained.replaceChildren(table("What " + r.user + " may do" + (r.groups.length ? " (groups: " + r.groups.join(", ") + ")" : ""),
        ["Action", "On", "Allowed", "Why"],
        r.decisions.map((d) => [d.action, d.resource || "the cluster", d.allowed ? "yes" : "no",
          reasons[d.reason] || (d.reason.startsWith("no grant for") ? "no entry grants " + d.action + (d.resource ? " on " + d.resource : "") : d.reason)]),
        { id: "policy-table" }));
    } catch (e) {
      explained.replaceChildren(h("p", { class: "refused" }, why(e, "Explaining the permissions")));
    }
  }
  pform.addEventListener("submit", (ev) => { ev.preventDefault(); explain(); });

  async function revoke(path, what, reload) {
    try {
      await call("DELETE", path);
      toast("Revoked " + what + ".");
      reload();
    } catch (e) {
      toast(why(e, "Revoking " + what));
    }
  }
  return () => { stopAudit(); usageStopped = true; clearTimeout(usageTimer); };
}

// auditTail reads the audit topic over the push stream (from an hour
// ago) into a table, newest first, with a filter.
function auditTail(sec) {
  const status = h("p", { id: "audit-status", role: "status" }, "Connecting…");
  const filter = h("input", { id: "audit-filter", type: "search", autocomplete: "off" });
  const body = h("tbody", { id: "audit-rows" });
  sec.append(h("div", { class: "field" }, h("label", { for: "audit-filter" }, "Filter (any column)"), filter), status,
    h("table", { id: "audit-table" }, h("caption", {}, "Audit records, newest first (at most 300)"),
      h("thead", {}, h("tr", {}, ["Time", "Event", "Principal", "Method", "Address", "Route", "Action", "Resource", "Target", "Reason", "Count"].map((t) => h("th", { scope: "col" }, t)))), body));
  const show = (tr) => { tr.hidden = !!filter.value && !tr.dataset.text.includes(filter.value.toLowerCase()); };
  filter.addEventListener("input", () => { for (const tr of body.rows) show(tr); });
  let ws = null, stopped = false, credit = 0;
  (async () => {
    const topic = (await gateway()).audit_topic;
    if (!topic) { status.textContent = "No audit topic: in open development mode the audit trail goes to the log only."; return; }
    try {
      await call("GET", (await cluster()) + "/topics/" + encodeURIComponent(topic));
    } catch (e) {
      status.textContent = e.status === 404 ? "No audit record has been written yet." : why(e, "Reading the audit trail");
      status.className = "refused";
      return;
    }
    if (stopped) return;
    ws = await streamSocket(topic, new URLSearchParams({ format: "string", timestamp: String(Date.now() - 3600 * 1000) }));
    if (stopped) { ws.close(1000); return; }
    const grant = () => { if (credit < 250) { ws.send(JSON.stringify({ credit: 500 - credit })); credit = 500; } };
    ws.onopen = () => { status.textContent = "Live."; grant(); };
    ws.onmessage = (ev) => {
      const m = JSON.parse(ev.data);
      if (m.type === "end") { status.textContent = "Stream closed by the gateway: " + m.message + " (" + m.reason + ")"; return; }
      if (m.type !== "record" && m.type !== "error") return;
      credit--;
      grant();
      if (m.type !== "record") return;
      // Keys are principal names, not JSON: the stream reads strings and
      // the page parses the values.
      let a = {};
      try { a = JSON.parse(m.record.value) || {}; } catch { a = { reason: String(m.record.value) }; }
      const cells = [a.time ? new Date(a.time).toLocaleString() : "", a.event, a.principal, a.auth_method, a.client_ip, a.route, a.action, a.resource,
        [a.target, a.jti].filter(Boolean).join(" "), a.reason, a.count ? String(a.count) : ""].map((c) => c || "");
      const tr = h("tr", {}, cells.map((c) => h("td", {}, c)));
      tr.dataset.text = cells.join(" ").toLowerCase();
      show(tr);
      body.prepend(tr);
      while (body.rows.length > 300) body.lastChild.remove();
    };
    ws.onclose = (ev) => { if (!status.textContent.startsWith("Stream closed")) status.textContent = "Stream closed (" + ev.code + ")."; };
  })();
  return () => { stopped = true; if (ws) { ws.onclose = null; ws.close(1000); } };
}
