//! Time: read once per request and passed down, stored in one fixed text format.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A UTC instant as stored: `YYYY-MM-DDTHH:MM:SS.mmmZ`. Fixed width, so text order is time
/// order and SQLite indexes serve range filters on it.
pub type Timestamp = String;

pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// Formats an instant in the stored format (millisecond precision, UTC, `Z`).
pub fn format(t: OffsetDateTime) -> Timestamp {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// Parses any RFC 3339 date-time (as clients send them) into an instant.
pub fn parse(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_format_is_fixed_width_utc() {
        let t = parse("2026-01-02T03:04:05.5+02:00").unwrap();
        assert_eq!(format(t), "2026-01-02T01:04:05.500Z");
        assert_eq!(format(parse("2011-05-13T04:42:34Z").unwrap()).len(), 24);
    }
}
