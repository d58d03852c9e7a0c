// Axon Playground: the page. It holds no model; the server trains one per tab (a session) and streams
// snapshots (server-sent events). The whole setup lives in the URL hash, so a link reproduces it.
"use strict";

const API = "/api/sessions";
const DATASETS = [["circle", "classification"], ["xor", "classification"], ["gaussian", "classification"],
                  ["spiral", "classification"], ["plane", "regression"], ["multi-gaussian", "regression"]];
const FEATURES = [["x1", "X\u2081"], ["x2", "X\u2082"], ["x1Squared", "X\u2081\u00b2"], ["x2Squared", "X\u2082\u00b2"],
                  ["x1x2", "X\u2081X\u2082"], ["sinX1", "sin(X\u2081)"], ["sinX2", "sin(X\u2082)"]];
const NUMERIC = ["noise", "trainRatio", "batchSize", "learningRate", "regularizationRate", "seed", "samples"];
const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"];

const state = { id: null, config: null, snap: null, points: null, dataVersion: -1, structure: "", events: null, busy: false };
const $ = (id) => document.getElementById(id);

// ---- colours: orange (-1), grey (0), blue (+1), as the original ----
function color(v) {
  const n = Number(v), t = Number.isFinite(n) ? Math.max(-1, Math.min(1, n)) : 0;
  const a = t < 0 ? [245, 147, 34] : [8, 119, 189], z = [232, 234, 235], u = Math.abs(t);
  return [z[0] + (a[0] - z[0]) * u, z[1] + (a[1] - z[1]) * u, z[2] + (a[2] - z[2]) * u];
}

function paintGrid(canvas, values, size, discretize) {
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(size, size);
  for (let i = 0; i < size * size; i++) {
    const v = discretize ? (values[i] > 0 ? 1 : -1) : values[i];
    const [r, g, b] = color(v);
    img.data[4 * i] = r; img.data[4 * i + 1] = g; img.data[4 * i + 2] = b; img.data[4 * i + 3] = 255;
  }
  const off = document.createElement("canvas");
  off.width = size; off.height = size;
  off.getContext("2d").putImageData(img, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(off, 0, 0, canvas.width, canvas.height);
}

function drawPoints(canvas, points, stroke) {
  const ctx = canvas.getContext("2d"), s = canvas.width / 12;
  for (const [x, y, label] of points) {
    const v = state.config.problem === "classification" ? label * 2 - 1 : label;
    const [r, g, b] = color(v);
    ctx.beginPath();
    ctx.arc((x + 6) * s, (6 - y) * s, 3.5, 0, 2 * Math.PI);
    ctx.fillStyle = `rgb(${r},${g},${b})`;
    ctx.fill();
    ctx.strokeStyle = stroke; ctx.lineWidth = 1; ctx.stroke();
  }
}

// ---- the URL hash ----
function readHash() {
  const patch = {};
  for (const part of location.hash.replace(/^#/, "").split("&")) {
    if (!part) continue;
    const [k, raw] = part.split("=").map(decodeURIComponent);
    if (k === "features") patch.features = raw ? raw.split(",") : [];
    else if (k === "hiddenLayers") patch.hiddenLayers = raw ? raw.split(",").map(Number) : [];
    else if (k === "showTestData" || k === "discretize") $(k === "showTestData" ? "show-test" : "discretize").checked = raw === "true";
    else if (NUMERIC.includes(k)) patch[k] = Number(raw);
    else patch[k] = raw;
  }
  return patch;
}

function writeHash() {
  const c = state.config, parts = [];
  for (const k of ["dataset", "noise", "trainRatio", "samples", "batchSize", "features", "hiddenLayers", "activation",
                   "learningRate", "regularization", "regularizationRate", "problem", "optimizer", "loss", "seed"]) {
    const v = Array.isArray(c[k]) ? c[k].join(",") : c[k];
    parts.push(`${k}=${encodeURIComponent(v)}`);
  }
  parts.push(`showTestData=${$("show-test").checked}`, `discretize=${$("discretize").checked}`);
  history.replaceState(null, "", "#" + parts.join("&"));
}

// ---- the API ----
async function api(method, path, body, type = "application/json") {
  const init = { method, headers: {} };
  if (body !== undefined) { init.body = type === "application/json" ? JSON.stringify(body) : body; init.headers["Content-Type"] = type; }
  const response = await fetch(API + path, init);
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    $("message").textContent = data && data.error ? data.error : `HTTP ${response.status}`;
    throw new Error($("message").textContent);
  }
  $("message").textContent = "";
  return data;
}

async function setConfig(patch) {
  try { render(await api("PUT", `/${state.id}/config`, patch)); } catch (e) { syncControls(); }
}

// ---- controls ----
function buildControls() {
  const box = $("datasets");
  for (const [name, problem] of DATASETS) {
    const b = document.createElement("button");
    b.id = `dataset-${name}`; b.title = name; b.dataset.problem = problem;
    const c = document.createElement("canvas"); c.width = 52; c.height = 52;
    b.appendChild(c);
    b.onclick = () => setConfig({ dataset: name, problem, loss: problem === "regression" ? "mse" : state.config.loss });
    box.appendChild(b);
  }
  for (const id of ["learningRate", "activation", "regularization", "regularizationRate", "optimizer", "loss"]) {
    $(id).onchange = () => setConfig({ [id]: NUMERIC.includes(id) ? Number($(id).value) : $(id).value });
  }
  $("problem").onchange = () => {
    const problem = $("problem").value;
    setConfig({ problem, dataset: problem === "regression" ? "plane" : "circle", loss: problem === "regression" ? "mse" : state.config.loss });
  };
  for (const id of ["trainRatio", "noise", "batchSize"]) {
    $(id).oninput = () => { $(`${id}-value`).textContent = $(id).value; };
    $(id).onchange = () => setConfig({ [id]: Number($(id).value) });
  }
  $("play").onclick = async () => render(await api("POST", `/${state.id}/${state.snap.playing ? "pause" : "play"}`));
  $("step").onclick = async () => render(await api("POST", `/${state.id}/step`, { epochs: 1 }));
  $("reset").onclick = async () => render(await api("POST", `/${state.id}/reset`));
  $("regenerate").onclick = async () => render(await api("POST", `/${state.id}/regenerate`));
  $("add-layer").onclick = () => { if (state.config.hiddenLayers.length < 6) setConfig({ hiddenLayers: [...state.config.hiddenLayers, 2] }); };
  $("remove-layer").onclick = () => { if (state.config.hiddenLayers.length > 0) setConfig({ hiddenLayers: state.config.hiddenLayers.slice(0, -1) }); };
  $("show-test").onchange = () => { drawOutput(); writeHash(); };
  $("discretize").onchange = () => { drawOutput(); writeHash(); };
  $("upload").onchange = async () => {
    const file = $("upload").files[0];
    if (!file) return;
    if (file.size > 256 * 1024) { $("message").textContent = "upload: the file is larger than 256 KB"; return; }
    try { render(await api("POST", `/${state.id}/upload`, await file.text(), "text/csv")); } catch (e) { /* message shown */ }
    $("upload").value = "";
  };
}

function syncControls() {
  const c = state.config;
  for (const id of ["activation", "regularization", "problem", "optimizer", "loss"]) $(id).value = c[id];
  for (const id of ["learningRate", "regularizationRate"]) {
    const sel = $(id);
    if (![...sel.options].some((o) => Number(o.value) === c[id])) sel.add(new Option(String(c[id])));
    sel.value = [...sel.options].find((o) => Number(o.value) === c[id]).value;
  }
  for (const id of ["trainRatio", "noise", "batchSize"]) { $(id).value = c[id]; $(`${id}-value`).textContent = c[id]; }
  for (const [name, problem] of DATASETS) {
    const b = $(`dataset-${name}`);
    b.classList.toggle("selected", c.dataset === name);
  }
  $("loss").querySelector("option[value=cross-entropy]").disabled = c.problem === "regression";
  $("layer-count").textContent = `${c.hiddenLayers.length} hidden layer${c.hiddenLayers.length === 1 ? "" : "s"}`;
  $("export").href = `${API}/${state.id}/checkpoint`;
}

// ---- the network ----
function buildNetwork() {
  const c = state.config, layers = $("layers");
  layers.innerHTML = "";
  const inputs = document.createElement("div");
  inputs.className = "layer";
  inputs.innerHTML = `<div class="title">Features</div>`;
  for (const [name, label] of FEATURES) {
    const row = document.createElement("div");
    row.className = "feature";
    const on = c.features.includes(name);
    row.innerHTML = `<label for="feature-${name}">${label}</label>`;
    const node = document.createElement("div");
    node.className = "neuron" + (on ? "" : " off");
    node.id = on ? `node-0-${c.features.indexOf(name)}` : `feature-${name}`;
    node.title = on ? "click to remove" : "click to add";
    node.innerHTML = `<canvas width="20" height="20"></canvas>`;
    node.onclick = () => {
      const features = on ? c.features.filter((f) => f !== name) : [...c.features, name];
      if (features.length > 0) setConfig({ features });
    };
    row.appendChild(node);
    inputs.appendChild(row);
  }
  layers.appendChild(inputs);
  c.hiddenLayers.forEach((size, l) => {
    const col = document.createElement("div");
    col.className = "layer";
    col.innerHTML = `<div class="title">${size} neuron${size === 1 ? "" : "s"}<div class="neuron-buttons">
      <button data-l="${l}" data-d="1">+</button><button data-l="${l}" data-d="-1">&minus;</button></div></div>`;
    for (let i = 0; i < size; i++) {
      const node = document.createElement("div");
      node.className = "neuron"; node.id = `node-${l + 1}-${i}`;
      node.innerHTML = `<canvas width="20" height="20"></canvas>`;
      col.appendChild(node);
    }
    col.querySelectorAll("button").forEach((b) => b.onclick = () => {
      const h = [...state.config.hiddenLayers];
      h[+b.dataset.l] = Math.max(1, Math.min(8, h[+b.dataset.l] + Number(b.dataset.d)));
      setConfig({ hiddenLayers: h });
    });
    layers.appendChild(col);
  });
  const out = document.createElement("div");
  out.className = "layer";
  out.innerHTML = `<div class="title">Output</div>`;
  const node = document.createElement("div");
  node.className = "neuron"; node.id = `node-${c.hiddenLayers.length + 1}-0`;
  node.innerHTML = `<canvas width="50" height="50"></canvas>`;
  out.appendChild(node);
  layers.appendChild(out);
}

function drawNetwork() {
  const s = state.snap;
  s.neurons.forEach((layer, l) => layer.forEach((values, i) => {
    const node = $(`node-${l}-${i}`);
    if (node) paintGrid(node.querySelector("canvas"), values, s.neuronGridSize, false);
  }));
  const outNode = $(`node-${s.weights.length}-0`);
  if (outNode) paintGrid(outNode.querySelector("canvas"), s.output, s.gridSize, $("discretize").checked);
  // Links: width and colour follow the weights.
  const svg = $("links"), box = $("network").getBoundingClientRect();
  svg.setAttribute("width", box.width); svg.setAttribute("height", box.height);
  let paths = "";
  s.weights.forEach((matrix, l) => matrix.forEach((row, o) => row.forEach((w, i) => {
    const a = $(`node-${l}-${i}`), b = $(`node-${l + 1}-${o}`);
    if (!a || !b) return;
    const ra = a.getBoundingClientRect(), rb = b.getBoundingClientRect();
    const x1 = ra.right - box.left, y1 = ra.top + ra.height / 2 - box.top, x2 = rb.left - box.left, y2 = rb.top + rb.height / 2 - box.top;
    const width = Math.min(6, 0.5 + 2 * Math.abs(w)), stroke = w > 0 ? "#0877bd" : "#f59322";
    paths += `<path d="M${x1},${y1} C${(x1 + x2) / 2},${y1} ${(x1 + x2) / 2},${y2} ${x2},${y2}" stroke="${stroke}" stroke-width="${width.toFixed(2)}" fill="none" opacity="0.7"><title>weight ${w.toFixed(3)}</title></path>`;
  })));
  svg.innerHTML = paths;
}

// ---- output, charts ----
function drawOutput() {
  const s = state.snap;
  if (!s) return;
  const canvas = $("heatmap");
  paintGrid(canvas, s.output, s.gridSize, $("discretize").checked);
  if (state.points) {
    drawPoints(canvas, state.points.train, "white");
    if ($("show-test").checked) drawPoints(canvas, state.points.test, "black");
  }
}

function drawLines(canvas, series, log) {
  const ctx = canvas.getContext("2d"), w = canvas.width, h = canvas.height;
  ctx.clearRect(0, 0, w, h);
  const tf = (v) => (log ? Math.log10(Math.max(v, 1e-12)) : v);
  series = series.map((s) => ({ ...s, values: s.values.map(Number) }));
  const all = series.flatMap((s) => s.values.filter(Number.isFinite).map(tf));
  if (!all.length) return;
  let lo = log ? Math.min(...all) : 0, hi = Math.max(...all);
  if (hi - lo < 1e-9) hi = lo + 1;
  const n = Math.max(2, ...series.map((s) => s.values.length));
  for (const s of series) {
    ctx.beginPath();
    s.values.forEach((v, i) => {
      const x = (i / (n - 1)) * (w - 2) + 1, y = h - 2 - ((tf(v) - lo) / (hi - lo)) * (h - 4);
      i ? ctx.lineTo(x, y) : ctx.moveTo(x, y);
    });
    ctx.strokeStyle = s.color; ctx.lineWidth = 1.5; ctx.stroke();
  }
}

async function drawDatasetThumbnails() {
  for (const [name, problem] of DATASETS) {
    const c = $(`dataset-${name}`).querySelector("canvas"), ctx = c.getContext("2d");
    const response = await fetch(`/api/preview/${name}`);
    if (!response.ok) continue;
    const preview = await response.json();
    ctx.fillStyle = "#f4f4f4"; ctx.fillRect(0, 0, c.width, c.height);
    const s = c.width / 12;
    for (const [x, y, label] of preview.train) {
      const [r, g, b] = color(problem === "classification" ? label * 2 - 1 : label);
      ctx.fillStyle = `rgb(${r},${g},${b})`;
      ctx.fillRect((x + 6) * s - 1, (6 - y) * s - 1, 2, 2);
    }
  }
}

async function render(snap) {
  state.snap = snap;
  state.config = snap.config;
  $("epoch").textContent = String(snap.epoch).padStart(6, "0").replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  $("play").innerHTML = snap.playing ? "&#x275a;&#x275a;" : "&#x25b6;";
  const testLoss = Number(snap.testLoss), trainLoss = Number(snap.trainLoss);
  $("test-loss").textContent = testLoss.toFixed(3);
  $("test-loss").dataset.value = testLoss;
  $("train-loss").textContent = trainLoss.toFixed(3);
  $("train-loss").dataset.value = trainLoss;
  if (!Number.isFinite(trainLoss)) $("message").textContent = "training diverged (the loss is not a number): lower the learning rate and reset";
  syncControls();
  writeHash();
  const structure = JSON.stringify([snap.config.features, snap.config.hiddenLayers]);
  if (structure !== state.structure) { state.structure = structure; buildNetwork(); }
  if (snap.dataVersion !== state.dataVersion) {
    state.dataVersion = snap.dataVersion;
    state.points = await api("GET", `/${state.id}/points`);
  }
  drawNetwork();
  drawOutput();
  drawLines($("loss-chart"), [{ values: snap.trainHistory, color: "#777" }, { values: snap.testHistory, color: "#111" }], false);
  drawLines($("grad-chart"), snap.gradientHistory.map((values, i) => ({ values, color: COLORS[i % COLORS.length] })), true);
  $("grad-legend").innerHTML = snap.gradientNorms.map((v, i) =>
    `<span style="color:${COLORS[i % COLORS.length]}">${i < snap.gradientNorms.length - 1 ? "layer " + (i + 1) : "output"}: ${Number(v).toExponential(1)}</span>`).join(" &nbsp;");
}

async function main() {
  buildControls();
  drawDatasetThumbnails();
  const created = await api("POST", "", readHash());
  state.id = created.id;
  await render(created.snapshot);
  state.events = new EventSource(`${API}/${state.id}/events`);
  state.events.onmessage = (e) => render(JSON.parse(e.data));
  state.events.onerror = () => { $("message").textContent = "lost the connection to the server"; };
  window.addEventListener("pagehide", () => fetch(`${API}/${state.id}`, { method: "DELETE", keepalive: true }));
}

main().catch((e) => { $("message").textContent = String(e.message || e); });
