//! Wall-clock times as mcpi writes them: ISO 8601 in UTC, to the second (in
//! reports, checkpoints and progress lines) and the compact form of default
//! report names.

use std::time::SystemTime;

use jiff::Timestamp;

/// `t` as a jiff timestamp (the epoch for a clock set before 1970 or past 9999).
fn timestamp(t: SystemTime) -> Timestamp {
    Timestamp::try_from(t).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// ISO 8601 UTC time, to the second: `2026-11-22T00:24:05Z`.
pub fn iso8601(t: SystemTime) -> String {
    timestamp(t).strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The compact UTC form used in file names: `20261122T002405`.
pub fn compact(t: SystemTime) -> String {
    timestamp(t).strftime("%Y%m%dT%H%M%S").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn utc_civil_dates() {
        let at = |s: u64| UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(iso8601(at(0)), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(at(951_782_400)), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601(at(1_795_307_045)), "2026-11-22T00:24:05Z");
        assert_eq!(compact(at(1_795_307_045)), "20261122T002405");
    }
}
