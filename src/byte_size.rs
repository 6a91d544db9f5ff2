//! Sizes as people write and read them: `--size 4G` for a disk, `cache prune --max-size 20G`, and
//! `1.5 GiB` in messages. One parser, so that every option takes the same units and refuses the
//! same things with the same advice.
//!
//! Written by hand because size crates read `10G` as 10⁹ bytes, while disk tools (`truncate`,
//! `qemu-img`) and their users mean 10 GiB. `GB`, `MB` and the like are refused rather than
//! guessed: some tools read them as powers of 1000, others as 1024, and a disk or a cache cap off
//! by 7 % is the kind of surprise that costs an afternoon.

/// Why a text is not a size; shown after the text itself (`invalid size `3GB`: …`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    #[error("a size cannot be negative")]
    Negative,

    /// The value looks like the next option: `--size --format raw` forgot the size.
    #[error("that is an option, not a size: the size goes right after the option, e.g. 4G")]
    AnOption,

    /// A unit that reads as a power of 1000 to some tools; `instead` says what to write.
    #[error(
        "{unit} is ambiguous (powers of 1000 to some tools, of 1024 to others), so baker does \
         not guess: {instead}"
    )]
    Ambiguous { unit: String, instead: String },

    #[error("too large: more than 16 EiB")]
    TooLarge,

    #[error(
        "expected a number with an optional unit, K, M, G or T (powers of 1024), e.g. 4G, 1.5G \
         or 1536M"
    )]
    NotASize,
}

/// Parses `500M`, `10G`, `1.5GiB`, `10 g`, `512B` or a plain number of bytes; units are powers of
/// 1024.
pub fn parse(text: &str) -> Result<u64, SizeError> {
    let t = text.trim();
    if t.starts_with("--") {
        return Err(SizeError::AnOption);
    }
    if t.strip_prefix('-')
        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit() || c == '.'))
    {
        return Err(SizeError::Negative);
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number_text, unit) = t.split_at(split);
    let number: f64 = number_text.parse().map_err(|_| SizeError::NotASize)?;
    let unit = unit.trim();
    let lower = unit.to_ascii_lowercase();
    let power: u32 = match lower.as_str() {
        "" | "b" => 0,
        "k" | "kib" => 1,
        "m" | "mib" => 2,
        "g" | "gib" => 3,
        "t" | "tib" => 4,
        "kb" | "mb" | "gb" | "tb" => return Err(ambiguous(number_text, number, unit)),
        _ => return Err(SizeError::NotASize),
    };
    let scale = 1u64 << (10 * power);
    // Whole numbers exactly (an f64 holds integers to 2^53 only); fractions through f64.
    if let Ok(whole) = number_text.parse::<u64>() {
        return whole.checked_mul(scale).ok_or(SizeError::TooLarge);
    }
    #[allow(clippy::cast_precision_loss)]
    let bytes = number * scale as f64;
    // Too large for a u64 (which the cast would silently saturate) is not a size.
    #[allow(clippy::cast_precision_loss)]
    if bytes >= u64::MAX as f64 {
        return Err(SizeError::TooLarge);
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(bytes as u64)
}

/// Whether `text` is a number without a unit (`3`, ` 1.5 `), which [`parse`] reads as bytes:
/// what a caller with a minimum in MiB or GiB checks to say so when it refuses the size.
pub fn is_without_unit(text: &str) -> bool {
    let t = text.trim();
    !t.is_empty() && t.chars().all(|c| c.is_ascii_digit() || c == '.')
}

/// What to write instead of `{number}{unit}` (`3GB`): the same number with the binary unit, and,
/// when it is at least one, the whole MiB in the decimal reading.
fn ambiguous(number_text: &str, number: f64, unit: &str) -> SizeError {
    let binary = unit[..1].to_ascii_uppercase();
    let power = match binary.as_str() {
        "K" => 1,
        "M" => 2,
        "G" => 3,
        _ => 4,
    };
    let mut instead =
        format!("write {number_text}{binary} or {number_text}{binary}iB for powers of 1024");
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let mib = (number * 1000f64.powi(power) / f64::from(1u32 << 20)) as u64;
    if mib >= 1 {
        instead.push_str(&format!(
            ", or {mib}M for the whole MiB in {number_text} x 1000^{power} bytes"
        ));
    }
    SizeError::Ambiguous {
        unit: unit.to_owned(),
        instead,
    }
}

/// `1.5 GiB`-style sizes for people.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    #[allow(clippy::cast_precision_loss)]
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_units_as_disk_tools_read_them() {
        assert_eq!(parse("2048"), Ok(2048));
        assert_eq!(parse("500M"), Ok(500 << 20));
        assert_eq!(parse("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse("10 g"), Ok(10 << 30));
        assert_eq!(parse(" 1T "), Ok(1 << 40));
        assert_eq!(parse("512B"), Ok(512));
        // Whole numbers are exact, to the last byte a u64 holds.
        assert_eq!(parse("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(parse("9007199254740993"), Ok(9_007_199_254_740_993));
        assert_eq!(parse("16777216T"), Err(SizeError::TooLarge));
        assert_eq!(human(3 << 29), "1.5 GiB");
        assert_eq!(human(12), "12 B");
    }

    #[test]
    fn a_number_without_a_unit_is_told_apart() {
        assert!(is_without_unit("3") && is_without_unit(" 1.5 ") && is_without_unit("1073741824"));
        assert!(!is_without_unit("3G") && !is_without_unit("3 b") && !is_without_unit(""));
        assert!(!is_without_unit("-3") && !is_without_unit("--json"));
    }

    #[test]
    fn what_is_not_a_size_says_why() {
        assert_eq!(parse("ten"), Err(SizeError::NotASize));
        assert_eq!(parse(""), Err(SizeError::NotASize));
        assert_eq!(parse("2X"), Err(SizeError::NotASize));
        assert_eq!(parse("3iB"), Err(SizeError::NotASize));
        assert_eq!(parse("3GBiB"), Err(SizeError::NotASize));
        assert_eq!(parse("99999999T"), Err(SizeError::TooLarge));
        assert_eq!(parse("-1G"), Err(SizeError::Negative));
        assert_eq!(parse("-.5G"), Err(SizeError::Negative));
        // `--size --format raw`: the size was forgotten, and the next option taken for it.
        assert_eq!(parse("--format"), Err(SizeError::AnOption));
        assert_eq!(parse("-x"), Err(SizeError::NotASize));
    }

    #[test]
    fn decimal_units_are_refused_with_what_to_write_instead() {
        let said = |given: &str| parse(given).unwrap_err().to_string();
        assert_eq!(
            said("3GB"),
            "GB is ambiguous (powers of 1000 to some tools, of 1024 to others), so baker does \
             not guess: write 3G or 3GiB for powers of 1024, or 2861M for the whole MiB in 3 x \
             1000^3 bytes"
        );
        assert!(said("2gb").contains("write 2G or 2GiB"), "{}", said("2gb"));
        assert!(said("1.5 GB").contains("1.5G or 1.5GiB"));
        assert!(said("1500MB").contains("1430M"), "{}", said("1500MB"));
        assert!(said("1TB").contains("953674M"), "{}", said("1TB"));
        // Less than a MiB either way: no size in MiB is offered.
        assert!(!said("500KB").contains("M for"), "{}", said("500KB"));
    }
}
