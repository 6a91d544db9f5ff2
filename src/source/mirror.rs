//! Mirrors: places the user names (`--mirror URL|DIR`, `BAKER_MIRRORS`) where a source file is looked
//! up by its file name before, or instead of, the recipe's own URLs. They are how a build works
//! behind a firewall, offline, or against a team's internal copy of upstream releases; the pinned
//! checksum still decides whether the bytes found there are accepted.

use std::fmt;
use std::path::PathBuf;

/// The environment variable holding extra mirrors, whitespace- or comma-separated.
pub const MIRRORS_ENV: &str = "BAKER_MIRRORS";

/// A mirror that names something baker cannot read from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MirrorError {
    #[error("{origin}: mirror `{given}` has the unsupported scheme `{scheme}://`; {VALID_MIRRORS}")]
    Scheme {
        origin: &'static str,
        given: String,
        scheme: String,
    },
    #[error("{origin}: mirror `{given}` names no host or directory; {VALID_MIRRORS}")]
    Empty { origin: &'static str, given: String },
}

const VALID_MIRRORS: &str =
    "a mirror is an http:// or https:// base URL, a file:// URL or a directory";

/// A place to look for a file by its name before (or instead of) the recipe's URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mirror {
    /// A base URL; the file is fetched from `<base>/<file_name>`.
    Url(String),
    /// A local directory; the file is copied from `<dir>/<file_name>`.
    Dir(PathBuf),
}

/// Where one mirror says a particular file is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Url(String),
    File(PathBuf),
}

impl Mirror {
    /// A `--mirror` value: `http://` and `https://` give a URL mirror, `file://` and a plain path a
    /// directory. Any other `scheme://` is refused rather than taken for a directory of that name.
    pub fn parse(s: &str) -> Result<Mirror, MirrorError> {
        Self::parse_from(s, "--mirror")
    }

    fn parse_from(s: &str, origin: &'static str) -> Result<Mirror, MirrorError> {
        let given = s.trim();
        let empty = || MirrorError::Empty {
            origin,
            given: given.to_owned(),
        };
        if given.is_empty() {
            return Err(empty());
        }
        let Some((scheme, rest)) = given
            .split_once("://")
            .filter(|(scheme, _)| is_scheme(scheme))
        else {
            return Ok(Mirror::Dir(PathBuf::from(given)));
        };
        let mirror = match scheme.to_ascii_lowercase().as_str() {
            "http" | "https" => Mirror::Url(given.to_owned()),
            "file" => Mirror::Dir(PathBuf::from(rest)),
            _ => {
                return Err(MirrorError::Scheme {
                    origin,
                    given: given.to_owned(),
                    scheme: scheme.to_owned(),
                });
            }
        };
        if rest.trim_matches('/').is_empty() {
            return Err(empty());
        }
        Ok(mirror)
    }

    /// How the mirror is named in messages: the base URL or the directory.
    pub fn describe(&self) -> String {
        match self {
            Mirror::Url(base) => base.clone(),
            Mirror::Dir(dir) => dir.display().to_string(),
        }
    }

    /// Where this mirror would hold `file_name`.
    pub fn locate(&self, file_name: &str) -> Location {
        match self {
            Mirror::Url(base) => {
                Location::Url(format!("{}/{file_name}", base.trim_end_matches('/')))
            }
            Mirror::Dir(dir) => Location::File(dir.join(file_name)),
        }
    }
}

impl fmt::Display for Mirror {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Url(url) => f.write_str(url),
            Location::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// URI scheme syntax (RFC 3986): a letter, then letters, digits, `+`, `-` and `.`.
fn is_scheme(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// Mirrors from `BAKER_MIRRORS`, for the CLI to append after the `--mirror` flags.
pub fn mirrors_from_env() -> Result<Vec<Mirror>, MirrorError> {
    std::env::var(MIRRORS_ENV).map_or(Ok(Vec::new()), |list| parse_list(&list))
}

/// Parses a whitespace- or comma-separated list of mirrors (the value of `BAKER_MIRRORS`),
/// skipping empty items.
pub fn parse_list(list: &str) -> Result<Vec<Mirror>, MirrorError> {
    list.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|item| !item.is_empty())
        .map(|item| Mirror::parse_from(item, "$BAKER_MIRRORS"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Mirror {
        Mirror::parse(s).unwrap()
    }

    #[test]
    fn http_and_https_are_urls_file_urls_and_paths_are_directories() {
        assert_eq!(
            parse("https://mirror.example/dist/"),
            Mirror::Url("https://mirror.example/dist/".into())
        );
        assert_eq!(parse("HTTP://m/x"), Mirror::Url("HTTP://m/x".into()));
        assert_eq!(parse("file:///srv/dist"), Mirror::Dir("/srv/dist".into()));
        assert_eq!(parse("./dist"), Mirror::Dir("./dist".into()));
        assert_eq!(parse("./a:b"), Mirror::Dir("./a:b".into()));
        assert_eq!(parse("dist/x:/y"), Mirror::Dir("dist/x:/y".into()));
    }

    #[test]
    fn any_other_scheme_is_refused_naming_the_flag_and_what_is_valid() {
        for given in ["ftp://x", "FTP://mirror/dist", "s3://bucket/dist", "x://"] {
            let err = Mirror::parse(given).unwrap_err();
            let message = err.to_string();
            assert!(message.starts_with("--mirror: "), "{message}");
            assert!(message.contains(&format!("`{given}`")), "{message}");
            assert!(
                message.contains("an http:// or https:// base URL, a file:// URL or a directory"),
                "{message}"
            );
        }
        assert_eq!(
            Mirror::parse("ftp://x").unwrap_err().to_string(),
            "--mirror: mirror `ftp://x` has the unsupported scheme `ftp://`; \
             a mirror is an http:// or https:// base URL, a file:// URL or a directory"
        );
    }

    #[test]
    fn a_url_without_host_or_path_is_refused() {
        for given in ["http://", "https:///", "file://", " "] {
            let err = Mirror::parse(given).unwrap_err();
            assert!(matches!(err, MirrorError::Empty { .. }), "{given}: {err:?}");
            assert!(err.to_string().contains("names no host or directory"));
        }
    }

    #[test]
    fn locates_a_file_under_a_base_url_or_directory() {
        let url = parse("http://127.0.0.1:8080/dist/");
        assert_eq!(
            url.locate("hello-2.10.tar.gz"),
            Location::Url("http://127.0.0.1:8080/dist/hello-2.10.tar.gz".into())
        );
        let dir = parse("/srv/dist");
        assert_eq!(
            dir.locate("hello-2.10.tar.gz"),
            Location::File("/srv/dist/hello-2.10.tar.gz".into())
        );
        assert_eq!(dir.describe(), "/srv/dist");
    }

    #[test]
    fn a_list_splits_on_commas_and_whitespace() {
        let list = parse_list(" http://a/dist, /srv/dist\n\tfile:///b ,, ").unwrap();
        assert_eq!(
            list,
            vec![
                Mirror::Url("http://a/dist".into()),
                Mirror::Dir("/srv/dist".into()),
                Mirror::Dir("/b".into()),
            ]
        );
        let err = parse_list("/srv/dist ftp://x").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("$BAKER_MIRRORS: mirror `ftp://x`"),
            "{err}"
        );
    }
}
