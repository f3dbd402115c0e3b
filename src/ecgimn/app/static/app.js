// ECG-IMN explanation page: plain JavaScript, no build step, no external resources.
// All text from the server or the user is inserted with textContent (never innerHTML).
"use strict";

const $ = (id) => document.getElementById(id);
const state = { info: null, current: null, ptbxl: [] };

// ------------------------------------------------------------------------------------------ helpers

async function api(url, options) {
  let response;
  try {
    response = await fetch(url, options);
  } catch (err) {
    throw new Error("the server did not answer (is `ecgimn app` still running?)");
  }
  let body = null;
  try {
    body = await response.json();
  } catch (err) {
    body = null;
  }
  if (!response.ok) {
    throw new Error(body && body.error ? body.error : `request failed (HTTP ${response.status})`);
  }
  return body;
}

function postJSON(url, data) {
  return api(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(data),
  });
}

let focusBeforeError = null;

function showError(message) {
  // the box is fixed at the top of the viewport (visible wherever the page is scrolled) and takes the focus,
  // so screen readers announce it and Escape closes it
  $("error-text").textContent = message;
  $("error").hidden = false;
  const active = document.activeElement;
  if (active && active !== document.body && active !== $("error")) focusBeforeError = active;
  $("error").focus();
}

function clearError() {
  const wasShown = !$("error").hidden;
  $("error").hidden = true;
  $("error-text").textContent = "";
  if (wasShown && focusBeforeError && document.contains(focusBeforeError) && !focusBeforeError.disabled) {
    focusBeforeError.focus();
  }
  focusBeforeError = null;
}

let busyCount = 0;
function setBusy(on, text) {
  busyCount = Math.max(0, busyCount + (on ? 1 : -1));
  $("busy").hidden = busyCount === 0;
  if (on && text) $("busy-text").textContent = text;
  document.querySelectorAll("button").forEach((b) => { b.disabled = busyCount > 0; });
}

async function run(text, task) {
  clearError();
  const before = document.activeElement;
  setBusy(true, text);
  try {
    return await task();
  } catch (err) {
    setBusy(false);
    showError(err.message || String(err));
    return null;
  } finally {
    if (busyCount > 0) setBusy(false);
    // disabled buttons drop the focus to <body>: give it back to the control that started the action
    if ((document.activeElement === document.body || !document.activeElement) && before && before !== document.body
        && document.contains(before) && !before.closest("[hidden]")) {
      before.focus();
    }
  }
}

function clearResult() {
  // a failed load must not leave the previous recording's result on screen as if it were the new one
  state.current = null;
  $("result").hidden = true;
  $("empty").hidden = false;
  $("empty-failed").hidden = false;
}

async function load(text, task) {
  const data = await run(text, task);
  if (data) {
    show(data);
    $("record-title").focus();
  } else {
    clearResult();
  }
  return data;
}

async function download(event) {
  event.preventDefault();
  const link = event.currentTarget;
  const what = link.textContent.trim();
  let response;
  try {
    response = await fetch(link.href);
  } catch (err) {
    showError(`download of the ${what} failed: the server did not answer`);
    return;
  }
  if (!response.ok) {
    let message = `HTTP ${response.status}`;
    try {
      const body = await response.json();
      if (body && body.error) message = body.error;
    } catch (err) { /* not JSON */ }
    showError(`download of the ${what} failed: ${message}`);
    return;
  }
  const blob = await response.blob();
  const disposition = response.headers.get("content-disposition") || "";
  const match = /filename="([^"]+)"/.exec(disposition);
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = match ? match[1] : "ecgimn-download";
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = text;
  if (className) node.className = className;
  return node;
}

const fmtP = (p) => p.toFixed(3);
const fmtE = (v) => {  // signed; small values keep two significant digits instead of showing 0.000
  const a = Math.abs(v);
  return (v >= 0 ? "+" : "\u2212") + (a !== 0 && a < 0.01 ? a.toPrecision(2) : a.toFixed(3));
};
const fmtS = (v) => v.toFixed(2);

function bar(fraction, className) {
  const outer = el("div", null, "bar " + (className || ""));
  const inner = el("span");
  inner.style.width = `${Math.max(0, Math.min(1, fraction)) * 100}%`;
  outer.appendChild(inner);
  return outer;
}

// ------------------------------------------------------------------------------------------ start-up

async function init() {
  $("error-close").addEventListener("click", clearError);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !$("error").hidden) {
      event.preventDefault();
      clearError();
    }
  });
  ["dl-png", "dl-pdf", "dl-json"].forEach((id) => $(id).addEventListener("click", download));
  $("upload-form").addEventListener("submit", onUpload);
  $("demo-btn").addEventListener("click", onDemo);
  $("ptbxl-btn").addEventListener("click", onPtbxl);
  $("ptbxl-select").addEventListener("dblclick", onPtbxl);
  $("ptbxl-filter").addEventListener("input", fillPtbxl);
  $("opts-form").addEventListener("submit", onOptions);
  $("opt-class").addEventListener("change", onOptions);
  $("opt-layout").addEventListener("change", onOptions);
  $("whatif-form").addEventListener("submit", onWhatIf);
  $("wi-what").addEventListener("change", () => {
    $("wi-mode-field").hidden = $("wi-what").value === "leads";
  });
  $("figure").addEventListener("load", () => $("figure-wrap").classList.remove("loading"));
  $("figure").addEventListener("error", onFigureError);

  const info = await run("Loading…", () => api("/api/info"));
  if (!info) return;
  state.info = info;
  $("files").accept = info.extensions.join(",");  // the server's format table
  const m = info.model;
  $("model-info").textContent =
    `model ${m.name} · task ${m.task} · ${m.classes.length} classes · ${m.fs} Hz · ` +
    `window ${m.window_s} s (records ≥ ${m.min_seconds} s)`;
  $("limit-hint").textContent = `At most ${info.max_upload_mb} MB.`;
  $("opt-window").value = info.defaults.window_s;
  $("opt-stride").value = info.defaults.stride_s;
  $("opt-topk").value = info.defaults.top_k;
  $("opt-layout").value = info.defaults.layout;
  if (info.ptbxl) {
    const list = await run("Listing PTB-XL records…", () => api("/api/ptbxl/records"));
    if (list) {
      state.ptbxl = list.records;
      $("ptbxl-hint").textContent =
        `${list.records.length} records of fold ${list.fold} (the test fold), ${list.fs} Hz. ` +
        "Labels: superdiagnostic ground truth, shown for reference only.";
      $("ptbxl-card").hidden = false;
      fillPtbxl();
    }
  }
}

function fillPtbxl() {
  const query = $("ptbxl-filter").value.trim().toLowerCase();
  const select = $("ptbxl-select");
  select.replaceChildren();
  for (const r of state.ptbxl) {
    const labels = r.labels.length ? r.labels.join(", ") : "no label";
    const who = [r.sex, r.age].filter((x) => x).join(" ");
    const text = `${r.ecg_id} · ${labels}${who ? " · " + who : ""}`;
    if (query && !text.toLowerCase().includes(query)) continue;
    const option = el("option", text);
    option.value = r.ecg_id;
    select.appendChild(option);
  }
  if (select.options.length) select.selectedIndex = 0;
}

// ------------------------------------------------------------------------------------------ loading

async function onUpload(event) {
  event.preventDefault();
  const files = Array.from($("files").files);
  if (!files.length) {
    showError("choose a file first (for WFDB select the .hea and the .dat together)");
    return;
  }
  const limit = state.info ? state.info.max_upload_mb * 1024 * 1024 : Infinity;
  const total = files.reduce((s, f) => s + f.size, 0);
  if (total > limit) {  // checked by the server too; this avoids sending it at all
    showError(`upload too large: ${(total / 1048576).toFixed(1)} MB; this server accepts at most ` +
      `${state.info.max_upload_mb} MB per upload`);
    return;
  }
  const form = new FormData();
  files.forEach((f) => form.append("files", f, f.name));
  form.append("fs", $("fs").value.trim());
  form.append("units", $("units").value);
  await load("Reading the file and running the model…",
    () => api("/api/upload", { method: "POST", body: form }));
}

async function onDemo() {
  await load("Simulating the demo ECG and running the model…", () => postJSON("/api/demo", {}));
}

async function onPtbxl() {
  const value = $("ptbxl-select").value;
  if (!value) {
    showError("select a record in the list first");
    return;
  }
  await load(`Loading PTB-XL record ${value}…`,
    () => postJSON("/api/ptbxl/load", { ecg_id: Number(value) }));
}

function currentOptions() {
  return {
    class_name: $("opt-class").value,
    window_s: $("opt-window").value,
    stride_s: $("opt-stride").value,
    top_k: $("opt-topk").value,
    layout: $("opt-layout").value,
  };
}

async function onOptions(event) {
  if (event) event.preventDefault();
  if (!state.current) return;
  const form = $("opts-form");
  if (!form.checkValidity()) {  // say which value is out of range instead of sending nothing
    const bad = Array.from(form.elements).find((e) => e.validity && !e.validity.valid);
    showError(`${bad.closest("label").firstChild.textContent.trim()}: ${bad.validationMessage}`);
    return;
  }
  const query = new URLSearchParams({ id: state.current.id, ...currentOptions() });
  const data = await run("Updating the explanation…", () => api("/api/explain?" + query));
  if (data) show(data);
}

async function explainClass(name) {
  $("opt-class").value = name;
  await onOptions();
  const button = document.querySelector(`#pred-table button[data-cls="${CSS.escape(name)}"]`);
  if (button) button.focus();
}

function showInputCheck(check) {
  const box = $("input-check");
  if (!check) {
    box.hidden = true;
    return;
  }
  const status = check.status || "unknown";
  const findings = check.findings || [];
  box.hidden = false;
  box.className = `input-check ${status}`;
  $("input-check-title").textContent = {
    ok: "Input check: ok",
    warning: `Input check: WARNING (${findings.length}) — the predictions below may be wrong for this input`,
    refused: "Input check: REFUSED — this input is not plausible as a 12-lead ECG in mV",
  }[status] || `Input check: ${status}`;
  $("input-check-list").replaceChildren(...findings.map((f) => {
    const leads = f.leads && f.leads.length ? ` (${f.leads.join(", ")})` : "";
    return el("li", `${f.severity === "refused" ? "refused" : "warning"}: ${f.message}${leads}`);
  }));
}

// ------------------------------------------------------------------------------------------ display

function show(data) {
  state.current = data;
  $("result").dataset.rid = data.id;
  $("empty").hidden = true;
  $("result").hidden = false;
  $("whatif-result").hidden = true;
  const rec = data.record;
  $("synthetic-banner").hidden = !rec.synthetic;
  $("record-title").textContent = rec.label;

  const meta = $("record-meta");
  meta.replaceChildren();
  const rows = [
    ["duration", `${rec.duration_s.toFixed(2)} s`],
    ["sampling rate", rec.fs_file === rec.fs_model ? `${rec.fs_file} Hz`
      : `${rec.fs_file} Hz (model: ${rec.fs_model} Hz)`],
    ["flat / missing leads", rec.flat_or_missing_leads.length ? rec.flat_or_missing_leads.join(", ") : "none"],
    ["model", `${data.model.name} (${data.model.source})`],
  ];
  for (const [k, v] of rows) {
    meta.appendChild(el("dt", k));
    meta.appendChild(el("dd", v));
  }
  showInputCheck(data.input_check);
  const refused = Boolean(data.refused);
  document.querySelectorAll(".evidence-part").forEach((node) => { node.hidden = refused; });
  $("refused-text").hidden = !refused;
  $("pred-table").hidden = refused;
  $("pred-hint").hidden = refused;
  const ref = rec.reference_labels;
  $("reference").hidden = !Array.isArray(ref);
  if (Array.isArray(ref)) {
    $("reference").textContent = "PTB-XL reference label (ground truth, for comparison only): " +
      (ref.length ? ref.join(", ") : "none of the model's classes");
  }
  $("empty-failed").hidden = true;
  const notes = $("notes-list");
  notes.replaceChildren(...rec.notes.map((n) => el("li", n)));
  $("notes-summary").textContent = `Input checks and conversions (${rec.notes.length})`;
  $("notes").hidden = rec.notes.length === 0;

  // predictions
  const tbody = $("pred-table").tBodies[0];
  tbody.replaceChildren();
  const select = $("opt-class");
  select.replaceChildren();
  if (refused) return;
  for (const p of data.probabilities) {
    const tr = el("tr", null, p.class === data.explained ? "selected" : "");
    tr.dataset.cls = p.class;
    tr.title = `explain ${p.class}`;
    const clsCell = el("td", null, "cls");
    const button = el("button", p.class, "cls-btn");
    button.type = "button";
    button.dataset.cls = p.class;
    button.setAttribute("aria-pressed", String(p.class === data.explained));
    button.setAttribute("aria-label", `explain ${p.class} (probability ${fmtP(p.probability)})`);
    clsCell.appendChild(button);
    tr.appendChild(clsCell);
    const cell = el("td", null, "probcell");
    cell.appendChild(bar(p.probability, p.predicted ? "pos" : ""));
    cell.appendChild(el("span", fmtP(p.probability), "num"));
    tr.appendChild(cell);
    tr.appendChild(el("td", p.predicted ? "predicted" : "", "tag"));
    tr.addEventListener("click", (event) => {
      event.preventDefault();
      explainClass(p.class);
    });
    tbody.appendChild(tr);
    const option = el("option", p.class);
    option.value = p.class;
    select.appendChild(option);
  }
  select.value = data.explained;
  $("opt-window").value = data.options.window_s;
  $("opt-stride").value = data.options.stride_s;
  $("opt-topk").value = data.options.top_k;
  $("opt-layout").value = data.options.layout;

  // picture and downloads
  const ev = data.evidence;
  $("fig-title").textContent = `Evidence for ${data.explained} (p = ${fmtP(ev.probability)})`;
  $("figure-wrap").classList.add("loading");
  $("figure").src = data.urls.png;
  $("figure-link").href = data.urls.png;
  $("heatmap").src = data.urls.heatmap;
  $("dl-png").href = data.urls.png_download;
  $("dl-pdf").href = data.urls.pdf;
  $("dl-json").href = data.urls.report;
  $("decomposition").textContent =
    `Exact decomposition: Σ lead shares ${fmtE(ev.sum_lead_shares)} + bias ${fmtE(ev.bias)} = logit ` +
    `${fmtE(ev.logit)} (residual ${ev.residual.toExponential(1)}). Positive evidence ${fmtE(ev.total_positive)}, ` +
    `negative ${fmtE(ev.total_negative)}.`;

  // lead shares, ordered as the standard leads
  const leadBody = $("lead-table").tBodies[0];
  leadBody.replaceChildren();
  const shares = Object.entries(ev.lead_shares);
  const maxAbs = Math.max(1e-12, ...shares.map(([, v]) => Math.abs(v)));
  for (const [lead, v] of shares) {
    const tr = el("tr");
    tr.appendChild(el("td", lead, "lead"));
    tr.appendChild(el("td", fmtE(v), "num"));
    const cell = el("td", null, "barcol");
    const track = el("div", null, "diverging");
    const half = el("span", null, v >= 0 ? "for" : "against");
    half.style.width = `${(Math.abs(v) / maxAbs) * 50}%`;
    track.appendChild(half);
    cell.appendChild(track);
    tr.appendChild(cell);
    leadBody.appendChild(tr);
  }

  // top segments
  const segBody = $("seg-table").tBodies[0];
  segBody.replaceChildren();
  const addSegs = (segs, sign) => segs.forEach((s) => {
    const tr = el("tr", null, sign > 0 ? "for" : "against");
    tr.appendChild(el("td", (sign > 0 ? "+" : "\u2212") + s.rank, "rank"));
    tr.appendChild(el("td", s.lead, "lead"));
    tr.appendChild(el("td", `${fmtS(s.start_s)}–${fmtS(s.end_s)}`));
    tr.appendChild(el("td", fmtE(s.evidence), "num"));
    segBody.appendChild(tr);
  });
  addSegs(ev.top_positive, 1);
  addSegs(ev.top_negative, -1);
  if (!ev.top_positive.length && !ev.top_negative.length) {
    const tr = el("tr");
    const td = el("td", "no segment carries evidence");
    td.colSpan = 4;
    tr.appendChild(td);
    segBody.appendChild(tr);
  }
  showWaves(data.waves);
  $("seg-hint").textContent =
    `Strongest ${data.options.window_s} s windows (stride ${data.options.stride_s} s), at most ` +
    `${data.options.top_k} for and ${data.options.top_k} against; overlapping windows of one lead are not repeated.`;
}

// lead x wave table of the explained class (report["waves"]), cells shaded by sign and size
function showWaves(w) {
  const table = $("wave-table");
  table.tHead.replaceChildren();
  table.tBodies[0].replaceChildren();
  $("wave-summary").textContent = w ? w.summary : "no wave-level decomposition for this record";
  if (!w) return;
  const leads = Object.keys(w.table);
  const waves = Object.keys(w.table[leads[0]]).filter(
    (name) => name !== "unassigned" || leads.some((l) => w.table[l][name] !== 0));
  const head = el("tr");
  head.appendChild(el("th", "lead"));
  waves.forEach((name) => head.appendChild(el("th", name, "num")));
  table.tHead.appendChild(head);
  const maxAbs = Math.max(1e-12, ...leads.flatMap((l) => waves.map((n) => Math.abs(w.table[l][n]))));
  for (const lead of leads) {
    const tr = el("tr");
    tr.appendChild(el("td", lead, "lead"));
    for (const name of waves) {
      const v = w.table[lead][name];
      const td = el("td", fmtE(v), "num " + (v >= 0 ? "for" : "against"));
      td.style.setProperty("--strength", (Math.abs(v) / maxAbs).toFixed(3));
      tr.appendChild(td);
    }
    table.tBodies[0].appendChild(tr);
  }
}

async function onFigureError() {
  $("figure-wrap").classList.remove("loading");
  const src = $("figure").getAttribute("src");
  if (!src) return;
  try {
    await api(src);  // asks again; a picture that failed only because the server was busy is drawn now
    if (!src.includes("&again=1")) {
      $("figure-wrap").classList.add("loading");
      $("figure").src = src + "&again=1";
    }
  } catch (err) {
    showError(`the picture could not be drawn: ${err.message}`);
  }
}

// ------------------------------------------------------------------------------------------ what-if

async function onWhatIf(event) {
  event.preventDefault();
  if (!state.current) return;
  const what = $("wi-what").value;
  const body = {
    id: state.current.id,
    class_name: state.current.explained,
    k: Number($("wi-k").value),
    what,
    mode: what === "segments" ? $("wi-mode").value : null,
    window_s: Number(state.current.options.window_s),
    stride_s: Number(state.current.options.stride_s),
  };
  const data = await run("Removing the evidence and re-running the model…", () => postJSON("/api/whatif", body));
  if (!data) return;
  $("whatif-result").hidden = false;
  $("whatif-result").focus();
  $("wi-old").textContent = `p(${data.class}) = ${fmtP(data.probability_old)}`;
  $("wi-new").textContent = `p(${data.class}) = ${fmtP(data.probability_new)}`;
  const delta = data.probability_new - data.probability_old;
  $("wi-delta").textContent = fmtE(delta);
  $("wi-delta").className = "prob " + (delta < 0 ? "down" : "up");
  const how = data.what === "leads" ? "set to 0 mV"
    : data.mode === "zero" ? "set to 0 mV" : "replaced by linear interpolation";
  $("wi-summary").textContent =
    `Removed ${data.removed.length} ${data.what} (${how}) carrying ${fmtE(data.removed_evidence)} of evidence ` +
    `for ${data.class}; logit ${fmtE(data.logit_old)} → ${fmtE(data.logit_new)} after re-running the model.` +
    (data.notes.length ? " " + data.notes.join(" ") : "");
  $("wi-removed").replaceChildren(...data.removed.map((r) => el("li",
    r.start_s !== undefined
      ? `${r.lead} ${fmtS(r.start_s)}–${fmtS(r.end_s)} s (${fmtE(r.evidence)})`
      : `${r.lead} (${fmtE(r.evidence)})`)));
}

document.addEventListener("DOMContentLoaded", init);
