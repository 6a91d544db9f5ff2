//! The clean-up of one `ssh` node ([`super::destroy`]) run for real with bash on a scratch
//! "machine": nodes of one machine left alone, data directories removed or emptied as their notes
//! and claims say, the agent's processes stopped.

use super::*;

#[path = "ssh_destroy_claim_tests.rs"]
mod claims;

/// Slot `slot`'s directories on a scratch "machine" rooted at `root`.
fn slot_dirs(root: &str, slot: usize) -> NodeDirs {
    let at = |kind: &str| format!("{root}/{kind}-{slot}");
    NodeDirs {
        bundle: at("bundle"),
        state: at("state"),
        log: at("log"),
        run: at("run"),
    }
}

fn run(script: &str) -> Option<i32> {
    std::process::Command::new("bash")
        .args(["-c", script])
        .status()
        .unwrap()
        .code()
}

/// Two nodes on one scratch "machine": destroying one refuses a slot that holds another node,
/// keeps the file both installed and the other node's directories, and leaves the role's user
/// to the other; destroying the last removes the shared file too.
#[test]
fn destroying_one_node_leaves_the_other_node_on_its_machine_alone() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().display().to_string();
    let dirs = |slot: usize| slot_dirs(&root, slot);
    let shared = format!("{root}/etc/shared.conf");
    for (slot, node) in [(0, "m-slave-1"), (1, "m-slave-2")] {
        let d = dirs(slot);
        let files = format!("{}/files{root}/etc", d.bundle);
        for p in [&files, &d.state, &d.log, &d.run] {
            std::fs::create_dir_all(p).unwrap();
        }
        std::fs::write(format!("{files}/shared.conf"), "x").unwrap();
        std::fs::write(format!("{}/node", d.bundle), node).unwrap();
        std::fs::write(format!("{}/state-dir", d.bundle), &d.state).unwrap();
    }
    std::fs::create_dir_all(format!("{root}/etc")).unwrap();
    std::fs::write(&shared, "x").unwrap();
    // A user name that cannot exist, so that the last destroy's userdel is harmless.
    std::fs::write(
        format!("{}/created-user", dirs(0).state),
        "baker-no-such-user\n",
    )
    .unwrap();
    let all = format!("{root}/bundle-[0-9]*");
    let script = |node: &str, slot: usize| destroy_among(node, &dirs(slot), &all, &root);

    assert_eq!(run(&script("m-slave-2", 0)), Some(3));
    assert!(std::path::Path::new(&dirs(0).bundle).exists());

    assert_eq!(run(&script("m-slave-1", 0)), Some(0));
    for p in [dirs(0).bundle, dirs(0).state, dirs(0).log, dirs(0).run] {
        assert!(!std::path::Path::new(&p).exists(), "{p} is left");
    }
    for p in [dirs(1).bundle, dirs(1).log, dirs(1).run, shared.clone()] {
        assert!(std::path::Path::new(&p).exists(), "{p} was removed");
    }
    let heir = std::fs::read_to_string(format!("{}/created-user", dirs(1).state)).unwrap();
    assert_eq!(heir, "baker-no-such-user\n");

    assert_eq!(run(&script("m-slave-2", 1)), Some(0));
    assert!(!std::path::Path::new(&shared).exists());
    assert!(!std::path::Path::new(&dirs(1).state).exists());
    // Safe to repeat.
    assert_eq!(run(&script("m-slave-2", 1)), Some(0));
}

/// The data directories the agents noted: each node's own goes with it (removed when made,
/// emptied and given back its mode and owner when found), a noted directory that is a link
/// now is left with what it points to, and the parents made go with the machine's last node,
/// deepest first, whichever node noted them; a directory no agent noted stays.
#[test]
fn destroy_removes_the_data_directories_its_node_made_and_their_parents_with_the_last() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().display().to_string();
    let dirs = |slot: usize| slot_dirs(&root, slot);
    let (pg, found, theirs, link) = (
        format!("{root}/var/pg"),
        format!("{root}/srv/found dir"),
        format!("{root}/srv/theirs"),
        format!("{root}/srv/link"),
    );
    for p in [
        format!("{pg}/data-0/base"),
        format!("{pg}/inner/data-1"),
        found.clone(),
        theirs.clone(),
    ] {
        std::fs::create_dir_all(p).unwrap();
    }
    std::fs::write(format!("{found}/PG_VERSION"), "15\n").unwrap();
    std::fs::write(format!("{theirs}/keep"), "x").unwrap();
    std::os::unix::fs::symlink(&theirs, &link).unwrap();
    let meta = std::fs::metadata(&root).unwrap();
    let owner = format!("{}:{}", meta.uid(), meta.gid());
    std::fs::set_permissions(&found, std::fs::Permissions::from_mode(0o700)).unwrap();
    let notes = [
        format!(
            "parent {root}/var\nparent {pg}\nmade {pg}/data-0\nwas 751 {owner} {found}\n\
             found {found}\nmade {link}\n"
        ),
        format!("parent {pg}/inner\nmade {pg}/inner/data-1\n"),
    ];
    for (slot, note) in notes.iter().enumerate() {
        let d = dirs(slot);
        for p in [&d.bundle, &d.state] {
            std::fs::create_dir_all(p).unwrap();
        }
        std::fs::write(format!("{}/node", d.bundle), format!("n{slot}")).unwrap();
        std::fs::write(format!("{}/state-dir", d.bundle), &d.state).unwrap();
        std::fs::write(format!("{}/data-dirs", d.state), note).unwrap();
    }
    let all = format!("{root}/bundle-[0-9]*");
    let exists = |p: &str| std::path::Path::new(p).exists();

    assert_eq!(run(&destroy_among("n0", &dirs(0), &all, &root)), Some(0));
    assert!(!exists(&format!("{pg}/data-0")));
    assert!(
        exists(&format!("{pg}/inner/data-1")),
        "the other node's data went too"
    );
    assert!(
        std::fs::read_dir(&found).unwrap().next().is_none(),
        "not emptied"
    );
    let mode = std::fs::metadata(&found).unwrap().permissions().mode();
    assert_eq!(
        mode & 0o777,
        0o751,
        "the found directory's mode is not given back"
    );
    assert!(exists(&format!("{theirs}/keep")), "a link was followed");
    assert_eq!(
        std::fs::read_to_string(format!("{}/data-dirs", dirs(1).state)).unwrap(),
        format!("parent {pg}/inner\nmade {pg}/inner/data-1\nparent {root}/var\nparent {pg}\n")
    );

    assert_eq!(run(&destroy_among("n1", &dirs(1), &all, &root)), Some(0));
    assert!(
        !exists(&format!("{root}/var")),
        "a parent made for the data is left"
    );
    assert!(exists(&found) && exists(&theirs));
}

/// What runs: the state of each process in `pids` (`None` when it is gone or a zombie).
fn running(pids: &[String]) -> Vec<Option<String>> {
    pids.iter()
        .map(|p| {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
            let state = stat[stat.rfind(')')? + 2..].split(' ').next()?.to_owned();
            (state != "Z").then_some(state)
        })
        .collect()
}

/// The `sleep` processes whose session is `sid`, from `/proc/*/stat`: what an agent stand-in
/// leaves once started, without the shells that are still on their way to exit.
fn in_session(sid: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let sleeps = stat.get(..close).is_some_and(|s| s.ends_with("(sleep"));
        if sleeps && stat[close + 2..].split(' ').nth(3) == Some(sid) {
            found.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    found
}

/// An agent stand-in started as `start` starts one (its own session, recorded by
/// `record_agent`), which leaves an orphan in its session, starts a child and becomes its
/// role: destroy stops all three. A process that took a recorded pid but not its start time is
/// neither alive nor stopped.
#[test]
fn destroy_stops_the_agents_process_its_children_and_its_session_but_no_stranger() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().display().to_string();
    let dirs = |name: &str| {
        let at = |kind: &str| format!("{root}/{name}-{kind}");
        let d = NodeDirs {
            bundle: at("bundle"),
            state: at("state"),
            log: at("log"),
            run: at("run"),
        };
        for p in [&d.bundle, &d.state, &d.log, &d.run] {
            std::fs::create_dir_all(p).unwrap();
        }
        std::fs::write(format!("{}/node", d.bundle), name).unwrap();
        d
    };
    let start = |d: &NodeDirs| {
        let script = format!(
            "setsid bash -c '(sleep 302 &); sleep 303 & exec sleep 301' </dev/null >/dev/null 2>&1 &\n{}",
            crate::launch::ssh_scripts::record_agent("$!", d)
        );
        assert_eq!(run(&script), Some(0));
        std::fs::read_to_string(d.pidfile())
            .unwrap()
            .trim()
            .to_owned()
    };
    let (agent, stranger) = (dirs("agent"), dirs("stranger"));
    let (pid, other) = (start(&agent), start(&stranger));
    // The stranger's recorded start time is another process's.
    std::fs::write(stranger.start_file(), "1\n").unwrap();
    // Its orphan and child in place: three processes in each session.
    let started = std::time::Instant::now();
    while (in_session(&pid).len() < 3 || in_session(&other).len() < 3)
        && started.elapsed().as_secs() < 10
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let (session, strangers) = (in_session(&pid), in_session(&other));
    assert_eq!(session.len(), 3, "the agent's session: {session:?}");
    assert_eq!(strangers.len(), 3, "the stranger's session: {strangers:?}");

    let alive =
        |d: &NodeDirs, node: &str| run(&crate::launch::ssh_scripts::alive(d, node)) == Some(0);
    assert!(alive(&agent, "agent"));
    assert!(
        !alive(&agent, "stranger"),
        "an agent in a slot that names another node is not this node's"
    );
    assert!(
        !alive(&stranger, "stranger"),
        "a pid with another start time is not the agent"
    );
    assert_eq!(
        run(&destroy_among("stranger", &stranger, "", &root)),
        Some(0)
    );
    let untouched = running(&strangers);
    assert_eq!(run(&destroy_among("agent", &agent, "", &root)), Some(0));
    let after = running(&session);
    run(&format!("kill -9 {}", strangers.join(" ")));

    assert!(untouched.iter().all(Option::is_some), "{untouched:?}");
    assert_eq!(after, vec![None; 3], "{session:?}");
}
