//! Compiler cache statistics for the manifest: how much of a build ccache saved.
//!
//! The build container's ccache is whatever the distro ships, so the text differs by version:
//! ccache 3.x and 4.0–4.3 `ccache -s` print `cache hit (direct)  N` lines; 4.4 and later print
//! `Hits: N / M` summaries; 4.x `ccache --print-stats` prints machine-readable `key<TAB>value`
//! counters. [`parse_ccache_stats`] understands all three and keeps the raw text for people.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CcacheStats {
    /// Direct plus preprocessed hits.
    pub hits: u64,
    pub misses: u64,
    /// `hits / (hits + misses)`, 0 when ccache saw no cacheable call.
    pub hit_rate: f64,
    /// The text the numbers were read from.
    pub raw: String,
}

/// Reads hits and misses from `ccache --print-stats` or `ccache -s` output of ccache 3.x or 4.x;
/// `None` when the text holds neither.
pub fn parse_ccache_stats(text: &str) -> Option<CcacheStats> {
    let (hits, misses) = print_stats(text)
        .or_else(|| summary_v4(text))
        .or_else(|| summary_v3(text))?;
    Some(CcacheStats {
        hits,
        misses,
        hit_rate: rate(hits, misses),
        raw: text.to_owned(),
    })
}

impl CcacheStats {
    /// Totals over readings of separate periods (stats zeroed before each compiling step); the
    /// raw texts are joined by blank lines.
    pub fn sum(stats: &[CcacheStats]) -> CcacheStats {
        let hits = stats.iter().map(|s| s.hits).sum();
        let misses = stats.iter().map(|s| s.misses).sum();
        let raw: Vec<&str> = stats.iter().map(|s| s.raw.trim_end()).collect();
        CcacheStats {
            hits,
            misses,
            hit_rate: rate(hits, misses),
            raw: raw.join("\n\n"),
        }
    }
}

fn rate(hits: u64, misses: u64) -> f64 {
    let calls = hits + misses;
    if calls == 0 {
        0.0
    } else {
        hits as f64 / calls as f64
    }
}

/// Sums the values of `keys` in `(key, value)` pairs; `None` if none of them is present.
fn sum<'a>(pairs: impl Iterator<Item = (&'a str, u64)> + Clone, keys: &[&str]) -> Option<u64> {
    let found: Vec<u64> = pairs
        .filter(|(k, _)| keys.contains(k))
        .map(|(_, v)| v)
        .collect();
    (!found.is_empty()).then(|| found.iter().sum())
}

/// ccache 4.x `--print-stats`: `direct_cache_hit<TAB>850`.
fn print_stats(text: &str) -> Option<(u64, u64)> {
    let pairs = text.lines().filter_map(|line| {
        let (key, value) = line.split_once('\t')?;
        Some((key.trim(), value.trim().parse().ok()?))
    });
    let hits = sum(
        pairs.clone(),
        &["direct_cache_hit", "preprocessed_cache_hit"],
    )?;
    Some((hits, sum(pairs, &["cache_miss"])?))
}

/// ccache 4.4+ `-s`: the first `Hits: N / M` and `Misses: N / M` lines (later ones repeat them
/// per storage).
fn summary_v4(text: &str) -> Option<(u64, u64)> {
    let first = |label: &str| {
        text.lines().find_map(|line| {
            let rest = line.trim_start().strip_prefix(label)?;
            let number = rest
                .trim_start()
                .split(|c: char| c.is_whitespace() || c == '/')
                .next()?;
            number.parse::<u64>().ok()
        })
    };
    Some((first("Hits:")?, first("Misses:")?))
}

/// ccache 3.x and 4.0–4.3 `-s`: `cache hit (direct)    1523`.
fn summary_v3(text: &str) -> Option<(u64, u64)> {
    let pairs = text.lines().filter_map(|line| {
        let (key, value) = line.trim().rsplit_once(char::is_whitespace)?;
        Some((key.trim(), value.parse().ok()?))
    });
    let hits = sum(
        pairs.clone(),
        &["cache hit (direct)", "cache hit (preprocessed)"],
    )?;
    Some((hits, sum(pairs, &["cache miss"])?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const V3_1_9: &str = "\
cache directory                     /root/.ccache
cache hit (direct)                  1523
cache hit (preprocessed)              87
cache miss                          2043
called for link                       41
compile failed                         9
autoconf compile/link                310
files in cache                      6102
cache size                         412.3 Mbytes
max cache size                       1.0 Gbytes
";

    const V4_8_SUMMARY: &str = "\
Cacheable calls:   1610 / 1680 (95.83%)
  Hits:             910 / 1610 (56.52%)
    Direct:         850 /  910 (93.41%)
    Preprocessed:    60 /  910 ( 6.59%)
  Misses:           700 / 1610 (43.48%)
Uncacheable calls:   70 / 1680 ( 4.17%)
Local storage:
  Cache size (GB): 0.41 / 5.00 ( 8.27%)
  Cleanups:           2
  Hits:            1820 / 3280 (55.49%)
  Misses:          1460 / 3280 (44.51%)
";

    const V4_PRINT_STATS: &str = "\
stats_updated_timestamp\t1700000000
autoconf_test\t310
cache_miss\t700
called_for_link\t41
direct_cache_hit\t850
direct_cache_miss\t760
local_storage_hit\t910
preprocessed_cache_hit\t60
preprocessed_cache_miss\t700
";

    #[test]
    fn reads_ccache_3_1_summary() {
        let stats = parse_ccache_stats(V3_1_9).unwrap();
        assert_eq!((stats.hits, stats.misses), (1610, 2043));
        assert!((stats.hit_rate - 1610.0 / 3653.0).abs() < 1e-9);
        assert_eq!(stats.raw, V3_1_9);
    }

    #[test]
    fn reads_the_first_totals_of_a_ccache_4_8_summary() {
        let stats = parse_ccache_stats(V4_8_SUMMARY).unwrap();
        assert_eq!((stats.hits, stats.misses), (910, 700));
    }

    #[test]
    fn reads_ccache_4_print_stats() {
        let stats = parse_ccache_stats(V4_PRINT_STATS).unwrap();
        assert_eq!((stats.hits, stats.misses), (910, 700));
        assert!((stats.hit_rate - 910.0 / 1610.0).abs() < 1e-9);
    }

    #[test]
    fn readings_of_several_steps_add_up() {
        let steps = [V3_1_9, V4_PRINT_STATS].map(|t| parse_ccache_stats(t).unwrap());
        let total = CcacheStats::sum(&steps);
        assert_eq!((total.hits, total.misses), (1610 + 910, 2043 + 700));
        assert!(total.raw.contains("cache miss") && total.raw.contains("cache_miss\t700"));
    }

    #[test]
    fn no_calls_is_a_zero_rate_and_other_text_is_none() {
        let zero = parse_ccache_stats("cache hit (direct) 0\ncache miss 0\n").unwrap();
        assert_eq!(zero.hit_rate, 0.0);
        assert!(parse_ccache_stats("ccache: command not found\n").is_none());
        assert!(parse_ccache_stats("cache hit rate   45.00 %\n").is_none());
    }
}
