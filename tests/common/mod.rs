//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::Path;

use tempfile::TempDir;

/// A fresh data directory on the real disk (under cargo's target tmp dir, not /tmp, so O_DIRECT
/// and fsync behave as on a data disk).
pub fn data_dir(name: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(name)
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("temp dir")
}

/// Every file under `dir` whose name ends with `suffix`, sorted.
pub fn files_with_suffix(dir: &Path, suffix: &str) -> Vec<std::path::PathBuf> {
    let mut found: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.to_string_lossy().ends_with(suffix))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// A seed from TANDEM_TEST_SEED or the clock; printed so a failure can be replayed.
pub fn seed(test: &str) -> u64 {
    seed_from("TANDEM_TEST_SEED", test)
}

/// A seed from the environment variable `var` or the clock; printed with the variable that
/// replays it.
pub fn seed_from(var: &str, test: &str) -> u64 {
    let seed = std::env::var(var)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("{test}: seed {seed} (replay with {var}={seed})");
    seed
}

pub mod cluster;
pub mod linearizability;
pub mod server;
pub mod workload;

/// Runs the `tandem` binary with `args` and waits for it.
pub fn tandem(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(args)
        .output()
        .expect("run tandem")
}

/// An exit status with both outputs, for assertion messages.
pub fn show(output: &std::process::Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
