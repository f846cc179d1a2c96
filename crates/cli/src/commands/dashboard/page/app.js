// The lossgp dashboard: renders the runs the server follows, and polls each run's version to
// re-render it when its files change. Text from the runs is always set as text (never parsed
// as HTML); only the SVG plots and MathML formulas the server draws itself are inserted as markup.
"use strict";

const POLL_MS = 2000;
let runs = [];
let current = 0;
let shownVersion = null;
const openCode = new Set();

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key === "onclick") node.addEventListener("click", value);
    else node.setAttribute(key, value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svgEl(tag, attrs, ...children) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function markup(html) {
  const holder = el("div");
  holder.innerHTML = html;
  return holder;
}

const finite = (v) => typeof v === "number" && isFinite(v);
const fixed = (x, d = 4) => (x === null || x === undefined || !isFinite(x) ? "–" : Number(x).toFixed(d));
const points = (x) => (x === null || x === undefined || !isFinite(x) ? "–" : (x >= 0 ? "+" : "") + (100 * x).toFixed(2));

async function getJson(url) {
  const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
  if (!response.ok) throw new Error(`${url}: ${response.status} ${await response.text()}`);
  return response.json();
}

async function getText(url) {
  const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return response.text();
}

function section(title, ...content) {
  return el("section", {}, el("h3", {}, title), ...content);
}

function verdictCell(paired) {
  if (!paired) return el("td", { class: "num muted" }, "–");
  const [lo, hi] = paired.interval;
  return el(
    "td",
    { class: "num " + paired.verdict, title: `95% CI [${points(lo)}, ${points(hi)}] points over ${paired.differences.length} seeds` },
    `${points(paired.mean)} [${points(lo)}, ${points(hi)}] ${paired.verdict}`
  );
}

function copyButton(text) {
  return el("button", {
    onclick: async (event) => {
      const button = event.currentTarget;
      try {
        await navigator.clipboard.writeText(text);
      } catch (_) {
        // Outside a secure context (a dashboard served beyond the loopback over http).
        const area = el("textarea", {}, text);
        document.body.append(area);
        area.select();
        document.execCommand("copy");
        area.remove();
      }
      button.textContent = "copied";
      setTimeout(() => (button.textContent = "copy"), 1500);
    },
  }, "copy");
}

// Horizontal intervals on one axis: a forest plot.
function intervalPlot(rows, colours) {
  const width = 760, row = 26, left = 150, right = 40, top = 10;
  const values = rows.flatMap((r) => [r.low, r.high, r.mean]).filter(finite);
  if (!values.length) return el("p", { class: "muted" }, "No confirmed values yet.");
  let lo = Math.min(...values), hi = Math.max(...values);
  const pad = Math.max(0.002, 0.08 * (hi - lo));
  lo -= pad; hi += pad;
  const height = top + row * rows.length + 30;
  const x = (v) => left + ((v - lo) / (hi - lo)) * (width - left - right);
  const svg = svgEl("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": "confirmed means with 95% intervals" });
  for (let t = 0; t <= 4; t++) {
    const v = lo + ((hi - lo) * t) / 4;
    svg.append(svgEl("line", { x1: x(v), x2: x(v), y1: top, y2: height - 24, stroke: "#e2e2e6" }));
    svg.append(svgEl("text", { x: x(v), y: height - 8, "text-anchor": "middle", "font-size": 11, fill: "#6e6e73" }, v.toFixed(3)));
  }
  rows.forEach((r, i) => {
    const y = top + row * i + row / 2;
    const colour = colours[r.name] || "#333";
    svg.append(svgEl("text", { x: left - 8, y: y + 4, "text-anchor": "end", "font-size": 12 }, r.name));
    if (!finite(r.mean)) return;
    if (finite(r.low) && finite(r.high)) {
      svg.append(svgEl("line", { x1: x(r.low), x2: x(r.high), y1: y, y2: y, stroke: colour, "stroke-width": 3 }));
    }
    svg.append(svgEl("circle", { cx: x(r.mean), cy: y, r: 5, fill: colour }, svgEl("title", {}, `${r.name}: ${fixed(r.mean)} [${fixed(r.low)}, ${fixed(r.high)}], ${r.seeds} seeds`)));
  });
  return svg;
}

// Size against fitness: every size's best, the front joined.
function frontPlot(front, hallOfFame) {
  const width = 760, height = 320, left = 60, right = 20, top = 16, bottom = 40;
  if (!front.length) return el("p", { class: "muted" }, "No candidate has finished a full training yet.");
  const sizes = front.map((p) => p.size).concat(hallOfFame.map((h) => h.size));
  const fits = front.map((p) => p.fitness).concat(hallOfFame.map((h) => h.fitness));
  const xmax = Math.max(...sizes) + 2;
  let lo = Math.min(...fits), hi = Math.max(...fits);
  const pad = Math.max(0.002, 0.08 * (hi - lo));
  lo -= pad; hi += pad;
  const x = (s) => left + (s / xmax) * (width - left - right);
  const y = (f) => top + (1 - (f - lo) / (hi - lo)) * (height - top - bottom);
  const svg = svgEl("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": "size against fitness" });
  svg.append(svgEl("line", { x1: left, x2: width - right, y1: height - bottom, y2: height - bottom, stroke: "#999" }));
  svg.append(svgEl("line", { x1: left, x2: left, y1: top, y2: height - bottom, stroke: "#999" }));
  svg.append(svgEl("text", { x: (left + width) / 2, y: height - 6, "text-anchor": "middle", "font-size": 12, fill: "#6e6e73" }, "size (nodes)"));
  const step = Math.max(1, Math.ceil(xmax / 10));
  for (let s = 0; s <= xmax; s += step) {
    svg.append(svgEl("text", { x: x(s), y: height - bottom + 14, "text-anchor": "middle", "font-size": 11, fill: "#6e6e73" }, s));
  }
  for (let t = 0; t <= 4; t++) {
    const f = lo + ((hi - lo) * t) / 4;
    svg.append(svgEl("text", { x: left - 6, y: y(f) + 4, "text-anchor": "end", "font-size": 11, fill: "#6e6e73" }, f.toFixed(3)));
  }
  const line = front.filter((p) => p.front).map((p) => `${x(p.size)},${y(p.fitness)}`).join(" ");
  svg.append(svgEl("polyline", { points: line, fill: "none", stroke: "#d62728", "stroke-width": 2 }));
  for (const p of front) {
    svg.append(svgEl("circle", { cx: x(p.size), cy: y(p.fitness), r: p.front ? 5 : 3.5, fill: p.front ? "#d62728" : "#b0b0b8" }, svgEl("title", {}, `${p.size} nodes: ${fixed(p.fitness)}  ${p.loss}`)));
  }
  for (const h of hallOfFame) {
    svg.append(svgEl("rect", { x: x(h.size) - 5, y: y(h.fitness) - 5, width: 10, height: 10, fill: "none", stroke: "#000", "stroke-width": 2 }, svgEl("title", {}, `${h.name}: confirmed mean ${fixed(h.fitness)}`)));
  }
  return svg;
}

function genealogyTree(ancestors) {
  if (!ancestors.length) return el("p", { class: "muted" }, "No genealogy: the leader was found by a search from before lossgp recorded parents.");
  const byKey = new Map(ancestors.map((a) => [a.key, a]));
  const seen = new Set();
  const node = (a, depth) => {
    const item = el("li", {},
      el("span", { class: "gen" }, `gen ${a.generation}`),
      el("span", { class: "op" }, a.operator),
      el("span", { class: "loss" }, a.loss),
      a.fitness !== null ? el("span", { class: "muted" }, `  ${fixed(a.fitness)}`) : null);
    if (seen.has(a.key) || depth > 12) return item;
    seen.add(a.key);
    const parents = a.parents.map((k) => byKey.get(k)).filter(Boolean);
    if (parents.length) item.append(el("ul", {}, parents.map((p) => node(p, depth + 1))));
    return item;
  };
  return el("ul", { class: "tree" }, node(ancestors[0], 0));
}

function renderSearch(view) {
  const s = view.search;
  const summary = s.summary;
  const out = [];
  const status = s.running ? `running (${s.running})` : summary && summary.finished ? "finished" : "stopped";
  out.push(el("h2", {}, view.run.name, " ", el("span", { class: "status " + (s.running ? "running" : "") }, status)));
  out.push(el("p", { class: "muted" }, s.description, ` · ${s.evaluated} trainings, ${s.screened} screened out · `, el("span", {}, view.run.path)));
  if (!summary) {
    out.push(section("Progress", el("p", { class: "muted" }, "The first generation has not finished yet: the baselines and the first candidates are training.")));
    out.push(evaluatorSection(s.evaluator));
    return out;
  }
  out.push(el("p", {}, `${summary.generations_done} generation(s) done of ${summary.generations}; ` +
    `${summary.totals.evaluations} trainings and ${summary.totals.confirmations} confirmations, ${summary.totals.failures} failed.`));
  if (s.progress_svg) out.push(section("Progress", el("div", { class: "progress" }, markup(s.progress_svg))));

  const names = summary.best.length ? Object.keys(summary.best[0].versus) : [];
  const head = el("tr", {}, el("th", {}, "rank"), el("th", {}, "loss"), el("th", {}, "confirmed"),
    names.map((n) => el("th", {}, `Δ vs ${n}${n === summary.strongest_baseline ? " (strongest)" : ""}, points`)),
    el("th", {}, "gen"), el("th", {}, "size"), el("th", {}, "PyTorch"));
  const rows = summary.best.map((f) => {
    const formula = s.formulas.find((x) => x.rank === f.rank);
    const code = formula ? formula.pytorch : f.pytorch;
    const codeRow = el("tr", { class: "code-row" }, el("td", { colspan: 6 + names.length },
      el("pre", { class: "code" }, code), copyButton(code)));
    if (!openCode.has(f.rank)) codeRow.hidden = true;
    const toggle = el("button", {
      onclick: () => {
        codeRow.hidden = !codeRow.hidden;
        if (codeRow.hidden) openCode.delete(f.rank); else openCode.add(f.rank);
      },
    }, "code");
    const cell = el("td", { class: "formula" }, formula ? markup(formula.mathml) : null, el("span", { class: "text" }, formula ? formula.text : f.loss));
    return [el("tr", {}, el("td", {}, el("span", { class: "swatch", style: `background:${s.colours["best-" + f.rank] || "#333"}` }), `best-${f.rank}`), cell,
      el("td", { class: "num" }, f.confirmed_mean !== null ? `${fixed(f.confirmed_mean)} ± ${fixed(f.confirmed_sd)}` : `${fixed(f.fitness)} (search seed)`),
      names.map((n) => verdictCell(f.versus[n].paired)),
      el("td", { class: "num" }, f.generation), el("td", { class: "num" }, f.size), el("td", {}, toggle, " ", copyButton(code))), codeRow];
  });
  out.push(section("Hall of fame", el("table", {}, el("thead", {}, head), el("tbody", {}, rows)),
    el("p", { class: "muted" }, `Δ paired over the search's ${summary.confirm_seeds} confirmation seeds, which chose the hall of fame: seeds it never used tell (${summary.confirm_command}).`)));

  const grid = el("div", { class: "grid2" });
  grid.append(section("Confirmed means and 95% intervals", intervalPlot(s.intervals, s.colours)));
  grid.append(section("Size against fitness (the front)", frontPlot(s.front, s.intervals.filter((i) => i.size !== null).map((i) => ({ name: i.name, size: i.size, fitness: i.mean }))),
    el("p", { class: "muted" }, "Dots: the best full-length fitness at each size on the search's seed; red: the front (no smaller loss does as well); squares: the hall of fame's confirmed means.")));
  out.push(grid);

  if (summary.confirmation) out.push(confirmationSection(summary.confirmation, s.colours));
  out.push(section("The leader's genealogy", genealogyTree(s.genealogy)));
  out.push(evaluatorSection(s.evaluator));
  return out;
}

function confirmationSection(c, colours) {
  const names = c.losses.filter((e) => !e.name.startsWith("best-")).map((e) => e.name);
  const rows = c.losses.map((e) => el("tr", {},
    el("td", {}, el("span", { class: "swatch", style: `background:${colours[e.name] || "#333"}` }), e.name),
    el("td", { class: "num" }, `${fixed(e.mean)} ± ${fixed(e.sd)}`),
    names.map((n) => verdictCell(e.versus[n])),
    el("td", { class: "loss" }, e.loss)));
  return section(`Held-out confirmation: seeds ${c.seeds.join(", ")}, never used by the search`,
    el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "loss"), el("th", {}, "mean"), names.map((n) => el("th", {}, `Δ vs ${n}`)), el("th", {}, "expression"))), el("tbody", {}, rows)));
}

function evaluatorSection(e) {
  const claimed = e.queue.claimed.map((c) => el("li", {}, el("b", {}, c.worker), `: ${c.loss || c.job}`, c.budget !== null ? el("span", { class: "muted" }, ` (budget ${c.budget}, attempt ${c.attempt})`) : null));
  const arrays = e.arrays.length
    ? el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "batch"), el("th", {}, "tasks"), el("th", {}, "Slurm array"))),
      el("tbody", {}, e.arrays.map((a) => el("tr", {}, el("td", {}, a.batch), el("td", { class: "num" }, a.tasks), el("td", {}, a.array || "submitting")))))
    : null;
  const failures = e.recent_failures.map(([loss, error]) => el("li", {}, el("span", { class: "loss" }, loss), ": ", el("span", { class: "error" }, error)));
  return section("Evaluator",
    el("dl", { class: "kv" },
      el("dt", {}, "evaluator"), el("dd", {}, `${e.evaluator}, ${e.workers} worker(s)`),
      el("dt", {}, "queue"), el("dd", {}, `${e.queue.pending} waiting, ${e.queue.claimed.length} running, ${e.queue.done} finished and not yet recorded`),
      el("dt", {}, "failures"), el("dd", {}, `${e.failures} evaluation(s) failed after every attempt`)),
    claimed.length ? el("ul", {}, claimed) : null, arrays, failures.length ? el("ul", {}, failures) : null);
}

function heatColour(delta) {
  if (delta === null || !isFinite(delta)) return "#fff";
  const t = Math.max(-1, Math.min(1, (100 * delta) / 3));
  const [r, g, b] = t >= 0 ? [31, 119, 180] : [214, 39, 40];
  const a = Math.abs(t) * 0.55;
  return `rgba(${r},${g},${b},${a.toFixed(3)})`;
}

function renderTransfer(view) {
  const t = view.transfer;
  const a = t.analysis;
  const out = [el("h2", {}, view.run.name, " ", el("span", { class: "status" }, t.finished ? "finished" : "not finished")),
    el("p", { class: "muted" }, `${a.cells_finished} of ${a.cells} cells finished, ${a.seeds} seed(s); reference: ${a.reference}`)];
  const arrow = { better: "↑", worse: "↓", same: "=", unconfirmed: "?" };
  const head = el("tr", {}, el("th", {}, "loss"), a.columns.map(([model, dataset]) => el("th", {}, `${dataset} / ${model}`)), el("th", {}, "mean Δ"));
  const reference = a.losses[0];
  const refRow = el("tr", {}, el("td", {}, reference.name, el("span", { class: "muted" }, " (accuracy, %)")),
    reference.columns.map((c) => el("td", { class: "cell" }, c.accuracy ? (100 * c.accuracy.mean).toFixed(2) : "–")), el("td", {}));
  const rows = a.losses.slice(1).map((loss) => el("tr", {}, el("td", {}, loss.name),
    loss.columns.map((c) => {
      const v = c.versus;
      if (!v) return el("td", { class: "cell muted" }, "–");
      const [lo, hi] = v.difference.interval;
      return el("td", { class: "cell " + v.noise_aware, style: `background:${heatColour(v.difference.mean)}`,
        title: `95% CI [${points(lo)}, ${points(hi)}]; paper: ${v.paper}; noise-aware: ${v.noise_aware}${v.p_holm !== null ? `, Holm p ${v.p_holm.toFixed(3)}` : ""}` },
      `${points(v.difference.mean)} ${arrow[v.noise_aware] || ""}`);
    }),
    el("td", { class: "num" }, points(loss.mean_difference))));
  out.push(section(`Δ top-1 accuracy vs ${a.reference}, points (blue better, red worse; arrow: the noise-aware verdict)`,
    el("table", { class: "heat" }, el("thead", {}, head), el("tbody", {}, refRow, rows)),
    el("p", { class: "muted" }, a.noise_aware_rule)));
  return out;
}

function renderNav() {
  const nav = document.getElementById("runs");
  nav.replaceChildren(...runs.map((r) => el("a", { href: `#run-${r.id}`, class: r.id === current ? "current" : "", title: r.path }, `${r.name} (${r.kind})`)));
}

async function show(force) {
  const version = await getText(`/api/runs/${current}/version`);
  if (!force && version === shownVersion) return;
  const view = await getJson(`/api/runs/${current}`);
  const main = document.getElementById("run");
  main.replaceChildren(...(view.search ? renderSearch(view) : renderTransfer(view)));
  shownVersion = view.version;
  document.getElementById("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
}

function fromHash() {
  const match = /^#run-(\d+)$/.exec(location.hash);
  current = match ? Math.min(Number(match[1]), Math.max(0, runs.length - 1)) : 0;
}

async function start() {
  try {
    runs = await getJson("/api/runs");
    fromHash();
    renderNav();
    await show(true);
  } catch (error) {
    document.getElementById("run").replaceChildren(el("p", { class: "error" }, String(error)));
  }
  window.addEventListener("hashchange", () => { fromHash(); renderNav(); show(true).catch(report); });
  setInterval(() => show(false).catch(report), POLL_MS);
}

function report(error) {
  document.getElementById("updated").textContent = `not updated: ${error.message}`;
}

start();
