import { accessSync, constants, existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, parse, resolve, sep } from 'node:path';
import { lockDir, LockError, type DirLock } from '../jobs/dirLock.js';
import { checkWritable, makeDirs, removeFile, WriteError, writeFileAtomic } from '../jobs/files.js';
import { CliError } from './errors.js';

/** Longest file name most file systems allow (bytes, per path component), and the longest path. */
const NAME_MAX = 255;
const PATH_MAX = 4096;

/**
 * Refuses a path that can never be an output directory: empty, the root of the file system, or
 * longer than file systems allow. `flag` names it in messages (`--out`, `--resume`).
 */
export function checkOutPath(flag: string, dir: string): void {
  if (dir.trim() === '') throw new CliError(`${flag}: an empty path; name a directory`);
  const full = resolve(dir);
  if (parse(full).root === full) throw new CliError(`${flag} ${dir}: the root of the file system cannot be an output directory; name a directory below it`);
  const long = full.split(sep).find((part) => Buffer.byteLength(part) > NAME_MAX);
  if (long !== undefined) {
    throw new CliError(
      `${flag} ${dir.length > 60 ? `${dir.slice(0, 57)}...` : dir}: a name in the path is ${Buffer.byteLength(long)} bytes long, ` +
        `more than the ${NAME_MAX} file systems allow (ENAMETOOLONG)`,
    );
  }
  if (Buffer.byteLength(full) > PATH_MAX - 64)
    throw new CliError(`${flag}: the path is ${Buffer.byteLength(full)} bytes long, more than file systems allow (ENAMETOOLONG)`);
}

/**
 * Refuses, before any work, an output path that cannot become a run directory: one that is
 * a file, lies under a file or an unwritable directory, holds another run's files (unless
 * `force`), or holds a link or other non-file where lgl2o writes (`files`). Creates nothing.
 */
export function checkOutDir(dir: string, force: boolean, files: readonly string[]): void {
  checkOutPath('--out', dir);
  if (existsSync(dir)) {
    if (!statSync(dir).isDirectory()) throw new CliError(`--out ${dir}: exists and is not a directory`);
    const found = readdirSync(dir).filter((f) => files.includes(f));
    if (found.length > 0 && !force) {
      throw new CliError(`--out ${dir}: holds another run's files (${found.join(', ')}); pass --resume ${dir} to continue it or --force to replace it`);
    }
    for (const f of files.flatMap((f) => [f, `${f}.tmp`])) checkWritable(join(dir, f));
    try {
      accessSync(dir, constants.W_OK);
    } catch {
      throw new CliError(`--out ${dir}: not writable`);
    }
    return;
  }
  let parent = dirname(resolve(dir));
  while (!existsSync(parent)) parent = dirname(parent);
  if (!statSync(parent).isDirectory()) throw new CliError(`--out ${dir}: cannot create it (${parent} is not a directory)`);
  try {
    accessSync(parent, constants.W_OK);
  } catch {
    throw new CliError(`--out ${dir}: cannot create it (${parent} is not writable)`);
  }
}

/** Creates the directory and proves it writable with a probe file (permissions alone do not tell root or read-only mounts). */
export function createOutDir(dir: string): void {
  const probe = resolve(dir, `.lgl2o-probe-${process.pid}`);
  try {
    makeDirs(dir);
    writeFileAtomic(probe, '');
    removeFile(probe);
  } catch (err) {
    removeFile(`${probe}.tmp`);
    if (err instanceof WriteError) throw new CliError(`--out ${dir}: not writable (${err.message})`);
    throw err;
  }
}

/**
 * Takes the directory's lock for this command (see jobs/dirLock.ts); a lock left by a crashed
 * process is taken over with a note on stderr. `what` names the directory (`--out DIR`).
 */
export function lockOutDir(dir: string, what: string, quiet: boolean, command: string): DirLock {
  try {
    const lock = lockDir(dir, what, command);
    const r = lock.replaced;
    if (r !== undefined && !quiet)
      process.stderr.write(`lgl2o: note: ${what}: took over the lock left by pid ${r.pid} ("${r.command}", since ${r.since}), which no longer runs\n`);
    return lock;
  } catch (err) {
    if (err instanceof LockError) throw new CliError(err.message);
    throw err;
  }
}
