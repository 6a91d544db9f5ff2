//! `baker launch` refuses, before any work, an option that only another provider reads, naming the
//! option and the provider it is for, rather than ignoring it (`baker launch pg --inventory hosts`
//! would start local containers); `--resume` refuses `--publish-all` for a cluster not on docker.
//! The QEMU variables, which may be set for every command, are not refused.

use super::*;

#[test]
fn an_option_of_another_provider_is_refused_by_name_before_any_work() {
    let states = tempfile::tempdir().unwrap();
    let refused: &[(&str, &[&str], &str)] = &[
        // The default provider, docker.
        ("", &["--inventory", "hosts"], "ssh"),
        ("", &["--ssh-user", "admin"], "ssh"),
        ("", &["--ssh-key", "id_ed25519"], "ssh"),
        ("", &["--accept-new-host-keys"], "ssh"),
        ("", &["--image", "img"], "qemu"),
        // Given, even at its default value, it is refused.
        ("", &["--memory", "768"], "qemu"),
        ("", &["--accel", "tcg"], "qemu"),
        ("", &["--qemu", "host"], "qemu"),
        ("qemu", &["--publish-all"], "docker"),
        ("qemu", &["--inventory", "hosts"], "ssh"),
        ("ssh", &["--publish-all"], "docker"),
        ("ssh", &["--memory", "1024"], "qemu"),
        ("ssh", &["--image", "img"], "qemu"),
        ("docker", &["--accept-new-host-keys"], "ssh"),
    ];
    for (provider, option, for_provider) in refused {
        let mut cmd = baker();
        cmd.env("BAKER_STATE_DIR", states.path())
            .args(["launch", "pg", "--from", "out"])
            .args(*option);
        let used = if provider.is_empty() {
            "this launch uses the docker provider, the default (add --provider".to_owned()
        } else {
            cmd.args(["--provider", provider]);
            format!("this launch uses --provider {provider}, which does not read it")
        };
        cmd.assert().code(2).stderr(contains_all(&[
            &format!("{} is for --provider {for_provider};", option[0]),
            &used,
            &format!("--provider {for_provider}"),
        ]));
    }
    assert_eq!(std::fs::read_dir(states.path()).unwrap().count(), 0);
}

#[test]
fn a_provider_s_own_options_and_the_qemu_variables_are_not_refused() {
    let states = tempfile::tempdir().unwrap();
    let taken: &[(&str, &[&str])] = &[
        ("docker", &["--publish-all"]),
        (
            "qemu",
            &["--memory", "512", "--accel", "tcg", "--qemu", "host"],
        ),
        ("ssh", &["--ssh-user", "admin", "--accept-new-host-keys"]),
    ];
    for (provider, options) in taken {
        // The launch goes on, to its build folder, which is not there.
        baker()
            .env("BAKER_STATE_DIR", states.path())
            .env("BAKER_QEMU_ACCEL", "tcg")
            .env("BAKER_QEMU", "host")
            .args([
                "launch",
                "pg",
                "--provider",
                provider,
                "--from",
                "no-such-build",
            ])
            .args(*options)
            .assert()
            .failure()
            .stderr(predicate::str::contains("is for --provider").not());
    }
}

#[test]
fn publish_all_with_resume_is_refused_for_a_cluster_not_on_docker() {
    for provider in ["qemu", "ssh"] {
        let states = super::launch_resume::cluster_of_two_standbys_on(provider);
        baker()
            .env("BAKER_STATE_DIR", states.path())
            .args(["launch", "pg", "--resume", "--publish-all"])
            .assert()
            .failure()
            .stderr(contains_all(&[
                "--publish-all is for --provider docker; cluster pg uses the",
                provider,
                "leave --publish-all out",
            ]));
    }
}
