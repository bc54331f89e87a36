// mmir web UI: the Collection panel. What the collection holds, the folders this server may index, and an
// indexing run's progress as files done of files to do for this run (never backwards), in plain words.
// Loaded after app.js ($, el, api).
"use strict";
let polling = null;
let lastState = null;

const INFO_LABELS = [
  ["directory", "collection"], ["model", "model"], ["media", "files"],
  ["segments", "searchable items (photos and video shots)"], ["concepts", "concepts"], ["index_type", "vector index"],
];

async function showInfo() {
  const info = await api("/api/info");
  const dl = $("info");
  dl.replaceChildren();
  for (const [key, label] of INFO_LABELS) {
    if (info[key] === undefined) continue;
    dl.append(el("dt", { textContent: label }), el("dd", { textContent: String(info[key]) }));
  }
}

async function showCollection() {
  try {
    await showInfo();
    showIndexStatus(await api("/api/index"));
  } catch (error) { $("index-status").textContent = "Error: " + error.message; }
}

const running = (state) => state === "scanning" || state === "indexing";
const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

function statusWords(status) {
  const roots = status.roots.join(", ");
  if (status.state === "idle") return "Not indexing. Choose folders and press “Index chosen folders” to add new or changed files.";
  if (status.state === "scanning") return `Looking for photos and videos in ${roots}…`;
  if (status.state === "indexing") {
    if (status.to_do === null || status.to_do === undefined) return `Comparing ${plural(status.found || 0, "file")} found in ${roots} with the collection…`;
    if (status.to_do === 0) return `Nothing new or changed in ${roots}; tidying up…`;
    return `Indexing ${roots}: ${status.done} of ${plural(status.to_do, "new or changed file")} done (${status.seconds} s).`;
  }
  if (status.state === "done") {
    const parts = [`${status.added} added`, `${status.updated} updated`, `${status.removed} removed`];
    if (status.problems) parts.push(`${plural(status.problems, "file")} could not be read`);
    return `Finished in ${status.seconds} s: ${parts.join(", ")}. The collection now holds ${plural(status.media, "file")}.`;
  }
  if (status.state === "failed") return `Indexing stopped with an error: ${status.error}`;
  return status.state;
}

function showRootChoices(status) {
  const box = $("roots");
  if (box.dataset.filled || !status.root_choices.length) return;
  $("roots-none").remove();
  for (const root of status.root_choices) {
    const input = el("input", { type: "checkbox", value: root.id, id: `root-${root.id}`, checked: true });
    box.append(el("div", {}, el("label", { htmlFor: `root-${root.id}` }, input, " " + root.name)));
  }
  box.dataset.filled = "1";
}

function showIndexStatus(status) {
  showRootChoices(status);
  const busy = running(status.state);
  $("index-button").disabled = !status.root_choices.length || busy;
  const bar = $("index-progress");
  bar.hidden = !busy || status.to_do === 0;
  if (status.to_do) { bar.max = status.to_do; bar.value = Math.min(status.done, status.to_do); } else bar.removeAttribute("value");
  $("index-status").textContent = statusWords(status);
  if (running(lastState) && !busy) showInfo().catch(() => {}); // the counts changed: show the new ones
  lastState = status.state;
  if (busy && !polling) polling = setInterval(pollIndex, 1000);
  if (!busy && polling) { clearInterval(polling); polling = null; }
}

async function pollIndex() {
  try { showIndexStatus(await api("/api/index")); } catch (error) { $("index-status").textContent = "Error: " + error.message; }
}

async function startIndexing() {
  const roots = [...$("roots").querySelectorAll("input:checked")].map((i) => Number(i.value));
  if (!roots.length) { $("index-status").textContent = "Choose at least one folder first."; return; }
  try {
    showIndexStatus(await api("/api/index", { method: "POST", body: JSON.stringify({ roots }), headers: { "Content-Type": "application/json" } }));
  } catch (error) { $("index-status").textContent = "Error: " + error.message; }
}

$("index-button").onclick = startIndexing;
$("collection-button").onclick = () => {
  const panel = $("collection");
  panel.hidden = !panel.hidden;
  $("collection-button").setAttribute("aria-expanded", String(!panel.hidden));
  if (!panel.hidden) showCollection();
};
