// mmir web UI: plain JavaScript, no CDN. The URL holds the search (back/forward and links work);
// the token, when the server needs one, is asked once and kept in sessionStorage for this tab.
"use strict";
const $ = (id) => document.getElementById(id);
const PAGE = 24;
const uploads = new Map(); // in-memory query images by key (files cannot live in a URL)
let current = null; // the state on screen
let offset = 0;
let marks = new Map(); // markKey(hit) -> 1 (relevant) | -1 (not relevant)
// A photo is marked as a file ("f12"); a video hit as the shot shown ("s345"), so feedback learns from that shot.
const markKey = (hit) => (isVideo(hit) ? `s${hit.segment_id}` : `f${hit.media_id}`);
const undoStack = [];
// Requests that cannot cross: each search (and its "More" pages and concepts mapping) belongs to one
// generation; a newer search aborts the older one's requests and any answer of an older generation is dropped.
let generation = 0;
let inflight = null; // the AbortController of the newest search's requests

function newGeneration() {
  if (inflight) inflight.abort();
  inflight = new AbortController();
  generation += 1;
  return { seq: generation, signal: inflight.signal };
}
const stale = (ticket) => ticket.seq !== generation;
const aborted = (error) => error && error.name === "AbortError";

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props);
  node.append(...children);
  return node;
}

// ---- API calls with readable errors and the token -------------------------------------------------
function token() { return sessionStorage.getItem("mmir-token") || ""; }

// One prompt at a time: requests that meet a 401 together share it. ``problem`` says why it asks again.
let asking = null;
function askToken(problem = "") {
  $("token-problem").textContent = problem;
  $("token-problem").hidden = !problem;
  if (!asking) {
    asking = new Promise((resolve) => {
      const dialog = $("token-dialog");
      $("token").value = "";
      dialog.addEventListener("close", () => { asking = null; resolve($("token").value.trim()); }, { once: true });
      dialog.showModal();
    });
  }
  return asking;
}

async function readable(response) {
  const text = await response.text();
  try {
    const body = JSON.parse(text);
    if (typeof body.detail === "string") return body.detail;
    if (Array.isArray(body.detail)) return body.detail.map((d) => `${(d.loc || []).slice(-1)[0] || "input"}: ${d.msg}`).join("; ");
  } catch (_) { /* not JSON: fall through to the status text */ }
  return `${response.status} ${response.statusText || "error"}`;
}

async function api(path, options = {}, tries = 0) {
  const headers = { ...(options.headers || {}) };
  if (token()) headers.Authorization = "Bearer " + token();
  let response;
  try {
    response = await fetch(path, { ...options, headers });
  } catch (error) {
    if (aborted(error)) throw error; // a newer search took over: not an error to show
    throw new Error("the server cannot be reached (" + error.message + ")");
  }
  if (response.status === 401 && tries < 3) {
    const sent = headers.Authorization ? headers.Authorization.slice(7) : "";
    // A token was sent and refused (and no other request has stored a new one since): say so and ask again.
    const given = sent && sent === token() ? await askToken("That token was not accepted. Try again.")
      : token() && token() !== sent ? token() : await askToken();
    if (!given) throw new Error("this server needs a token");
    sessionStorage.setItem("mmir-token", given);
    await fetch("/api/session", { method: "POST", headers: { Authorization: "Bearer " + given } });
    return api(path, options, tries + 1);
  }
  if (!response.ok) throw new Error(await readable(response));
  if (options.onResponse) options.onResponse(response);
  return response.json();
}

// ---- state <-> URL ------------------------------------------------------------------------------------
// Where a keyword search may be restricted to (mmir search --said / --shows): words said, or text shown.
const FIELDS = { said: "said", shows: "shown" };
const isField = (field) => field === "said" || field === "shows"; // not FIELDS[x]: "constructor" is in every object

function toURL(state) {
  const p = new URLSearchParams();
  if (state.kind === "text") { p.set("q", state.q); p.set("mode", state.mode); }
  if (state.kind === "text" && isField(state.field)) p.set("field", state.field);
  if (state.kind === "similar") { p.set("similar", state.id); if (state.shot) p.set("shot", state.shot); }
  if (state.kind === "image") p.set("image", state.key);
  if (state.per === "shot") p.set("per", "shot");
  writeFilter(p, state.filter); // kind, under, after, before, name (filters.js)
  if (state.fb) {
    p.set("fb", state.fb.method);
    p.set("pos", state.fb.pos.join(","));
    p.set("neg", state.fb.neg.join(","));
    if ((state.fb.spos || []).length) p.set("spos", state.fb.spos.join(","));
    if ((state.fb.sneg || []).length) p.set("sneg", state.fb.sneg.join(","));
  }
  return "?" + p.toString();
}

// A catalog id from the URL, or null (a hand-edited "?similar=abc" must not become NaN in a request).
function positive(text) {
  return /^[1-9][0-9]{0,17}$/.test(text || "") ? Number(text) : null;
}

function fromURL() {
  const p = new URLSearchParams(location.search);
  let state = null;
  if (p.get("q")) state = { kind: "text", q: p.get("q"), mode: p.get("mode") === "or" ? "or" : "and" };
  if (state && isField(p.get("field"))) state.field = p.get("field");
  else if (positive(p.get("similar"))) {
    state = { kind: "similar", id: positive(p.get("similar")) };
    if (positive(p.get("shot"))) state.shot = positive(p.get("shot"));
  }
  else if (p.get("image")) state = { kind: "image", key: p.get("image") };
  if (state) state.per = p.get("per") === "shot" ? "shot" : "file";
  if (state) state.filter = readFilter(p);
  if (state && p.get("fb") && (p.get("pos") || p.get("spos"))) {
    const ids = (name) => (p.get(name) || "").split(",").map(positive).filter(Boolean);
    state.fb = { method: p.get("fb") === "rocchio" ? "rocchio" : "classifier", pos: ids("pos"), neg: ids("neg"),
      spos: ids("spos"), sneg: ids("sneg") };
  }
  return state;
}

function describe(state) {
  let base = state.kind === "text" && isField(state.field) ? `"${state.q}" ${FIELDS[state.field]}`
    : state.kind === "text" ? `"${state.q}" (${state.mode.toUpperCase()})`
    : state.kind === "similar" ? (state.shot ? `shots similar to ${state.label || "#" + state.id}` : `files similar to ${state.label || "#" + state.id}`)
    : "the query image";
  const filtered = describeFilter(state.filter); // "photos only, in Photos/2024" (filters.js)
  if (filtered) base = `${base}, ${filtered}`;
  if (!state.fb) return state.per === "shot" ? `${base}, video shots one by one` : base;
  const good = state.fb.pos.length + (state.fb.spos || []).length;
  const bad = state.fb.neg.length + (state.fb.sneg || []).length;
  return `${base}, re-ranked from ${good} relevant and ${bad} not relevant`;
}

function fetchPage(state, from, signal) {
  const page = `k=${PAGE}&offset=${from}` + (state.per === "shot" ? "&per=shot" : "") + filterQuery(state.filter);
  if (state.fb) {
    const body = JSON.stringify({ positives: state.fb.pos, negatives: state.fb.neg, method: state.fb.method,
      positive_shots: state.fb.spos || [], negative_shots: state.fb.sneg || [] });
    return api(`/api/feedback?${page}`, { method: "POST", body, signal, headers: { "Content-Type": "application/json" } });
  }
  if (state.kind === "text" && isField(state.field)) return api(`/api/search/field?${page}&field=${state.field}&q=${encodeURIComponent(state.q)}`, { signal });
  if (state.kind === "text") return api(`/api/search?${page}&mode=${state.mode}&q=${encodeURIComponent(state.q)}`, { signal });
  if (state.kind === "similar") return api(`/api/similar/${state.id}?${page}${state.shot ? "&segment=" + state.shot : ""}`, { signal });
  const file = uploads.get(state.key);
  if (!file) {
    if (!KEPT.test(state.key)) return Promise.reject(new Error("the query image is not kept across page loads; pick it again"));
    return api(`/api/search/image/${state.key}?${page}`, { signal }); // kept by the server under its hash
  }
  const form = new FormData();
  form.append("image", file);
  const onResponse = (response) => keptAs(state, file, response.headers.get("X-Query-Image"));
  return api(`/api/search/image?${page}`, { method: "POST", body: form, signal, onResponse });
}

// The server keeps a searched image under its hash: put the hash in the URL, so reload and links work.
const KEPT = /^[0-9a-f]{40}$/;
function keptAs(state, file, key) {
  if (!key || !KEPT.test(key) || state !== current) return;
  uploads.set(key, file);
  state.key = key;
  history.replaceState(state, "", toURL(state));
}

// Search answers are a list of hits, or {hits, weak} where weak says nothing matches well.
function unpack(body) {
  if (Array.isArray(body)) return { hits: body, weak: body.length > 0 && body.every((hit) => hit.weak === true) };
  return { hits: body.hits || [], weak: Boolean(body.weak) };
}

// Recent keyword searches, kept in this browser only, offered as suggestions in the search box.
function remember(q) {
  let recent = [];
  try { recent = JSON.parse(localStorage.getItem("mmir-recent") || "[]"); } catch (_) { /* start afresh */ }
  recent = [q, ...recent.filter((r) => typeof r === "string" && r !== q)].slice(0, 12);
  try { localStorage.setItem("mmir-recent", JSON.stringify(recent)); } catch (_) { /* storage full or off */ }
  $("recent").replaceChildren(...recent.map((r) => el("option", { value: r })));
}

// ---- running a search ---------------------------------------------------------------------------------
async function run(state, push = true) {
  if (!state.per) state.per = $("per-shot").checked ? "shot" : "file"; // a new search takes the view chosen
  $("per-shot").checked = state.per === "shot";
  if (!state.filter) state.filter = chosenFilter(); // a new search takes the filters chosen (filters.js)
  showFilter(state.filter);
  if (push && !(current && toURL(current) === toURL(state))) history.pushState(state, "", toURL(state));
  current = state;
  const ticket = newGeneration();
  offset = 0;
  marks = new Map();
  if (state.fb) {
    state.fb.pos.forEach((id) => marks.set(`f${id}`, 1));
    state.fb.neg.forEach((id) => marks.set(`f${id}`, -1));
    (state.fb.spos || []).forEach((id) => marks.set(`s${id}`, 1));
    (state.fb.sneg || []).forEach((id) => marks.set(`s${id}`, -1));
    $("method").value = state.fb.method; // the re-rank method chosen, kept by the URL
  }
  document.title = `${describe(state)} – mmir`;
  if (state.kind === "text") remember(state.q);
  $("error").textContent = "";
  $("weak").hidden = true;
  $("status").textContent = "searching…";
  showQuery(state, ticket);
  try {
    const { hits, weak } = unpack(await fetchPage(state, 0, ticket.signal));
    if (stale(ticket)) return;
    render(hits, false);
    $("weak").hidden = !(weak && hits.length);
    $("status").textContent = hits.length ? `${hits.length} results for ${describe(state)}` : `no results for ${describe(state)}`;
  } catch (error) {
    if (stale(ticket) || aborted(error)) return;
    $("results").replaceChildren();
    $("more").hidden = true;
    $("status").textContent = "";
    $("error").textContent = "Error: " + error.message;
  }
  updateFeedbackBar();
}

async function showQuery(state, ticket) {
  const figure = $("query-image");
  const image = figure.querySelector("img");
  figure.hidden = true;
  if (state.kind === "image" && uploads.has(state.key)) {
    const file = uploads.get(state.key);
    image.src = URL.createObjectURL(file);
    image.alt = "the query image";
    figure.querySelector("figcaption").textContent = `query: ${file.name || "pasted image"}`;
    figure.hidden = false;
  } else if (state.kind === "image" && KEPT.test(state.key)) {
    image.onerror = () => { figure.hidden = true; }; // no longer kept: the search says so
    image.src = `/api/media/query/${state.key}`;
    image.alt = "the query image";
    figure.querySelector("figcaption").textContent = "query: the image searched with this link";
    figure.hidden = false;
  }
  if (state.kind === "text") $("q").value = state.q, $("mode").value = state.mode;
  showField(state);
  $("mapping").textContent = "";
  if (state.kind === "similar") return showSimilarQuery(state, ticket);
  if (state.kind !== "text") return;
  if (isField(state.field)) {
    $("mapping").textContent = state.field === "said" ? "Looking only in what videos say (speech), for the phrase"
      : "Looking only in the text photos and video shots show, for the phrase";
    return;
  }
  try {
    const mapping = await api(`/api/concepts?mode=${state.mode}&q=${encodeURIComponent(state.q)}`, { signal: ticket.signal });
    if (stale(ticket)) return;
    const parts = mapping.terms.map((t) => `${t.term} → ${t.concepts.length ? t.concepts.slice(0, 4).map((c) => `${c.name} (${c.weight.toFixed(2)})`).join(", ") : "no concept"}`);
    $("mapping").textContent = "Query mapped to: " + parts.join("; ");
  } catch (_) { /* the search itself reports the error */ }
}

// "Similar" shows the item (or shot) it started from, not just its number.
async function showSimilarQuery(state, ticket) {
  try {
    const item = await api(`/api/item/${state.id}`, { signal: ticket.signal });
    if (stale(ticket)) return;
    state.label = item.name;
    const figure = $("query-image");
    const image = figure.querySelector("img");
    image.src = `${item.url}/thumb?size=${THUMB}` + (state.shot ? `&segment=${state.shot}` : "");
    image.alt = `the query: ${item.name}`;
    figure.querySelector("figcaption").textContent = state.shot ? `similar to a shot of ${item.name}` : `similar to ${item.name}`;
    figure.hidden = false;
  } catch (_) { /* the search itself reports the error */ }
}

async function more() {
  offset += PAGE;
  const seq = generation;
  try {
    const { hits } = unpack(await fetchPage(current, offset, inflight && inflight.signal));
    if (seq !== generation) return;
    const before = $("results").querySelectorAll(".hit").length;
    render(hits, true);
    const first = $("results").querySelectorAll(".hit")[before]; // focus moves to the first new result
    if (first) first.querySelector(".open").focus();
    $("status").textContent = `${$("results").querySelectorAll(".hit").length} results for ${describe(current)}`;
  } catch (error) { if (seq === generation && !aborted(error)) $("error").textContent = "Error: " + error.message; }
}

// ---- feedback -------------------------------------------------------------------------------------------
function updateFeedbackBar() {
  const good = [...marks.values()].filter((v) => v > 0).length;
  // Shown once there is something to do with it: marks, a re-ranked list, or a step to undo.
  $("feedback-bar").hidden = !current || (marks.size === 0 && !current.fb && undoStack.length === 0);
  $("marks-count").textContent = `${good} marked relevant, ${marks.size - good} not relevant`;
  $("rerank").disabled = good === 0;
  $("rerank").title = good === 0 ? "mark at least one result as relevant first" : "";
  $("marks-help").hidden = good > 0;
  $("undo").disabled = undoStack.length === 0;
}

function rerank() {
  const ids = (kind, sign) => [...marks].filter(([key, v]) => key[0] === kind && v * sign > 0).map(([key]) => Number(key.slice(1)));
  undoStack.push(current);
  const { fb, ...base } = current;
  run({ ...base, fb: { method: $("method").value, pos: ids("f", 1), neg: ids("f", -1), spos: ids("s", 1), sneg: ids("s", -1) } });
}

function undo() {
  const previous = undoStack.pop();
  if (previous) run(previous);
}

function startOver() {
  if (!current) return;
  undoStack.push(current);
  const { fb, ...base } = current;
  run(base);
}

// ---- query by example: pick, drop or paste ---------------------------------------------------------
let limits = null; // what the server accepts (asked once)
const megabytes = (bytes) => `${(bytes / 1048576).toFixed(1)} MB`;

async function searchFile(file) {
  if (!file) return;
  if (!file.type.startsWith("image/")) { $("error").textContent = `Error: ${file.name || "that"} is not an image`; return; }
  if (!limits) limits = await api("/api/limits").catch(() => null);
  if (limits && file.size > limits.max_upload_bytes) { // refused here, before sending megabytes for nothing
    $("error").textContent = `Error: ${file.name || "that image"} is ${megabytes(file.size)}; this server takes images up to ${megabytes(limits.max_upload_bytes)}`;
    return;
  }
  const key = Math.random().toString(36).slice(2, 10);
  uploads.set(key, file);
  run({ kind: "image", key });
}

// ---- wiring ---------------------------------------------------------------------------------------------
$("text-form").onsubmit = (event) => {
  event.preventDefault();
  const q = $("q").value.trim();
  if (q) run(withField({ kind: "text", q, mode: $("mode").value }, $("field").value));
};
// A text search restricted to what is said or shown, or to everything (field "").
function withField(state, field) {
  const { field: _old, ...rest } = state;
  return isField(field) ? { ...rest, field } : rest;
}
// The selector shows the search's field; the match mode does not apply to a phrase looked for in one field.
function showField(state) {
  const field = state.kind === "text" && isField(state.field) ? state.field : "";
  $("field").value = field;
  $("mode").disabled = field !== "";
}
$("field").onchange = () => {
  $("mode").disabled = isField($("field").value);
  if (current && current.kind === "text" && !current.fb) run(withField(current, $("field").value));
};
$("image").onchange = () => searchFile($("image").files[0]);
const drop = $("drop");
drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => { event.preventDefault(); drop.classList.remove("over"); searchFile(event.dataTransfer.files[0]); });
document.addEventListener("paste", (event) => {
  const file = [...(event.clipboardData || {}).files || []].find((f) => f.type.startsWith("image/"));
  if (file) { event.preventDefault(); searchFile(file); }
});
document.addEventListener("keydown", (event) => {
  const typing = ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName);
  if (event.key === "/" && !typing) { event.preventDefault(); $("q").focus(); }
});
$("more").onclick = more;
$("per-shot").onchange = () => { if (current) run({ ...current, per: $("per-shot").checked ? "shot" : "file" }); };
$("rerank").onclick = rerank;
$("undo").onclick = undo;
$("start-over").onclick = startOver;
window.addEventListener("popstate", (event) => {
  const closedViewer = viewerPopped();
  const state = (event.state && event.state.search) || event.state || fromURL();
  if (state && current && toURL(state) === toURL(current) && (closedViewer || (event.state && event.state.viewer))) return;
  if (state) run(state, false);
  else { current = null; $("results").replaceChildren(); $("status").textContent = ""; updateFeedbackBar(); }
});
// A link such as /?q=cat (or /?similar=12, with feedback marks) reproduces that search. After every script
// has run (cards.js, viewer.js, collection.js): an answer must not arrive before render() exists.
window.addEventListener("DOMContentLoaded", async () => {
  // A token kept from earlier in this tab: renew the media cookie before images load.
  if (token()) await fetch("/api/session", { method: "POST", headers: { Authorization: "Bearer " + token() } }).catch(() => {});
  try { JSON.parse(localStorage.getItem("mmir-recent") || "[]").slice(0, 12).forEach((r) => $("recent").append(el("option", { value: r }))); } catch (_) { /* none */ }
  const state = fromURL();
  if (state) { history.replaceState(state, "", toURL(state)); run(state, false); }
  else if (location.search.length > 1) $("error").textContent = "Error: this link does not hold a search this page understands (a file number must be a positive whole number).";
});
