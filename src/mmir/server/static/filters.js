// mmir web UI: search filters — photos or videos only, a folder, a date range (taken, else modified), a file name.
// Chosen in the Filters panel, shown as chips (a chip's button removes it), kept in the URL (kind, under, after,
// before, name) and sent with every search request, so reload, Back and shared links keep them.
// Loaded after app.js ($, el, run, current).
"use strict";
const FILTER_KEYS = ["kind", "under", "after", "before", "name"];
const FILTER_WORDS = {
  kind: (v) => (v === "video" ? "videos only" : "photos only"),
  under: (v) => `in ${v}`,
  after: (v) => `from ${v}`,
  before: (v) => `until ${v}`,
  name: (v) => `named ${v}`,
};
const FILTER_CONTROL = { kind: "filter-kind", under: "filter-under", after: "filter-after", before: "filter-before", name: "filter-name" };

// The filter held by URL parameters (only the keys given, trimmed).
function readFilter(params) {
  const filter = {};
  for (const key of FILTER_KEYS) {
    const value = (params.get(key) || "").trim();
    if (value) filter[key] = value;
  }
  return filter;
}

function writeFilter(params, filter) {
  for (const key of FILTER_KEYS) if (filter && filter[key]) params.set(key, filter[key]);
}

// "&kind=photo&under=..." for a request, or "".
function filterQuery(filter) {
  const params = new URLSearchParams();
  writeFilter(params, filter);
  const text = params.toString();
  return text ? "&" + text : "";
}

function describeFilter(filter) {
  return FILTER_KEYS.filter((key) => filter && filter[key]).map((key) => FILTER_WORDS[key](filter[key])).join(", ");
}

// The filter as the panel's controls set it (a new search takes it).
function chosenFilter() {
  const filter = {};
  for (const key of FILTER_KEYS) {
    const value = $(FILTER_CONTROL[key]).value.trim();
    if (value) filter[key] = value;
  }
  return filter;
}

// Controls and chips show ``filter`` (after a reload, Back, or a change).
function showFilter(filter) {
  for (const key of FILTER_KEYS) $(FILTER_CONTROL[key]).value = (filter && filter[key]) || "";
  const chips = FILTER_KEYS.filter((key) => filter && filter[key]).map((key) => {
    const remove = el("button", { type: "button", className: "chip-remove", textContent: "✕" });
    remove.setAttribute("aria-label", `remove the filter ${FILTER_WORDS[key](filter[key])}`);
    remove.onclick = () => {
      const { [key]: _dropped, ...rest } = filter;
      applyFilter(rest);
    };
    const chip = el("li", { className: "chip" }, el("span", { textContent: FILTER_WORDS[key](filter[key]) }), remove);
    chip.dataset.key = key;
    return chip;
  });
  $("filter-chips").replaceChildren(...chips);
  $("filter-chips").hidden = chips.length === 0;
  $("filter-count").textContent = chips.length ? ` (${chips.length})` : "";
}

// A changed filter searches again (the same query, its view and marks), or waits for the next search.
function applyFilter(filter) {
  if (current && filterQuery(current.filter) !== filterQuery(filter)) run({ ...current, filter });
  else showFilter(filter); // unchanged (Enter fires both change and submit), or no search yet
}

$("filter-form").addEventListener("change", () => applyFilter(chosenFilter()));
$("filter-form").addEventListener("submit", (event) => { event.preventDefault(); applyFilter(chosenFilter()); });
$("filter-clear").onclick = () => applyFilter({});
