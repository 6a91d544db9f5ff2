//! Base images made on this machine, for engines that cannot pull them. Recipes name a base image
//! (`debian:bookworm`, `ubuntu:14.04`, `centos:6.6`); where no container registry is reachable, baker
//! makes it locally instead: [`import`] turns a root filesystem tarball (or a directory tree) into an
//! image through the engine's image-import API, and [`bootstrap`] runs `debootstrap` on the host to
//! make that tree for Debian and Ubuntu, from the mirror [`apt`] finds in the machine's configuration.
//!
//! CentOS has no debootstrap. Where a registry is reachable, `docker pull centos:6.6`. Otherwise, on
//! a CentOS/RHEL host (with `vault.centos.org` repositories for 6.x):
//! `yum --installroot=/tmp/root --releasever=6 install yum centos-release`, then
//! `tar -C /tmp/root -c . > root.tar` and `baker base import root.tar --tag centos:6.6`.
//!
//! Every image made here carries the label `baker.base=1`, so it can be told from pulled ones.

pub mod apt;
pub mod bootstrap;
pub mod import;
mod workdir;

use std::path::PathBuf;

use crate::engine::EngineError;

pub use bootstrap::{BootstrapSpec, Debootstrap, Variant};
pub use import::{ImportOptions, import_tarball, import_tree};

/// The label every image made by this module carries.
pub use crate::engine::labels::BASE_LABEL;

/// How CentOS base images are made, for errors and help text.
pub const CENTOS_HOWTO: &str = "CentOS has no debootstrap. Where a registry is reachable: \
`docker pull centos:6.6`. Otherwise, on a CentOS/RHEL host with vault.centos.org repositories: \
`yum --installroot=/tmp/root --releasever=6 install yum centos-release`, \
`tar -C /tmp/root -c . > root.tar`, then `baker base import root.tar --tag centos:6.6`";

#[derive(Debug, thiserror::Error)]
pub enum BaseError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("invalid image tag `{tag}`: {reason}")]
    InvalidTag { tag: String, reason: String },
    #[error("invalid label `{label}`: expected KEY=VALUE with a non-empty key")]
    InvalidLabel { label: String },
    #[error("cannot read root filesystem tarball {path} (for image {tag}): {source}")]
    ReadTarball {
        path: PathBuf,
        tag: String,
        source: std::io::Error,
    },
    #[error(
        "{path} is not a tar archive (plain, gzip, bzip2, xz or zstd), so it cannot become image {tag}"
    )]
    NotTar { path: PathBuf, tag: String },
    #[error("cannot archive the root filesystem {dir} for image {tag}: {source}")]
    Archive {
        dir: PathBuf,
        tag: String,
        source: std::io::Error,
    },
    #[error("{distro} cannot be bootstrapped: {reason}")]
    Unsupported { distro: String, reason: String },
    #[error("{what}")]
    Precondition { what: String },
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("debootstrap {suite} from {mirror} failed ({status}); its last lines:\n{tail}\n{log}")]
    Debootstrap {
        suite: String,
        mirror: String,
        status: String,
        tail: String,
        log: String,
    },
    #[error("cannot make a working directory under {dir}: {source}")]
    Workdir {
        dir: PathBuf,
        source: std::io::Error,
    },
}

/// Checks an image reference the way the engine will read it: `[host[:port]/]path[:tag]`, path
/// components lower-case `[a-z0-9]` joined by `.`, `_`, `__` or `-`, a tag of at most 128 word
/// characters, dots and dashes. Digests are refused: an import makes a new image, it cannot match one.
pub fn validate_tag(tag: &str) -> Result<(), BaseError> {
    let bad = |reason: &str| {
        Err(BaseError::InvalidTag {
            tag: tag.to_owned(),
            reason: reason.to_owned(),
        })
    };
    if tag.is_empty() {
        return bad("it is empty");
    }
    if tag.contains('@') {
        return bad("a digest cannot be given to an imported image; use NAME[:TAG]");
    }
    let (name, version) = match tag.rsplit_once(':') {
        Some((n, v)) if !v.contains('/') => (n, Some(v)),
        _ => (tag, None),
    };
    if let Some(v) = version {
        let ok_first = v
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        let ok_rest = v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !ok_first || !ok_rest || v.len() > 128 {
            return bad(
                "the tag after `:` must be 1-128 of [A-Za-z0-9_.-], not starting with `.` or `-`",
            );
        }
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    // A first part with a dot, a colon or `localhost` is a registry host, which has its own rules.
    if parts.len() > 1 && (parts[0].contains(['.', ':']) || parts[0] == "localhost") {
        if !valid_host(parts[0]) {
            return bad("the registry host must be HOST or HOST:PORT with a numeric port");
        }
        parts.remove(0);
    }
    for part in parts {
        if !valid_path_component(part) {
            return bad(
                "each name component must be lower-case letters and digits, joined by `.`, `_`, `__` or `-`",
            );
        }
    }
    Ok(())
}

fn valid_host(host: &str) -> bool {
    let (name, port) = host.split_once(':').unwrap_or((host, "0"));
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
        && !port.is_empty()
        && port.chars().all(|c| c.is_ascii_digit())
}

fn valid_path_component(part: &str) -> bool {
    let bytes = part.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(&bytes[0]) || !alnum(&bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(&bytes[i]) {
            i += 1;
            continue;
        }
        let sep_len = bytes[i..].iter().take_while(|b| !alnum(b)).count();
        let sep = &part[i..i + sep_len];
        if !matches!(sep, "." | "_" | "__") && !sep.bytes().all(|b| b == b'-') {
            return false;
        }
        i += sep_len;
    }
    true
}

/// Splits `KEY=VALUE` labels given on the command line.
pub fn parse_label(label: &str) -> Result<(String, String), BaseError> {
    match label.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(BaseError::InvalidLabel {
            label: label.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_tags_people_use() {
        for tag in [
            "debian:bookworm",
            "debian",
            "centos:6.6",
            "ubuntu:14.04",
            "baker/base-debian12:2025_05",
            "localhost:5000/debian:bookworm",
            "registry.example/team/img__x:v1.0-rc",
        ] {
            assert!(validate_tag(tag).is_ok(), "{tag}");
        }
    }

    #[test]
    fn rejects_tags_the_engine_would_refuse() {
        for tag in [
            "",
            "Debian:bookworm",
            "debian:",
            "debian:-x",
            "debian:a/b",
            "-debian",
            "debian.",
            "deb..ian",
            "debian@sha256:abcd",
            "debian bookworm",
        ] {
            let err = validate_tag(tag).expect_err(tag).to_string();
            assert!(err.contains(&format!("`{tag}`")), "{err}");
        }
    }

    #[test]
    fn labels_need_a_key() {
        assert_eq!(
            parse_label("baker.test=1").unwrap(),
            ("baker.test".to_owned(), "1".to_owned())
        );
        assert_eq!(parse_label("a=").unwrap(), ("a".to_owned(), String::new()));
        assert!(parse_label("=1").is_err());
        assert!(parse_label("novalue").is_err());
    }
}
