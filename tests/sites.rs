//! The spawn-site table against the kernel: in `hash-on-worker`, the hash workload's site holds
//! the workers, and its busy share (poll hooks, coarse clock) is not below the worker threads'
//! CPU time (schedstat) over the same run by more than 10 points: a site cannot compute without
//! being polled. The other way (busy far above CPU) is what a loaded machine does to a thread
//! that is runnable but not running, so the two-sided comparison is printed, not asserted.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use tokmon::run::RunConfig;
use tokmon::runner::run_headless;

#[test]
fn the_hash_site_holds_the_workers_as_their_cpu_time_says() {
    let scenario = tokmon::scenario::load_file(Path::new("scenarios/hash-on-worker.toml"))
        .expect("shipped scenario parses");
    let config = RunConfig::new(scenario, Some(Duration::from_secs(4)));
    let stop = AtomicBool::new(false);
    let report = run_headless(&config, &stop, |_, _| {}).expect("run completes");
    let sites = &report.sites.sites;
    let hash = sites
        .iter()
        .find(|s| s.label.as_deref() == Some("hasher"))
        .unwrap_or_else(|| panic!("the hasher's site: {sites:#?}"));
    assert!(hash.site.starts_with("src/workload/"), "{hash:?}");
    // Its tasks are spawned before the first sample (the baseline): polls, not spawns.
    assert!(hash.polls >= 1 && hash.stalls >= 1, "{hash:?}");
    assert_eq!(
        sites[0].label.as_deref(),
        Some("hasher"),
        "the busiest site: {sites:#?}"
    );
    let api = sites.iter().find(|s| s.label.as_deref() == Some("api"));
    assert!(
        api.is_some_and(|a| a.busy_ratio < hash.busy_ratio),
        "{sites:#?}"
    );
    if cfg!(target_os = "linux") {
        let cpu: Vec<f64> = report
            .workers
            .iter()
            .map(|w| w.cpu_ratio.expect("linux reads each worker's CPU time"))
            .collect();
        let workers_cpu = cpu.iter().sum::<f64>() / cpu.len() as f64;
        println!(
            "hash site busy {:.1}% of the workers' time; worker threads on CPU {:.1}%",
            hash.busy_ratio * 100.0,
            workers_cpu * 100.0
        );
        assert!(
            hash.busy_ratio >= workers_cpu - 0.10,
            "hash site busy {:.3}, workers on CPU {workers_cpu:.3}",
            hash.busy_ratio
        );
    }
}
