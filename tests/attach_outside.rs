//! An app built outside this repository's workspace (a crate written to a temporary directory,
//! depending on tokmon-probe by path) is attached to by pid, and its own source file is named
//! as the blocking site: what counts as "the app's code" does not lean on tokmon's own paths.
//! The same app linked without line tables (as a release build without `debug =
//! "line-tables-only"` is) names no blocking line, and its report says what to add.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

mod outside;
use outside::OutsideCrate;

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
fn an_app_outside_the_workspace_is_named_by_its_own_file_and_without_line_tables_says_so() {
    let outside = OutsideCrate::write(cargo_toml, &[("src/main.rs", MAIN_RS)]);
    let (app, target) = (outside.path(), &outside.target);
    let built = target.join("debug").join("outside_app");
    // The dev profile's debug info holds the line tables.
    let with_lines = app.join("with-lines");
    cargo(app, target, &["build", "--quiet"]);
    std::fs::copy(&built, &with_lines).expect("the build with line tables");
    // The same program linked with its debug info stripped, as `strip = "debuginfo"` (the
    // release profile's default without `debug`) leaves it: only the app's crate is built
    // again, its dependencies are the build above.
    let without_lines = app.join("without-lines");
    cargo(
        app,
        target,
        &[
            "rustc",
            "--quiet",
            "--bin",
            "outside_app",
            "--",
            "-C",
            "debuginfo=0",
            "-C",
            "strip=debuginfo",
        ],
    );
    std::fs::copy(&built, &without_lines).expect("the build without line tables");

    let main_rs = app.join("src/main.rs").display().to_string();
    let line = MAIN_RS
        .lines()
        .position(|l| l.contains("// the blocking line"))
        .expect("the marked line")
        + 1;
    let site = format!("{main_rs}:{line}");
    // Stacks are captured and named on Linux x86-64 only.
    let named = cfg!(all(target_os = "linux", target_arch = "x86_64"));

    let report = attach_during_a_stall(&with_lines);
    let stalls = stalls_of(&report);
    if named {
        assert!(
            stalls.iter().any(|f| f["site"] == site.as_str()),
            "the blocking site {site}: {stalls:#?}"
        );
        assert!(
            stalls
                .iter()
                .all(|f| !f["hint"].as_str().unwrap_or("").contains("line tables")),
            "no advice where there are lines: {stalls:#?}"
        );
    }
    let title = report["scenario"]["title"].as_str().expect("a title");
    assert!(!title.contains("line tables"), "{title}");

    let report = attach_during_a_stall(&without_lines);
    let stalls = stalls_of(&report);
    assert!(
        stalls.iter().all(|f| f.get("site").is_none()),
        "no blocking line without line tables: {stalls:#?}"
    );
    if named {
        let advice = "add `debug = \"line-tables-only\"` to [profile.release]";
        assert!(
            stalls.iter().any(|f| {
                f["hint"].as_str().is_some_and(|h| h.contains(advice))
                    && f["summary"]
                        .as_str()
                        .is_some_and(|s| s.contains("no blocking line: built without line tables"))
            }),
            "a stall says what to add: {stalls:#?}"
        );
        let title = report["scenario"]["title"].as_str().expect("a title");
        assert!(title.ends_with("built without line tables"), "{title}");
    }
}

fn cargo(app: &Path, target: &Path, args: &[&str]) {
    let status = Command::new(env!("CARGO"))
        .args(args)
        .current_dir(app)
        .env("CARGO_TARGET_DIR", target)
        .env_remove("RUSTFLAGS")
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo {args:?} builds the outside app");
}

/// Starts the app at `binary`, attaches headless to it for a few of its stalls, and returns
/// the JSON report.
fn attach_during_a_stall(binary: &PathBuf) -> serde_json::Value {
    let mut child = Command::new(binary)
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
    serde_json::from_slice(&out.stdout).expect("a JSON report")
}

/// The report's stalls, at least one of them spawned in the app's own `src/main.rs` (spawn
/// sites are as rustc was given the file, relative to the app's package; a blocking line comes
/// from the app's debug info, absolute).
fn stalls_of(report: &serde_json::Value) -> Vec<serde_json::Value> {
    let stalls: Vec<_> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["kind"] == "stall")
        .cloned()
        .collect();
    assert!(
        stalls.iter().any(|f| f["spawned_at"]
            .as_str()
            .is_some_and(|s| s.starts_with("src/main.rs:"))),
        "a stall spawned in the app's src/main.rs: {stalls:#?}"
    );
    stalls
}
