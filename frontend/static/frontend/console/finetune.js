// A fine-tuning job's progress, read every 2 s while it runs: the numbers, the progress bar and
// the loss and ε curves. A finished job is read once; its page then reloads to show its report.

import { lineChart } from "./chart.js";

const root = document.querySelector("[data-finetune-job]");
const field = (name) => root.querySelector(`[data-field="${name}"]`);
const FINISHED = new Set(["succeeded", "failed", "cancelled"]);
let lastStatus = null;

function show(p) {
  const cancelling = p.cancel_requested && !FINISHED.has(p.status);
  field("status").textContent = p.status_label + (cancelling ? " (cancelling)" : "");
  field("step").textContent = `${p.step} / ${p.total_steps ?? "?"}`;
  field("epsilon").textContent = p.epsilon_spent ?? "—";
  field("loss").textContent = p.loss ?? "—";
  field("bar").max = p.total_steps || 1;
  field("bar").value = p.step;
  if (p.error) field("note").textContent = p.error;
  const points = (key) => p.history.filter((h) => h[key] !== null).map((h) => [h.step, h[key]]);
  const chart = (name) => root.querySelector(`[data-chart="${name}"]`);
  if (p.history.length) {
    lineChart(chart("loss"), [{ name: "loss", points: points("loss") }]);
    lineChart(chart("epsilon"), [{ name: "ε", points: points("epsilon") }], {
      max: p.epsilon_budget,
    });
  }
}

async function poll() {
  try {
    const response = await fetch(root.dataset.progressSrc, { credentials: "same-origin" });
    if (response.ok) {
      const p = await response.json();
      show(p);
      if (lastStatus !== null && lastStatus !== p.status && FINISHED.has(p.status)) {
        window.location.reload(); // the report and the deploy button come with the page
        return;
      }
      lastStatus = p.status;
      if (FINISHED.has(p.status)) return;
    }
  } catch {
    // Offline for a moment: the next tick tries again.
  }
  setTimeout(poll, 2000);
}

poll();
