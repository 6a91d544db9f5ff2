//! The QEMU processes of the `qemu` provider's VMs, found again after `baker launch` has exited:
//! through each VM's pidfile (`-pidfile`), and, for a cluster whose state directory was removed by
//! hand, through the command lines that still name it; and the forwards a running one listens on,
//! from its command line. A pid is taken for a VM only when its command line names the VM's
//! pidfile, so a reused pid is never signalled.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::qemu_vm::forwards_in;

/// The QEMU process behind `pidfile`, when it still runs: the pid must be a QEMU whose command
/// line names this pidfile, so a reused pid is never taken for the VM.
pub fn running_pid(pidfile: &Path) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(pidfile).ok()?.trim().parse().ok()?;
    is_vm(pid, pidfile).then_some(pid)
}

/// The forwards (guest port -> host port) of the VM behind `pidfile`, when it runs: read from its
/// QEMU's command line, they are the ones it listens on, whatever the state recorded (a launch
/// stopped after it moved a node's forwards and before it recorded them).
pub fn running_forwards(pidfile: &Path) -> Option<BTreeMap<u16, u16>> {
    let pid = running_pid(pidfile)?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    forwards_in(&arguments(&cmdline))
}

/// A command line from `/proc/PID/cmdline`, as its arguments.
fn arguments(cmdline: &[u8]) -> Vec<String> {
    cmdline
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// Whether process `pid` is the QEMU that writes `pidfile`.
fn is_vm(pid: i32, pidfile: &Path) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let cmdline = String::from_utf8_lossy(&cmdline);
    cmdline.contains("qemu-system") && cmdline.contains(&*pidfile.to_string_lossy())
}

/// The QEMU processes whose `-pidfile` lies in `dir`, found from their command lines: the VMs of a
/// cluster whose state directory was removed by hand, which no pidfile leads to any more.
pub fn running_under(dir: &Path) -> Vec<(i32, PathBuf)> {
    let Ok(processes) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut vms: Vec<(i32, PathBuf)> = processes
        .flatten()
        .filter_map(|entry| {
            let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
            let args = arguments(&std::fs::read(entry.path().join("cmdline")).ok()?);
            let qemu = args.iter().any(|a| {
                let program = a.rsplit('/').next().unwrap_or_default();
                program.starts_with("qemu-system")
            });
            let at = args.iter().position(|a| a == "-pidfile")?;
            let pidfile = PathBuf::from(args.get(at + 1)?);
            (qemu && pidfile.parent() == Some(dir)).then_some((pid, pidfile))
        })
        .collect();
    vms.sort();
    vms
}

/// Stops the VM behind `pidfile` (SIGTERM, then SIGKILL after 10 s); whether one ran.
pub async fn stop(pidfile: &Path) -> bool {
    match running_pid(pidfile) {
        Some(pid) => stop_vm(pid, pidfile).await,
        None => false,
    }
}

/// Stops every QEMU whose pidfile lies in `dir` ([`running_under`]); how many ran.
pub async fn stop_all_under(dir: &Path) -> usize {
    let mut stopped = 0;
    for (pid, pidfile) in running_under(dir) {
        if stop_vm(pid, &pidfile).await {
            stopped += 1;
        }
    }
    stopped
}

/// Stops process `pid` while it is the QEMU of `pidfile` (SIGTERM, then SIGKILL after 10 s).
async fn stop_vm(pid: i32, pidfile: &Path) -> bool {
    let Some(process) = rustix::process::Pid::from_raw(pid) else {
        return false;
    };
    let _ = rustix::process::kill_process(process, rustix::process::Signal::TERM);
    for _ in 0..100 {
        if !is_vm(pid, pidfile) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if is_vm(pid, pidfile) {
        let _ = rustix::process::kill_process(process, rustix::process::Signal::KILL);
    }
    true
}

/// A process whose command line reads `bash -c … PROGRAM -pidfile PIDFILE`, in a process group of
/// its own (the test kills the group), returned once `/proc` shows that command line: without
/// that wait, `status` read `-` for a lookalike in 3 of 6 runs of the unit tests at 8 threads. It
/// waits with a builtin on the pipe its `Child` holds: a forked `sleep` would carry the same
/// command line until its `exec`, a second lookalike.
#[cfg(test)]
pub(crate) fn lookalike(program: &str, pidfile: &Path) -> std::process::Child {
    lookalike_with(program, pidfile, &[])
}

/// A [`lookalike`] whose command line goes on with `more` arguments after the pidfile.
#[cfg(test)]
pub(crate) fn lookalike_with(program: &str, pidfile: &Path, more: &[&str]) -> std::process::Child {
    use std::os::unix::process::CommandExt;
    let child = std::process::Command::new("bash")
        .args(["-c", "read -r -t 60 || :", program, "-pidfile"])
        .arg(pidfile)
        .args(more)
        .stdin(std::process::Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let cmdline = format!("/proc/{}/cmdline", child.id());
    let started = std::time::Instant::now();
    let path = pidfile.to_string_lossy().into_owned();
    while !std::fs::read(&cmdline).is_ok_and(|line| String::from_utf8_lossy(&line).contains(&path))
    {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "the lookalike did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_vms_of_a_removed_state_directory_are_found_by_their_command_lines() {
        let dir = tempfile::tempdir().unwrap();
        let cluster = dir.path().join("pg");
        let elsewhere = dir.path().join("other");
        let mut vm = lookalike(
            "/usr/bin/qemu-system-x86_64",
            &cluster.join("pg-primary.pid"),
        );
        let mut other_vm = lookalike("qemu-system-x86_64", &elsewhere.join("pg-primary.pid"));
        let mut not_qemu = lookalike("/usr/bin/sleepy", &cluster.join("pg-standby-1.pid"));
        let found = (0..50)
            .map(|_| {
                std::thread::sleep(Duration::from_millis(20));
                running_under(&cluster)
            })
            .find(|found| !found.is_empty())
            .unwrap_or_default();
        assert_eq!(
            found,
            vec![(vm.id() as i32, cluster.join("pg-primary.pid"))]
        );
        assert_eq!(stop_all_under(&cluster).await, 1);
        assert!(vm.wait().unwrap().code().is_none(), "stopped by a signal");
        assert!(running_under(&cluster).is_empty());
        for child in [&mut other_vm, &mut not_qemu] {
            assert!(child.try_wait().unwrap().is_none(), "left alone");
        }
        for child in [&vm, &other_vm, &not_qemu] {
            let group = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
        let _ = (other_vm.wait(), not_qemu.wait());
    }
}
