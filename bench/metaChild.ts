/**
 * Our meta-training as a user runs it (the CLI's `meta-train`, in this process), then one JSON
 * line: meta-steps, the trainer's wall time (from meta.ndjson: after loading the data, as the
 * reference counts), this process's peak RSS and CPU time, and the last window's mean loss.
 * Run by bench/meta.ts: `vite-node bench/metaChild.ts -- <meta-train flags>` (with --out DIR).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../cli/main.js';

const args = process.argv.slice(2).filter((a) => a !== '--');
const code = await main(['-q', 'meta-train', ...args]);
if (code !== 0) throw new Error(`meta-train exited with ${code}`);
const out = args[args.indexOf('--out') + 1]!;
const lines = readFileSync(join(out, 'meta.ndjson'), 'utf8').trim().split('\n');
const last: unknown = JSON.parse(lines[lines.length - 1]!);
if (typeof last !== 'object' || last === null || !('wallMs' in last) || !('meanLoss' in last)) throw new Error(`unexpected meta.ndjson line in ${out}`);
const usage = process.resourceUsage();
const result = {
  metaSteps: lines.length,
  wallS: Number(last.wallMs) / 1000,
  cpuS: (usage.userCPUTime + usage.systemCPUTime) / 1e6,
  peakRssMiB: usage.maxRSS / 1024,
  lastMeanLoss: Number(last.meanLoss),
};
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0); // the LSTM kernel's worker thread would keep the process alive
