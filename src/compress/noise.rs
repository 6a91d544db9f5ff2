//! Telling incompressible blocks apart cheaply. Already compressed or encrypted files (packages,
//! media, compressed kernel modules) fill a real disk image too; deflate cannot shrink them and
//! spends as long trying as on a block that does shrink, so [`pgzip`](super::pgzip) stores the
//! blocks this test flags. The test is integer arithmetic on the block alone, so the choice, and
//! with it the archive, is the same on every machine.

/// Whether `block`'s byte values are spread so evenly that deflate cannot shrink it: the sum of
/// the squared counts of each value is within 1/64 of what a perfectly even spread gives (a
/// Rényi entropy above 7.97 bits per byte). Blocks under 64 KiB are always deflated. It can be
/// fooled by a block of noise repeated within deflate's 32 KiB window, which would then be stored
/// rather than shrunk: a larger archive, never a wrong one.
pub fn looks_random(block: &[u8]) -> bool {
    let n = block.len() as u64;
    if n < 64 << 10 {
        return false;
    }
    // Four tables, so that runs of one value do not wait on one counter.
    let mut counts = [[0u32; 256]; 4];
    let mut quads = block.chunks_exact(4);
    for q in &mut quads {
        for (table, &b) in counts.iter_mut().zip(q) {
            table[b as usize] += 1;
        }
    }
    for &b in quads.remainder() {
        counts[0][b as usize] += 1;
    }
    let squares: u64 = (0..256)
        .map(|v| u64::from(counts.iter().map(|t| t[v]).sum::<u32>()).pow(2))
        .sum();
    // squares / n^2 <= (1 + 1/64) / 256
    u128::from(squares) * 256 * 64 <= u128::from(n * n) * 65
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::format::testdisk::{content, noise};

    const MIB: usize = 1 << 20;

    #[test]
    fn noise_is_stored_and_everything_else_deflated() {
        assert!(looks_random(&noise(MIB)));
        assert!(looks_random(&noise(64 << 10)));
        assert!(!looks_random(&noise(1000)), "too short to tell");
        assert!(!looks_random(&content(0, MIB)), "half text, half noise");
        let mut mostly = noise(MIB);
        mostly[..MIB / 8].fill(0);
        assert!(!looks_random(&mostly), "an eighth of zeros");
    }
}
