// mmir web UI: result cards. Thumbnails (lazy, 256 px), alt text from the file's concepts and time range, a
// file gone since indexing shown as such, one tab stop per card with keys for its actions, and near-duplicates
// folded into one card on request. Loaded after app.js ($, el, api, run, marks, current, PAGE).
"use strict";
function timeText(seconds) {
  const s = Math.max(0, Math.round(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

const isVideo = (hit) => hit.start !== null && hit.start !== undefined;
// Where a video hit's player starts: the second its matched speech was said (said_at), else the shot's start.
const saidAt = (hit) => (isVideo(hit) && typeof hit.said_at === "number" ? hit.said_at : null);
const playFrom = (hit) => (saidAt(hit) === null ? hit.start : Math.min(Math.max(saidAt(hit), hit.start), hit.end));
const THUMB = 256; // card thumbnails; the large view asks for PREVIEW
const PREVIEW = 1280;

function thumbURL(hit, size) {
  return `${hit.url}/thumb?size=${size}` + (isVideo(hit) ? `&segment=${hit.segment_id}` : "");
}

function altText(hit) {
  const what = isVideo(hit) ? `video ${hit.name}, shot ${timeText(hit.start)} to ${timeText(hit.end)}` : `photo ${hit.name}`;
  return hit.why && hit.why.length ? `${what}: ${hit.why.slice(0, 2).join("; ")}` : what;
}

// A file deleted or changed since indexing: say so instead of showing a broken image.
function gone(node, hit) {
  const note = el("div", { className: "gone", textContent: "file missing or changed since indexing" });
  note.setAttribute("role", "img");
  note.setAttribute("aria-label", `${hit.name}: file missing or changed since indexing`);
  node.replaceWith(note);
  const item = note.closest(".hit");
  if (item) item.classList.add("missing");
}

function cardPicture(hit) {
  const img = el("img", { src: thumbURL(hit, THUMB), alt: altText(hit), loading: "lazy", decoding: "async", width: THUMB, height: 160 });
  img.addEventListener("error", () => gone(img, hit), { once: true });
  if (!isVideo(hit)) return img;
  return el("span", { className: "poster" }, img, el("span", { className: "badge", textContent: `▶ ${timeText(hit.start)}–${timeText(hit.end)}` }));
}

function markButton(hit, value, label, card) {
  const button = el("button", { type: "button", textContent: label });
  button.setAttribute("aria-pressed", String(marks.get(markKey(hit)) === value));
  button.setAttribute("aria-label", `${label}: ${hit.name}`);
  button.className = value > 0 ? "mark-good" : "mark-bad";
  button.onclick = () => {
    if (marks.get(markKey(hit)) === value) marks.delete(markKey(hit)); else marks.set(markKey(hit), value);
    for (const b of card.querySelectorAll(".mark-good, .mark-bad")) {
      b.setAttribute("aria-pressed", String(marks.get(markKey(hit)) === (b.className === "mark-good" ? 1 : -1)));
    }
    card.classList.toggle("relevant", marks.get(markKey(hit)) === 1);
    card.classList.toggle("irrelevant", marks.get(markKey(hit)) === -1);
    updateFeedbackBar();
  };
  return button;
}

// Scores in words that fit their scale: a classifier's probability, a cosine similarity, a keyword score.
function scoreText(score) {
  if (current && current.fb && current.fb.method === "classifier") return `${Math.round(100 * score)} % likely relevant`;
  if (current && (current.fb || current.kind !== "text")) return `similarity ${score.toFixed(2)}`;
  return `score ${score.toFixed(3)}`;
}

// "Similar" for a video shot sends the shot (segment), not the whole video.
function similarState(hit) {
  return isVideo(hit) ? { kind: "similar", id: hit.media_id, shot: hit.segment_id } : { kind: "similar", id: hit.media_id };
}

function card(hit) {
  const item = el("li", { className: "hit" });
  item.dataset.mediaId = hit.media_id;
  item.hit = hit;
  // One tab stop per card (roving tabindex): the picture button; its actions by keys (R, N, S), arrows move.
  const open = el("button", { type: "button", className: "open", tabIndex: -1 }, cardPicture(hit));
  open.setAttribute("aria-label", `open ${hit.name}`);
  open.setAttribute("aria-keyshortcuts", "R N S");
  open.setAttribute("aria-describedby", "card-keys");
  open.onclick = () => openViewer(item);
  const title = el("div", { className: "name", textContent: `${hit.rank}. ${hit.name}` });
  const score = el("div", { className: "score", textContent: scoreText(hit.score) });
  const meta = el("div", { className: "meta" }, title, score, el("div", { className: "why", textContent: hit.why.join("; ") }));
  if (isVideo(hit)) meta.append(el("div", { className: "range", textContent: `shot ${timeText(hit.start)}–${timeText(hit.end)}` }));
  if (saidAt(hit) !== null) meta.append(el("div", { className: "said", textContent: `▶ plays from ${timeText(saidAt(hit))}, where it is said` }));
  const similar = el("button", { type: "button", textContent: "Similar", className: "similar" });
  similar.setAttribute("aria-label", isVideo(hit) ? `similar to this shot of ${hit.name}` : `files similar to ${hit.name}`);
  similar.onclick = () => run(similarState(hit));
  const actions = el("div", { className: "actions" }, markButton(hit, 1, "Relevant", item), markButton(hit, -1, "Not relevant", item), similar);
  for (const button of actions.children) button.tabIndex = -1; // reached by keys on the card, or by pointer
  item.append(open, meta, actions);
  item.classList.toggle("relevant", marks.get(markKey(hit)) === 1);
  item.classList.toggle("irrelevant", marks.get(markKey(hit)) === -1);
  return item;
}

function render(hits, append) {
  const list = $("results");
  if (!append) list.replaceChildren();
  const top = append ? Number(list.dataset.top || 0) : (hits[0] ? hits[0].score : 0);
  list.dataset.top = top;
  for (const hit of hits) {
    // A visible cut-off: keyword scores far below the best one are mostly noise.
    if (current.kind === "text" && !current.fb && !list.querySelector(".cutoff") && top > 0 && hit.score < top * 0.25) {
      list.append(el("li", { className: "cutoff", textContent: "weaker matches below" }));
    }
    list.append(card(hit));
  }
  $("more").hidden = hits.length < PAGE;
  groupDuplicates();
  if (!list.querySelector('.open[tabindex="0"]')) {
    const first = list.querySelector(".open");
    if (first) first.tabIndex = 0;
  }
}

// ---- near-duplicates: one card per group, the others behind a "+N" button ------------------------------
let dupGroups = null; // media id -> group number, fetched once per page load when the view is on

async function groupDuplicates() {
  const on = $("group-dups").checked;
  const list = $("results");
  for (const badge of list.querySelectorAll(".dups")) badge.remove();
  for (const card of list.querySelectorAll(".hit.dup")) { card.hidden = false; card.classList.remove("dup"); }
  if (!on) return;
  if (!dupGroups) {
    try {
      const { groups } = await api("/api/duplicates");
      dupGroups = new Map(groups.flatMap((ids, group) => ids.map((id) => [id, group])));
    } catch (error) { $("error").textContent = "Error: " + error.message; return; }
    if (!$("group-dups").checked) return;
  }
  const leaders = new Map(); // group -> [first card, hidden cards]
  for (const card of list.querySelectorAll(".hit")) {
    const group = dupGroups.get(card.hit.media_id);
    if (group === undefined) continue;
    if (!leaders.has(group)) { leaders.set(group, [card, []]); continue; }
    card.hidden = true;
    card.classList.add("dup");
    leaders.get(group)[1].push(card);
  }
  for (const [leader, hidden] of leaders.values()) {
    if (!hidden.length) continue;
    const badge = el("button", { type: "button", className: "dups", textContent: `+${hidden.length} near-duplicate${hidden.length > 1 ? "s" : ""}` });
    badge.setAttribute("aria-label", `show ${hidden.length} near-duplicates of ${leader.hit.name}`);
    badge.onclick = () => { hidden.forEach((card) => { card.hidden = false; }); badge.remove(); };
    leader.querySelector(".actions").append(badge);
  }
}

// Keys on a focused card: arrows, Home and End move between cards; R, N, S mark or ask for similar ones.
function cardKeys(event) {
  const open = event.target.closest(".open");
  if (!open || event.ctrlKey || event.metaKey || event.altKey) return;
  const all = [...$("results").querySelectorAll(".hit:not([hidden]) .open")];
  const at = all.indexOf(open);
  const columns = Math.max(1, all.filter((o) => o.offsetTop === all[0].offsetTop).length);
  const moves = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns, ArrowUp: -columns, Home: -at, End: all.length - 1 - at };
  const actions = { r: ".mark-good", n: ".mark-bad", s: ".similar" };
  if (event.key in moves) {
    event.preventDefault();
    const next = all[Math.min(all.length - 1, Math.max(0, at + moves[event.key]))];
    if (next) next.focus();
  } else if (event.key.toLowerCase() in actions) {
    event.preventDefault();
    open.closest(".hit").querySelector(actions[event.key.toLowerCase()]).click();
  }
}

function rove(event) {
  const open = event.target.closest(".open");
  if (!open) return;
  for (const other of $("results").querySelectorAll('.open[tabindex="0"]')) other.tabIndex = -1;
  open.tabIndex = 0;
}

$("group-dups").checked = localStorage.getItem("mmir-group-dups") === "1";
$("group-dups").onchange = () => {
  try { localStorage.setItem("mmir-group-dups", $("group-dups").checked ? "1" : "0"); } catch (_) { /* off */ }
  groupDuplicates();
};
$("results").addEventListener("keydown", cardKeys);
$("results").addEventListener("focusin", rove);
