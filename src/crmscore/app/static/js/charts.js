// Apache ECharts (vendored, global `echarts`) with one place that creates, resizes and disposes charts.
// Each chart element carries data-chart="<name>", so tests can find it: echarts.getInstanceByDom(el).

import { h } from "./dom.js";

const live = new Set();
const PALETTE = ["#2f6fde", "#22a06b", "#e2a03f", "#d9534f", "#7e57c2", "#00a3bf", "#8d6e63", "#9e9d24",
  "#ec407a", "#5c6bc0", "#26a69a", "#bdbdbd"];

export function chartBox(name, title, extra = null) {
  return h("section", { class: "card chart-card" },
    h("h3", {}, title), extra,
    h("div", { class: "chart", dataset: { chart: name } }));
}

export function draw(root, name, option) {
  const el = root.querySelector(`[data-chart="${name}"]`);
  if (!el || typeof echarts === "undefined") return null;
  const existing = echarts.getInstanceByDom(el);
  if (existing) existing.dispose();
  const chart = echarts.init(el, null, { renderer: "canvas" });
  chart.setOption({ color: PALETTE, animation: false, textStyle: { fontFamily: "inherit" }, ...option });
  live.add(chart);
  el.dataset.rendered = "true";
  return chart;
}

export function disposeAll() {
  for (const chart of live) if (!chart.isDisposed()) chart.dispose();
  live.clear();
}

window.addEventListener("resize", () => { for (const chart of live) if (!chart.isDisposed()) chart.resize(); });
