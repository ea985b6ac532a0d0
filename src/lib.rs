//! mcpi estimates π by Monte Carlo as an SPMD MPI batch job, reproducibly.
//!
//! Every rank counts a contiguous range of batches; batch `b` draws from its own
//! xoshiro256++ stream, `b` long jumps (b·2^192 steps) from the seed, split into
//! 32 lanes a jump (2^128 steps) apart ([`stream`]). A sample is one 64-bit output
//! read as two signed 32-bit coordinates, inside when x² + y² < 2^62 ([`kernel`]).
//! The inside counts are summed on rank 0 ([`comm`]), which estimates
//! π̂ = 4·inside/N with its binomial error bar ([`stats`]) and writes one report as
//! text, JSON and HDF5 ([`report`]). The count is a pure function of
//! (seed, samples, batch size): the same on any number of ranks.
//!
//! Launch with `mpirun -n 64 mcpi run --samples 1e12` or `srun mcpi run`; plain
//! `mcpi run` runs as a single process.
#![deny(missing_docs)]

pub mod checkpoint;
pub mod cli;
pub mod comm;
pub mod error;
pub mod kernel;
pub mod plan;
pub mod progress;
pub mod report;
pub mod run;
pub mod signals;
pub mod stats;
pub mod stream;
pub mod study;
pub mod target;
pub mod work;
