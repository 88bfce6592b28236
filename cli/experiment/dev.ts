/**
 * The CLI from its TypeScript sources, for tests that spawn `lgl2o run` without a build:
 * `node node_modules/vite-node/vite-node.mjs cli/experiment/dev.ts -- run …`.
 */
import { main } from '../main.js';

process.exitCode = await main(process.argv.slice(2));
