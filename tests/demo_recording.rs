//! Recordings made before a change still replay to the same report:
//! `tests/golden/demo-before-cpu.rec`, the default demo recorded by an earlier tokmon (the
//! README's `assets/demo.rec` until the workers' CPU time joined the samples), replays headless
//! (text and JSON) byte for byte to the reports committed in `tests/golden/` (made by the
//! tokmon of commit 86f3907, before the runner and the recording were reshaped; regenerated
//! since only where the report changed: the workers' busy share, which counted a poll's live
//! part taken back as a counter reset; findings grouped by culprit; the on-CPU and CPU-wait
//! columns, `-` for a recording without CPU time; the spawn sites, from its long-poll records
//! alone; a stall's CPU share taken from its whole poll once it ended, not its last sighting;
//! `long poll` in words where the JSON keeps `long_poll`).

use std::io::Read;
use std::path::Path;
use std::process::Command;

fn replayed(format: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(env!("CARGO_BIN_EXE_tokmon"))
        .args(["replay", "--headless", "--format", format])
        .arg(root.join("tests/golden/demo-before-cpu.rec"))
        .env("NO_COLOR", "1")
        .output()
        .expect("tokmon runs");
    assert!(
        out.status.success(),
        "tokmon replay failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("the report is UTF-8")
}

fn golden(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut text = String::new();
    if name.ends_with(".gz") {
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .expect("the golden report unpacks");
    } else {
        text = String::from_utf8(bytes).expect("the golden report is UTF-8");
    }
    text
}

/// Equal, or a panic that shows where the two first differ (the JSON report is megabytes).
fn assert_same(replayed: &str, golden: &str) {
    if replayed != golden {
        let at = replayed
            .bytes()
            .zip(golden.bytes())
            .position(|(a, b)| a != b)
            .unwrap_or(replayed.len().min(golden.len()));
        let around = |s: &str| {
            s.get(at.saturating_sub(80)..(at + 80).min(s.len()))
                .unwrap_or("")
                .to_string()
        };
        panic!(
            "the replayed report differs from the committed one at byte {at} (lengths {} and {}):\n replayed: {}\n committed: {}",
            replayed.len(),
            golden.len(),
            around(replayed),
            around(golden)
        );
    }
}

#[test]
fn the_demo_recording_replays_to_its_committed_json_report() {
    assert_same(&replayed("json"), &golden("demo-report.json.gz"));
}

#[test]
fn the_demo_recording_replays_to_its_committed_text_report() {
    assert_same(&replayed("text"), &golden("demo-report.txt"));
}

#[test]
fn the_text_report_with_stacks_shows_every_frame_and_marks_the_blocking_line() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(env!("CARGO_BIN_EXE_tokmon"))
        .args(["replay", "--headless", "--stacks"])
        .arg(root.join("tests/golden/demo-before-cpu.rec"))
        .env("NO_COLOR", "1")
        .output()
        .expect("tokmon runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    assert!(text.contains("▶ feed  src/workload/hash.rs:106"), "{text}");
    // The frames around it too: the hash crate's, and tokio's that polled the task.
    assert!(text.contains("sha2-0.11.1/src/"), "{text}");
    assert!(text.contains("tokio-1."), "{text}");
    // Without the flag, the report names the line and lists no frames.
    assert!(!replayed("text").contains("innermost first"));
}
