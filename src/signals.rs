//! Graceful stop: SIGTERM, SIGINT, SIGUSR1, SIGHUP (a closed terminal or
//! login session) and SIGXCPU (a CPU-time limit, as batch systems send) only set
//! a flag, which the count loop reads at batch boundaries (a SIGHUP that
//! `nohup` ignores stays ignored). SIGQUIT keeps its default (quit with a core
//! dump: a debugging request, not a stop). Later signals change nothing, so a second
//! Ctrl-C or `scancel` cannot interrupt the checkpoint and report being written.
//!
//! The handlers are registered through signal-hook (which sets `SA_RESTART`, so
//! file writes interrupted by a signal carry on). MPI_Init may install handlers
//! of its own, and signal-hook never re-installs once registered, so
//! [`Guard::restore`] puts back the disposition found after registration.

use std::sync::atomic::{AtomicI32, Ordering};

/// The first stop signal received, or 0.
static FIRST: AtomicI32 = AtomicI32::new(0);

/// The signals that ask for a graceful stop.
pub const STOP_SIGNALS: [i32; 5] = [
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGUSR1,
    libc::SIGHUP,
    libc::SIGXCPU,
];

/// The dispositions of [`STOP_SIGNALS`] as signal-hook installed them.
pub struct Guard {
    installed: Vec<(i32, libc::sigaction)>,
}

/// Registers the handlers (before MPI_Init, which can take a while at scale).
pub fn install() -> Guard {
    let mut installed = Vec::new();
    for signo in STOP_SIGNALS {
        // `nohup` ignores SIGHUP so that a run outlives its login: keep that.
        if signo == libc::SIGHUP && current(signo).is_some_and(|a| a.sa_sigaction == libc::SIG_IGN)
        {
            continue;
        }
        // SAFETY: the action is async-signal-safe: one atomic operation.
        let registered = unsafe {
            signal_hook::low_level::register(signo, move || {
                let _ = FIRST.compare_exchange(0, signo, Ordering::SeqCst, Ordering::SeqCst);
            })
        };
        if registered.is_ok() {
            if let Some(action) = current(signo) {
                installed.push((signo, action));
            }
        }
    }
    Guard { installed }
}

/// The current disposition of `signo`.
fn current(signo: i32) -> Option<libc::sigaction> {
    // SAFETY: a query (null new action) into a zeroed struct.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        (libc::sigaction(signo, std::ptr::null(), &mut old) == 0).then_some(old)
    }
}

impl Guard {
    /// Puts signal-hook's handlers back where something (MPI_Init) replaced them.
    pub fn restore(&self) {
        for (signo, action) in &self.installed {
            if current(*signo).is_some_and(|now| now.sa_sigaction != action.sa_sigaction) {
                // SAFETY: re-installs the exact disposition read back earlier.
                unsafe {
                    libc::sigaction(*signo, action, std::ptr::null_mut());
                }
            }
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

/// `SIGTERM`, `SIGINT`, `SIGUSR1`, `SIGHUP`, `SIGXCPU`.
pub fn name(signo: i32) -> String {
    match signo {
        libc::SIGTERM => "SIGTERM".into(),
        libc::SIGINT => "SIGINT".into(),
        libc::SIGUSR1 => "SIGUSR1".into(),
        libc::SIGHUP => "SIGHUP".into(),
        libc::SIGXCPU => "SIGXCPU".into(),
        n => format!("signal {n}"),
    }
}
