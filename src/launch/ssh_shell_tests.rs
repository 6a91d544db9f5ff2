//! The ssh command lines baker runs, without a machine: what they check and which files they
//! name (`ssh -G`, which connects nowhere, says how ssh itself reads them), how ssh's failures are
//! told apart, and the cluster's key pair.

use super::*;

/// Root on a VM of cluster `pg`, as the qemu provider reaches it.
fn vm() -> SshTarget {
    SshTarget {
        host: "127.0.0.1".into(),
        port: 2201,
        user: "root".into(),
        key: Some("/state/pg/id_ed25519".into()),
        host_keys: HostKeys::Recorded {
            known_hosts: "/state/pg/known_hosts".into(),
            alias: "pg-primary".into(),
        },
    }
}

#[test]
fn batch_commands_never_prompt_and_use_only_the_cluster_key() {
    let target = vm();
    let args = target.ssh_args(false).join(" ");
    assert!(args.contains("BatchMode=yes"), "{args}");
    assert!(args.contains("IdentitiesOnly=yes -i /state/pg/id_ed25519"));
    assert!(args.ends_with("-p 2201 root@127.0.0.1"), "{args}");
    assert!(target.ssh_args(true).join(" ").starts_with("ssh -t "));
}

#[test]
fn no_command_line_turns_the_host_key_check_off() {
    let machine = SshTarget {
        host: "db1".into(),
        port: 22,
        user: String::new(),
        key: None,
        host_keys: HostKeys::Checked {
            cluster: Some("/state/pg/known_hosts".into()),
            accept_new: true,
        },
    };
    for target in [vm(), machine] {
        for args in [
            target.ssh_args(false),
            target.ssh_args(true),
            target.login_args(&["true".to_owned()]),
        ] {
            let args = args.join(" ");
            assert!(!args.contains("StrictHostKeyChecking=no"), "{args}");
            assert!(!args.contains("UserKnownHostsFile=/dev/null"), "{args}");
            assert!(args.contains("UserKnownHostsFile=/state/pg/known_hosts"));
        }
    }
}

#[test]
fn a_refused_host_key_is_told_from_other_failures() {
    let target = vm();
    let refused = "Host key for pg-primary has changed and you have requested strict checking.\nHost key verification failed.\n";
    let SshFailure::HostKey(why) = target.failure(refused) else {
        panic!("{refused}")
    };
    assert!(why.contains("ssh-keygen -R 'pg-primary'"), "{why}");
    let other = target.failure("ssh: connect to host 127.0.0.1 port 2201: Connection refused");
    assert!(matches!(other, SshFailure::Other(_)), "{other:?}");
}

#[test]
fn a_login_command_runs_after_the_options_end_without_a_terminal() {
    let target = vm();
    assert_eq!(target.login_args(&[]), target.ssh_args(true));
    let command = ["-v".to_owned(), "hostname".to_owned()];
    let args = target.login_args(&command).join(" ");
    assert!(
        args.starts_with("ssh -T -o StrictHostKeyChecking=accept-new"),
        "{args}"
    );
    assert!(
        args.ends_with("-i /state/pg/id_ed25519 -p 2201 root@127.0.0.1 -- -v hostname"),
        "{args}"
    );
    assert!(!args.contains(" -t "), "{args}");
}

#[test]
fn without_a_key_or_user_the_users_own_ssh_config_decides() {
    let target = SshTarget {
        host: "db1".into(),
        port: 22,
        user: String::new(),
        key: None,
        host_keys: HostKeys::Checked {
            cluster: None,
            accept_new: false,
        },
    };
    let args = target.ssh_args(false).join(" ");
    assert!(
        !args.contains("IdentitiesOnly") && !args.contains(" -i "),
        "{args}"
    );
    assert!(!args.contains("UserKnownHostsFile"), "{args}");
    assert!(args.ends_with("-p 22 db1"), "{args}");
}

#[test]
fn the_cluster_key_is_made_once() {
    let dir = tempfile::tempdir().unwrap();
    let first = ensure_cluster_key(dir.path()).unwrap();
    assert!(first.starts_with("ssh-ed25519 "), "{first}");
    assert_eq!(ensure_cluster_key(dir.path()).unwrap(), first);
}

/// A VM of a cluster whose state directory is `dir`, as [`vm`] but there.
fn vm_in(dir: &Path) -> SshTarget {
    SshTarget {
        key: Some(dir.join("id_ed25519")),
        host_keys: HostKeys::Recorded {
            known_hosts: dir.join("known_hosts"),
            alias: "pg-primary".into(),
        },
        ..vm()
    }
}

#[test]
fn a_percent_in_the_state_directory_is_escaped_in_every_path_given_to_ssh() {
    let args = vm_in(Path::new("/home/me/100%/state/pg")).ssh_args(false);
    let args = args.join(" ");
    assert!(
        args.contains("-o UserKnownHostsFile=/home/me/100%%/state/pg/known_hosts "),
        "{args}"
    );
    // `-i` is looked for as given, before ssh expands it: the key goes as an option.
    assert!(
        args.contains("-o IdentitiesOnly=yes -o IdentityFile=/home/me/100%%/state/pg/id_ed25519 "),
        "{args}"
    );
    assert!(!args.contains(" -i "), "{args}");
}

#[test]
fn a_key_with_blanks_stays_one_word_and_one_without_a_percent_goes_with_dash_i() {
    let at = |key: &str| {
        let target = SshTarget {
            key: Some(key.into()),
            ..vm()
        };
        let args = target.ssh_args(false);
        let at = args.iter().position(|a| a == "IdentitiesOnly=yes").unwrap();
        args[at + 1..at + 3].to_vec()
    };
    assert_eq!(at("/home/a b/key"), ["-i", "/home/a b/key"]);
    assert_eq!(
        at("/home/a b/100%/key"),
        ["-o", "IdentityFile=\"/home/a b/100%%/key\""]
    );
    assert_eq!(at("~weird/key"), ["-o", "IdentityFile=./~weird/key"]);
}

/// The value of each `key` line of `ssh -G`'s output.
fn ssh_g_values<'a>(printed: &'a str, key: &str) -> Vec<&'a str> {
    printed
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
        .collect()
}

/// What ssh itself makes of baker's arguments, by `ssh -G` (which prints the configuration a
/// connection would use and connects nowhere), for a state directory whose path has a `%` and a
/// blank: the known hosts it names is the cluster's file (unescaped, `% ` is no token, and ssh
/// fails). ssh prints identity files before it expands them (OpenSSH 9), so of the key this shows
/// only that ssh kept it, whole, and that its `%%` expand back to the cluster's key (`-i` of the
/// escaped path would have been dropped as not found). Skipped where ssh is not installed.
#[test]
fn ssh_itself_reads_the_escaped_paths_as_the_cluster_s_files() {
    if std::process::Command::new("ssh")
        .arg("-V")
        .output()
        .is_err()
    {
        eprintln!("skipped: no ssh here");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("100% full/pg");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("id_ed25519"), "").unwrap();
    let args = vm_in(&dir).ssh_args(false);
    // Only baker's options: neither the user's config nor the system's.
    let out = std::process::Command::new("ssh")
        .args(["-G", "-F", "/dev/null"])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    let known_hosts = dir.join("known_hosts").display().to_string();
    assert_eq!(
        ssh_g_values(&printed, "userknownhostsfile"),
        [known_hosts.as_str()]
    );
    let key = dir.join("id_ed25519").display().to_string();
    let keys = ssh_g_values(&printed, "identityfile");
    assert!(
        keys.iter().any(|k| k.replace("%%", "%") == key),
        "{key} in {keys:?}"
    );
    assert!(!said.contains("not accessible"), "{said}");
}

/// A machine of the `ssh` provider whose cluster's file and the user's own known hosts have a `%`
/// and a blank in their paths: ssh reads the cluster's file first, then the user's, each whole
/// (`ssh -G`, as above; skipped where ssh is not installed).
#[test]
fn ssh_itself_reads_the_cluster_s_known_hosts_then_the_user_s() {
    use crate::launch::ssh_user_known_hosts::parse;
    if std::process::Command::new("ssh")
        .arg("-V")
        .output()
        .is_err()
    {
        eprintln!("skipped: no ssh here");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let cluster = root.path().join("100% full/pg/known_hosts");
    let machine = SshTarget {
        host: "db1".into(),
        port: 2222,
        user: "admin".into(),
        key: None,
        host_keys: HostKeys::Checked {
            cluster: Some(cluster.clone()),
            accept_new: true,
        },
    };
    let user_files = [
        "/srv/team known/hosts".to_owned(),
        "/home/me/5%d".to_owned(),
    ];
    let args = machine.ssh_args_with(&BATCH, &user_files);
    let out = std::process::Command::new("ssh")
        .args(["-G", "-F", "/dev/null"])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let mut want = vec![cluster.display().to_string()];
    want.extend(user_files);
    assert_eq!(parse(&String::from_utf8_lossy(&out.stdout)), Some(want));
}

#[tokio::test]
async fn only_a_machine_checked_against_the_user_s_known_hosts_asks_ssh_for_them() {
    assert!(vm().user_known_hosts().await.is_empty());
    let legacy = SshTarget {
        host_keys: HostKeys::Checked {
            cluster: None,
            accept_new: false,
        },
        ..vm()
    };
    assert!(legacy.user_known_hosts().await.is_empty());
}
