//! The mistakes people make in recipes, and what validation says about each.

use super::*;

const HELLO: &str = include_str!("../../recipes/hello/debian-12.toml");

fn error_of(text: &str) -> String {
    parse(SourceText::new("r.toml", text))
        .unwrap_err()
        .to_string()
}

#[test]
fn the_examples_parse() {
    let recipe = parse(SourceText::new("r.toml", HELLO)).unwrap();
    assert_eq!(recipe.name, "hello");
    assert_eq!(recipe.version_names(), ["2.10"]);
    assert_eq!(recipe.steps.len(), 3);
}

#[test]
fn a_pin_needs_its_origin_and_cannot_also_be_unpinned() {
    let no_origin = HELLO.replace("checksum_origin = ", "# checksum_origin = ");
    assert!(error_of(&no_origin).contains("needs `checksum_origin`"));
    let both = HELLO.replace("checksum_origin = ", "unpinned = \"x\"\nchecksum_origin = ");
    assert!(error_of(&both).contains("either `sha256` or `unpinned`, not both"));
    let neither = HELLO.replace("sha256 = \"31e0", "# sha256 = \"31e0");
    let message = error_of(&neither);
    assert!(message.contains("needs `sha256`"), "{message}");
}

#[test]
fn an_unknown_cache_suggests_the_nearest() {
    let message = error_of(&HELLO.replacen("caches = [\"ccache\"]", "caches = [\"ccahe\"]", 1));
    assert!(message.contains("unknown cache `ccahe`"), "{message}");
    assert!(message.contains("did you mean `ccache`?"), "{message}");
    assert!(message.starts_with("r.toml:"), "{message}");
}

#[test]
fn step_names_are_unique_and_tidy() {
    let twice = HELLO.replace("name = \"compile\"", "name = \"configure\"");
    assert!(error_of(&twice).contains("step name `configure` is used twice"));
    for reserved in ["install", "setup", "source", "packages"] {
        let taken = HELLO.replace("name = \"compile\"", &format!("name = \"{reserved}\""));
        let message = error_of(&taken);
        assert!(
            message.contains(&format!("step name `{reserved}` is reserved")),
            "{message}"
        );
    }
    let odd = HELLO.replace("name = \"compile\"", "name = \"Compile It\"");
    assert!(error_of(&odd).contains("lower-case letters, digits and `-`"));
}

#[test]
fn the_default_version_must_exist_and_distros_must_be_known() {
    assert!(
        error_of(&HELLO.replace("default_version = \"2.10\"", "default_version = \"3.0\""))
            .contains("`3.0` is not among [versions]: 2.10")
    );
    assert!(
        error_of(&HELLO.replace("distro = \"debian-12\"", "distro = \"gentoo\""))
            .contains("unknown distro `gentoo`")
    );
}

#[test]
fn paths_must_be_absolute_and_hint_patterns_valid() {
    let relative = format!("{HELLO}\n[[files]]\npath = \"etc/x\"\ncontent = \"x\"\n");
    assert!(error_of(&relative).contains("absolute path"));
    let bad_regex = HELLO.replace(
        "pattern = \"no acceptable C compiler found\"",
        "pattern = \"(unclosed\"",
    );
    assert!(error_of(&bad_regex).contains("invalid hint pattern"));
}

#[test]
fn a_roles_data_directories_are_absolute_paths_of_its_own() {
    let with = |dir: &str| {
        POSTGRES.replacen(
            "data = [\"/var/lib/postgres/data{{#if self.slot}}-{{self.slot}}{{/if}}\"]",
            &format!("data = [\"{dir}\"]"),
            1,
        )
    };
    assert!(parse(SourceText::new("r.toml", with("/srv/pg/{{self.name}}"))).is_ok());
    for (dir, fault) in [
        ("var/lib/pg", "is not an absolute path"),
        ("/var/lib/../../etc", "is not canonical"),
        ("/var/lib/pg/", "is not canonical"),
        ("/var//pg", "is not canonical"),
        ("/", "is the root directory"),
    ] {
        let message = error_of(&with(dir));
        assert!(
            message.contains(&format!("data directory `{dir}` {fault}")),
            "{message}"
        );
        assert!(message.starts_with("r.toml:"), "{message}");
    }
}

/// A data directory that reads none of `self.slot`, `self.name` and `self.index` is the same for
/// every node of the role on an `ssh` machine, which loading warns about; the recipes baker ships
/// have none.
#[test]
fn a_data_directory_the_same_in_every_slot_is_found() {
    use super::runtime::same_in_every_slot;
    assert!(same_in_every_slot("/var/lib/pg"));
    assert!(same_in_every_slot("/var/lib/pg-{{master.slot}}"));
    assert!(!same_in_every_slot("/var/lib/pg-{{self.index}}"));
    assert!(!same_in_every_slot(
        "/var/lib/pg{{#if self.slot}}-{{self.slot}}{{/if}}"
    ));
    assert!(!same_in_every_slot("/srv/pg/{{self.name}}"));
    let catalog = crate::recipe::Catalog::embedded().unwrap();
    for recipe in catalog.recipes() {
        for (name, role) in &recipe.roles {
            for dir in &role.data {
                assert!(!same_in_every_slot(&dir.text), "{}: {name}", recipe.name);
            }
        }
    }
}

#[test]
fn a_missing_required_table_is_named() {
    let message = error_of(&HELLO.replace(
        "[install]\nrun = \"make install DESTDIR={{destdir}}\"\n",
        "",
    ));
    assert!(message.contains("missing field `install`"), "{message}");
}

const POSTGRES: &str = include_str!("../../recipes/postgresql/debian-12.toml");

/// The `file:line` an error starts with.
fn line_of(message: &str) -> usize {
    message.split(':').nth(1).unwrap().parse().unwrap()
}

fn line_containing(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn a_role_without_a_kind_is_an_error_at_its_header_saying_what_to_add() {
    let old = POSTGRES.replace("kind = \"slave\"\n", "");
    let message = error_of(&old);
    assert!(message.contains("role `standby` does not say"), "{message}");
    assert!(message.contains("kind = \"slave\""), "{message}");
    assert_eq!(line_of(&message), line_containing(&old, "[roles.standby]"));
}

#[test]
fn two_masters_or_none_is_an_error_naming_the_file_and_line() {
    let two = POSTGRES.replace("kind = \"slave\"", "kind = \"master\"");
    let message = error_of(&two);
    assert!(message.starts_with("r.toml:"), "{message}");
    assert!(message.contains("second master"), "{message}");
    let second = two
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains("kind = \"master\""))
        .nth(1);
    assert_eq!(line_of(&message), second.unwrap().0 + 1);

    let none = POSTGRES.replace("kind = \"master\"", "kind = \"slave\"");
    let message = error_of(&none);
    assert!(message.contains("no role is the master"), "{message}");
    assert_eq!(line_of(&message), line_containing(&none, "[roles.primary]"));

    let typo = POSTGRES.replace("kind = \"master\"", "kind = \"mastr\"");
    assert!(error_of(&typo).contains("did you mean `master`?"));
}

#[test]
fn the_image_layer_is_typed_and_names_the_valid_values() {
    let recipe = parse(SourceText::new("r.toml", POSTGRES)).unwrap();
    let image = recipe.image.unwrap();
    assert_eq!(image.kernel, KernelPackage::DebianCloud);
    assert_eq!(image.init, Init::Systemd);
    assert!(image.boot_target(Provider::Aws).is_some());

    let message = error_of(&POSTGRES.replace("init = \"systemd\"", "init = \"sysvinit\""));
    assert!(
        message.contains("unknown init `sysvinit`; valid: systemd, upstart"),
        "{message}"
    );
    let message = error_of(&POSTGRES.replace("provider = \"gce\"", "provider = \"gcp\""));
    assert!(message.contains("did you mean `gce`?"), "{message}");
    let message = error_of(&POSTGRES.replace("provider = \"gce\"", "provider = \"aws\""));
    assert!(message.contains("names provider `aws` twice"), "{message}");
}

#[test]
fn the_firmware_list_needs_bios_and_uefi_needs_grub_2() {
    let image = parse(SourceText::new("r.toml", POSTGRES))
        .unwrap()
        .image
        .unwrap();
    assert_eq!(image.firmware, [Firmware::Bios, Firmware::Uefi]);
    let named = |list: &str| POSTGRES.replace("firmware = [\"bios\", \"uefi\"]", list);
    let none = parse(SourceText::new("r.toml", named(""))).unwrap();
    assert_eq!(none.image.unwrap().firmware, [Firmware::Bios]);
    let message = error_of(&named("firmware = [\"uefi\"]"));
    assert!(message.contains("must include `bios`"), "{message}");
    let message = error_of(&named("firmware = [\"bios\", \"efi\"]"));
    assert!(
        message.contains("unknown firmware `efi`; valid: bios, uefi"),
        "{message}"
    );
    let message = error_of(&named("firmware = [\"bios\", \"bios\"]"));
    assert!(message.contains("names `bios` twice"), "{message}");
    let legacy = named("firmware = [\"bios\", \"uefi\"]")
        .replace("bootloader = \"grub-pc\"", "bootloader = \"grub\"");
    assert!(error_of(&legacy).contains("firmware `uefi` needs GRUB 2"));
}

#[test]
fn mkfs_options_may_not_set_what_baker_sets_for_every_image() {
    let with = |options: &str| {
        POSTGRES.replace(
            "firmware = [",
            &format!("mkfs_options = \"{options}\"\nfirmware = ["),
        )
    };
    let ok = parse(SourceText::new("r.toml", with("-O ^64bit -I 256"))).unwrap();
    assert_eq!(
        ok.image.unwrap().mkfs_options.as_deref(),
        Some("-O ^64bit -I 256")
    );
    let message = error_of(&with("-O ^64bit -E root_owner=0:0"));
    assert!(
        message.contains("may not set `-E`") && message.contains("offset, hash_seed"),
        "{message}"
    );
    assert!(error_of(&with("-Uclear")).contains("may not set `-U`"));
}

#[test]
fn role_env_is_checked_like_step_env() {
    let bad = POSTGRES.replace("PGDATA = ", "\"1BAD\" = ");
    assert!(error_of(&bad).contains("`1BAD` is not a valid environment variable name"));
    let typo = POSTGRES.replace("pg-{{cluster.secret}}", "{{mastr.ip}}");
    assert!(error_of(&typo).contains("mastr"), "{}", error_of(&typo));
}

/// A template's branch for a master in another slot than 0 (placed again beside a slave) is
/// checked at load too, although the example cluster's master is in slot 0.
#[test]
fn a_typo_in_a_master_slot_branch_fails_at_load() {
    let branch = "{{#if master.slot}} -p {{add 5432 master.slot}}";
    assert!(POSTGRES.contains(branch));
    let typo = POSTGRES.replacen(
        branch,
        "{{#if master.slot}} -p {{add 5432 master.slott}}",
        1,
    );
    let message = error_of(&typo);
    assert!(message.contains("master.slott"), "{message}");
}

#[test]
fn the_example_in_the_recipe_reference_parses() {
    let reference = include_str!("../../recipes/README.md");
    let start = reference.find("```toml\n").expect("a toml example") + "```toml\n".len();
    let example = &reference[start..];
    let example = &example[..example.find("```").unwrap()];
    let recipe = parse(SourceText::new("recipes/README.md", example)).unwrap();
    assert_eq!(recipe.roles["greeter"].kind, RoleKind::Master);
}

#[test]
fn every_path_in_a_recipe_is_checked_at_load_time_with_its_location() {
    let tables = [
        "[[files]]\npath = PATH\ncontent = \"x\"\n",
        "[[repositories]]\nname = \"r\"\npath = PATH\ncontent = \"x\"\n",
        "[[repositories]]\nname = \"r\"\npath = \"/etc/r.list\"\ncontent = \"x\"\n\
         [[repositories.keys]]\nurl = \"http://k/key\"\npath = PATH\nunpinned = \"none\"\n",
        "[[roles.hello.config]]\npath = PATH\ncontent = \"x\"\n",
    ];
    let bad = [
        (r#""/etc/../x""#, "has a `..` component"),
        (r#""/srv/app/..""#, "has a `..` component"),
        (r#""../etc/x""#, "is not absolute"),
        (r#""etc/x""#, "is not absolute"),
        (r#""""#, "is not absolute"),
        (r#""/etc/x\u0000y""#, "contains a NUL byte"),
        (r#""/etc/""#, "names a directory, not a file"),
        (r#""/""#, "names a directory, not a file"),
        (r#""/etc/.""#, "names a directory, not a file"),
    ];
    for table in tables {
        for (path, fault) in bad {
            let text = format!("{HELLO}\n{}", table.replace("PATH", path));
            let line = 1 + text
                .lines()
                .position(|l| l == format!("path = {path}"))
                .unwrap();
            let message = error_of(&text);
            assert!(
                message.starts_with(&format!("r.toml:{line}:8: path ")),
                "{message}"
            );
            assert!(message.contains(fault), "{fault} missing from: {message}");
            assert!(
                message.contains("expected an absolute path of a file inside the container"),
                "{message}"
            );
        }
        for good in [r#""/etc/x""#, r#""/etc/./x..y/.hidden""#] {
            let text = format!("{HELLO}\n{}", table.replace("PATH", good));
            parse(SourceText::new("r.toml", &text)).unwrap();
        }
    }
}

#[test]
fn a_bad_path_says_what_is_valid() {
    let text = format!("{HELLO}\n[[files]]\npath = \"/etc/../x\"\ncontent = \"x\"\n");
    let message = error_of(&text);
    let first = message.lines().next().unwrap();
    assert_eq!(
        first.split_once(": ").unwrap().1,
        "path \"/etc/../x\" has a `..` component; expected an absolute path of a file inside \
         the container, like \"/etc/app/app.conf\": starting with `/`, without `..` components \
         or NUL bytes"
    );
}

/// `first_boot`, which recipes written before named, still loads (with a warning) and puts
/// nothing in the plan: every image runs baker's role agent.
#[test]
fn an_older_recipes_first_boot_still_loads() {
    let older = HELLO.replacen(
        "[image]\n",
        "[image]\nfirst_boot = \"baker-role-agent\"\n",
        1,
    );
    assert_ne!(older, HELLO);
    let recipe = parse(SourceText::new("r.toml", &older)).unwrap();
    let json = serde_json::to_string(&recipe.image).unwrap();
    assert!(!json.contains("first_boot"), "{json}");
}
