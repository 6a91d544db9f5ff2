//! The host-key options and what ssh's refusals are turned into, without a machine: the texts are
//! OpenSSH's own.

use super::*;

fn checked(cluster: Option<&str>, accept_new: bool) -> HostKeys {
    HostKeys::Checked {
        cluster: cluster.map(PathBuf::from),
        accept_new,
    }
}

/// OpenSSH's default known hosts, as listed when `ssh -G` cannot say.
fn defaults() -> Vec<String> {
    crate::launch::ssh_user_known_hosts::DEFAULT
        .map(str::to_owned)
        .to_vec()
}

#[test]
fn a_machine_s_key_is_checked_against_the_cluster_s_file_first_then_the_user_s() {
    let options = checked(Some("/state/pg/known_hosts"), false).options(&defaults());
    assert_eq!(
        options,
        [
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "UserKnownHostsFile=/state/pg/known_hosts ~/.ssh/known_hosts ~/.ssh/known_hosts2",
            "-o",
            "UpdateHostKeys=no",
        ]
    );
    let options = checked(Some("/state/pg/known_hosts"), true)
        .options(&defaults())
        .join(" ");
    assert!(
        options.contains("StrictHostKeyChecking=accept-new"),
        "{options}"
    );
    assert!(!options.contains("StrictHostKeyChecking=no"), "{options}");
    assert!(!options.contains("/dev/null"), "{options}");
}

#[test]
fn the_user_s_own_known_hosts_follow_the_cluster_s_file_as_their_config_gives_them() {
    let keys = checked(Some("/state/pg/known_hosts"), false);
    assert!(keys.lists_user_files());
    let team = [
        "/srv/team/known_hosts".to_owned(),
        "/home/me/.ssh/kh".to_owned(),
    ];
    assert_eq!(
        keys.options(&team)[3],
        "UserKnownHostsFile=/state/pg/known_hosts /srv/team/known_hosts /home/me/.ssh/kh"
    );
    // `UserKnownHostsFile none` in their config: the cluster's file alone.
    assert_eq!(
        keys.options(&[])[3],
        "UserKnownHostsFile=/state/pg/known_hosts"
    );
    let odd = [
        "/home/a b/100%/kh".to_owned(),
        "~/.ssh/known_hosts".to_owned(),
    ];
    assert_eq!(
        keys.options(&odd)[3],
        "UserKnownHostsFile=/state/pg/known_hosts \"/home/a b/100%%/kh\" ~/.ssh/known_hosts"
    );
    for legacy_or_vm in [
        checked(None, false),
        HostKeys::Recorded {
            known_hosts: "/state/pg/known_hosts".into(),
            alias: "pg-primary".into(),
        },
    ] {
        assert!(!legacy_or_vm.lists_user_files());
        let options = legacy_or_vm.options(&team).join(" ");
        assert!(!options.contains("/srv/team"), "{options}");
    }
}

#[test]
fn without_a_cluster_file_the_user_s_config_says_where_keys_are_known() {
    let options = checked(None, false).options(&defaults());
    assert_eq!(options, ["-o", "StrictHostKeyChecking=yes"]);
}

#[test]
fn a_cluster_file_with_blanks_in_its_path_stays_one_word() {
    let options = checked(Some("/home/a b/pg/known_hosts"), false).options(&defaults());
    assert!(
        options[3].starts_with("UserKnownHostsFile=\"/home/a b/pg/known_hosts\" ~/"),
        "{options:?}"
    );
}

#[test]
fn a_vm_s_key_is_recorded_under_its_node_s_name_and_checked_from_then_on() {
    let keys = HostKeys::Recorded {
        known_hosts: "/state/pg/known_hosts".into(),
        alias: "pg-primary".into(),
    };
    let options = keys.options(&defaults()).join(" ");
    for want in [
        "-o StrictHostKeyChecking=accept-new",
        "-o UserKnownHostsFile=/state/pg/known_hosts",
        "-o GlobalKnownHostsFile=/dev/null",
        "-o HashKnownHosts=no",
        "-o HostKeyAlias=pg-primary",
    ] {
        assert!(options.contains(want), "{want} in {options}");
    }
}

#[test]
fn forgetting_a_vm_s_key_leaves_the_other_nodes_keys() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(KNOWN_HOSTS);
    forget(&file, "pg-primary").unwrap();
    assert!(!file.exists());
    std::fs::write(
        &file,
        "pg-primary ssh-ed25519 AAAA1\npg-primary-2 ssh-ed25519 AAAA2\npg-primary ecdsa-sha2-nistp256 AAAA3\npg-standby-1 ssh-ed25519 AAAA4\n",
    )
    .unwrap();
    forget(&file, "pg-primary").unwrap();
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "pg-primary-2 ssh-ed25519 AAAA2\npg-standby-1 ssh-ed25519 AAAA4\n"
    );
}

const UNKNOWN: &str = "No ED25519 host key is known for 10.2.4.68 and you have requested strict checking.\r\nHost key verification failed.\r\n";

const CHANGED: &str = "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @
@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!
Someone could be eavesdropping on you right now (man-in-the-middle attack)!
It is also possible that a host key has just been changed.
The fingerprint for the ED25519 key sent by the remote host is
SHA256:I5IhvWPVw6DBSYKXQQYC0uJ8K1/KJtEjQ1PtQi11UKU.
Please contact your system administrator.
Add correct host key in /state/pg/known_hosts to get rid of this message.
Offending ED25519 key in /state/pg/known_hosts:2
Host key for [10.2.4.68]:2222 has changed and you have requested strict checking.
Host key verification failed.
";

#[test]
fn an_unknown_key_is_refused_saying_how_to_trust_it() {
    let keys = checked(Some("/state/pg/known_hosts"), false);
    let reached = Reached {
        host: "10.2.4.68",
        port: 22,
        user: "admin",
        keys: &keys,
        user_files: None,
    };
    let why = explain_refusal(UNKNOWN, &reached).unwrap();
    for want in [
        "host key of 10.2.4.68:22 is not known",
        "fingerprint",
        "`ssh -p 22 admin@10.2.4.68`",
        "`ssh-keyscan -p 22 10.2.4.68 >> ~/.ssh/known_hosts`",
        "--accept-new-host-keys",
    ] {
        assert!(why.contains(want), "{want} in {why}");
    }
}

/// The advice to trust an unknown key names the known-hosts file the user's SSH config gives for
/// the machine (a team's shared file, say), as a word a shell reads as that path.
#[test]
fn an_unknown_key_s_advice_names_the_user_s_own_known_hosts_file() {
    let keys = checked(Some("/state/pg/known_hosts"), false);
    let advice = |files: &[&str]| {
        let files: Vec<String> = files.iter().map(|f| (*f).to_owned()).collect();
        let reached = Reached {
            host: "db1",
            port: 2222,
            user: "",
            keys: &keys,
            user_files: Some(&files),
        };
        explain_refusal(UNKNOWN, &reached).unwrap()
    };
    let team = advice(&["/etc/team/known_hosts", "~/.ssh/known_hosts"]);
    assert!(
        team.contains("`ssh-keyscan -p 2222 db1 >> /etc/team/known_hosts`")
            && team.contains("`ssh-keygen -lf /etc/team/known_hosts`"),
        "{team}"
    );
    let spaced = advice(&["~/my hosts/known_hosts"]);
    assert!(spaced.contains(">> ~/'my hosts/known_hosts'`"), "{spaced}");
    // `UserKnownHostsFile none`: only the cluster's file is read, so that is where a key goes.
    let none = advice(&[]);
    assert!(none.contains(">> /state/pg/known_hosts`"), "{none}");
}

#[test]
fn a_changed_key_is_refused_naming_the_file_that_holds_the_old_one() {
    let keys = checked(Some("/state/pg/known_hosts"), true);
    let reached = Reached {
        host: "10.2.4.68",
        port: 2222,
        user: "",
        keys: &keys,
        user_files: None,
    };
    let why = explain_refusal(CHANGED, &reached).unwrap();
    for want in [
        "host key of 10.2.4.68:2222 has changed",
        "(in /state/pg/known_hosts)",
        "`ssh-keygen -R '[10.2.4.68]:2222' -f /state/pg/known_hosts`",
    ] {
        assert!(why.contains(want), "{want} in {why}");
    }
    assert!(!why.contains("--accept-new-host-keys"), "{why}");
}

#[test]
fn other_failures_are_no_host_key_refusal() {
    let keys = checked(None, false);
    let reached = Reached {
        host: "db1",
        port: 22,
        user: "",
        keys: &keys,
        user_files: None,
    };
    for text in [
        "ssh: connect to host db1 port 22: Connection refused",
        "root@db1: Permission denied (publickey).",
        "",
    ] {
        assert_eq!(explain_refusal(text, &reached), None, "{text}");
    }
}

#[test]
fn the_cluster_s_folder_is_made_private_before_the_first_check_writes_a_key_there() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("clusters/pg");
    let keys = HostKeys::Checked {
        cluster: Some(dir.join(KNOWN_HOSTS)),
        accept_new: true,
    };
    keys.make_cluster_dir();
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
}

#[test]
fn a_percent_in_a_path_is_doubled_so_that_ssh_expands_it_back() {
    for (path, word) in [
        ("/state/pg/known_hosts", "/state/pg/known_hosts"),
        (
            "/home/me/100%/pg/known_hosts",
            "/home/me/100%%/pg/known_hosts",
        ),
        ("/home/a b/%d/known_hosts", "\"/home/a b/%%d/known_hosts\""),
        ("~pg/known_hosts", "./~pg/known_hosts"),
    ] {
        assert_eq!(config_path(Path::new(path)), word, "{path}");
    }
    let options = checked(Some("/home/me/100%/pg/known_hosts"), false).options(&defaults());
    assert!(
        options[3].starts_with("UserKnownHostsFile=/home/me/100%%/pg/known_hosts ~/"),
        "{options:?}"
    );
}
