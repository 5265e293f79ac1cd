/**
 * How every report writes a number, and the Markdown primitives they share: `RESULTS.md`, the
 * README block and `bench.md` all format the same figures through these, so one figure reads
 * the same wherever it appears. Pure functions, no imports.
 * @module
 */

/** The line width of `deno fmt` in this project (deno.json `fmt.lineWidth`). */
export const LINE_WIDTH = 100;

/** Milliseconds with three significant digits, `-` when absent. */
export function fmtMs(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return "-";
  return v >= 100 ? v.toFixed(1) : v.toPrecision(3);
}

/** A ratio as `1.23x`, `-` when absent. */
export function fmtRatio(v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? "-" : `${v.toFixed(2)}x`;
}

/** GFLOP/s, `-` when absent. */
export function fmtGflops(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return "-";
  return v >= 100 ? v.toFixed(0) : v.toPrecision(3);
}

/** An error magnitude in exponent notation, `-` when absent. */
export function fmtErr(v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? "-" : v.toExponential(2);
}

/** Escapes a table cell: pipes, and line breaks folded to spaces. */
export function mdCell(text: string): string {
  return text.replace(/\r?\n/g, " ").replace(/\|/g, "\\|");
}

/**
 * A Markdown table as `deno fmt` writes it: every column padded to its widest cell,
 * right-aligned columns padded on the left and marked `---:`.
 */
export function mdTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  align: readonly ("left" | "right")[] = [],
): string {
  const cells = [header, ...rows].map((r) => r.map(mdCell));
  const widths = header.map((_, i) => Math.max(3, ...cells.map((r) => (r[i] ?? "").length)));
  const line = (r: readonly string[]) =>
    `| ${
      widths.map((w, i) => align[i] === "right" ? (r[i] ?? "").padStart(w) : (r[i] ?? "").padEnd(w))
        .join(" | ")
    } |`;
  const rule = `| ${
    widths.map((w, i) => align[i] === "right" ? `${"-".repeat(w - 1)}:` : "-".repeat(w)).join(
      " | ",
    )
  } |`;
  return [line(cells[0]), rule, ...cells.slice(1).map(line)].join("\n");
}

/** Greedy word wrap at `width`, the way `deno fmt` wraps prose. */
export function wrap(text: string, width = LINE_WIDTH, indent = ""): string {
  const words = text.split(/\s+/).filter(Boolean);
  const lines: string[] = [];
  let current = "";
  for (const word of words) {
    const candidate = current ? `${current} ${word}` : word;
    if (
      current && (lines.length === 0 ? candidate.length : indent.length + candidate.length) > width
    ) {
      lines.push(current);
      current = word;
    } else {
      current = candidate;
    }
  }
  if (current) lines.push(current);
  return lines.map((l, i) => (i === 0 ? l : indent + l)).join("\n");
}
