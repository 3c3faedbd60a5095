// The steps as a timeline: one bar per step from its start, as long as it ran; failures marked.

import { h, svg } from "./dom.js";

const WIDTH = 600;
const ROW = 22;
const LABEL = 130;

function seconds(ms) {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

export function timeline(steps, now = Date.now()) {
  if (!steps || !steps.length) return h("p", { class: "sub" }, "No steps have run yet.");
  const spans = steps.map((s) => {
    const start = Date.parse(s.started_at);
    const end = s.finished_at ? Date.parse(s.finished_at) : Math.max(start, now);
    return { ...s, start, end };
  });
  const t0 = Math.min(...spans.map((s) => s.start));
  const total = Math.max(1, Math.max(...spans.map((s) => s.end)) - t0);
  const scale = (WIDTH - LABEL - 10) / total;
  const height = spans.length * ROW + 20;
  const chart = svg("svg", { viewBox: `0 0 ${WIDTH} ${height}`, class: "timeline", role: "img",
    "aria-label": `${spans.length} steps over ${seconds(total)}` });
  spans.forEach((s, i) => {
    const y = i * ROW + 4;
    const x = LABEL + (s.start - t0) * scale;
    const w = Math.max(3, (s.end - s.start) * scale);
    const group = svg("g", { class: `step st-${s.state}` },
      svg("title", {}, `${s.name}: ${s.state}, ${seconds(s.end - s.start)}${s.attempts > 1 ? `, ${s.attempts} attempts` : ""}${s.error ? ` — ${s.error}` : ""}`),
      svg("text", { x: 0, y: y + 13, class: "label" }, s.name),
      svg("rect", { x, y, width: w, height: ROW - 8, rx: 3 }));
    if (s.state === "failed") group.append(svg("text", { x: x + w + 4, y: y + 13, class: "mark" }, "✕ failed"));
    chart.append(group);
  });
  chart.append(svg("text", { x: LABEL, y: height - 2, class: "axis" }, "0 s"),
    svg("text", { x: WIDTH - 4, y: height - 2, class: "axis", "text-anchor": "end" }, seconds(total)));
  const list = h("ol", { class: "steps-text" }, spans.map((s) =>
    h("li", { class: `st-${s.state}` }, `${s.name}: ${s.state}, started +${seconds(s.start - t0)}, took ${seconds(s.end - s.start)}`,
      s.error ? ` — ${s.error}` : "")));
  return h("div", { class: "timeline-wrap" }, chart, h("details", {}, h("summary", {}, "Steps as text"), list));
}
