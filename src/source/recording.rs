//! A recording as a source: its items in order, as fast as they are read for a headless
//! replay, or paced by the [`Player`]'s clock on the dashboard, where the replay keys move,
//! pause and speed it.

use std::time::{Duration, Instant};

use super::{Abilities, Origin, Source, State};
use crate::record::{Player, Recording, Timeline};
use crate::run::{Command, Update};

/// Items an unpaced recording hands on per call: a long recording is folded a piece at a
/// time instead of cloned whole at once.
const UNPACED_BATCH: usize = 256;

/// A recording played back.
pub struct RecordingSource<'a> {
    recording: &'a Recording,
    timeline: Timeline,
    /// The pace and the moment it last moved; `None` gives everything at the first call.
    player: Option<(Player, Instant)>,
    /// Items handed on so far.
    applied: usize,
    begun: bool,
}

impl<'a> RecordingSource<'a> {
    /// As fast as it is read, as a headless replay reads it.
    pub fn unpaced(recording: &'a Recording) -> RecordingSource<'a> {
        RecordingSource {
            recording,
            timeline: Timeline::of(&recording.items),
            player: None,
            applied: 0,
            begun: false,
        }
    }

    /// Paced by the samples' own clock at `speed` times the run's pace.
    pub fn paced(recording: &'a Recording, speed: f64) -> RecordingSource<'a> {
        let mut source = RecordingSource::unpaced(recording);
        source.player = Some((Player::new(&source.timeline, speed), Instant::now()));
        source
    }
}

impl Source for RecordingSource<'_> {
    fn origin(&self) -> Origin {
        Origin::Recording(self.recording.path.clone())
    }

    fn abilities(&self) -> Abilities {
        Abilities {
            knobs: false,
            seek: self.player.is_some(),
        }
    }

    fn state(&self) -> State {
        match &self.player {
            Some((player, _)) => State::Replaying(player.status()),
            None if self.begun && self.applied == self.recording.items.len() => State::Ended,
            None => State::Live,
        }
    }

    fn next(&mut self, _wait: Duration) -> anyhow::Result<Vec<Update>> {
        let items = &self.recording.items;
        let due = match self.player.as_mut() {
            Some((player, moved)) => {
                let now = Instant::now();
                player.advance(now.duration_since(*moved));
                *moved = now;
                self.timeline.due(player.clock_ns())
            }
            None => items.len().min(self.applied + UNPACED_BATCH),
        };
        let mut out = Vec::new();
        let config = || Box::new(self.recording.config.clone());
        if !self.begun {
            self.begun = true;
            out.push(Update::Begin(config()));
        } else if due < self.applied {
            out.push(Update::Rewind(config()));
            self.applied = 0;
        }
        let fresh = items.get(self.applied..due).unwrap_or_default();
        out.extend(fresh.iter().cloned());
        self.applied = due;
        Ok(out)
    }

    fn command(&mut self, command: Command) -> anyhow::Result<()> {
        if let (Command::Replay(command), Some((player, _))) = (command, self.player.as_mut()) {
            player.apply(command, &self.timeline);
        }
        Ok(())
    }

    fn finish(&mut self) -> anyhow::Result<Vec<Update>> {
        Ok(Vec::new())
    }
}
