// SNN Studio hardware panel: the selected completed run on an iCE40 board.
// Float vs Q8.8 golden accuracy, planned EBR/SPRAM/DSP against the board's budget and
// inferences/s (GET /api/runs/<job>/hardware, no synthesis), and a real bitstream build
// (POST /api/runs/<job>/build) whose stages arrive over SSE (/api/builds/<id>/stream).
// Stand-alone: it reads the selected run from window.studio (job, status) or #job_<id>.
"use strict";

(() => {
  const STAGES = ["load model", "quantize + plan", "generate Verilog", "synthesize (yosys)",
                  "place & route (nextpnr)", "timing sign-off", "pack bitstream (icepack)", "report"];
  const RESOURCES = [["lcs", "Logic cells (LC)"], ["ebr", "Block RAM (EBR)"], ["spram", "SPRAM"], ["dsp", "DSP (MAC16)"]];
  const H = { job: null, status: null, board: null, key: "", data: null, build: null, es: null, seq: 0 };
  window.studioHardware = H;   // for tests and the console

  const el = (tag, attrs = {}, text) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text != null) e.textContent = text;
    return e;
  };
  const pct = (v) => (v == null ? "—" : `${(100 * v).toFixed(1)} %`);
  const int = (v) => Math.round(v).toLocaleString("en-US");

  async function getJSON(method, path) {
    const res = await fetch(path, { method });
    let data = null;
    try { data = await res.json(); } catch (_) { /* not JSON */ }
    if (!res.ok) {
      const d = data && data.detail;
      throw new Error(Array.isArray(d) ? d.map((x) => x.msg).join("; ") : d || `${res.status} ${res.statusText}`);
    }
    return data;
  }

  function skeleton(root) {
    root.innerHTML = `
      <h3>Hardware <span class="hw-sub">iCE40, no synthesis</span></h3>
      <div class="hw-head">
        <label class="hw-board-label">Board <select id="hw-board"></select></label>
        <span id="hw-run" class="hw-run"></span>
      </div>
      <p id="hw-message" class="hint hw-message"></p>
      <div id="hw-body" class="hw-body" hidden>
        <dl class="hw-stats">
          <div><dt>Float accuracy</dt><dd id="hw-float">—</dd></div>
          <div><dt>Q8.8 golden accuracy</dt><dd id="hw-golden">—</dd></div>
          <div><dt>Inferences/s</dt><dd id="hw-ips">—</dd></div>
          <div><dt>Fits</dt><dd id="hw-fits">—</dd></div>
        </dl>
        <table id="hw-resources" class="hw-resources">
          <thead><tr><th>resource</th><th>planned</th><th>budget</th><th class="bar"></th></tr></thead>
          <tbody></tbody>
        </table>
        <pre id="hw-fit-error" class="hw-fit-error" hidden></pre>
        <div class="hw-build-row">
          <button type="button" id="hw-build" class="primary">Build bitstream</button>
          <span class="hint">yosys + nextpnr + icepack, about a minute</span>
        </div>
        <ol id="hw-stages" class="hw-stages" hidden></ol>
        <p id="hw-build-result" class="hw-build-result"></p>
      </div>`;
    root.querySelector("#hw-board").addEventListener("change", (e) => { H.board = e.target.value; H.key = ""; tick(); });
    root.querySelector("#hw-build").addEventListener("click", startBuild);
  }

  async function loadBoards() {
    const select = document.getElementById("hw-board");
    try {
      const boards = await getJSON("GET", "/api/hardware/boards");
      select.replaceChildren(...boards.map((b) => el("option", { value: b.name }, `${b.title} (${b.name})`)));
    } catch (_) {
      select.replaceChildren(el("option", { value: "icebreaker" }, "icebreaker"));
    }
    H.board = select.value || "icebreaker";
  }

  function selected() {
    const s = window.studio;
    if (s && s.job) return { job: s.job, status: s.status };
    const m = /^#(job_\d+)$/.exec(location.hash);
    return m ? { job: m[1], status: null } : { job: null, status: null };
  }

  function message(text, isError = false) {
    const p = document.getElementById("hw-message");
    p.textContent = text || "";
    p.classList.toggle("error", isError);
  }

  function render(d) {
    document.getElementById("hw-body").hidden = false;
    document.getElementById("hw-float").textContent = pct(d.float_accuracy);
    document.getElementById("hw-golden").textContent = pct(d.golden_accuracy);
    document.getElementById("hw-golden").title = `${d.accuracy_delta >= 0 ? "+" : ""}${(100 * d.accuracy_delta).toFixed(2)} points vs float`;
    const ips = document.getElementById("hw-ips");
    ips.textContent = `${int(d.inferences_per_second)} /s`;
    ips.title = `${d.cycles_per_inference.mean.toFixed(1)} cycles/inference (mean on ${d.n_val} validation samples) at ` +
                `${(d.clock_hz / 1e6).toFixed(0)} MHz; worst case ${int(d.worst_case_inferences_per_second)} /s`;
    const fits = document.getElementById("hw-fits");
    fits.textContent = d.fits ? "yes" : "no";
    fits.className = d.fits ? "ok" : "bad";
    const body = document.querySelector("#hw-resources tbody");
    body.replaceChildren(...RESOURCES.map(([key, label]) => {
      const r = d.resources[key];
      const tr = el("tr", { "data-res": key, class: r.fits ? "" : "over" });
      tr.append(el("td", { class: "name" }, label),
                el("td", { class: "planned" }, r.planned == null ? "after synthesis" : String(r.planned)),
                el("td", { class: "budget" }, String(r.budget)));
      const bar = el("td", { class: "bar" });
      if (r.planned != null && r.budget > 0) {
        const track = el("div", { class: "hw-track" });
        const fill = el("div", { class: "hw-fill" + (r.fits ? "" : " over") });
        fill.style.width = `${Math.min(100, (100 * r.planned) / r.budget).toFixed(1)}%`;
        track.append(fill);
        bar.append(track);
      }
      tr.append(bar);
      return tr;
    }));
    const fe = document.getElementById("hw-fit-error");
    fe.hidden = d.fits;
    fe.textContent = d.fit_error || "";
    document.getElementById("hw-build").disabled = !d.fits || Boolean(H.build && !H.build.done);
    message(`${d.dataset} validation set (${d.n_val} samples) · ${d.board.title} · artifact ${d.artifact}`);
  }

  async function refresh() {
    const seq = ++H.seq;
    const board = H.board || "icebreaker";
    try {
      const d = await getJSON("GET", `/api/runs/${encodeURIComponent(H.job)}/hardware?board=${encodeURIComponent(board)}`);
      if (seq !== H.seq) return;
      H.data = d;
      render(d);
    } catch (err) {
      if (seq !== H.seq) return;
      H.data = null;
      document.getElementById("hw-body").hidden = true;
      message(err.message, !/only a completed run/.test(err.message));
    }
  }

  function resetBuild() {
    if (H.es) { H.es.close(); H.es = null; }
    H.build = null;
    const ol = document.getElementById("hw-stages");
    ol.hidden = true;
    ol.replaceChildren();
    document.getElementById("hw-build-result").replaceChildren();
  }

  function tick() {
    const root = document.getElementById("hw-panel");
    const { job, status } = selected();
    root.hidden = !job;
    if (!job) return;
    if (job !== H.job) { H.job = job; resetBuild(); }
    H.status = status;
    document.getElementById("hw-run").textContent = job;
    const key = `${job}|${H.board}|${status}`;
    if (status && status !== "completed") {
      if (H.key !== key) {
        H.key = key;
        H.seq++;
        document.getElementById("hw-body").hidden = true;
        message(`run ${job} is ${status}: the hardware view opens when it has completed`);
      }
      return;
    }
    if (H.key === key) return;
    H.key = key;
    refresh();
  }

  // ---------- bitstream build --------------------------------------------------------------------
  function stageList() {
    const ol = document.getElementById("hw-stages");
    ol.hidden = false;
    ol.replaceChildren(...STAGES.map((name, i) => el("li", { "data-stage": String(i + 1), class: "pending" }, name)));
    return ol;
  }

  function setStage(index, state, text) {
    const li = document.querySelector(`#hw-stages li[data-stage="${index}"]`);
    if (!li) return;
    li.className = state;
    if (text) li.textContent = text;
  }

  async function startBuild() {
    if (!H.job) return;
    const button = document.getElementById("hw-build");
    button.disabled = true;
    resetBuild();
    const result = document.getElementById("hw-build-result");
    result.className = "hw-build-result";
    result.textContent = "starting the build …";
    let b;
    try {
      b = await getJSON("POST", `/api/runs/${encodeURIComponent(H.job)}/build?board=${encodeURIComponent(H.board || "icebreaker")}`);
    } catch (err) {
      result.textContent = `build failed: ${err.message}`;
      result.classList.add("error");
      button.disabled = false;
      return;
    }
    H.build = { id: b.build_id, job: H.job, done: false, events: [] };
    stageList();
    const es = new EventSource(`/api/builds/${encodeURIComponent(b.build_id)}/stream`);
    H.es = es;
    let current = 0;
    es.onmessage = (m) => {
      const ev = JSON.parse(m.data);
      if (!H.build || H.build.id !== b.build_id) { es.close(); return; }
      if (ev.event === "heartbeat") return;
      H.build.events.push(ev);
      const d = ev.data;
      if (ev.event === "queued") result.textContent = "queued (another build is running) …";
      else if (ev.event === "started") result.textContent = `building for ${d.board} …`;
      else if (ev.event === "stage") {
        setStage(d.index, d.state === "running" ? "running" : "done");
        if (d.state === "running") { current = d.index; result.textContent = `[${d.index}/${d.total}] ${d.stage} …`; }
      } else if (ev.event === "completed" || ev.event === "failed") {
        es.close();
        H.es = null;
        H.build.done = true;
        button.disabled = !(H.data && H.data.fits);
        if (ev.event === "completed") {
          result.replaceChildren(el("span", { class: d.timing_met ? "ok" : "bad" },
            `built in ${d.seconds} s · timing ${d.timing_met ? "met" : "NOT met"}` +
            (d.fmax_mhz != null ? ` (Fmax ${d.fmax_mhz} MHz at ${d.clock_mhz} MHz)` : "") + " · "));
          for (const [name, href] of Object.entries(d.downloads || {})) {
            result.append(el("a", { href, download: "", class: "hw-download", "data-file": name }, name), " ");
          }
        } else {
          if (current) setStage(current, "failed");
          result.className = "hw-build-result error";
          result.textContent = `build failed${d.stage ? ` in ${d.stage}` : ""}: ${d.message}`;
        }
      }
    };
    es.onerror = () => {
      if (H.build && H.build.done) { es.close(); }
    };
  }

  function init() {
    const root = document.getElementById("hw-panel");
    if (!root) return;
    skeleton(root);
    loadBoards().then(() => { tick(); setInterval(tick, 500); });
    window.addEventListener("hashchange", () => setTimeout(tick, 50));
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
