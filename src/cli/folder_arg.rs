//! The value parsers of the options that name a folder baker creates or writes in (`--out`,
//! `--cache-dir`), or reads (`--recipes-dir`), and of `--lock`, a file. A path that is a file, or
//! lies under one (or, read, does not exist), is refused as the options are read, by clap, in an
//! error that names the option — not after a build or an image has run, in an error that names
//! only a path; so are an empty path and a lock file that is a folder. A value that came from the
//! option's variable names it: the user may never have typed the option.

use std::path::{Path, PathBuf};

/// The variables that give the folder options their values when the options are not given.
const FROM_ENV: [&str; 3] = ["BAKER_CACHE_DIR", "BAKER_RECIPES_DIR", "BAKER_LOCK"];

/// `text` as a path, unless it, or the nearest of its parents that exists, is not a folder.
pub fn folder(text: &str) -> Result<PathBuf, String> {
    checked(text).map_err(|why| from_env(text, why))
}

/// `why`, with the variable that `text` came from when it is one of [`FROM_ENV`]'s values: clap's
/// error names only the option, which the user may never have typed.
fn from_env(text: &str, why: String) -> String {
    match FROM_ENV
        .iter()
        .find(|v| std::env::var(v).is_ok_and(|value| value == text))
    {
        Some(var) => format!("{why} (the value of ${var})"),
        None => why,
    }
}

fn checked(text: &str) -> Result<PathBuf, String> {
    if text.is_empty() {
        return Err("an empty path".into());
    }
    let path = PathBuf::from(text);
    match nearest_existing(&path) {
        Some((found, false)) if found == path => Err("a file, not a folder".into()),
        Some((found, false)) => Err(format!(
            "{} is a file, so no folder can be made under it",
            found.display()
        )),
        _ => Ok(path),
    }
}

/// `text` as a path to a folder that exists (one baker reads from: `--recipes-dir`).
pub fn existing_folder(text: &str) -> Result<PathBuf, String> {
    let path = folder(text)?;
    if path.is_dir() {
        Ok(path)
    } else {
        Err(from_env(text, "no such folder".into()))
    }
}

/// `text` as the path of a file baker reads and writes (`--lock`), unless it is empty or a folder.
pub fn file(text: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(text);
    let why = if text.is_empty() {
        "an empty path"
    } else if path.is_dir() {
        "a folder, not a file"
    } else {
        return Ok(path);
    };
    Err(from_env(text, why.into()))
}

/// The path itself or the nearest of its parents that exists, and whether it is a folder
/// (following symbolic links, as creating a folder under it would).
fn nearest_existing(path: &Path) -> Option<(&Path, bool)> {
    path.ancestors()
        .filter(|a| !a.as_os_str().is_empty())
        .find_map(|a| std::fs::metadata(a).ok().map(|m| (a, m.is_dir())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_or_a_path_under_one_is_taken_and_a_file_or_a_path_under_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        let ok = |p: &Path| folder(p.to_str().unwrap());
        assert_eq!(ok(dir.path()), Ok(dir.path().to_owned()));
        assert!(ok(&dir.path().join("new/deeper")).is_ok());
        assert_eq!(ok(&file), Err("a file, not a folder".into()));
        assert_eq!(
            ok(&file.join("out")),
            Err(format!(
                "{} is a file, so no folder can be made under it",
                file.display()
            ))
        );
        assert!(folder("relative-and-new").is_ok());
        assert_eq!(folder(""), Err("an empty path".into()));
        assert!(existing_folder(dir.path().to_str().unwrap()).is_ok());
        assert_eq!(super::file(""), Err("an empty path".into()));
        assert_eq!(
            super::file(dir.path().to_str().unwrap()),
            Err("a folder, not a file".into())
        );
        assert_eq!(super::file(file.to_str().unwrap()), Ok(file.clone()));
        let missing = dir.path().join("missing");
        assert_eq!(
            existing_folder(missing.to_str().unwrap()),
            Err("no such folder".into())
        );
    }
}
