#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef float v16 __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4), may_alias));  /* unaligned access */
typedef float v8 __attribute__((vector_size(32)));
typedef float v4 __attribute__((vector_size(16)));

static inline v16 ld(const float *p) { return *(const v16u *)p; }
static inline void st(float *p, v16 v) { *(v16u *)p = v; }
#ifdef __AVX512F__
#include <immintrin.h>
/* the first n < 16 floats (the rest 0), and their store: masked, never touching memory past p + n */
static inline v16 ld_part(const float *p, int64_t n) { return (v16)_mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1), p); }
static inline void st_part(float *p, v16 v, int64_t n) { _mm512_mask_storeu_ps(p, (__mmask16)((1u << n) - 1), (__m512)v); }
#else
static inline v16 ld_part(const float *p, int64_t n) {
    v16 v = {0};
    for (int64_t l = 0; l < n; l++) v[l] = p[l];
    return v;
}
static inline void st_part(float *p, v16 v, int64_t n) {
    for (int64_t l = 0; l < n; l++) p[l] = v[l];
}
#endif
static inline v16 splat(float a) { v16 v = {0}; return v + a; }
static inline v16 vfma(v16 a, v16 b, v16 c) {
    v16 r;
    for (int l = 0; l < 16; l++) r[l] = fmaf(a[l], b[l], c[l]);
    return r;
}
static inline v16 vsqrt(v16 a) {
    v16 r;
    for (int l = 0; l < 16; l++) r[l] = sqrtf(a[l]);
    return r;
}
typedef int32_t v16i __attribute__((vector_size(64)));

/* e^x in 16 lanes (Cephes' expf: x = n ln 2 + r with |r| <= ln 2 / 2, a degree-7 polynomial for e^r, then
   2^n as an exponent field). Written out, not libm's, so that its roundings are the same on every machine.
   Below -87.3 the result is 0 and above 88.7 it is inf; relative error about 1e-7 in between. */
static inline v16 vexp(v16 x) {
    const v16 hi = splat(88.7f), lo = splat(-87.3f);
    const v16i over = x > hi, under = x < lo;
    for (int l = 0; l < 16; l++) x[l] = x[l] > 88.7f ? 88.7f : x[l] < -87.3f ? -87.3f : x[l];
    v16 n;
    for (int l = 0; l < 16; l++) n[l] = rintf(x[l] * 1.44269504088896341f);
    v16 r = vfma(n, splat(-0.693359375f), x);
    r = vfma(n, splat(2.12194440e-4f), r);
    v16 p = splat(1.9875691500e-4f);
    p = vfma(p, r, splat(1.3981999507e-3f));
    p = vfma(p, r, splat(8.3334519073e-3f));
    p = vfma(p, r, splat(4.1665795894e-2f));
    p = vfma(p, r, splat(1.6666665459e-1f));
    p = vfma(p, r, splat(5.0000001201e-1f));
    p = vfma(p, r * r, r) + splat(1.0f);
    const v16i e = (__builtin_convertvector(n, v16i) + 127) << 23;
    v16 scale;
    memcpy(&scale, &e, sizeof scale);
    v16 y = p * scale;
    for (int l = 0; l < 16; l++) y[l] = over[l] ? INFINITY : under[l] ? 0.0f : y[l];
    return y;
}

/* lanes added as a fixed tree: lane l + lane l + 8, then l + (l + 4), l + (l + 2), l + (l + 1) */
static inline float hsum(v16 a) {
    v8 lo, hi;
    memcpy(&lo, &a, sizeof lo);
    memcpy(&hi, (const char *)&a + sizeof lo, sizeof hi);
    const v8 s8 = lo + hi;
    v4 l4, h4;
    memcpy(&l4, &s8, sizeof l4);
    memcpy(&h4, (const char *)&s8 + sizeof l4, sizeof h4);
    const v4 s4 = l4 + h4;
    const float s2a = s4[0] + s4[2], s2b = s4[1] + s4[3];
    return s2a + s2b;
}

/* out[b * m + j] = sum_i rows[b][i] * W[j * n + i] + bias[j]: each sum in 16 lanes over i (lane i % 16),
   lanes added by hsum. Blocks of 5 batch rows x 3 weight rows (fifteen sums in registers) share their
   loads; blocking does not change any sum. With nz, a chunk of 16 inputs that is 0 in every row
   (nz[i / 16] == 0) is skipped: its terms are exact zeros (for finite weights). */
static void affine(const float *const *rows, int64_t B, const float *W, const float *bias,
                   int64_t n, int64_t m, float *out, const char *nz) {
    const int64_t full = n / 16 * 16, rest = n - full;
    for (int64_t b0 = 0; b0 < B; b0 += 5) {
        const float *r0 = rows[b0], *r1 = rows[b0 + 1 < B ? b0 + 1 : b0], *r2 = rows[b0 + 2 < B ? b0 + 2 : b0],
                    *r3 = rows[b0 + 3 < B ? b0 + 3 : b0], *r4 = rows[b0 + 4 < B ? b0 + 4 : b0];
        for (int64_t j0 = 0; j0 < m; j0 += 3) {
            const float *w0 = W + j0 * n, *w1 = W + (j0 + 1 < m ? j0 + 1 : j0) * n,
                        *w2 = W + (j0 + 2 < m ? j0 + 2 : j0) * n;
            v16 a00 = splat(0.0f), a01 = a00, a02 = a00, a10 = a00, a11 = a00, a12 = a00, a20 = a00, a21 = a00,
                a22 = a00, a30 = a00, a31 = a00, a32 = a00, a40 = a00, a41 = a00, a42 = a00;
#define AFFINE_ROW(R, A0, A1, A2) { const v16 xv = LOAD(R); A0 = vfma(xv, u0, A0); A1 = vfma(xv, u1, A1); \
                                    A2 = vfma(xv, u2, A2); }
#define AFFINE_CHUNK                                                                        \
            {                                                                               \
                const v16 u0 = LOAD(w0), u1 = LOAD(w1), u2 = LOAD(w2);                      \
                AFFINE_ROW(r0, a00, a01, a02) AFFINE_ROW(r1, a10, a11, a12)                 \
                AFFINE_ROW(r2, a20, a21, a22) AFFINE_ROW(r3, a30, a31, a32)                 \
                AFFINE_ROW(r4, a40, a41, a42)                                               \
            }
            for (int64_t i = 0; i < full; i += 16) {
                if (nz && !nz[i / 16]) continue;
#define LOAD(p) ld((p) + i)
                AFFINE_CHUNK
#undef LOAD
            }
            if (rest && !(nz && !nz[full / 16])) {
#define LOAD(p) ld_part((p) + full, rest)
                AFFINE_CHUNK
#undef LOAD
            }
            const v16 acc[5][3] = {{a00, a01, a02}, {a10, a11, a12}, {a20, a21, a22}, {a30, a31, a32},
                                   {a40, a41, a42}};
            for (int q = 0; q < 5 && b0 + q < B; q++)
                for (int u = 0; u < 3 && j0 + u < m; u++)
                    out[(b0 + q) * m + j0 + u] = hsum(acc[q][u]) + bias[j0 + u];
        }
    }
}

enum { SIGMOID, RELU, TANH };

static void activate(float *h, int64_t count, int act) {
    if (act == SIGMOID) {  /* 1 / (1 + e^-z), 16 at a time */
        for (int64_t i = 0; i < count; i += 16) {
            const int64_t k = count - i < 16 ? count - i : 16;
            const v16 z = k == 16 ? ld(h + i) : ld_part(h + i, k), y = splat(1.0f) / (splat(1.0f) + vexp(-z));
            if (k == 16) st(h + i, y); else st_part(h + i, y, k);
        }
        return;
    }
    for (int64_t i = 0; i < count; i++) h[i] = act == RELU ? (h[i] > 0.0f ? h[i] : 0.0f) : tanhf(h[i]);
}

/* the derivative of the activation, from its output h */
static inline float act_grad(float h, int act) {
    return act == SIGMOID ? h - h * h : act == RELU ? (h > 0.0f ? 1.0f : 0.0f) : 1.0f - h * h;
}

/* dA[b * n + i] = sum_j dz[b * m + j] * W[j * n + i], j in order (W before this step's update) */
static void back_input(const float *dz, int64_t B, const float *W, int64_t n, int64_t m, float *dA) {
    for (int64_t b = 0; b < B; b++)
        for (int64_t i = 0; i < n; i += 16) {
            const int64_t k = n - i < 16 ? n - i : 16;
            v16 acc = splat(0.0f);
            for (int64_t j = 0; j < m; j++)
                acc = vfma(splat(dz[b * m + j]), k == 16 ? ld(W + j * n + i) : ld_part(W + j * n + i, k), acc);
            if (k == 16) st(dA + b * n + i, acc); else st_part(dA + b * n + i, acc, k);
        }
}

typedef struct {
    int adam, nesterov;
    float neg_lr, momentum, wd;           /* SGD (neg_lr: minus the learning rate) */
    float b1, b2, one_b1, one_b2, neg_step, c2, eps;  /* Adam: neg_step = -lr / (1 - b1^t), c2 = sqrt(1 - b2^t) */
} hyper;

/* torch.optim.SGD / Adam on 16 parameters p with gradient g and state s1 (buffer / m), s2 (v) */
static inline void update(float *p, float *s1, float *s2, v16 g, int64_t k, const hyper *h) {
    v16 pv = k == 16 ? ld(p) : ld_part(p, k), a = k == 16 ? ld(s1) : ld_part(s1, k);
    g = vfma(pv, splat(h->wd), g);
    if (!h->adam) {
        a = vfma(a, splat(h->momentum), g);
        const v16 d = h->nesterov ? vfma(a, splat(h->momentum), g) : a;
        pv = vfma(d, splat(h->neg_lr), pv);
    } else {
        v16 v = k == 16 ? ld(s2) : ld_part(s2, k);
        a = vfma(splat(h->b1), a, splat(h->one_b1) * g);
        v = vfma(splat(h->b2), v, splat(h->one_b2) * g * g);
        const v16 den = vsqrt(v) / splat(h->c2) + splat(h->eps);
        pv = vfma(splat(h->neg_step), a / den, pv);
        if (k == 16) st(s2, v); else st_part(s2, v, k);
    }
    if (k == 16) { st(p, pv); st(s1, a); } else { st_part(p, pv, k); st_part(s1, a, k); }
}

/* The weight gradient W[j, i] <- sum_b dz[b, j] * rows[b][i] (b in order), applied at once by `update`;
   the bias likewise; chunks of inputs that are 0 in every row (nz, as in `affine`) have gradient exactly 0
   and skip the products. With max_norm > 0 each updated row of W is then scaled to norm <= max_norm as
   torch.renorm does (by max_norm / (norm + 1e-7) when over). Returns the squared norm of the weight gradient. */
static void apply_max_norm(float *w, int64_t n, float max_norm) {
    double norm = 0.0;
    for (int64_t q = 0; q < n; q++) norm += (double)w[q] * w[q];
    norm = sqrt(norm);
    if (norm > max_norm) {
        const float scale = (float)(max_norm / (norm + 1e-7));
        for (int64_t q = 0; q < n; q++) w[q] = w[q] * scale;
    }
}

/* Rows j and j2 (a pair shares the loads of `rows`) at four chunks of 16 inputs, at offsets I0..I3:
   g = sum_b dz[b, j] * rows[b][I..I+16) for b in order; each row's chains are the same as alone. */
#define GRAD_PAIR(I0, I1, I2, I3)                                                           \
    v16 g0 = splat(0.0f), g1 = g0, g2 = g0, g3 = g0, e0 = g0, e1 = g0, e2 = g0, e3 = g0;    \
    for (int64_t b = 0; b < B; b++) {                                                       \
        const v16 d = splat(dz[b * m + j]), d2 = splat(dz[b * m + j2]);                     \
        const float *r = rows[b];                                                           \
        v16 xv = ld(r + (I0)); g0 = vfma(d, xv, g0); e0 = vfma(d2, xv, e0);                 \
        xv = ld(r + (I1)); g1 = vfma(d, xv, g1); e1 = vfma(d2, xv, e1);                     \
        xv = ld(r + (I2)); g2 = vfma(d, xv, g2); e2 = vfma(d2, xv, e2);                     \
        xv = ld(r + (I3)); g3 = vfma(d, xv, g3); e3 = vfma(d2, xv, e3);                     \
    }

/* The weight gradient W[j, i] <- sum_b dz[b, j] * rows[b][i] (b in order), applied at once by `update`;
   the bias likewise. `chunks` lists the offsets of the full chunks of 16 inputs, those that are non-zero
   in some row first (n_nz of them): the others have gradient exactly 0 (+0) and skip the products (the
   update still applies decay and momentum). With max_norm > 0 each updated row of W is then scaled to
   norm <= max_norm as torch.renorm does (by max_norm / (norm + 1e-7) when over). Returns the squared norm
   of the weight gradient (per row: the squares' sum in 16 lanes, over the chunks in list order and then
   the partial chunk, then hsum; rows added in order). */
static double grad_update(const float *const *rows, const float *dz, int64_t B, float *W, float *bias,
                          float *s1W, float *s2W, float *s1b, float *s2b, int64_t n, int64_t m, const hyper *h,
                          float max_norm, const int64_t *chunks, int64_t n_nz) {
    const int64_t n_full = n / 16, rest = n - n_full * 16;
    double sumsq = 0.0;
    for (int64_t j = 0; j < m; j += 2) {
        const int64_t j2 = j + 1 < m ? j + 1 : j, pair = j + 1 < m;
        float *w = W + j * n, *a = s1W + j * n, *v = s2W ? s2W + j * n : 0;
        float *w2 = W + j2 * n, *a2 = s1W + j2 * n, *v2 = s2W ? s2W + j2 * n : 0;
        v16 sq = splat(0.0f), sq2 = sq;
        int64_t c = 0;
        for (; c + 4 <= n_nz; c += 4) {  /* four chunks of two rows at once: eight independent chains */
            const int64_t i0 = chunks[c], i1 = chunks[c + 1], i2 = chunks[c + 2], i3 = chunks[c + 3];
            GRAD_PAIR(i0, i1, i2, i3)
            sq = vfma(g0, g0, sq); sq = vfma(g1, g1, sq); sq = vfma(g2, g2, sq); sq = vfma(g3, g3, sq);
            update(w + i0, a + i0, v ? v + i0 : 0, g0, 16, h);
            update(w + i1, a + i1, v ? v + i1 : 0, g1, 16, h);
            update(w + i2, a + i2, v ? v + i2 : 0, g2, 16, h);
            update(w + i3, a + i3, v ? v + i3 : 0, g3, 16, h);
            if (pair) {
                sq2 = vfma(e0, e0, sq2); sq2 = vfma(e1, e1, sq2); sq2 = vfma(e2, e2, sq2); sq2 = vfma(e3, e3, sq2);
                update(w2 + i0, a2 + i0, v2 ? v2 + i0 : 0, e0, 16, h);
                update(w2 + i1, a2 + i1, v2 ? v2 + i1 : 0, e1, 16, h);
                update(w2 + i2, a2 + i2, v2 ? v2 + i2 : 0, e2, 16, h);
                update(w2 + i3, a2 + i3, v2 ? v2 + i3 : 0, e3, 16, h);
            }
        }
        for (int64_t r = 0; r <= pair; r++) {
            const int64_t jj = j + r;
            float *wr = r ? w2 : w, *ar = r ? a2 : a, *vr = r ? v2 : v;
            v16 acc = r ? sq2 : sq;
            for (int64_t q = c; q < n_full; q++) {  /* the remaining non-zero chunks, then the zero ones */
                const int64_t i = chunks[q];
                v16 g = splat(0.0f);
                for (int64_t b = 0; b < B && q < n_nz; b++) g = vfma(splat(dz[b * m + jj]), ld(rows[b] + i), g);
                acc = vfma(g, g, acc);
                update(wr + i, ar + i, vr ? vr + i : 0, g, 16, h);
            }
            if (rest) {
                const int64_t i = n_full * 16;
                v16 g = splat(0.0f);
                for (int64_t b = 0; b < B; b++) g = vfma(splat(dz[b * m + jj]), ld_part(rows[b] + i, rest), g);
                acc = vfma(g, g, acc);
                update(wr + i, ar + i, vr ? vr + i : 0, g, rest, h);
            }
            sumsq += hsum(acc);
            if (max_norm > 0.0f) apply_max_norm(wr, n, max_norm);
            float gb = 0.0f;
            for (int64_t b = 0; b < B; b++) gb = gb + dz[b * m + jj];
            update(bias + jj, s1b + jj, s2b ? s2b + jj : 0, splat(gb), 1, h);
        }
    }
    return sumsq;
}

/* One epoch of configs [k0, k1) of a stack of K, layer sizes dims[0..L]. theta, s1, s2: the flat buffers
   (per layer: W of all K configs [K, out, in], then b [K, out]); s2 is Adam's v (NULL for SGD).
   Batches: rows order[s * B ...] of x [n, dims[0]], labels y; max_norm[k] > 0 bounds hidden units' weights.
   A config with neg_lr[k] == 0 is skipped; one whose loss turns non-finite stops, with loss_sum[k] = NaN. Adam's step count before the epoch: t0.
   Per config: loss_sum[k] += batch mean loss; with track, norm_sum[l * K + k] += |grad W_l|,
   ratio_sum[k] += |grad W_0| / |grad W_{L-1}|, per step. Returns 0, or -1 when memory ran out. */
int hw7_epoch(const int64_t *dims, int64_t L, int64_t K, int64_t k0, int64_t k1,
              float *theta, float *s1, float *s2,
              const float *x, const int64_t *y, const int64_t *order, int64_t n, int64_t B,
              int act, int adam, int nesterov,
              const float *neg_lr, const float *momentum, const float *weight_decay,
              const float *beta1, const float *beta2, const float *max_norm, int64_t t0,
              int track, double *loss_sum, double *norm_sum, double *ratio_sum) {
    int64_t width = 0, total = 0, offW[64], offb[64];
    if (L > 64 || dims[L] > 16) return -1;  /* the softmax holds the classes in one vector */
    for (int64_t l = 0, off = 0; l < L; l++) {
        offW[l] = off;
        offb[l] = off + K * dims[l + 1] * dims[l];
        off = offb[l] + K * dims[l + 1];
        width = dims[l + 1] > width ? dims[l + 1] : width;
        total += dims[l + 1];
    }
    float *h = malloc(sizeof(float) * B * total), *dz = malloc(sizeof(float) * B * width),
          *dA = malloc(sizeof(float) * B * width);
    const float **rows = malloc(sizeof(float *) * B), **in = malloc(sizeof(float *) * B);
    int64_t widest = dims[0];
    for (int64_t l = 1; l < L; l++) widest = dims[l] > widest ? dims[l] : widest;
    char *alive = malloc(K), *nz = malloc((dims[0] + 15) / 16);
    int64_t *chunks0 = malloc(sizeof(int64_t) * (dims[0] / 16 + 1)), *zeros = malloc(sizeof(int64_t) * (dims[0] / 16 + 1)),
            *all = malloc(sizeof(int64_t) * (widest / 16 + 1));
    if (!h || !dz || !dA || !rows || !in || !alive || !nz || !chunks0 || !zeros || !all) {
        free(h); free(dz); free(dA); free(rows); free(in); free(alive); free(nz); free(chunks0); free(zeros); free(all);
        return -1;
    }
    for (int64_t k = k0; k < k1; k++) alive[k] = neg_lr[k] != 0.0f;
    for (int64_t c = 0; c < widest / 16 + 1; c++) all[c] = c * 16;  /* every full chunk, in order */
    const int64_t steps = (n + B - 1) / B, C = dims[L];
    for (int64_t s = 0; s < steps; s++) {
        const int64_t Bs = n - s * B < B ? n - s * B : B;
        for (int64_t b = 0; b < Bs; b++) rows[b] = x + order[s * B + b] * dims[0];
        /* which chunks of 16 pixels are non-zero in some image; the full ones listed non-zero first */
        int64_t n_nz = 0, n_zero = 0;
        for (int64_t c = 0; c * 16 < dims[0]; c++) {
            nz[c] = 0;
            for (int64_t b = 0; b < Bs && !nz[c]; b++)
                for (int64_t i = c * 16; i < dims[0] && i < c * 16 + 16; i++) nz[c] |= rows[b][i] != 0.0f;
            if ((c + 1) * 16 <= dims[0]) {
                if (nz[c]) chunks0[n_nz++] = c * 16; else zeros[n_zero++] = c * 16;
            }
        }
        memcpy(chunks0 + n_nz, zeros, sizeof(int64_t) * n_zero);
        for (int64_t k = k0; k < k1; k++) {
            if (!alive[k]) continue;
            hyper hp = {adam, nesterov, neg_lr[k], momentum[k], weight_decay[k]};
            if (adam) {
                const double t = (double)(t0 + s + 1);
                hp.b1 = beta1[k]; hp.b2 = beta2[k];
                hp.one_b1 = 1.0f - beta1[k]; hp.one_b2 = 1.0f - beta2[k];
                hp.neg_step = (float)(neg_lr[k] / (1.0 - pow(beta1[k], t)));
                hp.c2 = (float)sqrt(1.0 - pow(beta2[k], t));
                hp.eps = 1e-8f;
            }
            /* forward: h holds every layer's output, [B, dims[l + 1]] each, the last one the logits */
            float *out = h;
            for (int64_t l = 0; l < L; l++) {
                const float *const *src = rows;
                if (l > 0) {
                    for (int64_t b = 0; b < Bs; b++) in[b] = out - Bs * dims[l] + b * dims[l];
                    src = in;
                }
                affine(src, Bs, theta + offW[l] + k * dims[l + 1] * dims[l], theta + offb[l] + k * dims[l + 1],
                       dims[l], dims[l + 1], out, l == 0 ? nz : 0);
                if (l < L - 1) activate(out, Bs * dims[l + 1], act);
                out += Bs * dims[l + 1];
            }
            /* softmax cross-entropy: loss and d loss / d logits, mean over the batch */
            const float *logits = out - Bs * C;
            float loss = 0.0f;
            for (int64_t b = 0; b < Bs; b++) {  /* C = 10 classes in the lanes of one vector */
                const float *z = logits + b * C;
                const int64_t label = y[order[s * B + b]];
                float mx = z[0], sum = 0.0f;
                for (int64_t c = 1; c < C; c++) mx = z[c] > mx ? z[c] : mx;
                const v16 zv = ld_part(z, C), e = vexp(zv - splat(mx));
                for (int64_t c = 0; c < C; c++) sum += e[c];
                const v16 logp = zv - splat(mx) - splat(logf(sum)), p = vexp(logp);
                loss -= logp[label];
                for (int64_t c = 0; c < C; c++) dz[b * C + c] = (p[c] - (c == label ? 1.0f : 0.0f)) / (float)Bs;
            }
            loss /= (float)Bs;
            if (!isfinite(loss)) {
                loss_sum[k] = NAN;
                alive[k] = 0;
                continue;
            }
            loss_sum[k] += loss;
            /* backward, top layer down: the input's gradient with the old weights, then the fused update */
            double first = 0.0, last = 0.0;
            out = h + Bs * (total - C);  /* start of the logits */
            for (int64_t l = L - 1; l >= 0; l--) {
                const int64_t ni = dims[l], no = dims[l + 1];
                float *W = theta + offW[l] + k * no * ni, *bias = theta + offb[l] + k * no;
                const float *const *src = rows;
                if (l > 0) {
                    const float *hin = out - Bs * ni;
                    for (int64_t b = 0; b < Bs; b++) in[b] = hin + b * ni;
                    src = in;
                    back_input(dz, Bs, W, ni, no, dA);
                    for (int64_t i = 0; i < Bs * ni; i++) dA[i] = dA[i] * act_grad(hin[i], act);
                }
                const double sq = grad_update(src, dz, Bs, W, bias, s1 + offW[l] + k * no * ni,
                                              s2 ? s2 + offW[l] + k * no * ni : 0, s1 + offb[l] + k * no,
                                              s2 ? s2 + offb[l] + k * no : 0, ni, no, &hp,
                                              l < L - 1 ? max_norm[k] : 0.0f, l == 0 ? chunks0 : all,
                                              l == 0 ? n_nz : ni / 16);
                if (track) {
                    const double norm = sqrt(sq);
                    norm_sum[l * K + k] += norm;
                    if (l == L - 1) last = norm;
                    if (l == 0) first = norm;
                }
                if (l > 0) {
                    float *t = dz; dz = dA; dA = t;
                    out -= Bs * ni;
                }
            }
            if (track) ratio_sum[k] += first / last;
        }
    }
    free(h); free(dz); free(dA); free(rows); free(in); free(alive); free(nz); free(chunks0); free(zeros); free(all);
    return 0;
}
