//! The site table while the blocking pool churns: a stopped thread's slot taken by the next
//! thread before the monitor read it (a starved monitor) keeps every count the old thread made,
//! and no site's totals go back from one reading to the next.

use std::collections::HashMap;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use tokio::runtime::Builder;
use tokmon_probe::monitor::{Monitor, MonitorOptions};
use tokmon_probe::sample::Reading;
use tokmon_probe::{LabelGuard, Probe};

/// Longer than the test: readings come at the start, at the end, and when a stall asks.
const OPTIONS: MonitorOptions = MonitorOptions {
    interval: Duration::from_secs(600),
    stacks: false,
};

/// Blocking threads alive at once, each spawning this many tasks per wave.
const AT_ONCE: usize = 4;
const SPAWNS: u64 = 25;
const WAVES: u64 = 2;

/// Longer than the registry waits before a stopped thread's slot goes to a new thread when no
/// reading released it (2 s).
const SLOTS_FREE_AFTER: Duration = Duration::from_millis(2_600);

/// Spawns, busy time and polls of each site.
fn figures(reading: &Reading) -> HashMap<String, (u64, u64, u64)> {
    reading
        .probe
        .as_ref()
        .expect("a probe part")
        .sites
        .iter()
        .map(|s| (s.site.clone(), (s.spawns, s.busy_ns, s.polls)))
        .collect()
}

#[test]
fn slots_taken_before_a_reading_keep_every_spawn_and_totals_never_go_back() {
    let probe = Probe::builder().serve(false).build();
    let runtime = probe
        .install(
            Builder::new_multi_thread()
                .worker_threads(1)
                .max_blocking_threads(AT_ONCE)
                .thread_keep_alive(Duration::from_millis(5))
                .enable_all(),
        )
        .build()
        .expect("runtime");
    let monitor =
        Monitor::start(probe.clone(), runtime.handle().clone(), OPTIONS).expect("monitor starts");
    let mut readings = vec![
        monitor
            .readings()
            .recv_timeout(Duration::from_secs(30))
            .expect("the first reading"),
    ];
    let label: Arc<str> = "churn".into();
    runtime.block_on(async {
        for wave in 0..WAVES {
            if wave > 0 {
                // The last wave's threads stopped; no reading since: their slots go to the
                // next wave's threads unread.
                tokio::time::sleep(SLOTS_FREE_AFTER).await;
            }
            // AT_ONCE jobs that wait for each other run on AT_ONCE threads at once.
            let barrier = Arc::new(Barrier::new(AT_ONCE));
            let jobs: Vec<_> = (0..AT_ONCE)
                .map(|_| {
                    let (barrier, label) = (barrier.clone(), label.clone());
                    tokio::task::spawn_blocking(move || {
                        barrier.wait();
                        let _label = LabelGuard::set(&label);
                        for _ in 0..SPAWNS {
                            drop(tokio::spawn(async {}));
                        }
                    })
                })
                .collect();
            for job in jobs {
                job.await.expect("job");
            }
            while tokio::runtime::Handle::current()
                .metrics()
                .num_blocking_threads()
                > 0
            {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    });
    let slots = probe.threads.snapshot().len();
    monitor.finish(|r| readings.push(r)).expect("monitor stops");

    // The scenario happened: the second wave took the first wave's slots.
    assert!(
        slots <= 1 + AT_ONCE,
        "{slots} slots for 1 worker and {AT_ONCE} blocking threads at a time"
    );
    for pair in readings.windows(2) {
        let (before, after) = (figures(&pair[0]), figures(&pair[1]));
        for (site, was) in &before {
            let now = after.get(site).copied().unwrap_or_default();
            assert!(
                now.0 >= was.0 && now.1 >= was.1 && now.2 >= was.2,
                "{site} went back: {was:?} then {now:?}"
            );
        }
    }
    let last = readings.last().expect("a last reading");
    let churn: Vec<u64> = last
        .probe
        .as_ref()
        .expect("a probe part")
        .sites
        .iter()
        .filter(|s| s.label.as_deref() == Some("churn"))
        .map(|s| s.spawns)
        .collect();
    assert_eq!(
        churn,
        vec![WAVES * AT_ONCE as u64 * SPAWNS],
        "every wave's spawns, once, in {} readings",
        readings.len()
    );
    drop(runtime);
}
