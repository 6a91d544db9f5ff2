//! Destroy and the machine's claims on data directories (see the agent's), on a scratch machine:
//! a noted directory another node claims is left to it, the node's own claims are released, and the
//! real agent and destroy agree on a directory two nodes list.

use super::super::destroy_among;
use super::slot_dirs;

/// The machine's claim entry on `dir` under `root`'s `claims/`, as the agent names it.
fn claim_entry(root: &str, dir: &str) -> String {
    use sha2::{Digest, Sha256};
    format!(
        "{root}/claims/{}",
        hex::encode(Sha256::digest(dir.as_bytes()))
    )
}

/// A noted data directory that another node of the machine claims is that node's: destroy leaves
/// it as it is (not emptied, its mode not given back) and says whose it is, removes the node's own
/// (claimed by it, or by no one: an agent from before claims noted it), and releases the node's
/// claims, a half-written one included; the machine's last claim gone, so is `claims/`.
#[test]
fn destroy_leaves_a_data_directory_another_node_claims_and_releases_its_own_claims() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().display().to_string();
    let dirs = |slot: usize| slot_dirs(&root, slot);
    let (theirs, mine, older) = (
        format!("{root}/srv/theirs"),
        format!("{root}/srv/mine"),
        format!("{root}/srv/older"),
    );
    for d in [&theirs, &mine, &older] {
        std::fs::create_dir_all(d).unwrap();
        std::fs::write(format!("{d}/data"), "x").unwrap();
    }
    std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o700)).unwrap();
    let meta = std::fs::metadata(&root).unwrap();
    let owner = format!("{}:{}", meta.uid(), meta.gid());
    let was = format!("was 751 {owner} {theirs}\nfound {theirs}\n");
    let notes = [format!("{was}made {mine}\nmade {older}\n"), was];
    for (slot, note) in notes.iter().enumerate() {
        let d = dirs(slot);
        for p in [&d.bundle, &d.state] {
            std::fs::create_dir_all(p).unwrap();
        }
        std::fs::write(format!("{}/node", d.bundle), format!("n{slot}")).unwrap();
        std::fs::write(format!("{}/data-dirs", d.state), note).unwrap();
    }
    for (claimed, node) in [(&theirs, "n1"), (&mine, "n0")] {
        let entry = claim_entry(&root, claimed);
        std::fs::create_dir_all(&entry).unwrap();
        std::fs::write(format!("{entry}/node"), format!("{node}\n")).unwrap();
    }
    let exists = |p: &str| std::path::Path::new(p).exists();

    let said = destroy_node(&root, 0);
    assert!(
        said.contains(&format!("left {theirs}: node n1 of this machine claims it")),
        "{said}"
    );
    assert!(
        exists(&format!("{theirs}/data")),
        "another node's data was emptied"
    );
    let mode = std::fs::metadata(&theirs).unwrap().permissions().mode();
    assert_eq!(
        mode & 0o777,
        0o700,
        "another node's directory got a mode back"
    );
    assert!(!exists(&mine) && !exists(&older));
    assert!(
        !exists(&claim_entry(&root, &mine)),
        "the node's claim is kept"
    );
    assert!(exists(&claim_entry(&root, &theirs)));

    // A claim n1's agent was writing when it was stopped, never put in place: n1's too.
    let half = format!("{root}/claims/.new-4242");
    std::fs::create_dir_all(&half).unwrap();
    std::fs::write(format!("{half}/node"), "n1\n").unwrap();
    destroy_node(&root, 1);
    assert!(std::fs::read_dir(&theirs).unwrap().next().is_none());
    let mode = std::fs::metadata(&theirs).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o751);
    assert!(!exists(&format!("{root}/claims")));
}

/// Starts the real agent of node `n{slot}` on the scratch machine `root`, its bundle listing the
/// data directory `data`, and returns the agent's notes (`data-dirs`) and what it said.
fn start_agent(root: &str, slot: usize, data: &str) -> (String, String) {
    const AGENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/images/agent/baker-agent");
    let d = slot_dirs(root, slot);
    std::fs::create_dir_all(&d.bundle).unwrap();
    for (file, text) in [
        ("node", format!("n{slot}\n")),
        ("role", "r\n".to_owned()),
        ("kind", "slave\n".to_owned()),
        ("command.sh", "true\n".to_owned()),
        ("data", format!("{data}\n")),
    ] {
        std::fs::write(format!("{}/{file}", d.bundle), text).unwrap();
    }
    let _ = std::fs::remove_file(format!("{}/data-dirs-checked", d.state));
    let out = std::process::Command::new("bash")
        .arg(AGENT)
        .env("BAKER_BUNDLE", &d.bundle)
        .env("BAKER_AGENT_STATE_DIR", &d.state)
        .env("BAKER_AGENT_LOG_DIR", &d.log)
        .env("BAKER_AGENT_MACHINE_DIR", root)
        .env("BAKER_SEED", "/nonexistent")
        .output()
        .unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    let notes = std::fs::read_to_string(format!("{}/data-dirs", d.state)).unwrap();
    (notes, said)
}

/// Destroys node `n{slot}` of the scratch machine `root`; returns what it said.
fn destroy_node(root: &str, slot: usize) -> String {
    let all = format!("{root}/bundle-[0-9]*");
    let out = std::process::Command::new("bash")
        .args([
            "-c",
            &destroy_among(&format!("n{slot}"), &slot_dirs(root, slot), &all, root),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The real agent and destroy on one scratch machine, two nodes listing one directory: the first
/// takes it, the second does not; the first leaves the machine without its destroy and the second,
/// started again, takes the directory over and fills it; the first's destroy, run late on what it
/// left, leaves the directory and its data to the second, whose destroy empties it and frees the
/// machine.
#[test]
fn the_agents_claims_and_destroy_agree_on_a_directory_two_nodes_list() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().display().to_string();
    let shared = format!("{root}/srv/shared");
    std::fs::create_dir_all(&shared).unwrap();

    assert!(
        start_agent(&root, 0, &shared)
            .0
            .contains(&format!("found {shared}\n"))
    );
    assert_eq!(start_agent(&root, 1, &shared).0, "claims\n");
    std::fs::remove_dir_all(slot_dirs(&root, 0).bundle).unwrap();
    assert!(
        start_agent(&root, 1, &shared)
            .0
            .contains(&format!("found {shared}\n"))
    );
    // The second node's role keeps its data there.
    std::fs::write(format!("{shared}/PG_VERSION"), "15\n").unwrap();

    destroy_node(&root, 0);
    assert!(std::path::Path::new(&format!("{shared}/PG_VERSION")).exists());
    destroy_node(&root, 1);
    assert!(std::fs::read_dir(&shared).unwrap().next().is_none());
    assert!(!std::path::Path::new(&format!("{root}/claims")).exists());
}

/// A node that left the machine without its destroy, its directory full: the next node to list it
/// takes the claim over, finds the directory in use and gives the claim up, leaving the data to
/// whatever runs there; the first node's destroy, run late, must not empty it for want of a claim
/// (its notes say it took the directory under one), nor must the second's.
#[test]
fn a_late_destroy_leaves_a_directory_whose_claim_was_taken_over_and_given_up() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().display().to_string();
    let data = format!("{root}/srv/data");

    let (notes, _) = start_agent(&root, 0, &data);
    assert_eq!(notes, format!("claims\nparent {root}/srv\nmade {data}\n"));
    std::fs::write(format!("{data}/PG_VERSION"), "15\n").unwrap();
    std::fs::remove_dir_all(slot_dirs(&root, 0).bundle).unwrap();
    let (notes, said) = start_agent(&root, 1, &data);
    assert_eq!(notes, "claims\n");
    assert!(said.contains("is no longer on this machine"), "{said}");
    assert!(said.contains("is not an empty directory"), "{said}");

    let said = destroy_node(&root, 0);
    assert!(
        said.contains(&format!("left {data}: this node no longer claims it")),
        "{said}"
    );
    assert!(std::path::Path::new(&format!("{data}/PG_VERSION")).exists());
    destroy_node(&root, 1);
    assert!(std::path::Path::new(&format!("{data}/PG_VERSION")).exists());
}
