//! The fixed layout inside every build container, in one place. The recipe's templates (`{{srcdir}}`,
//! `{{destdir}}`), the planner, the builder and the manifest all name these paths; fixed paths make
//! compiler-cache hits possible across builds and machines (`CCACHE_BASEDIR`), and keep host paths
//! out of every cache key.

/// The source tree: unpacked archive or copied `--source-dir`; the build steps' default workdir.
pub const SOURCE_DIR: &str = "/baker/src";
/// Where baker places a step's downloaded inputs (the source archive) before it starts.
pub const INPUT_DIR: &str = "/baker/in";
/// What steps record for the manifest: installed packages, compiler-cache statistics, the epoch.
pub const META_DIR: &str = "/baker/meta";
/// The install step's output tree; its contents become the tarball.
pub const DEST_DIR: &str = "/baker/dest";
/// The compiler cache, a bind mount of baker's cache directory.
pub const CCACHE_DIR: &str = "/baker/ccache";
/// Where a step's script is placed and run from.
pub const SCRIPT_PATH: &str = "/baker/run/step.sh";

/// The installed package list the packages step writes (name, tab, version).
pub const PACKAGE_LIST: &str = "/baker/meta/packages.tsv";
/// The `SOURCE_DATE_EPOCH` the source step records for the later steps and the tarball.
pub const EPOCH_FILE: &str = "/baker/meta/source-date-epoch";

/// Maven's local repository, mounted from the cache by steps with `caches = ["maven"]`.
pub const MAVEN_REPOSITORY: &str = "/root/.m2/repository";

/// The compiler-cache statistics a step with the ccache mount leaves for the manifest.
pub fn ccache_stats_file(step: &str) -> String {
    format!("{META_DIR}/ccache-{step}.txt")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_files_live_in_the_meta_directory_and_everything_under_baker() {
        for file in [PACKAGE_LIST, EPOCH_FILE, &ccache_stats_file("compile")] {
            assert!(file.starts_with(&format!("{META_DIR}/")), "{file}");
        }
        for dir in [
            SOURCE_DIR,
            INPUT_DIR,
            META_DIR,
            DEST_DIR,
            CCACHE_DIR,
            SCRIPT_PATH,
        ] {
            assert!(dir.starts_with("/baker/"), "{dir}");
        }
    }
}
