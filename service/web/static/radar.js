// Radar chart of the six dimension ratings (0–100) against the stage median (50), as inline SVG.
const NS = "http://www.w3.org/2000/svg";
const W = 440, H = 330, CX = 220, CY = 165, R = 110, RINGS = [25, 50, 75, 100];

function el(name, attrs = {}, text) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function point(i, n, value) {
  const angle = -Math.PI / 2 + (2 * Math.PI * i) / n; // first axis straight up, clockwise
  const r = (R * Math.max(0, Math.min(100, value))) / 100;
  return [CX + r * Math.cos(angle), CY + r * Math.sin(angle)];
}

function polygon(values, cls) {
  const pts = values.map((v, i) => point(i, values.length, v).map((c) => c.toFixed(1)).join(","));
  return el("polygon", { points: pts.join(" "), class: cls });
}

/** axes: [{label, rating}]; returns an <svg class="radar"> element. */
export function radarChart(axes, title) {
  const n = axes.length;
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, class: "radar", role: "img", "aria-label": title });
  svg.appendChild(el("title", {}, title));
  for (const ring of RINGS) svg.appendChild(polygon(Array(n).fill(ring), "grid"));
  axes.forEach((_, i) => {
    const [x, y] = point(i, n, 100);
    svg.appendChild(el("line", { x1: CX, y1: CY, x2: x.toFixed(1), y2: y.toFixed(1), class: "axis" }));
  });
  for (const ring of RINGS) { // ring values along the bisector of the first two axes, clear of the labels
    const [x, y] = point(0.5, n, ring);
    svg.appendChild(el("text", { x: x.toFixed(1), y: y.toFixed(1), class: "ring" }, String(ring)));
  }
  svg.appendChild(polygon(Array(n).fill(50), "median"));
  svg.appendChild(polygon(axes.map((a) => a.rating), "firm"));
  axes.forEach((a, i) => {
    const [px, py] = point(i, n, a.rating);
    svg.appendChild(el("circle", { cx: px.toFixed(1), cy: py.toFixed(1), r: 3, fill: "#0b5cab" }));
    const [x, y] = point(i, n, 118);
    const anchor = Math.abs(x - CX) < 5 ? "middle" : x > CX ? "start" : "end";
    const label = el("text", { x: x.toFixed(1), y: (y + (y < CY ? -4 : 12)).toFixed(1), "text-anchor": anchor,
      "data-dimension": a.key });
    label.appendChild(el("tspan", {}, a.label));
    label.appendChild(el("tspan", { x: x.toFixed(1), dy: "13", "font-weight": "700" }, a.rating.toFixed(1)));
    svg.appendChild(label);
  });
  return svg;
}
