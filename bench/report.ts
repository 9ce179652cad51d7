// Draws bench/chart.svg (hand-written SVG, no dependency) and the results table of bench/README.md
// (between its `<!-- results -->` markers) from bench/results.json.
//   node --import tsx bench/report.ts      (bench/run.ts calls it after a full run)
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BENCH_DIR, shortPath } from './lib.ts';

// The shape of bench/results.json, as bench/run.ts writes it.
export interface Side {
  rps: number;
  p50us: number;
  p99us: number;
  cpuUsPerReq: number;
}
export interface Comparison {
  name: string;
  target: 'canned' | 'lxd';
  mode: 'sequential' | 'inflight';
  requests: number;
  lib: Side;
  raw: Side;
  /** Processes the comparison ran in, one after another, and their alternating turns in all (each side ran requests / turns per turn). */
  runs: number;
  turns: number;
  /** lib rps / raw rps over all turns, and its 95% bootstrap interval (runs, then their turns: bench/compare.ts). */
  ratio: number;
  ratioLow: number;
  ratioHigh: number;
  /** Sequential runs only: lib − raw, and their 95% bootstrap intervals (as the ratio's). */
  addedP50us: number | null;
  addedP99us: number | null;
  addedP50Interval: [number, number] | null;
  addedP99Interval: [number, number] | null;
  cpuRatio: number;
}
export interface Results {
  date: string;
  seconds: number;
  machine: { nproc: number; cpu: string; node: string; undici: string; platform: string };
  settings: Record<string, unknown>;
  fixtures: Record<string, unknown>;
  comparisons: Comparison[];
  /** The library's CPU per request with an instant dispatcher, against JSON.parse of the same body alone. */
  own: Array<{ name: string; libUs: number; bareUs: number; addedUs: number }>;
  debug: {
    calls: { requests: number; off: { all: number; dumps: number }; on: { all: number; dumps: number } };
    timing: Array<{ name: string; offRps: number; onRps: number; offOverOn: number; offCpuUs: number; onCpuUs: number }>;
  };
  /** Sizes in MiB (2^20 bytes), whatever the names say; `bodyBytes` exact. */
  memory: Record<string, { mode: string; mib?: number; bodyBytes: number; bodyMB: number; rssBeforeMB: number; peakRssMB: number; peakRssAddedMB: number; heapHeldMB: number }>;
  lxd: { skipped: string } | { instances: number; wait: { lib: WaitStats; raw: WaitStats } };
}
export interface WaitStats {
  samples: number;
  p50us: number;
  p99us: number;
  maxUs: number;
  minUs: number;
  waitSentBeforeDone: number;
}

const xml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const num = (value: number | null | undefined, digits = 0) => (value === null || value === undefined || Number.isNaN(value) ? '–' : value.toFixed(digits));
/** `12.3 (−4.0 to 30.1)`: a value with its 95% interval, when there is one. */
const withInterval = (value: number | null, interval: [number, number] | null | undefined) =>
  `${num(value, 1)}${interval ? ` (${num(interval[0], 1)} to ${num(interval[1], 1)})` : ''}`;

/** Bars of lib/raw throughput and raw/lib CPU per request, one row per comparison, 1.0 and 0.95 marked. */
function chart(results: Results): string {
  const rows = results.comparisons;
  const left = 300;
  const width = 860;
  const plot = width - left - 40;
  const rowHeight = 34;
  const top = 70;
  const height = top + rows.length * rowHeight + 50;
  const max = Math.max(1.3, ...rows.flatMap((r) => [r.ratio, r.ratioHigh, 1 / r.cpuRatio])) * 1.05;
  const x = (value: number) => left + (Math.min(value, max) / max) * plot;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    "<title>lxdapi vs raw undici: throughput and CPU ratios</title>",
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">lxdapi vs raw undici, same run, alternating (higher is better)</text>`,
    `<text x="${width / 2}" y="40" text-anchor="middle" fill="#555">${xml(`${results.machine.nproc} × ${results.machine.cpu}, Node ${results.machine.node}, undici ${results.machine.undici}, ${results.date.slice(0, 10)}`)}</text>`,
    `<rect x="${left}" y="50" width="12" height="10" fill="#3b7dd8"/><text x="${left + 16}" y="59">throughput lib / raw, 95% interval</text>`,
    `<rect x="${left + 230}" y="50" width="12" height="10" fill="#e8a33d"/><text x="${left + 246}" y="59">CPU per request raw / lib</text>`,
  ];
  for (const [value, colour, label] of [
    [1, '#333', '1.0'],
    [0.95, '#c0392b', '0.95 target'],
  ] as const) {
    parts.push(`<line x1="${x(value)}" y1="${top - 4}" x2="${x(value)}" y2="${top + rows.length * rowHeight}" stroke="${colour}" stroke-dasharray="4 3"/>`);
    parts.push(`<text x="${x(value)}" y="${top + rows.length * rowHeight + 14}" text-anchor="${value === 1 ? 'start' : 'end'}" fill="${colour}">${label}</text>`);
  }
  rows.forEach((row, i) => {
    const y = top + i * rowHeight;
    parts.push(`<text x="${left - 8}" y="${y + 16}" text-anchor="end">${xml(`${row.target === 'lxd' ? 'LXD' : 'canned'} ${row.name}, ${row.mode === 'inflight' ? `${results.settings.INFLIGHT} in flight` : 'sequential'}`)}</text>`);
    parts.push(`<rect x="${left}" y="${y + 4}" width="${x(row.ratio) - left}" height="12" fill="#3b7dd8"/>`);
    // The 95% interval as a whisker across the bar.
    parts.push(`<line x1="${x(row.ratioLow)}" y1="${y + 10}" x2="${x(row.ratioHigh)}" y2="${y + 10}" stroke="#1a3f73" stroke-width="1.5"/>`);
    for (const end of [row.ratioLow, row.ratioHigh]) parts.push(`<line x1="${x(end)}" y1="${y + 6}" x2="${x(end)}" y2="${y + 14}" stroke="#1a3f73" stroke-width="1.5"/>`);
    parts.push(`<text x="${x(Math.max(row.ratio, row.ratioHigh)) + 4}" y="${y + 14}" font-size="11">${row.ratio.toFixed(3)}</text>`);
    const cpu = 1 / row.cpuRatio;
    parts.push(`<rect x="${left}" y="${y + 17}" width="${x(cpu) - left}" height="10" fill="#e8a33d"/>`);
    parts.push(`<text x="${x(cpu) + 4}" y="${y + 26}" font-size="10" fill="#8a5a12">${cpu.toFixed(3)}</text>`);
  });
  parts.push(`<text x="20" y="${height - 12}" fill="#555" font-size="11">Totals over alternating turns; whiskers: 95% interval; canned: recorded LXD 5.0.2 bodies (bench/README.md).</text>`);
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

/** The markdown tables of the results. */
function tables(results: Results): string {
  const lines: string[] = [];
  lines.push(`Run of ${results.date} (${results.seconds} s): ${results.machine.nproc} × ${results.machine.cpu}, Node ${results.machine.node}, undici ${results.machine.undici}, ${results.machine.platform}; library code: ${results.settings.SOURCE}.`);
  lines.push('');
  lines.push('| server | request | mode | lib req/s | raw req/s | ratio | 95% interval | p50 lib / raw µs | p99 lib / raw µs | added p50 µs (95%) | added p99 µs (95%) | CPU µs/req lib / raw |');
  lines.push('| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of results.comparisons) {
    const seq = r.mode === 'sequential';
    lines.push(
      `| ${r.target} | ${r.name} | ${seq ? 'sequential' : `${results.settings.INFLIGHT} in flight`} | ${num(r.lib.rps)} | ${num(r.raw.rps)} | **${r.ratio.toFixed(3)}** | ${r.ratioLow.toFixed(3)}–${r.ratioHigh.toFixed(3)} | ${seq ? `${num(r.lib.p50us)} / ${num(r.raw.p50us)}` : '–'} | ${seq ? `${num(r.lib.p99us)} / ${num(r.raw.p99us)}` : '–'} | ${seq ? withInterval(r.addedP50us, r.addedP50Interval) : '–'} | ${seq ? withInterval(r.addedP99us, r.addedP99Interval) : '–'} | ${num(r.lib.cpuUsPerReq)} / ${num(r.raw.cpuUsPerReq)} |`,
    );
  }
  lines.push('');
  lines.push("The library's own CPU per request, without I/O (an instant dispatcher answering with the recorded body; \"parse alone\" is `JSON.parse` of the body's text, what `body.json()` does):");
  lines.push('');
  lines.push('| request | lib µs | parse alone µs | added by the library µs |');
  lines.push('| --- | ---: | ---: | ---: |');
  for (const o of results.own) lines.push(`| ${o.name} | ${num(o.libUs, 2)} | ${num(o.bareUs, 2)} | **${num(o.addedUs, 2)}** |`);
  lines.push('');
  const d = results.debug;
  lines.push(`Debug: in ${d.calls.requests} requests with debug off, ${d.calls.off.dumps} dumps were built (${d.calls.off.all} JSON.stringify calls in all); with debug on (output dropped), ${d.calls.on.dumps} dumps (${d.calls.on.all} calls).`);
  lines.push('');
  lines.push('| debug off vs on (output dropped) | off req/s | on req/s | off / on | CPU µs/req off / on |');
  lines.push('| --- | ---: | ---: | ---: | ---: |');
  for (const t of d.timing) lines.push(`| ${t.name.replace(/ debug off vs on$/, '')} | ${num(t.offRps)} | ${num(t.onRps)} | ${t.offOverOn.toFixed(2)} | ${num(t.offCpuUs)} / ${num(t.onCpuUs)} |`);
  lines.push('');
  lines.push('| memory (fresh process each) | body MiB | RSS before MiB | peak RSS MiB | peak − before MiB | heap held after MiB |');
  lines.push('| --- | ---: | ---: | ---: | ---: | ---: |');
  const labels: Record<string, string> = {
    listingLib: 'listing, lib `api.get`',
    listingRaw: 'listing, raw `body.json()`',
    pullLib: 'file pull, lib `stream: true`',
    pullRaw: 'file pull, raw body',
    pullLibQuarter: 'file pull, lib `stream: true` (¼ size)',
    pullDispatch: "file pull, undici's `dispatch()`, a handler counting bytes (no body stream)",
    pullNet: 'file pull, bare `node:net` socket (neither undici nor the library loaded)',
  };
  for (const [key, m] of Object.entries(results.memory)) {
    lines.push(`| ${labels[key] ?? key} | ${num(m.bodyMB, 1)} | ${num(m.rssBeforeMB, 1)} | ${num(m.peakRssMB, 1)} | ${num(m.peakRssAddedMB, 1)} | ${num(m.heapHeldMB, 1)} |`);
  }
  lines.push('');
  if ('skipped' in results.lxd) {
    lines.push(`Real LXD: skipped (${results.lxd.skipped}).`);
  } else {
    const w = results.lxd.wait;
    lines.push(`Operation wait on the real LXD (${w.lib.samples} \`exec true\` per side; time from the operation's \`updated_at\` to \`wait()\` resolving):`);
    lines.push('');
    lines.push('| side | p50 µs | p99 µs | min µs | max µs | wait sent before the operation ended |');
    lines.push('| --- | ---: | ---: | ---: | ---: | ---: |');
    for (const side of ['lib', 'raw'] as const) {
      lines.push(`| ${side} | ${num(w[side].p50us)} | ${num(w[side].p99us)} | ${num(w[side].minUs)} | ${num(w[side].maxUs)} | ${w[side].waitSentBeforeDone} / ${w[side].samples} |`);
    }
  }
  return lines.join('\n');
}

/**
 * What one run says of a target, each row judged by its 95% interval: met when every interval is
 * on the right side of the line, missed when one is wholly on the wrong side, and otherwise that
 * this run cannot tell (the rows whose interval holds the line, or that have none, named).
 */
export function verdict<T>(rows: T[], name: (row: T) => string, interval: (row: T) => [number, number] | null, good: (value: number) => boolean, line: string): string {
  if (rows.length === 0) return 'not measured';
  const known = rows.map((row) => ({ row, range: interval(row) }));
  if (known.every(({ range }) => range && good(range[0]) && good(range[1]))) return 'met';
  const missed = known.filter(({ range }) => range && !good(range[0]) && !good(range[1]));
  if (missed.length > 0) return `**missed**: ${missed.map(({ row }) => name(row)).join(', ')}`;
  const open = known.filter(({ range }) => !range || good(range[0]) !== good(range[1]));
  return `not told from ${line} by this run: ${open.map(({ row }) => name(row)).join(', ')}`;
}

/** What bench/instructions.ts writes to bench/instructions.json: per request, the median run and the range of all. */
export interface Instructions {
  date: string;
  rows: Array<{ path: string; lib: { steady: number; low: number; high: number }; raw: { steady: number; low: number; high: number } }>;
}

/** The issue's targets, each judged from this run's numbers and intervals (and the last instruction counts, when there are some). */
function targets(results: Results, instructions?: Instructions): string {
  const canned = results.comparisons.filter((c) => c.target === 'canned');
  const ratioRow = (mode: Comparison['mode'], label: string) => {
    const rows = canned.filter((c) => c.mode === mode);
    const text = rows.map((c) => `${c.name} ${c.ratio.toFixed(3)} (${c.ratioLow.toFixed(3)}–${c.ratioHigh.toFixed(3)})`).join('; ');
    const judged = verdict(rows, (c) => c.name, (c) => [c.ratioLow, c.ratioHigh], (ratio) => ratio >= 0.95, '0.95');
    return `| ≥ 0.95 of raw throughput, ${label} | ${text} | ${judged} |`;
  };
  const sequential = canned.filter((c) => c.mode === 'sequential');
  const p99 = sequential.map((c) => `${c.name} ${withInterval(c.addedP99us, c.addedP99Interval)} µs`).join('; ');
  const p99Verdict = verdict(sequential, (c) => c.name, (c) => c.addedP99Interval ?? null, (added) => added < 50, '50 µs');
  const lines = ['| target | this run (95% interval) | verdict |', '| --- | --- | --- |', ratioRow('sequential', 'sequential'), ratioRow('inflight', `${results.settings.INFLIGHT} in flight`)];
  if (instructions) {
    // raw/lib instructions: the throughput ratio where the client's CPU is all that limits; the range from the runs' extremes.
    const rows = instructions.rows.map((row) => ({
      name: shortPath(row.path),
      ratio: row.raw.steady / row.lib.steady,
      range: [row.raw.low / row.lib.high, row.raw.high / row.lib.low] as [number, number],
    }));
    const text = rows.map((row) => `${row.name} ${row.ratio.toFixed(3)} (${row.range[0].toFixed(3)}–${row.range[1].toFixed(3)})`).join('; ');
    const judged = verdict(rows, (row) => row.name, (row) => row.range, (ratio) => ratio >= 0.95, '0.95');
    lines.push(`| ≥ 0.95 of raw throughput, by instructions (raw/lib, the client's CPU alone; ${instructions.date.slice(0, 10)}) | ${text} | ${judged} |`);
  }
  lines.push(`| p99 added latency < 50 µs (canned, sequential) | ${p99} | ${p99Verdict} |`);
  if ('skipped' in results.lxd) {
    lines.push(`| operation-wait latency < 5 ms | not measured: ${results.lxd.skipped} | – |`);
  } else {
    const w = results.lxd.wait.lib;
    lines.push(`| operation-wait latency < 5 ms | p50 ${(w.p50us / 1000).toFixed(2)} ms, p99 ${(w.p99us / 1000).toFixed(2)} ms, max ${(w.maxUs / 1000).toFixed(2)} ms | ${w.maxUs < 5000 ? 'met' : '**missed**'} |`);
  }
  const { pullLib: pull, pullRaw, pullDispatch, pullNet } = results.memory;
  const LIMIT_MIB = 100e6 / 2 ** 20;
  if (pull && pullRaw) {
    const floors = [
      pullDispatch ? `undici's \`dispatch()\`: peak ${num(pullDispatch.peakRssMB, 1)}, +${num(pullDispatch.peakRssAddedMB, 1)}` : '',
      pullNet ? `a bare \`node:net\` socket: peak ${num(pullNet.peakRssMB, 1)}, ${num(pullNet.rssBeforeMB, 1)} before, +${num(pullNet.peakRssAddedMB, 1)}` : '',
    ].filter(Boolean);
    const judged =
      pull.peakRssMB < LIMIT_MIB ? 'met' : pullDispatch && pullDispatch.peakRssMB >= LIMIT_MIB ? "**missed**, as undici's own floor is; see below" : '**missed**; see below';
    lines.push(
      `| 1 GiB pull under 100 MB (95.4 MiB) RSS | peak ${num(pull.peakRssMB, 1)} MiB: ${num(pull.rssBeforeMB, 1)} MiB before the pull, +${num(pull.peakRssAddedMB, 1)} MiB during it (raw undici: peak ${num(pullRaw.peakRssMB, 1)}, +${num(pullRaw.peakRssAddedMB, 1)}${floors.map((floor) => `; ${floor}`).join('')}) | ${judged} |`,
    );
  }
  const d = results.debug.calls;
  lines.push(`| debug off builds no dump | ${d.off.dumps} dumps in ${d.requests} requests (debug on: ${d.on.dumps}) | ${d.off.dumps === 0 && d.on.dumps > 0 ? 'met' : '**missed**'} |`);
  return lines.join('\n');
}

export function writeReport(results: Results): void {
  writeFileSync(join(BENCH_DIR, 'chart.svg'), chart(results));
  const readme = join(BENCH_DIR, 'README.md');
  if (!existsSync(readme)) return;
  let text = readFileSync(readme, 'utf8');
  text = between(text, 'results', tables(results));
  const counted = join(BENCH_DIR, 'instructions.json');
  text = between(text, 'targets', targets(results, existsSync(counted) ? (JSON.parse(readFileSync(counted, 'utf8')) as Instructions) : undefined));
  writeFileSync(readme, text);
}

/** `text` with what is between `<!-- name:start -->` and `<!-- name:end -->` replaced (unchanged without the markers). */
export function between(text: string, name: string, content: string): string {
  const start = `<!-- ${name}:start -->`;
  const from = text.indexOf(start);
  const to = text.indexOf(`<!-- ${name}:end -->`);
  if (from === -1 || to === -1) return text;
  return `${text.slice(0, from + start.length)}\n${content}\n${text.slice(to)}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeReport(JSON.parse(readFileSync(join(BENCH_DIR, 'results.json'), 'utf8')) as Results);
}
