import { call, cluster, streamSocket, why, ApiError } from "./api.js";
import { h, field, table, toast, fmtBytes } from "./dom.js";
import { offsets, sizes } from "./topics.js";

const MAX_ROWS = 500;
// The credit the tail keeps granted: the gateway sends at most this many
// records ahead of what the page has shown, and nothing while paused.
const CREDIT = 200;

// topicPage shows one topic: partitions and offsets, configs, a live
// tail over the push stream (WebSocket) and a produce form.
export function topicPage(main, topic) {
  const info = h("section", { "aria-labelledby": "parts-h" }, h("h2", { id: "parts-h" }, "Partitions"), h("p", {}, "Loading…"));
  const configs = h("section", { "aria-labelledby": "configs-h" }, h("h2", { id: "configs-h" }, "Configuration"));
  const tail = tailSection(topic);
  main.append(h("p", {}, h("a", { href: "#/topics" }, "← Topics")), h("h1", {}, "Topic ", h("code", {}, topic)),
    info, tail.el, produceSection(topic), configs);

  // The partitions' offsets are read again every 5 s while the page is open.
  let timer = null, stopped = false;
  let refreshes = 0;
  async function parts() {
    const opts = { background: refreshes++ > 0 };
    try {
      const base = await cluster();
      const t = await call("GET", base + "/topics/" + encodeURIComponent(topic), undefined, opts);
      const [os, sz] = await Promise.all([offsets(base, topic, t.partitions_count, opts), sizes(base, topic, opts)]);
      const size = (p) => {
        if (sz && sz.hidden) return "hidden (needs show_topic)";
        const ps = sz && sz.partitions.find((x) => x.partition_id === p);
        if (!ps) return "unknown";
        return fmtBytes(ps.size) + (ps.replicas.length > 1 ? " (" + ps.replicas.map((r) => "broker " + r.broker_id + ": " + fmtBytes(r.size)).join(", ") + ")" : "");
      };
      info.replaceChildren(info.firstChild, table("Partitions of " + topic + " (updated every 5 s)" + (sz && !sz.hidden ? ", " + fmtBytes(sz.size) + " on disk over all replicas" : ""),
        ["Partition", "Earliest offset", "Latest offset", "Records", "Size on disk"],
        os.map((o) => [String(o.p), o.earliest === null ? "hidden" : String(o.earliest), o.latest === null ? "hidden" : String(o.latest),
          o.latest === null ? "hidden (needs show_offsets)" : String(o.latest - o.earliest), size(o.p)]), { id: "partitions-table" }));
      if (!stopped) timer = setTimeout(parts, 5000);
    } catch (e) {
      info.replaceChildren(info.firstChild, h("p", { class: "refused" }, why(e, "Reading this topic")));
    }
  }
  parts();
  (async () => {
    try {
      const base = await cluster();
      const c = await call("GET", base + "/topics/" + encodeURIComponent(topic) + "/configs");
      const set = c.data.filter((x) => !x.is_default);
      configs.append(set.length ? table("Configs set on " + topic, ["Name", "Value", "Source"], set.map((x) => [x.name, x.is_sensitive ? "(sensitive)" : String(x.value), x.source]))
        : h("p", {}, "Every config has its default."),
      h("details", {}, h("summary", {}, "All " + c.data.length + " configs"),
        table("All configs of " + topic, ["Name", "Value", "Default"], c.data.map((x) => [x.name, x.is_sensitive ? "(sensitive)" : String(x.value ?? ""), x.is_default ? "yes" : "no"]))));
    } catch (e) {
      configs.append(h("p", { class: "refused" }, why(e, "Reading the configs")));
    }
  })();
  return () => { stopped = true; clearTimeout(timer); tail.stop(); };
}

function decode64(b) {
  try {
    const bin = atob(b);
    return new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
  } catch { return b; }
}

function show(v) {
  if (v === null || v === undefined) return "";
  return typeof v === "string" ? v : JSON.stringify(v);
}

function tailSection(topic) {
  const status = h("p", { id: "tail-status", role: "status" }, "Not started.");
  const from = h("select", { id: "tail-from", name: "from" },
    h("option", { value: "latest" }, "New records (latest)"),
    h("option", { value: "earliest" }, "From the beginning (earliest)"),
    h("option", { value: "offsets" }, "From offsets"),
    h("option", { value: "timestamp" }, "From a time"));
  const offs = field("Offsets (partition:offset, comma-separated)", { id: "tail-offsets", name: "offsets", placeholder: "0:15,1:7" });
  const time = field("Time (your local time)", { id: "tail-time", name: "time", type: "datetime-local", step: 1 });
  const format = h("select", { id: "tail-format", name: "format" },
    h("option", { value: "string" }, "string (UTF-8)"), h("option", { value: "json" }, "json"), h("option", { value: "binary" }, "binary (base64)"));
  const search = field("Search key, value and headers", { id: "tail-search", type: "search", name: "search" });
  const pause = h("button", { type: "button", id: "tail-pause", disabled: true }, "Pause");
  const controls = h("form", { class: "card controls", id: "tail-form" },
    h("div", { class: "field" }, h("label", { for: "tail-from" }, "Start"), from), offs, time,
    h("div", { class: "field" }, h("label", { for: "tail-format" }, "Show as"), format),
    h("button", { type: "submit", id: "tail-start" }, "Start tail"), pause, search);
  const body = h("tbody", { id: "tail-rows" });
  const tbl = h("table", { id: "tail-table" }, h("caption", {}, "Records, newest first (at most " + MAX_ROWS + ")"),
    h("thead", {}, h("tr", {}, ["Partition", "Offset", "Time", "Key", "Value", "Headers"].map((t) => h("th", { scope: "col" }, t)))), body);
  const el = h("section", { "aria-labelledby": "tail-h" }, h("h2", { id: "tail-h" }, "Live tail"), controls, status, tbl);

  // While paused, records already granted (at most CREDIT) wait in held;
  // no more credit is granted, so the gateway reads no further.
  let ws = null, paused = false, credit = 0, received = 0, held = [], streamFormat = "string";
  // gen counts starts and stops: a socket that opens after a newer start
  // or a stop (the page was left while connecting) is closed at once.
  let gen = 0;

  function matches(tr) {
    const q = search.querySelector("input").value.toLowerCase();
    return !q || tr.dataset.text.includes(q);
  }
  search.querySelector("input").addEventListener("input", () => {
    for (const tr of body.rows) tr.hidden = !matches(tr);
  });

  function grant() {
    if (!ws || ws.readyState !== WebSocket.OPEN || paused || credit >= CREDIT / 2) return;
    ws.send(JSON.stringify({ credit: CREDIT - credit }));
    credit = CREDIT;
  }

  function addRow(m) {
    let cells, text;
    if (m.type === "record") {
      const r = m.record;
      const hdrs = (r.headers || []).map((x) => x.name + "=" + decode64(x.value)).join(" ");
      const dead = (r.headers || []).some((x) => x.name === "kgate-dlq-origin-topic");
      const note = h("span", { class: "replayed", role: "status" });
      cells = [String(r.partition), String(r.offset), new Date(r.timestamp).toLocaleString(), show(r.key), show(r.value),
        dead ? h("span", {}, hdrs, " ", h("button", { type: "button", class: "replay", onclick: (ev) => replay(topic, r, streamFormat, ev.currentTarget, note) }, "Replay"), " ", note) : hdrs];
      text = (show(r.key) + "\n" + show(r.value) + "\n" + hdrs).toLowerCase();
    } else {
      const e = m.error;
      cells = [String(e.partition), String(e.offset), "", "", "Cannot show this record: " + e.message, ""];
      text = "";
    }
    const tr = h("tr", {}, cells.map((c) => h("td", {}, c)));
    tr.dataset.text = text;
    tr.hidden = !matches(tr);
    body.prepend(tr);
    while (body.rows.length > MAX_ROWS) body.lastChild.remove();
  }

  function stop() {
    gen++;
    if (ws) { ws.onclose = null; ws.close(1000); ws = null; }
    pause.disabled = true;
  }

  async function start() {
    stop();
    const mine = gen;
    body.replaceChildren();
    paused = false; credit = 0; received = 0; held = [];
    pause.textContent = "Pause";
    streamFormat = format.value;
    const q = new URLSearchParams({ format: streamFormat });
    if (from.value === "latest" || from.value === "earliest") q.set("from", from.value);
    else if (from.value === "offsets") {
      const v = offs.querySelector("input").value.trim();
      if (!/^\d+:\d+(,\d+:\d+)*$/.test(v)) { status.textContent = "Offsets must look like 0:15,1:7 (partition:offset)."; return; }
      q.set("offsets", v);
      q.set("from", "latest");
    } else {
      const v = time.querySelector("input").value;
      const d = new Date(v);
      if (!v || isNaN(d)) { status.textContent = "Choose a time to start from."; return; }
      q.set("timestamp", String(d.getTime()));
    }
    status.textContent = "Connecting…";
    let sock;
    try { sock = await streamSocket(topic, q); } catch (e) { status.textContent = why(e, "Opening the stream"); return; }
    if (mine !== gen) { sock.close(1000); return; }
    ws = sock;
    let ended = false;
    sock.onopen = () => {
      status.textContent = "Live: waiting for records.";
      pause.disabled = false;
      grant();
    };
    sock.onmessage = (ev) => {
      const m = JSON.parse(ev.data);
      if (m.type === "record" || m.type === "error") {
        credit--; received++;
        if (paused) {
          held.push(m);
          status.textContent = "Paused: " + held.length + " waiting; the gateway holds newer records until you resume.";
          return;
        }
        addRow(m);
        status.textContent = "Live: " + received + (received === 1 ? " record." : " records.");
        grant();
      } else if (m.type === "end") {
        ended = true;
        status.textContent = "Stream closed by the gateway: " + m.message + " (" + m.reason + ")";
        pause.disabled = true;
      }
    };
    sock.onclose = (ev) => {
      pause.disabled = true;
      if (!ended) {
        status.textContent = ev.code === 1006 ? "Stream refused or lost: check that you may fetch " + topic + " (the fetch right) and that the gateway is up."
          : "Stream closed: " + ev.code + " " + ev.reason;
      }
      if (ws === sock) ws = null;
    };
  }

  controls.addEventListener("submit", (ev) => { ev.preventDefault(); start(); });
  pause.addEventListener("click", () => {
    paused = !paused;
    pause.textContent = paused ? "Resume" : "Pause";
    pause.setAttribute("aria-pressed", String(paused));
    if (!paused) {
      for (const m of held) addRow(m);
      held = [];
    }
    status.textContent = paused ? "Paused: 0 waiting; the gateway holds newer records until you resume." : "Live: " + received + (received === 1 ? " record." : " records.");
    grant();
  });
  // Tail from the latest records at once: the page is for watching.
  start();
  return { el, stop };
}

const b64 = (str) => btoa(String.fromCharCode(...new TextEncoder().encode(str)));

// replay sends a dead letter (a record with kgate's kgate-dlq-* headers,
// written by kgate handle) back to its origin topic as kgate dlq replay
// does: same key, value and headers without the kgate-dlq-* ones, plus
// kgate-replayed-from and an incremented kgate-replays, to its origin
// partition when the topic still has it. It needs produce on the origin
// topic; it does not move the replay group of kgate dlq replay.
async function replay(dlq, r, format, btn, note) {
  const get = (n) => { const x = (r.headers || []).find((y) => y.name === n); return x ? decode64(x.value) : undefined; };
  const target = get("kgate-dlq-origin-topic");
  const type = { binary: "BINARY", json: "JSON", string: "STRING" }[format];
  const rec = {};
  if (r.key !== null && r.key !== undefined) rec.key = { type, data: r.key };
  if (r.value !== null && r.value !== undefined) rec.value = { type, data: r.value };
  let replays = 0;
  rec.headers = [];
  for (const x of r.headers || []) {
    if (x.name.startsWith("kgate-dlq-") || x.name === "kgate-replayed-from") continue;
    if (x.name === "kgate-replays") { replays = Number(decode64(x.value)) || 0; continue; }
    rec.headers.push({ name: x.name, value: x.value });
  }
  rec.headers.push({ name: "kgate-replayed-from", value: b64(dlq + "/" + r.partition + "/" + r.offset) },
    { name: "kgate-replays", value: b64(String(replays + 1)) });
  const p = Number(get("kgate-dlq-origin-partition"));
  btn.disabled = true;
  const path = (await cluster()) + "/topics/" + encodeURIComponent(target) + "/records";
  try {
    let res;
    try {
      res = await call("POST", path, Number.isInteger(p) ? { ...rec, partition_id: p } : rec);
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 404 && Number.isInteger(p))) throw e;
      res = await call("POST", path, rec); // the origin partition is gone
    }
    if (res.error_code && res.error_code !== 200) throw new Error(res.message);
    note.textContent = "Replayed to " + target + ", partition " + res.partition_id + " at offset " + res.offset + ".";
  } catch (e) {
    note.textContent = why(e, "Replaying to " + target);
    btn.disabled = false;
  }
}

function produceSection(topic) {
  const result = h("p", { id: "produce-result", role: "status" });
  const form = h("form", { class: "card", id: "produce-form" },
    field("Key (optional)", { name: "key", id: "produce-key" }),
    field("Value", { name: "value", id: "produce-value", rows: 3 }),
    h("div", { class: "field" }, h("label", { for: "produce-type" }, "Value is"),
      h("select", { id: "produce-type", name: "type" }, h("option", { value: "STRING" }, "text"), h("option", { value: "JSON" }, "JSON"))),
    field("Headers (one name=value a line)", { name: "headers", id: "produce-headers", rows: 2 }),
    field("Partition (optional)", { name: "partition", id: "produce-partition", type: "number", min: 0 }),
    h("button", { type: "submit" }, "Produce"), result);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = form.elements;
    const rec = {};
    result.className = "";
    try {
      if (f.key.value) rec.key = { type: "STRING", data: f.key.value };
      rec.value = f.type.value === "JSON" ? { type: "JSON", data: JSON.parse(f.value.value) } : { type: "STRING", data: f.value.value };
    } catch (e) {
      result.className = "error";
      result.textContent = "The value is not JSON: " + e.message;
      return;
    }
    const hs = f.headers.value.split("\n").map((l) => l.trim()).filter(Boolean);
    for (const l of hs) {
      const i = l.indexOf("=");
      if (i < 1) { result.className = "error"; result.textContent = "Headers are name=value, one a line: " + JSON.stringify(l); return; }
      (rec.headers ||= []).push({ name: l.slice(0, i), value: btoa(String.fromCharCode(...new TextEncoder().encode(l.slice(i + 1)))) });
    }
    if (f.partition.value !== "") rec.partition_id = Number(f.partition.value);
    try {
      const r = await call("POST", (await cluster()) + "/topics/" + encodeURIComponent(topic) + "/records", rec);
      if (r.error_code && r.error_code !== 200) throw new Error(r.message);
      result.textContent = "Written to partition " + r.partition_id + " at offset " + r.offset + ".";
      toast(result.textContent);
    } catch (e) {
      result.className = "error";
      result.textContent = why(e, "Producing to " + topic);
    }
  });
  return h("section", { "aria-labelledby": "produce-h" }, h("h2", { id: "produce-h" }, "Produce"), form);
}
