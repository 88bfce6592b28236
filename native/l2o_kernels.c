/*
 * Fused inference kernels for lgl2o on TensorFlow.js's wasm backend, WebAssembly SIMD128.
 *
 * The module imports the backend's own memory: every pointer below is an offset into the
 * tfjs heap (tensor data or a scratch block malloc'd there), so tensors are read and written
 * in place, without copies. To share a memory it does not own, the module has no globals,
 * no static data and no stack: every value lives in wasm locals (checked by build.sh).
 *
 * Build: native/build.sh (clang 14 --target=wasm32 -msimd128), which also regenerates
 * src/engine/wasmBinary.ts (the module as base64).
 */
#include <wasm_simd128.h>

typedef v128_t v;

#define INLINE __attribute__((always_inline)) static inline

/*
 * a·b + c. With -DRELAXED, one fused instruction (relaxed SIMD's f32x4.relaxed_madd: FMA where
 * the CPU has it): clang 14 knows it only by its prototype opcode, f32x4.fma (0xfd 0xaf 0x01,
 * operands in the same order), which build.sh rewrites to the standard 0xfd 0x85 0x02.
 */
#ifdef RELAXED
#define MADD(a, b, c) __builtin_wasm_fma_f32x4(a, b, c)
#else
#define MADD(a, b, c) wasm_f32x4_add(wasm_f32x4_mul(a, b), c)
#endif

/* ------------------------------------------------------------------ elementwise math */

/*
 * Constants live in a table in memory that the caller fills (see EXP_CONSTANTS in fastLstm.ts):
 * V8 builds a v128.const from immediates in several instructions at every use, while a
 * splatting load from memory is one.
 */
#define K_LO 0       /* −87.33654: below, e^x underflows */
#define K_HI 1       /* 88.37626: above, e^x overflows */
#define K_LOG2E 2    /* log2 e */
#define K_MAGIC 3    /* 1.5 · 2^23: adding it rounds to an integer kept in the low mantissa bits */
#define K_LN2_HI 4   /* 0.693359375 */
#define K_LN2_LO 5   /* −2.12194440e-4 */
#define K_P0 6       /* Cephes expf polynomial, p0 … p5 */
#define K_ONE 12     /* 1 */
#define K_BIAS 14    /* int 127, the exponent bias */
#define K_TLO 16     /* −7.90531110763549805: tanh is ±1 in float32 beyond */
#define K_THI 17
#define K_A1 18      /* numerator α1, α3, …, α13 (18 … 24) of the rational tanh */
#define K_B0 25      /* denominator β0, β2, β4, β6 (25 … 28) */
#define K_HALF 29    /* 0.5 */
#define K_FLT_MIN 30 /* 1.17549435e-38, the smallest normal float */
#define C(i) wasm_v128_load32_splat(K + (i))
#define FLT_MIN_NORMAL 1.17549435e-38f

/*
 * x with its subnormal lanes set to 0 (NaN is kept). WebAssembly has no flush-to-zero mode,
 * and x86 takes a ~100-cycle assist for every multiply with a subnormal operand or result:
 * adjoints of coordinates whose gradients vanish (saturated units of the optimizee) decay into
 * subnormals step after step, so the backward pass flushes what it stores.
 */
INLINE v vftz(const float *K, v x) { return wasm_v128_andnot(x, wasm_f32x4_lt(wasm_f32x4_abs(x), C(K_FLT_MIN))); }
INLINE float ftz(float x) { return (x < 0.0f ? -x : x) < FLT_MIN_NORMAL ? 0.0f : x; }

/* e^x, Cephes expf polynomial after reduction x = n ln2 + r (|r| ≤ ln2/2): ~1 ulp. */
INLINE v vexp(const float *K, v x) {
  x = wasm_f32x4_pmin(wasm_f32x4_pmax(x, C(K_LO)), C(K_HI)); /* pmin/pmax: one instruction each; min/max (NaN-exact) are several */
  v t = wasm_f32x4_add(wasm_f32x4_mul(x, C(K_LOG2E)), C(K_MAGIC));
  v n = wasm_f32x4_sub(t, C(K_MAGIC));
  v r = wasm_f32x4_sub(x, wasm_f32x4_mul(n, C(K_LN2_HI)));
  r = wasm_f32x4_sub(r, wasm_f32x4_mul(n, C(K_LN2_LO)));
  v p = C(K_P0);
  p = MADD(p, r, C(K_P0 + 1));
  p = MADD(p, r, C(K_P0 + 2));
  p = MADD(p, r, C(K_P0 + 3));
  p = MADD(p, r, C(K_P0 + 4));
  p = MADD(p, r, C(K_P0 + 5));
  v y = wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_mul(p, r), r), r), C(K_ONE));
  /* 2^n: the low bits of t hold n (mod 2^9); n + 127 ∈ [1, 254] after the clamp. */
  v scale = wasm_i32x4_shl(wasm_i32x4_add(t, C(K_BIAS)), 23);
  return wasm_f32x4_mul(y, scale);
}

INLINE v vsigmoid(const float *K, v x) {
  v one = C(K_ONE);
  return wasm_f32x4_div(one, wasm_f32x4_add(one, vexp(K, wasm_f32x4_neg(x))));
}

/*
 * tanh x as a rational function x·P(x²)/Q(x²) of degrees 13/6 on x clamped to ±7.905 (the
 * minimax fit Eigen uses for float): max error 4e-7, no exp, one division.
 */
INLINE v vtanh_rational(const float *K, v x) {
  x = wasm_f32x4_pmin(wasm_f32x4_pmax(x, C(K_TLO)), C(K_THI));
  v x2 = wasm_f32x4_mul(x, x);
  v p = C(K_A1 + 6);
  for (int i = 5; i >= 0; i--) p = MADD(p, x2, C(K_A1 + i));
  p = wasm_f32x4_mul(p, x);
  v q = C(K_B0 + 3);
  for (int i = 2; i >= 0; i--) q = MADD(q, x2, C(K_B0 + i));
  return wasm_f32x4_div(p, q);
}

/* sigmoid(2y) = ½ + ½ tanh y: the LSTM's sigmoid gates get y, their weights being pre-halved. */
INLINE v vsigmoid_of_twice(const float *K, v y) {
  v half = C(K_HALF);
  return MADD(half, vtanh_rational(K, y), half);
}

typedef union {
  float f;
  int i;
} bits32;

/* ln x for normal x > 0 (Cephes logf): mantissa in [√½, √2), polynomial of degree 9. */
INLINE float scalar_log(float x) {
  bits32 u = {.f = x};
  int e = ((u.i >> 23) & 0xff) - 126;
  u.i = (u.i & 0x807fffff) | 0x3f000000; /* mantissa in [0.5, 1) */
  float m = u.f;
  if (m < 0.707106781186547524f) {
    e -= 1;
    m = m + m - 1.0f;
  } else {
    m = m - 1.0f;
  }
  float z = m * m;
  float y = 7.0376836292e-2f;
  y = y * m - 1.1514610310e-1f;
  y = y * m + 1.1676998740e-1f;
  y = y * m - 1.2420140846e-1f;
  y = y * m + 1.4249322787e-1f;
  y = y * m - 1.6668057665e-1f;
  y = y * m + 2.0000714765e-1f;
  y = y * m - 2.4999993993e-1f;
  y = y * m + 3.3333331174e-1f;
  y = y * m * z;
  float fe = (float)e;
  y += -2.12194440e-4f * fe;
  y += -0.5f * z;
  return m + y + 0.693359375f * fe;
}

/* ------------------------------------------------------------------ preprocessing */

/*
 * Andrychowicz et al. 2016, Appendix A, per coordinate: (log|g| / p, sign g) if |g| ≥ e^−p,
 * else (−1, e^p g). Writes pre[2i], pre[2i + 1]. threshold = e^−p and scale = e^p come from JS.
 */
static void preprocess(int d, const float *grads, float *pre, float p, float threshold, float scale) {
  for (int i = 0; i < d; i++) {
    float g = grads[i];
    float a = g < 0.0f ? -g : g;
    if (a >= threshold) {
      pre[2 * i] = scalar_log(a) / p;
      pre[2 * i + 1] = g > 0.0f ? 1.0f : -1.0f;
    } else {
      pre[2 * i] = -1.0f;
      /* Flushed to zero when subnormal (WebAssembly has no flush-to-zero mode): a subnormal
       * input makes every product with it ~100× slower on x86, and adds nothing. */
      const float small = g * scale;
      pre[2 * i + 1] = (small < 0.0f ? -small : small) < FLT_MIN_NORMAL ? 0.0f : small;
    }
  }
}

/* ------------------------------------------------------------------ LSTM */

/*
 * Packed weights of one layer with K = Kin + H inputs, for hidden units in blocks of 4:
 * for each block jb: the biases [gate i,f,g,o][4 lanes], then for each input k (the Kin
 * layer inputs, then the H recurrent ones) the weights [gate][4 lanes]. So the four gates of
 * four hidden units are one contiguous 16-float row, and a block's cell update happens in
 * registers right after its matrix product. The weights and biases of the sigmoid gates (i, f, o)
 * are pre-multiplied by ½ (exact in floating point): σ(x) = ½ + ½ tanh(x/2).
 */

/* acc_g += w_g · s for the four gates. */
#define MAC4(a, s)                                                                                                    \
  do {                                                                                                                \
    a##0 = MADD(w0, s, a##0);                                                                           \
    a##1 = MADD(w1, s, a##1);                                                                           \
    a##2 = MADD(w2, s, a##2);                                                                           \
    a##3 = MADD(w3, s, a##3);                                                                           \
  } while (0)

/*
 * The cell update of four hidden units from their gate pre-activations (i, f, g, o); when save
 * is not null, the activated gates are stored there (16 floats, for the backward pass).
 */
INLINE void cell(const float *K, v a0, v a1, v a2, v a3, const float *cPrev, float *cOut, float *hOut, float *save) {
  v i = vsigmoid_of_twice(K, a0), f = vsigmoid_of_twice(K, a1), g = vtanh_rational(K, a2), o = vsigmoid_of_twice(K, a3);
  if (save) wasm_v128_store(save, i), wasm_v128_store(save + 4, f), wasm_v128_store(save + 8, g), wasm_v128_store(save + 12, o);
  v c = MADD(f, wasm_v128_load(cPrev), wasm_f32x4_mul(i, g));
  wasm_v128_store(cOut, c);
  wasm_v128_store(hOut, wasm_f32x4_mul(o, vtanh_rational(K, c)));
}

/*
 * Gate pre-activations of one layer for coordinate c and, when two != 0, c + 1 (the weights
 * are loaded once for both), stored to G: 16 floats (gates × 4 units) per block of 4 units.
 * Accumulators are named variables, not arrays, so that they stay in registers.
 */
INLINE void gates(const int two, int c, int H, int Kin, const float *W, const float *in, const float *hPrev, float *G) {
  const int nIn = Kin + H;
  const float *inA = in + c * Kin, *inB = inA + Kin;
  const float *hA = hPrev + c * H, *hB = hA + H;
  float *gA = G, *gB = G + 4 * H;
  for (int jb = 0; jb < H / 4; jb++) {
    const float *w = W + jb * 16 * (nIn + 1);
    v a0 = wasm_v128_load(w), a1 = wasm_v128_load(w + 4), a2 = wasm_v128_load(w + 8), a3 = wasm_v128_load(w + 12);
    v b0 = a0, b1 = a1, b2 = a2, b3 = a3;
    w += 16;
    for (int k = 0; k < Kin; k++, w += 16) {
      v w0 = wasm_v128_load(w), w1 = wasm_v128_load(w + 4), w2 = wasm_v128_load(w + 8), w3 = wasm_v128_load(w + 12);
      v s = wasm_v128_load32_splat(inA + k);
      MAC4(a, s);
      if (two) {
        v t = wasm_v128_load32_splat(inB + k);
        MAC4(b, t);
      }
    }
    for (int k = 0; k < H; k++, w += 16) {
      v w0 = wasm_v128_load(w), w1 = wasm_v128_load(w + 4), w2 = wasm_v128_load(w + 8), w3 = wasm_v128_load(w + 12);
      v s = wasm_v128_load32_splat(hA + k);
      MAC4(a, s);
      if (two) {
        v t = wasm_v128_load32_splat(hB + k);
        MAC4(b, t);
      }
    }
    float *ga = gA + 16 * jb;
    wasm_v128_store(ga, a0), wasm_v128_store(ga + 4, a1), wasm_v128_store(ga + 8, a2), wasm_v128_store(ga + 12, a3);
    if (two) {
      float *gb = gB + 16 * jb;
      wasm_v128_store(gb, b0), wasm_v128_store(gb + 4, b1), wasm_v128_store(gb + 8, b2), wasm_v128_store(gb + 12, b3);
    }
  }
}

/*
 * One layer for coordinates [c0, c1): first all gate pre-activations, then all cell updates.
 * Two phases rather than one pass: a cell update is a long chain of dependent operations
 * (exp, divide, then tanh of the new cell), and a loop of independent updates lets the CPU
 * overlap them, where interleaving each with its matrix product left it waiting.
 */
INLINE void lstm_layer(const float *K, int c0, int c1, int H, int Kin, const float *W, const float *in, const float *hPrev,
                       const float *cPrev, float *hOut, float *cOut, float *G, float *saved) {
  int c = c0;
  for (; c + 2 <= c1; c += 2) gates(1, c, H, Kin, W, in, hPrev, G + (c - c0) * 4 * H);
  if (c < c1) gates(0, c, H, Kin, W, in, hPrev, G + (c - c0) * 4 * H);
  for (c = c0; c < c1; c++) {
    const float *g = G + (c - c0) * 4 * H;
    for (int jb = 0; jb < H / 4; jb++, g += 16) {
      const int at = c * H + 4 * jb;
      cell(K, wasm_v128_load(g), wasm_v128_load(g + 4), wasm_v128_load(g + 8), wasm_v128_load(g + 12), cPrev + at, cOut + at,
           hOut + at, saved ? saved + 4 * at : 0);
    }
  }
}

/* Coordinates per tile: their gates (TILE · 4H floats) stay in the L1 cache with the weights. */
#define TILE 32

/* update = outScale · (h · w + b) for one coordinate's last hidden state h. */
INLINE float head(int H, const float *h, const float *w, float b, float outScale) {
  v s = wasm_f32x4_splat(0.0f);
  for (int j = 0; j < H; j += 4) s = wasm_f32x4_add(s, wasm_f32x4_mul(wasm_v128_load(h + j), wasm_v128_load(w + j)));
  float dot = wasm_f32x4_extract_lane(s, 0) + wasm_f32x4_extract_lane(s, 1) + wasm_f32x4_extract_lane(s, 2) +
              wasm_f32x4_extract_lane(s, 3);
  return (dot + b) * outScale;
}

/*
 * One step of the coordinate-wise LSTM (the inference twin of lstm.ts's lstmStep) for the
 * coordinates [from, to), with G as the gates' scratch ([TILE, 4H]).
 * table (int32 words): d, H, L, weights, grads, update, pre (scratch [d, 2]), constants,
 * gates (scratch [TILE, 4H], used by lstm_step), then L pointers each of hIn, cIn, hOut, cOut
 * ([d, H] row-major, like the tfjs state), then saved gates (0: none; else [L, d, 4H]: the
 * activated gates i, f, g, o of every layer, in the packed weights' blocks of 4 units, for
 * lstm_backward). Requires H % 4 == 0.
 */
static void lstm_range(const int *table, int from, int to, float *G, float p, float threshold, float scale, float outScale) {
  const int H = table[1], L = table[2];
  const float *W = (const float *)table[3];
  const float *grads = (const float *)table[4];
  float *update = (float *)table[5];
  float *pre = (float *)table[6];
  const float *K = (const float *)table[7];
  const int *states = table + 9;
  float *saved = (float *)states[4 * L];
  const int dim = table[0];
  preprocess(to - from, grads + from, pre + 2 * from, p, threshold, scale);

  /* Where each layer's packed weights start, and the head after them. */
  const float *head_w = W;
  for (int l = 0; l < L; l++) head_w += (H / 4) * 16 * ((l == 0 ? 2 : H) + H + 1);
  const float head_b = head_w[H];

  for (int c0 = from; c0 < to; c0 += TILE) {
    const int c1 = c0 + TILE < to ? c0 + TILE : to;
    const float *Wl = W;
    for (int l = 0; l < L; l++) {
      const int Kin = l == 0 ? 2 : H;
      const float *in = l == 0 ? pre : (const float *)states[2 * L + l - 1];
      lstm_layer(K, c0, c1, H, Kin, Wl, in, (const float *)states[l], (const float *)states[L + l], (float *)states[2 * L + l],
                 (float *)states[3 * L + l], G, saved ? saved + l * dim * 4 * H : 0);
      Wl += (H / 4) * 16 * (Kin + H + 1);
    }
    const float *hLast = (const float *)states[3 * L - 1];
    for (int c = c0; c < c1; c++) update[c] = head(H, hLast + c * H, head_w, head_b, outScale);
  }
}

__attribute__((export_name("lstm_step"))) void lstm_step(const int *table, float p, float threshold, float scale, float outScale) {
  lstm_range(table, 0, table[0], (float *)table[8], p, threshold, scale, outScale);
}

/* A chunk [from, to) of a step, for threads sharing the work of one table (parallel.ts). */
__attribute__((export_name("lstm_chunk"))) void lstm_chunk(const int *table, int from, int to, float *G, float p, float threshold,
                                                           float scale, float outScale) {
  lstm_range(table, from, to, G, p, threshold, scale, outScale);
}

/* ------------------------------------------------------------------ LSTM backward (meta-training) */

/* Offset of layer l's packed weights (the head's after the last layer). */
INLINE int layer_offset(int H, int l) {
  int at = 0;
  for (int m = 0; m < l; m++) at += (H / 4) * 16 * ((m == 0 ? 2 : H) + H + 1);
  return at;
}

/* The lane sums of the four vectors at z, z + 4, z + 8, z + 12, as one vector ((x0 + x2) + (x1 + x3) each). */
INLINE v hsum4(const float *z) {
  const v a = wasm_v128_load(z), b = wasm_v128_load(z + 4), c = wasm_v128_load(z + 8), d = wasm_v128_load(z + 12);
  const v ab = wasm_f32x4_add(wasm_i32x4_shuffle(a, b, 0, 4, 1, 5), wasm_i32x4_shuffle(a, b, 2, 6, 3, 7)); /* a0+a2 b0+b2 a1+a3 b1+b3 */
  const v cd = wasm_f32x4_add(wasm_i32x4_shuffle(c, d, 0, 4, 1, 5), wasm_i32x4_shuffle(c, d, 2, 6, 3, 7));
  return wasm_f32x4_add(wasm_i32x4_shuffle(ab, cd, 0, 1, 4, 5), wasm_i32x4_shuffle(ab, cd, 2, 3, 6, 7));
}

/* Coordinates per tile of the backward pass: their gates, then adjoints, stay in the L1 cache. */
#define TILE_B 16

/* Input k of a layer for coordinate c: the layer's inputs (Kin per coordinate), then h_prev (H). */
#define ZIN(c, k) ((k) < Kin ? in + (c) * Kin + (k) : hPrev + (c) * H + (k) - Kin)

/*
 * The vector–Jacobian product of lstm_step for the coordinates [from, to): given the adjoint of
 * the update and of the next state, adds the gradient of the packed weights (same layout,
 * head included) to dW and writes the adjoint of the previous state. The gates are recomputed
 * from the step's inputs (gradient, previous state) and its output cell state, so the forward
 * pass (lstm_step itself) keeps nothing else. Every adjoint stored is flushed to zero when
 * subnormal. Per tile of TILE_B coordinates and layer: gates, then the gates' adjoints dy (in
 * place of the gates), then dW += dy ⊗ input as one pass over dW, then the inputs' adjoint Wᵀ dy.
 * table (int32 words): d, H, L, weights, grads, dUpdate, pre (scratch [d, 2]), constants,
 * dW, scratch ((6 TILE_B + 16) H floats), then L pointers each of hIn, cIn, hOut, cOut, dhNext,
 * dcNext (0: zero), dhPrev, dcPrev (0: not wanted), all [d, H] row-major, then the gates lstm_step
 * saved for this step (0: recompute them; the same numbers either way).
 */
static void lstm_backward_range(const int *table, int from, int to, float *dW, float *S, float p, float threshold, float scale,
                                float outScale) {
  const int H = table[1], L = table[2];
  const float *W = (const float *)table[3];
  const float *grads = (const float *)table[4];
  const float *dUpdate = (const float *)table[5];
  float *pre = (float *)table[6];
  const float *K = (const float *)table[7];
  const int *ptr = table + 10;
  const float *saved = (const float *)ptr[8 * L];
  const int dim = table[0];
  preprocess(to - from, grads + from, pre + 2 * from, p, threshold, scale);
  const float *headW = W + layer_offset(H, L);
  float *dHead = dW + layer_offset(H, L);
  /* G: gates then dy [TILE_B, 4H]; DHA, DHB: adjoints of a layer's output h and of its input [TILE_B, H]; DZ: 2 × [2H, 4]. */
  float *G = S, *DHA = S + TILE_B * 4 * H, *DHB = DHA + TILE_B * H, *DZ = DHB + TILE_B * H;
  const v one = C(K_ONE);
  const v two = wasm_f32x4_add(one, one);
  for (int c0 = from; c0 < to; c0 += TILE_B) {
    const int c1 = c0 + TILE_B < to ? c0 + TILE_B : to, n = c1 - c0;
    for (int c = c0; c < c1; c++) {
      const float dOut = ftz(dUpdate[c] * outScale);
      const float *hTop = (const float *)ptr[3 * L - 1] + c * H;
      const v dO = wasm_f32x4_splat(dOut);
      for (int j = 0; j < H; j += 4) {
        wasm_v128_store(dHead + j, MADD(dO, wasm_v128_load(hTop + j), wasm_v128_load(dHead + j)));
        wasm_v128_store(DHA + (c - c0) * H + j, vftz(K, wasm_f32x4_mul(dO, wasm_v128_load(headW + j))));
      }
      dHead[H] += dOut;
    }
    for (int l = L - 1; l >= 0; l--) {
      const int Kin = l == 0 ? 2 : H, nIn = Kin + H;
      const float *Wl = W + layer_offset(H, l);
      float *dWl = dW + layer_offset(H, l);
      const float *in = l == 0 ? pre : (const float *)ptr[2 * L + l - 1];
      const float *hPrev = (const float *)ptr[l], *cPrev = (const float *)ptr[L + l], *cNew = (const float *)ptr[3 * L + l];
      const float *dhN = (const float *)ptr[4 * L + l], *dcN = (const float *)ptr[5 * L + l];
      float *dhP = (float *)ptr[6 * L + l], *dcP = (float *)ptr[7 * L + l];
      const float *sl = saved ? saved + l * dim * 4 * H : 0;
      int c = c0;
      if (!sl) {
        for (; c + 2 <= c1; c += 2) gates(1, c, H, Kin, Wl, in, hPrev, G + (c - c0) * 4 * H);
        if (c < c1) gates(0, c, H, Kin, Wl, in, hPrev, G + (c - c0) * 4 * H);
      }
      for (c = c0; c < c1; c++) {
        float *d = G + (c - c0) * 4 * H;
        for (int jb = 0; jb < H / 4; jb++, d += 16) {
          const int at = c * H + 4 * jb;
          v i, f, g, o;
          if (sl) {
            const float *s = sl + 4 * at;
            i = wasm_v128_load(s), f = wasm_v128_load(s + 4), g = wasm_v128_load(s + 8), o = wasm_v128_load(s + 12);
          } else {
            i = vsigmoid_of_twice(K, wasm_v128_load(d)), f = vsigmoid_of_twice(K, wasm_v128_load(d + 4));
            g = vtanh_rational(K, wasm_v128_load(d + 8)), o = vsigmoid_of_twice(K, wasm_v128_load(d + 12));
          }
          const v cp = wasm_v128_load(cPrev + at), tc = vtanh_rational(K, wasm_v128_load(cNew + at));
          v dh = wasm_v128_load(DHA + (c - c0) * H + 4 * jb);
          if (dhN) dh = wasm_f32x4_add(dh, wasm_v128_load(dhN + at));
          v dc = wasm_f32x4_mul(wasm_f32x4_mul(dh, o), wasm_f32x4_sub(one, wasm_f32x4_mul(tc, tc)));
          if (dcN) dc = wasm_f32x4_add(dc, wasm_v128_load(dcN + at));
          /* σ gates: the kernel's pre-activation y is half the weighted sum, σ = σ(2y), dσ/dy = 2σ(1 − σ). */
          wasm_v128_store(d, vftz(K, wasm_f32x4_mul(wasm_f32x4_mul(dc, g), wasm_f32x4_mul(two, wasm_f32x4_mul(i, wasm_f32x4_sub(one, i))))));
          wasm_v128_store(d + 4, vftz(K, wasm_f32x4_mul(wasm_f32x4_mul(dc, cp), wasm_f32x4_mul(two, wasm_f32x4_mul(f, wasm_f32x4_sub(one, f))))));
          wasm_v128_store(d + 8, vftz(K, wasm_f32x4_mul(wasm_f32x4_mul(dc, i), wasm_f32x4_sub(one, wasm_f32x4_mul(g, g)))));
          wasm_v128_store(d + 12, vftz(K, wasm_f32x4_mul(wasm_f32x4_mul(dh, tc), wasm_f32x4_mul(two, wasm_f32x4_mul(o, wasm_f32x4_sub(one, o))))));
          if (dcP) wasm_v128_store(dcP + at, vftz(K, wasm_f32x4_mul(dc, f)));
        }
      }
      /* dW += dy ⊗ [1; input] over the tile: each 16-float row of dW loaded and stored once, inputs two at a time. */
      for (int jb = 0; jb < H / 4; jb++) {
        float *gw = dWl + jb * 16 * (nIn + 1);
        v a0 = wasm_v128_load(gw), a1 = wasm_v128_load(gw + 4), a2 = wasm_v128_load(gw + 8), a3 = wasm_v128_load(gw + 12);
        for (int t = 0; t < n; t++) {
          const float *d = G + t * 4 * H + 16 * jb;
          a0 = wasm_f32x4_add(a0, wasm_v128_load(d)), a1 = wasm_f32x4_add(a1, wasm_v128_load(d + 4));
          a2 = wasm_f32x4_add(a2, wasm_v128_load(d + 8)), a3 = wasm_f32x4_add(a3, wasm_v128_load(d + 12));
        }
        wasm_v128_store(gw, a0), wasm_v128_store(gw + 4, a1), wasm_v128_store(gw + 8, a2), wasm_v128_store(gw + 12, a3);
        gw += 16;
        for (int k = 0; k < nIn; k += 2, gw += 32) { /* nIn is even (Kin is 2 or H) */
          v e0 = wasm_v128_load(gw), e1 = wasm_v128_load(gw + 4), e2 = wasm_v128_load(gw + 8), e3 = wasm_v128_load(gw + 12);
          v b0 = wasm_v128_load(gw + 16), b1 = wasm_v128_load(gw + 20), b2 = wasm_v128_load(gw + 24), b3 = wasm_v128_load(gw + 28);
          for (int t = 0; t < n; t++) {
            const float *d = G + t * 4 * H + 16 * jb;
            const v y0 = wasm_v128_load(d), y1 = wasm_v128_load(d + 4), y2 = wasm_v128_load(d + 8), y3 = wasm_v128_load(d + 12);
            const v s = wasm_v128_load32_splat(ZIN(c0 + t, k)), u = wasm_v128_load32_splat(ZIN(c0 + t, k + 1));
            e0 = MADD(y0, s, e0), e1 = MADD(y1, s, e1), e2 = MADD(y2, s, e2), e3 = MADD(y3, s, e3);
            b0 = MADD(y0, u, b0), b1 = MADD(y1, u, b1), b2 = MADD(y2, u, b2), b3 = MADD(y3, u, b3);
          }
          wasm_v128_store(gw, e0), wasm_v128_store(gw + 4, e1), wasm_v128_store(gw + 8, e2), wasm_v128_store(gw + 12, e3);
          wasm_v128_store(gw + 16, b0), wasm_v128_store(gw + 20, b1), wasm_v128_store(gw + 24, b2), wasm_v128_store(gw + 28, b3);
        }
      }
      /*
       * The inputs' adjoint Wᵀ dy, two coordinates at a time (each weight loaded once for both),
       * for the inputs whose adjoint is read: the layer's inputs when l > 0 (the adjoint of the
       * layer below's h; layer 0's are the preprocessed gradients, constants), h_prev's when
       * dhPrev is wanted. Both ranges are H long, so the sums go out four at a time (hsum4).
       */
      const int kFrom = l == 0 ? Kin : 0, kTo = dhP ? nIn : Kin;
      for (c = c0; kFrom < kTo && c < c1; c += 2) {
        const int pair = c + 1 < c1;
        float *za = DZ, *zb = DZ + 8 * H;
        for (int k = kFrom; k < kTo; k++) wasm_v128_store(za + 4 * k, wasm_f32x4_splat(0.0f)), wasm_v128_store(zb + 4 * k, wasm_f32x4_splat(0.0f));
        for (int jb = 0; jb < H / 4; jb++) {
          const float *da = G + (c - c0) * 4 * H + 16 * jb, *db = pair ? da + 4 * H : da;
          const v ya0 = wasm_v128_load(da), ya1 = wasm_v128_load(da + 4), ya2 = wasm_v128_load(da + 8), ya3 = wasm_v128_load(da + 12);
          const v yb0 = wasm_v128_load(db), yb1 = wasm_v128_load(db + 4), yb2 = wasm_v128_load(db + 8), yb3 = wasm_v128_load(db + 12);
          const float *w = Wl + jb * 16 * (nIn + 1) + 16 + 16 * kFrom;
          for (int k = kFrom; k < kTo; k++, w += 16) {
            const v w0 = wasm_v128_load(w), w1 = wasm_v128_load(w + 4), w2 = wasm_v128_load(w + 8), w3 = wasm_v128_load(w + 12);
            v acc = wasm_v128_load(za + 4 * k);
            acc = MADD(w0, ya0, acc), acc = MADD(w1, ya1, acc), acc = MADD(w2, ya2, acc), acc = MADD(w3, ya3, acc);
            wasm_v128_store(za + 4 * k, acc);
            v bcc = wasm_v128_load(zb + 4 * k);
            bcc = MADD(w0, yb0, bcc), bcc = MADD(w1, yb1, bcc), bcc = MADD(w2, yb2, bcc), bcc = MADD(w3, yb3, bcc);
            wasm_v128_store(zb + 4 * k, bcc);
          }
        }
        for (int q = 0; q <= pair; q++) {
          const float *z = q ? zb : za;
          const int cc = c + q;
          for (int k = kFrom; k < kTo; k += 4) {
            const v dz = vftz(K, hsum4(z + 4 * k));
            wasm_v128_store(k < Kin ? DHB + (cc - c0) * H + k : dhP + cc * H + k - Kin, dz);
          }
        }
      }
      float *t = DHA;
      DHA = DHB, DHB = t;
    }
  }
}

__attribute__((export_name("lstm_backward"))) void lstm_backward(const int *table, float p, float threshold, float scale, float outScale) {
  lstm_backward_range(table, 0, table[0], (float *)table[8], (float *)table[9], p, threshold, scale, outScale);
}

/* A chunk [from, to) of a backward step with its own dW accumulator and scratch (for threads). */
__attribute__((export_name("lstm_backward_chunk"))) void lstm_backward_chunk(const int *table, int from, int to, float *dW, float *S, float p,
                                                                             float threshold, float scale, float outScale) {
  lstm_backward_range(table, from, to, dW, S, p, threshold, scale, outScale);
}

/* ------------------------------------------------------------------ MLP (sigmoid hidden, softmax NLL) */

/* e^x for x ≤ 0 (softmax after subtracting the row maximum), same polynomial as vexp. */
INLINE float scalar_exp(float x) {
  if (x < -87.33654f) return 0.0f;
  float t = x * 1.44269504088896341f + 12582912.0f; /* 1.5 · 2^23: rounds to an integer */
  float n = t - 12582912.0f;
  float r = x - n * 0.693359375f - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  float y = p * r * r + r + 1.0f;
  bits32 s = {.f = t};
  s.i = (s.i + 127) << 23;
  return y * s.f;
}

/*
 * C[i, j] = init(j) + Σ_k A(i, k) · B[k·N + j] for i < M, j < N; A(i, k) = A[i·sai + k·sak],
 * C row-major with N columns; init is bias[j], or 0 when bias is null. Vectorized over j:
 * blocks of 16 columns two rows at a time, then blocks of 4 columns four rows at a time
 * (eight or four independent sums hide the latency of the adds), scalar for N mod 4.
 */
#define GEMM_INIT(j) (bias ? wasm_v128_load(bias + (j)) : wasm_f32x4_splat(0.0f))
static void gemm(int M, int N, int K, const float *A, int sai, int sak, const float *B, const float *bias, float *C) {
  const int N16 = N - N % 16, N4 = N - N % 4;
  for (int j = 0; j < N16; j += 16) {
    int i = 0;
    for (; i + 2 <= M; i += 2) {
      v a0 = GEMM_INIT(j), a1 = GEMM_INIT(j + 4), a2 = GEMM_INIT(j + 8), a3 = GEMM_INIT(j + 12);
      v b0 = a0, b1 = a1, b2 = a2, b3 = a3;
      const float *pa = A + i * sai, *pb = pa + sai, *w = B + j;
      for (int k = 0; k < K; k++, w += N) {
        v w0 = wasm_v128_load(w), w1 = wasm_v128_load(w + 4), w2 = wasm_v128_load(w + 8), w3 = wasm_v128_load(w + 12);
        v s = wasm_v128_load32_splat(pa + k * sak), t = wasm_v128_load32_splat(pb + k * sak);
        MAC4(a, s);
        MAC4(b, t);
      }
      float *c = C + i * N + j;
      wasm_v128_store(c, a0), wasm_v128_store(c + 4, a1), wasm_v128_store(c + 8, a2), wasm_v128_store(c + 12, a3);
      c += N;
      wasm_v128_store(c, b0), wasm_v128_store(c + 4, b1), wasm_v128_store(c + 8, b2), wasm_v128_store(c + 12, b3);
    }
    for (; i < M; i++) {
      v a0 = GEMM_INIT(j), a1 = GEMM_INIT(j + 4), a2 = GEMM_INIT(j + 8), a3 = GEMM_INIT(j + 12);
      const float *pa = A + i * sai, *w = B + j;
      for (int k = 0; k < K; k++, w += N) {
        v w0 = wasm_v128_load(w), w1 = wasm_v128_load(w + 4), w2 = wasm_v128_load(w + 8), w3 = wasm_v128_load(w + 12);
        v s = wasm_v128_load32_splat(pa + k * sak);
        MAC4(a, s);
      }
      float *c = C + i * N + j;
      wasm_v128_store(c, a0), wasm_v128_store(c + 4, a1), wasm_v128_store(c + 8, a2), wasm_v128_store(c + 12, a3);
    }
  }
  for (int j = N16; j < N4; j += 4) {
    int i = 0;
    for (; i + 4 <= M; i += 4) {
      v a0 = GEMM_INIT(j), a1 = a0, a2 = a0, a3 = a0;
      const float *pa = A + i * sai, *w = B + j;
      for (int k = 0; k < K; k++, w += N) {
        v x = wasm_v128_load(w);
        const float *q = pa + k * sak;
        a0 = MADD(wasm_v128_load32_splat(q), x, a0);
        a1 = MADD(wasm_v128_load32_splat(q + sai), x, a1);
        a2 = MADD(wasm_v128_load32_splat(q + 2 * sai), x, a2);
        a3 = MADD(wasm_v128_load32_splat(q + 3 * sai), x, a3);
      }
      float *c = C + i * N + j;
      wasm_v128_store(c, a0), wasm_v128_store(c + N, a1), wasm_v128_store(c + 2 * N, a2), wasm_v128_store(c + 3 * N, a3);
    }
    for (; i < M; i++) {
      v a0 = GEMM_INIT(j);
      const float *pa = A + i * sai, *w = B + j;
      for (int k = 0; k < K; k++, w += N) a0 = MADD(wasm_v128_load32_splat(pa + k * sak), wasm_v128_load(w), a0);
      wasm_v128_store(C + i * N + j, a0);
    }
  }
  for (int j = N4; j < N; j++) {
    for (int i = 0; i < M; i++) {
      const float *pa = A + i * sai;
      float acc = bias ? bias[j] : 0.0f;
      for (int k = 0; k < K; k++) acc += pa[k * sak] * B[k * N + j];
      C[i * N + j] = acc;
    }
  }
}

/* x ← sigmoid(x) over n floats. */
static void sigmoid_inplace(const float *K, float *x, int n) {
  int i = 0;
  for (; i + 4 <= n; i += 4) wasm_v128_store(x + i, vsigmoid(K, wasm_v128_load(x + i)));
  for (; i < n; i++) x[i] = wasm_f32x4_extract_lane(vsigmoid(K, wasm_f32x4_splat(x[i])), 0);
}

/*
 * Forward (and, when grad != 0, backward) pass of mlp.ts's MLP on a batch.
 * table (int32 words): L (layers), B (examples), params, x [B, w0], labels (int32 [B]),
 * losses (per example [B], or the mean in losses[0] when grad != 0), grad (or 0), scratch,
 * constants, then the L + 1 widths w0 … wL.
 * params and grad: per layer W [w_l, w_l+1] row-major, then b [w_l+1].
 * scratch: activations of every hidden layer and the logits ([B, w_l] each), then two
 * buffers of B · max(w_1 … w_L) floats for the deltas, then max(w_l · w_l+1) for l ≥ 1,
 * room for a transposed W.
 * A label outside [0, classes) contributes 0 to the loss, as tf.oneHot's zero row does.
 */
__attribute__((export_name("mlp"))) void mlp(const int *table) {
  const int L = table[0], B = table[1];
  const float *params = (const float *)table[2];
  const float *x = (const float *)table[3];
  const int *labels = (const int *)table[4];
  float *losses = (float *)table[5];
  float *grad = (float *)table[6];
  float *scratch = (float *)table[7];
  const float *K = (const float *)table[8];
  const int *w = table + 9;
  const int classes = w[L];

  /* Forward: acts[l] for l = 1 … L (the last is the logits). */
  const float *in = x;
  float *act = scratch;
  const float *p = params;
  int maxw = 0;
  for (int l = 0; l < L; l++) {
    if (w[l + 1] > maxw) maxw = w[l + 1];
    gemm(B, w[l + 1], w[l], in, w[l], 1, p, p + w[l] * w[l + 1], act);
    if (l + 1 < L) sigmoid_inplace(K, act, B * w[l + 1]);
    p += w[l] * w[l + 1] + w[l + 1];
    in = act;
    act += B * w[l + 1];
  }
  float *logits = act - B * classes;
  float *dz = act, *da = act + B * maxw, *wt = da + B * maxw;

  /* Softmax cross-entropy per example; dz = (softmax − onehot) / B. */
  double total = 0.0;
  for (int i = 0; i < B; i++) {
    const float *z = logits + i * classes;
    float m = z[0];
    for (int j = 1; j < classes; j++) m = z[j] > m ? z[j] : m;
    float s = 0.0f;
    for (int j = 0; j < classes; j++) s += scalar_exp(z[j] - m);
    const float lse = m + scalar_log(s);
    const int y = labels[i];
    const float loss = y >= 0 && y < classes ? lse - z[y] : 0.0f;
    total += loss;
    if (!grad) {
      losses[i] = loss;
      continue;
    }
    for (int j = 0; j < classes; j++) dz[i * classes + j] = (scalar_exp(z[j] - lse) - (j == y ? 1.0f : 0.0f)) / (float)B;
  }
  if (!grad) return;
  losses[0] = (float)(total / B);

  /* Backward, last layer first; p walks back to each layer's weights. */
  for (int l = L - 1; l >= 0; l--) {
    const int nin = w[l], nout = w[l + 1];
    p -= nin * nout + nout;
    float *gW = grad + (p - params);
    /* a: what enters layer l, x or the activations of hidden layer l (stored from scratch on). */
    const float *a = scratch;
    for (int m = 1; m < l; m++) a += B * w[m];
    if (l == 0) a = x;
    gemm(nin, nout, B, a, 1, nin, dz, 0, gW); /* gW = aᵀ dz */
    float *gb = gW + nin * nout;
    for (int j = 0; j < nout; j++) gb[j] = 0.0f;
    for (int i = 0; i < B; i++)
      for (int j = 0; j < nout; j++) gb[j] += dz[i * nout + j];
    if (l == 0) break;
    /* da = dz Wᵀ with Wᵀ built in scratch (rows contiguous for the vectorized gemm). */
    for (int r = 0; r < nin; r++)
      for (int c = 0; c < nout; c++) wt[c * nin + r] = p[r * nout + c];
    gemm(B, nin, nout, dz, nout, 1, wt, 0, da);
    for (int i = 0; i < B * nin; i++) da[i] *= a[i] * (1.0f - a[i]);
    float *t = dz;
    dz = da;
    da = t;
  }
}

/* ------------------------------------------------------------------ optimizer updates */

/*
 * The plain optimizers' updates (sgd.ts, adam.ts) in one pass each, instead of 2 (SGD), 4
 * (momentum) and ~10 (Adam) tfjs ops. Each float operation is the one the tfjs ops do, in the same order (explicit mul then
 * add, never a fused multiply-add, even in the relaxed build), so the results are the same
 * float32 numbers. Outputs may not alias inputs (fresh tensors, the optimizers being pure).
 */

/* out = x − lr · g */
__attribute__((export_name("sgd_update"))) void sgd_update(int n, const float *x, const float *g, float *out, float lr) {
  const v l = wasm_f32x4_splat(lr);
  int i = 0;
  for (; i + 4 <= n; i += 4) wasm_v128_store(out + i, wasm_f32x4_sub(wasm_v128_load(x + i), wasm_f32x4_mul(wasm_v128_load(g + i), l)));
  for (; i < n; i++) out[i] = x[i] - g[i] * lr;
}

/* Heavy-ball momentum: vOut = β v + g, out = x − lr · vOut. */
__attribute__((export_name("momentum_update"))) void momentum_update(int n, const float *x, const float *g, const float *w, float *out,
                                                                     float *vOut, float lr, float beta) {
  const v l = wasm_f32x4_splat(lr), b = wasm_f32x4_splat(beta);
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    const v vi = wasm_f32x4_add(wasm_f32x4_mul(wasm_v128_load(w + i), b), wasm_v128_load(g + i));
    wasm_v128_store(vOut + i, vi);
    wasm_v128_store(out + i, wasm_f32x4_sub(wasm_v128_load(x + i), wasm_f32x4_mul(vi, l)));
  }
  for (; i < n; i++) {
    const float vi = w[i] * beta + g[i];
    vOut[i] = vi;
    out[i] = x[i] - vi * lr;
  }
}

/*
 * Adam with bias correction: m' = β1 m + (1 − β1) g, v' = β2 v + (1 − β2) g²,
 * x' = x − (m' · stepSize) / (√(v' · vScale) + ε), with stepSize = η / (1 − β1^t) and
 * vScale = 1 / (1 − β2^t) from the caller. table (int32 words): n, x, g, m, v, xOut, mOut, vOut;
 * c (floats): β1, 1 − β1, β2, 1 − β2, stepSize, vScale, ε.
 */
__attribute__((export_name("adam_update"))) void adam_update(const int *table, const float *c) {
  const int n = table[0];
  const float *x = (const float *)table[1], *g = (const float *)table[2], *m = (const float *)table[3], *w = (const float *)table[4];
  float *xOut = (float *)table[5], *mOut = (float *)table[6], *vOut = (float *)table[7];
  const v b1 = wasm_v128_load32_splat(c), c1 = wasm_v128_load32_splat(c + 1), b2 = wasm_v128_load32_splat(c + 2),
          c2 = wasm_v128_load32_splat(c + 3), step = wasm_v128_load32_splat(c + 4), vs = wasm_v128_load32_splat(c + 5),
          eps = wasm_v128_load32_splat(c + 6);
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    const v gi = wasm_v128_load(g + i);
    const v mi = wasm_f32x4_add(wasm_f32x4_mul(wasm_v128_load(m + i), b1), wasm_f32x4_mul(gi, c1));
    const v vi = wasm_f32x4_add(wasm_f32x4_mul(wasm_v128_load(w + i), b2), wasm_f32x4_mul(wasm_f32x4_mul(gi, gi), c2));
    const v den = wasm_f32x4_add(wasm_f32x4_sqrt(wasm_f32x4_mul(vi, vs)), eps);
    wasm_v128_store(mOut + i, mi);
    wasm_v128_store(vOut + i, vi);
    wasm_v128_store(xOut + i, wasm_f32x4_sub(wasm_v128_load(x + i), wasm_f32x4_div(wasm_f32x4_mul(mi, step), den)));
  }
  for (; i < n; i++) {
    const float gi = g[i];
    const float mi = m[i] * c[0] + gi * c[1];
    const float vi = w[i] * c[2] + gi * gi * c[3];
    mOut[i] = mi;
    vOut[i] = vi;
    xOut[i] = x[i] - mi * c[4] / (__builtin_sqrtf(vi * c[5]) + c[6]);
  }
}
