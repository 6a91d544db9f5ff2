//! The packages step: the recipe's package list (plus the version's, minus its removals, sorted) as
//! the apt or yum commands that install it (dpkg without its per-file fsyncs), keep downloads in
//! baker's package cache (and apt's lists and their binary caches out of the step's image), fail on
//! a package that does not exist, and record every installed package's version for the manifest.

use std::collections::{BTreeMap, BTreeSet};

use super::{CacheMount, PlanStep, StepKind};
use crate::layout::{META_DIR, PACKAGE_LIST};
use crate::recipe::{
    CacheKind, DPKG_UNSAFE_IO_OFF, DPKG_UNSAFE_IO_ON, PackageManager, Recipe, VersionSpec,
};

pub(super) fn packages_step(recipe: &Recipe, spec: &VersionSpec) -> PlanStep {
    let removed: BTreeSet<&String> = spec.remove_packages.iter().collect();
    let packages: BTreeSet<&String> = recipe
        .packages
        .iter()
        .chain(&spec.packages)
        .filter(|p| !removed.contains(p))
        .collect();
    let list = packages
        .iter()
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let command = match recipe.base.package_manager {
        PackageManager::Apt => [
                "export DEBIAN_FRONTEND=noninteractive".to_owned(),
                "rm -f /etc/apt/apt.conf.d/docker-clean".to_owned(),
                "echo 'Binary::apt::APT::Keep-Downloaded-Packages \"true\";' > /etc/apt/apt.conf.d/90baker-keep-packages".to_owned(),
                DPKG_UNSAFE_IO_ON.to_owned(),
                "apt-get update".to_owned(),
                format!("apt-get install -y {list}"),
                DPKG_UNSAFE_IO_OFF.to_owned(),
                // The package lists (80 MB on Debian 12) and apt's binary caches of them (76 MB)
                // serve only this install; left here, every build commits them into the step's
                // image. A later step that installs more runs `apt-get update` first.
                "rm -rf /var/lib/apt/lists/* /var/cache/apt/pkgcache.bin /var/cache/apt/srcpkgcache.bin".to_owned(),
                format!("mkdir -p {META_DIR}"),
                format!("dpkg-query -W -f '${{Package}}\\t${{Version}}\\n' | sort > {PACKAGE_LIST}"),
        ]
        .join("\n"),
        PackageManager::Yum => {
            let mut lines = vec!["sed -i 's/^keepcache=0/keepcache=1/' /etc/yum.conf".to_owned()];
            if !recipe.package_groups.is_empty() {
                let groups: Vec<String> = recipe.package_groups.iter().map(|g| format!("\"{g}\"")).collect();
                lines.push(format!("yum groupinstall -y {}", groups.join(" ")));
            }
            lines.push(format!("yum install -y {list}"));
            // yum exits 0 when a named package does not exist; rpm -q names the missing ones.
            lines.push(format!("rpm -q --whatprovides {list} > /dev/null"));
            lines.push(format!("mkdir -p {META_DIR}"));
            lines.push(format!(
                "rpm -qa --qf '%{{NAME}}\\t%{{VERSION}}-%{{RELEASE}}.%{{ARCH}}\\n' | sort > {PACKAGE_LIST}"
            ));
            lines.join("\n")
        }
    };
    PlanStep {
        name: "packages".into(),
        kind: StepKind::Packages,
        command,
        wrap: None,
        workdir: "/".into(),
        env: BTreeMap::new(),
        caches: vec![CacheMount {
            cache: CacheKind::Packages,
            target: recipe.base.package_manager.cache_dir().into(),
        }],
        inputs: vec![],
        source_inputs: vec![],
        key: String::new(),
        timeout_seconds: None,
    }
}
