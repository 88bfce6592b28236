#!/usr/bin/env node
// Loading the modules takes a moment: an interruption then exits 130 like any other.
const early = (signal) => {
  process.stderr.write(`lgl2o: interrupted by ${signal}\n`);
  process.exit(130);
};
process.once('SIGINT', early).once('SIGTERM', early);
const { main } = await import('../dist/cli/main.js');
process.off('SIGINT', early).off('SIGTERM', early);
process.exitCode = await main(process.argv.slice(2));
