// ferkit's page: a photo -> POST /predict, the webcam frame after frame -> /ws -> boxes, bars and a
// chart per face; for a photo or a frame, POST /explain shows where each expression was read from.
// Plain JS, no build step, nothing from outside the server.
"use strict";

const $ = (id) => document.getElementById(id);
const COLORS = { angry: "#e53935", contempt: "#6d4c41", disgust: "#43a047", fear: "#8e24aa",
                 happy: "#f9a825", neutral: "#78909c", sad: "#1e88e5", surprise: "#fb8c00" };
const WINDOW_MS = 60_000;   // the charts show the last minute
const MAX_CHARTS = 8;       // ... of the (at most 8) faces seen most recently
const SMOOTH_S = 0.5;       // webcam faces: probabilities averaged over ~0.5 s ("steady")
const SMALL_FACE_PX = 40;   // "Look for smaller faces": faces down to 40 px (as --min-face 40)
const RATE_WINDOW_MS = 2000;  // the frame rate shown: over the last 2 s
const view = $("view"), ctx = view.getContext("2d");
// ?transport=http sends each frame as its own POST /predict instead of over /ws
const TRANSPORT = new URLSearchParams(location.search).get("transport") === "http" ? "http" : "ws";
const state = { token: localStorage.getItem("ferkitToken") || "", classes: [], live: null,
                history: new Map(), tracks: [], nextId: 1, frameSide: null, lastFile: null,
                explainable: null, explaining: false };
// read by the browser test and by bench/serve_load.py --page: analysed frames, the camera's
// frames, camera-to-label times (ms), labels and face centres per analysed frame
const stats = (window.ferkitStats = { frames: 0, cameraFrames: 0, cameraStartedAt: null,
                                      firstLabelAt: null, latencies: [], labels: [],
                                      centres: [], errors: 0, transport: null });

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

// Each face's probabilities over the last minute, one chart per face (its track id)
function remember(result, now = performance.now()) {
  for (const face of result.faces) {
    if (!state.history.has(face.id)) state.history.set(face.id, []);
    state.history.get(face.id).push({ t: now, probs: face.probs });
  }
  for (const [id, points] of state.history) {
    while (points.length && now - points[0].t > WINDOW_MS) points.shift();
    if (!points.length) state.history.delete(id);
  }
  drawCharts(now);
  if (state.live) record(result, now);
}

// Every analysed webcam or video frame since the page opened (up to LOG_FRAMES), for "Save
// as CSV": the rows `ferkit video --output x.csv` writes (README: Results)
const LOG_FRAMES = 30 * 60 * 25;  // 30 minutes at 25 frames/s
const log = { started: null, frames: [] };

function record(result, now) {
  log.started ??= now;
  log.frames.push({ at: now, width: result.width, height: result.height,
                    faces: result.faces.map((f) => ({ id: f.id, box: f.box, probs: f.probs,
                                                      score: f.detection_score })) });
  if (log.frames.length > LOG_FRAMES) log.frames.shift();
  $("save").hidden = false;
}

function csvText() {
  const header = ["schema_version", "video", "frame", "time_s", "width", "height", "faces",
                  "face", "face_id", "x0", "y0", "x1", "y1", "label", "confidence",
                  ...state.classes, "detection_score", "error"];
  const rows = [header.join(",")];
  const source = state.live ? state.live.kind : "webcam";
  log.frames.forEach((frame, n) => {
    const head = [1, source, n, ((frame.at - log.started) / 1000).toFixed(3), frame.width,
                  frame.height, frame.faces.length];
    if (!frame.faces.length) rows.push([...head, ...Array(header.length - head.length).fill("")]);
    frame.faces.forEach((face, i) => {
      const label = Object.keys(face.probs).reduce((a, b) => (face.probs[b] > face.probs[a] ? b : a));
      rows.push([...head, i + 1, face.id, ...face.box, label, face.probs[label],
                 ...state.classes.map((c) => face.probs[c] ?? 0), face.score ?? "", ""]);
    });
  });
  return rows.join("\n") + "\n";
}
window.ferkitCsv = csvText;  // for the browser test

function saveCsv() {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([csvText()], { type: "text/csv" }));
  const started = Date.now() - (performance.now() - log.started);
  a.download = `ferkit-${new Date(started).toISOString().slice(0, 19).replace(/:/g, "-")}.csv`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

// A chart per face seen in the last minute (the MAX_CHARTS newest), a line per expression;
// a face's chart goes when it has not been seen for a minute
function drawCharts(now) {
  const box = $("charts");
  const ids = [...state.history.keys()].sort((a, b) => a - b).slice(-MAX_CHARTS);
  for (const figure of [...box.children]) {
    if (!ids.includes(Number(figure.dataset.id))) figure.remove();
  }
  ids.forEach((id, n) => {
    let figure = box.querySelector(`figure[data-id="${id}"]`);
    if (!figure) {
      figure = document.createElement("figure");
      figure.dataset.id = id;
      figure.innerHTML = `<figcaption></figcaption><canvas width="360" height="110"></canvas>`;
      figure.firstChild.textContent = `Face #${id}`;
      box.append(figure);
    }
    if (box.children[n] !== figure) box.insertBefore(figure, box.children[n]);
    drawChart(figure.querySelector("canvas"), state.history.get(id), now);
  });
}

function drawChart(c, points, now) {
  const g = c.getContext("2d"), w = c.width, h = c.height;
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
    points.forEach((s, i) => {
      const y = h - (s.probs[name] || 0) * (h - 4) - 2;
      i ? g.lineTo(x(s.t), y) : g.moveTo(x(s.t), y);
    });
    if (points.length === 1) g.arc(x(points[0].t), h - (points[0].probs[name] || 0) * (h - 4) - 2, 1.5, 0, 7);
    g.stroke();
  }
}

function iou(a, b) {
  const ix = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const iy = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - ix * iy;
  return union > 0 ? (ix * iy) / union : 0;
}

// A webcam frame's faces, each matched to the face of the frames before it that it overlaps
// most (IoU >= 0.3; a face unseen for over a second is gone), so that it keeps its id (#N)
// and its chart; their probabilities averaged over ~SMOOTH_S seconds, whatever the frame rate
// (older frames weigh exp(-age / SMOOTH_S)), as `ferkit video --smooth` does: an unsure face
// does not flicker between two labels. `t`: the frame's time in ms.
function smooth(result, t) {
  const previous = state.tracks.filter((p) => p.t <= t && t - p.t <= 1000), taken = new Set();
  const steady = $("steady").checked;
  const matched = result.faces.map((face) => {
    let match = -1, best = 0.3;
    previous.forEach((p, i) => {
      const overlap = iou(face.box, p.box);
      if (!taken.has(i) && overlap >= best) [match, best] = [i, overlap];
    });
    if (match < 0) return { id: state.nextId++, box: face.box, probs: face.probs, t };
    taken.add(match);
    const old = previous[match];
    face.id = old.id;
    if (!steady) return { id: old.id, box: face.box, probs: face.probs, t };
    const keep = Math.exp(-(t - old.t) / 1000 / SMOOTH_S);
    const probs = Object.fromEntries(Object.entries(face.probs).map(
      ([name, p]) => [name, keep * old.probs[name] + (1 - keep) * p]));
    const label = Object.keys(probs).reduce((a, b) => (probs[b] > probs[a] ? b : a));
    Object.assign(face, { probs, label, confidence: probs[label] });
    return { id: old.id, box: face.box, probs, t };
  });
  result.faces.forEach((face, i) => { face.id = matched[i].id; });
  // faces not seen in this frame stay matchable for a moment (a blink of the detector)
  state.tracks = [...matched, ...previous.filter((_, i) => !taken.has(i))];
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
    state.history.clear();  // the charts: this photo's faces
    state.tracks = [];
    smooth(result, performance.now());  // each face its number
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

// A frame of the video as a JPEG, its shorter side at most the size the server reduces
// pictures to before looking for faces (/model's frame_side): fewer bytes, the same faces
async function grabFrame(video, canvas, mirror) {
  const scale = Math.min(1, (state.frameSide || Infinity) /
                            Math.min(video.videoWidth, video.videoHeight));
  canvas.width = Math.round(video.videoWidth * scale);
  canvas.height = Math.round(video.videoHeight * scale);
  const c = canvas.getContext("2d");
  c.setTransform(mirror ? -scale : scale, 0, 0, scale, mirror ? canvas.width : 0, 0);
  c.drawImage(video, 0, 0);
  c.setTransform(1, 0, 0, 1, 0, 0);
  return new Promise((done) => canvas.toBlob(done, "image/jpeg", 0.85));
}

// The newest camera (or video) frame not sent yet: at once when the camera has shown one
// since the last was taken, else when it shows the next; resolves with when it was captured,
// in performance.now() time. The rate control, when set, spaces the frames out.
function nextFrame(live) {
  const wait = live.minGapMs - (performance.now() - live.lastSent);
  return new Promise((resolve) => {
    const take = () => {
      if (live.shown.n > live.taken) {
        live.taken = live.shown.n;
        resolve(live.shown.at);
      } else if (live.counting) {
        live.waiting = take;  // called by countCameraFrames on the next frame
      } else {
        requestAnimationFrame((now) => resolve(now));  // no frame callbacks: the screen's
      }
    };
    wait > 0 ? setTimeout(take, wait) : take();
  });
}

// One frame through the server and onto the page. Frames go one after another: the next is
// taken when this one's labels are drawn, so the page runs as fast as camera and server
// allow and never queues frames the server has not asked for.
async function analyseFrame(live, captured) {
  live.lastSent = performance.now();
  const blob = await grabFrame(live.video, live.canvas, live.kind === "webcam");
  const result = smooth(await live.send(blob), captured);
  if (state.live !== live) return;  // stopped while this frame was out
  if (result.faces.length) {
    const frame = new File([blob], `${live.kind} frame.jpg`, { type: "image/jpeg" });
    state.explainable = { file: frame, minFace: null };
    if (!state.explaining) $("why").hidden = false;
  }
  draw(live.canvas, result);
  showFaces(result);
  remember(result);
  const now = performance.now();
  stats.frames += 1;
  stats.latencies.push(now - captured);
  stats.labels.push(result.faces.map((f) => f.label));
  // each face's centre across the frame (0: left edge, 1: right edge), as shown
  stats.centres.push(result.faces.map((f) => (f.box[0] + f.box[2]) / 2 / live.canvas.width));
  if (result.faces.length && stats.firstLabelAt === null) stats.firstLabelAt = now;
  live.done.push(now);
  while (live.done.length && now - live.done[0] > RATE_WINDOW_MS) live.done.shift();
  const span = Math.min(RATE_WINDOW_MS, Math.max(500, now - stats.cameraStartedAt));
  status(`${live.kind}: ${result.faces.length} face(s), ${Math.round(now - captured)} ms ` +
         `camera to label, ${(live.done.length / (span / 1000)).toFixed(1)} frames/s` +
         (live.transport === "ws" ? "" : " (HTTP)"));
}

async function runLive(live) {
  while (state.live === live) {
    const captured = await nextFrame(live);
    if (state.live !== live) break;
    try {
      await analyseFrame(live, captured);
    } catch (e) {
      fail(e);
      if (live.transport === "ws" && !live.isOpen()) {  // the socket went: go on over HTTP
        Object.assign(live, { transport: "http", send: (blob) => predict(blob, "image/jpeg") });
        stats.transport = "http";
      }
      await new Promise((wait) => setTimeout(wait, 500));  // the server is down or busy
    }
  }
}

// Frames to the server over one WebSocket (/ws), answers in order; null when it cannot open
function openSocket() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const query = `detect=${$("detect").checked}` +
                (state.token ? `&token=${encodeURIComponent(state.token)}` : "");
  const ws = new WebSocket(`${scheme}://${location.host}/ws?${query}`);
  ws.binaryType = "arraybuffer";
  let waiting = null;
  ws.onmessage = (e) => {
    const answer = JSON.parse(e.data);
    const settle = waiting;
    waiting = null;
    if (!settle) return;
    answer.error && !answer.faces ? settle.reject(new Error(answer.error)) : settle.resolve(answer);
  };
  ws.onclose = (e) => {
    if (waiting) waiting.reject(new Error(`the connection closed (${e.reason || e.code})`));
    waiting = null;
  };
  const send = (blob) => new Promise((resolve, reject) => {
    if (ws.readyState !== WebSocket.OPEN) {
      reject(new Error("the connection to the server closed"));
      return;
    }
    waiting = { resolve, reject };
    ws.send(blob);
  });
  return new Promise((resolve) => {
    ws.onopen = () => resolve({ send, close: () => ws.close(),
                                isOpen: () => ws.readyState === WebSocket.OPEN });
    ws.onerror = () => resolve(null);
  });
}

function stopLive(message) {
  if (!state.live) return;
  state.live.stop();
  state.live.close?.();
  state.live = null;
  $("camera").textContent = "Start the webcam";
  $("camera").classList.remove("on");
  if (message) status(message);
}

// Every frame the camera (or video) shows: counted, and the newest kept for nextFrame
function countCameraFrames(live) {
  live.counting = "requestVideoFrameCallback" in live.video;
  if (!live.counting) return;
  const count = (now, meta) => {
    if (state.live !== live) return;
    stats.cameraFrames += 1;
    live.shown = { n: live.shown.n + 1, at: meta.captureTime || meta.presentationTime || now };
    const waiting = live.waiting;
    live.waiting = null;
    if (waiting) waiting();
    live.video.requestVideoFrameCallback(count);
  };
  live.video.requestVideoFrameCallback(count);
}

// the webcam, or a video file played here: frame after frame through the same path
async function startLive(kind, video, stop) {
  hideWhy();
  state.explainable = null;
  state.tracks = [];
  const rate = Number($("rate").value);
  const live = { kind, stop, video, canvas: document.createElement("canvas"), lastSent: 0,
                 minGapMs: rate ? 1000 / rate : 0, done: [], transport: "http",
                 shown: { n: 0, at: 0 }, taken: 0, waiting: null, counting: false,
                 send: (blob) => predict(blob, "image/jpeg") };
  state.live = live;
  stats.cameraStartedAt = performance.now();
  $("camera").textContent = `Stop the ${kind}`;
  $("camera").classList.add("on");
  const socket = TRANSPORT === "ws" ? await openSocket() : null;
  if (socket) Object.assign(live, { transport: "ws", send: socket.send, close: socket.close,
                                    isOpen: socket.isOpen });
  stats.transport = live.transport;
  if (state.live !== live) return live.close?.();
  countCameraFrames(live);
  runLive(live);
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
      video: { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 30 },
               facingMode: "user" }, audio: false });
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
    state.frameSide = m.frame_side;
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
$("rate").addEventListener("change", () => {
  const rate = Number($("rate").value);
  if (state.live) state.live.minGapMs = rate ? 1000 / rate : 0;
});
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
