import { erase, type AnyOptimizer } from '../optim/optimizer.js';
import { featureMlp } from './featureMlpOptimizer.js';
import { l2o } from './lstm.js';
import { isFeatureMlpCheckpoint, type L2OCheckpoint } from './weightsCodec.js';

/** The learned optimizer a checkpoint holds, whichever its architecture (no file access: browsers use it too). */
export function learnedOptimizer(ck: L2OCheckpoint): AnyOptimizer {
  return isFeatureMlpCheckpoint(ck) ? erase(featureMlp(ck.weights, ck.architecture, ck.handover)) : erase(l2o(ck.weights, ck.architecture));
}
