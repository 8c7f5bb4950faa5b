// ferkit's page: a photo or the webcam -> POST /predict -> boxes, bars and a one-minute chart;
// for a photo or a frame, POST /explain shows where each expression was read from.
// Plain JS, no build step, nothing from outside the server.
"use strict";

const $ = (id) => document.getElementById(id);
const COLORS = { angry: "#e53935", contempt: "#6d4c41", disgust: "#43a047", fear: "#8e24aa",
                 happy: "#f9a825", neutral: "#78909c", sad: "#1e88e5", surprise: "#fb8c00" };
const FRAME_MS = 200;       // webcam: a frame every 200 ms at most ...
const WINDOW_MS = 60_000;   // ... and the chart shows the last minute
const SMOOTH_S = 0.5;       // webcam faces: probabilities averaged over ~0.5 s ("steady")
const SMALL_FACE_PX = 40;   // "Look for smaller faces": faces down to 40 px (as --min-face 40)
const view = $("view"), ctx = view.getContext("2d");
const state = { token: localStorage.getItem("ferkitToken") || "", classes: [], busy: false,
                live: null, timer: null, history: [], tracks: [], lastFile: null,
                explainable: null, explaining: false };
// read by the browser test and by bench/serve_load.py --page
const stats = (window.ferkitStats = { frames: 0, cameraStartedAt: null, firstLabelAt: null,
                                      labels: [], centres: [], errors: 0 });

function headers(extra = {}) {
  return state.token ? { ...extra, Authorization: `Bearer ${state.token}` } : extra;
}

async function predict(body, type, minFace = null) {
  const detect = $("detect").checked;
  const r = await fetch(`/predict?detect=${detect}` + (minFace ? `&min_face=${minFace}` : ""), {
    method: "POST", body, headers: headers(type ? { "Content-Type": type } : {}) });
  const answer = await r.json().catch(() => ({ error: r.statusText }));
  if (r.status === 401) $("token-box").hidden = false;
  if (!r.ok) throw new Error(answer.error || `HTTP ${r.status}`);
  return answer;
}

function color(label) { return COLORS[label] || "#455a64"; }

function draw(image, result) {
  const [w, h] = [result.width, result.height];
  view.width = w;
  view.height = h;
  if (image) {
    ctx.drawImage(image, 0, 0, w, h);
  } else {
    ctx.fillStyle = "#cfd8dc";
    ctx.fillRect(0, 0, w, h);
  }
  const line = Math.max(2, Math.round(Math.min(w, h) / 200));
  ctx.font = `600 ${Math.max(14, Math.round(h / 28))}px system-ui, sans-serif`;
  result.faces.forEach((face, i) => {
    const [x0, y0, x1, y1] = face.box;
    ctx.strokeStyle = ctx.fillStyle = color(face.label);
    ctx.lineWidth = line;
    ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
    const text = `${i + 1} ${face.label} ${(face.confidence * 100).toFixed(0)}%`;
    const tw = ctx.measureText(text).width + 8, th = parseInt(ctx.font.split(" ")[1], 10) + 6;
    const ty = y0 >= th ? y0 - th : y1;
    ctx.fillRect(x0 - line / 2, ty, tw, th);
    ctx.fillStyle = "#fff";
    ctx.fillText(text, x0 + 4, ty + th - 6);
  });
  $("hint").hidden = true;
}

function showFaces(result) {
  const box = $("faces");
  box.replaceChildren();
  if (!result.faces.length) {
    box.textContent = "No face found.";
    return;
  }
  result.faces.forEach((face, i) => {
    const div = document.createElement("div");
    div.className = "face";
    div.dataset.label = face.label;
    const title = document.createElement("div");
    title.className = "face-label";
    title.textContent = `Face ${i + 1}: ${face.label.toUpperCase()} ` +
                        `${(face.confidence * 100).toFixed(1)}%`;
    div.append(title);
    for (const [name, p] of Object.entries(face.probs)) {
      const bar = document.createElement("div");
      bar.className = "bar";
      bar.innerHTML = `<span></span><span class="track"><span class="fill"></span></span>` +
                      `<span class="pct"></span>`;
      bar.children[0].textContent = name;
      bar.querySelector(".fill").style.cssText =
        `width:${(p * 100).toFixed(1)}%;background:${color(name)}`;
      bar.children[2].textContent = `${(p * 100).toFixed(1)}%`;
      div.append(bar);
    }
    box.append(div);
  });
}

function remember(result) {
  const now = performance.now();
  if (result.faces.length) state.history.push({ t: now, probs: result.faces[0].probs });
  while (state.history.length && now - state.history[0].t > WINDOW_MS) state.history.shift();
  drawChart(now);
  if (state.live) record(result);
}

// Every analysed webcam or video frame since the page opened (up to LOG_FRAMES), for "Save
// as CSV": the columns of `ferkit video --output`, the time as the browser's clock too
const LOG_FRAMES = 30 * 60 * 5;  // 30 minutes at 5 frames/s
const log = { started: null, frames: [] };

function record(result) {
  const now = Date.now();
  log.started ??= now;
  log.frames.push({ at: now, faces: result.faces.map((f) => ({ box: f.box, probs: f.probs })) });
  if (log.frames.length > LOG_FRAMES) log.frames.shift();
  $("save").hidden = false;
}

function csvText() {
  const header = ["frame", "time_s", "time", "face", "x0", "y0", "x1", "y1", "label",
                  "confidence", ...state.classes];
  const rows = [header.join(",")];
  log.frames.forEach((frame, n) => frame.faces.forEach((face, i) => {
    const label = Object.keys(face.probs).reduce((a, b) => (face.probs[b] > face.probs[a] ? b : a));
    rows.push([n, ((frame.at - log.started) / 1000).toFixed(3), new Date(frame.at).toISOString(),
               i + 1, ...face.box, label, face.probs[label].toFixed(4),
               ...state.classes.map((c) => (face.probs[c] ?? 0).toFixed(4))].join(","));
  }));
  return rows.join("\n") + "\n";
}
window.ferkitCsv = csvText;  // for the browser test

function saveCsv() {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([csvText()], { type: "text/csv" }));
  a.download = `ferkit-${new Date(log.started).toISOString().slice(0, 19).replace(/:/g, "-")}.csv`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

function drawChart(now) {
  const c = $("chart"), g = c.getContext("2d"), w = c.width, h = c.height;
  g.clearRect(0, 0, w, h);
  g.strokeStyle = "#e3e6ee";
  g.lineWidth = 1;
  for (const y of [0.25, 0.5, 0.75]) {
    g.beginPath(); g.moveTo(0, h * y); g.lineTo(w, h * y); g.stroke();
  }
  g.fillStyle = "#9aa1b1";
  g.font = "10px system-ui, sans-serif";
  g.fillText("-60 s", 3, h - 4);
  g.fillText("now", w - 22, h - 4);
  g.fillText("100%", 3, 11);
  const x = (t) => w - ((now - t) / WINDOW_MS) * w;
  for (const name of state.classes) {
    g.strokeStyle = color(name);
    g.lineWidth = 2;
    g.beginPath();
    state.history.forEach((s, i) => {
      const y = h - (s.probs[name] || 0) * (h - 4) - 2;
      i ? g.lineTo(x(s.t), y) : g.moveTo(x(s.t), y);
    });
    g.stroke();
  }
}

function iou(a, b) {
  const ix = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const iy = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - ix * iy;
  return union > 0 ? (ix * iy) / union : 0;
}

// A webcam frame's faces, each matched to the previous frame's face it overlaps most (IoU
// >= 0.3), their probabilities averaged over ~SMOOTH_S seconds (older frames weigh
// exp(-age / SMOOTH_S)), as `ferkit video --smooth` does: an unsure face does not flicker
// between two labels. `t`: the frame's time in ms.
function smooth(result, t) {
  const previous = state.tracks, taken = new Set(), steady = $("steady").checked;
  state.tracks = result.faces.map((face) => {
    let match = -1, best = 0.3;
    previous.forEach((p, i) => {
      const overlap = iou(face.box, p.box);
      if (!taken.has(i) && overlap >= best) [match, best] = [i, overlap];
    });
    if (match < 0 || !steady) return { box: face.box, probs: face.probs, t };
    taken.add(match);
    const old = previous[match], keep = Math.exp(-(t - old.t) / 1000 / SMOOTH_S);
    const probs = Object.fromEntries(Object.entries(face.probs).map(
      ([name, p]) => [name, keep * old.probs[name] + (1 - keep) * p]));
    const label = Object.keys(probs).reduce((a, b) => (probs[b] > probs[a] ? b : a));
    Object.assign(face, { probs, label, confidence: probs[label] });
    return { box: face.box, probs, t };
  });
  return result;
}
window.ferkitSmooth = smooth;  // for the browser test

function status(text) { $("status").textContent = text; }

function fail(error) {
  stats.errors += 1;
  status(`error: ${error.message}`);
}

async function analyseFile(file, minFace = null) {
  if (!file) return;
  $("smaller").hidden = true;
  hideWhy();
  if (file.type.startsWith("video/") || /\.(mp4|m4v|mov|webm|mkv|ogv)$/i.test(file.name)) {
    return playVideo(file);
  }
  stopLive();  // the photo stays on screen, not overdrawn by the next frame
  status(`analysing ${file.name}…`);
  try {
    const form = new FormData();
    form.append("file", file, file.name);
    // the server reads formats some browsers cannot show (HEIC in Chrome): boxes on grey then
    const [result, image] = await Promise.all([predict(form, null, minFace),
                                               createImageBitmap(file).catch(() => null)]);
    draw(image, result);
    showFaces(result);
    remember(result);
    // none found at the default size (18% of the picture): offer to look for smaller ones
    const none = !result.faces.length && $("detect").checked && state.minFace === null;
    state.lastFile = file;
    state.explainable = { file, minFace };  // what "Why these labels?" sends
    $("smaller").hidden = !(none && !minFace);
    $("why").hidden = !result.faces.length;
    status(`${file.name}: ${result.faces.length} face(s) in ${result.timing_ms.total} ms` +
           (image ? "" : " (this browser cannot show the photo itself)") +
           (none && !minFace ? "; faces under 18% of the picture are looked for on request:" : "") +
           (none && minFace ? `, even down to ${minFace} px` : ""));
  } catch (e) {
    fail(e);
  }
}

function hideWhy() {
  $("why").hidden = $("explained").hidden = true;
}

// "Why these labels?": the photo, or the webcam's or video's last frame with a face, to
// POST /explain; its picture shown below
async function explainFile(file, minFace) {
  if (!file || state.explaining) return;
  state.explaining = true;
  $("why").hidden = true;
  status(`${file.name}: hiding each part of each face in turn…`);
  try {
    const form = new FormData();
    form.append("file", file, file.name);
    const r = await fetch(`/explain?detect=${$("detect").checked}` +
                          (minFace ? `&min_face=${minFace}` : ""),
                          { method: "POST", body: form, headers: headers() });
    if (r.status === 401) $("token-box").hidden = false;
    if (!r.ok) {
      const answer = await r.json().catch(() => ({ error: r.statusText }));
      throw new Error(answer.error || `HTTP ${r.status}`);
    }
    const img = $("explained-img");
    if (img.src) URL.revokeObjectURL(img.src);
    img.src = URL.createObjectURL(await r.blob());
    await img.decode();
    $("explained").hidden = false;
    $("explained").scrollIntoView({ behavior: "smooth", block: "nearest" });
    status(`${file.name}: red, the parts each expression was read from; blue, against it`);
  } catch (e) {
    fail(e);
  } finally {
    state.explaining = false;
    if (state.live) $("why").hidden = false;  // later frames can be explained too
  }
}

async function grabFrame(video, canvas, mirror) {
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  const c = canvas.getContext("2d");
  c.setTransform(mirror ? -1 : 1, 0, 0, 1, mirror ? canvas.width : 0, 0);
  c.drawImage(video, 0, 0);
  c.setTransform(1, 0, 0, 1, 0, 0);
  return new Promise((done) => canvas.toBlob(done, "image/jpeg", 0.85));
}

async function tick(video, canvas) {
  if (state.busy || !video.videoWidth) return;  // never more than one request in flight
  state.busy = true;
  const started = performance.now();
  try {
    const blob = await grabFrame(video, canvas, state.live.kind === "webcam");
    const result = smooth(await predict(blob, "image/jpeg"), started);
    if (!state.live) return;  // stopped while this frame was out
    if (result.faces.length) {
      const frame = new File([blob], `${state.live.kind} frame.jpg`, { type: "image/jpeg" });
      state.explainable = { file: frame, minFace: null };
      if (!state.explaining) $("why").hidden = false;
    }
    draw(canvas, result);
    showFaces(result);
    remember(result);
    stats.frames += 1;
    stats.labels.push(result.faces.map((f) => f.label));
    // each face's centre across the frame (0: left edge, 1: right edge), as shown
    stats.centres.push(result.faces.map((f) => (f.box[0] + f.box[2]) / 2 / canvas.width));
    if (result.faces.length && stats.firstLabelAt === null) stats.firstLabelAt = performance.now();
    // over the last 5 s, or since the source started when that is more recent
    const span = Math.min(5000, Math.max(1000, performance.now() - stats.cameraStartedAt));
    const recent = state.history.filter((s) => performance.now() - s.t < span).length;
    status(`${state.live.kind}: ${result.faces.length} face(s), ` +
           `${Math.round(performance.now() - started)}` +
           ` ms per frame, ${(recent / (span / 1000)).toFixed(1)} frames/s with a face`);
  } catch (e) {
    fail(e);
  } finally {
    state.busy = false;
  }
}

function stopLive(message) {
  if (!state.live) return;
  clearInterval(state.timer);
  state.live.stop();
  state.live = null;
  $("camera").textContent = "Start the webcam";
  $("camera").classList.remove("on");
  if (message) status(message);
}

// the webcam, or a video file played here: a frame every FRAME_MS through the same path
function startLive(kind, video, stop) {
  hideWhy();
  state.explainable = null;
  state.live = { kind, stop };
  state.tracks = [];
  stats.cameraStartedAt = performance.now();
  $("camera").textContent = `Stop the ${kind}`;
  $("camera").classList.add("on");
  const canvas = document.createElement("canvas");
  state.timer = setInterval(() => tick(video, canvas), FRAME_MS);
  tick(video, canvas);
}

async function toggleCamera() {
  $("smaller").hidden = true;
  if (state.live) {
    stopLive(`${state.live.kind} off`);
    return;
  }
  if (!navigator.mediaDevices) {
    // browsers give the camera only to https:// pages and to the machine's own address
    fail(new Error(window.isSecureContext ? "this browser gives pages no webcam"
      : "the webcam needs a secure page: open this one with https:// (start ferkit serve " +
        "with --ssl-certfile and --ssl-keyfile), or on the server's machine as 127.0.0.1"));
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      // a phone's front camera: the one facing whoever holds it
      video: { width: { ideal: 640 }, height: { ideal: 480 }, facingMode: "user" }, audio: false });
  } catch (e) {
    fail(new Error(`no webcam: ${e.message}`));
    return;
  }
  const video = $("video");
  video.srcObject = stream;
  await video.play();
  startLive("webcam", video, () => stream.getTracks().forEach((t) => t.stop()));
}

async function playVideo(file) {
  stopLive();
  const video = $("video"), url = URL.createObjectURL(file);
  video.srcObject = null;
  video.src = url;
  try {
    await video.play();
  } catch (e) {
    URL.revokeObjectURL(url);
    fail(new Error(`this browser cannot play ${file.name}: ${e.message}`));
    return;
  }
  video.onended = () => stopLive(`${file.name}: played to the end`);
  startLive("video", video, () => {
    video.onended = null;
    video.pause();
    video.removeAttribute("src");
    video.load();
    URL.revokeObjectURL(url);
  });
}

async function loadModel() {
  try {
    const r = await fetch("/model", { headers: headers() });
    const m = await r.json();
    if (r.status === 401) {
      $("token-box").hidden = false;
      $("model").textContent = "this server needs a token";
      return;
    }
    state.classes = m.classes;
    state.minFace = m.min_face;
    const acc = m.accuracy && m.accuracy.fer2013_publictest_accuracy;
    $("model").textContent = `${m.arch}${m.precision === "int8" ? " int8" : ""}, ` +
      `${m.input_size}px` +
      (acc ? `, ${(acc * 100).toFixed(1)}% on FER2013 PublicTest` : "");
    $("legend").innerHTML = m.classes.map((c) =>
      `<span><i style="background:${color(c)}"></i>${c}</span>`).join("");
  } catch (e) {
    fail(e);
  }
}

$("file").addEventListener("change", (e) => analyseFile(e.target.files[0]));
$("camera").addEventListener("click", toggleCamera);
$("smaller").addEventListener("click", () => analyseFile(state.lastFile, SMALL_FACE_PX));
$("save").addEventListener("click", saveCsv);
$("why").addEventListener("click", () => state.explainable &&
  explainFile(state.explainable.file, state.explainable.minFace));
$("token-save").addEventListener("click", () => {
  state.token = $("token").value.trim();
  localStorage.setItem("ferkitToken", state.token);
  $("token-box").hidden = true;
  loadModel();
});
for (const kind of ["dragenter", "dragover"]) {
  document.addEventListener(kind, (e) => { e.preventDefault(); $("drop").classList.add("over"); });
}
document.addEventListener("dragleave", () => $("drop").classList.remove("over"));
document.addEventListener("drop", (e) => {
  e.preventDefault();
  $("drop").classList.remove("over");
  analyseFile(e.dataTransfer.files[0]);
});
loadModel();
