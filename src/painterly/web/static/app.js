// painterly studio: the page talks to the same JSON API scripts use (/docs).
"use strict";

const $ = (id) => document.getElementById(id);
const state = { files: [], style: null, styleFile: null, methods: {}, jobs: [] };
const STORE_KEY = "painterly.jobs";

async function api(path, options) {
  const response = await fetch(path, options);
  const type = response.headers.get("content-type") || "";
  const body = type.includes("json") ? await response.json() : null;
  if (!response.ok) {
    throw new Error((body && body.detail) || `${response.status} ${response.statusText}`);
  }
  return body;
}

function say(text) { $("message").textContent = text || ""; }

function updateGo() {
  $("go").disabled = !(state.files.length && (state.style || state.styleFile));
}

// ---------------------------------------------------------------- photos

function addFiles(list) {
  for (const file of list) {
    state.files.push(file);
    const item = document.createElement("li");
    const img = document.createElement("img");
    img.alt = file.name;
    img.src = URL.createObjectURL(file);
    item.appendChild(img);
    $("chosen").appendChild(item);
  }
  updateGo();
}

function setUpDropzone() {
  const zone = $("dropzone");
  for (const name of ["dragenter", "dragover"]) {
    zone.addEventListener(name, (e) => { e.preventDefault(); zone.classList.add("over"); });
  }
  for (const name of ["dragleave", "drop"]) {
    zone.addEventListener(name, (e) => { e.preventDefault(); zone.classList.remove("over"); });
  }
  zone.addEventListener("drop", (e) => addFiles(e.dataTransfer.files));
  zone.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") $("photos").click(); });
  $("photos").addEventListener("change", (e) => { addFiles(e.target.files); e.target.value = ""; });
}

// ---------------------------------------------------------------- styles and methods

function chooseStyle(name) {
  state.style = name;
  state.styleFile = null;
  $("style-image").value = "";
  $("own-style-name").textContent = "";
  for (const el of document.querySelectorAll(".style")) {
    el.setAttribute("aria-checked", String(el.dataset.name === name));
  }
  updateGo();
}

async function loadStyles() {
  const styles = await api("/api/styles");
  const gallery = $("gallery");
  for (const s of styles) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "style";
    button.dataset.name = s.name;
    button.setAttribute("role", "radio");
    button.setAttribute("aria-checked", "false");
    button.title = `${s.title}, ${s.artist} — ${s.methods.join(", ")}`;
    const img = document.createElement("img");
    img.loading = "lazy";
    img.alt = s.title;
    img.src = s.thumbnail;
    const label = document.createElement("span");
    label.textContent = s.title.replace(/\s*\(.*\)$/, "");
    const methods = document.createElement("small");
    methods.textContent = s.methods.join(" · ");
    button.append(img, label, methods);
    button.addEventListener("click", () => chooseStyle(s.name));
    gallery.appendChild(button);
  }
  $("style-image").addEventListener("change", (e) => {
    const file = e.target.files[0];
    if (!file) return;
    state.style = null;
    state.styleFile = file;
    for (const el of document.querySelectorAll(".style")) el.setAttribute("aria-checked", "false");
    $("own-style-name").textContent = `using ${file.name}`;
    updateGo();
  });
}

async function loadMethods() {
  state.methods = await api("/api/methods");
  for (const option of $("method").options) {
    const info = state.methods[option.value];
    if (info && !info.available) {
      option.disabled = true;
      option.textContent += " — not installed";
      option.title = info.reason;
    }
  }
}

// ---------------------------------------------------------------- jobs

function saveJobs() {
  localStorage.setItem(STORE_KEY, JSON.stringify(state.jobs.map((j) => j.id)));
}

function jobCard(id, title) {
  const item = document.createElement("li");
  item.className = "result";
  item.id = `job-${id}`;
  item.innerHTML = `<div class="picture"></div><div class="meta"></div><progress max="1" value="0"></progress>
    <div class="error"></div><a class="download" hidden>download</a>`;
  item.querySelector(".meta").textContent = title;
  $("results").prepend(item);
  return item;
}

function render(job) {
  const card = $(`job-${job.id}`) || jobCard(job.id, "");
  const style = job.style || "own painting";
  card.querySelector(".meta").textContent =
    `${job.filename} · ${style} · ${job.method} · ${job.status}` + (job.seconds != null ? ` · ${job.seconds.toFixed(1)} s` : "");
  const bar = card.querySelector("progress");
  bar.value = job.progress;
  bar.hidden = job.status === "done" || job.status === "failed";
  card.querySelector(".error").textContent = job.error || "";
  if (job.status === "done" && !card.querySelector("img")) {
    const img = document.createElement("img");
    img.alt = `${job.filename} in ${style}`;
    img.src = job.result;
    card.querySelector(".picture").appendChild(img);
    const link = card.querySelector(".download");
    link.href = `${job.result}?download=1`;
    link.setAttribute("download", `${job.filename}_${job.style || "own_style"}.png`);
    link.hidden = false;
  }
  updateZip();
}

function updateZip() {
  const done = state.jobs.filter((j) => j.status === "done").map((j) => j.id);
  const link = $("download-all");
  link.hidden = done.length === 0;
  link.href = `/api/results.zip?ids=${done.join(",")}`;
  $("clear").hidden = state.jobs.length === 0;
}

async function poll(job) {
  while (job.status === "queued" || job.status === "running") {
    await new Promise((r) => setTimeout(r, job.method === "optimize" ? 1000 : 400));
    try {
      Object.assign(job, await api(`/api/jobs/${job.id}`));
    } catch (err) {
      job.status = "failed";
      job.error = err.message;
    }
    render(job);
  }
}

async function submit() {
  say("");
  $("go").disabled = true;
  const method = $("method").value;
  const files = state.files;          // what was chosen when the button was pressed
  state.files = [];
  $("chosen").innerHTML = "";
  for (const file of files) {
    const form = new FormData();
    form.append("content", file, file.name);
    if (state.styleFile) form.append("style_image", state.styleFile, state.styleFile.name);
    else form.append("style", state.style);
    form.append("method", method);
    form.append("strength", $("strength").value);
    form.append("detail", $("detail").value);
    form.append("size", $("size").value);
    form.append("preserve_color", $("preserve-color").checked ? "true" : "false");
    if (method === "optimize" || method === "auto") form.append("iterations", $("iterations").value);
    try {
      const created = await api("/api/jobs", { method: "POST", body: form });
      const job = { id: created.id, status: created.status, progress: 0, filename: file.name,
                    style: state.style, method, error: null };
      state.jobs.push(job);
      saveJobs();
      render(job);
      poll(job);
    } catch (err) {
      say(`${file.name}: ${err.message}`);
    }
  }
  updateGo();
}

async function restoreJobs() {
  let ids = [];
  try { ids = JSON.parse(localStorage.getItem(STORE_KEY) || "[]"); } catch (e) { ids = []; }
  for (const id of ids) {
    try {
      const job = await api(`/api/jobs/${id}`);
      state.jobs.push(job);
      render(job);
      poll(job);
    } catch (e) { /* gone: forget it */ }
  }
  saveJobs();
}

// ---------------------------------------------------------------- webcam

async function webcam() {
  const button = $("webcam");
  if (state.stream) {
    state.stream.getTracks().forEach((t) => t.stop());
    state.stream = null;
    button.textContent = "start webcam";
    return;
  }
  if (!state.style) { say("choose a style with a fast network for the webcam"); return; }
  try {
    state.stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640 }, audio: false });
  } catch (err) { say(`webcam: ${err.message}`); return; }
  button.textContent = "stop webcam";
  const video = $("camera");
  video.srcObject = state.stream;
  video.hidden = false;
  $("live").hidden = false;
  const canvas = document.createElement("canvas");
  let frames = 0, since = performance.now();
  while (state.stream) {
    if (!video.videoWidth) { await new Promise((r) => setTimeout(r, 100)); continue; }
    const scale = 320 / Math.max(video.videoWidth, video.videoHeight);
    canvas.width = Math.round(video.videoWidth * scale);
    canvas.height = Math.round(video.videoHeight * scale);
    canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
    const blob = await new Promise((r) => canvas.toBlob(r, "image/jpeg", 0.85));
    const form = new FormData();
    form.append("frame", blob, "frame.jpg");
    form.append("style", state.style);
    const response = await fetch("/api/frame", { method: "POST", body: form });
    if (!response.ok) { say(`webcam: ${(await response.json()).detail}`); break; }
    const old = $("live").src;
    $("live").src = URL.createObjectURL(await response.blob());
    if (old) URL.revokeObjectURL(old);
    frames += 1;
    const now = performance.now();
    if (now - since > 1000) { $("webcam-fps").textContent = `${(frames * 1000 / (now - since)).toFixed(1)} fps`; frames = 0; since = now; }
  }
  if (state.stream) webcam();
}

// ---------------------------------------------------------------- start

window.addEventListener("DOMContentLoaded", async () => {
  setUpDropzone();
  $("strength").addEventListener("input", (e) => { $("strength-value").textContent = Number(e.target.value).toFixed(2); });
  $("detail").addEventListener("input", (e) => { $("detail-value").textContent = Number(e.target.value).toFixed(1); });
  $("go").addEventListener("click", submit);
  $("method").addEventListener("change", (e) => {
    $("iterations-label").hidden = !["auto", "optimize"].includes(e.target.value);
  });
  $("webcam").addEventListener("click", webcam);
  $("clear").addEventListener("click", () => { state.jobs = []; saveJobs(); $("results").innerHTML = ""; updateZip(); });
  try {
    await Promise.all([loadStyles(), loadMethods()]);
    await restoreJobs();
  } catch (err) {
    say(`cannot reach the server: ${err.message}`);
  }
  document.body.dataset.ready = "true";
});
