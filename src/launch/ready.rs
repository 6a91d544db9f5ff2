//! How a readiness check's answer is judged, in one place for every provider. A probe answers with
//! text: an HTTP body (or the JSON value at the check's pointer), or a command's standard output.
//! The answer is compared trimmed of surrounding whitespace and with every `\r` removed, so a
//! Windows line end or a trailing newline never fails a check; two numbers compare by value, so
//! Mesos 1.x's metrics (`"master/slaves_active": 2.0`, every value a double) pass a check that
//! expects `"2"`; a check without `equals` passes on the status (HTTP) or exit code (command) alone.

use serde_json::Value;

/// What a probe saw, kept for the failure report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// The answer, normalised.
    Answer(String),
    /// The probe could not run or got the wrong status or exit code.
    Failure(String),
}

/// Normalises an answer for comparison: `\r` removed, surrounding whitespace trimmed.
pub fn normalise(answer: &str) -> String {
    answer.replace('\r', "").trim().to_owned()
}

/// The value at `pointer` in a JSON body, as text: strings bare, anything else as JSON.
pub fn at_pointer(body: &str, pointer: &str) -> Result<String, String> {
    let value: Value =
        serde_json::from_str(body).map_err(|e| format!("the body is not JSON ({e})"))?;
    match value.pointer(pointer) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Ok(other.to_string()),
        None => Err(format!("the JSON body has nothing at {pointer}")),
    }
}

/// Whether `seen` passes a check that expects `equals`.
pub fn passes(seen: &Seen, equals: Option<&str>) -> bool {
    match (seen, equals) {
        (Seen::Failure(_), _) => false,
        (Seen::Answer(_), None) => true,
        (Seen::Answer(answer), Some(expected)) => {
            let (answer, expected) = (normalise(answer), normalise(expected));
            match (number(&answer), number(&expected)) {
                (Some(a), Some(e)) => a == e,
                _ => answer == expected,
            }
        }
    }
}

/// The answer as a finite number, when it is one (`2`, `2.0`, `-1e3`).
fn number(text: &str) -> Option<f64> {
    text.parse::<f64>().ok().filter(|n| n.is_finite())
}

impl std::fmt::Display for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Answer(a) if a.is_empty() => f.write_str("an empty answer"),
            Self::Answer(a) => write!(f, "`{}`", a.chars().take(200).collect::<String>()),
            Self::Failure(why) => f.write_str(why),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_compare_trimmed_without_carriage_returns() {
        let seen = Seen::Answer("streaming\r\n".into());
        assert!(passes(&seen, Some("streaming")));
        assert!(passes(&seen, Some(" streaming\n")));
        assert!(!passes(&seen, Some("catchup")));
        assert!(passes(&Seen::Answer(String::new()), None));
        assert!(!passes(&Seen::Failure("exit code 2".into()), None));
    }

    #[test]
    fn numbers_compare_by_value() {
        // Mesos 1.x writes every metric as a double.
        let body = r#"{"master/slaves_active": 2.0, "master/elected": 1.0}"#;
        let seen = Seen::Answer(at_pointer(body, "/master~1slaves_active").unwrap());
        assert!(passes(&seen, Some("2")));
        assert!(!passes(&seen, Some("3")));
        assert!(passes(&Seen::Answer("1".into()), Some("1.0")));
        assert!(!passes(&Seen::Answer("1.0".into()), Some("true")));
        // What is not a finite number compares as text.
        assert!(passes(&Seen::Answer("NaN".into()), Some("NaN")));
        assert!(!passes(&Seen::Answer("inf".into()), Some("infinity")));
    }

    #[test]
    fn json_pointers_give_bare_strings_and_json_numbers() {
        let body = r#"{"master/slaves_active": 2, "state": "ok", "a": {"b": [true]}}"#;
        assert_eq!(at_pointer(body, "/master~1slaves_active").unwrap(), "2");
        assert_eq!(at_pointer(body, "/state").unwrap(), "ok");
        assert_eq!(at_pointer(body, "/a/b/0").unwrap(), "true");
        assert!(
            at_pointer(body, "/missing")
                .unwrap_err()
                .contains("nothing at /missing")
        );
        assert!(at_pointer("<html>", "/x").unwrap_err().contains("not JSON"));
    }
}
