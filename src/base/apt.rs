//! The machine's own apt configuration, read at run time to find the Debian mirror it already uses.
//! baker never carries a mirror address of its own: a bootstrapped image fetches from wherever the
//! host fetches, which is the one archive that a closed network is sure to let through. Both formats
//! apt reads are understood: deb822 `.sources` files and one-line `sources.list` entries.

use std::fs;
use std::path::Path;

/// One `deb`/`deb-src` entry (a deb822 paragraph may hold several types and URIs).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AptSource {
    pub types: Vec<String>,
    pub uris: Vec<String>,
    pub suites: Vec<String>,
    pub components: Vec<String>,
}

/// Debian release names and aliases, to tell a Debian archive from an Ubuntu or third-party one.
const DEBIAN_SUITES: &[&str] = &[
    "stable",
    "testing",
    "unstable",
    "oldstable",
    "oldoldstable",
    "sid",
    "experimental",
    "jessie",
    "stretch",
    "buster",
    "bullseye",
    "bookworm",
    "trixie",
    "forky",
    "duke",
];

/// Every entry of `<etc>/sources.list` and then `<etc>/sources.list.d/*.{list,sources}` in name
/// order, the order apt reads them. Unreadable or missing files are skipped.
pub fn read_sources(etc: &Path) -> Vec<AptSource> {
    let mut sources = fs::read_to_string(etc.join("sources.list"))
        .map(|text| parse_one_line(&text))
        .unwrap_or_default();
    let mut parts: Vec<_> = fs::read_dir(etc.join("sources.list.d"))
        .map(|dir| dir.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    parts.sort();
    for path in parts {
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        match path.extension().and_then(|e| e.to_str()) {
            Some("list") => sources.extend(parse_one_line(&text)),
            Some("sources") => sources.extend(parse_deb822(&text)),
            _ => {}
        }
    }
    sources
}

/// deb822 paragraphs (`Types:`, `URIs:`, `Suites:`, `Components:`, `Enabled:`), comments and
/// continuation lines allowed; disabled paragraphs are dropped.
pub fn parse_deb822(text: &str) -> Vec<AptSource> {
    let mut out = Vec::new();
    for paragraph in text.split("\n\n").flat_map(|p| p.split("\r\n\r\n")) {
        let mut source = AptSource::default();
        let mut enabled = true;
        let mut field: Option<String> = None;
        for line in paragraph.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let (key, value) = if line.starts_with([' ', '\t']) {
                match &field {
                    Some(key) => (key.clone(), line.trim()),
                    None => continue,
                }
            } else if let Some((key, value)) = line.split_once(':') {
                let key = key.trim().to_ascii_lowercase();
                field = Some(key.clone());
                (key, value.trim())
            } else {
                continue;
            };
            let words = value.split_whitespace().map(str::to_owned);
            match key.as_str() {
                "types" => source.types.extend(words),
                "uris" => source.uris.extend(words),
                "suites" => source.suites.extend(words),
                "components" => source.components.extend(words),
                "enabled" => enabled = !value.eq_ignore_ascii_case("no"),
                _ => {}
            }
        }
        if enabled && !source.types.is_empty() && !source.uris.is_empty() {
            out.push(source);
        }
    }
    out
}

/// One-line entries: `deb [ options ] URI SUITE [COMPONENT…]`, with `#` comments.
pub fn parse_one_line(text: &str) -> Vec<AptSource> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default().trim();
        let Some((kind, mut rest)) = line.split_once(char::is_whitespace) else {
            continue;
        };
        if kind != "deb" && kind != "deb-src" {
            continue;
        }
        rest = rest.trim_start();
        if let Some(options) = rest.strip_prefix('[') {
            let Some((_, after)) = options.split_once(']') else {
                continue;
            };
            rest = after;
        }
        let mut words = rest.split_whitespace().map(str::to_owned);
        let (Some(uri), Some(suite)) = (words.next(), words.next()) else {
            continue;
        };
        out.push(AptSource {
            types: vec![kind.to_owned()],
            uris: vec![uri],
            suites: vec![suite],
            components: words.collect(),
        });
    }
    out
}

/// The Debian mirror to bootstrap `suite` from: the first `deb` URI (http, https or file) whose entry
/// lists `suite` itself, else the first whose entry lists any Debian release (not `-security` or
/// `-updates`, which debootstrap cannot start from). `None` when the machine uses no Debian archive.
pub fn debian_mirror(sources: &[AptSource], suite: &str) -> Option<String> {
    let usable = |s: &&AptSource| s.types.iter().any(|t| t == "deb");
    let first_uri = |s: &AptSource| {
        s.uris
            .iter()
            .find(|u| {
                ["http://", "https://", "file:/"]
                    .iter()
                    .any(|p| u.starts_with(p))
            })
            .cloned()
    };
    let lists = |s: &AptSource, wanted: &dyn Fn(&str) -> bool| s.suites.iter().any(|x| wanted(x));
    sources
        .iter()
        .filter(usable)
        .filter(|s| lists(s, &|x| x == suite))
        .find_map(first_uri)
        .or_else(|| {
            sources
                .iter()
                .filter(usable)
                .filter(|s| lists(s, &|x| DEBIAN_SUITES.contains(&x)))
                .find_map(first_uri)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEB822: &str = "\
Types: deb
# a comment about the snapshot
URIs: http://mirror.test/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.test/debian-security
Suites: bookworm-security
Components: main

Types: deb deb-src
Enabled: no
URIs: http://disabled.test/debian
Suites: bookworm
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 -----END PGP PUBLIC KEY BLOCK-----
";

    #[test]
    fn deb822_paragraphs_are_read_and_disabled_ones_dropped() {
        let sources = parse_deb822(DEB822);
        assert_eq!(sources.len(), 2);
        assert_eq!(sources[0].types, ["deb"]);
        assert_eq!(sources[0].uris, ["http://mirror.test/debian"]);
        assert_eq!(sources[0].suites, ["bookworm", "bookworm-updates"]);
        assert_eq!(sources[0].components, ["main"]);
        assert_eq!(sources[1].suites, ["bookworm-security"]);
    }

    #[test]
    fn one_line_entries_with_options_and_comments() {
        let text = "\
# deb http://commented.test/debian bookworm main
deb-src http://src.test/debian bookworm main
deb [arch=amd64 signed-by=/usr/share/keyrings/k.gpg] http://mirror.test/debian bookworm main contrib # trailing
deb [ trusted=yes ] file:/srv/mirror bookworm-security main
deb cdrom:[Debian GNU/Linux 12]/ bookworm main
";
        let sources = parse_one_line(text);
        assert_eq!(sources.len(), 4);
        assert_eq!(sources[0].types, ["deb-src"]);
        assert_eq!(sources[1].uris, ["http://mirror.test/debian"]);
        assert_eq!(sources[1].components, ["main", "contrib"]);
        assert_eq!(sources[2].uris, ["file:/srv/mirror"]);
        assert_eq!(
            debian_mirror(&sources, "bookworm").as_deref(),
            Some("http://mirror.test/debian")
        );
    }

    #[test]
    fn the_mirror_is_the_release_archive_not_security() {
        let mut sources = parse_deb822(DEB822);
        sources.rotate_left(1);
        assert_eq!(
            debian_mirror(&sources, "bookworm").as_deref(),
            Some("http://mirror.test/debian")
        );
        // Another release is still served by the same archive.
        assert_eq!(
            debian_mirror(&sources, "trixie").as_deref(),
            Some("http://mirror.test/debian")
        );
    }

    #[test]
    fn an_ubuntu_or_empty_configuration_has_no_debian_mirror() {
        let ubuntu = parse_one_line("deb http://ubuntu.test/ubuntu jammy main universe\n");
        assert_eq!(debian_mirror(&ubuntu, "bookworm"), None);
        assert_eq!(debian_mirror(&[], "bookworm"), None);
    }

    #[test]
    fn sources_list_is_read_before_the_parts_in_name_order() {
        let etc = tempfile::tempdir().unwrap();
        fs::create_dir(etc.path().join("sources.list.d")).unwrap();
        fs::write(
            etc.path().join("sources.list"),
            "deb http://a.test/debian bookworm main\n",
        )
        .unwrap();
        fs::write(etc.path().join("sources.list.d/b.sources"), DEB822).unwrap();
        fs::write(
            etc.path().join("sources.list.d/a.list"),
            "deb http://c.test/debian sid main\n",
        )
        .unwrap();
        fs::write(
            etc.path().join("sources.list.d/z.list.disabled"),
            "deb http://x.test/ sid main\n",
        )
        .unwrap();
        let uris: Vec<String> = read_sources(etc.path())
            .into_iter()
            .map(|s| s.uris[0].clone())
            .collect();
        assert_eq!(
            uris,
            [
                "http://a.test/debian",
                "http://c.test/debian",
                "http://mirror.test/debian",
                "http://mirror.test/debian-security"
            ]
        );
    }
}
