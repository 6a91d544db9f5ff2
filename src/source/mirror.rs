//! Mirrors: places the user names (`--mirror URL|DIR`, `BAKER_MIRRORS`) where a source file is looked
//! up by its file name before, or instead of, the recipe's own URLs. They are how a build works
//! behind a firewall, offline, or against a team's internal copy of upstream releases; the pinned
//! checksum still decides whether the bytes found there are accepted.

use std::fmt;
use std::path::PathBuf;

/// The environment variable holding extra mirrors, whitespace- or comma-separated.
pub const MIRRORS_ENV: &str = "BAKER_MIRRORS";

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
    /// `http://` and `https://` give a URL mirror; `file://` and anything else a directory.
    pub fn parse(s: &str) -> Mirror {
        let s = s.trim();
        let lower = s.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            Mirror::Url(s.to_owned())
        } else if lower.starts_with("file://") {
            Mirror::Dir(PathBuf::from(&s["file://".len()..]))
        } else {
            Mirror::Dir(PathBuf::from(s))
        }
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

/// Mirrors from `BAKER_MIRRORS`, for the CLI to append after the `--mirror` flags.
pub fn mirrors_from_env() -> Vec<Mirror> {
    std::env::var(MIRRORS_ENV)
        .map(|list| parse_list(&list))
        .unwrap_or_default()
}

/// Parses a whitespace- or comma-separated list of mirrors, skipping empty items.
pub fn parse_list(list: &str) -> Vec<Mirror> {
    list.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|item| !item.is_empty())
        .map(Mirror::parse)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_and_https_are_urls_everything_else_is_a_directory() {
        assert_eq!(
            Mirror::parse("https://mirror.example/dist/"),
            Mirror::Url("https://mirror.example/dist/".into())
        );
        assert_eq!(
            Mirror::parse("HTTP://m/x"),
            Mirror::Url("HTTP://m/x".into())
        );
        assert_eq!(
            Mirror::parse("file:///srv/dist"),
            Mirror::Dir("/srv/dist".into())
        );
        assert_eq!(Mirror::parse("./dist"), Mirror::Dir("./dist".into()));
    }

    #[test]
    fn locates_a_file_under_a_base_url_or_directory() {
        let url = Mirror::parse("http://127.0.0.1:8080/dist/");
        assert_eq!(
            url.locate("hello-2.10.tar.gz"),
            Location::Url("http://127.0.0.1:8080/dist/hello-2.10.tar.gz".into())
        );
        let dir = Mirror::parse("/srv/dist");
        assert_eq!(
            dir.locate("hello-2.10.tar.gz"),
            Location::File("/srv/dist/hello-2.10.tar.gz".into())
        );
        assert_eq!(dir.describe(), "/srv/dist");
    }

    #[test]
    fn a_list_splits_on_commas_and_whitespace() {
        let list = parse_list(" http://a/dist, /srv/dist\n\tfile:///b ,, ");
        assert_eq!(
            list,
            vec![
                Mirror::Url("http://a/dist".into()),
                Mirror::Dir("/srv/dist".into()),
                Mirror::Dir("/b".into()),
            ]
        );
    }
}
