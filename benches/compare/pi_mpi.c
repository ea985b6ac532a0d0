/* The "typical C MPI code" mcpi is compared against (scripts/compare.sh): one
 * scalar xoshiro256++ per rank (splitmix64-seeded from 1, rank r advanced by r
 * long_jump()s), two doubles in [0, 1) per sample, x*x + y*y < 1.0, counts
 * summed to rank 0 with MPI_Reduce. Prints total samples/s and the estimate.
 * Build: mpicc -O3 -march=x86-64-v2 pi_mpi.c -o pi_mpi
 *   (no -march=native: a portable build for a cluster's mixed nodes is typical)
 * Run:   mpirun -n 4 ./pi_mpi 8e9     (total samples, default 4e9) */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t s[4];

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t next(void) {
  const uint64_t result = rotl(s[0] + s[3], 23) + s[0];
  const uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

/* Equivalent to 2^192 calls to next(): 2^64 non-overlapping streams. */
static void long_jump(void) {
  static const uint64_t LONG_JUMP[] = {0x76e15d3efefdcbbfULL, 0xc5004e441c522fb3ULL,
                                       0x77710069854ee241ULL, 0x39109bb02acbe635ULL};
  uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (int i = 0; i < 4; i++)
    for (int b = 0; b < 64; b++) {
      if (LONG_JUMP[i] & UINT64_C(1) << b) {
        s0 ^= s[0];
        s1 ^= s[1];
        s2 ^= s[2];
        s3 ^= s[3];
      }
      next();
    }
  s[0] = s0; s[1] = s1; s[2] = s2; s[3] = s3;
}

static inline double next_double(void) { return (next() >> 11) * 0x1.0p-53; }

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);

  uint64_t total = argc > 1 ? (uint64_t)strtod(argv[1], 0) : 4000000000ULL;
  uint64_t mine = total / size + ((uint64_t)rank < total % size);

  uint64_t seed = 1;
  for (int i = 0; i < 4; i++) s[i] = splitmix64(&seed);
  for (int r = 0; r < rank; r++) long_jump();

  MPI_Barrier(MPI_COMM_WORLD);
  double t0 = MPI_Wtime();
  uint64_t inside = 0, all = 0;
  for (uint64_t i = 0; i < mine; i++) {
    double x = next_double(), y = next_double();
    inside += x * x + y * y < 1.0;
  }
  MPI_Reduce(&inside, &all, 1, MPI_UINT64_T, MPI_SUM, 0, MPI_COMM_WORLD);
  double secs = MPI_Wtime() - t0; /* on rank 0 the reduce waits for the slowest rank */

  if (rank == 0)
    printf("c-mpi-scalar %d ranks %.4e samples/s (pi ~ %.6f)\n", size, total / secs,
           4.0 * all / total);
  MPI_Finalize();
  return 0;
}
