//! The tar headers of a GNU "old" sparse member (type `S`), as `tar --format=oldgnu -S` writes
//! them (GNU tar's `tar.h`, `struct oldgnu_header` and `struct sparse_header`): the data of each
//! extent is stored back to back after the headers, and the sparse map says where each run goes
//! in a file of `realsize` bytes. The first four map entries sit in the main header; more go in
//! extension blocks of 21. GNU tar always ends the map with `(realsize, 0)`, which is how it
//! restores a trailing hole, so this does too. Numbers are octal with a NUL, or base-256 (a 0x80
//! byte then big-endian) when they do not fit, as GNU tar does for disks of 8 GiB and more.
//!
//! Written by hand because the `tar` crate reads these entries but cannot write them.

use super::sparse::Extent;

pub const BLOCK: usize = 512;
/// GNU tar writes archives in records of 20 blocks.
pub const RECORD: usize = 20 * BLOCK;

/// The main header and its extension blocks for a sparse member `name` holding `extents` of a
/// file of `size` bytes; the member's data (the extents' bytes, padded to a block) follows.
pub fn sparse_headers(name: &str, mtime: u64, size: u64, extents: &[Extent]) -> Vec<u8> {
    let mut map: Vec<(u64, u64)> = extents.iter().map(|e| (e.offset, e.len)).collect();
    map.push((size, 0));
    let stored: u64 = extents.iter().map(|e| e.len).sum();
    let mut h = vec![0u8; BLOCK];
    h[..name.len()].copy_from_slice(name.as_bytes());
    number(&mut h[100..108], 0o644);
    number(&mut h[108..116], 0); // uid
    number(&mut h[116..124], 0); // gid
    number(&mut h[124..136], stored);
    number(&mut h[136..148], mtime);
    h[156] = b'S';
    h[257..265].copy_from_slice(b"ustar  \0");
    let (first, rest) = map.split_at(map.len().min(4));
    put_map(&mut h[386..482], first);
    h[482] = u8::from(!rest.is_empty());
    number(&mut h[483..495], size);
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    let mut chunks = rest.chunks(21).peekable();
    while let Some(chunk) = chunks.next() {
        let mut ext = [0u8; BLOCK];
        put_map(&mut ext[..504], chunk);
        ext[504] = u8::from(chunks.peek().is_some());
        h.extend_from_slice(&ext);
    }
    h
}

/// Bytes of zeros that pad `len` bytes of member data to a whole block.
pub fn data_padding(len: u64) -> usize {
    (len.next_multiple_of(BLOCK as u64) - len) as usize
}

/// The end of the archive (two zero blocks) and the padding to a whole record, after
/// `written` bytes.
pub fn trailer(written: u64) -> Vec<u8> {
    let end = (written + 2 * BLOCK as u64).next_multiple_of(RECORD as u64);
    vec![0; (end - written) as usize]
}

fn put_map(area: &mut [u8], entries: &[(u64, u64)]) {
    for (slot, &(offset, len)) in area.chunks_mut(24).zip(entries) {
        number(&mut slot[..12], offset);
        number(&mut slot[12..], len);
    }
}

/// `value` in `field` as GNU tar writes it: zero-padded octal and a NUL, else base-256.
fn number(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    if value < 1 << (3 * digits) {
        field.copy_from_slice(format!("{value:0digits$o}\0").as_bytes());
    } else {
        field.fill(0);
        field[0] = 0x80;
        let n = field.len();
        field[n - 8..].copy_from_slice(&value.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_octal_until_they_do_not_fit() {
        let mut f = [0u8; 12];
        number(&mut f, 1 << 30);
        assert_eq!(&f, b"10000000000\0");
        number(&mut f, 9 << 30);
        assert_eq!(f, [0x80, 0, 0, 0, 0, 0, 0, 0x02, 0x40, 0, 0, 0]);
        let mut mode = [0u8; 8];
        number(&mut mode, 0o644);
        assert_eq!(&mode, b"0000644\0");
    }

    #[test]
    fn more_than_four_extents_spill_into_extension_blocks_of_21() {
        let extents: Vec<_> = (0..30)
            .map(|i| Extent {
                offset: i * 8192,
                len: 4096,
            })
            .collect();
        let h = sparse_headers("disk.raw", 0, 1 << 30, &extents);
        // 31 map entries with the end marker: 4 in the header, 21 and 6 in two extensions.
        assert_eq!(h.len(), 3 * BLOCK);
        assert_eq!((h[482], h[BLOCK + 504], h[2 * BLOCK + 504]), (1, 1, 0));
        assert_eq!(
            &h[2 * BLOCK + 5 * 24..2 * BLOCK + 5 * 24 + 12],
            b"10000000000\0"
        );
        assert_eq!(trailer(3 * BLOCK as u64 + 30 * 4096).len() % BLOCK, 0);
        assert_eq!(data_padding(4097), 511);
    }
}
