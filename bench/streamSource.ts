/**
 * Batches per second of the seeded MNIST stream source (sample 128 examples; their features
 * are gathered when first read, on wasm straight into the tensor) and of the source followed
 * by turning each batch into tensors, on the wasm and cpu backends in the same run. Run: `npx vite-node bench/streamSource.ts [batches]`.
 */
import * as E from 'fp-ts/lib/Either.js';
import { lastValueFrom, take, tap, count } from 'rxjs';
import { loadDataset } from '../src/data/index.js';
import { disposeTensorBatch, toTensorBatch } from '../src/optimizee/tensorBatch.js';
import { selectBackend } from '../src/tensor/backend.js';
import { batches$ } from '../streams/source.js';

const n = Number(process.argv[2] ?? 3000);
const mnist = loadDataset('mnist', { seed: 0 });
if (E.isLeft(mnist)) throw mnist.left;
const train = mnist.right.train;

async function rate(toTensors: boolean): Promise<number> {
  const started = performance.now();
  await lastValueFrom(
    batches$(train, { batchSize: 128, seed: 1 }).pipe(
      take(n),
      tap((b) => {
        if (toTensors) disposeTensorBatch(toTensorBatch([b]));
      }),
      count(),
    ),
  );
  return n / ((performance.now() - started) / 1000);
}

const rows: string[] = ['| backend | source batches/s | source + tensors batches/s |', '| --- | ---: | ---: |'];
for (const backend of ['wasm', 'cpu'] as const) {
  await selectBackend(backend);
  await rate(true); // warm-up
  rows.push(`| ${backend} | ${(await rate(false)).toFixed(0)} | ${(await rate(true)).toFixed(0)} |`);
}
console.log(`MNIST stream source, batch 128, ${n} batches per measurement\n${rows.join('\n')}`);
