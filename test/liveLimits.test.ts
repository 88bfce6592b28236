import { writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { lastValueFrom, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { Batch } from '../src/data/batch.js';
import { LiveIdleError, liveSource, type LiveOptions } from '../streams/live.js';
import { tempDir } from './data/fixtures.js';

const record = (id: number) => JSON.stringify({ x: [id, 1], y: id % 2 });
const OPTS: LiveOptions = { features: 2, classes: 2, batchSize: 1 };
const ids = (batches: readonly Batch[]) => batches.flatMap((b) => Array.from({ length: b.size }, (_, i) => b.x[2 * i]!)).sort((a, b) => a - b);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function tcp(opts: LiveOptions, clients?: number) {
  let ready: (port: number) => void = () => undefined;
  const port = new Promise<number>((r) => (ready = r));
  const source = liveSource(clients === undefined ? { tcp: 0 } : { tcp: 0, clients }, { ...opts, onListening: (p) => ready(p) });
  return { source, port };
}

const connected = (port: number) =>
  new Promise<Socket>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });

describe('live input idle timeout', () => {
  it('a stalled stream ends the source with a LiveIdleError naming it, after the records that came', async () => {
    const stream = new PassThrough();
    const source = liveSource({ stream, name: 'feed' }, { ...OPTS, idleTimeoutMs: 150 });
    const done = lastValueFrom(source.batches$.pipe(toArray())).catch((e: unknown) => e);
    const started = Date.now();
    stream.write(`${record(1)}\n${record(2)}\n{"x":[3,`);
    const err = await done;
    expect(err).toBeInstanceOf(LiveIdleError);
    expect((err as Error).message).toBe('feed: no complete line for 0.15 s (the idle timeout); the feed looks stalled');
    expect(Date.now() - started).toBeGreaterThanOrEqual(145); // the timeout, less the millisecond a timer may fire early
    expect(source.stats()).toMatchObject({ records: 2, batches: 2 });
  });

  it('a followed file that stops growing ends the same way; 0 waits on', async () => {
    const path = join(tempDir('live-idle'), 'feed.ndjson');
    writeFileSync(path, `${record(1)}\n`);
    const err = await lastValueFrom(liveSource({ file: path }, { ...OPTS, idleTimeoutMs: 150, pollMs: 10 }).batches$).catch((e: unknown) => e);
    expect((err as Error).message).toBe(`${path}: no complete line for 0.15 s (the idle timeout); the feed looks stalled`);
    const stream = new PassThrough();
    const patient = lastValueFrom(liveSource({ stream }, { ...OPTS, idleTimeoutMs: 0 }).batches$.pipe(toArray()));
    await sleep(300);
    stream.end(`${record(7)}\n`);
    expect(ids(await patient)).toEqual([7]);
  });

  it('time the event loop is busy is not idle time: lines waiting unread through a long block are read, not called stalled', async () => {
    const path = join(tempDir('live-busy'), 'feed.ndjson');
    writeFileSync(path, `${record(1)}\n${record(2)}\n`);
    const source = liveSource({ file: path }, { ...OPTS, idleTimeoutMs: 150, pollMs: 10 });
    const done = lastValueFrom(source.batches$.pipe(toArray())).catch((e: unknown) => e);
    const until = Date.now() + 600; // the loop blocked for 4 idle periods before the file is first read
    while (Date.now() < until);
    const err = await done;
    expect((err as Error).message).toBe(`${path}: no complete line for 0.15 s (the idle timeout); the feed looks stalled`);
    expect(source.stats()).toMatchObject({ records: 2, malformed: 0 });
  });

  it('a slowloris TCP client (a byte at a time, never a newline) is dropped; the others go on and every good record arrives', async () => {
    const { source, port } = tcp({ ...OPTS, idleTimeoutMs: 300 }, 2);
    const all = lastValueFrom(source.batches$.pipe(toArray()));
    const p = await port;
    const [slow, good] = await Promise.all([connected(p), connected(p)]);
    slow.on('error', () => undefined);
    slow.write(`${record(0)}\n{"x":`);
    let closed = false;
    slow.once('close', () => (closed = true));
    for (let i = 1; i <= 12; i++) {
      if (!closed) slow.write('1');
      good.write(`${record(i)}\n`);
      await sleep(50);
    }
    good.end();
    const batches = await all;
    expect(closed).toBe(true);
    expect(ids(batches)).toEqual(Array.from({ length: 13 }, (_, i) => i));
    const stats = source.stats();
    expect(stats).toMatchObject({ records: 13, malformed: 1, dropped: 1, clients: 2 });
    expect(stats.lastError).toMatch(
      /^tcp client 1 \(127\.0\.0\.1:\d+\) line 2: unfinished line of \d+ characters dropped: no complete line for 0\.3 s \(the idle timeout\)$/,
    );
  });

  it('a TCP source that no client feeds ends with a LiveIdleError naming the port', async () => {
    const { source, port } = tcp({ ...OPTS, idleTimeoutMs: 150 });
    const err = await lastValueFrom(source.batches$).catch((e: unknown) => e);
    expect((err as Error).message).toBe(`tcp 127.0.0.1:${await port}: no complete line for 0.15 s (the idle timeout); the feed looks stalled`);
  });
});

describe('live TCP limits', () => {
  it('past maxBuffered characters of unfinished lines, the client holding the most is dropped; good records all arrive', async () => {
    const { source, port } = tcp({ ...OPTS, maxBuffered: 1_000_000 }, 4);
    const all = lastValueFrom(source.batches$.pipe(toArray()));
    const p = await port;
    const [a, b, c, good] = await Promise.all([connected(p), connected(p), connected(p), connected(p)]);
    for (const s of [a, b, c]) s.on('error', () => undefined);
    const partial = (n: number) => `{"x":[${'1,'.repeat(n / 2)}`;
    good.write(`${record(1)}\n`);
    a.write(partial(300_000));
    b.write(partial(500_000)); // 800 000 held: under the limit
    await sleep(100);
    c.write(partial(400_000)); // 1 200 000: b, holding the most, goes
    await sleep(100);
    good.write(`${record(2)}\n`);
    await sleep(50);
    a.end(`0],"y":1}\n${record(3)}\n`); // a finishes its long line: 150 001 values, malformed for 2 features
    c.end();
    good.end(`${record(4)}\n`);
    const batches = await all;
    expect(ids(batches)).toEqual([1, 2, 3, 4]);
    const stats = source.stats();
    expect(stats.dropped).toBe(1);
    expect(stats.malformed).toBe(3); // b dropped, a's long line, c's cut-off line
    expect(stats.records).toBe(4);
  });

  it('more than maxClients connections at once are refused and counted', async () => {
    const { source, port } = tcp({ ...OPTS, maxClients: 2 }, 2);
    const all = lastValueFrom(source.batches$.pipe(toArray()));
    const p = await port;
    const [a, b] = await Promise.all([connected(p), connected(p)]);
    const extra = await connected(p);
    const refused = await new Promise<boolean>((r) => {
      extra.once('close', () => r(true));
      extra.on('error', () => undefined);
      extra.write(`${record(99)}\n`);
    });
    expect(refused).toBe(true);
    a.end(`${record(1)}\n`);
    b.end(`${record(2)}\n`);
    expect(ids(await all)).toEqual([1, 2]);
    expect(source.stats()).toMatchObject({ refused: 1, clients: 2, records: 2 });
    expect(source.stats().lastError).toMatch(/a client was refused: 2 are connected, the limit$/);
  });
});
