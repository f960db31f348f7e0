// SNN Studio training monitor: form, SSE stream, live panels, diagnoses, log, runs table
// (sort, tag filter, name / tags / notes), N-run overlays, CSV.
// Plain browser JavaScript, no build step; charts by the vendored uPlot.
"use strict";

const TERMINAL = { completed: "completed", stopped: "stopped", error: "failed" };
const COLORS = { batch: "#b8c2cc", train_loss: "#1f77b4", val_loss: "#d62728",
                 train_acc: "#2ca02c", val_acc: "#9467bd" };
// One colour per overlaid run (its train curve dashed, its val curve dotted).
const OVERLAY_COLORS = ["#ff7f0e", "#17becf", "#e377c2", "#8c564b", "#bcbd22", "#7f7f7f", "#0d9488", "#db2777",
                        "#65a30d", "#7c3aed"];
const PARAM_COLORS = ["#0ea5e9", "#f97316", "#10b981", "#e11d48", "#8b5cf6", "#64748b", "#eab308", "#14b8a6"];

const S = {                       // all page state (exposed as window.studio for tests)
  job: null, status: "idle", es: null, lastId: 0, batchesPerEpoch: 1,
  batchLoss: [], batchAcc: [], epochs: [], params: [], overlays: [], diagnoses: {},
  charts: {}, shapes: {}, renderPending: false, events: 0,
  smoothing: 0, logY: false,       // EMA weight 0..0.99 for loss/accuracy curves; log-scale loss axis
  jobs: [], sort: { key: "created_at", dir: "desc" }, tagFilter: [], tableKey: "", editing: null,
};
// The first overlaid run (null when none): the single overlay of earlier versions.
Object.defineProperty(S, "overlay", { get: () => S.overlays[0] || null, enumerable: true });
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
  const lossDefs = [lineSeries("batch loss", COLORS.batch, { width: 1, size: 3 }),
                    lineSeries("train loss", COLORS.train_loss), lineSeries("val loss", COLORS.val_loss)];
  const lossPts = [S.batchLoss, epochPts(S.epochs, "train_loss"), epochPts(S.epochs, "val_loss")];
  const accDefs = [lineSeries("batch acc", COLORS.batch, { width: 1, size: 3 }),
                   lineSeries("train acc", COLORS.train_acc), lineSeries("val acc", COLORS.val_acc)];
  const accPts = [S.batchAcc, epochPts(S.epochs, "train_accuracy"), epochPts(S.epochs, "val_accuracy")];
  for (const ov of S.overlays) {
    const train = { dash: [6, 4], width: 1.5 }, val = { dash: [2, 3], width: 1.5 };
    lossDefs.push(lineSeries(`${ov.label} train`, ov.color, train), lineSeries(`${ov.label} val`, ov.color, val));
    lossPts.push(epochPts(ov.epochs, "train_loss"), epochPts(ov.epochs, "val_loss"));
    accDefs.push(lineSeries(`${ov.label} train`, ov.color, train), lineSeries(`${ov.label} val`, ov.color, val));
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
  renderDiagnoses();
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

// ---------- diagnoses ------------------------------------------------------------------------------
const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const fraction = (v) => v == null ? "–" : `${(100 * v).toFixed(1)}%`;

function findingState(key, d, last) {
  // Active while the latest epoch still shows the finding; resolved once an epoch no longer does.
  if (last && Array.isArray(last.active_findings)) return last.active_findings.includes(key) ? "active" : "resolved";
  return d.resolved ? "resolved" : "active";
}

function renderDiagnoses() {
  const last = S.epochs[S.epochs.length - 1];
  const body = $("#findings tbody");
  const rows = Object.entries(S.diagnoses).sort(([, a], [, b]) => (b.severity_level ?? 0) - (a.severity_level ?? 0));
  body.innerHTML = "";
  for (const [key, d] of rows) {
    const tr = document.createElement("tr");
    const state = findingState(key, d, last);
    tr.dataset.key = key;
    tr.dataset.state = state;
    tr.className = `sev-${esc(d.severity)} ${state}`;
    tr.title = `${d.message}${d.suggestion ? "\nFix: " + d.suggestion : ""}`;
    const seen = d.first_epoch === d.epoch ? `${d.epoch + 1}` : `${d.first_epoch + 1}–${d.epoch + 1}`;
    tr.innerHTML = `<td class="sev">${esc(d.severity)}</td><td class="cat">${esc(d.category)}</td>` +
      `<td class="layer">${esc(d.layer)}</td><td class="state">${state}</td><td class="ep">${seen}</td>`;
    body.appendChild(tr);
  }
  $("#findings").hidden = rows.length === 0;
  $("#findings-hint").textContent = rows.length ? "" : (S.job ? "No profiler findings for this run." : "Select a run.");
  const lb = $("#layer-health tbody");
  lb.innerHTML = "";
  const rates = (last && last.layer_spike_rates) || {}, dead = (last && last.layer_dead_fraction) || {};
  const sat = (last && last.layer_saturated_fraction) || {};
  const layers = [...new Set([...Object.keys(rates), ...Object.keys(dead), ...Object.keys(sat)])];
  for (const layer of layers) {
    const tr = document.createElement("tr");
    tr.dataset.layer = layer;
    tr.innerHTML = `<td>${esc(layer)}</td><td class="rate" data-value="${rates[layer] ?? ""}">${fraction(rates[layer])}</td>` +
      `<td class="dead" data-value="${dead[layer] ?? ""}">${fraction(dead[layer])}</td>` +
      `<td class="saturated" data-value="${sat[layer] ?? ""}">${fraction(sat[layer])}</td>`;
    if ((dead[layer] ?? 0) >= 0.1) tr.querySelector(".dead").classList.add("warn");
    if ((sat[layer] ?? 0) >= 0.3) tr.querySelector(".saturated").classList.add("warn");
    lb.appendChild(tr);
  }
  $("#layer-health").hidden = layers.length === 0;
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
    case "diagnosis": {
      const key = `${d.category}@${d.layer}`;
      const prev = S.diagnoses[key];
      S.diagnoses[key] = { ...d, first_epoch: prev ? prev.first_epoch : d.epoch };
    }
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
  Object.assign(S, { job: jobId, lastId: 0, batchLoss: [], batchAcc: [], epochs: [], params: [], events: 0,
                     diagnoses: {} });
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
    clearOverlays();                         // a new run starts with a clean chart
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

// ---------- runs table: sort, tag filter, name / tags / notes, overlays, CSV ----------------------
const shortSurrogate = (v) => v ? String(v).replace(/_surrogate$/, "") : "–";
const flag = (v) => v ? "✓" : "–";
const runLabel = (j) => j.name || `…${j.job_id.slice(-6)}`;
// Columns: key (sort key and cell class), header, cell text, sort value (null sorts last).
const COLUMNS = [
  { key: "name", head: "name", text: runLabel, sort: (j) => (j.name || j.job_id).toLowerCase() },
  { key: "status", head: "status", cls: "st", text: (j) => j.status },
  { key: "best_val_accuracy", head: "best", text: (j) => pct(j.best_val_accuracy) },
  { key: "epochs_done", head: "epochs", text: (j) => `${j.epochs_done}/${j.epochs}` },
  { key: "surrogate", head: "surrogate", text: (j) => shortSurrogate(j.surrogate) },
  { key: "lr", head: "lr", text: (j) => j.lr == null ? "–" : String(j.lr) },
  { key: "hidden", head: "hidden", text: (j) => (j.hidden || []).join("·") || "–",
    sort: (j) => (j.hidden || []).reduce((a, b) => a + b, 0) * 10 + (j.hidden || []).length },
  { key: "timesteps", head: "T", text: (j) => j.timesteps ?? "–" },
  { key: "learn_beta", head: "β", title: "learnable β", text: (j) => flag(j.learn_beta), sort: (j) => +!!j.learn_beta },
  { key: "learn_threshold", head: "θ", title: "learnable threshold", text: (j) => flag(j.learn_threshold),
    sort: (j) => +!!j.learn_threshold },
  { key: "tags", head: "tags", text: (j) => (j.tags || []).join(", "), sort: (j) => (j.tags || []).join(",").toLowerCase() || null },
  { key: "created_at", head: "started", text: (j) => new Date(j.created_at * 1000).toLocaleTimeString() },
];

function sortValue(j, key) {
  const col = COLUMNS.find((c) => c.key === key);
  const v = col && col.sort ? col.sort(j) : j[key];
  return v === undefined ? null : v;
}

function sortedJobs(jobs) {
  const { key, dir } = S.sort;
  const sign = dir === "asc" ? 1 : -1;
  return jobs.map((j, i) => [j, i]).sort(([a, ia], [b, ib]) => {
    const x = sortValue(a, key), y = sortValue(b, key);
    if (x == null || y == null) return x == null && y == null ? ia - ib : x == null ? 1 : -1;   // empty: last
    if (x < y) return -sign;
    if (x > y) return sign;
    return ia - ib;
  }).map(([j]) => j);
}

function matchesFilter(j) {
  const tags = (j.tags || []).map((t) => t.toLowerCase());
  return S.tagFilter.every((word) => tags.some((t) => t.includes(word)));
}

function markCurrentJob() {
  for (const tr of document.querySelectorAll("#jobs-table tbody tr")) tr.classList.toggle("current", tr.dataset.job === S.job);
}

function renderHead() {
  const tr = $("#jobs-table thead tr");
  tr.innerHTML = '<th class="sel" title="overlay on the charts">show</th>';
  for (const col of COLUMNS) {
    const th = document.createElement("th");
    th.dataset.sort = col.key;
    th.className = "sortable";
    th.textContent = col.head;
    th.title = `${col.title || col.head}: click to sort`;
    if (S.sort.key === col.key) th.setAttribute("aria-sort", S.sort.dir === "asc" ? "ascending" : "descending");
    th.onclick = () => {
      S.sort = S.sort.key === col.key ? { key: col.key, dir: S.sort.dir === "asc" ? "desc" : "asc" }
                                      : { key: col.key, dir: "asc" };
      renderJobs(true);
    };
    tr.appendChild(th);
  }
  tr.insertAdjacentHTML("beforeend", "<th></th>");
}

function renderJobs(force = false) {
  const shown = sortedJobs(S.jobs.filter(matchesFilter));
  const key = JSON.stringify([shown, S.sort, S.overlays.map((o) => o.job_id)]);
  if (!force && key === S.tableKey) return;   // unchanged: leave the rows (and any click on them) alone
  S.tableKey = key;
  renderHead();
  const body = $("#jobs-table tbody");
  body.innerHTML = "";
  const overlaid = new Set(S.overlays.map((o) => o.job_id));
  for (const j of shown) {
    const tr = document.createElement("tr");
    tr.dataset.job = j.job_id;
    tr.title = `${j.job_id} · ${j.dataset}${j.reason ? " · " + j.reason : ""}${j.notes ? "\n" + j.notes : ""}`;
    const sel = document.createElement("td");
    sel.className = "sel";
    const box = document.createElement("input");
    box.type = "checkbox"; box.className = "sel"; box.checked = overlaid.has(j.job_id);
    box.title = "overlay this run's curves";
    box.onchange = () => setOverlay(j, box.checked);
    sel.appendChild(box);
    tr.appendChild(sel);
    for (const col of COLUMNS) {
      const td = document.createElement("td");
      td.className = col.cls || col.key;
      td.textContent = col.text(j);
      tr.appendChild(td);
    }
    const ov = S.overlays.find((o) => o.job_id === j.job_id);
    if (ov) tr.querySelector("td.name").style.borderLeft = `4px solid ${ov.color}`;
    const act = document.createElement("td");
    act.className = "actions";
    const view = document.createElement("button");
    view.textContent = "view"; view.className = "view"; view.onclick = () => openRun(j.job_id);
    const over = document.createElement("button");
    over.textContent = "overlay"; over.className = "overlay"; over.onclick = () => toggleOverlay(j.job_id);
    const edit = document.createElement("button");
    edit.textContent = "edit"; edit.className = "edit"; edit.onclick = () => openEditor(j);
    const csv = document.createElement("a");
    csv.textContent = "csv"; csv.className = "csv"; csv.href = `/api/runs/${j.job_id}/metrics.csv`; csv.download = `${j.job_id}_metrics.csv`;
    act.append(view, over, edit, csv);
    tr.appendChild(act);
    body.appendChild(tr);
  }
  $("#jobs-hint").textContent = S.jobs.length && !shown.length ? "No run has such a tag."
    : "Click a column to sort; tick runs to overlay their curves.";
  markCurrentJob();
}

async function refreshJobs() {
  let jobs;
  try { jobs = await api("GET", "/api/training/jobs"); } catch (_) { return; }
  S.jobs = jobs;
  for (const ov of S.overlays) {           // keep overlay labels in step with renamed runs
    const j = jobs.find((x) => x.job_id === ov.job_id);
    if (j) ov.label = runLabel(j);
  }
  renderJobs();
}

function showOverlayLabel() {
  $("#overlay-label").textContent = S.overlays.length
    ? `overlay: ${S.overlays.map((o) => o.job_id).join(", ")} (dashed: train, dotted: val)` : "";
}

function clearOverlays() {
  S.overlays = [];
  showOverlayLabel();
  renderJobs();
}

async function setOverlay(job, on) {
  const jobId = job.job_id;
  const i = S.overlays.findIndex((o) => o.job_id === jobId);
  if (!on) {
    if (i >= 0) S.overlays.splice(i, 1);
  } else if (i < 0) {
    let run;
    try { run = await api("GET", `/api/runs/${encodeURIComponent(jobId)}/metrics`); }
    catch (err) { $("#form-error").textContent = `overlay ${jobId}: ${err.message}`; renderJobs(true); return; }
    if (S.overlays.some((o) => o.job_id === jobId)) return;   // added meanwhile
    const used = new Set(S.overlays.map((o) => o.color));
    const color = OVERLAY_COLORS.find((c) => !used.has(c)) || OVERLAY_COLORS[S.overlays.length % OVERLAY_COLORS.length];
    S.overlays.push({ job_id: jobId, epochs: run.epochs, color, label: runLabel(job) });
  }
  showOverlayLabel();
  renderJobs();
  scheduleRender();
}

function toggleOverlay(jobId) {
  const job = S.jobs.find((j) => j.job_id === jobId) || { job_id: jobId };
  return setOverlay(job, !S.overlays.some((o) => o.job_id === jobId));
}

// ---------- run name, tags, notes ---------------------------------------------------------------
function openEditor(job) {
  const f = $("#run-edit");
  S.editing = job.job_id;
  $("#edit-job").textContent = job.job_id;
  f.name.value = job.name || "";
  f.tags.value = (job.tags || []).join(", ");
  f.notes.value = job.notes || "";
  $("#edit-error").textContent = "";
  f.hidden = false;
  f.name.focus();
}

async function saveRun(e) {
  e.preventDefault();
  const f = $("#run-edit");
  if (!S.editing) return;
  const body = { name: f.name.value.trim() || null,
                 tags: f.tags.value.split(",").map((t) => t.trim()).filter(Boolean),
                 notes: f.notes.value.trim() ? f.notes.value : null };
  $("#edit-error").textContent = "";
  try {
    await api("PATCH", `/api/runs/${encodeURIComponent(S.editing)}`, body);
    f.hidden = true;
    S.editing = null;
    await refreshJobs();
  } catch (err) { $("#edit-error").textContent = err.message; }
}

function readFilter() {
  S.tagFilter = $("#tag-filter").value.toLowerCase().split(/[\s,]+/).filter(Boolean);
  renderJobs();
}

// ---------- start-up -----------------------------------------------------------------------------
async function init() {
  $("#train-form").addEventListener("submit", startJob);
  $("#btn-stop").addEventListener("click", stopJob);
  $("#run-edit").addEventListener("submit", saveRun);
  $("#btn-cancel-edit").addEventListener("click", () => { $("#run-edit").hidden = true; S.editing = null; });
  $("#tag-filter").addEventListener("input", readFilter);
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
