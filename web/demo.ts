import { Command, InvalidArgumentError } from 'commander';
import { fileURLToPath } from 'node:url';
import { buildDemo } from './build.js';
import { serveDirectory } from './serve.js';

// `npm run demo`: builds the page into web/dist and serves it (127.0.0.1 unless --host says otherwise).
const port = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`expected an integer in [0, 65535], got ${value}`);
  return n;
};
const options = new Command('demo')
  .description('build and serve the lgl2o web demo')
  .option('--port <n>', 'port to listen on (0: any free port)', port, 4173)
  .option('--host <address>', 'address to bind', '127.0.0.1')
  .parse()
  .opts<{ port: number; host: string }>();

const built = await buildDemo(fileURLToPath(new URL('./dist', import.meta.url)));
const served = await serveDirectory(built.outDir, options);
console.log(`lgl2o demo: ${served.url}?dataset=spirals&optimizer=lgl2o&seed=1&autostart=1`);
console.log('(Ctrl-C stops it)');
