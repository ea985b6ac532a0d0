//! Graceful stop: SIGTERM, SIGINT and SIGUSR1 only set a flag, which the count
//! loop reads at batch boundaries. Later signals change nothing, so a second
//! Ctrl-C or `scancel` cannot interrupt the checkpoint and report being written.

use std::sync::atomic::{AtomicI32, Ordering};

/// The first stop signal received, or 0.
static FIRST: AtomicI32 = AtomicI32::new(0);

/// The signals that ask for a graceful stop.
pub const STOP_SIGNALS: [i32; 3] = [libc::SIGTERM, libc::SIGINT, libc::SIGUSR1];

extern "C" fn on_signal(signo: libc::c_int) {
    // Only async-signal-safe work: one atomic operation.
    let _ = FIRST.compare_exchange(0, signo, Ordering::SeqCst, Ordering::SeqCst);
}

/// Installs the handlers: at start-up, and again after MPI_Init, so they
/// replace any the MPI library set for these signals.
pub fn install() {
    for signo in STOP_SIGNALS {
        // SAFETY: a zeroed sigaction with a handler that only touches atomics;
        // SA_RESTART keeps interrupted system calls (file writes) going.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signo, &action, std::ptr::null_mut());
        }
    }
}

/// The first stop signal received so far, if any.
pub fn received() -> Option<i32> {
    match FIRST.load(Ordering::Relaxed) {
        0 => None,
        s => Some(s),
    }
}

/// `SIGTERM`, `SIGINT`, `SIGUSR1`.
pub fn name(signo: i32) -> String {
    match signo {
        libc::SIGTERM => "SIGTERM".into(),
        libc::SIGINT => "SIGINT".into(),
        libc::SIGUSR1 => "SIGUSR1".into(),
        n => format!("signal {n}"),
    }
}
