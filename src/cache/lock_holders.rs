//! Who holds the cache's lock, so that a `cache prune` that waits, or a `--no-wait` that gives up,
//! names the commands it waits for ("pid 4242 (baker build --recipe postgresql …)") instead of
//! leaving the user to guess. Linux lists every `flock(2)` lock in `/proc/locks` by the pid that
//! took it and the file's device and inode; the pid's `/proc/<pid>/cmdline` says what it runs.
//! Nothing is written for this, so a killed baker leaves nothing stale. Best effort: where
//! `/proc` says nothing (another pid namespace, a process gone meanwhile), the list is shorter.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The longest command line shown for one holder.
const COMMAND_CHARS: usize = 100;

/// `pid <n> (<command line>)` for each process holding a `flock(2)` lock on `path`, but this one.
pub fn lock_holders(path: &Path) -> Vec<String> {
    let mut pids: Vec<u32> = (holder_pids(path).unwrap_or_default().into_iter())
        .filter(|pid| *pid != std::process::id())
        .collect();
    pids.sort_unstable();
    pids.dedup();
    pids.into_iter()
        .map(|pid| format!("pid {pid} ({})", command_of(pid)))
        .collect()
}

/// Whether this process is known to be the only one holding a `flock(2)` lock on `path`: it is among
/// the holders `/proc/locks` lists and no other is. False when that cannot be told.
pub fn held_by_this_process_alone(path: &Path) -> bool {
    holder_pids(path)
        .is_some_and(|pids| !pids.is_empty() && pids.iter().all(|pid| *pid == std::process::id()))
}

/// The pids holding a `flock(2)` lock on `path`, from `/proc/locks`; `None` when it cannot be read.
fn holder_pids(path: &Path) -> Option<Vec<u32>> {
    let meta = std::fs::metadata(path).ok()?;
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    let file = format!(
        "{:02x}:{:02x}:{}",
        rustix::fs::major(meta.dev()),
        rustix::fs::minor(meta.dev()),
        meta.ino()
    );
    Some(locks_on(&locks, &file))
}

/// The pids of the `FLOCK` lines of `/proc/locks` on `file` (`MAJOR:MINOR:INODE`, the first two in
/// hex); a waiter's line (`->`) is not a holder.
fn locks_on(locks: &str, file: &str) -> Vec<u32> {
    locks
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields.as_slice() {
                [_, "FLOCK", _, _, pid, on, ..] if *on == file => pid.parse().ok(),
                _ => None,
            }
        })
        .collect()
}

fn command_of(pid: u32) -> String {
    let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return "(gone)".to_owned();
    };
    let mut args = raw
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned());
    let program = args.next().unwrap_or_default();
    let program = Path::new(&program)
        .file_name()
        .map_or(program.clone(), |n| n.to_string_lossy().into_owned());
    let line = std::iter::once(program)
        .chain(args)
        .collect::<Vec<_>>()
        .join(" ");
    match line.char_indices().nth(COMMAND_CHARS) {
        Some((cut, _)) => format!("{} …", &line[..cut]),
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_holders_of_a_file_from_proc_locks() {
        let locks = "1: FLOCK  ADVISORY  READ  4242 fe:00:746163 0 EOF\n\
                     2: FLOCK  ADVISORY  WRITE 17 fe:00:999 0 EOF\n\
                     2: -> FLOCK  ADVISORY  WRITE 18 fe:00:746163 0 EOF\n\
                     3: POSIX  ADVISORY  WRITE 19 fe:00:746163 0 EOF\n\
                     4: FLOCK  ADVISORY  READ  4343 fe:00:746163 0 EOF\n";
        assert_eq!(locks_on(locks, "fe:00:746163"), [4242, 4343]);
    }

    /// A child holding the lock is named with its command line; this process is never listed.
    #[test]
    fn names_another_process_holding_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in-use.lock");
        std::fs::write(&path, "").unwrap();
        let ours = std::fs::File::open(&path).unwrap();
        rustix::fs::flock(&ours, rustix::fs::FlockOperation::LockShared).unwrap();
        assert!(held_by_this_process_alone(&path));
        let mut child = std::process::Command::new("flock")
            .args(["-s", path.to_str().unwrap(), "sleep", "30"])
            .spawn()
            .unwrap();
        let mut holders = Vec::new();
        // Up to 10 s for the child to start and take the lock, on a loaded machine.
        for _ in 0..500 {
            holders = lock_holders(&path);
            if !holders.is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let alone_beside_the_child = held_by_this_process_alone(&path);
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(holders.len(), 1, "{holders:?}");
        assert!(!alone_beside_the_child);
        assert!(
            holders[0].starts_with(&format!("pid {} (flock -s ", child.id())),
            "{holders:?}"
        );
    }
}
