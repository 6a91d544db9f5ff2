//! What QEMU is to open a file as, read from the file itself: a qcow2 header, a VHD footer, a
//! partition table's boot signature. A name says little (a renamed disk, a tarball handed to `image
//! boot` by mistake); a file that is none of these is refused before QEMU starts, where the
//! firmware would only say, after its own wait, that it found nothing to boot.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use super::super::ImageError;

/// QEMU's name for the disk format of `image` (`raw`, `qcow2`, `vpc`), or why it is not a disk.
pub fn disk_format(image: &Path) -> Result<&'static str, ImageError> {
    let not_a_disk = |why: String| ImageError::Boot(format!("{} {why}", image.display()));
    let mut file =
        std::fs::File::open(image).map_err(ImageError::io("opening the image", image))?;
    let meta = (file.metadata()).map_err(ImageError::io("opening the image", image))?;
    if !meta.is_file() {
        return Err(not_a_disk(
            "is not a file: name a disk image baker made (.raw, .qcow2 or .vhd)".into(),
        ));
    }
    let len = meta.len();
    let mut first = [0u8; 512];
    let read = read_up_to(&mut file, &mut first).map_err(ImageError::io("reading", image))?;
    let first = &first[..read];
    if first.starts_with(b"QFI\xfb") {
        return Ok("qcow2");
    }
    if first.starts_with(&[0x1f, 0x8b]) {
        let name = image.file_name().unwrap_or_default().to_string_lossy();
        return Err(not_a_disk(if name.ends_with(".gce.tar.gz") {
            "is a GCE archive: boot the raw disk it holds (tar -xzf it, then boot disk.raw)".into()
        } else {
            format!(
                "is a gzip file (a tarball?), not a disk image: make one from the build beside it \
                 with `baker image --from {} --format raw`, then boot the .raw file",
                folder_of(image).display()
            )
        }));
    }
    if len >= 1024 {
        let mut footer = [0u8; 8];
        file.seek(SeekFrom::End(-512))
            .and_then(|_| file.read_exact(&mut footer))
            .map_err(ImageError::io("reading", image))?;
        if &footer == b"conectix" {
            return Ok("vpc");
        }
    }
    if read == 512 && first[510..] == [0x55, 0xaa] {
        return Ok("raw");
    }
    Err(not_a_disk(format!(
        "is not a disk image: it is neither qcow2 nor VHD, and its first sector has no partition \
         table ({len} bytes); boot a .raw, .qcow2 or .vhd that `baker image` wrote"
    )))
}

/// The folder `image` is in, as the user would name it (`.` for a bare file name).
fn folder_of(image: &Path) -> &Path {
    match image.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Reads into `buf` until it is full or the file ends; returns how much it read.
fn read_up_to(file: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut read = 0;
    while read < buf.len() {
        match file.read(&mut buf[read..])? {
            0 => break,
            n => read += n,
        }
    }
    Ok(read)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn mbr_disk() -> Vec<u8> {
        let mut disk = vec![0u8; 4096];
        disk[510] = 0x55;
        disk[511] = 0xaa;
        disk
    }

    #[test]
    fn the_disk_format_comes_from_the_files_bytes_not_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert_eq!(
            disk_format(&file(d, "pg.ami.raw", &mbr_disk())).unwrap(),
            "raw"
        );
        let mut qcow2 = b"QFI\xfb\0\0\0\x03".to_vec();
        qcow2.resize(1024, 0);
        assert_eq!(
            disk_format(&file(d, "renamed.raw", &qcow2)).unwrap(),
            "qcow2"
        );
        let mut vhd = mbr_disk();
        vhd.extend_from_slice(b"conectix");
        vhd.resize(4096 + 512, 0);
        assert_eq!(disk_format(&file(d, "pg.vhd", &vhd)).unwrap(), "vpc");

        let gzip = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0];
        let gce = disk_format(&file(d, "pg.gce.tar.gz", &gzip))
            .unwrap_err()
            .to_string();
        assert!(gce.contains("is a GCE archive"), "{gce}");
        let build = disk_format(&file(d, "pg.tar.gz", &gzip))
            .unwrap_err()
            .to_string();
        assert!(
            build.contains("is a gzip file (a tarball?), not a disk image"),
            "{build}"
        );
        let text = disk_format(&file(d, "notes.raw", b"hello\n"))
            .unwrap_err()
            .to_string();
        assert!(text.contains("notes.raw is not a disk image"), "{text}");
        assert!(text.contains("(6 bytes)"), "{text}");
        let folder = disk_format(d).unwrap_err().to_string();
        assert!(folder.contains("is not a file"), "{folder}");
        let missing = disk_format(&d.join("gone.raw")).unwrap_err().to_string();
        assert!(missing.contains("gone.raw"), "{missing}");
    }
}
