//! The replay's own state, pure: where on the recording's clock it is, how fast it goes,
//! whether it is paused, and what each replay command does to that. No clock, no terminal:
//! the replay source passes the wall time that went by and the commands.

use std::time::Duration;

use crate::run::{ReplayCommand, ReplayStatus, Update};

/// How far `[` and `]` seek.
pub const SEEK_STEP: Duration = Duration::from_secs(10);
/// The slowest and fastest speeds `<` and `>` reach.
pub const MIN_SPEED: f64 = 1.0 / 64.0;
pub const MAX_SPEED: f64 = 64.0;

/// When each item of a recording happened, on one clock across the whole file.
///
/// A sample is at its `elapsed_ns`; anything else at the sample before it (phases, knob
/// changes and panics are handled right after a sample). A dashboard that switched scenario
/// starts a new run whose clock starts again at zero: its items are placed after the last
/// item of the run before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeline {
    at_ns: Vec<u64>,
    /// Indices of the samples among the items.
    samples: Vec<usize>,
}

impl Timeline {
    pub fn of(items: &[Update]) -> Timeline {
        let mut at_ns = Vec::with_capacity(items.len());
        let mut samples = Vec::new();
        let mut offset = 0u64;
        let mut now = 0u64;
        for (index, item) in items.iter().enumerate() {
            match item {
                Update::Sample(sample) => {
                    // Never backwards, even if a sample were out of order.
                    now = now.max(offset.saturating_add(sample.elapsed_ns));
                    samples.push(index);
                }
                Update::Begin(_) | Update::Rewind(_) => offset = now,
                Update::Effect(_) | Update::UiCpu(_) => {}
            }
            at_ns.push(now);
        }
        Timeline { at_ns, samples }
    }

    /// How many items are due at `clock_ns`: every item up to that time.
    pub fn due(&self, clock_ns: u64) -> usize {
        self.at_ns.partition_point(|at| *at <= clock_ns)
    }

    /// The time of the last item.
    pub fn end_ns(&self) -> u64 {
        self.at_ns.last().copied().unwrap_or(0)
    }

    /// The time of the first sample after `clock_ns`.
    fn next_sample_after(&self, clock_ns: u64) -> Option<u64> {
        self.samples
            .iter()
            .map(|i| self.at_ns[*i])
            .find(|at| *at > clock_ns)
    }
}

/// Position, speed and pause of a replay.
#[derive(Debug, Clone, PartialEq)]
pub struct Player {
    /// Where the replay is, on the timeline's clock.
    clock_ns: u64,
    speed: f64,
    paused: bool,
    end_ns: u64,
}

impl Player {
    /// A player at the start of `timeline`, playing at `speed` (clamped to the allowed range).
    pub fn new(timeline: &Timeline, speed: f64) -> Player {
        Player {
            clock_ns: 0,
            speed: clamp_speed(speed),
            paused: false,
            end_ns: timeline.end_ns(),
        }
    }

    pub fn clock_ns(&self) -> u64 {
        self.clock_ns
    }

    pub fn speed(&self) -> f64 {
        self.speed
    }

    pub fn paused(&self) -> bool {
        self.paused
    }

    /// At the end of the recording.
    pub fn at_end(&self) -> bool {
        self.clock_ns >= self.end_ns
    }

    /// `wall` went by: the clock moves by `wall` times the speed, unless paused.
    pub fn advance(&mut self, wall: Duration) {
        if self.paused {
            return;
        }
        let step = (wall.as_nanos() as f64 * self.speed) as u64;
        self.clock_ns = self.clock_ns.saturating_add(step).min(self.end_ns);
    }

    /// Moves the replay as `command` says.
    pub fn apply(&mut self, command: ReplayCommand, timeline: &Timeline) {
        match command {
            ReplayCommand::TogglePause => self.paused = !self.paused,
            ReplayCommand::Step => {
                // Stepping pauses first: one sample, then it waits.
                self.paused = true;
                if let Some(at) = timeline.next_sample_after(self.clock_ns) {
                    self.clock_ns = at;
                }
            }
            ReplayCommand::Back => self.clock_ns = self.clock_ns.saturating_sub(nanos(SEEK_STEP)),
            ReplayCommand::Forward => {
                self.clock_ns = self
                    .clock_ns
                    .saturating_add(nanos(SEEK_STEP))
                    .min(self.end_ns);
            }
            ReplayCommand::Slower => self.speed = clamp_speed(self.speed / 2.0),
            ReplayCommand::Faster => self.speed = clamp_speed(self.speed * 2.0),
        }
    }

    /// Where the replay is and how it goes, for the app to show
    /// ([`crate::app::App::set_replay`]).
    pub fn status(&self) -> ReplayStatus {
        ReplayStatus {
            speed: self.speed,
            paused: self.paused,
            position_ns: self.clock_ns,
            length_ns: self.end_ns,
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn clamp_speed(speed: f64) -> f64 {
    if speed.is_finite() && speed > 0.0 {
        speed.clamp(MIN_SPEED, MAX_SPEED)
    } else {
        1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::{Effect, PhaseView};
    use crate::sample::{RuntimeCounters, SAMPLE_FORMAT_VERSION, Sample};

    fn sample(ms: u64) -> Update {
        Update::Sample(Box::new(Sample {
            format_version: SAMPLE_FORMAT_VERSION,
            seq: ms,
            elapsed_ns: ms * 1_000_000,
            workers: Vec::new(),
            runtime: RuntimeCounters::default(),
            workloads: Vec::new(),
            probe: None,
            dropped_before: 0,
        }))
    }

    fn phase() -> Update {
        Update::Effect(Box::new(Effect::PhaseBegun(PhaseView {
            index: 0,
            note: String::new(),
            next_at_ms: None,
        })))
    }

    /// Samples every 100 ms for 30 s, a phase after the first.
    fn timeline() -> Timeline {
        let mut items = vec![sample(100), phase()];
        items.extend((2..=300).map(|i| sample(i * 100)));
        Timeline::of(&items)
    }

    #[test]
    fn items_after_a_sample_are_due_with_it() {
        let t = timeline();
        assert_eq!(t.due(0), 0);
        assert_eq!(t.due(99_999_999), 0);
        assert_eq!(t.due(100_000_000), 2, "the sample and the phase after it");
        assert_eq!(t.due(250_000_000), 3);
        assert_eq!(t.end_ns(), 30_000_000_000);
        assert_eq!(t.due(t.end_ns()), 301);
    }

    #[test]
    fn a_new_session_continues_the_clock() {
        let items = vec![
            sample(100),
            sample(200),
            Update::Begin(Box::new(crate::run::RunConfig::new(
                crate::scenario::catalog::built_in("default")
                    .expect("exists")
                    .expect("parses"),
                None,
            ))),
            sample(100),
        ];
        let t = Timeline::of(&items);
        assert_eq!(
            t.at_ns,
            vec![100_000_000, 200_000_000, 200_000_000, 300_000_000]
        );
    }

    #[test]
    fn plays_at_its_speed_and_stops_at_the_end() {
        let t = timeline();
        let mut p = Player::new(&t, 2.0);
        p.advance(Duration::from_secs(1));
        assert_eq!(p.clock_ns(), 2_000_000_000);
        p.advance(Duration::from_secs(60));
        assert_eq!(p.clock_ns(), t.end_ns());
        assert!(p.at_end());
        assert!(p.status().at_end());
        assert_eq!(p.status().position_text(), "0:30 / 0:30");
    }

    #[test]
    fn space_pauses_and_step_moves_one_sample() {
        let t = timeline();
        let mut p = Player::new(&t, 1.0);
        p.advance(Duration::from_millis(1_050));
        p.apply(ReplayCommand::TogglePause, &t);
        assert!(p.paused());
        p.advance(Duration::from_secs(5));
        assert_eq!(p.clock_ns(), 1_050_000_000, "paused: the clock stands");
        assert_eq!(
            p.status(),
            ReplayStatus {
                speed: 1.0,
                paused: true,
                position_ns: 1_050_000_000,
                length_ns: 30_000_000_000,
            }
        );
        p.apply(ReplayCommand::Step, &t);
        assert_eq!(p.clock_ns(), 1_100_000_000);
        p.apply(ReplayCommand::Step, &t);
        assert_eq!(p.clock_ns(), 1_200_000_000);
        assert_eq!(t.due(p.clock_ns()), 13);
        p.apply(ReplayCommand::TogglePause, &t);
        assert!(!p.paused());
    }

    #[test]
    fn stepping_while_playing_pauses_first() {
        let t = timeline();
        let mut p = Player::new(&t, 1.0);
        p.apply(ReplayCommand::Step, &t);
        assert!(p.paused());
        assert_eq!(p.clock_ns(), 100_000_000);
    }

    #[test]
    fn seeks_ten_seconds_within_the_recording() {
        let t = timeline();
        let mut p = Player::new(&t, 1.0);
        p.apply(ReplayCommand::Forward, &t);
        assert_eq!(p.clock_ns(), 10_000_000_000);
        p.apply(ReplayCommand::Forward, &t);
        p.apply(ReplayCommand::Forward, &t);
        assert_eq!(p.clock_ns(), 30_000_000_000, "not past the end");
        p.apply(ReplayCommand::Back, &t);
        assert_eq!(p.clock_ns(), 20_000_000_000);
        p.apply(ReplayCommand::Back, &t);
        p.apply(ReplayCommand::Back, &t);
        p.apply(ReplayCommand::Back, &t);
        assert_eq!(p.clock_ns(), 0, "not before the start");
    }

    #[test]
    fn speed_halves_and_doubles_within_bounds() {
        let t = timeline();
        let mut p = Player::new(&t, 1.0);
        p.apply(ReplayCommand::Faster, &t);
        assert_eq!(p.speed(), 2.0);
        p.apply(ReplayCommand::Slower, &t);
        p.apply(ReplayCommand::Slower, &t);
        assert_eq!(p.speed(), 0.5);
        assert_eq!(p.status().speed_text(), "0.5x");
        for _ in 0..20 {
            p.apply(ReplayCommand::Slower, &t);
        }
        assert_eq!(p.speed(), MIN_SPEED);
        for _ in 0..20 {
            p.apply(ReplayCommand::Faster, &t);
        }
        assert_eq!(p.speed(), MAX_SPEED);
        assert_eq!(Player::new(&t, f64::NAN).speed(), 1.0);
    }
}
