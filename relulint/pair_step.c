/* relulint: the probe's pair-engine layer step, fused into one pass (see relulint/pair_step.py).
 *
 * One bias-free, Gaussian-reduced ReLU layer at two points whose inputs came out of a ReLU
 * (`dying` Eq. 3.1 with the Gaussian reduction: only the joint law of the pre-activations at the points
 * matters). Per sample j, from the Gram of its inputs (uu, vv, uv):
 *   s = root / (w + root),  root = sqrt(max(uu vv - uv^2, 0)),  w = uv + tiny   (float32)
 *   cos = min(w / sqrt(uu vv), 1)                               (cos of the angle between the inputs)
 *   z1 <- z0 + s (z1 - z0),  h = max(z, 0)                      (written back over eps if keep)
 *   gram_out = (sum_n h0^2, sum_n h1^2, sum_n h0 h1)            (float64: the products of two floats are
 *                                                                 exact there; summed over the units in order)
 *   zero = the layer is zero at both points
 * s is 1 - t of the lerp weight t = w / (w + root) in the form that stays accurate for nearly identical
 * inputs (s small). NaN propagates as in PyTorch (relu, max and min keep it).
 *
 * Every operation is a correctly rounded IEEE operation in the order written (built with
 * -ffp-contract=off -fno-fast-math), so the PyTorch path in pair_step.py gives bit-identical results.
 */
#include <math.h>
#include <stdint.h>

#define TILE 512

/* x + s (y - x): three correctly rounded float32 operations (pair_step.py does the same three) */
static inline float lerp(float x, float y, float s) { return x + s * (y - x); }
static inline float relu(float x) { return x < 0.0f ? 0.0f : x; }
static inline double square(float x) { return (double)x * (double)x; }
static inline double times(float x, float y) { return (double)x * (double)y; }

/* The units of one tile of samples: lerp, ReLU, the three sums (two units a pass: fewer trips through the
 * sums, the same order). `keep` is a constant at each call, so each version vectorises without a branch. */
static inline void units_of_tile(float *restrict z0, float *restrict z1, const float *restrict s,
                                 double *restrict p, double *restrict q, double *restrict r, int64_t units,
                                 int64_t m, int64_t len, const int keep)
{
    int64_t n = 0;
    for (; n + 1 < units; n += 2) {
        float *restrict a = z0 + n * m, *restrict a2 = a + m;
        float *restrict b = z1 + n * m, *restrict b2 = b + m;
        for (int64_t k = 0; k < len; k++) {
            const float h0 = relu(a[k]), h1 = relu(lerp(a[k], b[k], s[k]));
            const float g0 = relu(a2[k]), g1 = relu(lerp(a2[k], b2[k], s[k]));
            if (keep) {
                a[k] = h0;
                b[k] = h1;
                a2[k] = g0;
                b2[k] = g1;
            }
            p[k] = (p[k] + square(h0)) + square(g0);
            q[k] = (q[k] + square(h1)) + square(g1);
            r[k] = (r[k] + times(h0, h1)) + times(g0, g1);
        }
    }
    for (; n < units; n++) {
        float *restrict a = z0 + n * m, *restrict b = z1 + n * m;
        for (int64_t k = 0; k < len; k++) {
            const float h0 = relu(a[k]), h1 = relu(lerp(a[k], b[k], s[k]));
            if (keep) {
                a[k] = h0;
                b[k] = h1;
            }
            p[k] += square(h0);
            q[k] += square(h1);
            r[k] += times(h0, h1);
        }
    }
}

void relulint_pair_step(const double *restrict gram, float *restrict eps, double *restrict gram_out,
                        double *restrict cos_out, unsigned char *restrict zero, int64_t units, int64_t m,
                        double tiny, int64_t keep)
{
    const double *uu = gram, *vv = gram + m, *uv = gram + 2 * m;
    float *z0 = eps, *z1 = eps + units * m;
    double *p = gram_out, *q = gram_out + m, *r = gram_out + 2 * m;
    float s[TILE];
    for (int64_t j0 = 0; j0 < m; j0 += TILE) {
        const int64_t len = m - j0 < TILE ? m - j0 : TILE;
        for (int64_t k = 0; k < len; k++) {
            const int64_t j = j0 + k;
            const double prod = uu[j] * vv[j];
            const double gap = prod - uv[j] * uv[j];
            const double root = sqrt(gap < 0.0 ? 0.0 : gap);
            const double w = uv[j] + tiny;
            s[k] = (float)(root / (w + root));
            const double c = w / sqrt(prod); /* +inf where a point is zero: cos = 1 */
            cos_out[j] = c > 1.0 ? 1.0 : c;
            p[j] = q[j] = r[j] = 0.0;
        }
        if (keep)
            units_of_tile(z0 + j0, z1 + j0, s, p + j0, q + j0, r + j0, units, m, len, 1);
        else
            units_of_tile(z0 + j0, z1 + j0, s, p + j0, q + j0, r + j0, units, m, len, 0);
        for (int64_t k = 0; k < len; k++)
            zero[j0 + k] = p[j0 + k] == 0.0 && q[j0 + k] == 0.0;
    }
}

/* The Gram of states h (points x units x m, points <= 2) into out (3 x m for two points: sum h0^2, sum h1^2,
 * sum h0 h1; 1 x m for one), as pair_step.py's gram_of: the products of two floats (exact in float64) summed
 * over the units in order in float64, from zero. */
void relulint_gram(const float *restrict h, double *restrict out, int64_t points, int64_t units, int64_t m)
{
    const int64_t rows = points == 2 ? 3 : 1;
    for (int64_t j = 0; j < rows * m; j++)
        out[j] = 0.0;
    for (int64_t j0 = 0; j0 < m; j0 += TILE) {
        const int64_t len = m - j0 < TILE ? m - j0 : TILE;
        double *restrict p = out + j0;
        for (int64_t n = 0; n < units; n++) {
            const float *restrict a = h + n * m + j0;
            if (points == 2) {
                const float *restrict b = h + (units + n) * m + j0;
                double *restrict q = out + m + j0, *restrict r = out + 2 * m + j0;
                for (int64_t k = 0; k < len; k++) {
                    p[k] += square(a[k]);
                    q[k] += square(b[k]);
                    r[k] += times(a[k], b[k]);
                }
            } else {
                for (int64_t k = 0; k < len; k++)
                    p[k] += square(a[k]);
            }
        }
    }
}

/* One Rao-Blackwellised layer's bookkeeping (probe.py's _Run.record_expected): over the alive rows, the live
 * units in fixed point, nearbyint(phi * scale + offset) (integers: exact in any order), into *live; the rows
 * the layer kills (zero and alive) into died, and out of alive. Returns how many it killed. */
int64_t relulint_tally(const double *restrict phi, const unsigned char *restrict zero,
                       unsigned char *restrict alive, unsigned char *restrict died, int64_t m, double scale,
                       double offset, int64_t *restrict live)
{
    int64_t total = 0, killed = 0;
    for (int64_t j = 0; j < m; j++) {
        const int64_t units = (int64_t)nearbyint(phi[j] * scale + offset);
        const unsigned char here = alive[j], gone = (unsigned char)(here & zero[j]);
        total += here ? units : 0;
        died[j] = gone;
        alive[j] = (unsigned char)(here & !gone);
        killed += gone;
    }
    *live = total;
    return killed;
}

/* max(t, x) as PyTorch's amax (NaN propagates); and a unit's share of the live count: 1 if nonzero at some
 * point, 0 if zero (NaN propagates, as through PyTorch's sign and sum) */
static inline float top_of(float t, float x) { return (x > t || x != x) ? x : t; }
static inline float live_of(float any) { return any > 0.0f ? 1.0f : (any == 0.0f ? 0.0f : any); }

/* A drawn (not reduced) layer's states z (points x units x m, points <= 2) after its affine map: ReLU in place,
 * the live units of each sample (units nonzero at some point; as float, exact) into live (m), and each point's
 * largest unit into top (points x m). pair_step.py's relu_state. */
void relulint_relu_state(float *restrict z, float *restrict live, float *restrict top, int64_t points,
                         int64_t units, int64_t m)
{
    for (int64_t j0 = 0; j0 < m; j0 += TILE) {
        const int64_t len = m - j0 < TILE ? m - j0 : TILE;
        float *restrict t0 = top + j0, *restrict count = live + j0;
        for (int64_t k = 0; k < len; k++)
            count[k] = 0.0f;
        if (points == 2) {
            float *restrict t1 = top + m + j0;
            for (int64_t n = 0; n < units; n++) {
                float *restrict a = z + n * m + j0, *restrict b = z + (units + n) * m + j0;
                for (int64_t k = 0; k < len; k++) {
                    const float h0 = relu(a[k]), h1 = relu(b[k]);
                    a[k] = h0;
                    b[k] = h1;
                    t0[k] = n == 0 ? h0 : top_of(t0[k], h0);
                    t1[k] = n == 0 ? h1 : top_of(t1[k], h1);
                    count[k] += live_of(h0 + h1);
                }
            }
        } else {
            for (int64_t n = 0; n < units; n++) {
                float *restrict a = z + n * m + j0;
                for (int64_t k = 0; k < len; k++) {
                    const float h0 = relu(a[k]);
                    a[k] = h0;
                    t0[k] = n == 0 ? h0 : top_of(t0[k], h0);
                    count[k] += live_of(h0);
                }
            }
        }
    }
}
