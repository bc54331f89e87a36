// mmir web UI: the large view. Previous/next (buttons, arrow keys, swipe), the preview picture with the
// original a click away (open or download), a video shot played from its start with its range marked on a
// timeline, "Similar" for the item or the shot shown; Escape, the close button and the browser's Back close it.
// Loaded after app.js, whose helpers it uses ($, el, api, run, timeText, isVideo, thumbURL, altText, gone,
// similarState, PREVIEW, saidAt, playFrom); app.js calls openViewer and viewerPopped only on user actions.
"use strict";
let viewerAt = -1; // index of the shown card among the result cards
let viewerSeq = 0; // details requests that cannot cross: only the newest item's details are shown
let closingByHistory = false;
let backFromViewer = false; // the viewer closed itself and went back past its own history entry
let afterBack = null; // what to do once that Back has landed (a search started from the viewer)

const cards = () => [...document.querySelectorAll("#results .hit:not([hidden])")]; // near-duplicates folded away skip

function viewerMedia(hit) {
  if (isVideo(hit)) {
    const from = playFrom(hit); // a speech hit starts where its words were said (cards.js)
    const video = el("video", { src: `${hit.url}#t=${from},${hit.end}`, preload: "metadata", controls: true, playsInline: true });
    video.setAttribute("aria-label", altText(hit));
    video.addEventListener("loadedmetadata", () => {
      video.currentTime = from;
      markTimeline(hit, video.duration);
      video.play().catch(() => {});
    }, { once: true });
    video.addEventListener("error", () => gone(video, hit), { once: true });
    return video;
  }
  const img = el("img", { src: thumbURL(hit, PREVIEW), alt: altText(hit), decoding: "async" });
  img.addEventListener("error", () => gone(img, hit), { once: true });
  return img;
}

// The shot's range on a bar as long as the whole video (the player's own bar cannot be marked).
function markTimeline(hit, duration) {
  const line = $("viewer-timeline");
  if (!isVideo(hit) || !(duration > 0) || !Number.isFinite(duration)) { line.hidden = true; return; }
  const range = line.querySelector(".shot");
  range.style.left = `${(100 * hit.start / duration).toFixed(2)}%`;
  range.style.width = `${Math.max(0.5, 100 * (hit.end - hit.start) / duration).toFixed(2)}%`;
  line.setAttribute("aria-label", `this shot: ${timeText(hit.start)} to ${timeText(hit.end)} of ${timeText(duration)}`);
  line.hidden = false;
}

function showInViewer(at) {
  const list = cards();
  if (at < 0 || at >= list.length) return;
  viewerAt = at;
  const hit = list[at].hit;
  const seq = ++viewerSeq;
  $("viewer-timeline").hidden = true;
  $("viewer").querySelector(".viewer-media").replaceChildren(viewerMedia(hit));
  $("viewer-title").textContent = hit.name;
  $("viewer-count").textContent = `${at + 1} of ${list.length}`;
  $("viewer-why").textContent = hit.why.join("; ");
  $("viewer-prev").disabled = at === 0;
  $("viewer-next").disabled = at === list.length - 1;
  $("viewer-open").href = hit.url;
  $("viewer-download").href = hit.url;
  $("viewer-download").download = hit.name;
  $("viewer-similar").textContent = isVideo(hit) ? "Similar to this shot" : "Similar";
  $("viewer-similar").onclick = () => thenClose(() => run(similarState(hit)));
  const meta = $("viewer-meta");
  meta.replaceChildren();
  const add = (key, value) => meta.append(el("dt", { textContent: key }), el("dd", { textContent: value }));
  add("score", scoreText(hit.score));
  if (isVideo(hit)) add("shot", `${timeText(hit.start)}–${timeText(hit.end)}`);
  if (saidAt(hit) !== null) add("said at", `${saidAt(hit).toFixed(1)} s`);
  viewerDetails(hit, seq, add);
}

async function viewerDetails(hit, seq, add) {
  try {
    const item = await api(`/api/item/${hit.media_id}`);
    if (seq !== viewerSeq) return;
    add("path", item.path);
    add("kind", item.kind);
    add("size", item.size >= 1048576 ? `${(item.size / 1048576).toFixed(1)} MB` : `${(item.size / 1024).toFixed(1)} KB`);
    add("modified", new Date(item.mtime * 1000).toLocaleString());
  } catch (error) { if (seq === viewerSeq) add("details", "unavailable: " + error.message); }
}

function openViewer(item) {
  const dialog = $("viewer");
  showInViewer(cards().indexOf(item));
  if (!dialog.open) {
    // An entry of its own in the history (same URL), so the browser's Back closes the large view.
    history.pushState({ search: current, viewer: true }, "", location.href);
    dialog.showModal();
  }
}

// Close, and run ``next`` once the viewer's history entry is gone (a new search must not land under it).
function thenClose(next) {
  const own = history.state && history.state.viewer;
  if (own) afterBack = next;
  $("viewer").close();
  if (!own) next();
}

function stepViewer(by) {
  if ($("viewer").open) showInViewer(viewerAt + by);
}

// Called by app.js on popstate: close the viewer if open; true when only the viewer entry was left.
function viewerPopped() {
  const dialog = $("viewer");
  if (backFromViewer) {
    backFromViewer = false;
    const next = afterBack;
    afterBack = null;
    if (next) setTimeout(next, 0);
    return true;
  }
  if (!dialog.open) return false;
  closingByHistory = true;
  dialog.close();
  return true;
}

(() => {
  const dialog = $("viewer");
  dialog.addEventListener("close", () => {
    const video = dialog.querySelector("video");
    if (video) video.pause();
    const own = history.state && history.state.viewer;
    if (!closingByHistory && own) { backFromViewer = true; history.back(); } // Escape or ✕: drop the viewer's entry
    closingByHistory = false;
    const shown = cards()[viewerAt];
    if (shown) shown.querySelector(".open").focus();
  });
  $("viewer-close").onclick = () => dialog.close();
  $("viewer-prev").onclick = () => stepViewer(-1);
  $("viewer-next").onclick = () => stepViewer(1);
  dialog.addEventListener("keydown", (event) => {
    if (event.target.tagName === "VIDEO" && ["ArrowLeft", "ArrowRight"].includes(event.key)) return; // seeking
    if (event.key === "ArrowRight") { event.preventDefault(); stepViewer(1); }
    if (event.key === "ArrowLeft") { event.preventDefault(); stepViewer(-1); }
  });
  let touch = null;
  dialog.addEventListener("touchstart", (event) => { touch = event.touches[0]; }, { passive: true });
  dialog.addEventListener("touchend", (event) => {
    const end = event.changedTouches[0];
    if (!touch || !end) return;
    const dx = end.clientX - touch.clientX;
    const dy = end.clientY - touch.clientY;
    touch = null;
    if (Math.abs(dx) > 50 && Math.abs(dx) > 2 * Math.abs(dy)) stepViewer(dx < 0 ? 1 : -1);
  });
})();
