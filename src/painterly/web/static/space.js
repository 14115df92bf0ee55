// painterly style space: a photo along the latent path between two styles (API at /docs).
"use strict";

const $ = (id) => document.getElementById(id);
const STORE_KEY = "painterly.space";
const state = {
  info: null,            // GET /api/space
  ends: new Map(),       // name -> {label, held_out}
  upload: null,          // {id, filename}
  cache: new Map(),      // path key -> Map(t as "0.45" -> render URL)
  pending: new Map(),    // path key + t -> promise of a render URL
  shownUrl: null,
  prefetchToken: 0,
  timer: null,
};

async function api(path, options) {
  const response = await fetch(path, options);
  const type = response.headers.get("content-type") || "";
  const body = type.includes("json") ? await response.json() : null;
  if (!response.ok) throw new Error((body && body.detail) || `${response.status} ${response.statusText}`);
  return body;
}

const postJson = (path, body) =>
  api(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

function say(text) { $("message").textContent = text || ""; }
const tKey = (t) => Number(t).toFixed(2);
const styleA = () => $("style-a").value.trim();
const styleB = () => $("style-b").value.trim();
const size = () => Number($("size").value);
const currentT = () => Number($("t").value);

function ready() {
  return Boolean(state.info && state.info.installed && state.upload && state.ends.has(styleA()) && state.ends.has(styleB()));
}

function pathKey() { return `${state.upload && state.upload.id}|${styleA()}|${styleB()}|${size()}`; }

function pathCache(key = pathKey()) {
  if (!state.cache.has(key)) state.cache.set(key, new Map());
  return state.cache.get(key);
}

function remember() {
  localStorage.setItem(STORE_KEY, JSON.stringify({ upload: state.upload, a: styleA(), b: styleB(), size: size(), t: currentT() }));
}

// ---------------------------------------------------------------- preview

function show(url) {
  const img = $("preview");
  if (url && url !== state.shownUrl) {
    img.src = url;
    state.shownUrl = url;
  }
  img.hidden = !url;
  $("preview-empty").hidden = Boolean(url);
}

function nearestCached(t) {
  let best = null;
  for (const [key, url] of pathCache()) {
    const d = Math.abs(Number(key) - t);
    if (best === null || d < best.d) best = { d, key, url };
  }
  return best;
}

function showCurrent() {
  const t = currentT();
  $("t-value").textContent = tKey(t);
  updateCommands();
  if (!ready()) { $("preview-note").textContent = ""; return false; }
  const exact = pathCache().get(tKey(t));
  if (exact) {
    show(exact);
    $("preview-note").textContent = "";
    return true;
  }
  const near = nearestCached(t);
  if (near) {
    show(near.url);
    $("preview-note").textContent = `(showing t = ${near.key} while t = ${tKey(t)} renders…)`;
  } else {
    $("preview-note").textContent = "(rendering…)";
  }
  return false;
}

function renderPoint(t) {
  const key = pathKey();
  const wanted = `${key}|${tKey(t)}`;
  if (state.pending.has(wanted)) return state.pending.get(wanted);
  const body = { upload: state.upload.id, a: styleA(), b: styleB(), t, size: size() };
  const promise = (async () => {
    let point = await postJson("/api/space/render", body);
    let url = point.result;
    while (!url) {
      await new Promise((r) => setTimeout(r, state.info.method === "adain" ? 150 : 500));
      const job = await api(`/api/jobs/${point.id}`);
      if (job.status === "failed") throw new Error(job.error || "the render failed");
      if (pathKey() === key && tKey(currentT()) === tKey(t)) {
        $("point-progress").hidden = false;
        $("point-progress").value = job.progress;
      }
      if (job.status === "done") url = job.image;
    }
    pathCache(key).set(tKey(point.t), url);
    return url;
  })();
  state.pending.set(wanted, promise);
  promise.finally(() => state.pending.delete(wanted)).catch(() => {});
  return promise;
}

async function requestCurrent() {
  if (showCurrent() || !ready()) return;
  const key = pathKey(), t = currentT();
  try {
    await renderPoint(t);
    if (pathKey() === key) {
      if (tKey(currentT()) === tKey(t)) $("point-progress").hidden = true;
      showCurrent();
      updateStrip();
    }
  } catch (err) {
    $("point-progress").hidden = true;
    say(err.message);
  }
}

function onSlide() {
  showCurrent();
  remember();
  clearTimeout(state.timer);
  state.timer = setTimeout(requestCurrent, 150);
}

// ---------------------------------------------------------------- the whole path

function updateStrip() {
  const strip = $("strip");
  strip.innerHTML = "";
  const points = [...pathCache().entries()].sort((x, y) => Number(x[0]) - Number(y[0]));
  for (const [key, url] of points) {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.title = `t = ${key}`;
    const img = document.createElement("img");
    img.src = url;
    img.alt = `t = ${key}`;
    const label = document.createElement("span");
    label.textContent = key;
    button.append(img, label);
    button.addEventListener("click", () => { $("t").value = key; onSlide(); });
    item.appendChild(button);
    strip.appendChild(item);
  }
}

function absorb(points, key) {
  const cache = pathCache(key);
  for (const p of points) if (p.result) cache.set(tKey(p.t), p.result);
}

async function refreshPath(points) {
  const key = pathKey();      // the answer belongs to the path asked about, whatever is chosen meanwhile
  const query = new URLSearchParams({ upload: state.upload.id, a: styleA(), b: styleB(), size: size(), points });
  const status = await api(`/api/space/path?${query}`);
  absorb(status.points, key);
  return status;
}

async function renderWholePath() {
  if (!ready()) return;
  say("");
  const token = ++state.prefetchToken;
  const key = pathKey();
  const points = Number($("points").value);
  const bar = $("path-progress");
  $("render-path").disabled = true;
  try {
    let status = await postJson("/api/space/prefetch",
      { upload: state.upload.id, a: styleA(), b: styleB(), size: size(), points });
    absorb(status.points, key);
    bar.hidden = false;
    while (token === state.prefetchToken && pathKey() === key) {
      bar.value = status.done / status.total;
      $("path-count").textContent = `${status.done} / ${status.total} points rendered`;
      showCurrent();
      updateStrip();
      if (status.done >= status.total) break;
      await new Promise((r) => setTimeout(r, 1000));
      status = await refreshPath(points);
      if (status.points.some((p) => p.status === "missing")) throw new Error("a point of the path failed to render");
    }
  } catch (err) {
    say(err.message);
  } finally {
    if (token === state.prefetchToken) $("render-path").disabled = !ready();
  }
}

// ---------------------------------------------------------------- choices

function quote(word) { return /^[A-Za-z0-9_./:@=+-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`; }

function updateCommands() {
  const info = state.info;
  if (!info || !info.installed) return;
  const photo = quote(state.upload ? state.upload.filename : "photo.jpg");
  const stem = (state.upload ? state.upload.filename : "photo").replace(/\.[^.]*$/, "").replace(/[^A-Za-z0-9_-]+/g, "_") || "photo";
  const a = styleA() || "A", b = styleB() || "B";
  const model = info.model ? ` --model ${quote(info.model)}` : "";
  const render = info.method === "optimize" ? ` --iterations ${info.defaults.iterations}` : "";
  $("command-path").textContent =
    `painterly style-path ${photo} ${quote(a)} ${quote(b)} --steps 8 --size ${size()}${render}${model} -o ${stem}_path/`;
  $("command-point").textContent =
    `painterly stylize ${photo} --style ${quote(`vae:${a}..${b}@${Number(tKey(currentT()))}`)} --size ${size()}${render}${model} -o ${stem}_vae.png`;
  $("command-note").textContent = "";
}

function checkStyle(input, which) {
  const name = input.value.trim();
  const ok = state.ends.has(name);
  input.classList.toggle("invalid", Boolean(name) && !ok);
  if (name && !ok) say(`${which}: ${JSON.stringify(name)} is not a style of this space; pick one from the list`);
  $(which === "A" ? "label-a" : "label-b").textContent = ok ? name : which;
  return ok;
}

function onChoice() {
  say("");
  checkStyle($("style-a"), "A");
  checkStyle($("style-b"), "B");
  $("render-path").disabled = !ready();
  $("path-count").textContent = "";
  $("path-progress").hidden = true;
  state.shownUrl = null;
  show(null);
  updateStrip();
  remember();
  if (!ready()) { showCurrent(); return; }
  const key = pathKey();
  refreshPath(Math.round(1 / state.info.defaults.t_step) + 1).then(() => {   // every point rendered before
    if (pathKey() === key) { updateStrip(); requestCurrent(); }
  }).catch((err) => say(err.message));
}

async function usePhoto(file) {
  say("");
  const form = new FormData();
  form.append("photo", file, file.name);
  try {
    const stored = await api("/api/uploads", { method: "POST", body: form });
    state.upload = { id: stored.id, filename: file.name };
    $("photo-preview").src = URL.createObjectURL(file);
    $("photo-preview").hidden = false;
    $("photo-name").textContent = `${file.name} · ${stored.width}×${stored.height}`;
    onChoice();
  } catch (err) {
    say(`${file.name}: ${err.message}`);
  }
}

function setUpPhoto() {
  const zone = $("dropzone");
  for (const name of ["dragenter", "dragover"]) zone.addEventListener(name, (e) => { e.preventDefault(); zone.classList.add("over"); });
  for (const name of ["dragleave", "drop"]) zone.addEventListener(name, (e) => { e.preventDefault(); zone.classList.remove("over"); });
  zone.addEventListener("drop", (e) => { if (e.dataTransfer.files[0]) usePhoto(e.dataTransfer.files[0]); });
  zone.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") $("photo").click(); });
  $("photo").addEventListener("change", (e) => { if (e.target.files[0]) usePhoto(e.target.files[0]); e.target.value = ""; });
}

function fillStyles(info) {
  const list = $("ends");
  const add = (name, label, heldOut) => {
    state.ends.set(name, { label, heldOut });
    const option = document.createElement("option");
    option.value = name;
    option.label = heldOut ? `${label} · held out (never trained on)` : label;
    list.appendChild(option);
  };
  for (const s of info.styles) add(s.name, `${s.title}, ${s.artist}`, s.held_out);
  for (const p of info.paintings) add(p.name, "painting in the space", p.held_out);
  const { points, iterations } = info.defaults;
  for (const n of [...new Set([5, 11, points])].filter((n) => n <= points).sort((x, y) => x - y)) {
    const option = new Option(`${n}`, `${n}`, false, n === Math.min(11, points));
    $("points").appendChild(option);
  }
  $("method-note").textContent = info.method === "adain"
    ? "Rendered with the AdaIN decoder: every point takes a fraction of a second."
    : `Rendered by optimisation (${iterations} steps per point, no AdaIN decoder installed): each point takes ` +
      "a while on a CPU, so render the whole path once and then slide.";
}

async function restore() {
  let saved = {};
  try { saved = JSON.parse(localStorage.getItem(STORE_KEY) || "{}"); } catch (e) { saved = {}; }
  const names = [...state.ends.keys()];
  const builtIns = state.info.styles.map((s) => s.name);
  const pick = (name, fallback) => (state.ends.has(name) ? name : fallback);
  $("style-a").value = pick(saved.a, builtIns[0] || names[0] || "");
  $("style-b").value = pick(saved.b, builtIns[1] || names[1] || names[0] || "");
  if ([...$("size").options].some((o) => Number(o.value) === saved.size)) $("size").value = String(saved.size);
  if (typeof saved.t === "number") $("t").value = String(saved.t);
  if (saved.upload && saved.upload.id) {
    const response = await fetch(`/api/uploads/${encodeURIComponent(saved.upload.id)}`);
    if (response.ok) {
      state.upload = saved.upload;
      $("photo-preview").src = URL.createObjectURL(await response.blob());
      $("photo-preview").hidden = false;
      $("photo-name").textContent = saved.upload.filename;
    }
  }
}

// ---------------------------------------------------------------- start

window.addEventListener("DOMContentLoaded", async () => {
  try {
    state.info = await api("/api/space");
  } catch (err) {
    say(`cannot reach the server: ${err.message}`);
    document.body.dataset.ready = "true";
    return;
  }
  const info = state.info;
  if (!info.installed) {
    const notice = $("not-installed");
    notice.textContent = `No style space here: ${info.reason}`;
    notice.hidden = false;
    for (const id of ["photo", "style-a", "style-b", "size", "swap", "t", "points"]) $(id).disabled = true;
    $("dropzone").classList.add("disabled");
    document.body.dataset.ready = "true";
    return;
  }
  fillStyles(info);
  setUpPhoto();
  $("t").step = String(info.defaults.t_step);
  $("t").addEventListener("input", onSlide);
  for (const id of ["style-a", "style-b"]) $(id).addEventListener("change", onChoice);
  $("size").addEventListener("change", onChoice);
  $("swap").addEventListener("click", () => {
    [$("style-a").value, $("style-b").value] = [styleB(), styleA()];
    onChoice();
  });
  $("render-path").addEventListener("click", renderWholePath);
  try {
    await restore();
  } catch (err) {
    say(err.message);
  }
  onChoice();
  document.body.dataset.ready = "true";
});
