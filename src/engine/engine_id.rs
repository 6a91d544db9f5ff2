//! Which engine baker talks to. `DOCKER_HOST` changes from one shell to the next, so a cluster's
//! containers may be on an engine other than the one a later command reaches: the `docker`
//! provider records the engine's id (`docker info`'s `ID`, which the engine keeps across restarts
//! and upgrades) at launch, and its later commands compare it. The engine's clock is read too:
//! times the engine reports (when a container started) are on its clock, which on a remote engine
//! may differ from this host's.

use std::time::{SystemTime, UNIX_EPOCH};

use super::{Engine, EngineError, engine_host};

/// The engine this connection reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineIdentity {
    /// `docker info`'s `ID`; empty when the engine gives none (some Docker-compatible ones).
    pub id: String,
    /// The engine's host name (`docker info`'s `Name`).
    pub name: String,
    /// Where it was reached (`DOCKER_HOST`, or the default socket).
    pub host: String,
    /// How many seconds the engine's clock is ahead of this host's (negative when behind).
    pub clock_ahead: i64,
}

impl Engine {
    /// The engine's identity, and its clock against this host's.
    pub async fn identity(&self) -> Result<EngineIdentity, EngineError> {
        let info = (self.docker.info().await).map_err(EngineError::during(
            "asking the engine who it is (docker info)",
        ))?;
        let here = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let clock_ahead = (info.system_time.as_deref())
            .and_then(unix_seconds)
            .map_or(0, |there| there - here);
        Ok(EngineIdentity {
            id: info.id.unwrap_or_default(),
            name: info.name.unwrap_or_default(),
            host: engine_host(),
            clock_ahead,
        })
    }
}

/// Seconds since the epoch of an RFC 3339 time as the engine writes them
/// (`2026-12-07T13:45:08.755560661Z`, or with an offset, `…+02:00`); `None` for anything else,
/// or a time before the epoch (a container that never started says `0001-01-01T00:00:00Z`).
pub fn unix_seconds(text: &str) -> Option<i64> {
    let text = text.trim();
    // The offset, when it is not `Z`, is the last six characters: `+HH:MM` or `-HH:MM`.
    let split = (text.len().checked_sub(6))
        .filter(|at| text.is_char_boundary(*at))
        .map(|at| text.split_at(at));
    let (utc, offset) = match split {
        Some((time, offset)) if offset.starts_with(['+', '-']) && offset.as_bytes()[3] == b':' => {
            let sign = if offset.starts_with('-') { -1 } else { 1 };
            let hours: i64 = offset[1..3].parse().ok()?;
            let minutes: i64 = offset[4..6].parse().ok()?;
            (format!("{time}Z"), sign * (hours * 3600 + minutes * 60))
        }
        _ => (text.to_owned(), 0),
    };
    let at = humantime::parse_rfc3339(&utc).ok()?;
    let secs = at.duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(i64::try_from(secs).ok()? - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_times_are_read_with_their_offset_and_a_never_started_container_has_none() {
        assert_eq!(unix_seconds("1970-01-01T00:01:40Z"), Some(100));
        assert_eq!(
            unix_seconds("2026-12-07T13:45:08.755560661Z"),
            Some(1_796_651_108)
        );
        assert_eq!(
            unix_seconds("2026-12-07T15:45:08.755560661+02:00"),
            Some(1_796_651_108)
        );
        assert_eq!(
            unix_seconds("2026-12-07T12:15:08-01:30"),
            Some(1_796_651_108)
        );
        assert_eq!(unix_seconds("0001-01-01T00:00:00Z"), None);
        assert_eq!(unix_seconds("yesterday"), None);
        assert_eq!(unix_seconds(""), None);
    }
}
