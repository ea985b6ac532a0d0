/* A hand-written C AVX2 kernel, to measure mcpi's avx2 variant against: 8 lanes
 * as two 4-lane vectors per state word (what 16 ymm registers hold), one 64-bit
 * word per sample, signed 32-bit halves, x^2 + y^2 < 2^62. Prints samples/s on
 * one core. Build: gcc -O3 -mavx2 pi_avx2.c -o pi_avx2 */
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

#define ROL(a, k) _mm256_or_si256(_mm256_slli_epi64(a, k), _mm256_srli_epi64(a, 64 - (k)))

static uint64_t count(uint64_t seed, uint64_t rounds) {
  __m256i s0[2], s1[2], s2[2], s3[2], acc[2];
  for (int v = 0; v < 2; v++) {
    s0[v] = _mm256_set_epi64x(splitmix(&seed), splitmix(&seed), splitmix(&seed), splitmix(&seed));
    s1[v] = _mm256_set_epi64x(splitmix(&seed), splitmix(&seed), splitmix(&seed), splitmix(&seed));
    s2[v] = _mm256_set_epi64x(splitmix(&seed), splitmix(&seed), splitmix(&seed), splitmix(&seed));
    s3[v] = _mm256_set_epi64x(splitmix(&seed), splitmix(&seed), splitmix(&seed), splitmix(&seed));
    acc[v] = _mm256_setzero_si256();
  }
  const __m256i zero = _mm256_setzero_si256();
  for (uint64_t r = 0; r < rounds; r++) {
    for (int v = 0; v < 2; v++) {
      __m256i out = _mm256_add_epi64(ROL(_mm256_add_epi64(s0[v], s3[v]), 23), s0[v]);
      __m256i x = _mm256_srli_epi64(out, 32);
      __m256i r2 = _mm256_add_epi64(_mm256_mul_epi32(x, x), _mm256_mul_epi32(out, out));
      acc[v] = _mm256_sub_epi64(acc[v], _mm256_cmpeq_epi64(_mm256_srli_epi64(r2, 62), zero));
      __m256i t = _mm256_slli_epi64(s1[v], 17);
      s2[v] = _mm256_xor_si256(s2[v], s0[v]);
      s3[v] = _mm256_xor_si256(s3[v], s1[v]);
      s1[v] = _mm256_xor_si256(s1[v], s2[v]);
      s0[v] = _mm256_xor_si256(s0[v], s3[v]);
      s2[v] = _mm256_xor_si256(s2[v], t);
      s3[v] = ROL(s3[v], 45);
    }
  }
  uint64_t a[4], total = 0;
  for (int v = 0; v < 2; v++) {
    _mm256_storeu_si256((__m256i *)a, acc[v]);
    total += a[0] + a[1] + a[2] + a[3];
  }
  return total;
}

int main(int argc, char **argv) {
  uint64_t n = argc > 1 ? strtoull(argv[1], 0, 10) : 4000000000ULL;
  uint64_t rounds = n / 8;
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  uint64_t inside = count(1, rounds);
  clock_gettime(CLOCK_MONOTONIC, &b);
  double secs = (b.tv_sec - a.tv_sec) + 1e-9 * (b.tv_nsec - a.tv_nsec);
  printf("c-avx2 %.4e samples/s (pi ~ %.6f)\n", rounds * 8 / secs, 4.0 * inside / (rounds * 8));
  return 0;
}
