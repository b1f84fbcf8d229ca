// Completions and acceptances per day, from the data the page embeds.

import { lineChart } from "./chart.js";

const days = JSON.parse(document.getElementById("ide-daily-data").textContent);
const x = (day) => Date.parse(`${day}T00:00:00Z`) / 1000;
const label = (t) => new Date(t * 1000).toISOString().slice(0, 10);
if (days.length) {
  lineChart(
    document.querySelector('[data-chart="ide-daily"]'),
    [
      { name: "completions", points: days.map((d) => [x(d.day), d.completions]) },
      { name: "accepted", points: days.map((d) => [x(d.day), d.accepted]) },
    ],
    { formatX: label },
  );
}
