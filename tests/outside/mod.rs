//! A crate written to a temporary directory, outside this workspace, that depends on the probe
//! by path: how a user's own app or test suite sees it. Shared by tests/attach_outside.rs and
//! tests/guard_fixture.rs, which build in one target directory so the probe's dependencies
//! compile once for both.

use std::path::{Path, PathBuf};

/// The crate's directory (removed when dropped) and the target directory to build it in.
pub struct OutsideCrate {
    pub dir: tempfile::TempDir,
    pub target: PathBuf,
}

impl OutsideCrate {
    /// Writes `Cargo.toml` (from `manifest`, given the probe's path), `files` (path, text), the
    /// `tokio_unstable` cfg, and this repository's lock file (the same, already fetched
    /// versions of every crate).
    pub fn write(manifest: impl Fn(&Path) -> String, files: &[(&str, &str)]) -> OutsideCrate {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let dir = tempfile::tempdir().expect("a temporary directory");
        let config = "[build]\nrustflags = [\"--cfg\", \"tokio_unstable\"]\n";
        let manifest = manifest(&repo.join("probe"));
        let all = files.iter().copied().chain([
            ("Cargo.toml", manifest.as_str()),
            (".cargo/config.toml", config),
        ]);
        for (path, text) in all {
            let path = dir.path().join(path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).expect("the crate's directories");
            }
            std::fs::write(&path, text).expect("the crate's files");
        }
        std::fs::copy(repo.join("Cargo.lock"), dir.path().join("Cargo.lock")).expect("lock file");
        OutsideCrate {
            dir,
            target: repo.join("target").join("outside-app"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}
