//! mcpi's integration tests, one binary with a module per area. Tests that need
//! MPI run the real binary under the real `mpirun`, each with a timeout.

mod bad_input;
mod cluster;
mod crash;
mod determinism;
mod dispersion;
mod fuzz;
mod hostile;
mod kernels;
mod known_answers;
mod multinode;
mod plan;
mod progress;
mod reframe;
mod report;
mod restart;
mod slurm;
mod study;
mod target;
mod threads;
mod util;
