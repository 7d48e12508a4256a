// Small DOM helpers. Text always goes in as text (textContent), never as
// HTML, so names and records from Kafka cannot inject markup.

// h builds an element: h("button", {type: "button", onclick: fn}, "Go").
// Attributes starting with "on" become listeners; "class" sets className;
// children are nodes or strings (null and false are skipped).
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

const SVG = "http://www.w3.org/2000/svg";

// s builds an SVG element.
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  append(el, children);
  return el;
}

// table builds a table with a caption, header cells and rows of cells.
export function table(caption, heads, rows, attrs) {
  return h("table", attrs,
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, heads.map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c))))));
}

// field is a labelled input.
export function field(label, attrs) {
  const id = attrs.id || "f-" + Math.random().toString(36).slice(2, 9);
  return h("div", { class: "field" }, h("label", { for: id }, label), h(attrs.rows ? "textarea" : "input", { ...attrs, id }));
}

// fmtBytes shows a byte count.
export function fmtBytes(n) {
  if (n < 1024) return n + " B";
  const u = ["KiB", "MiB", "GiB", "TiB"];
  let i = -1;
  do { n /= 1024; i++; } while (n >= 1024 && i < u.length - 1);
  return n.toFixed(1) + " " + u[i];
}

let toastTimer;
// toast announces a short message to screen readers and sighted users.
export function toast(msg) {
  const t = document.getElementById("toast");
  t.textContent = msg;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.textContent = ""; }, 6000);
}
