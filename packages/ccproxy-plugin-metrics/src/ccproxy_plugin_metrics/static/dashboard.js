// ccproxy usage dashboard: a thin view over GET /metrics/dashboard/data.
// Charts are SVG drawn here (no library, nothing loaded from elsewhere); the data is exact
// (costs arrive as decimal strings) and is rounded only for display.
"use strict";

const POLL_MS = 5000;
const SVG = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);
const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const seconds = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
const percent = new Intl.NumberFormat(undefined, { style: "percent", maximumFractionDigits: 1 });

function usd(text) {
  const value = Number(text);
  const digits = value !== 0 && Math.abs(value) < 1 ? 4 : 2;
  return "$" + value.toLocaleString(undefined, { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function duration(s) {
  if (s == null) return "–";
  if (s < 1) return Math.round(s * 1000) + " ms";
  if (s < 60) return seconds.format(s) + " s";
  if (s < 3600) return Math.round(s / 60) + " min";
  if (s < 172800) return seconds.format(s / 3600) + " h";
  return seconds.format(s / 86400) + " d";
}

function element(tag, text, attributes) {
  const node = document.createElement(tag);
  if (text != null) node.textContent = text;
  for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, value);
  return node;
}

function svgElement(tag, attributes, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  if (text != null) node.textContent = text;
  return node;
}

// --- the view in the URL -------------------------------------------------------------------

const VIEW_KEYS = ["range", "group_by", "since", "until"];

function readView() {
  const params = new URLSearchParams(location.search);
  const view = { range: params.get("range") || "24h", group_by: params.get("group_by") || "model" };
  if (view.range === "custom") {
    view.since = params.get("since") || "";
    view.until = params.get("until") || "";
  }
  return view;
}

function writeView(view) {
  const params = new URLSearchParams();
  for (const key of VIEW_KEYS) if (view[key]) params.set(key, view[key]);
  history.replaceState(null, "", location.pathname + "?" + params.toString());
}

function showView(view) {
  $("range").value = view.range;
  $("group_by").value = view.group_by;
  $("custom").hidden = view.range !== "custom";
  if (view.range === "custom") {
    $("since").value = view.since || "";
    $("until").value = view.until || "";
  }
}

function viewFromControls() {
  const view = { range: $("range").value, group_by: $("group_by").value };
  if (view.range === "custom") {
    const today = new Date().toISOString().slice(0, 10);
    view.since = $("since").value || today;
    view.until = $("until").value || today;
  }
  return view;
}

// --- charts ---------------------------------------------------------------------------------

const WIDTH = 600, HEIGHT = 200, LEFT = 64, BOTTOM = 24, TOP = 12;

function tickLabel(iso, bucketSeconds) {
  const at = new Date(iso);
  return bucketSeconds >= 86400
    ? at.toLocaleDateString(undefined, { month: "short", day: "numeric" })
    : at.toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

// Stacked bars, one per bucket; ``series`` are {name, cls, values}.
// Rects and legend entries carry data-series (the series' name), for people and tests alike.
function barChart(figure, data, series, format, unit) {
  const buckets = data.buckets;
  for (const old of figure.querySelectorAll("svg, ul")) old.remove();
  const totals = buckets.map((_, i) => series.reduce((sum, s) => sum + s.values[i], 0));
  const max = Math.max(0, ...totals);
  const sum = totals.reduce((a, b) => a + b, 0);
  const svg = svgElement("svg", {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img",
    "aria-label": `${figure.querySelector("figcaption").textContent}: ${format(sum)} ${unit} in the range, at most ${format(max)} per ${duration(data.bucket_seconds)}`,
  });
  const plotWidth = WIDTH - LEFT - 4, plotHeight = HEIGHT - TOP - BOTTOM;
  const step = plotWidth / Math.max(1, buckets.length);
  svg.append(svgElement("line", { class: "axis", x1: LEFT, y1: TOP + plotHeight, x2: WIDTH - 4, y2: TOP + plotHeight }));
  svg.append(svgElement("line", { class: "axis", x1: LEFT, y1: TOP, x2: LEFT, y2: TOP + plotHeight }));
  svg.append(svgElement("text", { x: LEFT - 4, y: TOP + 10, "text-anchor": "end" }, format(max)));
  svg.append(svgElement("text", { x: LEFT - 4, y: TOP + plotHeight, "text-anchor": "end" }, "0"));
  if (buckets.length) {
    svg.append(svgElement("text", { x: LEFT, y: HEIGHT - 4 }, tickLabel(buckets[0].start, data.bucket_seconds)));
    svg.append(svgElement("text", { x: WIDTH - 4, y: HEIGHT - 4, "text-anchor": "end" }, tickLabel(buckets[buckets.length - 1].start, data.bucket_seconds)));
  }
  buckets.forEach((bucket, i) => {
    let y = TOP + plotHeight;
    const group = svgElement("g", {});
    const lines = [tickLabel(bucket.start, data.bucket_seconds)];
    for (const s of series) {
      const value = s.values[i];
      lines.push(`${s.name}: ${format(value)}`);
      if (!value || !max) continue;
      const height = (value / max) * plotHeight;
      y -= height;
      group.append(svgElement("rect", {
        class: s.cls, "data-series": s.name, x: LEFT + i * step + step * 0.1, y, width: Math.max(1, step * 0.8), height,
      }));
    }
    group.append(svgElement("title", {}, lines.join("\n")));
    svg.append(group);
  });
  figure.append(svg);
  const legend = element("ul", null, { class: "legend" });
  for (const s of series) {
    const item = element("li", null, { "data-series": s.name });
    item.append(element("span", null, { class: "key " + s.cls.replace("s", "k") }), s.name);
    legend.append(item);
  }
  figure.append(legend);
}

const OTHER_GROUP = "(other)";
const GROUP_NAMES = { model: "model", provider: "provider", account: "account", route: "client route" };

// One series per group the data route names (the top few, then "(other)"), coloured by rank so
// that a group has the same colour in every chart; ``pick`` reads a bucket's group totals.
function groupSeries(data, pick) {
  return data.bucket_groups.map((name, rank) => ({
    name,
    cls: name === OTHER_GROUP ? "s5" : "s" + rank,
    values: data.buckets.map((bucket) => {
      const group = bucket.groups[name];
      return group ? pick(group) : 0;
    }),
  }));
}

function caption(id, text) {
  $(id).querySelector("figcaption").textContent = text;
}

function drawCharts(data) {
  const b = data.buckets;
  const by = GROUP_NAMES[data.group_by] || data.group_by;
  // Requests and cost follow the grouping. Errors stay one red series on top of the stacks:
  // split per group as well, they would double the colours and hide the failures.
  caption("chart-requests", `Requests by ${by} (errors in red)`);
  barChart($("chart-requests"), data, [
    ...groupSeries(data, (g) => g.requests - g.errors),
    { name: "errors", cls: "sbad", values: b.map((x) => x.errors) },
  ], (v) => integer.format(v), "requests");
  barChart($("chart-tokens"), data, [
    { name: "input", cls: "s0", values: b.map((x) => x.input_tokens) },
    { name: "output (without reasoning)", cls: "s1", values: b.map((x) => x.output_tokens - x.reasoning_tokens) },
    { name: "reasoning", cls: "s4", values: b.map((x) => x.reasoning_tokens) },
    { name: "cache read", cls: "s2", values: b.map((x) => x.cache_read_tokens) },
    { name: "cache write", cls: "s3", values: b.map((x) => x.cache_write_tokens) },
  ], (v) => integer.format(v), "tokens");
  caption("chart-cost", `API-equivalent cost (USD) by ${by}`);
  barChart($("chart-cost"), data, groupSeries(data, (g) => Number(g.cost_usd)), (v) => usd(v), "USD");
}

// --- windows ----------------------------------------------------------------------------------

function drawWindows(windows) {
  const box = $("windows");
  box.replaceChildren();
  box.className = "windows";
  if (!windows.length) {
    box.append(element("p", "No window seen yet: Claude and Codex report them on each response.", { class: "muted" }));
    return;
  }
  // A provider with several accounts names the account on each of its windows.
  const accounts = new Map();
  for (const w of windows) {
    if (!accounts.has(w.provider)) accounts.set(w.provider, new Set());
    accounts.get(w.provider).add(w.account);
  }
  for (const w of windows) {
    const card = element("div", null, { class: "window", "data-provider": w.provider, "data-account": w.account });
    const name = accounts.get(w.provider).size > 1
      ? `${w.provider} · ${w.account || "(no account)"} · ${w.window}`
      : `${w.provider} · ${w.window}`;
    card.append(element("strong", name));
    if (w.used_ratio != null) {
      const meter = element("meter", null, { min: "0", max: "1", value: String(w.used_ratio), "aria-label": `${name} used` });
      card.append(element("div", `${percent.format(w.used_ratio)} used`), meter);
    }
    // A Copilot account's premium-request quota says what is left of it.
    if (w.unlimited) card.append(element("div", "unlimited"));
    else if (w.remaining != null && w.entitlement != null) card.append(element("div", `${w.remaining} of ${w.entitlement} left`));
    card.append(element("div", w.resets_in_s == null ? "reset time unknown" : `resets in ${duration(w.resets_in_s)}`, { class: "muted" }));
    box.append(card);
  }
}

// --- tables -----------------------------------------------------------------------------------

const COLUMNS = [
  ["key", "name", (g) => g.key],
  ["requests", "requests", (g) => integer.format(g.requests)],
  ["errors", "errors", (g) => integer.format(g.errors)],
  ["input_tokens", "input tokens", (g) => integer.format(g.input_tokens)],
  ["output_tokens", "output tokens", (g) => integer.format(g.output_tokens)],
  ["reasoning_tokens", "of which reasoning", (g) => integer.format(g.reasoning_tokens)],
  ["cache_read_tokens", "cache read tokens", (g) => integer.format(g.cache_read_tokens)],
  ["cache_write_tokens", "cache write tokens", (g) => integer.format(g.cache_write_tokens)],
  ["cost_usd", "cost (USD)", (g) => usd(g.cost_usd) + (g.unpriced_requests ? ` (${g.unpriced_requests} unpriced)` : "")],
];
let sort = { key: "cost_usd", descending: true };

function sortValue(group, key) {
  return key === "key" ? group.key : Number(group[key]);
}

function drawTotals(data) {
  const table = $("totals");
  const head = table.tHead.rows[0];
  head.replaceChildren();
  for (const [key, label] of COLUMNS) {
    const heading = key === "key" ? data.group_by.replace("route", "client route") : label;
    const th = element("th", null, { scope: "col" });
    if (sort.key === key) th.setAttribute("aria-sort", sort.descending ? "descending" : "ascending");
    const button = element("button", heading, { type: "button", "data-key": key });
    button.addEventListener("click", () => {
      sort = { key, descending: sort.key === key ? !sort.descending : key !== "key" };
      drawTotals(data);
      table.querySelector(`button[data-key="${key}"]`).focus();
    });
    th.append(button);
    head.append(th);
  }
  const groups = [...data.groups].sort((a, b) => {
    const x = sortValue(a, sort.key), y = sortValue(b, sort.key);
    const order = x < y ? -1 : x > y ? 1 : 0;
    return sort.descending ? -order : order;
  });
  const body = table.tBodies[0];
  body.replaceChildren();
  for (const group of groups) {
    const row = element("tr", null, { "data-group": group.key });
    for (const [key, , show] of COLUMNS) {
      const cell = element(key === "key" ? "th" : "td", show(group), { "data-column": key });
      if (key === "key") cell.setAttribute("scope", "row");
      row.append(cell);
    }
    body.append(row);
  }
  const foot = table.tFoot;
  foot.replaceChildren();
  const total = element("tr", null, { "data-group": "(total)" });
  for (const [key, , show] of COLUMNS) {
    total.append(element("td", key === "key" ? "total" : show(data.total), { "data-column": key }));
  }
  foot.append(total);
}

function drawRequests(id, requests, empty) {
  const table = $(id);
  const head = table.tHead;
  head.replaceChildren();
  const headings = element("tr");
  for (const label of ["when", "route", "model", "status", "duration", "error"]) {
    headings.append(element("th", label, { scope: "col" }));
  }
  head.append(headings);
  const body = table.tBodies[0];
  body.replaceChildren();
  if (!requests.length) {
    const row = element("tr");
    row.append(element("td", empty, { colspan: "6", class: "muted" }));
    body.append(row);
    return;
  }
  for (const r of requests) {
    const row = element("tr");
    row.append(
      element("td", new Date(r.at).toLocaleString()),
      element("td", r.route),
      element("td", r.model),
      element("td", String(r.status_code)),
      element("td", duration(r.duration_s)),
      element("td", r.error_kind || ""),
    );
    body.append(row);
  }
}

// --- loading ----------------------------------------------------------------------------------

let timer = null;
let generation = 0;

async function load() {
  clearTimeout(timer);
  const mine = ++generation;
  const view = readView();
  const params = new URLSearchParams();
  for (const key of VIEW_KEYS) if (view[key]) params.set(key, view[key]);
  const status = $("status");
  try {
    const response = await fetch("dashboard/data?" + params.toString(), { credentials: "same-origin", cache: "no-store" });
    const body = await response.json();
    if (mine !== generation) return;
    if (!response.ok) {
      const message = (body.error && body.error.message) || body.detail || "HTTP " + response.status;
      throw new Error(message);
    }
    $("empty").hidden = body.total.requests > 0;
    drawWindows(body.windows);
    drawCharts(body);
    drawTotals(body);
    drawRequests("slowest", body.slowest, "No requests in this range.");
    drawRequests("failing", body.failing, "No failed requests in this range.");
    status.className = "";
    status.textContent = `Updated ${new Date().toLocaleTimeString()} · ${integer.format(body.total.requests)} requests · ${usd(body.total.cost_usd)}`;
    document.body.dataset.loaded = String(mine);
  } catch (e) {
    if (mine !== generation) return;
    status.className = "error";
    status.textContent = "Could not load usage: " + e.message;
  }
  timer = setTimeout(poll, POLL_MS);
}

function poll() {
  if (document.hidden) {
    timer = setTimeout(poll, POLL_MS);
  } else {
    load();
  }
}

for (const node of document.querySelectorAll(".origin")) node.textContent = location.origin;
showView(readView());
$("controls").addEventListener("change", () => {
  const view = viewFromControls();
  writeView(view);
  showView(view);
  load();
});
$("controls").addEventListener("submit", (event) => event.preventDefault());
load();
