// SNN Studio training monitor: form, SSE stream, four live panels, log, jobs list, overlay, CSV.
// Plain browser JavaScript, no build step; charts by the vendored uPlot.
"use strict";

const TERMINAL = { completed: "completed", stopped: "stopped", error: "failed" };
const COLORS = { batch: "#b8c2cc", train_loss: "#1f77b4", val_loss: "#d62728",
                 train_acc: "#2ca02c", val_acc: "#9467bd" };
const PARAM_COLORS = ["#0ea5e9", "#f97316", "#10b981", "#e11d48", "#8b5cf6", "#64748b", "#eab308", "#14b8a6"];

const S = {                       // all page state (exposed as window.studio for tests)
  job: null, status: "idle", es: null, lastId: 0, batchesPerEpoch: 1,
  batchLoss: [], batchAcc: [], epochs: [], params: [], overlay: null,
  charts: {}, shapes: {}, renderPending: false, events: 0,
  smoothing: 0, logY: false,       // EMA weight 0..0.99 for loss/accuracy curves; log-scale loss axis
};
window.studio = S;

const $ = (sel) => document.querySelector(sel);

async function api(method, path, body) {
  const res = await fetch(path, { method, headers: body ? { "Content-Type": "application/json" } : {},
                                  body: body ? JSON.stringify(body) : undefined });
  let data = null;
  try { data = await res.json(); } catch (_) { /* not JSON */ }
  if (!res.ok) {
    let msg = `${res.status} ${res.statusText}`;
    if (data && Array.isArray(data.detail)) {
      msg = data.detail.map((d) => `${d.loc.filter((p) => p !== "body").join(".")}: ${d.msg}`).join("\n");
    } else if (data && data.detail) { msg = data.detail; }
    throw new Error(msg);
  }
  return data;
}

// ---------- charts -------------------------------------------------------------------------------
function align(seriesPoints) {
  // seriesPoints: array of [[x, y], ...]; returns uPlot data [xs, ys1, ys2, ...] with nulls for gaps.
  const xs = [...new Set(seriesPoints.flatMap((pts) => pts.map((p) => p[0])))].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  return [xs, ...seriesPoints.map((pts) => {
    const ys = new Array(xs.length).fill(null);
    for (const [x, y] of pts) ys[index.get(x)] = y;
    return ys;
  })];
}

// TensorBoard's smoothing: a debiased exponential moving average over the points that have a value.
function ema(pts, weight) {
  if (!weight) return pts;
  let last = 0, n = 0;
  return pts.map(([x, y]) => {
    if (y == null || !Number.isFinite(y)) return [x, y];
    last = last * weight + (1 - weight) * y;
    n += 1;
    return [x, last / (1 - Math.pow(weight, n))];
  });
}

function themeColors() {
  const css = getComputedStyle(document.documentElement);
  const v = (name, dflt) => css.getPropertyValue(name).trim() || dflt;
  return { ink: v("--ink", "#1d2430"), grid: v("--grid", "rgba(0,0,0,0.07)") };
}
const darkQuery = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
const isDark = () => !!(darkQuery && darkQuery.matches);

function lineSeries(label, stroke, opts = {}) {
  return { label, stroke, width: opts.width ?? 2, dash: opts.dash, spanGaps: true,
           points: { show: opts.points ?? true, size: opts.size ?? 5 }, value: (u, v) => v == null ? "–" : v.toFixed(4) };
}

function drawChart(key, el, defs, data, yRange, logY = false) {
  // A new chart (not setData) when its series, its y distribution or the colour scheme change.
  const shape = [defs.map((d) => d.label).join("|"), logY ? "log" : "lin", isDark() ? "dark" : "light"].join("#");
  let u = S.charts[key];
  if (u && S.shapes[key] !== shape) { u.destroy(); u = null; }
  if (!u) {
    const th = themeColors();
    const axis = (extra) => ({ stroke: th.ink, grid: { stroke: th.grid, width: 1 }, ticks: { stroke: th.grid, width: 1 }, ...extra });
    const opts = {
      width: Math.max(200, el.clientWidth), height: 220,
      scales: { x: { time: false }, y: logY ? { distr: 3, log: 10 } : yRange ? { range: yRange } : {} },
      axes: [axis({ label: "epoch" }), axis({})],
      // Live legend: each series shows its value at the point nearest the cursor that has one
      // (epoch curves have no value at the per-batch x positions, so gaps are skipped).
      cursor: { hover: { skip: [null, undefined] } },
      legend: { live: true },
      series: [{ label: "epoch", value: (u, v) => v == null ? "–" : (+v.toFixed(3)).toString() }, ...defs],
    };
    el.innerHTML = "";
    u = new uPlot(opts, data, el);
    S.charts[key] = u;
    S.shapes[key] = shape;
  } else {
    u.setData(data);
  }
}

function epochPts(rows, field) { return rows.filter((r) => r[field] != null).map((r) => [r.epoch + 1, r[field]]); }

function render() {
  S.renderPending = false;
  const ov = S.overlay;
  const lossDefs = [lineSeries("batch loss", COLORS.batch, { width: 1, size: 3 }),
                    lineSeries("train loss", COLORS.train_loss), lineSeries("val loss", COLORS.val_loss)];
  const lossPts = [S.batchLoss, epochPts(S.epochs, "train_loss"), epochPts(S.epochs, "val_loss")];
  const accDefs = [lineSeries("batch acc", COLORS.batch, { width: 1, size: 3 }),
                   lineSeries("train acc", COLORS.train_acc), lineSeries("val acc", COLORS.val_acc)];
  const accPts = [S.batchAcc, epochPts(S.epochs, "train_accuracy"), epochPts(S.epochs, "val_accuracy")];
  if (ov) {
    const tag = ov.job_id.slice(-6);
    lossDefs.push(lineSeries(`${tag} train`, COLORS.train_loss, { dash: [6, 4], width: 1.5 }),
                  lineSeries(`${tag} val`, COLORS.val_loss, { dash: [6, 4], width: 1.5 }));
    lossPts.push(epochPts(ov.epochs, "train_loss"), epochPts(ov.epochs, "val_loss"));
    accDefs.push(lineSeries(`${tag} train`, COLORS.train_acc, { dash: [6, 4], width: 1.5 }),
                 lineSeries(`${tag} val`, COLORS.val_acc, { dash: [6, 4], width: 1.5 }));
    accPts.push(epochPts(ov.epochs, "train_accuracy"), epochPts(ov.epochs, "val_accuracy"));
  }
  const w = S.smoothing;
  // On a log axis a non-positive loss cannot be drawn: leave it out.
  const positive = (pts) => S.logY ? pts.map(([x, y]) => [x, y != null && y > 0 ? y : null]) : pts;
  drawChart("loss", $("#chart-loss"), lossDefs, align(lossPts.map((pts) => positive(ema(pts, w)))), null, S.logY);
  drawChart("acc", $("#chart-acc"), accDefs, align(accPts.map((pts) => ema(pts, w))), [0, 1]);

  const keys = [...new Set(S.params.flatMap(([, snap]) => Object.keys(snap)))].sort();
  $("#params-hint").hidden = keys.length > 0;
  if (keys.length) {
    const defs = keys.map((k, i) => lineSeries(k, PARAM_COLORS[i % PARAM_COLORS.length]));
    drawChart("params", $("#chart-params"), defs,
              align(keys.map((k) => S.params.filter(([, s]) => k in s).map(([x, s]) => [x, s[k]]))));
  } else if (S.charts.params) {
    S.charts.params.destroy(); delete S.charts.params; $("#chart-params").innerHTML = "";
  }
  renderRates();
}

function scheduleRender() {
  if (!S.renderPending) { S.renderPending = true; requestAnimationFrame(render); }
}

function renderRates() {
  const last = S.epochs[S.epochs.length - 1];
  const box = $("#rates");
  box.innerHTML = "";
  if (!last) { box.innerHTML = '<p class="hint">Rates appear after the first epoch.</p>'; return; }
  for (const [layer, rate] of Object.entries(last.layer_spike_rates || {})) {
    const row = document.createElement("div");
    row.className = "rate-row";
    row.dataset.layer = layer;
    const pct = Math.max(0, Math.min(1, rate)) * 100;
    const cls = rate < 0.01 ? "dead" : rate > 0.95 ? "hot" : "";
    row.innerHTML = `<span>${layer}</span><div class="rate-track"><div class="rate-bar ${cls}" style="width:${pct}%"></div></div>` +
                    `<span>${pct.toFixed(1)}%</span>`;
    box.appendChild(row);
  }
}

// ---------- log & status -------------------------------------------------------------------------
function log(cls, text, fix) {
  const li = document.createElement("li");
  li.className = cls;
  li.textContent = text;
  if (fix) { const f = document.createElement("span"); f.className = "fix"; f.textContent = `Fix: ${fix}`; li.appendChild(f); }
  const ol = $("#log");
  ol.appendChild(li);
  ol.scrollTop = ol.scrollHeight;
}

function setStatus(status) {
  S.status = status;
  const badge = $("#job-status");
  badge.textContent = status;
  badge.dataset.status = status;
  const active = ["idle", "starting", "running"].includes(status) && S.job;
  $("#btn-stop").disabled = !active;
}

const pct = (v) => v == null ? "–" : `${(100 * v).toFixed(1)}%`;
const num = (v) => v == null ? "–" : v.toFixed(4);

function onEvent(ev) {
  if (ev.id <= S.lastId) return;           // replayed twice after a reconnect
  S.lastId = ev.id;
  S.events += 1;
  const d = ev.data;
  switch (ev.event) {
    case "config":
      S.batchesPerEpoch = d.batches_per_epoch || 1;
      if (d.param_snapshot && Object.keys(d.param_snapshot).length) S.params.push([0, d.param_snapshot]);
      setStatus("running");
      log("config", `config: ${d.dataset} (${d.n_train} train / ${d.n_val} val), ${d.n_input}→${d.hidden.join("→")}→${d.n_output}, ` +
          `T=${d.timesteps}, ${d.surrogate}, lr=${d.lr}, batch=${d.batch_size}, ${d.n_params} params on ${d.device}`);
      if (d.note) log("note", `note: ${d.note}`);
      break;
    case "batch": {
      const x = d.epoch + d.batch / d.batches;
      S.batchLoss.push([x, d.loss]);
      S.batchAcc.push([x, d.accuracy]);
      $("#job-progress").textContent = `epoch ${d.epoch + 1} · batch ${d.batch}/${d.batches}`;
      break;
    }
    case "epoch":
      S.epochs.push(d);
      if (d.param_snapshot && Object.keys(d.param_snapshot).length) S.params.push([d.epoch + 1, d.param_snapshot]);
      log("epoch", `epoch ${d.epoch + 1}: train loss ${num(d.train_loss)} acc ${pct(d.train_accuracy)} · ` +
          `val loss ${num(d.val_loss)} acc ${pct(d.val_accuracy)}`);
      break;
    case "diagnosis":
      log(`diagnosis ${d.severity}`, `[${d.severity}] ${d.category} @ ${d.layer} (epoch ${d.epoch + 1}): ${d.message}`, d.suggestion);
      break;
    case "heartbeat":
      if (d.status && d.status !== S.status) setStatus(d.status);
      return;
    default:
      if (ev.event in TERMINAL) {
        setStatus(TERMINAL[ev.event]);
        const summary = d.val_accuracy != null ? ` — val acc ${pct(d.val_accuracy)} after ${d.epochs_done} epoch(s)` : "";
        log(ev.event, `${ev.event}${d.message ? ": " + d.message : ""}${summary}`);
        closeStream();
        refreshJobs();
      }
  }
  scheduleRender();
}

// ---------- stream -------------------------------------------------------------------------------
function closeStream() {
  if (S.es) { S.es.close(); S.es = null; }
  $("#conn").classList.remove("live");
}

function follow(jobId) {
  closeStream();
  Object.assign(S, { job: jobId, lastId: 0, batchLoss: [], batchAcc: [], epochs: [], params: [], events: 0 });
  $("#job-id").textContent = jobId;
  $("#job-progress").textContent = "";
  $("#log").innerHTML = "";
  setStatus("idle");
  scheduleRender();
  const es = new EventSource(`/api/training/stream/${encodeURIComponent(jobId)}`);
  S.es = es;
  es.onopen = () => $("#conn").classList.add("live");
  es.onerror = () => $("#conn").classList.remove("live");   // EventSource retries with Last-Event-ID
  es.onmessage = (m) => onEvent(JSON.parse(m.data));
  if (location.hash !== `#${jobId}`) location.hash = jobId;   // deep link: #job_<id>
  markCurrentJob();
}

// ---------- deep links, view -----------------------------------------------------------------
const JOB_HASH = /^#(job_\d+)$/;

function fillForm(cfg) {
  const f = $("#train-form");
  for (const name of ["dataset", "epochs", "batch_size", "lr", "timesteps", "surrogate"]) {
    if (cfg[name] != null && f[name]) f[name].value = String(cfg[name]);
  }
  if (Array.isArray(cfg.hidden)) f.hidden.value = cfg.hidden.join(", ");
  f.learn_beta.checked = !!cfg.learn_beta;
  f.learn_threshold.checked = !!cfg.learn_threshold;
  f.dataset.dispatchEvent(new Event("change"));
}

async function openRun(jobId) {
  // Select a run: replay its stream into the panels and load its configuration into the form.
  $("#form-error").textContent = "";
  let run;
  try { run = await api("GET", `/api/training/status/${encodeURIComponent(jobId)}`); }
  catch (err) { $("#form-error").textContent = `run ${jobId}: ${err.message}`; return; }
  follow(jobId);
  fillForm(run.config || {});
}

function openFromHash() {
  const m = JOB_HASH.exec(location.hash);
  if (m && m[1] !== S.job) openRun(m[1]);
}

// ---------- form ---------------------------------------------------------------------------------
function readForm() {
  const f = $("#train-form");
  const hidden = f.hidden.value.split(",").map((s) => s.trim()).filter(Boolean).map(Number);
  return {
    dataset: f.dataset.value, epochs: Number(f.epochs.value), batch_size: Number(f.batch_size.value),
    lr: Number(f.lr.value), timesteps: Number(f.timesteps.value), hidden,
    surrogate: f.surrogate.value, learn_beta: f.learn_beta.checked, learn_threshold: f.learn_threshold.checked,
  };
}

async function startJob(e) {
  e.preventDefault();
  $("#form-error").textContent = "";
  $("#btn-train").disabled = true;
  try {
    const res = await api("POST", "/api/training/start", readForm());
    S.overlay = null;                        // a new run starts with a clean chart
    $("#overlay-label").textContent = "";
    follow(res.job_id);
    setStatus(res.status);
    refreshJobs();
  } catch (err) {
    $("#form-error").textContent = err.message;
  } finally {
    $("#btn-train").disabled = false;
  }
}

async function stopJob() {
  if (!S.job) return;
  $("#btn-stop").disabled = true;
  try { await api("POST", "/api/training/stop", { job_id: S.job }); }
  catch (err) { $("#form-error").textContent = err.message; }
}

// ---------- jobs list, overlay, CSV --------------------------------------------------------------
function markCurrentJob() {
  for (const tr of document.querySelectorAll("#jobs-table tbody tr")) tr.classList.toggle("current", tr.dataset.job === S.job);
}

async function refreshJobs() {
  let jobs;
  try { jobs = await api("GET", "/api/training/jobs"); } catch (_) { return; }
  const body = $("#jobs-table tbody");
  body.innerHTML = "";
  for (const j of jobs) {
    const tr = document.createElement("tr");
    tr.dataset.job = j.job_id;
    tr.title = `${j.job_id} · ${j.dataset}${j.reason ? " · " + j.reason : ""}`;
    tr.innerHTML = `<td>…${j.job_id.slice(-6)}</td><td class="st">${j.status}</td>` +
      `<td>${j.epochs_done}/${j.epochs}</td><td>${pct(j.best_val_accuracy)}</td><td class="actions"></td>`;
    const act = tr.querySelector(".actions");
    const view = document.createElement("button");
    view.textContent = "view"; view.className = "view"; view.onclick = () => openRun(j.job_id);
    const over = document.createElement("button");
    over.textContent = "overlay"; over.className = "overlay"; over.onclick = () => toggleOverlay(j.job_id);
    const csv = document.createElement("a");
    csv.textContent = "csv"; csv.className = "csv"; csv.href = `/api/runs/${j.job_id}/metrics.csv`; csv.download = `${j.job_id}_metrics.csv`;
    act.append(view, over, csv);
    body.appendChild(tr);
  }
  markCurrentJob();
}

async function toggleOverlay(jobId) {
  if (S.overlay && S.overlay.job_id === jobId) {
    S.overlay = null;
    $("#overlay-label").textContent = "";
  } else {
    const run = await api("GET", `/api/runs/${jobId}/metrics`);
    S.overlay = { job_id: jobId, epochs: run.epochs };
    $("#overlay-label").textContent = `overlay: ${jobId} (dashed)`;
  }
  scheduleRender();
}

// ---------- start-up -----------------------------------------------------------------------------
async function init() {
  $("#train-form").addEventListener("submit", startJob);
  $("#btn-stop").addEventListener("click", stopJob);
  try {
    const sur = await api("GET", "/api/training/surrogates");
    $("#f-surrogate").innerHTML = sur.map((s) => `<option value="${s.name}" title="${s.reference}: ${s.backward}"` +
      `${s.available ? "" : " disabled"}>${s.name}</option>`).join("");
    const ds = await api("GET", "/api/training/datasets");
    const notes = Object.fromEntries(ds.map((d) => [d.name, d.note]));
    const showNote = () => { $("#dataset-note").textContent = notes[$("#f-dataset").value] || ""; };
    $("#f-dataset").addEventListener("change", showNote);
    showNote();
  } catch (err) { $("#form-error").textContent = `server: ${err.message}`; }
  const smooth = $("#smoothing");
  const showSmooth = () => {
    S.smoothing = Math.min(0.99, Math.max(0, Number(smooth.value) || 0));
    $("#smoothing-value").textContent = S.smoothing.toFixed(2);
    scheduleRender();
  };
  smooth.addEventListener("input", showSmooth);
  showSmooth();
  $("#log-y").addEventListener("change", (e) => { S.logY = e.target.checked; scheduleRender(); });
  if (darkQuery && darkQuery.addEventListener) darkQuery.addEventListener("change", scheduleRender);
  window.addEventListener("hashchange", openFromHash);
  window.addEventListener("resize", () => {
    for (const [key, u] of Object.entries(S.charts)) {
      const el = { loss: "#chart-loss", acc: "#chart-acc", params: "#chart-params" }[key];
      u.setSize({ width: Math.max(200, $(el).clientWidth), height: 220 });
    }
  });
  render();
  openFromHash();
  refreshJobs();
  setInterval(refreshJobs, 3000);
}

init();
