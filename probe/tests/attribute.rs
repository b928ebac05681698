//! `#[tokmon_probe::test]` as a user writes it: a healthy test passes, a blocking one fails
//! with the guard's message, options and allow-lists parse and apply.

use std::time::Duration;

#[tokmon_probe::test]
async fn a_healthy_test_passes() {
    let tasks: Vec<_> = (0..200u64)
        .map(|i| {
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(1)).await;
                i
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a task");
    }
}

#[tokmon_probe::test]
#[should_panic(expected = "1 culprit blocked a worker")]
async fn a_blocking_test_fails() {
    std::thread::sleep(Duration::from_millis(300));
}

mod legacy {
    pub fn slow_checksum() {
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}

#[tokmon_probe::test(stall = "20ms", worker_threads = 2, timeout = "60s", allow_frames = ["attribute::legacy::"])]
async fn an_allowed_frame_passes() {
    legacy::slow_checksum();
}

#[tokmon_probe::test(flavor = "multi_thread")]
async fn returns_a_result() -> Result<(), String> {
    tokio::task::yield_now().await;
    Ok(())
}
