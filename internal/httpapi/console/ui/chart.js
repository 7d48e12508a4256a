import { s } from "./dom.js";

// ago names a time span: "-45 s", "-3 min".
function ago(ms) {
  return ms < 120000 ? `-${Math.round(ms / 1000)} s` : `-${Math.round(ms / 60000)} min`;
}

// lineChart draws samples [{t: ms, v: number}] as an inline SVG line
// with its latest value; no library. The time axis spans the samples
// (at least 30 s, at most maxSpan ms).
export function lineChart(samples, maxSpan, label) {
  const W = 600, H = 140, P = 28;
  const now = Date.now();
  const pts = samples.filter((p) => p.t >= now - maxSpan);
  const span = Math.min(maxSpan, Math.max(30000, pts.length ? now - pts[0].t : 0));
  const max = Math.max(1, ...pts.map((p) => p.v));
  const x = (t) => P + ((t - (now - span)) / span) * (W - 2 * P);
  const y = (v) => H - P - (v / max) * (H - 2 * P);
  const last = pts.length ? pts[pts.length - 1].v : 0;
  return s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": `${label}: now ${last}, at most ${max} since ${ago(span).slice(1)} ago` },
    s("line", { x1: P, y1: H - P, x2: W - P, y2: H - P, class: "axis" }),
    s("line", { x1: P, y1: P, x2: P, y2: H - P, class: "axis" }),
    s("text", { x: 2, y: P + 4, class: "tick" }, String(max)),
    s("text", { x: 2, y: H - P + 4, class: "tick" }, "0"),
    s("text", { x: P, y: H - 6, class: "tick" }, ago(span)),
    s("text", { x: W - P - 20, y: H - 6, class: "tick" }, "now"),
    pts.length > 1 ? s("polyline", { points: pts.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(" "), class: "line" }) : null,
    pts.length ? s("circle", { cx: x(pts[pts.length - 1].t), cy: y(last), r: 3, class: "dot" }) : null);
}

// barChart draws labelled horizontal bars.
export function barChart(items, label) {
  const W = 600, row = 22, H = Math.max(1, items.length) * row + 8, L = 140;
  const max = Math.max(1, ...items.map((i) => i.v));
  return s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": label },
    items.map((it, i) => [
      s("text", { x: 0, y: i * row + 16, class: "tick" }, it.name.length > 20 ? it.name.slice(0, 19) + "…" : it.name),
      s("rect", { x: L, y: i * row + 4, width: Math.max(1, ((W - L - 90) * it.v) / max), height: row - 8, class: "bar" }),
      s("text", { x: L + Math.max(1, ((W - L - 90) * it.v) / max) + 6, y: i * row + 16, class: "tick" }, it.text),
    ]));
}

// multiLineChart draws several series [{name, pts: [{t, v}]}] as inline
// SVG lines (colors by class s0..s4) over the time they span (at least
// 30 s, at most maxSpan ms), with a legend of each series' latest
// value as fmt shows it.
export function multiLineChart(series, maxSpan, label, fmt) {
  const W = 600, H = 160, P = 28, L = 150;
  const now = Date.now();
  const first = Math.min(now, ...series.flatMap((se) => se.pts.map((p) => p.t)));
  const span = Math.min(maxSpan, Math.max(30000, now - first));
  const max = Math.max(1e-9, ...series.flatMap((se) => se.pts.map((p) => p.v)));
  const x = (t) => P + ((t - (now - span)) / span) * (W - L - 2 * P);
  const y = (v) => H - P - (v / max) * (H - 2 * P);
  const last = (se) => (se.pts.length ? se.pts[se.pts.length - 1].v : 0);
  return s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img",
    "aria-label": label + ": " + series.map((se) => se.name + " " + fmt(last(se))).join(", ") },
  s("line", { x1: P, y1: H - P, x2: W - L - P, y2: H - P, class: "axis" }),
  s("line", { x1: P, y1: P, x2: P, y2: H - P, class: "axis" }),
  s("text", { x: 2, y: P - 8, class: "tick" }, fmt(max)),
  s("text", { x: 2, y: H - P + 4, class: "tick" }, "0"),
  s("text", { x: P, y: H - 6, class: "tick" }, ago(span)),
  s("text", { x: W - L - P - 20, y: H - 6, class: "tick" }, "now"),
  series.map((se, i) => [
    se.pts.length > 1 ? s("polyline", { points: se.pts.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(" "), class: "line s" + i }) : null,
    s("rect", { x: W - L, y: P + i * 18 - 9, width: 10, height: 10, class: "key s" + i }),
    s("text", { x: W - L + 14, y: P + i * 18, class: "tick" }, (se.name.length > 14 ? se.name.slice(0, 13) + "…" : se.name) + " " + fmt(last(se))),
  ]));
}
