//! The watchdog half of the monitor thread: every tick it looks at each runtime thread's slot,
//! notes when a long poll was first seen (with the thread's CPU time then, to judge on/off CPU
//! later), and says when a poll has just crossed the stall threshold so a sample goes out now
//! instead of at the next interval. A thread's stack is captured here, raw (tens of
//! microseconds), once per poll that reaches 90 % of the stall threshold and again only if the
//! same poll is still stuck at ten times the threshold; the client names it.

use std::collections::HashMap;
use std::sync::Arc;
use std::thread::ThreadId;

use super::attribution::Recount;
use crate::sample::{CapturedStack, CpuUse, PollRecord};
use crate::{LongPoll, Probe, ThreadSlot, locations, stack, thread_state};

/// The coarse clock's tick, in nanoseconds.
const COARSE_TICK_NS: u64 = crate::clock::COARSE_TICK.as_nanos() as u64;

/// How long a capture waits for the stuck thread to answer the signal.
const CAPTURE_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(100);

/// A poll still stuck after this many stall thresholds has its stack captured once more.
const RECAPTURE_AFTER: u64 = 10;

/// A poll's stack is first captured when it has run this share (in percent) of the stall
/// threshold: a stall that ends just past the threshold (100.2 ms) has its stack all the
/// same, the sample that announces the stall carries it, and a long poll that nearly
/// stalled names its line too. Polls that long are rare; each is captured once.
const CAPTURE_AT_PERCENT: u64 = 90;

/// A poll running this long is watched: its thread's CPU time is read once, to compare later.
const WATCH_FROM_NS: u64 = 2_000_000;

/// A watched poll's thread is looked at every tick for this many looks, then every
/// [`LOOK_EVERY`] ticks: a poll known to be long needs no finer answer, and every look costs.
const EVERY_TICK_LOOKS: u32 = 32;
const LOOK_EVERY: u64 = 8;

/// When a watched poll was first seen and what its thread's CPU clock said then.
#[derive(Debug)]
struct Sighting {
    at_ns: u64,
    /// The thread's scheduler clocks when the poll was first watched.
    sched: Option<thread_state::Sched>,
    /// The thread's `/proc` files, open while the poll is watched.
    files: thread_state::ThreadFiles,
    announced_stall: bool,
    /// Looked up while the task surely lives; a short task may be gone when its record drains.
    workload: Option<Arc<str>>,
    /// How often each syscall (by number) was seen blocking the thread.
    syscalls: Vec<(i64, u32)>,
    /// Looks taken, how many found the thread running user code, and how many found it
    /// preempted, waiting for a CPU (a loaded machine): those say nothing of the poll's work.
    looks: u32,
    in_user: u32,
    waiting_for_cpu: u32,
    /// Stack captures taken of this poll (once near the stall threshold, again at ten times
    /// it), whether the one just before the threshold was tried, and the latest stack.
    captures: u32,
    tried_early: bool,
    stack: Option<CapturedStack>,
}

impl Sighting {
    /// One look at the thread: in which syscall it is blocked, if any.
    fn look(&mut self) {
        self.looks += 1;
        let number = match self.files.look() {
            thread_state::Look::Syscall(number) => number,
            thread_state::Look::Runnable => {
                self.waiting_for_cpu += 1;
                return;
            }
            thread_state::Look::Running | thread_state::Look::Unknown => {
                self.in_user += 1;
                return;
            }
        };
        match self.syscalls.iter_mut().find(|(n, _)| *n == number) {
            Some((_, count)) => *count += 1,
            None => self.syscalls.push((number, 1)),
        }
    }

    /// On the CPU when most looks that found the thread running or blocked found it running
    /// user code: CPU-bound work, even when a busy machine gave it less than its share of CPU
    /// time. Off when most found it blocked in a syscall. Looks that found it waiting for a
    /// CPU count for neither; without any other, the CPU time share decides.
    fn cpu_use(&self, ratio: Option<f64>) -> CpuUse {
        let telling = self.looks - self.waiting_for_cpu;
        if telling == 0 {
            return CpuUse::from_ratio(ratio);
        }
        if self.in_user * 2 >= telling {
            CpuUse::On
        } else {
            CpuUse::Off
        }
    }

    /// What the poll did with the CPU from when it was first watched to `now_ns`, given the
    /// thread's scheduler clocks then (`now`): its CPU share, the verdict, and the time it
    /// waited for a CPU. Starved, once the poll has ended, when it waited for a CPU at least
    /// half the time and computed less than the threshold it crossed (`long_ns` for a long
    /// poll, `stall_ns` for a stall): without the wait, it would not have been reported. A poll
    /// still running is never called starved: what it computes next is not known yet, and a
    /// verdict that flips while a worker is stuck misleads more than one that waits.
    fn verdict(
        &self,
        now: Option<thread_state::Sched>,
        now_ns: u64,
        thresholds: Option<(u64, u64)>,
    ) -> (Option<f64>, CpuUse, Option<u64>) {
        let ratio = cpu_ratio(self, now.map(|n| n.cpu_ns), now_ns);
        let cpu = self.cpu_use(ratio);
        let (Some(then), Some(now)) = (self.sched, now) else {
            return (ratio, cpu, None);
        };
        let wait = now.wait_ns.saturating_sub(then.wait_ns);
        let computed = now.cpu_ns.saturating_sub(then.cpu_ns);
        let wall = now_ns.saturating_sub(self.at_ns);
        let starved = thresholds.is_some_and(|(long_ns, stall_ns)| {
            // The poll began at least WATCH_FROM_NS before it was first watched.
            let crossed = if wall.saturating_add(WATCH_FROM_NS) >= stall_ns {
                stall_ns
            } else {
                long_ns
            };
            cpu != CpuUse::Off && wait * 2 >= wall && computed < crossed
        });
        (
            ratio,
            if starved { CpuUse::Starved } else { cpu },
            Some(wait),
        )
    }

    /// The syscall the thread waited in most during the poll: the cause, rather than whatever
    /// it happened to be in at the last look (a std lock's waiter also sleeps once it holds it).
    /// Seen in at least a fifth of the looks, so a passing call does not name the cause.
    fn main_syscall(&self) -> Option<String> {
        self.syscalls
            .iter()
            .max_by_key(|(_, n)| *n)
            .filter(|(_, n)| *n * 5 >= self.looks - self.waiting_for_cpu)
            .and_then(|(number, _)| thread_state::syscall_name(*number))
    }
}

/// A finished watched poll's CPU use, kept until its long-poll record is drained.
#[derive(Debug, Clone)]
struct Finished {
    cpu_ratio: Option<f64>,
    cpu_wait_ns: Option<u64>,
    at_ns: u64,
    workload: Option<Arc<str>>,
    syscall: Option<String>,
    cpu: CpuUse,
    stack: Option<CapturedStack>,
}

/// Forgets finished polls nobody asked about after this long.
const FORGET_AFTER_NS: u64 = 10_000_000_000;

/// A tick gap longer than this is remembered: a poll that started in it may have read a
/// coarse time up to the whole gap before it really started.
const GAP_NS: u64 = 3_000_000;
/// Gaps remembered (the oldest are forgotten first).
const GAPS_KEPT: usize = 4096;

/// When the coarse clock stood still: it read `from` until the monitor ticked at `to`.
#[derive(Debug, Clone, Copy)]
struct Gap {
    from: u64,
    to: u64,
}

#[derive(Debug)]
pub struct PollWatch {
    probe: Arc<Probe>,
    /// Captures stuck threads' stacks: off when asked, or where capture is unsupported.
    stacks: bool,
    /// The last tick, and the gaps between ticks longer than [`GAP_NS`]: a starved monitor
    /// thread must not make short polls look long.
    last_tick: Option<u64>,
    gaps: std::collections::VecDeque<Gap>,
    stall_threshold_ns: u64,
    /// The registry's slots, copied again only when a thread started or stopped.
    slots: Vec<&'static ThreadSlot>,
    slots_seen: Option<u64>,
    /// Passes so far.
    scans: u64,
    /// Keyed by (tid, seq).
    watching: HashMap<(Option<i32>, u64), Sighting>,
    /// The keys of the polls watched in this pass, kept to reuse its allocation.
    live: Vec<(Option<i32>, u64)>,
    finished: HashMap<(Option<i32>, u64), Finished>,
}

impl PollWatch {
    /// The long-poll and stall thresholds a finished poll's verdict is judged against.
    fn thresholds(&self) -> (u64, u64) {
        (self.probe.long_poll_threshold_ns(), self.stall_threshold_ns)
    }

    /// Watches `probe`'s threads for stalls, capturing their stacks when `stacks` is on.
    pub fn new(probe: Arc<Probe>, stall_threshold_ns: u64, stacks: bool) -> Self {
        // The coarse clock reads its start until the first tick: polls begun before a late
        // first scan (a loaded machine) must not look as long as the wait for that scan.
        let last_tick = Some(probe.clock.now_ns());
        PollWatch {
            probe,
            stall_threshold_ns,
            watching: HashMap::new(),
            live: Vec::new(),
            finished: HashMap::new(),
            stacks: stacks && stack::supported() && stack::prepare().is_ok(),
            last_tick,
            gaps: std::collections::VecDeque::new(),
            slots: Vec::new(),
            slots_seen: None,
            scans: 0,
        }
    }

    /// The latest a poll can have started, given the coarse time it read at its start: the
    /// next tick after that time (the clock read `started` until then).
    fn started_by(&self, started: u64) -> u64 {
        // Gaps are pushed in tick order, so sorted by `from`: a scan of all 4096 for every
        // stuck thread on every tick was the watchdog's largest cost on a loaded machine.
        match self.gaps.binary_search_by_key(&started, |g| g.from) {
            Ok(i) => self.gaps[i].to,
            Err(_) => started + COARSE_TICK_NS,
        }
    }

    /// How long a poll has surely run by `now`: from the latest it can have started.
    fn surely_running_for(&self, started: u64, now: u64) -> u64 {
        now.saturating_sub(self.started_by(started))
    }

    /// One watchdog pass at `now_ns`; true when a poll has just become a stall.
    pub fn scan(&mut self, now_ns: u64) -> bool {
        if let Some(last) = self.last_tick.replace(now_ns)
            && now_ns.saturating_sub(last) > GAP_NS
        {
            if self.gaps.len() == GAPS_KEPT {
                self.gaps.pop_front();
            }
            self.gaps.push_back(Gap {
                from: last,
                to: now_ns,
            });
        }
        self.scans += 1;
        let mut urgent = false;
        let mut live = std::mem::take(&mut self.live);
        live.clear();
        self.probe
            .threads
            .refresh(&mut self.slots, &mut self.slots_seen);
        for &slot in &self.slots {
            let view = slot.view();
            if !view.polling() {
                continue;
            }
            let age = self.surely_running_for(view.started_ns, now_ns);
            if age < WATCH_FROM_NS {
                continue;
            }
            // The lock-free tid: the identity's lock is taken only to capture a stack.
            let tid = slot.tid();
            let key = (tid, view.seq);
            live.push(key);
            let labels = &self.probe.labels;
            let sighting = self.watching.entry(key).or_insert_with(|| {
                let files = tid.map(thread_state::ThreadFiles::open).unwrap_or_default();
                Sighting {
                    at_ns: now_ns,
                    sched: files.sched(),
                    files,
                    announced_stall: false,
                    workload: labels.get(view.task_id),
                    syscalls: Vec::new(),
                    looks: 0,
                    in_user: 0,
                    waiting_for_cpu: 0,
                    captures: 0,
                    tried_early: false,
                    stack: None,
                }
            });
            if sighting.looks < EVERY_TICK_LOOKS || self.scans.is_multiple_of(LOOK_EVERY) {
                sighting.look();
            }
            if age >= self.stall_threshold_ns && !sighting.announced_stall {
                sighting.announced_stall = true;
                urgent = true;
            }
            // Capture the thread's stack just before the poll would be a stall, waiting for it
            // no longer than until the threshold (the stall's announcement does not wait for a
            // thread that does not answer); where that failed, on the pass after the stall was
            // announced (the urgent sample goes out first); once more if it is still stuck much
            // later. Never in a pass that announced a stall.
            let threshold = self.stall_threshold_ns;
            let early = sighting.captures == 0
                && !sighting.tried_early
                && (threshold / 100 * CAPTURE_AT_PERCENT..threshold).contains(&age);
            let wait = if early {
                let left = std::time::Duration::from_nanos(threshold.saturating_sub(age));
                Some(left.max(crate::clock::COARSE_TICK).min(CAPTURE_TIMEOUT))
            } else {
                match sighting.captures {
                    0 => sighting.announced_stall.then_some(CAPTURE_TIMEOUT),
                    1 => (age >= threshold.saturating_mul(RECAPTURE_AFTER))
                        .then_some(CAPTURE_TIMEOUT),
                    _ => None,
                }
            };
            if let Some(wait) = wait.filter(|_| !urgent)
                && self.stacks
                && let Some(tid) = tid
            {
                sighting.tried_early |= early;
                // A thread that does not answer in time just means no stack for now. A stack
                // caught after its poll ended belongs to whatever the thread ran next.
                let caught = stack::capture(tid, slot.stack(), wait);
                // An early capture that failed leaves the one after the announcement to try.
                if caught.is_ok() || !early {
                    sighting.captures += 1;
                }
                if let Ok(raw) = caught {
                    let now = slot.view();
                    if now.polling() && now.seq == view.seq {
                        sighting.stack = Some(CapturedStack {
                            addresses: raw.addresses,
                            capture_us: u64::try_from(raw.elapsed.as_micros()).unwrap_or(u64::MAX),
                        });
                    }
                }
            }
        }
        // Polls watched before and gone now have finished: settle their CPU use. Most passes
        // end none, and allocate nothing.
        let ended: Vec<_> = if self.watching.keys().all(|k| live.contains(k)) {
            Vec::new()
        } else {
            self.watching
                .keys()
                .filter(|k| !live.contains(k))
                .copied()
                .collect()
        };
        self.live = live;
        for key in ended {
            if let Some(s) = self.watching.remove(&key) {
                let (cpu_ratio, cpu, cpu_wait_ns) =
                    s.verdict(s.files.sched(), now_ns, Some(self.thresholds()));
                let finished = Finished {
                    cpu_ratio,
                    cpu_wait_ns,
                    at_ns: now_ns,
                    stack: s.stack.clone(),
                    cpu,
                    syscall: s.main_syscall(),
                    workload: s.workload,
                };
                self.finished.insert(key, finished);
            }
        }
        self.finished
            .retain(|_, f| now_ns.saturating_sub(f.at_ns) < FORGET_AFTER_NS);
        urgent
    }

    /// The runtime's threads' slots as of the last [`scan`](Self::scan).
    pub fn slots(&self) -> &[&'static ThreadSlot] {
        &self.slots
    }

    /// The polls running at least the long-poll threshold now, with their thread's state.
    /// `worker_threads[i]` is the thread running worker `i` now.
    pub fn in_flight(&self, now_ns: u64, worker_threads: &[Option<ThreadId>]) -> Vec<PollRecord> {
        let threshold = self.probe.long_poll_threshold_ns();
        let mut out = Vec::new();
        for &slot in &self.slots {
            let view = slot.view();
            let age = self.surely_running_for(view.started_ns, now_ns);
            if !view.polling() || age < threshold {
                continue;
            }
            let id = slot.identity();
            let sighting = self.watching.get(&(id.tid, view.seq));
            // A watched poll's thread has its files open already.
            let (thread_state, syscall) = match sighting {
                Some(s) => (
                    s.files.state(),
                    s.main_syscall().or_else(|| s.files.syscall()),
                ),
                None => {
                    let state = id.tid.map(thread_state::read).unwrap_or_default();
                    (state.state, state.syscall)
                }
            };
            let (ratio, cpu, cpu_wait_ns) = match sighting {
                Some(s) => s.verdict(s.files.sched(), now_ns, None),
                None => (None, CpuUse::Unknown, None),
            };
            // Poll hooks run only on a thread that holds a worker when the poll starts; one
            // that holds none now handed its worker on (`block_in_place`) during this poll.
            let current = worker_of(worker_threads, id.thread_id);
            let worker_moved = current.is_none();
            out.push(PollRecord {
                // A moved poll's worker is the one the watchdog last saw its thread run.
                worker: current.or(view.worker),
                task_id: view.task_id,
                workload: self.probe.labels.get(view.task_id).map(|l| l.to_string()),
                spawned_at: location(view.spawned_at),
                tid: id.tid,
                seq: view.seq,
                started_ns: view.started_ns,
                duration_ns: age,
                running: true,
                cpu_ratio: ratio,
                cpu,
                cpu_wait_ns,
                thread_state,
                syscall,
                worker_moved,
                captured: sighting.and_then(|s| s.stack.clone()),
                stack: None,
            });
        }
        out
    }

    /// The long polls finished since the last call, with the CPU use the watchdog saw, and the
    /// histogram counts to move where a record's duration falls in another bucket than the
    /// one the hooks counted (see [`Recount`]).
    pub fn finished_long_polls(&mut self) -> (Vec<PollRecord>, Vec<Recount>) {
        let mut recounts = Vec::new();
        let records = self
            .probe
            .drain_long_polls()
            .into_iter()
            .map(|poll| {
                let LongPoll {
                    duration_ns: raw,
                    precise,
                    worker_moved: moved,
                    worker,
                    ..
                } = poll;
                let record = self.record_of(poll);
                if let Some(worker) = worker.filter(|_| !precise && !moved) {
                    recounts.extend(Recount::of(worker, raw, record.duration_ns));
                }
                record
            })
            .collect();
        (records, recounts)
    }

    fn record_of(&mut self, poll: LongPoll) -> PollRecord {
        let key = (poll.tid, poll.seq);
        // The watchdog may not have noticed the end yet: settle it now.
        let finished = self.finished.remove(&key).or_else(|| {
            let s = self.watching.remove(&key)?;
            let now_ns = self.probe.clock.precise_ns();
            let (cpu_ratio, cpu, cpu_wait_ns) =
                s.verdict(s.files.sched(), now_ns, Some(self.thresholds()));
            Some(Finished {
                cpu_ratio,
                cpu_wait_ns,
                at_ns: 0,
                stack: s.stack.clone(),
                cpu,
                syscall: s.main_syscall(),
                workload: s.workload,
            })
        });
        let ratio = finished.as_ref().and_then(|f| f.cpu_ratio);
        let cpu = finished
            .as_ref()
            .map_or(CpuUse::from_ratio(ratio), |f| f.cpu);
        let cpu_wait_ns = finished.as_ref().and_then(|f| f.cpu_wait_ns);
        let syscall = finished.as_ref().and_then(|f| f.syscall.clone());
        let stack = finished.as_ref().and_then(|f| f.stack.clone());
        let workload = finished
            .and_then(|f| f.workload)
            .or_else(|| self.probe.labels.get(poll.task_id));
        PollRecord {
            worker: poll.worker,
            task_id: poll.task_id,
            workload: workload.map(|l| l.to_string()),
            spawned_at: location(poll.spawned_at),
            tid: poll.tid,
            seq: poll.seq,
            started_ns: poll.started_ns,
            // A coarse duration counts from the latest the poll can have started.
            duration_ns: if poll.precise {
                poll.duration_ns
            } else {
                poll.duration_ns.min(
                    self.surely_running_for(poll.started_ns, poll.started_ns + poll.duration_ns),
                )
            },
            running: false,
            cpu_ratio: ratio,
            cpu,
            cpu_wait_ns,
            thread_state: None,
            syscall,
            worker_moved: poll.worker_moved,
            captured: stack,
            stack: None,
        }
    }
}

/// The worker `thread` runs now, given the thread running each worker.
pub fn worker_of(worker_threads: &[Option<ThreadId>], thread: ThreadId) -> Option<usize> {
    worker_threads.iter().position(|&t| t == Some(thread))
}

fn cpu_ratio(s: &Sighting, cpu_now: Option<u64>, now_ns: u64) -> Option<f64> {
    let wall = now_ns.saturating_sub(s.at_ns);
    if wall < 1_000_000 {
        return None; // too short a window to judge
    }
    let cpu = cpu_now?.saturating_sub(s.sched?.cpu_ns);
    Some((cpu as f64 / wall as f64).clamp(0.0, 1.0))
}

fn location(key: usize) -> Option<String> {
    locations::resolve(key).map(locations::format)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sighting(in_user: u32, waiting_for_cpu: u32, futex: u32) -> Sighting {
        Sighting {
            at_ns: 0,
            sched: None,
            files: thread_state::ThreadFiles::default(),
            announced_stall: false,
            workload: None,
            syscalls: vec![(202, futex)],
            looks: in_user + waiting_for_cpu + futex,
            in_user,
            waiting_for_cpu,
            captures: 0,
            tried_early: false,
            stack: None,
        }
    }

    #[test]
    fn looks_that_found_the_thread_waiting_for_a_cpu_do_not_make_a_lock_wait_cpu_bound() {
        // Woken with the lock, then kept off the CPU by a loaded machine for most of the poll.
        let starved_lock_wait = sighting(2, 40, 10);
        assert_eq!(starved_lock_wait.cpu_use(Some(0.01)), CpuUse::Off);
        assert_eq!(starved_lock_wait.main_syscall().as_deref(), Some("futex"));
        // A CPU loop preempted by other work is still CPU-bound.
        assert_eq!(sighting(20, 30, 1).cpu_use(Some(0.3)), CpuUse::On);
        // Nothing but waiting: the CPU time share decides.
        assert_eq!(sighting(0, 50, 0).cpu_use(Some(0.02)), CpuUse::Off);
    }

    #[test]
    fn starved_is_judged_against_the_threshold_the_poll_crossed_and_only_once_it_ended() {
        const MS: u64 = 1_000_000;
        let sched = |cpu_ms: u64, wait_ms: u64| thread_state::Sched {
            cpu_ns: cpu_ms * MS,
            wait_ns: wait_ms * MS,
            slices: 1,
        };
        let mut s = sighting(10, 10, 0);
        s.sched = Some(sched(0, 0));
        let thresholds = Some((10 * MS, 100 * MS));
        // A 24 ms long poll that computed 8 ms and waited 16: without the wait, not long.
        let verdict = |now, wall_ms, thresholds| s.verdict(Some(now), wall_ms * MS, thresholds).1;
        assert_eq!(verdict(sched(8, 16), 24, thresholds), CpuUse::Starved);
        // One that computed 12 ms of its 24 would have been long anyway.
        assert_eq!(verdict(sched(12, 12), 24, thresholds), CpuUse::On);
        // A 200 ms stall that computed 60 ms: starved; 120 ms: CPU-bound.
        assert_eq!(verdict(sched(60, 140), 200, thresholds), CpuUse::Starved);
        assert_eq!(verdict(sched(120, 80), 200, thresholds), CpuUse::On);
        // Still running: not judged starved yet.
        assert_eq!(verdict(sched(60, 140), 200, None), CpuUse::On);
    }
}
