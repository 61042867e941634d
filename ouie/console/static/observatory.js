// The observatory (supervisors, auditors, admins): the period's figures as tables and plain SVG
// charts drawn here, and the transparency report to download.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const REASONS = ["fireworks", "construction", "vehicle", "other"];
const DISPOSITIONS = [
  // label, colour, value of a per-class row
  ["confirmed", "#46a758", (row) => row.confirmed],
  ["escalated", "#e5484d", (row) => row.escalated],
  ...REASONS.map((reason, i) => [
    `dismissed: ${reason}`,
    ["#f76b15", "#a18072", "#6e56cf", "#8b949e"][i],
    (row) => row.dismissed_by_reason[reason] || 0,
  ]),
  ["open", "#f5a524", (row) => row.open],
];
const CAMERA_SERIES = [
  ["moved, approved by a person", "#3e8ee0", "moved_approved"],
  ["moved automatically", "#8e4ec6", "moved_auto"],
  ["declined by a person", "#8b949e", "declined"],
  ["refused by a privacy mask", "#e5484d", "mask_refused"],
  ["clipped by a privacy mask", "#f76b15", "mask_clipped"],
];

function svg(tag, attributes, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) el.setAttribute(name, value);
  if (text !== undefined) el.textContent = text;
  return el;
}

function classColour(name) {
  const value = getComputedStyle(document.documentElement).getPropertyValue(`--${name}`).trim();
  return value || getComputedStyle(document.documentElement).getPropertyValue("--context").trim();
}

function legend(series) {
  const box = document.createElement("div");
  box.className = "legend";
  for (const { label, colour } of series) {
    const item = ouie.text("span", label);
    item.style.setProperty("--swatch", colour);
    box.append(item);
  }
  return box;
}

// Vertical bars: one group per category; `series` stacked (stacked=true) or side by side.
// Bar height = value / max × plot height; y gridlines at whole steps; `labels` writes each
// category's total above it.
function columnChart(container, categories, series, { stacked = true, max, format, width = 900, labels = false } = {}) {
  const height = 220, left = 44, bottom = 24, top = 14;
  const plotW = width - left - 10, plotH = height - bottom - top;
  const totals = categories.map((_, i) =>
    stacked ? series.reduce((sum, s) => sum + s.values[i], 0) : Math.max(0, ...series.map((s) => s.values[i])),
  );
  const top_ = max || Math.max(1, ...totals);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "chart-svg" });
  const step = Math.max(1, Math.ceil(top_ / 4));
  for (let v = 0; v <= top_; v += step) {
    const y = top + plotH - (v / top_) * plotH;
    chart.append(svg("line", { x1: left, x2: width - 10, y1: y, y2: y, class: "grid" }));
    chart.append(svg("text", { x: left - 6, y: y + 4, class: "axis", "text-anchor": "end" }, format ? format(v) : v));
  }
  const slot = plotW / Math.max(1, categories.length);
  const labelEvery = Math.max(1, Math.ceil(categories.length / 15));
  categories.forEach((category, i) => {
    const x0 = left + i * slot + slot * 0.1, barW = slot * 0.8;
    let base = 0;
    series.forEach((s, k) => {
      const value = s.values[i];
      if (!value) return;
      const h = (value / top_) * plotH;
      const x = stacked ? x0 : x0 + (k * barW) / series.length;
      const w = stacked ? barW : barW / series.length;
      const y = top + plotH - base - h;
      const bar = svg("rect", { x, y, width: w, height: h, fill: s.colour, "data-series": s.label, "data-category": category });
      bar.append(svg("title", {}, `${category} · ${s.label}: ${format ? format(value) : value}`));
      chart.append(bar);
      if (stacked) base += h;
    });
    if (labels) {
      const y = top + plotH - (totals[i] / top_) * plotH - 4;
      chart.append(svg("text", { x: x0 + barW / 2, y, class: "axis value", "text-anchor": "middle" }, format ? format(totals[i]) : totals[i]));
    }
    if (i % labelEvery === 0) {
      chart.append(svg("text", { x: x0 + barW / 2, y: height - 6, class: "axis", "text-anchor": "middle" }, category));
    }
  });
  container.replaceChildren(chart, legend(series));
}

// Horizontal stacked bars, one per category (decisions per class).
function stackedBars(container, categories, series) {
  const width = 440, rowH = 26, left = 90, top = 6;
  const height = top + rowH * Math.max(1, categories.length) + 6;
  const totals = categories.map((_, i) => series.reduce((sum, s) => sum + s.values[i], 0));
  const max = Math.max(1, ...totals);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "chart-svg" });
  categories.forEach((category, i) => {
    const y = top + i * rowH;
    chart.append(svg("text", { x: left - 6, y: y + rowH / 2 + 4, class: "axis", "text-anchor": "end" }, category));
    let x = left;
    for (const s of series) {
      const w = (s.values[i] / max) * (width - left - 30);
      if (!w) continue;
      const bar = svg("rect", { x, y: y + 3, width: w, height: rowH - 6, fill: s.colour, "data-series": s.label });
      bar.append(svg("title", {}, `${category} · ${s.label}: ${s.values[i]}`));
      chart.append(bar);
      x += w;
    }
    chart.append(svg("text", { x: x + 4, y: y + rowH / 2 + 4, class: "axis" }, totals[i]));
  });
  container.replaceChildren(chart, legend(series));
}

const percent = (value) => (value === null || value === undefined ? "—" : `${Math.round(100 * value)} %`);

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function row(cells, className) {
  const tr = document.createElement("tr");
  if (className) tr.className = className;
  tr.append(...cells.map((cell) => ouie.text("td", cell)));
  return tr;
}

function card(value, label, id) {
  const box = document.createElement("div");
  box.className = "figure";
  const number = ouie.text("b", value);
  number.id = id;
  box.append(number, ouie.text("span", label));
  return box;
}

function showSummary(f) {
  const t = f.total, cams = f.cameras_total;
  document.getElementById("summary").replaceChildren(
    card(t.alerts ?? "—", "alerts raised", "fig-alerts"),
    card(t.incidents, `incidents in all (unconfirmed ${t.unconfirmed ?? "—"}, and context)`, "fig-incidents"),
    card(t.decided, "decided by an operator", "fig-decided"),
    card(percent(t.confirm_rate), "confirmed of decided", "fig-confirm-rate"),
    card(duration(t.median_decision_s), "median time to decision", "fig-median"),
    card(cams.moved_approved + cams.moved_auto, "camera moves", "fig-moves"),
    card(cams.mask_refused + cams.mask_clipped, "privacy-mask refusals and clips", "fig-masks"),
    card(f.sensors.total ? `${f.sensors.online}/${f.sensors.total}` : "—", "sensors online now", "fig-sensors"),
  );
}

function showClasses(f) {
  const body = document.querySelector("#by-class tbody");
  body.replaceChildren();
  for (const r of [...f.by_class, ...(f.video_total ? [f.video_total] : []), f.total]) {
    const tr = row(
      [
        r.class, r.reports, r.incidents, r.alerts ?? "—", r.unconfirmed ?? "—", r.located ?? "—", r.located === null ? "—" : r.incidents - r.located,
        r.confirmed, REASONS.map((reason) => r.dismissed_by_reason[reason] || 0).join(" / "),
        r.escalated, r.open, percent(r.confirm_rate), duration(r.median_decision_s),
      ],
      r.class === "all" || r.class === "video" ? "total" : "",
    );
    tr.dataset.class = r.class;
    body.append(tr);
  }
  const incidents = f.classes.map((name) => ({
    label: name,
    colour: classColour(name),
    values: f.days.map((day) => f.by_day.find((r) => r.day === day && r.class === name)?.incidents || 0),
  }));
  columnChart(document.getElementById("chart-incidents"), f.days.map((d) => d.slice(5)), incidents.filter((s) => s.values.some(Boolean)));
  const decided = f.by_class.filter((r) => r.incidents);
  stackedBars(
    document.getElementById("chart-dispositions"),
    decided.map((r) => r.class),
    DISPOSITIONS.map(([label, colour, value]) => ({ label, colour, values: decided.map(value) })).filter((s) => s.values.some(Boolean)),
  );
  const rated = f.by_class.filter((r) => r.decided);
  columnChart(
    document.getElementById("chart-confirm"),
    rated.map((r) => `${r.class} (${r.decided})`),
    [{ label: "confirmed, % of decided (n decided)", colour: "#46a758", values: rated.map((r) => 100 * r.confirm_rate) }],
    { max: 100, format: (v) => `${Math.round(v)} %`, width: 440, labels: true },
  );
}

function showCameras(f) {
  const body = document.querySelector("#cameras tbody");
  body.replaceChildren();
  for (const d of [...f.cameras_by_day, f.cameras_total]) {
    if (d.day !== "all" && !d.cues && !d.moved_auto && !d.moved_approved) continue;
    body.append(
      row(
        [d.day, d.cues, d.suggested, d.approved, d.declined, d.moved_approved, d.moved_auto, d.mask_refused, d.mask_clipped],
        d.day === "all" ? "total" : "",
      ),
    );
  }
  columnChart(
    document.getElementById("chart-cameras"),
    f.days.map((d) => d.slice(5)),
    CAMERA_SERIES.map(([label, colour, field]) => ({ label, colour, values: f.cameras_by_day.map((d) => d[field]) })),
    { stacked: false },
  );
}

function showAudit(f) {
  const audit = f.audit;
  const chain = document.getElementById("chain");
  chain.className = audit.chain_ok ? "chain-ok" : "chain-broken";
  chain.textContent = audit.chain_ok
    ? `(chain verified now: ${audit.total_entries} entries, head ${audit.head_hash.slice(0, 12)}…)`
    : `(CHAIN BROKEN: ${audit.problems.join("; ")})`;
  const kinds = document.querySelector("#audit-kinds tbody");
  kinds.replaceChildren(...Object.entries(audit.by_kind).map(([kind, count]) => row([kind, count])));
  kinds.append(row(["all", audit.period_entries], "total"));
  const purges = document.querySelector("#purges tbody");
  purges.replaceChildren(...f.purges.map((p) => row([ouie.timeOf(p.at_utc), p.reports_deleted, p.incidents_deleted])));
  if (!f.purges.length) purges.append(row(["none deleted anything in this period", "", ""]));
  document.getElementById("sensors").textContent = f.sensors.total
    ? `Sensors online now: ${f.sensors.online} of ${f.sensors.total} (${percent(f.sensors.online_share)}).`
    : "No sensors are registered.";
  document.getElementById("notes").replaceChildren(...f.notes.map((note) => ouie.text("li", note)));
}

// Detection (lab, cited), system (located, latency, operator-confirmed), outcome (field).
function showEfficacy(f) {
  const e = f.efficacy;
  const latency = e.system.cue_latency_n
    ? `p50 ${e.system.cue_latency_p50_s.toFixed(2)} s, p99 ${e.system.cue_latency_p99_s.toFixed(2)} s over ${e.system.cue_latency_n} commands`
    : "no camera command measured";
  const o = e.outcome;
  const rows = [
    ["1. Detection (lab)", "detectors that reported", e.detection.words],
    ["2. System", "alerts raised (network-confirmed)", String(e.system.alerts)],
    ["", "located", e.system.located.words],
    ["", "confirmed by an operator", e.system.operator_confirmed.words],
    ["", "sound → camera command", latency],
    ["3. Outcome (field)", "outcomes recorded", `${o.recorded} of ${o.alerts} alerts: ${o.dispatched} dispatched, ${o.found} evidence found, ${o.nothing} nothing found, ${o.unknown} unknown`],
    ["", "field-verified per 100 alerts", o.found_per_100_alerts.words],
    ["", "for comparison", o.reference],
  ];
  document.querySelector("#efficacy tbody").replaceChildren(...rows.map((cells) => row(cells)));
}

// Load the figures of the period in the form (or, when `query` is "", the server's default
// period: the 30 days up to the latest day with data) and show them.
async function load(query) {
  const error = document.getElementById("error");
  error.textContent = "";
  let figures;
  try {
    figures = await ouie.api(query ? `observatory?${query}` : "observatory");
  } catch (problem) {
    error.textContent = problem.message;
    return;
  }
  const period = `from=${figures.period.from}&to=${figures.period.to}`;
  document.getElementById("from").value = figures.period.from;
  document.getElementById("to").value = figures.period.to;
  history.replaceState(null, "", `?${period}`);
  document.getElementById("period-label").textContent = `${figures.period.from} to ${figures.period.to} (UTC)`;
  document.getElementById("report-html").href = `api/observatory/report.html?${period}`;
  document.getElementById("report-json").href = `api/observatory/report.json?${period}`;
  showSummary(figures);
  showEfficacy(figures);
  showClasses(figures);
  showCameras(figures);
  showAudit(figures);
}

// The form's days as a query string (a blank day is left to the server's default).
function formQuery() {
  const query = new URLSearchParams();
  for (const name of ["from", "to"]) {
    const value = document.getElementById(name).value;
    if (value) query.set(name, value);
  }
  return query.toString();
}

async function start() {
  await ouie.requireLogin();
  await ouie.showCueBanner();
  const params = new URLSearchParams(window.location.search);
  document.getElementById("from").value = params.get("from") || "";
  document.getElementById("to").value = params.get("to") || "";
  document.getElementById("period").addEventListener("submit", (event) => {
    event.preventDefault();
    load(formQuery());
  });
  await load(params.has("from") || params.has("to") ? formQuery() : "");
  document.body.dataset.ready = "true";
}

start();
