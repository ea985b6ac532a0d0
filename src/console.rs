//! Writing to the terminal (or whatever stdout is): never a panic, never a
//! failed run because nobody reads it.

use std::io::Write;

/// Writes `text` to stdout. A closed or full stdout is not the run's failure:
/// the report files are what count, so it is ignored rather than a panic.
pub fn print_out(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}
