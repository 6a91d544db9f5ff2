use super::*;

#[tokio::test]
async fn the_unpacked_size_comes_from_image_json_when_it_was_made_from_the_same_tarball() {
    let dir = tempfile::tempdir().unwrap();
    let tarball = dir.path().join("t.tar.gz");
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&tarball).unwrap(),
        flate2::Compression::fast(),
    );
    std::io::Write::write_all(&mut gz, &[7u8; 10_000]).unwrap();
    gz.finish().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    // No image.json: counted.
    assert_eq!(unpacked_size(&out, &tarball, "s1").await.unwrap(), 10_000);
    let mut recorded = super::super::manifest::sample();
    recorded.artifact.sha256 = "s1".into();
    recorded.artifact.unpacked_bytes = Some(1234);
    recorded.write(&out).unwrap();
    assert_eq!(unpacked_size(&out, &tarball, "s1").await.unwrap(), 1234);
    // Another tarball, or an image.json that does not say: counted.
    assert_eq!(unpacked_size(&out, &tarball, "s2").await.unwrap(), 10_000);
    recorded.artifact.unpacked_bytes = None;
    recorded.write(&out).unwrap();
    assert_eq!(unpacked_size(&out, &tarball, "s1").await.unwrap(), 10_000);
    // Asked to stop (the future dropped at Ctrl-C), the count stops.
    let stop = Stop::default();
    stop.request();
    assert!(matches!(
        count_unpacked(&tarball, &stop),
        Err(ImageError::Interrupted)
    ));
}

/// The count runs on a blocking thread, which the runtime does not stop: dropping the future
/// (Ctrl-C) must ask it to. A tarball that does not end soon (a pipe fed for ten seconds)
/// shows it: once the future is dropped, the thread stops reading and closes the pipe, which
/// ends the writer.
#[tokio::test]
async fn dropping_the_count_stops_the_thread_that_decompresses() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("endless.tar.gz");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.unwrap().success());
    let writer = std::thread::spawn({
        let fifo = fifo.clone();
        move || -> std::io::Result<()> {
            let pipe = std::fs::File::create(&fifo)?;
            let mut gz = flate2::write::GzEncoder::new(pipe, flate2::Compression::fast());
            // Ten seconds of it, so that a test that fails ends too.
            let started = std::time::Instant::now();
            while started.elapsed() < std::time::Duration::from_secs(10) {
                std::io::Write::write_all(&mut gz, &[0u8; 1 << 16])?;
            }
            gz.finish().map(drop)
        }
    });
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let count = unpacked_size(&out, &fifo, "s");
    let limit = std::time::Duration::from_millis(300);
    assert!(
        tokio::time::timeout(limit, count).await.is_err(),
        "it ended early"
    );
    // A count that went on would read to the end: the writer would finish its ten seconds.
    let ended = writer.join().unwrap();
    let ended = ended.expect_err("the count went on after it was dropped");
    assert_eq!(ended.kind(), std::io::ErrorKind::BrokenPipe);
}

#[test]
fn a_gce_image_needs_whole_gib_before_any_work() {
    let message = check_for_formats(parse_size("1536M").unwrap(), &[Format::Raw, Format::Gce])
        .unwrap_err()
        .to_string();
    assert!(message.contains("invalid size `1536 MiB`"), "{message}");
    assert!(message.contains("ask for 1G or 2G"), "{message}");
    let small = check_for_formats(512 * MIB, &[Format::Gce]).unwrap_err();
    assert!(small.to_string().contains("ask for 1G,"), "{small}");
    assert!(check_for_formats(parse_size("1536M").unwrap(), &[Format::Vhd]).is_ok());
    assert!(check_for_formats(2 * GIB, &[Format::Gce]).is_ok());
}

#[test]
fn a_vhd_above_azures_32_tib_is_refused_before_any_work() {
    let message = check_for_formats(parse_size("33T").unwrap(), &[Format::Raw, Format::Vhd])
        .unwrap_err()
        .to_string();
    assert_eq!(
        message,
        "invalid size `33 TiB`: the vhd format (Azure) takes a disk of at most 32 TiB: \
         ask for 32T or less, or leave --size out"
    );
    assert!(check_for_formats(parse_size("32T").unwrap(), &[Format::Vhd]).is_ok());
    assert!(check_for_formats(parse_size("33T").unwrap(), &[Format::Raw]).is_ok());
}

#[test]
fn an_mbr_disk_above_2_tib_is_refused_before_any_work() {
    let message = check_for_layout(parse_size("3T").unwrap(), &[Firmware::Bios])
        .unwrap_err()
        .to_string();
    assert!(
        message.starts_with(
            "invalid size `3 TiB`: this recipe's image boots with BIOS only, on an MBR disk, \
             which holds at most 2 TiB"
        ) && message.contains("ask for 2T or less")
            && message.contains("a GPT disk has no such limit"),
        "{message}"
    );
    assert!(check_for_layout(parse_size("2T").unwrap(), &[Firmware::Bios]).is_ok());
    let hybrid = [Firmware::Bios, Firmware::Uefi];
    assert!(check_for_layout(parse_size("3T").unwrap(), &hybrid).is_ok());
}

#[test]
fn sizes_use_binary_units_as_disk_tools_do() {
    assert_eq!(parse_size("2G").unwrap(), 2 * GIB);
    assert_eq!(parse_size("2GiB").unwrap(), 2 * GIB);
    assert_eq!(parse_size("1536M").unwrap(), 1536 * MIB);
    assert_eq!(parse_size(" 1T ").unwrap(), 1024 * GIB);
    assert_eq!(parse_size("1073741824").unwrap(), GIB);
    assert_eq!(parse_size("1.5G").unwrap(), 1536 * MIB);
}

#[test]
fn refusals_name_the_size_and_say_why() {
    let said = |given: &str| parse_size(given).unwrap_err().to_string();
    assert!(
        said("3GB").starts_with("invalid size `3GB`: GB is ambiguous"),
        "{}",
        said("3GB")
    );
    assert_eq!(said("-1G"), "invalid size `-1G`: a size cannot be negative");
    // `--size --json`, a value forgotten, is not read as a negative size.
    assert!(said("--json").contains("that is an option, not a size"));
    assert_eq!(said("10M"), "invalid size `10M`: must be at least 64M");
}

/// A plain number is bytes, which a user who wrote `--size 3` did not mean: the refusal says
/// so, with the sizes they more likely meant (only those a disk may be).
#[test]
fn a_number_without_a_unit_is_refused_as_bytes_with_what_to_write() {
    let said = |given: &str| parse_size(given).unwrap_err().to_string();
    assert_eq!(
        said("3"),
        "invalid size `3`: 3 bytes is not a whole number of MiB: a number without a unit is \
         bytes; write 3G for 3 GiB"
    );
    assert_eq!(
        said("100"),
        "invalid size `100`: 100 bytes is not a whole number of MiB: a number without a unit \
         is bytes; write 100G for 100 GiB or 100M for 100 MiB"
    );
    assert!(
        said("1.5").ends_with("write 1.5G for 1.5 GiB"),
        "{}",
        said("1.5")
    );
    assert_eq!(
        said("1048576"),
        "invalid size `1048576`: 1048576 bytes is less than 64M, the least disk baker makes: \
         a number without a unit is bytes; write 1048576G for 1048576 GiB or 1048576M for \
         1048576 MiB"
    );
    assert!(
        said("0").ends_with("a number without a unit is bytes"),
        "{}",
        said("0")
    );
    // With a unit, the rule alone.
    assert_eq!(
        said("100000K"),
        "invalid size `100000K`: must be a whole number of MiB"
    );
}

#[test]
fn sizes_that_no_format_accepts_are_refused() {
    assert!(parse_size("1.0001G").is_err());
    assert!(parse_size("100000K").is_err());
    assert!(parse_size("10M").is_err());
    assert!(parse_size("2X").is_err());
    assert!(parse_size("").is_err());
}

#[test]
fn the_default_size_is_whole_gib_with_headroom() {
    let tree = 400 * MIB;
    let size = default_size(tree);
    assert_eq!(size % GIB, 0);
    assert!(size >= tree + 512 * MIB);
    assert_eq!(default_size(0), GIB);
    assert_eq!(default_size(3 * GIB) % GIB, 0);
    assert!(default_size(3 * GIB) >= 3 * GIB + 3 * GIB / 4);
}

#[test]
fn rounding_and_descriptions() {
    assert_eq!(round_up(1, GIB), GIB);
    assert_eq!(round_up(GIB, GIB), GIB);
    assert_eq!(describe(2 * GIB), "2 GiB");
    assert_eq!(describe(1536 * MIB), "1536 MiB");
    assert_eq!(describe(3 * TIB), "3 TiB");
    assert_eq!(describe(TIB + GIB), "1025 GiB");
}
