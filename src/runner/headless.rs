//! The headless consumer: a source's updates folded into a [`Tally`] until the source ends or
//! the run is stopped, then the report.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::{CONSUMER_TICK, Tally, Tape};
use crate::detect::Detector;
use crate::model::Model;
use crate::record::Recorder;
use crate::report::Report;
use crate::run::{RunConfig, Update};
use crate::source::{Source, State};

/// The run being folded: its configuration and what it came to so far.
#[derive(Default)]
struct Fold {
    run: Option<(RunConfig, Tally)>,
}

impl Fold {
    fn update(&mut self, update: Update) {
        match (update, self.run.as_mut()) {
            (Update::Begin(config) | Update::Rewind(config), _) => {
                let tally = Tally::new(&config);
                self.run = Some((*config, tally));
            }
            (Update::Sample(sample), Some((_, tally))) => tally.sample(*sample),
            (Update::Effect(effect), Some((_, tally))) => tally.effect(*effect),
            (Update::UiCpu(_), _) | (_, None) => {}
        }
    }
}

/// Folds `source` until it ends or `stop` is set, writing every update to `recorder`, and calls
/// `on_sample` with the model and the detector once each sample and what came with it (the
/// phases it started) are folded in. Returns the report of the last run the source began.
pub fn consume_headless(
    source: &mut dyn Source,
    recorder: Option<&mut Recorder>,
    stop: &AtomicBool,
    mut on_sample: impl FnMut(&Model, &Detector),
) -> anyhow::Result<Report> {
    let mut tape = Tape::new(recorder);
    let mut fold = Fold::default();
    let mut tell = |fold: &Fold| {
        if let Some((_, tally)) = &fold.run {
            on_sample(&tally.model, &tally.detector);
        }
    };
    let going = |state: State| match state {
        State::Live => true,
        State::Replaying(replay) => !replay.at_end(),
        State::Ended | State::Disconnected(_) => false,
    };
    while !stop.load(Ordering::Acquire) && going(source.state()) {
        let mut told = true;
        let asked = Instant::now();
        let updates = source.next(CONSUMER_TICK)?;
        if updates.is_empty() {
            // A source that does not wait for its next update must not make this loop spin.
            std::thread::sleep(CONSUMER_TICK.saturating_sub(asked.elapsed()));
        }
        for update in updates {
            if matches!(update, Update::Sample(_)) {
                if !told {
                    tell(&fold);
                }
                told = false;
            }
            tape.write(&update);
            fold.update(update);
        }
        if !told {
            tell(&fold);
        }
    }
    for update in source.finish()? {
        tape.write(&update);
        fold.update(update);
    }
    let (config, tally) = fold
        .run
        .ok_or_else(|| anyhow::anyhow!("the source ended before its run began"))?;
    Ok(tally.report(&config))
}
