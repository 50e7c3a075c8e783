/**
 * A small, dependency-free SVG bar chart: horizontal bars grouped by category
 * (a header above each group, the series name left of each bar, its value at
 * its end), one colour per series with a legend, a linear value axis with
 * round ticks and grid lines, and optional dashed reference lines. The output
 * is a standalone SVG (no script, no external font or style), so it is made
 * without a browser and shows anywhere, GitHub included.
 */

export interface Bar {
  series: string;
  /** Not finite: the bar is left out and "failed" written in its place. */
  value: number;
}

export interface Group {
  label: string;
  bars: Bar[];
}

export interface Reference {
  value: number;
  label: string;
}

export interface BarChart {
  title: string;
  /** Lines under the title (date, machine, what is measured); long lines are wrapped. */
  subtitle?: string[];
  /** The value axis' title, e.g. "MB/s". */
  axis: string;
  groups: Group[];
  references?: Reference[];
  /** Digits after the point in bar values. */
  digits?: number;
}

const WIDTH = 960;
const PAD = 16;
const FONT = 12;
/** A rough average glyph width of a sans-serif font at FONT px: there is no text measuring without a browser. */
const CHAR = 0.58 * FONT;
const BAR = 16;
const BAR_GAP = 4;
const HEADER = 22;
const GROUP_GAP = 14;
// Tableau 10: distinct in print and for the common colour-vision deficiencies.
const PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f"];

/** A white outline behind text that may cross a grid or reference line. */
const HALO = 'stroke="#fff" stroke-width="3" paint-order="stroke"';

const xml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" })[c] ?? c);
const textWidth = (s: string, size = FONT) => s.length * CHAR * (size / FONT);
const num = (n: number) => Number(n.toFixed(1)).toString();

/** Round ticks (1, 2 or 5 times a power of ten) from 0 to at least `max`. */
export function ticks(max: number, about = 6): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / about;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 5, 10].find((m) => m * power >= raw) ?? 10) * power;
  const out: number[] = [];
  for (let i = 0; i <= Math.ceil(max / step - 1e-9); i++) out.push(Number((i * step).toPrecision(12)));
  return out;
}

/** Greedy word wrap to `width` pixels. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    const next = line === "" ? word : `${line} ${word}`;
    if (textWidth(next) > width && line !== "") {
      lines.push(line);
      line = word;
    } else line = next;
  }
  if (line !== "") lines.push(line);
  return lines;
}

function text(x: number, y: number, s: string, attrs = ""): string {
  return `<text x="${num(x)}" y="${num(y)}"${attrs === "" ? "" : ` ${attrs}`}>${xml(s)}</text>`;
}

export function barChart(c: BarChart): string {
  const digits = c.digits ?? 0;
  const series = [...new Set(c.groups.flatMap((g) => g.bars.map((b) => b.series)))];
  const colour = (s: string) => PALETTE[series.indexOf(s) % PALETTE.length] ?? "#888";
  const values = c.groups.flatMap((g) => g.bars.map((b) => b.value)).filter(Number.isFinite);
  const refs = c.references ?? [];
  const axisTicks = ticks(Math.max(0, ...values, ...refs.map((r) => r.value)));
  const top = axisTicks[axisTicks.length - 1] ?? 1;

  const labelWidth = Math.max(0, ...series.map((s) => textWidth(s))) + 10;
  const valueWidth = Math.max(textWidth("failed"), ...values.map((v) => textWidth(v.toFixed(digits)))) + 8;
  const x0 = PAD + labelWidth;
  const plotWidth = WIDTH - x0 - PAD - valueWidth;
  const x = (v: number) => x0 + (plotWidth * v) / top;

  const parts: string[] = [];
  let y = PAD + 16;
  parts.push(text(PAD, y, c.title, 'font-size="16" font-weight="bold"'));
  for (const line of (c.subtitle ?? []).flatMap((l) => wrap(l, WIDTH - 2 * PAD))) {
    y += 17;
    parts.push(text(PAD, y, line, 'fill="#444"'));
  }
  y += refs.length > 0 ? 34 : 16;
  const plotTop = y;

  const bars: string[] = [];
  for (const g of c.groups) {
    bars.push(text(PAD, y + 15, g.label, `font-size="13" font-weight="bold" ${HALO}`));
    y += HEADER;
    for (const b of g.bars) {
      const mid = y + BAR / 2 + 4;
      bars.push(text(x0 - 6, mid, b.series, 'text-anchor="end"'));
      if (Number.isFinite(b.value)) {
        const w = Math.max(0, x(b.value) - x0);
        bars.push(
          `<rect x="${num(x0)}" y="${num(y)}" width="${num(w)}" height="${BAR}" fill="${colour(b.series)}">` +
            `<title>${xml(`${g.label}: ${b.series}, ${b.value.toFixed(digits)} ${c.axis}`)}</title></rect>`,
        );
        bars.push(text(x0 + w + 4, mid, b.value.toFixed(digits), HALO));
      } else bars.push(text(x0 + 4, mid, "failed", 'fill="#c00"'));
      y += BAR + BAR_GAP;
    }
    y += GROUP_GAP;
  }
  const plotBottom = y - GROUP_GAP + 4;

  // Grid, ticks and reference lines first, so the bars are drawn over them.
  for (const t of axisTicks) {
    parts.push(`<line x1="${num(x(t))}" y1="${plotTop}" x2="${num(x(t))}" y2="${plotBottom}" stroke="#e4e4e4"/>`);
    parts.push(`<line x1="${num(x(t))}" y1="${plotBottom}" x2="${num(x(t))}" y2="${plotBottom + 5}" stroke="#333"/>`);
    parts.push(text(x(t), plotBottom + 18, String(t), 'text-anchor="middle"'));
  }
  parts.push(`<line x1="${x0}" y1="${plotBottom}" x2="${num(x0 + plotWidth)}" y2="${plotBottom}" stroke="#333"/>`);
  parts.push(`<line x1="${x0}" y1="${plotTop}" x2="${x0}" y2="${plotBottom}" stroke="#333"/>`);
  parts.push(text(x0 + plotWidth / 2, plotBottom + 36, c.axis, 'text-anchor="middle"'));
  // Reference labels stagger upwards when there are several.
  refs.forEach((r, i) => {
    const rx = x(r.value);
    parts.push(
      `<line x1="${num(rx)}" y1="${plotTop - 6 - 14 * i}" x2="${num(rx)}" y2="${plotBottom}" stroke="#333" stroke-dasharray="4 3"/>`,
    );
    parts.push(text(rx + 4, plotTop - 8 - 14 * i, r.label, 'fill="#333" font-size="11"'));
  });

  parts.push(...bars);

  // The legend: one swatch per series, wrapped into rows.
  y = plotBottom + 60;
  let lx = PAD;
  for (const s of series) {
    const w = 18 + textWidth(s) + 18;
    if (lx + w > WIDTH - PAD && lx > PAD) {
      lx = PAD;
      y += 20;
    }
    parts.push(`<rect x="${num(lx)}" y="${y - 11}" width="12" height="12" fill="${colour(s)}"/>`);
    parts.push(text(lx + 18, y, s));
    lx += w;
  }
  const height = Math.ceil(y + PAD);

  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" ` +
      `font-family="Helvetica, Arial, sans-serif" font-size="${FONT}">`,
    `<title>${xml(c.title)}</title>`,
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    ...parts,
    "</svg>",
    "",
  ].join("\n");
}
