//! Choosing a recipe: what is said when several fit, a recipe name in any case, two files of one
//! recipes directory defining one recipe, and a folder given where a recipe file is expected.

use super::*;

#[test]
fn without_a_distro_the_product_s_recipes_ask_for_one() {
    let catalog = Catalog::embedded().unwrap();
    let err = catalog.select(None, None).unwrap_err().to_string();
    assert_eq!(
        err,
        "recipe mesos builds for centos-6.6 and ubuntu-14.04: add --distro centos6 or \
         --distro ubuntu14.04"
    );
    let err = catalog.select(Some("mesos"), None).unwrap_err().to_string();
    assert!(
        err.starts_with("recipe mesos builds for centos-6.6 and"),
        "{err}"
    );
    let err = catalog.select(None, Some("bookworm")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "recipes hello and postgresql build for debian-12: add --recipe hello or --recipe \
         postgresql"
    );
    assert_eq!(catalog.select(None, Some("centos6")).unwrap().name, "mesos");
}

#[test]
fn two_files_of_a_recipes_directory_defining_one_recipe_are_refused_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let hello = include_str!("../../recipes/hello/debian-12.toml");
    std::fs::create_dir(dir.path().join("hello")).unwrap();
    std::fs::write(dir.path().join("hello/debian-12.toml"), hello).unwrap();
    let mut catalog = Catalog::embedded().unwrap();
    // One file replaces the embedded recipe.
    catalog.add_dir(dir.path()).unwrap();
    std::fs::write(dir.path().join("copy.toml"), hello).unwrap();
    let err = catalog.add_dir(dir.path()).unwrap_err().to_string();
    let (first, second) = (
        dir.path().join("copy.toml"),
        dir.path().join("hello/debian-12.toml"),
    );
    assert_eq!(
        err,
        format!(
            "recipe hello for debian-12 is defined twice in the recipes directory, by {} and \
             by {}: remove one, or change the `name` of one",
            first.display(),
            second.display()
        )
    );
}

#[test]
fn several_names_over_several_distros_are_each_said_with_the_flags_of_each() {
    let catalog = Catalog::embedded().unwrap();
    let many: Vec<&Recipe> = (catalog.recipes().iter())
        .filter(|r| r.name != "postgresql")
        .collect();
    assert_eq!(
        ambiguity(&many),
        "recipe hello builds for debian-12; recipe mesos builds for centos-6.6 and \
         ubuntu-14.04: add --recipe hello --distro debian12, --recipe mesos --distro centos6 \
         or --recipe mesos --distro ubuntu14.04"
    );
}

#[test]
fn a_folder_given_as_a_recipe_is_refused_saying_what_to_give() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("hello")).unwrap();
    let file = dir.path().join("hello/debian-12.toml");
    std::fs::write(&file, "").unwrap();
    let err = load_file(dir.path()).unwrap_err().to_string();
    let shown = dir.path().display();
    assert_eq!(
        err,
        format!(
            "{shown} is a folder, not a recipe file: give --recipes-dir {shown} to use the \
             recipes in it (then --recipe NAME), or --recipe with one of its .toml files ({})",
            file.display()
        )
    );
    let empty = dir.path().join("hello/empty");
    std::fs::create_dir(&empty).unwrap();
    let err = load_file(&empty).unwrap_err().to_string();
    assert!(
        err.ends_with("or --recipe with one of its .toml files (it holds none)"),
        "{err}"
    );
}

#[test]
fn a_recipe_name_is_taken_in_any_case_as_distros_are() {
    let catalog = Catalog::embedded().unwrap();
    let hello = catalog.select(Some("Hello"), Some("Debian12")).unwrap();
    assert_eq!(hello.name, "hello");
    let err = catalog.select(Some("helo"), None).unwrap_err().to_string();
    assert!(err.contains("did you mean `hello`?"), "{err}");
}
