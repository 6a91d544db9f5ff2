//! What can go wrong while finding, reading and checking a recipe. Every fault inside a file carries
//! its `file:line:column`, the offending line, what was expected and, for a typo, the nearest valid name.

use std::path::PathBuf;

use super::source_text::{Location, SourceText};

#[derive(Debug, thiserror::Error)]
pub enum RecipeError {
    #[error("{location}: {message}\n{}", location.snippet)]
    At { location: Location, message: String },

    #[error("cannot read recipe {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

    /// `--recipe` names a folder; `inside` lists some of its recipe files (`" (a.toml, …)"`), or
    /// says it holds none.
    #[error(
        "{} is a folder, not a recipe file: give --recipes-dir {} to use the recipes in it (then \
         --recipe NAME), or --recipe with one of its .toml files{inside}",
        path.display(),
        path.display()
    )]
    Folder { path: PathBuf, inside: String },

    /// [`super::Distro::unknown`]'s message.
    #[error("{0}")]
    UnknownDistro(String),

    /// `hint` is [`did_you_mean`]'s.
    #[error("no recipe named `{given}`; available: {available}{hint}")]
    UnknownRecipe {
        given: String,
        available: String,
        hint: String,
    },

    #[error("no recipe for distro {distro}{for_name}; recipes exist for: {available}")]
    NoRecipeForDistro {
        distro: String,
        for_name: String,
        available: String,
    },

    /// Several recipes fit: which recipes build for which distros, and the flags that pick each
    /// (see the catalog's `ambiguity`).
    #[error("{0}")]
    AmbiguousRecipe(String),

    /// Two files of one recipes directory, `first` and `second`, define recipe `name` for `distro`.
    #[error(
        "recipe {name} for {distro} is defined twice in the recipes directory, by {first} and by \
         {second}: remove one, or change the `name` of one"
    )]
    Duplicate {
        name: String,
        distro: String,
        first: String,
        second: String,
    },

    #[error("recipe {recipe} has no optional step `{given}`; optional steps: {available}")]
    UnknownOptionalStep {
        recipe: String,
        given: String,
        available: String,
    },

    #[error("recipe {recipe} has no version `{given}`; it has: {available}")]
    UnknownVersion {
        recipe: String,
        given: String,
        available: String,
    },
}

impl RecipeError {
    /// A TOML error in `source`, located, with the nearest valid name for an unknown field.
    pub(super) fn from_toml(source: &SourceText, err: &toml::de::Error) -> Self {
        let span = err.span().unwrap_or(0..0);
        let mut message = err.message().trim().to_owned();
        // serde says: unknown field `pakages`, expected one of `recipe`, `base`, …
        if let Some(rest) = message.strip_prefix("unknown field `") {
            let given = rest.split('`').next().unwrap_or_default().to_owned();
            let expected: Vec<&str> = message
                .split_once("expected")
                .map(|(_, list)| list.split('`').skip(1).step_by(2).collect())
                .unwrap_or_default();
            message.push_str(&did_you_mean(&given, expected.iter().copied()));
        }
        Self::At {
            location: source.locate(span),
            message,
        }
    }
}

/// The nearest of `candidates` to `given`, if it is close enough to be a likely typo.
pub fn nearest<'a>(given: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(given, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `; did you mean `x`?` naming the [`nearest`] of `candidates` to `given`, or nothing when none is
/// close: the end of an error message about a mistyped name.
pub fn did_you_mean<'a>(given: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    nearest(given, candidates)
        .map(|n| format!("; did you mean `{n}`?"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::{did_you_mean, nearest};

    #[test]
    fn suggests_close_names_only() {
        let fields = ["packages", "profile", "source"];
        assert_eq!(nearest("pakages", fields), Some("packages"));
        assert_eq!(nearest("sorce", fields), Some("source"));
        assert_eq!(nearest("zzzzzzzz", fields), None);
        assert_eq!(did_you_mean("sorce", fields), "; did you mean `source`?");
        assert_eq!(did_you_mean("zzzzzzzz", fields), "");
    }
}
