import {
  closeSync,
  constants,
  fstatSync,
  ftruncateSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readlinkSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { dirname, resolve } from 'node:path';
import { asWriteError, codeOf, UnsafePathError } from '../src/runs/fileErrors.js';

export { UnsafePathError, WriteError } from '../src/runs/fileErrors.js';

/**
 * Writing into a run directory without being tricked: no write follows a symbolic link or
 * lands in a hard-linked file planted there, temporary files are created exclusively, and a
 * failed write (a full disk) leaves no partial temporary file and names the path.
 */

/**
 * Throws unless `path` is absent or a plain file with one name: a symbolic link, a second name
 * of another file (a hard link), a directory, a FIFO or a device is refused.
 */
export function checkWritable(path: string): void {
  let st;
  try {
    st = lstatSync(path);
  } catch (err) {
    if (codeOf(err) === 'ENOENT') return;
    throw asWriteError(path, err);
  }
  if (st.isSymbolicLink()) throw new UnsafePathError(path, `is a symbolic link (to ${readlinkSync(path)})`);
  if (!st.isFile()) throw new UnsafePathError(path, 'is not a regular file');
  if (st.nlink > 1) throw new UnsafePathError(path, `is a hard link (one of ${st.nlink} names of one file)`);
}

/** Opens a plain file for writing (truncated, or appended to), never through a link. */
export function openForWrite(path: string, mode: 'truncate' | 'append' | 'exclusive'): number {
  checkWritable(path);
  const how = mode === 'append' ? constants.O_APPEND : mode === 'truncate' ? constants.O_TRUNC : constants.O_EXCL;
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW | how, 0o644);
  } catch (err) {
    throw asWriteError(path, err);
  }
  // Planted between the check and the open: the descriptor tells what was opened.
  const st = fstatSync(fd);
  if (!st.isFile() || st.nlink > 1) {
    closeSync(fd);
    throw new UnsafePathError(path, st.isFile() ? 'is a hard link' : 'is not a regular file');
  }
  return fd;
}

/** Writes all of `bytes` at the descriptor's position; errors name `path`. */
export function writeAll(fd: number, bytes: Uint8Array, path: string): void {
  try {
    let done = 0;
    while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
  } catch (err) {
    throw asWriteError(path, err);
  }
}

function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Replaces `path` atomically: the text goes to `path.tmp` (created exclusively, a leftover of a
 * crash removed first), flushed to disk and renamed over the target; the directory is flushed so
 * the rename survives a crash. A reader sees the old file or the new one, never a part; on
 * failure the temporary file is removed and the old file stays.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp`;
  checkWritable(tmp);
  rmSync(tmp, { force: true });
  const fd = openForWrite(tmp, 'exclusive');
  try {
    try {
      writeAll(fd, typeof data === 'string' ? Buffer.from(data) : data, tmp);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw asWriteError(tmp, err);
  }
  syncDir(dirname(resolve(path)));
}

export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

/** Appends text to a plain file in one write, never through a link. */
export function appendToFile(path: string, text: string): void {
  const fd = openForWrite(path, 'append');
  try {
    writeAll(fd, Buffer.from(text), path);
  } finally {
    closeSync(fd);
  }
}

/** Cuts a plain file back to `bytes`, never through a link; an absent file stays absent. */
export function truncateFile(path: string, bytes: number): void {
  try {
    lstatSync(path);
  } catch (err) {
    if (codeOf(err) === 'ENOENT') return;
    throw asWriteError(path, err);
  }
  const fd = openForWrite(path, 'append');
  try {
    const st = fstatSync(fd);
    if (st.size > bytes) ftruncateSync(fd, bytes);
  } catch (err) {
    throw asWriteError(path, err);
  } finally {
    closeSync(fd);
  }
}

/**
 * `mkdir -p`, one level at a time: Node's recursive mkdirSync retries forever where mkdir keeps
 * failing with ENOENT (under /proc, for one), so it cannot be trusted with user paths. A
 * directory created meanwhile by another process is fine.
 */
export function makeDirs(dir: string): void {
  const missing: string[] = [];
  for (let d = resolve(dir); !exists(d); d = dirname(d)) missing.push(d);
  for (const d of missing.reverse()) {
    try {
      mkdirSync(d);
    } catch (err) {
      if (codeOf(err) !== 'EEXIST') throw asWriteError(d, err);
    }
  }
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Removes a file of ours if it is there (a link is removed, never followed). */
export function removeFile(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if (codeOf(err) !== 'ENOENT') throw asWriteError(path, err);
  }
}
