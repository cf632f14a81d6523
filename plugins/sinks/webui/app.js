// The live page of sink.web: a snapshot, then server-sent updates. No third-party code.
"use strict";
const token = new URLSearchParams(location.search).get("token");
const q = token ? "?token=" + encodeURIComponent(token) : "";
const view = { state: { now: 0, crying: {} }, scores: [], events: [], history: 300,
               health: {}, lastStart: null, maxEvents: 50, cries: [] };
const $ = (id) => document.getElementById(id);

function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = h ? String(m).padStart(2, "0") : String(m);
  return (h ? h + ":" : "") + mm + ":" + String(r).padStart(2, "0");
}

function renderState() {
  const starts = Object.values(view.state.crying);
  const el = $("state");
  if (starts.length) {
    el.className = "crying";
    el.textContent = "crying for " + clock(view.state.now - Math.min(...starts));
  } else {
    el.className = "quiet";
    el.textContent = "quiet";
  }
  $("false-alarm").disabled = !view.lastStart;
}

const FIELDS = [["score", (v) => "score " + v.toFixed(2)],
  ["label", (v) => "need " + v],
  ["loudness_db", (v) => v + " dBFS"], ["above_noise_db", (v) => v + " dB over the room"],
  ["f0_hz", (v) => "F0 " + Math.round(v) + " Hz"], ["voiced", (v) => Math.round(100 * v) + " % voiced"],
  ["units", (v) => v + (v === 1 ? " burst" : " bursts")], ["intensity", (v) => "intensity " + v.toFixed(2)],
  ["trend", (v) => v], ["reason", (v) => v], ["lost_for", (v) => "away " + v + " s"]];

function details(e) {
  return FIELDS.filter(([k]) => e[k] !== undefined && e[k] !== null)
    .map(([k, f]) => f(e[k])).join(" · ");
}

function renderEvents() {
  const body = $("events").tBodies[0];
  body.replaceChildren(...view.events.slice().reverse().map((e) => {
    const tr = document.createElement("tr");
    tr.className = "ev ev-" + e.event;
    tr.dataset.t = e.t;
    for (const text of [clock(e.t) + "." + String(Math.floor((e.t % 1) * 10)), e.event, details(e)]) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.appendChild(td);
    }
    return tr;
  }));
}

function renderHealth() {
  const body = $("health").tBodies[0];
  const nodes = view.health.nodes || {};
  body.replaceChildren(...Object.entries(nodes).map(([name, m]) => {
    const tr = document.createElement("tr");
    for (const text of [name, m.in + " / " + m.out, m.dropped, m.rejected, m.errors, m.cpu]) {
      const td = document.createElement("td");
      td.textContent = String(text);
      tr.appendChild(td);
    }
    return tr;
  }));
  if (view.health.process_cpu !== undefined) {
    $("process-cpu").textContent = "(whole process: " + view.health.process_cpu + " % of a core)";
  }
}

function renderChart() {
  const canvas = $("chart");
  const w = canvas.width = canvas.clientWidth * devicePixelRatio;
  const h = canvas.height = canvas.clientHeight * devicePixelRatio;
  const g = canvas.getContext("2d");
  const end = view.state.now, start = end - view.history;
  const x = (t) => ((t - start) / view.history) * w, y = (s) => h - 4 - s * (h - 8);
  g.clearRect(0, 0, w, h);
  g.fillStyle = "rgba(217, 67, 47, 0.12)";  // the cries
  for (const c of view.cries) g.fillRect(x(c.start), 0, x(c.end ?? end) - x(c.start), h);
  g.strokeStyle = "#e3e6ea";
  for (const s of [0, 0.5, 1]) { g.beginPath(); g.moveTo(0, y(s)); g.lineTo(w, y(s)); g.stroke(); }
  g.strokeStyle = "#1d2430";
  g.lineWidth = 1.5 * devicePixelRatio;
  g.beginPath();
  view.scores.forEach(([t, s], i) => (i ? g.lineTo(x(t), y(s)) : g.moveTo(x(t), y(s))));
  g.stroke();
}

function render() { renderState(); renderEvents(); renderHealth(); renderChart(); }

function onMessage(msg) {
  const d = msg.data;
  if (msg.type === "snapshot") {
    Object.assign(view, { state: d.state, scores: d.scores, events: d.events,
                          history: d.history, health: d.health, lastStart: d.last_start,
                          maxEvents: d.max_events, cries: d.cries });
    $("graph").textContent = "streamser · " + d.graph;
    document.title = d.graph + " · streamser";
    $("span").textContent = d.history >= 120 ? Math.round(d.history / 60) + " minutes"
                                             : Math.round(d.history) + " seconds";
    render();
  } else if (msg.type === "event") {
    view.events.push(d.event);
    while (view.events.length > view.maxEvents) view.events.shift();
    view.state = d.state;
    if (d.event.event === "cry_start") {
      view.lastStart = d.event;
      view.cries.push({ stream: d.event.stream, start: d.event.t, end: null });
    } else if (d.event.event === "cry_end") {
      for (const c of view.cries) if (c.stream === d.event.stream && c.end === null) c.end = d.event.t;
    }
    renderState(); renderEvents(); renderChart();
  } else if (msg.type === "score") {
    view.scores.push([d.t, d.score]);
    view.state.now = Math.max(view.state.now, d.now);
    while (view.scores.length && view.scores[0][0] < view.state.now - view.history) view.scores.shift();
    renderState(); renderChart();
  } else if (msg.type === "health") {
    view.health = d;
    renderHealth();
  }
}

function connect() {
  const source = new EventSource("stream" + q);
  source.onopen = () => { $("link").textContent = "live"; $("link").className = "link up"; };
  source.onerror = () => { $("link").textContent = "reconnecting"; $("link").className = "link down"; };
  source.onmessage = (m) => onMessage(JSON.parse(m.data));
}

$("false-alarm").addEventListener("click", async () => {
  const last = view.lastStart;
  if (!last) return;
  const headers = { "Content-Type": "application/json", "X-Requested-With": "streamser" };
  if (token) headers.Authorization = "Bearer " + token;
  const res = await fetch("false-alarm", { method: "POST", headers,
                                           body: JSON.stringify({ t: last.t, stream: last.stream }) });
  $("marked").textContent = res.ok ? "Marked the cry at " + clock(last.t) + " as a false alarm."
                                   : "Could not mark it (" + res.status + ").";
});
addEventListener("resize", renderChart);
connect();
