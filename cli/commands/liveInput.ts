import { statSync } from 'node:fs';
import type { RunConfig } from '../../src/config/run.js';
import { liveSource, type LiveSource, type LiveSpec } from '../../streams/live.js';
import { CliError } from '../errors.js';

/** `live:stdin`, `live:file:PATH` or `live:tcp:PORT` as a live source spec. */
export function parseLiveSpec(text: string): LiveSpec {
  if (text === 'stdin' || text === 'live:stdin') return 'stdin';
  const file = /^(?:live:)?file:(.+)$/.exec(text);
  if (file) return { file: file[1]! };
  const tcp = /^(?:live:)?tcp:(\d+)$/.exec(text);
  if (tcp && Number(tcp[1]) <= 65535) return { tcp: Number(tcp[1]) };
  throw new CliError(`--input ${text}: expected live:stdin, live:file:PATH or live:tcp:PORT`);
}

/** A live file that cannot be followed is refused before the run starts (it is checked again when opened). */
function checkLiveFile(path: string): void {
  let st;
  try {
    st = statSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CliError(`--input live:file:${path}: ${code === 'ENOENT' ? 'no such file' : `cannot read (${code ?? String(err)})`}`);
  }
  if (st.isDirectory()) throw new CliError(`--input live:file:${path}: is a directory; name the file the records are appended to`);
}

/** The batches of a run's live input, with counts of what arrived, or undefined for a dataset run. */
export function liveInputOf(config: RunConfig): LiveSource | undefined {
  const input = config.input;
  if (input === undefined) return undefined;
  const spec = parseLiveSpec(input.live);
  if (typeof spec === 'object' && 'file' in spec) checkLiveFile(spec.file);
  return liveSource(spec, {
    features: input.features,
    classes: input.classes,
    batchSize: config.batchSize ?? 128,
    strict: input.strict ?? false,
    ...(input.idleTimeout !== undefined ? { idleTimeoutMs: input.idleTimeout * 1000 } : {}),
  });
}
