/**
 * The one atomic-write helper and `mkdir -p` of the jobs, with the safety of
 * streams/safeFiles.ts: no write through a planted link, exclusive temporary files, a full
 * disk named with its path and no partial temporary file left.
 */
export { makeDirs, writeFileAtomic, writeJsonAtomic } from '../streams/safeFiles.js';
