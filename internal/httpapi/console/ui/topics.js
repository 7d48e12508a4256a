import { call, cluster, why } from "./api.js";
import { h, field, table, toast, fmtBytes } from "./dom.js";

// offsets returns a topic's partitions with their earliest and latest
// offsets (null where the caller may not see offsets).
export async function offsets(base, topic, count, opts) {
  const t = base + "/topics/" + encodeURIComponent(topic) + "/partitions/";
  return Promise.all(Array.from({ length: count }, (_, p) =>
    call("GET", t + p + "/offset", undefined, opts).then((o) => ({ p, earliest: o.earliest_offset, latest: o.latest_offset }),
      () => ({ p, earliest: null, latest: null }))));
}

// sizes returns a topic's size on disk (GET .../partitions/-/sizes, a
// kgate extension; show_topic): {size, partitions: [{partition_id,
// size, replicas}]}, {hidden: true} when the user may not see them, or
// null when they cannot be read.
export async function sizes(base, topic, opts) {
  return call("GET", base + "/topics/" + encodeURIComponent(topic) + "/partitions/-/sizes", undefined, opts)
    .catch((e) => (e.status === 403 ? { hidden: true } : null));
}

// topicsPage lists the topics the user may see, with partitions and
// records held, and forms to create and delete topics.
export function topicsPage(main) {
  const list = h("div", { id: "topics" }, h("p", {}, "Loading topics…"));
  const msg = h("p", { class: "error", role: "alert", id: "topics-error" });
  const name = field("Topic name", { name: "topic", required: true, id: "new-topic", pattern: "[A-Za-z0-9._\\-]+", maxlength: 249 });
  const parts = field("Partitions", { name: "partitions", type: "number", min: 1, max: 10000, value: 1, id: "new-partitions" });
  const create = h("form", { class: "card inline", id: "create-topic" }, h("h2", {}, "Create a topic"), name, parts,
    h("button", { type: "submit" }, "Create"));
  main.append(h("h1", {}, "Topics"),
    h("p", { class: "hint" }, "Only the topics your permissions let you see are listed."), msg, list, create);

  let base = null;
  async function load() {
    try {
      base = await cluster();
      const r = await call("GET", base + "/topics");
      const topics = r.data.filter((t) => !t.topic_name.startsWith("_")).sort((a, b) => a.topic_name.localeCompare(b.topic_name));
      const rows = await Promise.all(topics.map(async (t) => {
        const [os, sz] = await Promise.all([offsets(base, t.topic_name, t.partitions_count), sizes(base, t.topic_name)]);
        const seen = os.every((o) => o.latest !== null);
        const held = seen ? os.reduce((n, o) => n + (o.latest - o.earliest), 0) : "hidden (no show_offsets)";
        const end = seen ? os.map((o) => o.latest).join(", ") : "";
        return [
          h("a", { href: "#/topics/" + encodeURIComponent(t.topic_name) }, t.topic_name),
          String(t.partitions_count), String(t.replication_factor), String(held), end,
          !sz ? "unknown" : sz.hidden ? "hidden (no show_topic)" :
            h("span", { title: sz.partitions.map((p) => "partition " + p.partition_id + ": " + fmtBytes(p.size)).join(", ") }, fmtBytes(sz.size)),
          h("button", { type: "button", class: "danger", "data-topic": t.topic_name, onclick: del }, "Delete"),
        ];
      }));
      list.replaceChildren(rows.length ? table("Topics you may see", ["Topic", "Partitions", "Replicas", "Records held", "Latest offsets", "Size on disk", ""], rows, { id: "topics-table" })
        : h("p", {}, "No topics you may see."));
    } catch (e) {
      list.replaceChildren(h("p", { class: "refused" }, why(e, "Listing topics")));
    }
  }

  // del asks once more in place (a second button) rather than with a
  // modal dialog, then deletes.
  async function del(ev) {
    const b = ev.currentTarget, topic = b.dataset.topic;
    if (!b.dataset.armed) {
      b.dataset.armed = "1";
      b.textContent = "Really delete " + topic + "?";
      return;
    }
    msg.textContent = "";
    try {
      await call("DELETE", (await cluster()) + "/topics/" + encodeURIComponent(topic));
      toast("Deleted " + topic + ".");
      load();
    } catch (e) {
      msg.textContent = why(e, "Deleting " + topic);
      b.textContent = "Delete";
      delete b.dataset.armed;
    }
  }

  create.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    msg.textContent = "";
    const topic = create.elements.topic.value.trim();
    try {
      await call("POST", (await cluster()) + "/topics", { topic_name: topic, partitions_count: Number(create.elements.partitions.value) });
      toast("Created " + topic + ".");
      create.reset();
      load();
    } catch (e) {
      msg.textContent = why(e, "Creating topic " + topic);
    }
  });
  load();
  return null;
}
