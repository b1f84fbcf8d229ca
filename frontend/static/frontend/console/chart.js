// Line charts as inline SVG, drawn from [x, y] points; no library, nothing fetched.

const NS = "http://www.w3.org/2000/svg";
const WIDTH = 600;
const HEIGHT = 180;
const PAD = { left: 48, right: 12, top: 10, bottom: 24 };

function svg(tag, attributes = {}, text) {
  const node = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

const number = (y) => (Number.isInteger(y) ? String(y) : y.toFixed(1));

/** Draw `series` ([{name, points: [[x, y], …]}]) into `figure`, replacing the previous drawing.
 * `formatX` labels the first and last x, `formatY` the y ticks; y runs from 0 to `max` or the
 * largest y. */
export function lineChart(figure, series, { max, formatX = String, formatY = number } = {}) {
  const xs = series.flatMap((s) => s.points.map(([x]) => x));
  const ys = series.flatMap((s) => s.points.map(([, y]) => y));
  const x0 = Math.min(...xs);
  const x1 = Math.max(...xs);
  const top = max ?? Math.max(1, ...ys);
  const sx = (x) =>
    PAD.left + (x1 === x0 ? 0 : ((x - x0) / (x1 - x0)) * (WIDTH - PAD.left - PAD.right));
  const sy = (y) => HEIGHT - PAD.bottom - (y / top) * (HEIGHT - PAD.top - PAD.bottom);

  const root = svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", class: "chart-svg" });
  root.append(
    svg("title", {}, series.map((s) => `${s.name}: ${s.points.at(-1)?.[1] ?? "—"}`).join(", ")),
  );
  for (const y of [0, top / 2, top]) {
    root.append(
      svg("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: sy(y), y2: sy(y), class: "grid" }),
    );
    root.append(
      svg(
        "text",
        { x: PAD.left - 6, y: sy(y) + 4, "text-anchor": "end", class: "tick" },
        formatY(y),
      ),
    );
  }
  if (xs.length) {
    root.append(svg("text", { x: PAD.left, y: HEIGHT - 6, class: "tick" }, formatX(x0)));
    root.append(
      svg(
        "text",
        { x: WIDTH - PAD.right, y: HEIGHT - 6, "text-anchor": "end", class: "tick" },
        formatX(x1),
      ),
    );
  }
  series.forEach((s, i) => {
    const points = s.points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(" ");
    root.append(svg("polyline", { points, class: `line line-${i}`, "data-series": s.name }));
    if (s.points.length <= 60) {
      // Few points (days of a report): mark each, so that a single one is visible too.
      for (const [x, y] of s.points)
        root.append(svg("circle", { cx: sx(x), cy: sy(y), r: 3, class: `line-${i}` }));
    }
    root.append(
      svg(
        "text",
        { x: PAD.left + 8 + i * 150, y: PAD.top + 10, class: `legend line-${i}` },
        s.name,
      ),
    );
  });
  figure.querySelector("svg")?.remove();
  figure.append(root);
}
