/**
 * Wall time for LGL2O to reach a target training loss on conv-mnist, with and without probing
 * back-off (lossGuard's `backoff`: after r lost rounds in a row the learned rollout runs only
 * every 2^min(r, b) rounds). The learned optimizer is the given checkpoint (default: a random
 * LSTM, which loses most rounds: the case back-off is for). The loss followed is the mean of
 * the chosen candidate's comparison losses over the last 5 rounds.
 * The fallback is the task's SGDnm, or Adam at the task's learning rate (`adam`): SGDnm at the
 * specification's η0 = 3.0 does not train this CNN, so only Adam gives a target to reach.
 * Reports wall and process CPU seconds (CPU is steadier on a shared machine).
 * Run: `npx vite-node bench/backoff.ts [target=0.5] [maxSteps=3000] [backoff=4] [l2o=random:1] [fallback=sgd|adam]`.
 */
import * as E from 'fp-ts/lib/Either.js';
import { buildOptimizer } from '../src/config/build.js';
import { BatchSampler } from '../src/data/sampler.js';
import { disposeTensorBatch, toTensorBatch } from '../src/optimizee/tensorBatch.js';
import { selectBackend } from '../src/tensor/backend.js';
import { Rng } from '../src/tensor/rng.js';
import { disposeAll, disposeReplaced } from '../src/tensor/state.js';
import { loadTask } from '../src/tasks/index.js';

const [targetArg = '0.5', maxStepsArg = '3000', backoffArg = '4', checkpoint = 'random:1', fallbackArg = 'sgd'] = process.argv.slice(2);
if (fallbackArg !== 'sgd' && fallbackArg !== 'adam') throw new Error(`fallback: "sgd" or "adam", got ${JSON.stringify(fallbackArg)}`);
const target = Number(targetArg);
const maxSteps = Number(maxStepsArg);
const backend = await selectBackend();
const loaded = loadTask('conv-mnist', { seed: 1 });
if (E.isLeft(loaded)) throw loaded.left;
const { task, splits, objective } = loaded.right;

function timeToTarget(backoff: number | undefined) {
  const built = buildOptimizer(
    {
      type: 'lgl2o',
      learned: { type: 'l2o', checkpoint },
      ...(fallbackArg === 'adam' ? { fallback: { type: 'adam' } } : {}),
      k: 10,
      m: 10,
      ...(backoff === undefined ? {} : { backoff }),
    },
    task.defaults,
  );
  if (E.isLeft(built)) throw built.left;
  const opt = built.right;
  const sampler = new BatchSampler(splits.train, 128, 1001);
  const x0 = objective.init(Rng.seeded(1));
  let state = opt.init(x0);
  x0.dispose();
  const recent: number[] = [];
  let steps = 0;
  let rounds = 0;
  let probed = 0;
  let learnedWins = 0;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  while (steps < maxSteps) {
    const batches = Array.from({ length: opt.batchesNeeded(state) }, () => toTensorBatch([sampler.next()]));
    const result = opt.round(objective, state, batches);
    batches.forEach(disposeTensorBatch);
    if (E.isLeft(result)) throw new Error(result.left.message);
    const [next, report] = result.right;
    disposeReplaced(state, next);
    state = next;
    steps += report.steps;
    rounds += 1;
    if (report.probed !== false) probed += 1;
    if (report.winner === 'learned') learnedWins += 1;
    recent.push(report.loss);
    if (recent.length > 5) recent.shift();
    if (recent.length === 5 && recent.reduce((a, b) => a + b, 0) / 5 <= target) break;
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  disposeAll(state);
  const reached = recent.length === 5 && recent.reduce((a, b) => a + b, 0) / 5 <= target;
  const finalLoss = recent.reduce((a, b) => a + b, 0) / recent.length;
  return { backoff: backoff ?? 'off', reached, seconds, cpuSeconds, steps, rounds, probedRounds: probed, learnedWins, finalLoss };
}

console.log(`conv-mnist (${objective.size} parameters), ${backend}, LGL2O k = m = 10, learned = ${checkpoint}, fallback ${fallbackArg}, target loss ${target}`);
for (const backoff of [undefined, Number(backoffArg)]) console.log(JSON.stringify(timeToTarget(backoff)));
