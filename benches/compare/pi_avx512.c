/* The hand-written C reference kernel mcpi's avx512 variant is measured against:
 * 32 xoshiro256++ lanes as four 8-lane AVX-512 vectors, one 64-bit word per
 * sample, signed 32-bit halves, x^2 + y^2 < 2^62. Prints samples/s on one core.
 * Build: gcc -O3 -mavx512f pi_avx512.c -o pi_avx512 */
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static uint64_t splitmix(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static uint64_t count(__m512i s[4][4], uint64_t rounds) {
  __m512i acc[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(),
                    _mm512_setzero_si512()};
  const __m512i limit = _mm512_set1_epi64(1ULL << 62), one = _mm512_set1_epi64(1);
  __m512i S0[4], S1[4], S2[4], S3[4]; /* the states live in registers */
  for (int v = 0; v < 4; v++) { S0[v] = s[0][v]; S1[v] = s[1][v]; S2[v] = s[2][v]; S3[v] = s[3][v]; }
  for (uint64_t r = 0; r < rounds; r++) {
    for (int v = 0; v < 4; v++) {
      __m512i s0 = S0[v], s1 = S1[v], s2 = S2[v], s3 = S3[v];
      __m512i out = _mm512_add_epi64(_mm512_rol_epi64(_mm512_add_epi64(s0, s3), 23), s0);
      __m512i x = _mm512_srli_epi64(out, 32);
      __m512i r2 = _mm512_add_epi64(_mm512_mul_epi32(x, x), _mm512_mul_epi32(out, out));
      acc[v] = _mm512_mask_add_epi64(acc[v], _mm512_cmplt_epu64_mask(r2, limit), acc[v], one);
      __m512i t = _mm512_slli_epi64(s1, 17);
      s2 = _mm512_xor_si512(s2, s0);
      s3 = _mm512_xor_si512(s3, s1);
      s1 = _mm512_xor_si512(s1, s2);
      s0 = _mm512_xor_si512(s0, s3);
      s2 = _mm512_xor_si512(s2, t);
      s3 = _mm512_rol_epi64(s3, 45);
      S0[v] = s0; S1[v] = s1; S2[v] = s2; S3[v] = s3;
    }
  }
  uint64_t total = 0;
  for (int v = 0; v < 4; v++) total += _mm512_reduce_add_epi64(acc[v]);
  return total;
}

int main(int argc, char **argv) {
  uint64_t n = argc > 1 ? strtoull(argv[1], 0, 10) : 4000000000ULL, seed = 1;
  __m512i s[4][4];
  for (int k = 0; k < 4; k++)
    for (int v = 0; v < 4; v++)
      s[k][v] = _mm512_set_epi64(splitmix(&seed), splitmix(&seed), splitmix(&seed), splitmix(&seed),
                                 splitmix(&seed), splitmix(&seed), splitmix(&seed), splitmix(&seed));
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  uint64_t inside = count(s, n / 32);
  clock_gettime(CLOCK_MONOTONIC, &b);
  double secs = (b.tv_sec - a.tv_sec) + 1e-9 * (b.tv_nsec - a.tv_nsec);
  printf("c-avx512 %.4e samples/s (pi ~ %.6f)\n", (n / 32 * 32) / secs, 4.0 * inside / (n / 32 * 32));
  return 0;
}
