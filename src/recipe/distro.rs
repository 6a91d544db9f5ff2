//! Distro names as users type them (`centos6`, `trusty`, `bookworm`) resolved to the canonical names
//! that recipe files use (`centos-6.6`, `ubuntu-14.04`, `debian-12`).

use serde::Serialize;

/// A distro baker has recipes for, with the package manager its base image uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Distro {
    #[serde(rename = "centos-6.6")]
    Centos66,
    #[serde(rename = "ubuntu-14.04")]
    Ubuntu1404,
    #[serde(rename = "debian-12")]
    Debian12,
}

/// Every canonical name with the spellings accepted for it (after lower-casing and dropping `-`, `_`, `.`).
const NAMES: &[(Distro, &str, &[&str])] = &[
    (
        Distro::Centos66,
        "centos-6.6",
        &["centos66", "centos6", "el6", "rhel6"],
    ),
    (
        Distro::Ubuntu1404,
        "ubuntu-14.04",
        &["ubuntu1404", "ubuntu14", "trusty"],
    ),
    (Distro::Debian12, "debian-12", &["debian12", "bookworm"]),
];

impl Distro {
    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(d, _, _)| *d == self)
            .map(|(_, n, _)| *n)
            .unwrap_or_default()
    }

    /// The spelling `--distro`'s help gives (`centos6`, `ubuntu14.04`, `debian12`), for the flags
    /// a message tells the user to add.
    pub fn typed(self) -> &'static str {
        match self {
            Distro::Centos66 => "centos6",
            Distro::Ubuntu1404 => "ubuntu14.04",
            Distro::Debian12 => "debian12",
        }
    }

    /// Resolves any accepted spelling; `None` when the name is not one baker knows.
    pub fn parse(input: &str) -> Option<Self> {
        let folded = fold(input);
        NAMES
            .iter()
            .find(|(_, _, aliases)| aliases.contains(&folded.as_str()))
            .map(|(d, _, _)| *d)
    }

    /// What to say of `input` when [`Distro::parse`] does not know it: the nearest name when one is
    /// close (`debain12`: `debian12`) and every valid name.
    pub fn unknown(input: &str) -> String {
        let aliases = NAMES
            .iter()
            .flat_map(|(_, _, aliases)| aliases.iter().copied());
        format!(
            "unknown distro `{input}`; valid names: {}{}",
            Self::valid_names(),
            super::error::did_you_mean(&fold(input), aliases),
        )
    }

    /// The list shown when a name is not recognised.
    pub fn valid_names() -> String {
        NAMES
            .iter()
            .map(|(_, name, aliases)| format!("{name} (also {})", aliases.join(", ")))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// `CentOS-6.6` -> `centos66`: lower case, without the separators people put in distro names.
fn fold(input: &str) -> String {
    (input.trim().to_ascii_lowercase().chars())
        .filter(|c| !matches!(c, '-' | '_' | '.' | ' '))
        .collect()
}

impl std::fmt::Display for Distro {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_forgiving_spellings() {
        for s in [
            "centos6",
            "centos-6",
            "centos6.6",
            "centos-6.6",
            "CentOS-6.6",
        ] {
            assert_eq!(Distro::parse(s), Some(Distro::Centos66), "{s}");
        }
        for s in ["ubuntu14.04", "ubuntu-14.04", "trusty"] {
            assert_eq!(Distro::parse(s), Some(Distro::Ubuntu1404), "{s}");
        }
        for s in ["debian12", "debian-12", "bookworm"] {
            assert_eq!(Distro::parse(s), Some(Distro::Debian12), "{s}");
        }
        for (d, _, _) in NAMES {
            assert_eq!(Distro::parse(d.typed()), Some(*d), "{d}");
        }
    }

    #[test]
    fn rejects_unknown_names() {
        assert_eq!(Distro::parse("centos7"), None);
        assert_eq!(Distro::parse(""), None);
        assert!(Distro::valid_names().contains("centos-6.6"));
        let typo = Distro::unknown("Debain-12");
        assert!(typo.starts_with("unknown distro `Debain-12`; valid names: centos-6.6"));
        assert!(
            typo.ends_with("bookworm); did you mean `debian12`?"),
            "{typo}"
        );
        assert!(Distro::unknown("gentoo").ends_with("bookworm)"));
    }
}
