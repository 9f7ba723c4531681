#include <math.h>
#include <stdint.h>

/* torch.lerp on the CPU: self + w * (end - self) for |w| < 0.5, else end - (end - self) * (1 - w),
   each with one rounding of the product-sum. */
static inline float lerp(float s, float e, float w) {
    float d = e - s;
    return fabsf(w) < 0.5f ? fmaf(w, d, s) : fmaf(-d, 1.0f - w, e);
}

/* torch.optim.SGD as StackedSGD writes it: g += wd * p; buf = buf * m + g;
   g = g + m * buf (Nesterov) or buf; p += neg_lr * g. */
void hw7_sgd(float *restrict p, const float *restrict g, float *restrict buf,
             const int64_t *start, const int32_t *cfg, int64_t n_seg,
             const float *restrict neg_lr, int lr_per_element,
             const float *momentum, const float *weight_decay, int nesterov) {
    for (int64_t s = 0; s < n_seg; s++) {
        const int32_t k = cfg[s];
        const float m = momentum[k], wd = weight_decay[k], lr = neg_lr[k];
        for (int64_t i = start[s]; i < start[s + 1]; i++) {
            const float gi = fmaf(p[i], wd, g[i]);
            const float b = buf[i] * m + gi;
            buf[i] = b;
            const float d = nesterov ? fmaf(b, m, gi) : b;
            p[i] = fmaf(d, lr_per_element ? neg_lr[i] : lr, p[i]);
        }
    }
}

/* torch.optim.Adam as StackedAdam writes it, in two passes around torch.sqrt (ATen's sqrt on the CPU
   is MKL's vector sqrt, not always the correctly rounded one, so it stays a torch op).
   Moments: g += wd * p; m = lerp(m, g, 1 - beta1); v = lerp(v, g * g, 1 - beta2). */
void hw7_adam_moments(const float *restrict p, const float *restrict g, float *restrict m, float *restrict v,
                      const int64_t *start, const int32_t *cfg, int64_t n_seg,
                      const float *weight_decay, const float *w1, const float *w2) {
    for (int64_t s = 0; s < n_seg; s++) {
        const int32_t k = cfg[s];
        const float wd = weight_decay[k], a1 = w1[k], a2 = w2[k];
        for (int64_t i = start[s]; i < start[s + 1]; i++) {
            const float gi = fmaf(p[i], wd, g[i]);
            m[i] = lerp(m[i], gi, a1);
            v[i] = lerp(v[i], gi * gi, a2);
        }
    }
}

/* Update, given root = sqrt(v): den = root / bc2_sqrt + eps; then either
   p += (scale * (m / den)) * neg_lr with scale = 1 / bc1 (shared betas), or
   p += (m / (den * bc1)) * neg_lr (per-config betas). */
void hw7_adam_update(float *restrict p, const float *restrict m, const float *restrict root,
                     const int64_t *start, const int32_t *cfg, int64_t n_seg,
                     const float *restrict neg_lr, int lr_per_element,
                     const float *bc2_sqrt, const float *bc1, float eps, int shared) {
    for (int64_t s = 0; s < n_seg; s++) {
        const int32_t k = cfg[s];
        const float c2 = bc2_sqrt[k], c1 = bc1[k], lr = neg_lr[k];
        for (int64_t i = start[s]; i < start[s + 1]; i++) {
            const float den = root[i] / c2 + eps;
            const float step = shared ? c1 * (m[i] / den) : m[i] / (den * c1);
            p[i] = fmaf(step, lr_per_element ? neg_lr[i] : lr, p[i]);
        }
    }
}
