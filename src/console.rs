//! Writing to the terminal (or whatever stdout and stderr are): never a panic,
//! never a failed run because nobody reads it.

use std::io::Write;

/// Writes `text` to stdout. A closed or full stdout is not the run's failure:
/// the report files are what count, so it is ignored rather than a panic.
pub fn print_out(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// Writes `line` and a newline to stderr (warnings, errors). A closed or full
/// stderr is ignored: nothing is left to tell, and a panic would only turn a
/// run's outcome into an abort.
pub fn eprint_line(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}").and_then(|()| err.flush());
}

/// `text` with every character that is not printable — controls, and the
/// invisible ones that reorder or hide text (bidirectional controls,
/// zero-width characters, the byte order mark) — written as its escape
/// (`\u{202e}`): what a terminal or a Markdown table may show of text read
/// from a file.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if invisible(c) {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Whether `c` is a control or an invisible formatting character.
pub fn invisible(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{FEFF}' | '\u{061C}')
}
