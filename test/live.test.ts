import { appendFileSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { firstValueFrom, lastValueFrom, take, tap, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { Batch } from '../src/data/batch.js';
import { LineSplitter } from '../src/data/lines.js';
import { LiveInputError, liveSource, LiveRecordError, type LiveOptions } from '../streams/live.js';
import { tempDir } from './data/fixtures.js';

/** Record i: x = (i, i/2, −i), y = i mod 3. */
const good = (i: number) => JSON.stringify({ x: [i, i / 2, -i], y: i % 3, note: 'héllo ✓' });
/** Each malformed kind and the problem the source must report for it. */
const BAD: readonly [string, string][] = [
  ['{"x":[1,2],"y":0}', 'x: expected 3 values, got 2'],
  ['{"x":[1,2,1e999],"y":1}', 'x[2]: expected a finite number, got Infinity'],
  ['{"x":[1,2,3],"y":3}', 'y: expected an integer label in [0, 3), got 3'],
  ['{"x":[1,2,3],"y":1.5}', 'y: expected an integer label in [0, 3), got 1.5'],
  ['{"x":[1,2,"3"],"y":0}', 'x[2]: expected a finite number, got "3"'],
  ['[1,2,3]', 'expected an object {"x": [...], "y": label}, got [1,2,3]'],
  ['{"x":[1,2,3]}', 'y: expected a finite number, got undefined'],
  ['{"x":[1,2,3],"y":0', 'invalid JSON'],
];

/**
 * `n` lines where every 100th (line 100, 200, …) is malformed (1%), a few end in \r\n, and a
 * blank line follows every 1000th; returns the text, the valid record ids in order and the
 * physical line numbers of the malformed lines with their expected problems.
 */
function feed(n: number) {
  const lines: string[] = [];
  const valid: number[] = [];
  const malformed: [number, string][] = [];
  for (let i = 0; i < n; i++) {
    if (i % 100 === 99) {
      const [text, problem] = BAD[((i / 100) % BAD.length) | 0]!;
      lines.push(text);
      malformed.push([lines.length, problem]);
    } else {
      lines.push(i % 7 === 0 ? `${good(i)}\r` : good(i));
      valid.push(i);
    }
    if (i % 1000 === 500) lines.push('   ');
  }
  return { text: lines.join('\n') + '\n', valid, malformed };
}

const ids = (batches: readonly Batch[]) => batches.flatMap((b) => Array.from({ length: b.size }, (_, i) => b.x[3 * i]!));
/** Checks every example against record i's values (float32) and label. */
function expectRecords(batches: readonly Batch[], expected: readonly number[]) {
  expect(ids(batches)).toEqual(expected);
  let k = 0;
  for (const b of batches) {
    expect(b.y).toBeInstanceOf(Int32Array);
    for (let i = 0; i < b.size; i++, k++) {
      const id = expected[k]!;
      expect([b.x[3 * i + 1], b.x[3 * i + 2], b.y[i]]).toEqual([Math.fround(id / 2), 0 - id, id % 3]);
    }
  }
}

/** Cuts bytes into pieces of 1..97 bytes (so some fall inside multi-byte characters). */
function chunks(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0, k = 0; at < bytes.length; k++) {
    const size = 1 + ((k * 37) % 97);
    out.push(bytes.subarray(at, at + size));
    at += size;
  }
  return out;
}

const OPTS: LiveOptions = { features: 3, classes: 3, batchSize: 128 };

describe('line splitter', () => {
  it('joins lines cut anywhere, even inside a UTF-8 character, and strips \\r', () => {
    const lines: string[] = [];
    const splitter = new LineSplitter({ line: (t) => lines.push(t), overlong: () => lines.push('<overlong>') }, 10);
    for (const byte of Buffer.from('héllo ✓\r\nwörld\nthis line is too long\nend')) splitter.push(Uint8Array.of(byte));
    splitter.end();
    expect(lines).toEqual(['héllo ✓', 'wörld', '<overlong>', 'end']);
  });
});

describe('live source from a stream (stdin-like)', () => {
  const { text, valid, malformed } = feed(10_000);

  it('batches 9 900 valid records in order and counts the 100 malformed lines with their line numbers', async () => {
    const problems: string[] = [];
    const source = liveSource({ stream: Readable.from(chunks(Buffer.from(text))), name: 'stdin' }, { ...OPTS, onMalformed: (p) => problems.push(p) });
    const batches = await lastValueFrom(source.batches$.pipe(toArray()));
    expect(valid).toHaveLength(9_900);
    expect(batches.map((b) => b.size)).toEqual([...new Array<number>(77).fill(128), 9_900 - 77 * 128]);
    expectRecords(batches, valid);
    expect(source.stats()).toMatchObject({ records: 9_900, malformed: 100, batches: 78, lines: 10_000 });
    expect(problems).toHaveLength(100);
    problems.forEach((p, k) => expect(p.startsWith(`stdin line ${malformed[k]![0]}: ${malformed[k]![1]}`)).toBe(true));
    // blank line after record 500 shifts later line numbers by one
    expect(problems[0]).toBe('stdin line 100: x: expected 3 values, got 2');
    expect(problems[5]).toBe('stdin line 601: expected an object {"x": [...], "y": label}, got [1,2,3]');
    expect(source.stats().lastError).toBe(problems[99]);
  });

  it('in strict mode stops at the first malformed line with its line number', async () => {
    const source = liveSource({ stream: Readable.from(chunks(Buffer.from(text))) }, { ...OPTS, strict: true });
    const seen: Batch[] = [];
    const err = await lastValueFrom(source.batches$.pipe(tap((b) => seen.push(b)))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LiveRecordError);
    expect(err instanceof LiveRecordError && [err.line, err.message]).toEqual([100, 'stream line 100: x: expected 3 values, got 2']);
    expect(seen).toHaveLength(0); // 99 records: less than one batch
    expect(source.stats()).toMatchObject({ records: 99, malformed: 1 });
  });

  it('takes float targets without classes, drops overlong lines, and emits a last partial batch', async () => {
    const lines = ['{"x":[0.5],"y":-1.25}', `{"x":[${'1,'.repeat(40)}1],"y":0}`, '{"x":[2],"y":3.5}'];
    const source = liveSource({ stream: Readable.from([lines.join('\n')]) }, { features: 1, batchSize: 4, maxLineLength: 60 });
    const [batch] = await lastValueFrom(source.batches$.pipe(toArray()));
    expect(batch!.y).toBeInstanceOf(Float32Array);
    expect([Array.from(batch!.x), Array.from(batch!.y), batch!.size]).toEqual([[0.5, 2], [-1.25, 3.5], 2]);
    expect(source.stats()).toMatchObject({ records: 2, malformed: 1, lastError: 'stream line 2: line of 95 characters is longer than the limit of 60' });
  });
});

describe('live source from a file being appended to', () => {
  it('starts at the beginning, follows appends (a line may arrive in two writes) until unsubscribed', async () => {
    const file = join(tempDir('live'), 'feed.ndjson');
    const line = (i: number) => `{"x":[${i},${i / 2},${-i}],"y":${i % 3}}\n`;
    writeFileSync(file, Array.from({ length: 200 }, (_, i) => line(i)).join(''));
    const source = liveSource({ file }, { ...OPTS, batchSize: 50, pollMs: 10 });
    let appended = false;
    const batches = await firstValueFrom(
      source.batches$.pipe(
        tap(() => {
          if (appended || source.stats().batches < 4) return;
          appended = true;
          const more = Array.from({ length: 100 }, (_, i) => line(200 + i)).join('');
          appendFileSync(file, more.slice(0, 1234)); // ends inside a line
          setTimeout(() => appendFileSync(file, more.slice(1234)), 60);
        }),
        take(6),
        toArray(),
      ),
    );
    expectRecords(
      batches,
      Array.from({ length: 300 }, (_, i) => i),
    );
    expect(source.stats()).toMatchObject({ records: 300, malformed: 0, batches: 6 });
  });

  it('with follow: false reads to the current end, counts malformed lines and completes', async () => {
    const file = join(tempDir('live'), 'static.ndjson');
    writeFileSync(file, '{"x":[1,2,3],"y":0}\nnot json\n{"x":[4,5,6],"y":2}\n{"x":[7,8,9],"y":1}'); // last line unterminated
    const source = liveSource({ file, follow: false }, { ...OPTS, batchSize: 2 });
    const batches = await lastValueFrom(source.batches$.pipe(toArray()));
    expect(batches.map((b) => [Array.from(b.x), Array.from(b.y)])).toEqual([
      [
        [1, 2, 3, 4, 5, 6],
        [0, 2],
      ],
      [[7, 8, 9], [1]],
    ]);
    expect(source.stats()).toMatchObject({ records: 3, malformed: 1 });
    expect(source.stats().lastError).toMatch(new RegExp(`^${file} line 2: invalid JSON`));
  });

  it('fails with the path of a file that does not exist', async () => {
    const file = join(tempDir('live'), 'missing.ndjson');
    const err = await lastValueFrom(liveSource({ file }, OPTS).batches$).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LiveInputError);
    expect(err instanceof Error && err.message).toBe(`live:file:${file}: cannot open the live data file (no such file)`);
  });
});

/** A source on a free loopback port, and a promise of that port. */
function tcpSource(opts: LiveOptions, clients: number) {
  let ready: (port: number) => void = () => undefined;
  const port = new Promise<number>((resolve) => (ready = resolve));
  const source = liveSource({ tcp: 0, clients }, { ...opts, onListening: (p) => ready(p) });
  return { source, port };
}

const connected = (port: number) =>
  new Promise<Socket>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });

describe('live source from TCP clients on 127.0.0.1', () => {
  it('counts exactly the 1% malformed lines plus the line cut off when the client disconnects mid-line', async () => {
    const { text, valid } = feed(10_000);
    const { source, port } = tcpSource(OPTS, 1);
    const all = lastValueFrom(source.batches$.pipe(toArray()));
    const client = await connected(await port);
    for (const piece of chunks(Buffer.from(text + '{"x":[10000,50'))) client.write(piece);
    client.write('', () => client.destroy()); // hard disconnect once everything is handed to the kernel
    const batches = await all;
    expectRecords(batches, valid);
    expect(source.stats()).toMatchObject({ records: 9_900, malformed: 101, batches: 78, clients: 1 });
    expect(source.stats().lastError).toMatch(/^tcp client 1 \(127\.0\.0\.1:\d+\) line 10011: invalid JSON/);
  });

  it('keeps each client’s partial lines apart', async () => {
    const { source, port } = tcpSource({ ...OPTS, batchSize: 4 }, 2);
    const all = lastValueFrom(source.batches$.pipe(toArray()));
    const p = await port;
    const [a, b] = await Promise.all([connected(p), connected(p)]);
    const pause = () => new Promise((r) => setTimeout(r, 20));
    a.write('{"x":[1,0.5,-1],');
    await pause();
    b.write(`${good(2)}\n${good(3)}\n{"x":[4,2,`);
    await pause();
    a.write('"y":1}\n');
    await pause();
    b.end('-4],"y":1}\n');
    a.end(`${good(5)}\n`);
    const batches = await all;
    expect(ids(batches).sort()).toEqual([1, 2, 3, 4, 5]);
    expect(source.stats()).toMatchObject({ records: 5, malformed: 0, clients: 2 });
  });

  it('in strict mode fails with the client and line number, and frees the port', async () => {
    const { source, port } = tcpSource({ ...OPTS, strict: true }, 1);
    const all = lastValueFrom(source.batches$).catch((e: unknown) => e);
    const p = await port;
    const client = await connected(p);
    client.on('error', () => undefined);
    client.write(`${good(1)}\n${good(2)}\n{"x":[1,2,3],"y":7}\n${good(4)}\n`);
    const err = await all;
    expect(err instanceof LiveRecordError && err.line).toBe(3);
    expect(err instanceof Error && err.message).toMatch(/^tcp client 1 \(127\.0\.0\.1:\d+\) line 3: y: expected an integer label in \[0, 3\), got 7$/);
    expect(source.stats()).toMatchObject({ records: 2, malformed: 1 });
    client.destroy();
    await new Promise<void>((resolve, reject) => {
      const again = createServer().once('error', reject);
      again.listen(p, '127.0.0.1', () => again.close(() => resolve()));
    });
  });
});
