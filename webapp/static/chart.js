// Small SVG charts drawn by hand (no library, nothing loaded from elsewhere): a line with
// optional horizontal levels (entry, stop, targets), and an area for drawdowns.

const NS = 'http://www.w3.org/2000/svg';

function svg(name, attrs = {}) {
  const node = document.createElementNS(NS, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  return node;
}

function scale(values, levels) {
  const all = values.concat(levels.map((l) => l.value)).filter((v) => Number.isFinite(v));
  let low = Math.min(...all);
  let high = Math.max(...all);
  if (!Number.isFinite(low)) return null;
  if (high === low) {
    const pad = Math.abs(high) * 0.01 || 1;
    low -= pad;
    high += pad;
  }
  const margin = (high - low) * 0.08;
  return { low: low - margin, high: high + margin };
}

/**
 * A line chart. `values`: y values, equally spaced (or at `times`, ms). `levels`: [{value,
 * label, kind}] drawn as dashed lines. `area`: fill between the line and zero. `step`: a
 * step after each point (an equity curve that moves at each close). `format`: writes the
 * highest and lowest value at the left edge.
 */
export function lineChart({ values, times = null, levels = [], label = '', area = false, step = false,
  width = 340, height = 120, kind = 'line', format = null }) {
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart ' + kind, role: 'img' });
  root.setAttribute('aria-label', label);
  const range = scale(area ? values.concat([0]) : values, levels);
  if (!range || values.length === 0) return root;
  const right = levels.length ? width - 56 : width - 4;
  const xs = times && times.length === values.length ? times : values.map((_, i) => i);
  const x0 = Math.min(...xs);
  const x1 = Math.max(...xs);
  const x = (v) => 4 + (x1 === x0 ? (right - 4) / 2 : ((v - x0) / (x1 - x0)) * (right - 4));
  const pad = format ? 15 : 4; // room above and below for the value labels
  const y = (v) => pad + (1 - (v - range.low) / (range.high - range.low)) * (height - 2 * pad);
  let d = '';
  values.forEach((v, i) => {
    const px = x(xs[i]).toFixed(1);
    const py = y(v).toFixed(1);
    if (i === 0) d += `M${px},${py}`;
    else if (step) d += `H${px}V${py}`;
    else d += `L${px},${py}`;
  });
  if (values.length === 1) d += `H${(x(xs[0]) + 1).toFixed(1)}`;
  if (area) {
    const zero = y(0).toFixed(1);
    const fill = `${d}V${zero}H${x(xs[0]).toFixed(1)}Z`;
    root.append(svg('path', { d: fill, class: 'area' }));
  }
  root.append(svg('path', { d, class: 'stroke' }));
  if (format) {
    // The highest and the lowest value drawn, at the left edge.
    const shown = area ? values.concat([0]) : values;
    const top = svg('text', { x: 6, y: 11, class: 'axis' });
    top.textContent = format(Math.max(...shown));
    const bottom = svg('text', { x: 6, y: height - 3, class: 'axis' });
    bottom.textContent = format(Math.min(...shown));
    root.append(top, bottom);
  }
  for (const level of levels) {
    if (!Number.isFinite(level.value)) continue;
    const ly = y(level.value).toFixed(1);
    root.append(svg('line', { x1: 4, x2: right, y1: ly, y2: ly, class: 'level ' + (level.kind || '') }));
    const text = svg('text', { x: right + 3, y: Number(ly) + 3, class: 'level-label ' + (level.kind || '') });
    text.textContent = level.label;
    root.append(text);
  }
  return root;
}
