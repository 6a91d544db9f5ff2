//! What a qemu launch records in its cluster's state from the start: a launch stopped before it
//! placed its first VM (while it copied the image's disk, say) is resumed with the disk and the
//! QEMU it began with, which `--resume` cannot be given again. QEMU and qemu-img are scripts that
//! fail if run: the launch stops before it needs them. A launch of more nodes than the switch
//! takes is refused before anything is made.

use std::os::unix::fs::PermissionsExt;

use super::*;

#[test]
fn a_qemu_launch_records_its_disk_and_its_qemu_before_it_places_a_vm() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    for tool in ["qemu-system-x86_64", "qemu-img"] {
        let path = bin.join(tool);
        std::fs::write(&path, "#!/bin/sh\necho \"$0 was run\" >&2\nexit 1\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let plan = baker()
        .args(["plan", "--recipe", "postgresql", "--json"])
        .env("BAKER_CACHE_DIR", dir.path().join("cache"))
        .output()
        .unwrap();
    assert!(plan.status.success());
    let mut plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    plan["format"] = 1.into();
    let key = plan["steps"].as_array().unwrap().last().unwrap()["key"].clone();
    // The image of that build, with its plan beside it, in a folder given by a relative path.
    let image = dir.path().join("image");
    std::fs::create_dir(&image).unwrap();
    std::fs::write(image.join("plan.json"), plan.to_string()).unwrap();
    std::fs::write(image.join("d.raw"), b"").unwrap();
    let manifest = serde_json::json!({
        "format": 1, "baker_version": "0.1.0", "plan_key": key, "image_key": "i",
        "recipe": {"name": "postgresql", "distro": "debian-12", "version": plan["version"]},
        "artifact": {"file_name": "a.tar.gz", "sha256": "s"},
        "kernel": {"package": "k", "version": "v", "image": "/boot/k", "initrd": "/boot/i", "cmdline": ""},
        "disk": {"size": 1073741824, "partition_table": "msdos", "partition_offset": 1048576,
                 "filesystem": "ext4", "root_uuid": "u", "bootloader": "grub2", "mkfs_options": []},
        "formats": [{"format": "raw", "file": "d.raw", "size": 1073741824, "sha256": "s"}],
        "boots_on": [], "source_date_epoch": 1, "first_nic": "dhcp"
    });
    std::fs::write(image.join("image.json"), manifest.to_string()).unwrap();
    // With nothing but the two scripts on its PATH, the provider fails placing the first node
    // (no ssh-keygen makes the cluster's key), before it runs either; the failed cluster is kept
    // to be read.
    let out = baker()
        .current_dir(dir.path())
        .args(["launch", "q", "--provider", "qemu", "--image", "image"])
        .args(["--slaves", "1", "--keep-failed", "--memory", "512"])
        .env("PATH", &bin)
        .env("BAKER_STATE_DIR", "state")
        .env("BAKER_CACHE_DIR", dir.path().join("cache"))
        .assert()
        .failure()
        .stderr(predicate::str::contains("was run").not());
    let said = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(said.contains("kept the failed cluster q"), "{said}");
    let state = dir.path().join("state/q/state.json");
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(state).unwrap()).unwrap();
    let disk = image.canonicalize().unwrap().join("d.raw");
    assert_eq!(
        state["resources"],
        serde_json::json!({
            "accel": "auto",
            "disk": disk.display().to_string(),
            "memory_mib": "512",
            "qemu": "host",
        })
    );
    // More nodes than a cluster's switch takes are refused before anything is made.
    baker()
        .current_dir(dir.path())
        .args(["launch", "q2", "--provider", "qemu", "--image", "image"])
        .args(["--slaves", "300"])
        .env("PATH", &bin)
        .env("BAKER_STATE_DIR", "state")
        .env("BAKER_CACHE_DIR", dir.path().join("cache"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "the qemu provider puts at most 240 nodes in a cluster (its network is one /24), and \
             301 were asked for: give --slaves 239 or fewer",
        ));
    assert!(!dir.path().join("state/q2").exists());
}
