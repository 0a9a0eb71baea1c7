/* The head 1x1 conv (CIN -> COUT over P pixels, strips of 32 output channels outermost, 7-pixel x
 * 2-vector register tiles), its ReLU and global mean, then the classifier (COUT -> NCLS), one thread:
 * "apart" runs the classifier after every strip, "fused" runs each strip's share of the classifier
 * (its 32 input channels) right after the strip, so the classifier's weight stream (memory-bound)
 * interleaves with the conv's FMAs (compute-bound). Same bytes, same layouts; only the order differs.
 * Timed hot and after a 64 MB write, the variants alternating.  cc -O3 -march=native headfuse.c */
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int CIN = 352, COUT = 1984, P = 49, NCLS = 1000, NPAD;
static float *x, *wc, *bc, *wd, *bd, *pool, *out, *flush;

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

static const char *pf_base = 0; static int pf_lines = 0;
static void strip(int s) {             /* conv + bias + ReLU + mean for output channels s*32 .. s*32+31 */
    __m512 sum0 = _mm512_setzero_ps(), sum1 = _mm512_setzero_ps();
    const float *w = wc + (size_t)s * CIN * 32;
    __m512 b0 = _mm512_loadu_ps(bc + s * 32), b1 = _mm512_loadu_ps(bc + s * 32 + 16), z = _mm512_setzero_ps();
    for (int t = 0; t < P / 7; t++) {
        __m512 a[7][2];
        for (int p = 0; p < 7; p++) a[p][0] = a[p][1] = _mm512_setzero_ps();
        const float *xt = x + (size_t)t * 7 * CIN;
        for (int c = 0; c < CIN; c++) {
            int line = t * CIN + c;
            if (line < pf_lines) _mm_prefetch(pf_base + (size_t)line * 64, _MM_HINT_T1);
            __m512 w0 = _mm512_loadu_ps(w + c * 32), w1 = _mm512_loadu_ps(w + c * 32 + 16);
            for (int p = 0; p < 7; p++) {
                __m512 xv = _mm512_set1_ps(xt[p * CIN + c]);
                a[p][0] = _mm512_fmadd_ps(xv, w0, a[p][0]);
                a[p][1] = _mm512_fmadd_ps(xv, w1, a[p][1]);
            }
        }
        for (int p = 0; p < 7; p++) {
            sum0 = _mm512_add_ps(sum0, _mm512_max_ps(_mm512_add_ps(a[p][0], b0), z));
            sum1 = _mm512_add_ps(sum1, _mm512_max_ps(_mm512_add_ps(a[p][1], b1), z));
        }
    }
    __m512 inv = _mm512_set1_ps(1.0f / P);
    _mm512_storeu_ps(pool + s * 32, _mm512_mul_ps(sum0, inv));
    _mm512_storeu_ps(pool + s * 32 + 16, _mm512_mul_ps(sum1, inv));
}

static void classify(int s) {          /* out += wd[s] (32 x NPAD, channel-major) . pool[s*32 ..] */
    const float *w = wd + (size_t)s * 32 * NPAD;
    for (int c = 0; c < 32; c++) {
        __m512 pv = _mm512_set1_ps(pool[s * 32 + c]);
        const float *wr = w + (size_t)c * NPAD;
        for (int j = 0; j < NPAD; j += 16)
            _mm512_storeu_ps(out + j, _mm512_fmadd_ps(pv, _mm512_loadu_ps(wr + j), _mm512_loadu_ps(out + j)));
    }
}

static void run(int fused) {
    int strips = COUT / 32;
    memcpy(out, bd, NPAD * sizeof(float));
    if (fused == 2) { for (int s = 0; s < strips; s++) strip(s); return; }
    if (fused == 3) { for (int s = 0; s < strips; s++) classify(s); return; }
    if (fused == 4) {   /* each strip prefetches its share of the classifier's weights, then runs it */
        pf_lines = 32 * NPAD * 4 / 64;
        for (int s = 0; s < strips; s++) { pf_base = (const char *)(wd + (size_t)s * 32 * NPAD); strip(s); classify(s); }
        pf_lines = 0;
        return;
    }
    for (int s = 0; s < strips; s++) { strip(s); if (fused) classify(s); }
    if (!fused) for (int s = 0; s < strips; s++) classify(s);
}

static float *rnd(size_t n) { float *p = aligned_alloc(64, ((n * 4 + 63) / 64) * 64); for (size_t i = 0; i < n; i++) p[i] = rand() / (float)RAND_MAX - 0.5f; return p; }
static int cmp(const void *a, const void *b) { double d = *(double *)a - *(double *)b; return (d > 0) - (d < 0); }
static double median(double *v, int n) { qsort(v, n, sizeof(double), cmp); return v[n / 2]; }

int main(int argc, char **argv) {
    if (argc > 1) sscanf(argv[1], "%d,%d,%d,%d", &CIN, &COUT, &P, &NCLS);
    int rounds = argc > 2 ? atoi(argv[2]) : 15;
    NPAD = (NCLS + 15) / 16 * 16;
    x = rnd((size_t)P * CIN); wc = rnd((size_t)CIN * COUT); bc = rnd(COUT); wd = rnd((size_t)COUT * NPAD);
    bd = rnd(NPAD); pool = rnd(COUT); out = rnd(NPAD); flush = rnd(16 << 20);
    float ref[4096];
    run(0); memcpy(ref, out, NPAD * 4); run(4);
    for (int j = 0; j < NCLS; j++) if (abs((int)((ref[j] - out[j]) * 1e4f)) > 1) { printf("mismatch %d\n", j); return 1; }
    double hot[2][64], cold[2][64], t[11];
    for (int r = 0; r < rounds; r++)
        for (int v = 0; v < 2; v++) {
            for (int i = 0; i < 11; i++) { double s = now(); run(v ? 4 : 0); t[i] = now() - s; }
            hot[v][r] = median(t, 11);
            for (int i = 0; i < 11; i++) { for (size_t k = 0; k < (16u << 20); k += 16) flush[k] += 1.0f; double s = now(); run(v ? 4 : 0); t[i] = now() - s; }
            cold[v][r] = median(t, 11);
        }
    for (int v = 2; v < 4; v++) {
        double h[15], c[15];
        for (int r = 0; r < 5; r++) {
            for (int i = 0; i < 11; i++) { double s = now(); run(v); t[i] = now() - s; }
            h[r] = median(t, 11);
            for (int i = 0; i < 11; i++) { for (size_t k = 0; k < (16u << 20); k += 16) flush[k] += 1.0f; double s = now(); run(v); t[i] = now() - s; }
            c[r] = median(t, 11);
        }
        printf("%s alone: hot %.0f us cold %.0f us\n", v == 2 ? "conv" : "classifier", median(h, 5) * 1e6, median(c, 5) * 1e6);
    }
    double rh[64], rc[64];
    for (int r = 0; r < rounds; r++) { rh[r] = hot[1][r] / hot[0][r]; rc[r] = cold[1][r] / cold[0][r]; }
    double gfl = 2.0 * CIN * COUT * P / 1e9;
    printf("%d->%d @%d px, classifier %d: apart hot %.0f us (conv %.0f GFLOP/s) cold %.0f us | fused + prefetched hot x%.3f cold x%.3f\n",
           CIN, COUT, P, NCLS, median(hot[0], rounds) * 1e6, gfl / median(hot[0], rounds), median(cold[0], rounds) * 1e6,
           median(rh, rounds), median(rc, rounds));
    return 0;
}
