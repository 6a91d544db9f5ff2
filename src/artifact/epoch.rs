//! Where `SOURCE_DATE_EPOCH` comes from when the caller sets it. The tarball clamps every mtime to
//! the epoch; by default that is the newest file of the source (recorded by the source step inside
//! the container), and a caller who needs another value sets `$SOURCE_DATE_EPOCH`
//! (<https://reproducible-builds.org/specs/source-date-epoch/>), which the plan then carries and
//! keys. A value that is set but malformed is an error, never a silently unreproducible build.

use std::io;

/// `$SOURCE_DATE_EPOCH` if set. A value that is set but not a number of seconds is an error, as
/// the specification asks, rather than a silently unreproducible build.
pub fn epoch_from_env() -> io::Result<Option<u64>> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(value) => parse_source_date_epoch(&value).map(Some),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(bad_epoch("not valid Unicode")),
    }
}

/// Parses a `SOURCE_DATE_EPOCH` value: decimal seconds since 1970, surrounding whitespace allowed.
pub fn parse_source_date_epoch(value: &str) -> io::Result<u64> {
    let digits = value.trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad_epoch(&format!("`{value}` is not a number of seconds")));
    }
    digits
        .parse()
        .map_err(|e| bad_epoch(&format!("`{value}`: {e}")))
}

fn bad_epoch(why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("SOURCE_DATE_EPOCH is invalid: {why}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_date_epoch_values_must_be_plain_seconds() {
        assert_eq!(
            parse_source_date_epoch("1700000000").unwrap(),
            1_700_000_000
        );
        assert_eq!(parse_source_date_epoch(" 42\n").unwrap(), 42);
        for bad in ["", "-1", "1.5", "yesterday", "99999999999999999999999"] {
            assert!(parse_source_date_epoch(bad).is_err(), "{bad:?}");
        }
    }
}
