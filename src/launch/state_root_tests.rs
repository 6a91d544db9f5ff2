//! The state root's choice: a relative `$BAKER_STATE_DIR` made every qemu launch fail (the
//! overlay's backing disk was looked for relative to the overlay's folder), so the root is made
//! absolute where it is chosen.

use super::*;

#[test]
fn a_relative_state_root_is_made_absolute_against_the_current_directory() {
    let here = std::env::current_dir().unwrap();
    assert_eq!(absolute_root(PathBuf::from("state")), here.join("state"));
    assert_eq!(
        absolute_root(PathBuf::from("./state/clusters")),
        here.join("state/clusters")
    );
    // An absolute root is kept as given: no symbolic link is resolved.
    assert_eq!(
        absolute_root(PathBuf::from("/var/lib/baker/clusters")),
        PathBuf::from("/var/lib/baker/clusters")
    );
    assert!(StateDir::default_root().unwrap().is_absolute());
}

#[test]
fn an_empty_state_dir_variable_is_refused_rather_than_taken_for_the_current_directory() {
    let err = root_from(Some("".into())).unwrap_err();
    assert!(err.default.is_absolute() && err.default.ends_with("clusters"));
    assert!(
        err.to_string()
            .starts_with("$BAKER_STATE_DIR is an empty path: set it to"),
        "{err}"
    );
    assert_eq!(
        root_from(Some("/srv/states".into())).unwrap(),
        PathBuf::from("/srv/states")
    );
    assert_eq!(root_from(None).unwrap(), err.default);
}
