// The model server's load, sampled from the console's /metrics proxy every 2 s and charted over
// the last 5 minutes. Throughput is the rate of the generated-tokens counter between samples.

import { lineChart } from "./chart.js";

const SAMPLE_MS = 2000;
const WINDOW = 150;
const charts = document.querySelector("[data-metrics-src]");
const state = document.querySelector("[data-model-state]");
const samples = [];

const clock = (t) => new Date(t * 1000).toLocaleTimeString();
const show = (name, text) => {
  document.querySelector(`[data-metric="${name}"]`).textContent = text;
};

function draw() {
  const series = (pick) => samples.filter((s) => pick(s) !== null).map((s) => [s.at, pick(s)]);
  const chart = (name) => charts.querySelector(`[data-chart="${name}"]`);
  lineChart(chart("throughput"), [{ name: "tokens/s", points: series((s) => s.throughput) }], {
    formatX: clock,
  });
  lineChart(
    chart("queue"),
    [
      { name: "running", points: series((s) => s.metrics.running) },
      { name: "waiting", points: series((s) => s.metrics.waiting) },
    ],
    { formatX: clock },
  );
  lineChart(
    chart("kv"),
    [{ name: "KV cache %", points: series((s) => (s.metrics.kv_cache_usage ?? 0) * 100) }],
    {
      max: 100,
      formatX: clock,
      formatY: (y) => `${y.toFixed(0)}%`,
    },
  );
}

async function sample() {
  try {
    const response = await fetch(charts.dataset.metricsSrc, { credentials: "same-origin" });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error?.message || `HTTP ${response.status}`);
    const previous = samples.at(-1);
    const { metrics, at } = body;
    const throughput =
      previous && metrics.generation_tokens !== null && at > previous.at
        ? Math.max(
            0,
            (metrics.generation_tokens - previous.metrics.generation_tokens) / (at - previous.at),
          )
        : null;
    samples.push({ at, metrics, throughput });
    if (samples.length > WINDOW) samples.shift();
    state.textContent = `Up: last read ${clock(at)}.`;
    state.dataset.up = "true";
    show("throughput", throughput === null ? "—" : `${throughput.toFixed(1)} tokens/s`);
    show("running", metrics.running ?? "—");
    show("waiting", metrics.waiting ?? "—");
    show(
      "kv_cache_usage",
      metrics.kv_cache_usage === null ? "—" : `${(metrics.kv_cache_usage * 100).toFixed(1)}%`,
    );
    show("kv_cache_blocks_total", metrics.kv_cache_blocks_total ?? "—");
    show("requests_finished", metrics.requests_finished ?? "—");
    draw();
  } catch (error) {
    state.textContent = `Unreachable: ${error.message}`;
    state.dataset.up = "false";
  }
  setTimeout(sample, SAMPLE_MS);
}

sample();
