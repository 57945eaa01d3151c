// streamrec dashboard: polls /dashboard/figures.json (the cluster figures of /metrics)
// and keeps a short history in the page for the live plots. No dependency but uPlot,
// which ships beside this file.
"use strict";

const params = new URLSearchParams(location.search);
const POLL_MS = Number(params.get("poll_ms")) || 1000;
const KEEP = 900;                       // points of history per plot (15 min at 1 s)
const WINDOW_S = 10;                    // rates and latency quantiles over the last 10 s
const COLOURS = ["#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#bf3989"];

const hist = { t: [], rate: [], p50: [], p99: [], lag: [], coverage: [], diversity: [],
               alloc: new Map() };      // experiment -> {t: [], share: Map(variant -> [])}
const charts = new Map();               // element id -> uPlot
const experimentViews = new Map();      // experiment -> its DOM section and cells
let previous = null;                    // the last figures, for per-interval deltas
const recent = [];                      // the figures of the last WINDOW_S seconds
let updates = 0;

// --- reading the samples --------------------------------------------------------------

function value(fig, name, labels = {}) {
  for (const s of fig.samples) {
    if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) {
      return s.value;
    }
  }
  return null;
}

function each(fig, name) {
  return fig.samples.filter((s) => s.name === name);
}

function sum(fig, name) {
  return each(fig, name).reduce((a, s) => a + s.value, 0);
}

// A histogram's buckets as [[upper bound, cumulative count]], +Inf last.
function buckets(fig, name) {
  return each(fig, `${name}_bucket`)
    .map((s) => [s.labels.le === "+Inf" ? Infinity : Number(s.labels.le), s.value])
    .sort((a, b) => a[0] - b[0]);
}

// The buckets observed between two scrapes (both cumulative, as in PromQL's increase()).
function increase(now, before) {
  const was = new Map(before.map(([le, n]) => [le, n]));
  return now.map(([le, n]) => [le, n - (was.get(le) || 0)]);
}

// The q-quantile of histogram buckets, as PromQL's histogram_quantile computes it:
// linear within the bucket that holds the rank; the top finite bound if it falls in +Inf.
function quantile(q, bs) {
  const total = bs.length ? bs[bs.length - 1][1] : 0;
  if (!total) return null;
  const rank = q * total;
  let lower = 0, below = 0;
  for (const [le, cum] of bs) {
    if (cum >= rank) {
      if (le === Infinity) return lower;
      return lower + (le - lower) * (cum === below ? 0 : (rank - below) / (cum - below));
    }
    lower = le; below = cum;
  }
  return lower;
}

// --- writing numbers into the page -----------------------------------------------------

function fmt(v, digits) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  if (digits === undefined) return Math.round(v).toLocaleString("en-US");
  return v.toFixed(digits);
}

function show(id, v, digits) {
  const el = document.getElementById(id);
  el.textContent = fmt(v, digits);
  el.dataset.value = v === null ? "" : String(v);
}

function cell(row, text, cls, v) {
  const td = row.insertCell();
  td.textContent = text;
  if (cls) td.className = cls;
  if (v !== undefined) td.dataset.value = String(v);
  return td;
}

function fillTable(id, rows, key) {
  const body = document.querySelector(`#${id} tbody`);
  body.replaceChildren();
  for (const r of rows) {
    const tr = body.insertRow();
    for (const [k, v] of Object.entries(key(r))) tr.dataset[k] = v;
    r.cells.forEach(([text, cls, v]) => cell(tr, text, cls, v));
  }
  if (!rows.length) {
    const tr = body.insertRow();
    const td = cell(tr, "none", "empty");
    td.colSpan = body.parentElement.tHead.rows[0].cells.length;
  }
}

// --- plots ------------------------------------------------------------------------------

function plot(id, series, data, yRange = null) {
  const el = document.getElementById(id);
  let u = charts.get(id);
  if (!u || u.series.length !== series.length + 1) {
    if (u) u.destroy();
    u = new uPlot({
      width: Math.max(300, el.clientWidth - 8), height: 180,
      scales: yRange ? { y: { range: yRange } } : {},
      series: [{}, ...series.map((label, i) => ({ label, stroke: COLOURS[i % COLOURS.length],
                                                  width: 1.5, spanGaps: false }))],
      axes: [{}, { size: 60 }],
      legend: { live: false },
    }, data, el);
    charts.set(id, u);
  } else {
    u.setData(data);
  }
}

function push(arr, v) {
  arr.push(v);
  if (arr.length > KEEP) arr.shift();
}

// --- one render ---------------------------------------------------------------------

// events/s and latency p50/p99 over the last WINDOW_S seconds (from the counters and the
// histogram, as Prometheus' rate() would); at the first render, and while no list was
// written in the window, the workers' own last-second rate and the histogram since start.
function windowed(fig) {
  const name = "streamrec_event_to_rec_latency_ms";
  const total = buckets(fig, name);
  while (recent.length && fig.ts - recent[0].ts > WINDOW_S) recent.shift();
  const old = recent[0];
  recent.push(fig);
  let rate = sum(fig, "streamrec_events_per_second"), bs = total, span = "since start";
  if (old && fig.ts > old.ts) {
    rate = (value(fig, "streamrec_events_total") - value(old, "streamrec_events_total")) /
           (fig.ts - old.ts);
    const inc = increase(total, buckets(old, name));
    if (inc.length && inc[inc.length - 1][1] > 0) {
      bs = inc;
      span = `last ${Math.round(fig.ts - old.ts)} s`;
    }
  }
  return { rate, p50: quantile(0.5, bs), p99: quantile(0.99, bs), span };
}

function render(fig) {
  const { rate, p50, p99, span } = windowed(fig);
  const lag = sum(fig, "streamrec_consumer_partition_lag");
  show("events-per-s", rate, 1);
  show("events-total", value(fig, "streamrec_events_total"));
  show("latency-p50", p50, 1);
  show("latency-p99", p99, 1);
  document.getElementById("latency-span").textContent = span;
  show("lag-total", lag);
  show("dlq-total", value(fig, "streamrec_dlq_total"));
  show("hit-rate", value(fig, "streamrec_prequential_hit_rate"), 4);
  show("coverage", value(fig, "streamrec_catalog_coverage"), 4);
  show("diversity", value(fig, "streamrec_intra_list_diversity"), 4);
  show("sold-out", value(fig, "streamrec_sold_out_items"));
  show("recs-total", value(fig, "streamrec_recommendations_total"));

  fillTable("workers-table", each(fig, "streamrec_events_per_second").map((s) => ({
    labels: s.labels,
    cells: [[s.labels.worker], [fmt(s.value, 1), "num", s.value],
            [fmt(value(fig, "streamrec_consumer_lag", s.labels)), "num"]],
  })), (r) => ({ worker: r.labels.worker }));
  fillTable("lag-table", each(fig, "streamrec_consumer_partition_lag").map((s) => ({
    labels: s.labels,
    cells: [[s.labels.worker], [s.labels.topic], [s.labels.partition, "num"],
            [fmt(s.value), "num", s.value]],
  })), (r) => ({ worker: r.labels.worker, topic: r.labels.topic, partition: r.labels.partition }));
  fillTable("dlq-table", each(fig, "streamrec_dlq_reason_total").map((s) => ({
    labels: s.labels, cells: [[s.labels.reason], [fmt(s.value), "num", s.value]],
  })), (r) => ({ reason: r.labels.reason }));
  fillTable("models-table", each(fig, "streamrec_model_info").map((s) => ({
    labels: s.labels, cells: [[s.labels.component], [s.labels.version], [s.labels.device || "–"]],
  })), (r) => ({ component: r.labels.component, version: r.labels.version }));

  const t = fig.ts;
  push(hist.t, t);
  push(hist.rate, rate);
  push(hist.p50, p50);
  push(hist.p99, p99);
  push(hist.lag, lag);
  push(hist.coverage, value(fig, "streamrec_catalog_coverage"));
  push(hist.diversity, value(fig, "streamrec_intra_list_diversity"));
  plot("chart-rate", ["events/s"], [hist.t, hist.rate]);
  plot("chart-latency", ["p50", "p99"], [hist.t, hist.p50, hist.p99]);
  plot("chart-lag", ["behind"], [hist.t, hist.lag]);
  plot("chart-quality", ["coverage", "diversity"], [hist.t, hist.coverage, hist.diversity],
       [0, 1]);
  const curve = fig.curve.filter((c) => c.judged > 0);
  plot("chart-curve", [`HR@${fig.k}`],
       [curve.map((c) => c.bucket * fig.curve_bucket_s), curve.map((c) => c.hit_rate)], [0, 1]);

  renderExperiments(fig);
}

// --- experiments --------------------------------------------------------------------

function experimentView(name) {
  let view = experimentViews.get(name);
  if (view) return view;
  const box = document.getElementById("experiments");
  box.querySelector(".empty")?.remove();
  const section = document.createElement("div");
  section.className = "experiment";
  section.dataset.experiment = name;
  const h = document.createElement("h3");
  const title = document.createElement("span");
  title.textContent = name;
  const badge = document.createElement("span");
  badge.className = "badge";
  h.append(title, badge);
  for (const action of ["pause", "resume", "stop"]) {
    const b = document.createElement("button");
    b.textContent = action;
    b.dataset.action = action;
    b.addEventListener("click", () => act(name, action));
    h.append(b);
  }
  const table = document.createElement("table");
  table.createTHead().insertRow().append(...["variant", "impressions", "successes", "CTR",
    "95% interval", "interval (0 to the top bound)", "P(best)", "share now"].map((x) => {
    const th = document.createElement("th"); th.textContent = x; return th;
  }));
  table.createTBody();
  const chart = document.createElement("div");
  chart.id = `chart-alloc-${experimentViews.size}`;
  const caption = document.createElement("figcaption");
  caption.textContent = "allocation over time (share of new impressions per interval)";
  section.append(h, table, caption, chart);
  box.append(section);
  view = { section, badge, body: table.tBodies[0], chart: chart.id };
  experimentViews.set(name, view);
  return view;
}

function renderExperiments(fig) {
  for (const st of each(fig, "streamrec_experiment_status")) {
    const name = st.labels.experiment;
    const view = experimentView(name);
    view.badge.textContent = st.labels.status;
    view.badge.className = `badge ${st.labels.status}`;
    view.section.dataset.status = st.labels.status;
    const variants = each(fig, "streamrec_experiment_impressions_total")
      .filter((s) => s.labels.experiment === name).map((s) => s.labels.variant);
    const get = (stat, v) => value(fig, `streamrec_experiment_${stat}`,
                                   { experiment: name, variant: v });
    const was = (v) => (previous ? value(previous, "streamrec_experiment_impressions_total",
                                         { experiment: name, variant: v }) : null);
    const shown = variants.map((v) => get("impressions_total", v));
    const total = shown.reduce((a, b) => a + b, 0);
    const delta = variants.map((v, i) => (was(v) === null ? null : shown[i] - was(v)));
    const deltaTotal = delta.reduce((a, b) => a + (b || 0), 0);

    // the interval bars share one scale: 0 to the largest upper bound, rounded up to 0.1
    const top = Math.min(1, Math.ceil(10 * Math.max(0.01, ...variants.map(
      (v) => get("ctr_upper", v) || 0))) / 10);
    view.body.replaceChildren();
    variants.forEach((v, i) => {
      const tr = view.body.insertRow();
      tr.dataset.variant = v;
      const ctr = get("ctr", v), lo = get("ctr_lower", v), hi = get("ctr_upper", v);
      cell(tr, v);
      cell(tr, fmt(shown[i]), "num", shown[i]);
      cell(tr, fmt(get("successes_total", v)), "num", get("successes_total", v));
      cell(tr, fmt(ctr, 4), "num ctr", ctr);
      cell(tr, `${fmt(lo, 4)} – ${fmt(hi, 4)}`, "num interval-text");
      const bar = cell(tr, "");
      const box = document.createElement("span");
      box.className = "interval";
      const range = document.createElement("span");
      range.className = "range";
      range.style.left = `${(lo / top) * 100}%`;
      range.style.width = `${((hi - lo) / top) * 100}%`;
      const point = document.createElement("span");
      point.className = "point";
      point.style.left = `${(ctr / top) * 100}%`;
      box.title = `0 to ${top}`;
      box.append(range, point);
      bar.append(box);
      cell(tr, fmt(get("p_best", v), 3), "num p-best", get("p_best", v));
      cell(tr, fmt(total ? shown[i] / total : null, 3), "num");
    });

    let a = hist.alloc.get(name);
    if (!a) { a = { t: [], share: new Map() }; hist.alloc.set(name, a); }
    push(a.t, fig.ts);
    variants.forEach((v, i) => {
      if (!a.share.has(v)) a.share.set(v, a.t.slice(0, -1).map(() => null));
      push(a.share.get(v), deltaTotal ? delta[i] / deltaTotal : null);
    });
    plot(view.chart, variants, [a.t, ...variants.map((v) => a.share.get(v))], [0, 1]);
  }
}

async function act(name, action) {
  const token = document.getElementById("admin-token").value;
  const out = document.getElementById("action-result");
  const r = await fetch(`/experiments/${encodeURIComponent(name)}/${action}`, {
    method: "POST", headers: token ? { Authorization: `Bearer ${token}` } : {},
  });
  const body = await r.json().catch(() => ({}));
  out.textContent = r.ok ? `${name}: ${body.status}` : `${name} ${action}: ${r.status} ${body.error || ""}`;
  out.dataset.status = String(r.status);
  await poll();
}

// --- the loop -----------------------------------------------------------------------

async function poll() {
  const status = document.getElementById("status");
  try {
    const r = await fetch("/dashboard/figures.json", { cache: "no-store" });
    if (!r.ok) throw new Error(`${r.status} ${(await r.json().catch(() => ({}))).error || ""}`);
    const fig = await r.json();
    render(fig);
    previous = fig;
    updates += 1;
    document.body.dataset.updates = String(updates);
    document.body.dataset.ready = "1";
    status.textContent = `live, updated ${new Date(fig.ts * 1000).toLocaleTimeString()}`;
    status.className = "status";
  } catch (e) {
    status.textContent = `figures unavailable: ${e.message}`;
    status.className = "status error";
  }
}

async function loop() {
  await poll();
  setTimeout(loop, POLL_MS);
}

loop();
