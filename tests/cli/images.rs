//! Images and QEMU without an engine: what `plan` says images boot with, and the refusals that come
//! before any VM starts (a BIOS-only disk booted with UEFI, an image from an older baker or of
//! another build, no QEMU, a size baker will not guess).

use super::*;

#[test]
fn plan_says_debian_12_images_boot_with_bios_and_uefi() {
    baker()
        .args(["plan", "--distro", "debian12", "--recipe", "postgresql"])
        .assert()
        .success()
        .stdout(predicate::str::contains("firmware bios + uefi"));
}

/// An image.json in `dir` for a BIOS-only raw disk, as an older baker wrote it (no `first_nic`).
fn write_bios_image_json(dir: &std::path::Path, baker_version: &str, plan_key: &str) {
    let manifest = serde_json::json!({
        "format": 1, "baker_version": baker_version, "plan_key": plan_key, "image_key": "i",
        "recipe": {"name": "postgresql", "distro": "debian-12", "version": "15.18"},
        "artifact": {"file_name": "a.tar.gz", "sha256": "s"},
        "kernel": {"package": "k", "version": "v", "image": "/boot/k", "initrd": "/boot/i", "cmdline": ""},
        "disk": {"size": 1073741824, "partition_table": "msdos", "partition_offset": 1048576,
                 "filesystem": "ext4", "root_uuid": "u", "bootloader": "grub2", "mkfs_options": []},
        "formats": [{"format": "raw", "file": "d.raw", "size": 1073741824, "sha256": "s"}],
        "boots_on": [], "source_date_epoch": 1
    });
    std::fs::write(dir.join("image.json"), manifest.to_string()).unwrap();
}

#[test]
fn booting_with_uefi_a_disk_made_for_bios_only_is_refused_before_qemu_starts() {
    let dir = tempfile::tempdir().unwrap();
    write_bios_image_json(dir.path(), "0", "p");
    baker()
        .args(["image", "boot", "--firmware", "uefi"])
        .arg(dir.path())
        .assert()
        .failure()
        .stderr(predicate::str::contains("boots with bios only, not uefi"));
    baker()
        .args(["image", "boot", "--firmware", "efi", "x.raw"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "unknown firmware `efi`; valid: bios, uefi",
        ));
}

#[test]
fn launching_an_image_from_before_images_configured_their_first_nic_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let plan = postgresql_plan(dir.path());
    let install = plan["steps"].as_array().unwrap().last().unwrap();
    write_bios_image_json(dir.path(), "0.1.0", install["key"].as_str().unwrap());
    baker()
        .args([
            "launch",
            "old",
            "--recipe",
            "postgresql",
            "--provider",
            "qemu",
            "--image",
        ])
        .arg(dir.path())
        .env("BAKER_STATE_DIR", dir.path().join("state"))
        .env("BAKER_CACHE_DIR", dir.path().join("cache"))
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "made by baker 0.1.0, whose images leave their first NIC unconfigured",
        ));
    assert!(!dir.path().join("state").join("old").exists());
}

#[test]
fn image_boot_takes_auto_kvm_or_tcg_as_its_accelerator() {
    fails_saying(
        &["image", "boot", "--accel", "hvf", "x.raw"],
        &["invalid value 'hvf'", "auto, kvm, tcg"],
    );
    baker()
        .args(["image", "boot", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("--accel <ACCEL>"));
}

#[test]
fn image_boot_waits_a_duration_or_a_number_of_seconds_and_reads_its_accelerator_from_the_environment()
 {
    // Read, the command line goes on to the image, which is not there: the values were taken.
    let dir = tempfile::tempdir().unwrap();
    let parsed = |args: &[&str], env: Option<&str>| {
        let mut cmd = baker();
        cmd.args(["image", "boot"]).args(args).arg(dir.path());
        if let Some(accel) = env {
            cmd.env("BAKER_QEMU_ACCEL", accel);
        }
        cmd.assert()
            .code(1)
            .stderr(predicate::str::contains("holds no image.json"));
    };
    parsed(&["--timeout", "5m"], None);
    parsed(&["--timeout", "2h 30m"], None);
    parsed(&["--timeout", "90"], None);
    parsed(&[], Some("tcg"));
    fails_saying(
        &["image", "boot", "--timeout", "5 mins please", "x.raw"],
        &[
            "invalid value '5 mins please' for '--timeout <DURATION>'",
            "is neither a number of seconds nor a duration",
            "write e.g. 300, 90s, 5m or 1h 30m",
        ],
    );
    fails_saying(
        &["image", "boot", "--timeout", "0", "x.raw"],
        &["invalid value '0' for '--timeout <DURATION>': `0` is shorter than a second"],
    );
    baker()
        .args(["image", "boot", "x.raw"])
        .env("BAKER_QEMU_ACCEL", "hvf")
        .assert()
        .code(2)
        .stderr(contains_all(&["invalid value 'hvf'", "auto, kvm, tcg"]));
    baker()
        .args(["image", "boot", "--help"])
        .assert()
        .success()
        .stdout(contains_all(&[
            "--timeout <DURATION>",
            "or a number of seconds",
            "[default: 5m]",
            "[env: BAKER_QEMU_ACCEL=]",
        ]));
}

#[test]
fn launch_takes_auto_kvm_or_tcg_as_the_qemu_accelerator() {
    fails_saying(
        &["launch", "c", "--provider", "qemu", "--accel", "hvf"],
        &["invalid value 'hvf'", "auto, kvm, tcg"],
    );
}

#[test]
fn qemu_from_the_host_only_fails_at_once_where_the_host_has_none() {
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("x.raw");
    // A partition table's boot signature, or `image boot` would refuse it as no disk.
    let mut sector = [0u8; 512];
    sector[510..].copy_from_slice(&[0x55, 0xaa]);
    std::fs::write(&disk, sector).unwrap();
    // A PATH with no QEMU (and, as in every test here, no engine).
    let no_qemu = |args: &[&str]| {
        let mut cmd = baker();
        cmd.args(args)
            .env("PATH", dir.path())
            .env("BAKER_STATE_DIR", dir.path().join("state"))
            .env("BAKER_CACHE_DIR", dir.path().join("cache"));
        cmd
    };
    no_qemu(&["image", "boot", "--qemu", "host", disk.to_str().unwrap()])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "--qemu host: no qemu-system-x86_64 on this host's PATH",
        ));
    no_qemu(&["launch", "c", "--provider", "qemu", "--qemu", "host"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "--qemu host: the qemu provider needs qemu-system-x86_64 and qemu-img",
        ));
    fails_saying(
        &["launch", "c", "--provider", "qemu", "--qemu", "vm"],
        &["auto, host, tools"],
    );
}

#[test]
fn a_build_folder_decides_the_recipe_so_from_refuses_a_distro_and_build_flags_and_names_a_missing_folder()
 {
    for command in ["image", "launch"] {
        let mut args = vec![command];
        if command == "launch" {
            args.push("c");
        }
        for (flag, shown) in [
            (["--distro", "centos6"], "'--distro <DISTRO>'"),
            (["--jobs", "3"], "'--jobs <JOBS>'"),
            (["--mirror", "/srv/m"], "'--mirror <URL|DIR>'"),
        ] {
            baker()
                .args(&args)
                .args(["--from", "/nonexistent"])
                .args(flag)
                .assert()
                .failure()
                .stderr(predicate::str::contains(format!(
                    "the argument '--from <DIR>' cannot be used with {shown}"
                )));
        }
    }
    baker()
        .args(["image", "--from", "/nonexistent-build", "--format", "raw"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "/nonexistent-build: no such folder: name the folder a `baker build --out` wrote",
        ));
}

#[test]
fn booting_a_folder_without_image_json_says_what_to_name_and_a_build_folder_how_to_image_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("plan.json"), "{}").unwrap();
    baker()
        .args(["image", "boot"])
        .arg(dir.path())
        .assert()
        .failure()
        .stderr(predicate::str::contains(format!(
            "{} holds no image.json: name a disk image, or a folder `baker image` wrote (this is a build's folder: `baker image --from {}` makes its image there)",
            dir.path().display(),
            dir.path().display()
        )));
    baker()
        .args(["--recipes-dir", "/nonexistent-recipes", "recipes"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "invalid value '/nonexistent-recipes' for '--recipes-dir <DIR>': no such folder",
        ));
}

#[test]
fn an_image_size_in_gb_or_below_zero_is_refused_before_any_work() {
    fails_saying(
        &["image", "--recipe", "hello", "--size", "3GB"],
        &[
            "invalid value '3GB' for '--size <SIZE>': GB is ambiguous",
            "write 3G or 3GiB",
        ],
    );
    // Taken as --size's value, not as an unknown option.
    fails_saying(
        &["image", "--recipe", "hello", "--size", "-1G"],
        &["invalid value '-1G' for '--size <SIZE>': a size cannot be negative"],
    );
    // A forgotten size does not swallow the next option silently.
    fails_saying(
        &["image", "--recipe", "hello", "--size", "--json"],
        &["invalid value '--json' for '--size <SIZE>': that is an option, not a size"],
    );
    // Nor one that takes a value, whose value clap would report as a stray subcommand.
    baker()
        .args(["image", "--recipe", "hello", "--size", "--format", "raw"])
        .assert()
        .code(2)
        .stderr(contains_all(&[
            "invalid value '--format' for '--size <SIZE>': that is an option, not a size",
        ]))
        .stderr(predicate::str::contains("subcommand").not());
}

/// The embedded postgresql recipe's plan as `baker plan --json` prints it, with its cache in `dir`.
fn postgresql_plan(dir: &std::path::Path) -> serde_json::Value {
    let plan = baker()
        .args(["plan", "--recipe", "postgresql", "--json"])
        .env("BAKER_CACHE_DIR", dir.join("cache"))
        .output()
        .unwrap();
    assert!(plan.status.success());
    serde_json::from_slice(&plan.stdout).unwrap()
}

#[test]
fn launching_an_image_with_the_plan_of_another_recipe_names_both_before_qemu_is_looked_for() {
    let dir = tempfile::tempdir().unwrap();
    let mut plan = postgresql_plan(dir.path());
    plan["format"] = 1.into();
    let build = dir.path().join("pg-build");
    std::fs::create_dir(&build).unwrap();
    std::fs::write(build.join("plan.json"), plan.to_string()).unwrap();
    // An image of hello, whose VMs could boot.
    let image = dir.path().join("hello-image");
    std::fs::create_dir(&image).unwrap();
    write_bios_image_json(&image, "0.1.0", "k");
    let path = image.join("image.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    manifest["recipe"] =
        serde_json::json!({"name": "hello", "distro": "debian-12", "version": "2.10"});
    manifest["first_nic"] = "dhcp".into();
    std::fs::write(&path, manifest.to_string()).unwrap();
    std::fs::write(image.join("d.raw"), b"").unwrap();
    baker()
        .args(["launch", "mm", "--provider", "qemu", "--image"])
        .arg(&image)
        .arg("--from")
        .arg(&build)
        // Where no QEMU is: the image is refused before baker looks for one.
        .env("PATH", dir.path())
        .env("BAKER_STATE_DIR", dir.path().join("state"))
        .env("BAKER_CACHE_DIR", dir.path().join("cache"))
        .assert()
        .failure()
        .stderr(predicate::str::contains(format!(
            "the image in {} was made from hello 2.10 for debian-12, but the plan ({}) is of postgresql {} for debian-12",
            image.display(),
            build.join("plan.json").display(),
            plan["version"].as_str().unwrap()
        )));
    // A recipe named on the command line is the plan checked, not one beside the image; with
    // neither, baker says which two ways there are to give one.
    std::fs::write(image.join("plan.json"), plan.to_string()).unwrap();
    let launch_image = |extra: &[&str], says: &str| {
        baker()
            .args(["launch", "mm", "--provider", "qemu", "--image"])
            .arg(&image)
            .args(extra)
            .env("PATH", dir.path())
            .env("BAKER_STATE_DIR", dir.path().join("state"))
            .env("BAKER_CACHE_DIR", dir.path().join("cache"))
            .assert()
            .failure()
            .stderr(predicate::str::contains(says));
    };
    launch_image(
        &["--recipe", "postgresql"],
        "but the plan (planned now from --distro/--recipe) is of postgresql",
    );
    launch_image(&[], "but the plan (");
    std::fs::remove_file(image.join("plan.json")).unwrap();
    launch_image(
        &[],
        "has no plan.json beside it: give the build it was made from with --from BUILD_DIR, or \
         its recipe with --distro and --recipe (its image.json says hello 2.10 for debian-12)",
    );
    assert!(!dir.path().join("state").join("mm").exists());
}

/// `baker image`, and a qemu launch that makes its image, need a local engine (they bind a work
/// directory into the tools container): a remote one is refused at once, before the build they
/// would start with — here a build of hello that would need the engine and a base image.
#[test]
fn a_remote_engine_is_refused_before_the_build_an_image_needs() {
    let cache = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    for args in [
        &["image", "--distro", "debian12", "--recipe", "hello"][..],
        &[
            "launch",
            "r",
            "--provider",
            "qemu",
            "--distro",
            "debian12",
            "--recipe",
            "hello",
        ][..],
    ] {
        baker()
            .env("DOCKER_HOST", "tcp://127.0.0.1:9")
            .env("BAKER_CACHE_DIR", cache.path())
            .env("BAKER_STATE_DIR", state.path())
            .args(args)
            .assert()
            .code(1)
            .stderr(predicate::str::contains(
                "the disk image engine is remote (tcp://127.0.0.1:9)",
            ))
            .stderr(predicate::str::contains("build").not());
    }
}
