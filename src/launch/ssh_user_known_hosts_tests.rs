//! The user's known-hosts files read from `ssh -G`'s output (OpenSSH's own, and what ssh prints
//! for a config that names them, where ssh is installed), the defaults when it cannot say, and
//! one question per machine however many connections ask.

use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The lines around the one that matters, as OpenSSH 9.2 prints them.
const PRINTED: &str = "user admin\nhostname db1\nport 2222\nhashknownhosts yes\n\
globalknownhostsfile /etc/ssh/ssh_known_hosts /etc/ssh/ssh_known_hosts2\n\
userknownhostsfile /home/me/.ssh/known_hosts /srv/team/known_hosts\nidentityfile ~/.ssh/id_rsa\n";

fn strings(files: &[&str]) -> Vec<String> {
    files.iter().map(|f| (*f).to_owned()).collect()
}

#[test]
fn ssh_g_s_known_hosts_line_gives_the_user_s_files() {
    assert_eq!(
        parse(PRINTED),
        Some(strings(&[
            "/home/me/.ssh/known_hosts",
            "/srv/team/known_hosts"
        ]))
    );
    assert_eq!(parse("userknownhostsfile none\n"), Some(Vec::new()));
    assert_eq!(parse("user admin\nport 22\n"), None);
    assert_eq!(parse(""), None);
    // Unexpanded, as OpenSSH before 8.4 prints them: ssh expands the `~` when it connects.
    assert_eq!(
        parse("userknownhostsfile ~/.ssh/known_hosts ~/.ssh/known_hosts2\n"),
        Some(strings(&DEFAULT))
    );
}

#[test]
fn a_path_with_a_blank_stays_one_path() {
    assert_eq!(
        parse("userknownhostsfile /home/a b/known_hosts /srv/team kh/x ~/.ssh/k\n"),
        Some(strings(&[
            "/home/a b/known_hosts",
            "/srv/team kh/x",
            "~/.ssh/k"
        ]))
    );
}

#[test]
fn ssh_g_is_asked_with_the_connection_s_user_and_port() {
    let machine = |user: &str| Machine {
        user: user.into(),
        host: "db1".into(),
        port: 2222,
    };
    assert_eq!(
        machine("admin").ssh_g_args(),
        ["-G", "-p", "2222", "admin@db1"]
    );
    assert_eq!(machine("").ssh_g_args(), ["-G", "-p", "2222", "db1"]);
}

/// The `Output` of a process that exited with `code` having printed `stdout`.
fn output(code: i32, stdout: &str) -> std::process::Output {
    use std::os::unix::process::ExitStatusExt;
    std::process::Output {
        status: std::process::ExitStatus::from_raw(code << 8),
        stdout: stdout.as_bytes().to_vec(),
        stderr: Vec::new(),
    }
}

#[test]
fn when_ssh_g_cannot_say_openssh_s_defaults_are_listed() {
    let machine = Machine {
        user: String::new(),
        host: "db1".into(),
        port: 22,
    };
    let defaults = strings(&DEFAULT);
    let said = files_or_default(&machine, Ok(output(0, PRINTED)));
    assert_eq!(
        said,
        strings(&["/home/me/.ssh/known_hosts", "/srv/team/known_hosts"])
    );
    for out in [
        Err("No such file or directory (os error 2)".to_owned()),
        Ok(output(255, "")),
        Ok(output(255, PRINTED)),
        Ok(output(0, "user admin\n")),
    ] {
        assert_eq!(files_or_default(&machine, out), defaults);
    }
}

#[tokio::test]
async fn each_machine_is_asked_about_once_however_many_connections_ask() {
    let asked = Asked::default();
    let times = AtomicUsize::new(0);
    let machine = |host: &str| Machine {
        user: "admin".into(),
        host: host.into(),
        port: 22,
    };
    let ask = |files: &'static [&'static str]| {
        let times = &times;
        move || async move {
            times.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            strings(files)
        }
    };
    let db1 = machine("db1");
    let together = futures_util::future::join_all(
        (0..4).map(|_| asked.get(&db1, ask(&["/srv/team/known_hosts"]))),
    )
    .await;
    assert!(
        together
            .iter()
            .all(|f| f == &strings(&["/srv/team/known_hosts"]))
    );
    assert_eq!(asked.get(&db1, ask(&["/other"])).await, together[0]);
    let blocking = asked.get_blocking(&db1, || unreachable!("asked already"));
    assert_eq!(blocking, together[0]);
    assert_eq!(times.load(Ordering::SeqCst), 1);
    // Another machine, or the same host on another port, is another question.
    asked.get(&machine("db2"), ask(&["/x"])).await;
    let other_port = Machine { port: 2222, ..db1 };
    assert_eq!(asked.get_blocking(&other_port, || strings(&["/y"])), ["/y"]);
    assert_eq!(times.load(Ordering::SeqCst), 2);
}

/// What ssh itself prints for a config that names known hosts for one host (one with a blank in
/// its path), read back as those files; and for another host, its defaults, expanded. Skipped
/// where ssh is not installed.
#[test]
fn the_files_a_user_s_config_names_are_read_from_ssh_itself() {
    if std::process::Command::new("ssh")
        .arg("-V")
        .output()
        .is_err()
    {
        eprintln!("skipped: no ssh here");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::write(
        &config,
        "Host db1\n  UserKnownHostsFile /srv/team/known_hosts \"/home/a b/kh\"\n",
    )
    .unwrap();
    let printed = |host: &str| {
        let machine = Machine {
            user: "admin".into(),
            host: host.into(),
            port: 2222,
        };
        let out = std::process::Command::new("ssh")
            .arg("-F")
            .arg(&config)
            .args(machine.ssh_g_args())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        parse(&String::from_utf8_lossy(&out.stdout)).unwrap()
    };
    assert_eq!(
        printed("db1"),
        strings(&["/srv/team/known_hosts", "/home/a b/kh"])
    );
    let elsewhere = printed("db2");
    assert_eq!(elsewhere.len(), 2, "{elsewhere:?}");
    assert!(elsewhere[0].ends_with("/.ssh/known_hosts"), "{elsewhere:?}");
}
