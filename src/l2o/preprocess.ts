import * as tf from '@tensorflow/tfjs';

/**
 * Gradient preprocessing of Andrychowicz et al. 2016, Appendix A: each coordinate g becomes
 * (log|g| / p, sign g) if |g| ≥ e^(−p), else (−1, e^p · g). Returns the two columns.
 */
export function preprocess(grads: tf.Tensor1D, p: number): readonly [tf.Tensor1D, tf.Tensor1D] {
  return tf.tidy(() => {
    const threshold = Math.exp(-p);
    const abs = grads.abs();
    const big = abs.greaterEqual(threshold);
    const logMag = abs.maximum(threshold).log().div(p);
    const first = tf.where(big, logMag, tf.fill(grads.shape, -1)) as tf.Tensor1D;
    const second = tf.where(big, grads.sign(), grads.mul(Math.exp(p))) as tf.Tensor1D;
    return [first, second] as const;
  });
}
