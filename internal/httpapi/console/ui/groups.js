import { call, cluster, why } from "./api.js";
import { h, table } from "./dom.js";
import { lineChart } from "./chart.js";

const POLL = 2000; // ms between lag samples
const SPAN = 5 * 60 * 1000; // the chart's window
// Lag samples per group, kept while the console is open in this tab.
const history = new Map();

// groupsPage lists the consumer groups the user may see.
export function groupsPage(main) {
  const list = h("div", { id: "groups" }, h("p", {}, "Loading groups…"));
  main.append(h("h1", {}, "Consumer groups"), list);
  (async () => {
    try {
      const base = await cluster();
      const r = await call("GET", base + "/consumer-groups");
      const gs = r.data.sort((a, b) => a.consumer_group_id.localeCompare(b.consumer_group_id));
      list.replaceChildren(gs.length ? table("Consumer groups", ["Group", "State", "Assignor"], gs.map((g) => [
        h("a", { href: "#/groups/" + encodeURIComponent(g.consumer_group_id) }, g.consumer_group_id), g.state, g.partition_assignor || ""]), { id: "groups-table" })
        : h("p", {}, "No consumer groups."));
    } catch (e) {
      list.replaceChildren(h("p", { class: "refused" }, why(e, "Listing consumer groups"),
        e.status === 403 ? " Listing needs the list_groups right; a group you may see can still be opened by name:" : null),
      e.status === 403 ? openByName() : null);
    }
  })();
  return null;
}

function openByName() {
  const f = h("form", { class: "inline" }, h("label", { for: "group-name" }, "Group"), h("input", { id: "group-name", name: "group", required: true }),
    h("button", { type: "submit" }, "Open"));
  f.addEventListener("submit", (ev) => { ev.preventDefault(); location.hash = "#/groups/" + encodeURIComponent(f.elements.group.value); });
  return f;
}

// groupPage shows a group's members, their assignments and the lag per
// partition, sampled every POLL ms into a chart of the last minutes.
export function groupPage(main, group) {
  const summary = h("p", { id: "group-summary" }, "Loading…");
  const chart = h("div", { id: "lag-chart" });
  const lags = h("div", { id: "lags" });
  const members = h("div", { id: "members" });
  main.append(h("p", {}, h("a", { href: "#/groups" }, "← Consumer groups")), h("h1", {}, "Group ", h("code", {}, group)), summary,
    h("h2", {}, "Total lag (the last " + SPAN / 60000 + " minutes at most, while this page is open)"), chart, h("h2", {}, "Lag per partition"), lags, h("h2", {}, "Members"), members);
  const samples = history.get(group) || [];
  history.set(group, samples);
  let timer = null, stopped = false;

  let polls = 0;
  async function poll() {
    const opts = { background: polls++ > 0 };
    try {
      const g = (await cluster()) + "/consumer-groups/" + encodeURIComponent(group);
      const [info, lag, cons] = await Promise.all([call("GET", g, undefined, opts), call("GET", g + "/lags", undefined, opts),
        call("GET", g + "/consumers", undefined, opts)]);
      const total = lag.data.reduce((n, l) => n + l.lag, 0);
      samples.push({ t: Date.now(), v: total });
      while (samples.length && samples[0].t < Date.now() - SPAN) samples.shift();
      summary.replaceChildren("State ", h("strong", {}, info.state), ", total lag ", h("strong", { id: "total-lag" }, String(total)),
        ", " + cons.data.length + " member" + (cons.data.length === 1 ? "" : "s") + ".");
      chart.replaceChildren(lineChart(samples, SPAN, "Total lag of " + group));
      lags.replaceChildren(table("Lag per partition", ["Topic", "Partition", "Committed", "Log end", "Lag", "Member"],
        lag.data.map((l) => [l.topic_name, String(l.partition_id), String(l.current_offset), String(l.log_end_offset), String(l.lag), l.client_id || l.consumer_id || "—"]),
        { id: "lags-table" }));
      const rows = await Promise.all(cons.data.map(async (c) => {
        const a = await call("GET", g + "/consumers/" + encodeURIComponent(c.consumer_id) + "/assignments", undefined, opts).catch(() => ({ data: [] }));
        return [c.consumer_id, c.client_id, a.data.map((x) => x.topic_name + "/" + x.partition_id).join(", ") || "none"];
      }));
      members.replaceChildren(rows.length ? table("Members", ["Member", "Client", "Assigned partitions"], rows, { id: "members-table" })
        : h("p", {}, "No members are connected."));
    } catch (e) {
      summary.replaceChildren(h("span", { class: "refused" }, why(e, "Reading group " + group)));
      if (e.status === 401 || e.status === 403 || e.status === 404) return;
    }
    if (!stopped) timer = setTimeout(poll, POLL);
  }
  poll();
  return () => { stopped = true; clearTimeout(timer); };
}
