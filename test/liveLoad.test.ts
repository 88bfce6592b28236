import { connect, type Socket } from 'node:net';
import { lastValueFrom, tap, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { plain } from '../src/guard/plain.js';
import { sgd } from '../src/optim/sgd.js';
import type { Batch } from '../src/data/batch.js';
import { mlp } from '../src/optimizee/mlp.js';
import { Rng } from '../src/tensor/rng.js';
import { liveSource } from '../streams/live.js';
import { train } from '../streams/train.js';

const CLIENTS = 4;
const LINES_PER_CLIENT = 25_000; // 100 000 lines in all
const BATCH = 128;

/** Record `id`: x = (id / 100 000, sin id, cos id), y = id mod 3; the id is recovered from x[0]. */
const record = (id: number) => JSON.stringify({ x: [id / 100_000, Math.sin(id), Math.cos(id)], y: id % 3, note: 'é✓' });
const idOf = (x0: number) => Math.round(x0 * 100_000);

/** One line in a hundred is malformed, of these kinds in turn. */
const MALFORMED = [
  '{"x":[0.1,0.2],"y":0}',
  '{"x":[0.1,0.2,1e999],"y":1}',
  '{"x":[0.1,0.2,0.3],"y":3}',
  '{"x":[0.1,"0.2",0.3],"y":1}',
  '{"x":[0.1,0.2,0.3]}',
  '[0.1,0.2,0.3]',
  '{"x":[0.1,0.2,0.3],"y":0',
  'not json at all',
];

/** Client c's lines: ids c·25 000 + i, every 100th line malformed; returns the text and the good ids. */
function clientFeed(c: number): { text: string; good: number[] } {
  const lines: string[] = [];
  const good: number[] = [];
  for (let i = 0; i < LINES_PER_CLIENT; i++) {
    const id = c * LINES_PER_CLIENT + i;
    if (i % 100 === 99) lines.push(MALFORMED[((id / 100) % MALFORMED.length) | 0]!);
    else {
      lines.push(record(id));
      good.push(id);
    }
  }
  return { text: `${lines.join('\n')}\n`, good };
}

const connected = (port: number) =>
  new Promise<Socket>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });

/** Sends `bytes` in random pieces (cutting through lines and UTF-8 characters), yielding between pieces so clients interleave. */
async function send(socket: Socket, bytes: Buffer, rng: Rng): Promise<void> {
  for (let at = 0; at < bytes.length;) {
    const size = 1 + rng.int(6000);
    const piece = bytes.subarray(at, at + size);
    at += size;
    if (!socket.write(piece)) await new Promise((r) => socket.once('drain', r));
    if (rng.uniform() < 0.3) await new Promise((r) => setImmediate(r));
  }
}

describe('live TCP source under load', () => {
  it('puts every one of 99 000 well-formed records into exactly one batch while training, and counts the 1 001 malformed lines exactly', async () => {
    let listening: (port: number) => void = () => undefined;
    const port = new Promise<number>((r) => (listening = r));
    const source = liveSource({ tcp: 0, clients: CLIENTS }, { features: 3, classes: 3, batchSize: BATCH, onListening: (p) => listening(p) });

    const batches: Batch[] = [];
    const objective = mlp([3, 8, 3]);
    // The consumer trains one SGD step per batch, synchronously, as a run would.
    const rounds = lastValueFrom(
      source.batches$.pipe(
        tap((b) => batches.push(b)),
        train({ objective, optimizer: plain(sgd({ lr: 0.1 })), steps: Number.MAX_SAFE_INTEGER, seed: 1, untilSourceEnds: true }),
        toArray(),
      ),
    );

    const p = await port;
    const feeds = Array.from({ length: CLIENTS }, (_, c) => clientFeed(c));
    const sockets = await Promise.all(feeds.map(() => connected(p)));
    await Promise.all(
      sockets.map(async (socket, c) => {
        const last = c === CLIENTS - 1;
        // The last client stops in the middle of a line and disconnects.
        const bytes = Buffer.from(last ? `${feeds[c]!.text}{"x":[0.99999,0.5,` : feeds[c]!.text);
        await send(socket, bytes, Rng.seeded(100 + c));
        await new Promise<void>((r) => socket.end(r));
        if (last) socket.destroy();
      }),
    );
    const events = await rounds;

    const expected = feeds.flatMap((f) => f.good);
    expect(expected).toHaveLength(99_000);
    const seen = new Map<number, number>();
    let examples = 0;
    for (const b of batches) {
      for (let i = 0; i < b.size; i++, examples++) {
        const id = idOf(b.x[3 * i]!);
        seen.set(id, (seen.get(id) ?? 0) + 1);
        // Values arrive intact: float32 of the record's own numbers.
        expect([b.x[3 * i + 1], b.x[3 * i + 2], b.y[i]]).toEqual([Math.fround(Math.sin(id)), Math.fround(Math.cos(id)), id % 3]);
      }
    }
    expect(examples).toBe(99_000);
    expect(seen.size).toBe(99_000);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    expect(expected.every((id) => seen.get(id) === 1)).toBe(true);
    // Full batches, then the remainder when the last client left: 773 × 128 + 56.
    expect(batches.map((b) => b.size)).toEqual([...Array<number>(773).fill(BATCH), 56]);
    // Each batch became exactly one training round.
    expect(events.map((e) => e.step)).toEqual(Array.from({ length: 774 }, (_, i) => i + 1));
    expect(events.every((e) => Number.isFinite(e.loss))).toBe(true);

    const stats = source.stats();
    expect(stats).toMatchObject({ lines: 100_001, records: 99_000, malformed: 1_001, batches: 774, clients: CLIENTS });
    expect(stats.lastError).toMatch(/^tcp client \d \(127\.0\.0\.1:\d+\) line \d+: /);
  });
});
