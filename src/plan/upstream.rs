//! What a build reaches beyond its base image, sorted by what can stand in for each, so that a build
//! that cannot run offline says what it needs and how to get it there. Three kinds differ: the
//! files baker downloads itself (the source archive, repository keys), which a `--mirror` serves by
//! file name; the package repositories the packages step's apt or yum reads inside the container
//! (those the recipe's repository files name, and the base image's own unless the recipe replaces
//! them), which only a recipe or a base image naming other hosts changes; and the hosts named in
//! the other files the recipe places (Maven's settings), which the build's steps reach and only a
//! recipe naming others changes.

use std::collections::BTreeSet;

use super::{Input, Plan, SourcePlan, StepKind};
use crate::recipe::PackageManager;

/// The hosts a build reaches after its base image, by scheme and host (`https://ftp.gnu.org`), each
/// list sorted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// The hosts of the files baker downloads itself: the source's URLs and the repository keys.
    pub downloads: Vec<String>,
    /// The hosts the recipe's package repository files name (apt sources, yum `.repo` files).
    pub repositories: Vec<String>,
    /// What the packages step installs with.
    pub package_manager: PackageManager,
    /// Whether the packages step also reads the base image's own package sources, which the plan
    /// cannot name: the recipe writes none of the files stock images keep them in.
    pub base_sources: bool,
    /// The hosts named in the other files the recipe places, which its build steps reach.
    pub in_files: Vec<String>,
}

/// The files in which stock images keep their package sources: a recipe that writes one replaces
/// the base image's own sources with its own.
const STOCK_SOURCES: [&str; 4] = [
    "/etc/apt/sources.list",
    "/etc/apt/sources.list.d/debian.sources",
    "/etc/apt/sources.list.d/ubuntu.sources",
    "/etc/yum.repos.d/CentOS-Base.repo",
];

impl Upstream {
    pub fn is_empty(&self) -> bool {
        self.downloads.is_empty()
            && self.repositories.is_empty()
            && !self.base_sources
            && self.in_files.is_empty()
    }
}

impl Plan {
    /// What this plan's build reaches upstream after its base image; see [`Upstream`].
    pub fn upstream(&self) -> Upstream {
        let manager = self.base.package_manager;
        let mut downloads: Vec<&str> = Vec::new();
        let mut repositories = Vec::new();
        let mut in_files = Vec::new();
        if let SourcePlan::Archive { urls, .. } = &self.source {
            downloads.extend(urls.iter().map(String::as_str));
        }
        let mut replaced = false;
        for input in self.steps.iter().flat_map(|s| &s.inputs) {
            match input {
                Input::Remote { url, .. } => downloads.push(url),
                Input::Inline { path, content, .. } if is_package_source(path, manager) => {
                    replaced |= STOCK_SOURCES.contains(&path.as_str());
                    repositories.push(content.as_str());
                }
                Input::Inline { content, .. } => in_files.push(content.as_str()),
                Input::Source { .. } => {}
            }
        }
        let installs = self.steps.iter().any(|s| s.kind == StepKind::Packages);
        Upstream {
            downloads: hosts_in(&downloads),
            repositories: hosts_in(&repositories),
            package_manager: manager,
            base_sources: installs && !replaced,
            in_files: hosts_in(&in_files),
        }
    }
}

/// Whether `manager` reads the file at `path` as a list of package repositories.
fn is_package_source(path: &str, manager: PackageManager) -> bool {
    match manager {
        PackageManager::Apt => {
            path == "/etc/apt/sources.list" || path.starts_with("/etc/apt/sources.list.d/")
        }
        PackageManager::Yum => path.starts_with("/etc/yum.repos.d/"),
    }
}

/// Every `http://` and `https://` host named in `texts`, as `scheme://host`, sorted; XML namespace
/// names (Maven's settings.xml) are identifiers, not sites, and are left out.
fn hosts_in(texts: &[&str]) -> Vec<String> {
    let mut hosts = BTreeSet::new();
    for text in texts {
        for (i, _) in text.match_indices("://") {
            let scheme_start = text[..i]
                .rfind(|c: char| !c.is_ascii_alphabetic())
                .map_or(0, |p| p + 1);
            let scheme = &text[scheme_start..i];
            let before = text[..scheme_start].trim_end_matches(['"', '\'']);
            if !matches!(scheme, "http" | "https")
                || before.ends_with("xmlns=")
                || before.ends_with("schemaLocation=")
            {
                continue;
            }
            let rest = &text[i + 3..];
            let end = rest
                .find(|c: char| c == '/' || c.is_whitespace() || c == '<' || c == '"')
                .unwrap_or(rest.len());
            if end > 0 {
                hosts.insert(format!("{scheme}://{}", &rest[..end]));
            }
        }
    }
    hosts.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::embedded_plan as plan_of;

    #[test]
    fn the_centos_build_reaches_its_downloads_its_repositories_and_maven_each_named_apart() {
        let up = plan_of("mesos", "centos6").upstream();
        for host in [
            "https://archive.apache.org",
            "http://linuxsoft.cern.ch",
            "http://opensource.wandisco.com",
            "https://dl.fedoraproject.org",
        ] {
            assert!(up.downloads.iter().any(|h| h == host), "{host} in {up:?}");
        }
        for host in [
            "http://vault.centos.org",
            "http://linuxsoft.cern.ch",
            "http://opensource.wandisco.com",
            "http://repos.fedorapeople.org",
            "http://archives.fedoraproject.org",
        ] {
            assert!(
                up.repositories.iter().any(|h| h == host),
                "{host} in {up:?}"
            );
        }
        assert!(
            !up.repositories.iter().any(|h| h.contains("apache")),
            "{up:?}"
        );
        assert_eq!(up.in_files, ["https://repo.maven.apache.org"]);
        // The recipe replaces CentOS-Base.repo with the vault's: the image's own sources are unused.
        assert!(!up.base_sources);
    }

    #[test]
    fn a_build_whose_recipe_names_no_repositories_reaches_the_base_image_s_own() {
        let up = plan_of("mesos", "trusty").upstream();
        assert!(up.base_sources);
        assert_eq!(up.package_manager, PackageManager::Apt);
        assert!(up.repositories.is_empty(), "{up:?}");
        assert_eq!(up.in_files, ["https://repo.maven.apache.org"]);
        assert!(
            up.downloads
                .iter()
                .any(|h| h == "https://archive.apache.org")
        );
        let hello = plan_of("hello", "debian12").upstream();
        assert_eq!(
            hello.downloads,
            ["https://ftp.gnu.org", "https://ftpmirror.gnu.org"]
        );
        assert!(hello.base_sources);
    }

    #[test]
    fn hosts_are_read_from_urls_but_not_from_xml_namespaces() {
        let settings = r#"<settings xmlns="http://maven.apache.org/SETTINGS/1.0.0">
            <url>https://repo.example.org/maven2</url></settings>"#;
        assert_eq!(hosts_in(&[settings]), ["https://repo.example.org"]);
        assert_eq!(
            hosts_in(&["baseurl=http://b.example/x\nftp://no", "https://a.example"]),
            ["http://b.example", "https://a.example"]
        );
    }
}
