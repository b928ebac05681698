//! What the probe's hooks cost a poll and a spawn, in instructions: counted by callgrind, so
//! the same to 0.1 % on every run of the same build, whatever else the machine does (the
//! overhead benchmark's throughput ratios move by several percent between runs on a shared
//! host).
//!
//! `cargo run --release -p tokmon-probe --example poll_instructions` (needs `valgrind`). For
//! each workload and variant it runs itself under callgrind at two sizes, and the difference
//! over the difference in work is the instructions of one unit, start-up and shutdown
//! cancelling out. One worker thread, so that no work stealing makes the counts vary. The
//! variants: `bare`, `empty-hooks` (the hooks the probe installs, doing nothing) and `probe`
//! (the probe's hooks; no monitor thread, so its clock stands still and only the one poll in
//! 256 timed precisely leaves the common path: the cost of the poll path itself, not of the
//! monitor's ticks).

use std::process::Command;

const VARIANTS: [&str; 3] = ["bare", "empty-hooks", "probe"];
const WORKLOADS: [(&str, &str); 2] = [("yield", "poll"), ("spawn", "task")];
/// The two sizes of each workload, in its units.
const SIZES: [u64; 2] = [200_000, 400_000];

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, variant, workload, size] = args.as_slice()
        && flag == "--child"
    {
        let size = size.parse().map_err(|e| format!("size {size:?}: {e}"))?;
        return child(variant, workload, size);
    }
    let exe = std::env::current_exe().map_err(|e| format!("finding this example: {e}"))?;
    // Ratios of instructions: above 1 is more work than the base.
    println!("workload  variant      instructions/unit   × bare  × hooks");
    for (workload, unit) in WORKLOADS {
        let mut per_unit = Vec::new();
        for variant in VARIANTS {
            let [small, large] = SIZES.map(|size| counted(&exe, variant, workload, size));
            let one = (large? as f64 - small? as f64) / (SIZES[1] - SIZES[0]) as f64;
            per_unit.push(one);
        }
        for (variant, one) in VARIANTS.iter().zip(&per_unit) {
            println!(
                "{workload:<9} {variant:<12} {one:>12.1} /{unit:<4}  {:>7.3}  {:>7.3}",
                one / per_unit[0],
                one / per_unit[1]
            );
        }
    }
    Ok(())
}

/// Instructions of one run of this example as a child, under callgrind.
fn counted(exe: &std::path::Path, variant: &str, workload: &str, size: u64) -> Result<u64, String> {
    let output = Command::new("valgrind")
        .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
        .arg(exe)
        .args(["--child", variant, workload, &size.to_string()])
        .output()
        .map_err(|e| format!("running valgrind (is it installed?): {e}"))?;
    let log = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!("{variant} {workload} {size} failed:\n{log}"));
    }
    log.lines()
        .find_map(|line| line.split("Collected :").nth(1))
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| format!("no instruction count in callgrind's output:\n{log}"))
}

/// One run: `size` units of the workload on a one-worker runtime with the variant installed.
fn child(variant: &str, workload: &str, size: u64) -> Result<(), String> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.worker_threads(1);
    match variant {
        "bare" => {}
        "empty-hooks" => {
            builder
                .on_thread_start(|| {})
                .on_thread_stop(|| {})
                .on_task_spawn(|_| {})
                .on_before_task_poll(|_| {})
                .on_after_task_poll(|_| {});
        }
        "probe" => {
            tokmon_probe::Probe::builder()
                .serve(false)
                .build()
                .install(&mut builder);
        }
        other => return Err(format!("no variant {other:?}")),
    }
    let rt = builder
        .build()
        .map_err(|e| format!("building the runtime: {e}"))?;
    rt.block_on(async move {
        match workload {
            // Eight tasks that only yield: nothing but polls.
            "yield" => {
                let tasks: Vec<_> = (0..8)
                    .map(|_| {
                        tokio::spawn(async move {
                            for _ in 0..size / 8 {
                                tokio::task::yield_now().await;
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.map_err(|e| e.to_string())?;
                }
            }
            // Tasks that do nothing, spawned and awaited in batches of 64 by a task on the
            // worker: everything on the one worker thread.
            "spawn" => tokio::spawn(async move {
                for _ in 0..size / 64 {
                    let batch: Vec<_> = (0..64).map(|_| tokio::spawn(async {})).collect();
                    for task in batch {
                        task.await.map_err(|e| e.to_string())?;
                    }
                }
                Ok::<_, String>(())
            })
            .await
            .map_err(|e| e.to_string())??,
            other => return Err(format!("no workload {other:?}")),
        }
        Ok(())
    })
}
