//! mcpi estimates π by Monte Carlo as an SPMD MPI batch job, reproducibly.
//!
//! Every rank counts a contiguous share of the batches (split again over its
//! threads, [`job::team`]); batch `b` draws from its
//! own xoshiro256++ stream, `b` long jumps (b·2^192 steps) from the seed, split
//! into 32 lanes a jump (2^128 steps) apart ([`stream`]). A sample is one 64-bit
//! output read as two signed 32-bit coordinates, inside when x² + y² < 2^62
//! ([`kernel`]). Per-batch counts move to rank 0 as they fill ([`protocol`], on
//! [`comm`]) into its count [`store`]; the inside counts are summed on rank 0,
//! which estimates π̂ = 4·inside/N with its binomial error bar ([`stats`]) and
//! writes one report as text, JSON and HDF5 ([`report`]). The count is a pure
//! function of (seed, samples, batch size): the same on any number of ranks.
//!
//! Read top-down: [`cli`] → [`config`] → [`job`] (its phases) → [`plan`],
//! [`intervals`], [`stream`], [`kernel`] → [`protocol`] → [`store`],
//! [`checkpoint`] → [`stats`], [`rounds`] → [`report`]. `docs/architecture.md`
//! draws it.
//!
//! Launch with `mpirun -n 64 mcpi run --samples 1e12` or `srun mcpi run`; plain
//! `mcpi run` runs as a single process.
#![deny(missing_docs)]

pub mod checkpoint;
pub mod cli;
pub mod clock;
pub mod comm;
pub mod config;
pub mod console;
pub mod decompose;
pub mod error;
pub mod figures;
pub mod host;
pub mod intervals;
pub mod job;
pub mod kernel;
pub mod placement;
pub mod plan;
pub mod progress;
pub mod protocol;
pub mod report;
pub mod rounds;
pub mod signals;
pub mod stats;
pub mod store;
pub mod stream;
pub mod study;
