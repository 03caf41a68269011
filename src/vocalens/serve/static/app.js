"use strict";
// The vocalens page: upload, poll the job, draw the result. Plain JS, no libraries, works offline.
const API = "api/v1/detections"; // relative: works behind a reverse proxy's path prefix
const $ = (id) => document.getElementById(id);
const COLORS = { prob: "#2c5cc5", thr: "#444", seg: "rgba(192,57,43,0.22)", segEdge: "rgba(192,57,43,0.8)",
  sim: "#7d3c98", grid: "#e4e7ec", text: "#667085", head: "#111" };

let token = localStorage.getItem("vocalens-token") || "";
let jobs = JSON.parse(sessionStorage.getItem("vocalens-jobs") || "[]"); // [{id, name, status, verdict, p}]
const videoUrls = {}; // job id -> object URL of the video (the dropped file, or fetched once)
let selected = null; // job id shown
let shown = null; // the result drawn: the detections.json entry
let polling = false;

function saveJobs() { sessionStorage.setItem("vocalens-jobs", JSON.stringify(jobs)); }
function authHeaders() { return token ? { Authorization: "Bearer " + token } : {}; }

async function api(path, opts = {}) {
  const r = await fetch(path, { ...opts, headers: { ...authHeaders(), ...(opts.headers || {}) } });
  if (r.status === 401) { $("auth").hidden = false; throw new Error("this server needs a token"); }
  return r;
}

async function detail(r) {
  try { const j = await r.json(); return typeof j.detail === "string" ? j.detail : JSON.stringify(j.detail); }
  catch (e) { return r.status + " " + r.statusText; }
}

function fmtTime(s) {
  const m = Math.floor(s / 60), r = s - 60 * m;
  return String(m).padStart(2, "0") + ":" + r.toFixed(3).padStart(6, "0");
}

// ------------------------------------------------------------------ upload

function upload(file) {
  $("drop-error").hidden = true;
  $("upload").hidden = false;
  $("upload-bar").style.width = "0%";
  $("upload-text").textContent = "Uploading " + file.name + " ...";
  const fd = new FormData();
  fd.append("file", file, file.name);
  const xhr = new XMLHttpRequest();
  xhr.open("POST", API);
  for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v);
  xhr.upload.onprogress = (e) => {
    if (!e.lengthComputable) return;
    const f = e.loaded / e.total;
    $("upload-bar").style.width = (100 * f).toFixed(1) + "%";
    $("upload-text").textContent = `Uploading ${file.name}: ${(e.loaded / 2 ** 20).toFixed(1)} of ${(e.total / 2 ** 20).toFixed(1)} MB`;
  };
  xhr.onload = () => {
    let body = {};
    try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
    if (xhr.status === 202) {
      $("upload").hidden = true;
      videoUrls[body.id] = URL.createObjectURL(file);
      jobs.unshift({ id: body.id, name: file.name, status: body.status });
      saveJobs();
      select(body.id);
      poll();
    } else {
      if (xhr.status === 401) $("auth").hidden = false;
      $("upload").hidden = true;
      showDropError(typeof body.detail === "string" ? body.detail : `upload failed (${xhr.status})`);
    }
  };
  xhr.onerror = () => { $("upload").hidden = true; showDropError("upload failed: the server did not answer"); };
  xhr.send(fd);
}

function showDropError(msg) { $("drop-error").textContent = msg; $("drop-error").hidden = false; }

// ------------------------------------------------------------------ jobs list and polling

function renderJobs() {
  const ul = $("jobs");
  ul.textContent = "";
  $("no-jobs").hidden = jobs.length > 0;
  for (const j of jobs) {
    const li = document.createElement("li");
    li.dataset.id = j.id;
    if (j.id === selected) li.className = "sel";
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = j.name;
    name.title = j.name;
    const badge = document.createElement("span");
    const label = j.status === "done" ? j.verdict : j.status;
    badge.className = "badge " + label;
    badge.textContent = j.status === "running" && j.progress != null ? `running ${Math.round(100 * j.progress)}%` : label;
    li.append(name, badge);
    li.onclick = () => select(j.id);
    ul.append(li);
  }
}

async function refresh(j) {
  let r;
  try { r = await api(`${API}/${j.id}`); } catch (e) { return null; }
  if (r.status === 404) { j.status = "expired"; return null; }
  if (!r.ok) return null;
  const body = await r.json();
  j.status = body.status;
  j.progress = body.progress;
  if (body.status === "done") { j.verdict = body.result.verdict; j.p = body.result.video_prob; }
  return body;
}

async function poll() {
  if (polling) return;
  polling = true;
  try {
    while (true) {
      const open = jobs.filter((j) => j.status === "queued" || j.status === "running");
      if (!open.length) break;
      for (const j of open) {
        const body = await refresh(j);
        if (j.id === selected && body) showJob(body);
      }
      saveJobs();
      renderJobs();
      await new Promise((res) => setTimeout(res, 700));
    }
  } finally { polling = false; saveJobs(); renderJobs(); }
}

async function select(id) {
  selected = id;
  renderJobs();
  const j = jobs.find((x) => x.id === id);
  $("result").hidden = false;
  const body = j ? await refresh(j) : null;
  saveJobs();
  renderJobs();
  if (body) showJob(body);
  else { shown = null; $("details").hidden = true; $("verdict").textContent = j ? j.name : "";
    $("job-state").textContent = "This job is gone from the server (results expire)."; $("job-bar-wrap").hidden = true; }
}

// ------------------------------------------------------------------ one job

function showJob(body) {
  const states = { queued: "Waiting in the queue" + (body.queue_position != null ? ` (${body.queue_position} ahead)` : ""),
    running: "Analysing: " + body.stage, done: "", failed: "Failed" };
  $("job-state").textContent = states[body.status] || body.status;
  $("job-bar-wrap").hidden = !(body.status === "queued" || body.status === "running");
  $("job-bar").style.width = (100 * (body.progress || 0)).toFixed(0) + "%";
  $("job-error").hidden = body.status !== "failed";
  $("job-error").textContent = body.error || "";
  const v = $("verdict");
  v.textContent = "";
  if (body.status !== "done") {
    v.textContent = body.name;
    v.dataset.verdict = "";
    $("details").hidden = true;
    $("warnings").textContent = "";
    shown = null;
    return;
  }
  const r = body.result;
  if (shown && shown.__job === body.id) return; // already drawn
  shown = r;
  shown.__job = body.id;
  const tag = document.createElement("span");
  tag.className = r.verdict;
  tag.textContent = r.verdict;
  v.dataset.verdict = r.verdict;
  v.append(tag, document.createTextNode(`  p = ${r.video_prob.toFixed(3)}  ·  ${body.name}  ·  ${r.duration.toFixed(1)} s`));
  $("job-state").textContent = `fake probability ${r.video_prob.toFixed(3)} (verdict threshold ${r.video_threshold.toFixed(3)}); ` +
    `frames above the frame threshold ${r.threshold.toFixed(3)}: ${(100 * r.fake_ratio_pred).toFixed(1)}%`;
  const w = $("warnings");
  w.textContent = "";
  for (const msg of r.warnings || []) { const li = document.createElement("li"); li.textContent = msg; w.append(li); }
  if (r.verdict === "UNCERTAIN" && !(r.warnings || []).length) {
    const li = document.createElement("li"); li.textContent = "probability close to the threshold"; w.append(li);
  }
  $("details").hidden = false;
  loadVideo(body.id);
  renderSegments(r);
  draw();
}

async function loadVideo(id) {
  const player = $("player");
  if (!videoUrls[id]) {
    try {
      const r = await api(`${API}/${id}/video`);
      if (!r.ok) return;
      videoUrls[id] = URL.createObjectURL(await r.blob());
    } catch (e) { return; }
  }
  if (selected === id && player.src !== videoUrls[id]) player.src = videoUrls[id];
}

function renderSegments(r) {
  const tbody = $("segments").querySelector("tbody");
  tbody.textContent = "";
  const segs = r.segments_sec || [];
  $("no-segments").hidden = segs.length > 0;
  $("segments").hidden = segs.length === 0;
  segs.forEach(([s, e, score], i) => {
    const tr = document.createElement("tr");
    tr.dataset.start = s;
    for (const cell of [i + 1, fmtTime(s), fmtTime(e), (e - s).toFixed(2) + " s", score.toFixed(3)]) {
      const td = document.createElement("td"); td.textContent = cell; tr.append(td);
    }
    tr.onclick = () => seek(s);
    tbody.append(tr);
  });
}

function seek(t) {
  const p = $("player");
  p.currentTime = t;
  draw();
}

// ------------------------------------------------------------------ the timeline

function geometry(c) {
  const pad = { l: 44, r: 10, t: 10, b: 22 };
  const W = c.width / devicePixelRatio, H = c.height / devicePixelRatio;
  const plotH = H - pad.t - pad.b;
  const hasSim = shown && Array.isArray(shown.similarity) && shown.similarity.length === shown.frame_probs.length;
  const probH = hasSim ? plotH * 0.6 : plotH;
  return { pad, W, H, hasSim, prob: [pad.t, pad.t + probH], sim: [pad.t + probH + 22, pad.t + plotH] };
}

function draw() {
  const c = $("timeline");
  if (!shown || c.offsetWidth === 0) return;
  const dpr = window.devicePixelRatio || 1;
  if (c.width !== Math.round(c.clientWidth * dpr) || c.height !== Math.round(c.clientHeight * dpr)) {
    c.width = Math.round(c.clientWidth * dpr);
    c.height = Math.round(c.clientHeight * dpr);
  }
  const g = c.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  const { pad, W, H, hasSim, prob, sim } = geometry(c);
  g.clearRect(0, 0, W, H);
  const r = shown, probs = r.frame_probs, n = probs.length, fps = r.fps, dur = n / fps;
  const x = (t) => pad.l + (W - pad.l - pad.r) * (t / dur);
  const yP = (p) => prob[1] - (prob[1] - prob[0]) * p;
  g.font = "11px system-ui, sans-serif";
  // grid and axes
  g.strokeStyle = COLORS.grid; g.fillStyle = COLORS.text; g.lineWidth = 1;
  for (const p of [0, 0.5, 1]) {
    g.beginPath(); g.moveTo(pad.l, yP(p)); g.lineTo(W - pad.r, yP(p)); g.stroke();
    g.fillText(p.toFixed(1), 8, yP(p) + 4);
  }
  const step = [0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600].find((s) => dur / s <= (W - pad.l) / 70) || 1200;
  for (let t = 0; t <= dur + 1e-9; t += step) {
    g.beginPath(); g.moveTo(x(t), prob[0]); g.lineTo(x(t), hasSim ? sim[1] : prob[1]); g.stroke();
    g.fillText(step < 1 ? t.toFixed(1) + "s" : Math.round(t) + "s", x(t) - 8, H - 6);
  }
  // fake segments as bands over both panels
  for (const [s, e] of r.segments_sec || []) {
    g.fillStyle = COLORS.seg;
    g.fillRect(x(s), prob[0], Math.max(1, x(e) - x(s)), (hasSim ? sim[1] : prob[1]) - prob[0]);
    g.fillStyle = COLORS.segEdge;
    g.fillRect(x(s), prob[0], Math.max(1, x(e) - x(s)), 4);
  }
  // threshold
  g.strokeStyle = COLORS.thr; g.setLineDash([5, 4]);
  g.beginPath(); g.moveTo(pad.l, yP(r.threshold)); g.lineTo(W - pad.r, yP(r.threshold)); g.stroke();
  g.setLineDash([]);
  // per-frame probability
  line(g, probs, (i) => x((i + 0.5) / fps), (p) => yP(p), COLORS.prob, 1.6);
  // audio-visual similarity on its own scale
  if (hasSim) {
    const vals = r.similarity.filter((v) => v != null);
    const lo = Math.min(...vals), hi = Math.max(...vals), span = hi - lo || 1;
    const yS = (v) => sim[1] - (sim[1] - sim[0]) * ((v - lo) / span);
    g.fillStyle = COLORS.text;
    g.fillText(hi.toFixed(2), 8, sim[0] + 8); g.fillText(lo.toFixed(2), 8, sim[1]);
    line(g, r.similarity, (i) => x((i + 0.5) / fps), yS, COLORS.sim, 1.2);
  }
  // playhead
  const t = $("player").currentTime || 0;
  g.strokeStyle = COLORS.head; g.lineWidth = 1.5;
  g.beginPath(); g.moveTo(x(Math.min(t, dur)), prob[0]); g.lineTo(x(Math.min(t, dur)), hasSim ? sim[1] : prob[1]); g.stroke();
  c.dataset.frames = String(n);
  c.dataset.segments = String((r.segments_sec || []).length);
  c.dataset.playhead = t.toFixed(3);
  for (const tr of $("segments").querySelectorAll("tbody tr")) {
    const i = tr.rowIndex - 1, [s, e] = r.segments_sec[i];
    tr.classList.toggle("playing", t >= s && t < e);
  }
}

function line(g, ys, fx, fy, color, width) {
  g.strokeStyle = color; g.lineWidth = width; g.beginPath();
  let pen = false;
  ys.forEach((v, i) => {
    if (v == null) { pen = false; return; }
    if (pen) g.lineTo(fx(i), fy(v)); else { g.moveTo(fx(i), fy(v)); pen = true; }
  });
  g.stroke();
}

function timeAt(ev) {
  const c = $("timeline"), { pad, W } = geometry(c), rect = c.getBoundingClientRect();
  const f = (ev.clientX - rect.left - pad.l) / (W - pad.l - pad.r);
  return Math.max(0, Math.min(1, f)) * (shown.frame_probs.length / shown.fps);
}

$("timeline").addEventListener("click", (ev) => { if (shown) seek(timeAt(ev)); });
$("timeline").addEventListener("mousemove", (ev) => {
  if (!shown) return;
  const t = timeAt(ev), i = Math.min(shown.frame_probs.length - 1, Math.floor(t * shown.fps));
  const tip = $("tip"), p = shown.frame_probs[i], s = shown.similarity ? shown.similarity[i] : null;
  tip.textContent = `${fmtTime(t)}  p=${p == null ? "n/a" : p.toFixed(3)}` + (s == null ? "" : `  sim=${s.toFixed(3)}`);
  tip.hidden = false;
  const rect = $("timeline").getBoundingClientRect();
  tip.style.left = Math.min(rect.width - tip.offsetWidth, Math.max(0, ev.clientX - rect.left + 10)) + "px";
});
$("timeline").addEventListener("mouseleave", () => { $("tip").hidden = true; });
$("player").addEventListener("timeupdate", draw);
$("player").addEventListener("seeked", draw);
window.addEventListener("resize", draw);

// ------------------------------------------------------------------ buttons, drop zone, token

function download(blob, name) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.append(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
}

$("dl-json").onclick = () => {
  if (!shown) return;
  const { __job, ...entry } = shown; // the detections.json layout: a list with one entry per video
  download(new Blob([JSON.stringify([entry], null, 1)], { type: "application/json" }), `${entry.video_id}.detections.json`);
};
$("dl-png").onclick = async () => {
  if (!shown) return;
  const r = await api(`${API}/${shown.__job}/plot.png`);
  if (r.ok) download(await r.blob(), `${shown.video_id}.png`);
};
$("delete").onclick = async () => {
  if (!selected) return;
  await api(`${API}/${selected}`, { method: "DELETE" });
  jobs = jobs.filter((j) => j.id !== selected);
  selected = null; shown = null;
  saveJobs(); renderJobs();
  $("result").hidden = true;
};

const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault(); drop.classList.remove("over");
  for (const f of e.dataTransfer.files) upload(f);
});
$("file").addEventListener("change", (e) => { for (const f of e.target.files) upload(f); e.target.value = ""; });
$("save-token").onclick = () => {
  token = $("token").value.trim();
  localStorage.setItem("vocalens-token", token);
  $("auth").hidden = true;
  poll();
};

renderJobs();
poll();
if (jobs.length) select(jobs[0].id);
