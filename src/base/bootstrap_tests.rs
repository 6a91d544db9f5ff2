//! Tests of [`super`] that run no debootstrap: each distro's suite and keyring, the mirror it
//! takes, and the arguments refused before anything runs.

use super::*;

fn spec(distro: &str) -> BootstrapSpec {
    BootstrapSpec {
        distro: distro.to_owned(),
        tag: "debian:bookworm".to_owned(),
        ..BootstrapSpec::default()
    }
}

fn debian_sources() -> Vec<apt::AptSource> {
    apt::parse_one_line("deb http://mirror.test/debian bookworm main\n")
}

#[test]
fn distros_map_to_suites_and_keyrings() {
    let debian = suite(Distro::Debian12).unwrap();
    assert_eq!(
        (debian.name, debian.keyring_package),
        ("bookworm", "debian-archive-keyring")
    );
    assert!(debian.keyring.ends_with("debian-archive-keyring.gpg"));
    let ubuntu = suite(Distro::Ubuntu1404).unwrap();
    assert_eq!(
        (ubuntu.name, ubuntu.keyring_package),
        ("trusty", "ubuntu-keyring")
    );
    assert!(ubuntu.keyring.ends_with("ubuntu-archive-keyring.gpg"));
    let centos = suite(Distro::Centos66).unwrap_err().to_string();
    assert!(
        centos.contains("yum --installroot") && centos.contains("baker base import"),
        "{centos}"
    );
}

#[test]
fn debian_takes_the_machines_mirror_and_verifies_with_its_keyring() {
    for name in ["debian12", "bookworm", "debian-12"] {
        let plan = spec(name).validate(&debian_sources()).unwrap();
        assert_eq!(plan.mirror, "http://mirror.test/debian");
        assert_eq!(
            plan.args(Path::new("/tmp/x/rootfs")),
            [
                "--variant=minbase",
                "--keyring=/usr/share/keyrings/debian-archive-keyring.gpg",
                "bookworm",
                "/tmp/x/rootfs",
                "http://mirror.test/debian"
            ]
        );
    }
}

#[test]
fn ubuntu_needs_a_mirror() {
    let err = spec("trusty")
        .validate(&debian_sources())
        .unwrap_err()
        .to_string();
    assert!(err.contains("--mirror"), "{err}");
    let mut with_mirror = spec("ubuntu14.04");
    with_mirror.mirror = Some("http://ubuntu.test/ubuntu".into());
    with_mirror.no_check_gpg = true;
    with_mirror.include = vec!["ca-certificates".into(), "g++".into()];
    let plan = with_mirror.validate(&[]).unwrap();
    assert_eq!(plan.verify, Verify::Unchecked);
    assert_eq!(
        plan.args(Path::new("/t")),
        [
            "--variant=minbase",
            "--components=main,restricted,universe,multiverse",
            "--include=ca-certificates,g++",
            "--no-check-gpg",
            "trusty",
            "/t",
            "http://ubuntu.test/ubuntu"
        ]
    );
}

#[test]
fn bad_arguments_are_refused_before_anything_runs() {
    let cases: Vec<(BootstrapSpec, &str)> = vec![
        (spec("debian13"), "unknown distro"),
        (spec("centos6"), "yum --installroot"),
        (
            BootstrapSpec {
                tag: "Debian".into(),
                ..spec("debian12")
            },
            "invalid image tag",
        ),
        (
            BootstrapSpec {
                mirror: Some("ftp.test/debian".into()),
                ..spec("debian12")
            },
            "must be an http",
        ),
        (
            BootstrapSpec {
                include: vec!["Bad Name".into()],
                ..spec("debian12")
            },
            "not a Debian package",
        ),
        (
            BootstrapSpec {
                keyring: Some("/k.gpg".into()),
                no_check_gpg: true,
                ..spec("debian12")
            },
            "contradict",
        ),
    ];
    for (spec, expected) in cases {
        let err = spec.validate(&debian_sources()).unwrap_err().to_string();
        assert!(err.contains(expected), "{expected}: {err}");
    }
    let err = spec("debian12").validate(&[]).unwrap_err().to_string();
    assert!(
        err.contains("no Debian mirror") && err.contains("--mirror"),
        "{err}"
    );
}
