//! What a build that cannot get its base image says about building without the internet, before it
//! fetches anything: each kind of host it would reach after the image, with what stands in for that
//! kind (a `--mirror` serves only the files baker downloads itself; package repositories and the
//! hosts the build's steps reach change only with a recipe or a base image that names others), and
//! the recipes whose base image is here, with what those still download.

use std::fmt::Write as _;

use crate::engine::{Engine, EngineError};
use crate::plan::{PlanOptions, Upstream, resolve};
use crate::recipe::{Catalog, PackageManager};

/// What a build without its base image would still need, and what could be built instead.
#[derive(Debug)]
pub struct Offline {
    /// The hosts the build reaches after the image.
    pub needs: Upstream,
    /// Recipes whose base image this engine has.
    pub here: Vec<HereRecipe>,
}

/// A recipe whose base image is here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HereRecipe {
    /// `--recipe hello --distro debian-12`.
    pub selector: String,
    pub base: String,
    /// The hosts its files come from (its source, its keys), a `--mirror` standing in for them.
    pub downloads: Vec<String>,
}

/// How a recipe naming other hosts is given.
const RECIPE_COPY: &str = "a copy of the recipe that names mirrors instead (`--recipe PATH`, or \
     in a `--recipes-dir`, where it replaces the embedded one)";

/// Recipes whose base image this engine already has (other than `missing`): what can be built here
/// without a registry.
pub(super) async fn recipes_here(
    engine: &Engine,
    catalog: &Catalog,
    missing: &str,
) -> Vec<HereRecipe> {
    let mut found = Vec::new();
    for recipe in catalog.recipes() {
        if recipe.base.image != missing && engine.has_image(&recipe.base.image).await {
            let plan = resolve(recipe, &PlanOptions::default());
            found.push(HereRecipe {
                selector: format!("--recipe {} --distro {}", recipe.name, recipe.distro),
                base: recipe.base.image.clone(),
                downloads: plan.map(|p| p.upstream().downloads).unwrap_or_default(),
            });
        }
    }
    found
}

/// The message of [`super::BuildError::BaseImage`].
pub(super) fn missing_base(
    image: &str,
    how_to_make: Option<&str>,
    source: &EngineError,
    offline: Option<&Offline>,
) -> String {
    let mut s = format!("base image `{image}` is neither present nor pullable: {source}");
    if let Some(h) = how_to_make {
        let _ = write!(s, "\nmake it locally: {h}");
    }
    if let Some(offline) = offline {
        s.push_str(&needs(&offline.needs));
        s.push_str(&here(&offline.here));
    }
    s
}

/// `after the image, this build also needs to reach:` and a line for each kind of host.
fn needs(up: &Upstream) -> String {
    let mut lines = Vec::new();
    if !up.downloads.is_empty() {
        lines.push(format!(
            "for the files baker downloads itself (the source, repository keys): {}; a --mirror \
             URL or folder that holds them by file name stands in for these hosts",
            up.downloads.join(", ")
        ));
    }
    if let Some(line) = packages(up) {
        lines.push(line);
    }
    if !up.in_files.is_empty() {
        lines.push(format!(
            "for the build's steps, as the files the recipe places name them: {}; {RECIPE_COPY} \
             stands in for these, --mirror does not",
            up.in_files.join(", ")
        ));
    }
    if lines.is_empty() {
        return String::new();
    }
    let mut s = "\nafter the image, this build also needs to reach:".to_owned();
    for line in lines {
        let _ = write!(s, "\n  - {line}");
    }
    s
}

/// The line on the packages step's repositories: the recipe's, the base image's own, or both.
fn packages(up: &Upstream) -> Option<String> {
    let (tool, own) = match up.package_manager {
        PackageManager::Apt => ("apt-get", "apt sources"),
        PackageManager::Yum => ("yum", "yum repository files"),
    };
    let recipe = (!up.repositories.is_empty()).then(|| {
        format!(
            "{} (the recipe's [[repositories]])",
            up.repositories.join(", ")
        )
    });
    let base = up.base_sources.then(|| {
        format!(
            "the package repositories the base image's own {own} name, unless the recipe replaces \
             them (the plan cannot list them)"
        )
    });
    let base_remedy = match up.package_manager {
        PackageManager::Apt => {
            "a base image whose apt sources name a reachable mirror (`baker base bootstrap … \
             --mirror URL` makes one)"
        }
        PackageManager::Yum => "a base image whose yum repository files name a reachable mirror",
    };
    let (what, remedy) = match (recipe, base) {
        (None, None) => return None,
        (Some(r), None) => (r, RECIPE_COPY.to_owned()),
        (None, Some(b)) => (b, base_remedy.to_owned()),
        (Some(r), Some(b)) => (
            format!("{r}, and {b}"),
            format!("{RECIPE_COPY} for the first, {base_remedy} for the others"),
        ),
    };
    Some(format!(
        "for the packages step's {tool}: {what}; {remedy} stands in for these, --mirror does not"
    ))
}

/// The recipes that need no registry here, and what they still download.
fn here(recipes: &[HereRecipe]) -> String {
    if recipes.is_empty() {
        return String::new();
    }
    let each: Vec<String> = recipes
        .iter()
        .map(|r| {
            let from = if r.downloads.is_empty() {
                String::new()
            } else {
                format!(
                    "; it downloads from {} or a --mirror",
                    r.downloads.join(", ")
                )
            };
            format!("{} (base {}{from})", r.selector, r.base)
        })
        .collect();
    format!(
        "\nthese recipes have their base image here, so they need no registry (what their caches \
         do not hold yet still comes over the network: their sources from upstream or a --mirror, \
         their packages from the repositories their plans name): {}",
        each.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::embedded_plan as plan_of;

    fn message(recipe: &str, distro: &str, here: Vec<HereRecipe>) -> String {
        let plan = plan_of(recipe, distro);
        let offline = Offline {
            needs: plan.upstream(),
            here,
        };
        let source = EngineError::Silent {
            host: "unix:///nowhere".into(),
            seconds: 1,
        };
        missing_base(&plan.base.image, None, &source, Some(&offline))
    }

    #[test]
    fn offline_trusty_names_the_base_image_s_apt_sources_and_what_stands_in_for_each_host() {
        let hello = HereRecipe {
            selector: "--recipe hello --distro debian-12".into(),
            base: "debian:bookworm".into(),
            downloads: vec!["https://ftp.gnu.org".into()],
        };
        let m = message("mesos", "trusty", vec![hello]);
        let line = |start: &str| {
            m.lines()
                .find(|l| l.starts_with(start))
                .unwrap_or_else(|| panic!("no line {start:?} in {m}"))
                .to_owned()
        };
        let files = line("  - for the files baker downloads itself");
        assert!(files.contains("https://archive.apache.org"), "{files}");
        assert!(files.contains("a --mirror URL or folder"), "{files}");
        let packages = line("  - for the packages step's apt-get:");
        assert!(
            packages.contains("the package repositories the base image's own apt sources name"),
            "{packages}"
        );
        assert!(packages.contains("baker base bootstrap"), "{packages}");
        assert!(packages.ends_with("--mirror does not"), "{packages}");
        let steps = line("  - for the build's steps");
        assert!(steps.contains("https://repo.maven.apache.org"), "{steps}");
        assert!(steps.contains("--recipes-dir"), "{steps}");
        assert!(steps.ends_with("--mirror does not"), "{steps}");
        assert!(
            !files.contains("maven") && !packages.contains("apache"),
            "{m}"
        );
        let here = line("these recipes have their base image here");
        assert!(!here.contains("build without a registry"), "{here}");
        assert!(
            here.contains("--recipe hello --distro debian-12 (base debian:bookworm; it downloads from https://ftp.gnu.org or a --mirror)"),
            "{here}"
        );
        assert!(here.contains("still comes over the network"), "{here}");
    }

    #[test]
    fn offline_centos6_names_the_recipe_s_repositories_for_yum_and_not_the_image_s_own() {
        let m = message("mesos", "centos6", vec![]);
        let packages = m
            .lines()
            .find(|l| l.starts_with("  - for the packages step's yum:"))
            .unwrap_or_else(|| panic!("no yum line in {m}"));
        for host in ["http://vault.centos.org", "http://repos.fedorapeople.org"] {
            assert!(packages.contains(host), "{host} in {packages}");
        }
        assert!(
            packages.contains("(the recipe's [[repositories]])"),
            "{packages}"
        );
        assert!(!packages.contains("base image's own"), "{packages}");
        assert!(
            !m.contains("these recipes have their base image here"),
            "{m}"
        );
    }
}
