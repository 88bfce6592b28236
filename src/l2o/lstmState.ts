import type * as tf from '@tensorflow/tfjs';

/** Hidden and cell state of every layer, one row per coordinate: [d, H] each. */
export type L2OState = { readonly h: readonly tf.Tensor2D[]; readonly c: readonly tf.Tensor2D[] };
