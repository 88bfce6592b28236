import { SingleBar, Presets } from 'cli-progress';
import { Command, InvalidArgumentError, Option } from '@commander-js/extra-typings';
import { fittedFormat } from '../../streams/progress.js';
import * as E from 'fp-ts/lib/Either.js';
import { buildLearned } from '../../src/config/build.js';
import { adam } from '../../src/optim/adam.js';
import { erase, type AnyOptimizer } from '../../src/optim/optimizer.js';
import { momentum, sgd } from '../../src/optim/sgd.js';
import { claimsFor, parseClaims, type CheckedClaim, type ClaimChoice, type FallbackName } from '../../src/verify/claims.js';
import { DEFAULT_RANGES, verifyTheory, type VerifyReport } from '../../src/verify/property.js';
import { startBackend } from '../backend.js';
import { CliError, EXIT } from '../errors.js';
import { STOP_SIGNALS, stopExitCode } from '../signals.js';
import type { GlobalOptions } from '../globalOptions.js';
import { L2O_HELP, integerAtLeast, numberIn, positiveNumber } from '../options.js';

export interface VerifyFlags {
  l2o: string;
  fallback: FallbackName;
  lrScale: number;
  claims?: readonly CheckedClaim[];
  cases: number;
  steps: number;
  maxDim: number;
  maxKappa: number;
  seed?: number;
  path?: string;
}

/** The fallback for smoothness L: a constant step lrScale / L (the theorem's is sgd with 1/L). */
function fallbackFor(name: VerifyFlags['fallback'], scale: number): (L: number) => AnyOptimizer {
  switch (name) {
    case 'sgd':
      return (L) => erase(sgd({ lr: scale / L }));
    case 'momentum':
      return (L) => erase(momentum({ lr: scale / L }));
    case 'adam':
      return (L) => erase(adam({ lr: scale / L }));
  }
}

/** The flags that reproduce this run's cases (everything but the seed and path). */
function caseFlags(f: VerifyFlags): string {
  const flags = [
    `--l2o ${f.l2o}`,
    `--fallback ${f.fallback}`,
    `--lr-scale ${f.lrScale}`,
    ...(f.claims ? [`--claims ${f.claims.join(',')}`] : []),
    `--cases ${f.cases}`,
    `--steps ${f.steps}`,
    `--max-dim ${f.maxDim}`,
    `--max-kappa ${f.maxKappa}`,
  ];
  return flags.join(' ');
}

/** What each claim states, for the report. */
const CLAIM_TEXT: Record<CheckedClaim, string> = {
  descent: 'descent f(x_{t+1}) ≤ f(x_t) − ‖∇f(x_t)‖²/(2L)',
  rate: 'rate f(x_t) − f* ≤ (1 − μ/L)^t (f(x_0) − f*)',
  guard: "guard f(x_{t+1}) ≤ f(y_t), y_t the fallback's step from x_t, from a finite, deterministic learned step",
};

/** The claims a run checks: those of `--claims`, else those that hold for the fallback. */
export function chosenClaims(f: VerifyFlags): ClaimChoice {
  return f.claims ? { claims: f.claims, why: 'set by --claims' } : claimsFor(f.fallback, f.lrScale);
}

export function formatReport(r: VerifyReport, f: VerifyFlags): string {
  const fallback = `${f.fallback} with step ${f.lrScale === 1 ? 1 : f.lrScale}/L`;
  const { why } = chosenClaims(f);
  const descent = r.claims.includes('descent') ? `${r.informativeSteps} steps above float32 resolution; ` : '';
  const lines = [
    `theory mode: loss guard with k = 1 and the exact loss, learned optimizer ${f.l2o}, fallback ${fallback}`,
    `claims, every step: ${r.claims.map((c) => CLAIM_TEXT[c]).join('; ')}; the run finite (${why})`,
    `cases: ${r.cases}${r.interrupted ? ' (interrupted)' : ''} random quadratics, dim ≤ ${f.maxDim}, L in [${DEFAULT_RANGES.minL}, ${DEFAULT_RANGES.maxL}], κ ≤ ${f.maxKappa}, up to ${f.steps} steps each; ` +
      `${descent}the learned optimizer's point kept in ${r.learnedWins} steps`,
  ];
  const replay = `lgl2o verify ${caseFlags(f)} --seed ${r.seed}`;
  if (r.counterexample) {
    const { theoryCase: c, violation: v, path, shrinks } = r.counterexample;
    lines.push(
      `COUNTEREXAMPLE (shrunk ${shrinks} times): dim ${c.dim}, L ${c.L}, κ ${c.kappa}, seed ${c.seed}`,
      `  ${v.claim} failed at step ${v.step}: ${v.message} (float32 tolerance ${v.tolerance.toExponential(2)})`,
      `replay: ${replay}${path === undefined ? '' : ` --path ${path}`}`,
    );
  } else if (r.error !== undefined) lines.push(`ERROR: ${r.error}`, `replay: ${replay}`);
  else lines.push(`${r.interrupted ? 'no counterexample so far' : 'no counterexample'}; seed ${r.seed} (replay: ${replay})`);
  return `${lines.join('\n')}\n`;
}

/** A progress bar over cases with rate and ETA, or nothing. */
function caseBar(total: number, enabled: boolean): { tick: () => void; stop: () => void } {
  if (!enabled) return { tick: () => {}, stop: () => {} };
  const tail = (value: number, all: number, eta: string, p: Record<string, unknown>) => `${value}/${all} cases ${String(p['rate'])} cases/s ETA ${eta}`;
  const bar = new SingleBar({ format: fittedFormat(tail), hideCursor: true, etaBuffer: 20 }, Presets.shades_classic);
  const started = performance.now();
  let done = 0;
  bar.start(total, 0, { label: 'verify', rate: '-' });
  return {
    tick: () => {
      done += 1;
      bar.update(Math.min(done, total), { rate: (done / ((performance.now() - started) / 1000)).toFixed(1) });
    },
    stop: () => bar.stop(),
  };
}

function claimsArgument(text: string): readonly CheckedClaim[] {
  const parsed = parseClaims(text);
  if (typeof parsed === 'string') throw new InvalidArgumentError(parsed);
  return parsed;
}

export function verifyCommand(global: () => GlobalOptions) {
  return new Command('verify')
    .description(
      "property-based check of the guard's claims (theory mode) for a learned optimizer and a fallback: by default those that hold for the fallback " +
        "(sgd with step 1/L: descent, rate and guard; any other: guard, no worse than the fallback's step); exit 1 on a counterexample",
    )
    .option('--l2o <source>', L2O_HELP, 'default')
    .addOption(new Option('--fallback <name>', 'fallback optimizer, with a constant step').choices(['sgd', 'momentum', 'adam']).default('sgd'))
    .option('--lr-scale <c>', "the fallback's step as a multiple of 1/L (descent and rate need sgd and 1)", positiveNumber, 1)
    .option('--claims <list>', 'claims to check, comma-separated: descent, rate, guard (default: those that hold for the fallback)', claimsArgument)
    .option('--cases <n>', 'random quadratics to check', integerAtLeast(1), 100)
    .option('--steps <n>', 'guard steps per quadratic', integerAtLeast(1), 100)
    .option('--max-dim <n>', 'largest dimension of a quadratic', integerAtLeast(1), DEFAULT_RANGES.maxDim)
    .option('--max-kappa <x>', 'largest condition number L/μ', numberIn(1, 1e6), DEFAULT_RANGES.maxKappa)
    .option('--seed <n>', "fast-check's seed (default: random, printed in the report)", integerAtLeast(-(2 ** 31)))
    .option('--path <p>', 'with --seed: replay the counterexample at this fast-check path (default: none)')
    .action(async (flags: VerifyFlags) => {
      const g = global();
      if (flags.path !== undefined && flags.seed === undefined) throw new CliError('--path: needs --seed (both are printed with a counterexample)');
      await startBackend(g);
      const learned = buildLearned({ type: 'l2o', checkpoint: flags.l2o });
      if (E.isLeft(learned)) throw new CliError(`--l2o ${flags.l2o}: ${learned.left.message}`);
      const claims = chosenClaims(flags);
      let stop: NodeJS.Signals | undefined;
      const onSignal = (name: NodeJS.Signals) => (stop ??= name);
      for (const s of STOP_SIGNALS) process.once(s, onSignal);
      const bar = caseBar(flags.cases, g.progress);
      let report: VerifyReport;
      try {
        report = await verifyTheory({
          learned: learned.right,
          fallback: fallbackFor(flags.fallback, flags.lrScale),
          steps: flags.steps,
          claims: claims.claims,
          cases: flags.cases,
          ranges: { ...DEFAULT_RANGES, maxDim: flags.maxDim, maxKappa: flags.maxKappa },
          ...(flags.seed !== undefined ? { seed: flags.seed } : {}),
          ...(flags.path !== undefined ? { path: flags.path } : {}),
          onCase: bar.tick,
          stopRequested: () => stop !== undefined,
        });
      } finally {
        bar.stop();
        for (const s of STOP_SIGNALS) process.off(s, onSignal);
      }
      process.stdout.write(g.json ? `${JSON.stringify({ ...report, claimsWhy: claims.why })}\n` : formatReport(report, flags));
      if (report.interrupted) throw new CliError('interrupted', stopExitCode(stop));
      if (!report.ok) throw new CliError(report.counterexample ? 'verify: counterexample found (see the report)' : `verify: ${report.error}`, EXIT.failed);
    });
}
