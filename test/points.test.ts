import { firstValueFrom, lastValueFrom, ReplaySubject, Subject, take, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { Batch } from '../src/data/batch.js';
import { drawnBatches$, mixIn, type LiveExample } from '../streams/points.js';
import { pulled } from '../streams/source.js';
import { DEFAULT_L2O, SHIPPED_L2O } from '../src/l2o/shipped.js';
import { DEFAULTS, parseParams, toSearch } from '../web/params.js';

/** A batch of `n` rows (i, −i) labelled 0. */
const base = (n: number): Batch => ({
  x: Float32Array.from({ length: 2 * n }, (_, i) => (i % 2 === 0 ? i / 2 : -(i - 1) / 2)),
  y: new Int32Array(n),
  shape: [2],
  size: n,
});
const rows = (b: Batch) => Array.from({ length: b.size }, (_, i) => [b.x[2 * i]!, b.x[2 * i + 1]!, b.y[i]!]);

describe('mixIn: live examples joining a stream of batches', () => {
  it('passes batches unchanged until the first example, then appends perBatch draws from all examples so far', () => {
    const live = new Subject<LiveExample>();
    const source = new Subject<Batch>();
    const seen: Batch[] = [];
    let mixed = 0;
    source.pipe(mixIn(live, { features: 2, perBatch: 3, seed: 7, onMixed: (n) => (mixed += n) })).subscribe((b) => seen.push(b));
    const first = base(4);
    source.next(first);
    expect(seen[0]).toBe(first);
    live.next({ x: [10, 20], y: 1 });
    source.next(base(4));
    expect(seen[1]!.size).toBe(7);
    expect(rows(seen[1]!)).toEqual([...rows(base(4)), [10, 20, 1], [10, 20, 1], [10, 20, 1]]);
    live.next({ x: [-5, 5], y: 0 });
    for (let i = 0; i < 50; i++) source.next(base(2));
    const drawn = seen.slice(2).flatMap((b) => rows(b).slice(2));
    expect(drawn).toHaveLength(150);
    // Both examples are drawn (with replacement), nothing else is.
    expect(new Set(drawn.map((r) => r.join()))).toEqual(new Set(['10,20,1', '-5,5,0']));
    expect(mixed).toBe(3 + 150);
  });

  it('draws the same examples for the same seed', async () => {
    const run = () => {
      const live = new ReplaySubject<LiveExample>();
      [0, 1, 2, 3].forEach((i) => live.next({ x: [i, i], y: i % 2 }));
      return lastValueFrom(pulled(() => base(1)).pipe(mixIn(live, { features: 2, perBatch: 4, seed: 3 }), take(20), toArray()));
    };
    const [a, b] = [await run(), await run()];
    expect(a.map(rows)).toEqual(b.map(rows));
    expect(
      new Set(
        a.flatMap((x) =>
          rows(x)
            .slice(1)
            .map((r) => r[0]),
        ),
      ).size,
    ).toBe(4);
  });

  it('fails with a message naming what was wrong for a malformed example or batch', async () => {
    const bad = (example: LiveExample) => {
      const live = new ReplaySubject<LiveExample>();
      live.next(example);
      return firstValueFrom(pulled(() => base(2)).pipe(mixIn(live, { features: 2, perBatch: 1, seed: 0 })));
    };
    await expect(bad({ x: [1], y: 0 })).rejects.toThrow('live example: expected 2 finite features, got [1]');
    await expect(bad({ x: [1, Number.NaN], y: 0 })).rejects.toThrow('live example: expected 2 finite features, got [1, NaN]');
    await expect(bad({ x: [1, 2], y: 0.5 })).rejects.toThrow('live example: the label must be an integer ≥ 0, got 0.5');
    const live = new ReplaySubject<LiveExample>();
    live.next({ x: [1, 2], y: 0 });
    const wide: Batch = { x: new Float32Array(3), y: new Int32Array(1), shape: [3], size: 1 };
    await expect(firstValueFrom(pulled(() => wide).pipe(mixIn(live, { features: 2, perBatch: 1, seed: 0 })))).rejects.toThrow(
      'mixIn: batches of shape [3] cannot take live examples of 2 features',
    );
    expect(() => mixIn(live, { features: 2, perBatch: 0, seed: 0 })).toThrow('mixIn: perBatch must be an integer ≥ 1, got 0');
  });
});

describe('drawnBatches$: batches of the points drawn so far', () => {
  it('emits nothing before the first example, then batches drawn from the examples received', async () => {
    const live = new Subject<LiveExample>();
    const got: Batch[] = [];
    const sub = drawnBatches$(live, { features: 2, batchSize: 5, seed: 1 }).subscribe((b) => {
      if (got.length < 1000) got.push(b);
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(got).toHaveLength(0);
    live.next({ x: [0.5, -0.5], y: 1 });
    await new Promise((r) => setTimeout(r, 20));
    sub.unsubscribe();
    expect(got.length).toBeGreaterThan(0);
    for (const b of got.slice(0, 50)) expect(rows(b)).toEqual(Array.from({ length: 5 }, () => [0.5, -0.5, 1]));
  });
});

describe('pulled: pausing', () => {
  it('pulls nothing while paused and continues where it was', async () => {
    let next = 0;
    let paused = false;
    const seen: number[] = [];
    const sub = pulled(() => next++, { paused: () => paused }).subscribe((v) => {
      seen.push(v);
      if (v === 9) paused = true;
    });
    await new Promise((r) => setTimeout(r, 120));
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    paused = false;
    await new Promise((r) => setTimeout(r, 120));
    sub.unsubscribe();
    expect(seen.slice(0, 12)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  });
});

describe("the web page's link parameters", () => {
  it('reads a link and writes it back', () => {
    const p = parseParams(new URLSearchParams('dataset=circles&optimizer=lgl2o-anchor&k=5&m=7&lr=0.5&seed=3&steps=100&autostart=1&backend=cpu'));
    expect(p).toEqual({
      run: { dataset: 'circles', optimizer: 'lgl2o-anchor', k: 5, m: 7, lr: 0.5, seed: 3, steps: 100, checkpoint: 'feature-mlp' },
      autostart: true,
      backend: 'cpu',
    });
    expect(parseParams(new URLSearchParams(toSearch(p.run, p.backend).slice(1)))).toEqual({ ...p, autostart: false });
    const lstm = parseParams(new URLSearchParams('checkpoint=mlp-mnist'));
    expect(lstm.run.checkpoint).toBe('mlp-mnist');
    expect(toSearch(lstm.run, lstm.backend)).toContain('checkpoint=mlp-mnist');
    // the page's default is the file of the CLI's default learned optimizer
    expect(`${DEFAULTS.checkpoint}.json`).toBe(SHIPPED_L2O[DEFAULT_L2O]);
  });

  it('names the bad parameter and what was expected', () => {
    const bad = (q: string) => () => parseParams(new URLSearchParams(q));
    expect(bad('k=abc')).toThrow('k=abc: expected an integer in [1, 1000]');
    expect(bad('seed=-1')).toThrow('seed=-1: expected an integer in [0, 4294967295]');
    expect(bad('dataset=mnist')).toThrow('dataset=mnist: expected one of spirals, circles, drawn');
    expect(bad('optimizer=rmsprop')).toThrow('optimizer=rmsprop: expected one of sgd, adam, l2o, gl2o, lgl2o, lgl2o-anchor');
    expect(bad('backend=tensorflow')).toThrow('backend=tensorflow: expected one of wasm, webgpu, webgl, cpu');
    expect(bad('steps=')).toThrow('steps=: expected an integer in [1, 10000000]');
    expect(bad('speed=3')).toThrow('speed: unknown parameter');
  });
});
