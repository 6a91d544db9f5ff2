//! Finding recipes: those embedded in the binary (so an installed `baker` works from any directory),
//! those in a recipes directory, and a file named on the command line. A recipe found later replaces
//! an embedded one with the same name and distro; two files of one recipes directory that define
//! the same name and distro are refused, naming both, since either could be the one meant.

use std::path::{Path, PathBuf};

use super::error::{RecipeError, did_you_mean};
use super::{Distro, Recipe, SourceText, validate};

/// The product's recipes, compiled in. Paths are relative to the repository root.
const EMBEDDED: &[(&str, &str)] = &[
    (
        "recipes/mesos/centos-6.6.toml",
        include_str!("../../recipes/mesos/centos-6.6.toml"),
    ),
    (
        "recipes/mesos/ubuntu-14.04.toml",
        include_str!("../../recipes/mesos/ubuntu-14.04.toml"),
    ),
    (
        "recipes/hello/debian-12.toml",
        include_str!("../../recipes/hello/debian-12.toml"),
    ),
    (
        "recipes/postgresql/debian-12.toml",
        include_str!("../../recipes/postgresql/debian-12.toml"),
    ),
];

/// The recipe built when only a distro is given: the product's own.
pub const DEFAULT_RECIPE: &str = "mesos";

#[derive(Debug, Default)]
pub struct Catalog {
    recipes: Vec<Recipe>,
}

impl Catalog {
    /// The embedded recipes.
    pub fn embedded() -> Result<Self, RecipeError> {
        let mut catalog = Self::default();
        for (path, text) in EMBEDDED {
            catalog.add(validate::parse(SourceText::new(
                format!("embedded:{path}"),
                *text,
            ))?);
        }
        Ok(catalog)
    }

    /// Adds every `*.toml` below `dir` (one level of sub-directories, as in `recipes/<name>/<distro>.toml`);
    /// fails, naming both files, when two of them define the same recipe name and distro.
    pub fn add_dir(&mut self, dir: &Path) -> Result<(), RecipeError> {
        let read = |p: &Path| {
            std::fs::read_dir(p).map_err(|source| RecipeError::Read {
                path: p.to_owned(),
                source,
            })
        };
        let mut files = Vec::new();
        for entry in read(dir)?.flatten() {
            let path = entry.path();
            if path.is_dir() {
                files.extend(read(&path)?.flatten().map(|e| e.path()));
            } else {
                files.push(path);
            }
        }
        files.retain(|p| p.extension().is_some_and(|e| e == "toml"));
        files.sort();
        let mut found: Vec<Recipe> = Vec::new();
        for file in files {
            let recipe = load_file(&file)?;
            let same = |r: &&Recipe| r.name == recipe.name && r.distro == recipe.distro;
            if let Some(first) = found.iter().find(same) {
                return Err(RecipeError::Duplicate {
                    name: recipe.name,
                    distro: recipe.distro.to_string(),
                    first: first.source_text.origin.clone(),
                    second: file.display().to_string(),
                });
            }
            found.push(recipe);
        }
        for recipe in found {
            self.add(recipe);
        }
        Ok(())
    }

    /// Adds a recipe, replacing one with the same name and distro.
    pub fn add(&mut self, recipe: Recipe) {
        self.recipes
            .retain(|r| !(r.name == recipe.name && r.distro == recipe.distro));
        self.recipes.push(recipe);
        self.recipes
            .sort_by(|a, b| (&a.name, a.distro).cmp(&(&b.name, b.distro)));
    }

    pub fn recipes(&self) -> &[Recipe] {
        &self.recipes
    }

    /// Picks the recipe for `--recipe NAME|PATH` and `--distro`. A path is loaded from disk; a name is
    /// looked up; without a name, the distro's only recipe or the product's default is chosen.
    pub fn select(
        &self,
        recipe: Option<&str>,
        distro: Option<&str>,
    ) -> Result<Recipe, RecipeError> {
        let distro = distro
            .map(|d| Distro::parse(d).ok_or_else(|| RecipeError::UnknownDistro(Distro::unknown(d))))
            .transpose()?;
        if let Some(given) = recipe.filter(|r| looks_like_path(r)) {
            let loaded = load_file(Path::new(given))?;
            if let Some(d) = distro.filter(|d| *d != loaded.distro) {
                return Err(RecipeError::NoRecipeForDistro {
                    distro: d.to_string(),
                    for_name: format!(" in {given}"),
                    available: loaded.distro.to_string(),
                });
            }
            return Ok(loaded);
        }
        let mut candidates: Vec<&Recipe> = self
            .recipes
            .iter()
            .filter(|r| distro.is_none_or(|d| r.distro == d))
            .collect();
        if let Some(name) = recipe.map(|given| self.name_in_any_case(given)) {
            if !self.recipes.iter().any(|r| r.name == name) {
                return Err(RecipeError::UnknownRecipe {
                    given: name.to_owned(),
                    available: self.names(),
                    hint: did_you_mean(name, self.recipes.iter().map(|r| r.name.as_str())),
                });
            }
            candidates.retain(|r| r.name == name);
            if candidates.is_empty() {
                return Err(RecipeError::NoRecipeForDistro {
                    distro: distro.map(|d| d.to_string()).unwrap_or_default(),
                    for_name: format!(" in recipe `{name}`"),
                    available: self.distros_of(name),
                });
            }
        } else if candidates.len() > 1 && candidates.iter().any(|r| r.name == DEFAULT_RECIPE) {
            candidates.retain(|r| r.name == DEFAULT_RECIPE);
        }
        match candidates.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(RecipeError::NoRecipeForDistro {
                distro: distro.map(|d| d.to_string()).unwrap_or_default(),
                for_name: String::new(),
                available: self.distros_of(""),
            }),
            many => Err(RecipeError::AmbiguousRecipe(ambiguity(many))),
        }
    }

    /// `given`, or the one recipe name that differs from it only in case (`Hello` for `hello`), as
    /// distros are taken in any case.
    fn name_in_any_case<'a>(&'a self, given: &'a str) -> &'a str {
        let names = || self.recipes.iter().map(|r| r.name.as_str());
        if names().any(|name| name == given) {
            return given;
        }
        let mut folded: Vec<&str> = names().filter(|n| n.eq_ignore_ascii_case(given)).collect();
        folded.dedup();
        match folded.as_slice() {
            [one] => one,
            _ => given,
        }
    }

    fn names(&self) -> String {
        let mut names: Vec<&str> = self.recipes.iter().map(|r| r.name.as_str()).collect();
        names.dedup();
        names.join(", ")
    }

    fn distros_of(&self, name: &str) -> String {
        self.recipes
            .iter()
            .filter(|r| name.is_empty() || r.name == name)
            .map(|r| format!("{} ({})", r.distro, r.name))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// What to say when the recipes `many` (sorted by name and distro) all fit what was asked: which
/// recipes build for which distros, and the flags that pick each.
fn ambiguity(many: &[&Recipe]) -> String {
    let mut by_name: Vec<(&str, Vec<Distro>)> = Vec::new();
    for recipe in many {
        match by_name.iter_mut().find(|(name, _)| *name == recipe.name) {
            Some((_, distros)) => distros.push(recipe.distro),
            None => by_name.push((&recipe.name, vec![recipe.distro])),
        }
    }
    let one_distro = many.iter().all(|r| r.distro == many[0].distro);
    let (said, flags): (String, Vec<String>) = match by_name.as_slice() {
        [(name, distros)] => (
            format!("recipe {name} builds for {}", joined(distros, "and")),
            (distros.iter())
                .map(|d| format!("--distro {}", d.typed()))
                .collect(),
        ),
        _ if one_distro => (
            format!(
                "recipes {} build for {}",
                joined(by_name.iter().map(|(name, _)| name), "and"),
                many[0].distro
            ),
            (by_name.iter())
                .map(|(name, _)| format!("--recipe {name}"))
                .collect(),
        ),
        _ => (
            (by_name.iter())
                .map(|(name, distros)| {
                    format!("recipe {name} builds for {}", joined(distros, "and"))
                })
                .collect::<Vec<_>>()
                .join("; "),
            (many.iter())
                .map(|r| format!("--recipe {} --distro {}", r.name, r.distro.typed()))
                .collect(),
        ),
    };
    format!("{said}: add {}", joined(&flags, "or"))
}

/// `a`, `a and b`, `a, b and c` (with `or` for `and` as `word` says).
fn joined<T: std::fmt::Display>(items: impl IntoIterator<Item = T>, word: &str) -> String {
    let items: Vec<String> = items.into_iter().map(|i| i.to_string()).collect();
    match items.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} {word} {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// What a [`RecipeError::Folder`] suggests: the `.toml` files in `dir` and its sub-folders (as
/// `--recipes-dir` reads them), at most a few, or that there are none.
fn recipe_files_in(dir: &Path) -> String {
    let toml = |p: &PathBuf| p.extension().is_some_and(|e| e == "toml");
    let list = |d: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(d)
            .map(|entries| entries.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    };
    let mut files: Vec<PathBuf> = Vec::new();
    for path in list(dir) {
        if path.is_dir() {
            files.extend(list(&path).into_iter().filter(toml));
        } else if toml(&path) {
            files.push(path);
        }
    }
    files.sort();
    let shown: Vec<String> = (files.iter().take(3))
        .map(|f| f.display().to_string())
        .collect();
    match files.len() {
        0 => " (it holds none)".to_owned(),
        n if n > shown.len() => format!(" ({}, …)", shown.join(", ")),
        _ => format!(" ({})", shown.join(", ")),
    }
}

fn looks_like_path(s: &str) -> bool {
    s.contains('/') || s.ends_with(".toml")
}

/// Reads and checks one recipe file from disk; a folder is refused, saying what to give instead.
pub fn load_file(path: &Path) -> Result<Recipe, RecipeError> {
    if path.is_dir() {
        return Err(RecipeError::Folder {
            path: path.to_owned(),
            inside: recipe_files_in(path),
        });
    }
    let text = std::fs::read_to_string(path).map_err(|source| RecipeError::Read {
        path: PathBuf::from(path),
        source,
    })?;
    validate::parse(SourceText::new(path.display().to_string(), text))
}

#[cfg(test)]
#[path = "catalog_tests.rs"]
mod tests;
