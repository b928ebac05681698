//! An app built outside this repository's workspace (a crate written to a temporary directory,
//! depending on tokmon-probe by path) is attached to by pid, and its own source file is named
//! as the blocking site: what counts as "the app's code" does not lean on tokmon's own paths.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

const MAIN_RS: &str = r#"
use std::io::Write;
use std::time::Duration;

fn main() -> std::io::Result<()> {
    let probe = tokmon_probe::Probe::from_env();
    let runtime = probe
        .install(tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all())
        .build()?;
    runtime.spawn(blocker());
    match probe.wait_for_endpoint(Duration::from_secs(10)) {
        Some(endpoint) => println!("probe {endpoint:?}"),
        None => println!("probe not serving"),
    }
    std::io::stdout().flush()?;
    runtime.block_on(async { tokio::time::sleep(Duration::from_secs(120)).await });
    Ok(())
}

async fn blocker() {
    loop {
        std::thread::sleep(Duration::from_millis(300)); // the blocking line
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
"#;

fn cargo_toml(probe: &Path) -> String {
    format!(
        r#"[package]
name = "outside_app"
version = "0.1.0"
edition = "2024"

[dependencies]
tokmon-probe = {{ path = "{}", features = ["stack-capture"] }}
tokio = {{ version = "1.54", features = ["rt-multi-thread", "time"] }}

[workspace]
"#,
        probe.display()
    )
}

#[test]
fn an_app_outside_the_workspace_is_named_by_its_own_file() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let app = dir.path();
    std::fs::create_dir_all(app.join("src")).expect("src");
    std::fs::create_dir_all(app.join(".cargo")).expect(".cargo");
    std::fs::write(app.join("Cargo.toml"), cargo_toml(&repo.join("probe"))).expect("manifest");
    std::fs::write(app.join("src/main.rs"), MAIN_RS).expect("main.rs");
    std::fs::write(
        app.join(".cargo/config.toml"),
        "[build]\nrustflags = [\"--cfg\", \"tokio_unstable\"]\n",
    )
    .expect("config");
    // The repository's lock file: the same, already fetched versions of every crate.
    std::fs::copy(repo.join("Cargo.lock"), app.join("Cargo.lock")).expect("lock file");
    let target = repo.join("target").join("outside-app");
    let built = Command::new(env!("CARGO"))
        .args(["build", "--quiet"])
        .current_dir(app)
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS")
        .status()
        .expect("cargo runs");
    assert!(built.success(), "the outside app builds");

    let mut child = Command::new(target.join("debug").join("outside_app"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("the outside app starts");
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    let first = lines.next().expect("a line").expect("text");
    assert!(first.starts_with("probe Unix"), "{first}");
    let out = Command::new(env!("CARGO_BIN_EXE_tokmon"))
        .args([
            "attach",
            &child.id().to_string(),
            "--headless",
            "--duration",
            "4s",
        ])
        .args(["--format", "json", "--quiet"])
        .output()
        .expect("tokmon runs");
    let _ = child.kill();
    let _ = child.wait();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    let stalls: Vec<_> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["kind"] == "stall")
        .collect();
    // Spawn sites are as rustc was given the file (relative to the app's package); the
    // blocking line comes from the app's debug info (absolute).
    assert!(
        stalls.iter().any(|f| f["spawned_at"]
            .as_str()
            .is_some_and(|s| s.starts_with("src/main.rs:"))),
        "a stall spawned in the app's src/main.rs: {stalls:#?}"
    );
    let main_rs = app.join("src/main.rs").display().to_string();
    if cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        let line = MAIN_RS
            .lines()
            .position(|l| l.contains("// the blocking line"))
            .expect("the marked line")
            + 1;
        let site = format!("{main_rs}:{line}");
        assert!(
            stalls.iter().any(|f| f["site"] == site.as_str()),
            "the blocking site {site}: {stalls:#?}"
        );
    }
}
