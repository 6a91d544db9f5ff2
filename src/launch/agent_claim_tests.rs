//! The role agent's claims on data directories, run for real on a scratch "machine" that several
//! nodes share (each with its own bundle, state and log, as the `ssh` provider's slots have): a
//! directory is made or taken by one node only, whether the agents run one after the other or at
//! once; an agent run again for its node keeps its claims; a claim whose node has left the machine
//! is taken over (not while its bundle is being written again); and a directory the node does not
//! take leaves no claim behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

use super::{AGENT, bundle, unpack_bundle};

/// One node of the scratch machine rooted at `root`.
struct Node {
    name: &'static str,
    bundle: PathBuf,
    state: PathBuf,
    log: PathBuf,
}

impl Node {
    /// Node `name`, its bundle unpacked, listing `data`; its command notes whether it inherited
    /// the agent's lock (descriptor 9) in `ROOT/fd9-NAME`.
    fn new(root: &Path, name: &'static str, data: &[&str]) -> Self {
        let at = |kind: &str| root.join(format!("{kind}-{name}"));
        let node = Self {
            name,
            bundle: at("bundle"),
            state: at("state"),
            log: at("log"),
        };
        let mut b = bundle(root);
        b.node = name.into();
        b.setup = None;
        b.command = format!(
            "if [ -e /proc/$$/fd/9 ]; then echo held; else echo free; fi > {}/fd9-{name}",
            root.display()
        );
        b.data = data.iter().map(|d| (*d).to_owned()).collect();
        unpack_bundle(&b, &node.bundle);
        node
    }

    fn agent(&self, root: &Path) -> Command {
        let mut cmd = Command::new("bash");
        cmd.arg(AGENT)
            .env("BAKER_BUNDLE", &self.bundle)
            .env("BAKER_AGENT_ROOT", root)
            .env("BAKER_AGENT_LOG_DIR", &self.log)
            .env("BAKER_AGENT_STATE_DIR", &self.state)
            .env("BAKER_AGENT_MACHINE_DIR", root)
            .env("BAKER_SEED", "/nonexistent")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs the agent to its end (the command exits at once), as a restart would: from the start,
    /// the data directories looked at again (an agent stopped before it finished them).
    fn run(&self, root: &Path) {
        let _ = std::fs::remove_file(self.state.join("data-dirs-checked"));
        let out = self.agent(root).output().unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn notes(&self) -> String {
        std::fs::read_to_string(self.state.join("data-dirs")).unwrap_or_default()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log.join("role.log")).unwrap_or_default()
    }
}

/// The machine's claim entry on `dir`.
fn claim(root: &Path, dir: &str) -> PathBuf {
    root.join("claims")
        .join(hex::encode(Sha256::digest(dir.as_bytes())))
}

/// The node that holds the machine's claim on `dir`, if any.
fn owner(root: &Path, dir: &str) -> Option<String> {
    let text = std::fs::read_to_string(claim(root, dir).join("node")).ok()?;
    Some(text.trim_end().to_owned())
}

/// Two nodes list the same directories (a recipe whose paths ignore the slot, or two clusters):
/// the first makes one and takes the other, empty one; the second takes neither, and says whose
/// they are; the first, run again, keeps both without a second note; once the first has left the
/// machine without its destroy, the second takes them over. A directory that holds files is
/// left unclaimed, and the role's process does not hold the agent's lock.
#[test]
fn a_data_directory_is_made_or_taken_by_one_node_of_a_machine_and_kept_by_it() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("srv/shared")).unwrap();
    std::fs::set_permissions(
        root.join("srv/shared"),
        std::fs::Permissions::from_mode(0o751),
    )
    .unwrap();
    std::fs::create_dir_all(root.join("srv/full")).unwrap();
    std::fs::write(root.join("srv/full/PG_VERSION"), "15\n").unwrap();
    let data = ["/srv/shared", "/var/lib/made", "/srv/full"];
    let (first, second) = (Node::new(root, "n1", &data), Node::new(root, "n2", &data));
    let meta = std::fs::metadata(root.join("srv/shared")).unwrap();
    let owner_ids = format!("{}:{}", meta.uid(), meta.gid());

    first.run(root);
    let noted = format!(
        "claims\nwas 751 {owner_ids} /srv/shared\nfound /srv/shared\nparent /var\nparent /var/lib\n\
         made /var/lib/made\n"
    );
    assert_eq!(first.notes(), noted);
    assert_eq!(owner(root, "/srv/shared").as_deref(), Some("n1"));
    assert_eq!(owner(root, "/var/lib/made").as_deref(), Some("n1"));
    assert!(
        !claim(root, "/srv/full").exists(),
        "a directory not taken stays unclaimed"
    );
    let held = std::fs::read_to_string(root.join("fd9-n1")).unwrap();
    assert_eq!(held, "free\n", "the role inherited the agent's lock");

    second.run(root);
    assert_eq!(second.notes(), "claims\n");
    let log = second.log();
    for taken in ["/srv/shared", "/var/lib/made"] {
        let warning = format!("WARNING: {taken} is claimed by node n1 of this machine");
        assert_eq!(log.matches(&warning).count(), 1, "{log}");
    }
    assert_eq!(owner(root, "/srv/shared").as_deref(), Some("n1"));

    // Run again for its node (stopped before it finished): the same claims, no second note.
    first.run(root);
    assert_eq!(first.notes(), noted);
    assert!(!first.log().contains("is claimed by"), "{}", first.log());
    assert_eq!(owner(root, "/var/lib/made").as_deref(), Some("n1"));

    // The first node's bundle is being written again (`start` restarting it): its directory is
    // there without its `node` file yet, so the first node is still on the machine.
    let node_file = first.bundle.join("node");
    let kept = std::fs::read(&node_file).unwrap();
    std::fs::remove_file(&node_file).unwrap();
    second.run(root);
    assert_eq!(second.notes(), "claims\n");
    assert_eq!(owner(root, "/srv/shared").as_deref(), Some("n1"));
    assert_eq!(owner(root, "/var/lib/made").as_deref(), Some("n1"));
    std::fs::write(&node_file, kept).unwrap();

    // The first node is gone from the machine (its bundle with it) without its destroy.
    std::fs::remove_dir_all(&first.bundle).unwrap();
    second.run(root);
    let notes = second.notes();
    assert!(
        notes.contains("found /srv/shared\n") && notes.contains("found /var/lib/made\n"),
        "{notes}"
    );
    assert!(!notes.contains("/srv/full"), "{notes}");
    assert_eq!(owner(root, "/srv/shared").as_deref(), Some("n2"));
    assert_eq!(owner(root, "/var/lib/made").as_deref(), Some("n2"));
    assert!(
        second
            .log()
            .contains("node n1, whose claim on /srv/shared this was, is no longer on this machine"),
        "{}",
        second.log()
    );
}

/// Two agents started at the same moment on one directory that exists empty and one that does
/// not: each is made or taken by exactly one of them, which holds its claim; the other says so.
#[test]
fn agents_started_at_once_never_both_take_one_data_directory() {
    for _ in 0..4 {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("srv/shared")).unwrap();
        let data = ["/srv/shared", "/srv/new"];
        let nodes = [Node::new(root, "n1", &data), Node::new(root, "n2", &data)];
        let mut running: Vec<_> = (nodes.iter())
            .map(|n| {
                n.agent(root)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for agent in &mut running {
            assert!(agent.wait().unwrap().success());
        }
        for (taken, how) in [("/srv/shared", "found"), ("/srv/new", "made")] {
            let note = format!("{how} {taken}\n");
            let takers: Vec<&str> = (nodes.iter())
                .filter(|n| n.notes().contains(&note))
                .map(|n| n.name)
                .collect();
            assert_eq!(takers.len(), 1, "{taken} taken by {takers:?}");
            assert_eq!(owner(root, taken).as_deref(), Some(takers[0]));
            let other = nodes.iter().find(|n| n.name != takers[0]).unwrap();
            let warning = format!("WARNING: {taken} is claimed by node {}", takers[0]);
            assert!(other.log().contains(&warning), "{}", other.log());
        }
    }
}
