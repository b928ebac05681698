//! Samples written as changes from the previous sample, so a recording stays small.
//!
//! A sample is turned into its JSON object (the serde form of [`Sample`]) and compared with
//! the previous one; the line holds a patch:
//!
//! - an object patches an object: only the keys whose values changed, each value itself a
//!   patch; a key whose value is `{"-":1}` was removed;
//! - `{"@":{"3":PATCH,...}}` patches an array of the same length element by element (used
//!   when it is shorter than the array itself);
//! - anything else replaces the value.
//!
//! The first sample of a recording is written whole (a patch of nothing).
//!
//! One more form keeps the patch small: a stuck thread's stack (`frames`, some 70 frames of
//! long paths) recurs from sample to sample: each `frames` array and each frame in it is
//! numbered, in the order they first appear in the file, and written again as `{"~r":N}`.
//!
//! Floats are plain JSON numbers: serde_json writes the shortest text that reads back to the
//! same bits, and reads it back exactly (its `float_roundtrip` feature), so a replay computes
//! the live run's figures to the last bit.
//!
//! Rust field names are never `-`, `@` or `~r`, so a marker cannot be mistaken for a value.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::sample::Sample;

/// The key of a removed field's marker.
const REMOVED: &str = "-";
/// The key of an array patch.
const ARRAY: &str = "@";
/// The key of a reference to a stack's frames, or a frame, written before.
const REFERENCE: &str = "~r";
/// The field that holds a stack's frames.
const FRAMES: &str = "frames";

fn marker(key: &str, value: Value) -> Value {
    let mut map = Map::new();
    map.insert(key.into(), value);
    Value::Object(map)
}

/// The value of a one-key marker object `{key: value}`.
fn marked<'v>(value: &'v Value, key: &str) -> Option<&'v Value> {
    match value {
        Value::Object(map) if map.len() == 1 => map.get(key),
        _ => None,
    }
}

/// Turns samples into patches against the previous one.
#[derive(Debug, Default)]
pub struct Encoder {
    previous: Option<Value>,
    /// Each stack's frames and each frame written so far (as JSON text), by number.
    written: HashMap<String, u64>,
}

impl Encoder {
    pub fn new() -> Encoder {
        Encoder::default()
    }

    /// The patch that turns the previous sample into `sample`.
    pub fn encode(&mut self, sample: &Sample) -> Result<Map<String, Value>, serde_json::Error> {
        let current = serde_json::to_value(sample)?;
        let patch = match (&self.previous, &current) {
            (Some(previous), _) => diff(previous, &current),
            (None, _) => Some(current.clone()),
        };
        self.previous = Some(current);
        let mut patch = match patch {
            Some(Value::Object(map)) => map,
            // Identical to the previous sample (or not an object, which a sample never is).
            _ => Map::new(),
        };
        for (key, value) in patch.iter_mut() {
            self.shorten(key, value);
        }
        Ok(patch)
    }

    /// Replaces stacks written before by references.
    fn shorten(&mut self, key: &str, value: &mut Value) {
        match value {
            Value::Array(items) if key == FRAMES => {
                let text = Value::Array(items.clone()).to_string();
                if let Some(n) = self.written.get(&text) {
                    *value = marker(REFERENCE, Value::from(*n));
                    return;
                }
                for frame in items.iter_mut() {
                    let frame_text = frame.to_string();
                    match self.written.get(&frame_text) {
                        Some(n) => *frame = marker(REFERENCE, Value::from(*n)),
                        None => {
                            self.shorten("", frame);
                            self.remember(frame_text);
                        }
                    }
                }
                self.remember(text);
            }
            Value::Object(map) => {
                for (key, value) in map.iter_mut() {
                    self.shorten(key, value);
                }
            }
            Value::Array(items) => {
                for item in items {
                    self.shorten("", item);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
        }
    }

    fn remember(&mut self, text: String) {
        let n = self.written.len() as u64;
        self.written.insert(text, n);
    }
}

/// Turns patches back into samples.
#[derive(Debug, Default)]
pub struct Decoder {
    current: Value,
    /// Each stack's frames and each frame read so far, by number.
    read: Vec<Value>,
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// The sample `patch` makes of the previous one.
    pub fn decode(&mut self, mut patch: Map<String, Value>) -> Result<Sample, String> {
        for (key, value) in patch.iter_mut() {
            self.restore(key, value)?;
        }
        apply(&mut self.current, Value::Object(patch))?;
        Sample::deserialize(&self.current).map_err(|e| format!("not a sample: {e}"))
    }
}

impl Decoder {
    /// Undoes [`Encoder::shorten`], numbering stacks and frames in the same order.
    fn restore(&mut self, key: &str, value: &mut Value) -> Result<(), String> {
        if let Some(n) = marked(value, REFERENCE) {
            let n = n.as_u64().ok_or("a reference that is not a number")?;
            *value = usize::try_from(n)
                .ok()
                .and_then(|n| self.read.get(n))
                .cloned()
                .ok_or_else(|| format!("a reference to stack {n}, which was never written"))?;
            return Ok(());
        }
        match value {
            Value::Array(items) if key == FRAMES => {
                for frame in items.iter_mut() {
                    let written_before = marked(frame, REFERENCE).is_some();
                    self.restore("", frame)?;
                    if !written_before {
                        self.read.push(frame.clone());
                    }
                }
                self.read.push(value.clone());
            }
            Value::Object(map) => {
                for (key, value) in map.iter_mut() {
                    self.restore(key, value)?;
                }
            }
            Value::Array(items) => {
                for item in items {
                    self.restore("", item)?;
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
        }
        Ok(())
    }
}

/// The patch from `previous` to `current`; `None` when they are equal.
fn diff(previous: &Value, current: &Value) -> Option<Value> {
    match (previous, current) {
        (Value::Object(p), Value::Object(c)) => {
            let mut patch = Map::new();
            for (key, value) in c {
                match p.get(key) {
                    // A stack's frames are written whole (or as a reference), never patched.
                    Some(before) if key == FRAMES => {
                        if before != value {
                            patch.insert(key.clone(), value.clone());
                        }
                    }
                    Some(before) => {
                        if let Some(change) = diff(before, value) {
                            patch.insert(key.clone(), change);
                        }
                    }
                    None => {
                        patch.insert(key.clone(), value.clone());
                    }
                }
            }
            for key in p.keys().filter(|k| !c.contains_key(*k)) {
                let mut removed = Map::new();
                removed.insert(REMOVED.into(), Value::from(1));
                patch.insert(key.clone(), Value::Object(removed));
            }
            (!patch.is_empty()).then_some(Value::Object(patch))
        }
        (Value::Array(p), Value::Array(c)) if p.len() == c.len() => {
            let mut changes = Map::new();
            for (i, (before, value)) in p.iter().zip(c).enumerate() {
                if let Some(change) = diff(before, value) {
                    changes.insert(i.to_string(), change);
                }
            }
            if changes.is_empty() {
                return None;
            }
            let mut patch = Map::new();
            patch.insert(ARRAY.into(), Value::Object(changes));
            let patch = Value::Object(patch);
            // Whichever is shorter on the line.
            if patch.to_string().len() < current.to_string().len() {
                Some(patch)
            } else {
                Some(current.clone())
            }
        }
        _ => (previous != current).then(|| current.clone()),
    }
}

fn is_removed(value: &Value) -> bool {
    matches!(value, Value::Object(m) if m.len() == 1 && m.contains_key(REMOVED))
}

/// Applies `patch` to `target` in place.
fn apply(target: &mut Value, patch: Value) -> Result<(), String> {
    let Value::Object(mut patch) = patch else {
        *target = patch;
        return Ok(());
    };
    if let Value::Array(items) = target
        && patch.len() == 1
        && let Some(changes) = patch.remove(ARRAY)
    {
        let Value::Object(changes) = changes else {
            return Err("an array patch that is not an object".into());
        };
        for (index, change) in changes {
            let slot = index
                .parse::<usize>()
                .ok()
                .and_then(|i| items.get_mut(i))
                .ok_or_else(|| format!("an array patch at index {index}, past the end"))?;
            apply(slot, change)?;
        }
        return Ok(());
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(fields) = target else {
        return Err("not an object".into());
    };
    for (key, change) in patch {
        if is_removed(&change) {
            fields.remove(&key);
        } else {
            apply(fields.entry(key).or_insert(Value::Null), change)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn round_trip(values: &[Value]) {
        let mut previous: Option<Value> = None;
        let mut decoded = Value::Null;
        for value in values {
            let patch = match &previous {
                Some(p) => diff(p, value).unwrap_or(json!({})),
                None => value.clone(),
            };
            // Through text, as in a file.
            let patch: Value = serde_json::from_str(&patch.to_string()).expect("json");
            apply(&mut decoded, patch).expect("applies");
            assert_eq!(&decoded, value);
            previous = Some(value.clone());
        }
    }

    #[test]
    fn patches_rebuild_every_value() {
        round_trip(&[
            json!({"a": 1, "b": [1, 2, 3, 4, 5, 6, 7, 8], "c": null, "d": {"x": [[1, 2]]}}),
            json!({"a": 2, "b": [1, 2, 3, 4, 5, 6, 7, 9], "c": {"p": 1}, "d": {"x": [[1, 3]]}}),
            json!({"a": 2, "b": [1, 2], "c": null, "d": {"x": [], "y": "new"}}),
            json!({"a": 2, "b": [1, 2], "d": {"x": [], "y": "new"}}),
            json!({"a": 2, "b": {"now": "an object"}, "d": [1]}),
            json!({"a": 2, "b": {"now": "an object"}, "d": [1]}),
            json!({"a": [{"k": 1, "s": {"f": 0.1}}, {"k": 2}], "b": 0}),
            json!({"a": [{"k": 1}, {"k": 2, "s": {"f": 0.30000000000000004}}], "b": 0}),
        ]);
    }

    #[test]
    fn an_unchanged_field_is_left_out() {
        let patch = diff(
            &json!({"id": "api", "ops": 10, "buckets": [0, 0, 0, 0, 5, 0, 0, 0]}),
            &json!({"id": "api", "ops": 12, "buckets": [0, 0, 0, 0, 7, 0, 0, 0]}),
        );
        assert_eq!(patch, Some(json!({"ops": 12, "buckets": {"@": {"4": 7}}})));
    }

    /// Samples through the encoder, the text of a line and the decoder.
    fn through_a_file(samples: &[Sample]) -> (Vec<Sample>, String) {
        let mut encoder = Encoder::new();
        let mut decoder = Decoder::new();
        let mut text = String::new();
        let mut back = Vec::new();
        for sample in samples {
            let line = serde_json::to_string(&encoder.encode(sample).expect("encodes"))
                .expect("serializes");
            text.push_str(&line);
            text.push('\n');
            let patch: Map<String, Value> = serde_json::from_str(&line).expect("reads");
            back.push(decoder.decode(patch).expect("decodes"));
        }
        (back, text)
    }

    #[test]
    fn samples_come_back_exactly_and_stacks_are_written_once() {
        use crate::app::fixtures::sample;
        let mut samples: Vec<Sample> = (0..10).map(|i| sample(i, 0.3, None)).collect();
        for i in 10..40 {
            let mut s = sample(i, 0.95, Some((i - 9) * 100));
            if let Some(probe) = s.probe.as_mut() {
                // Seventeen digits, which serde_json reads back one bit off without its
                // `float_roundtrip` feature: written as a plain number, it comes back exact.
                for poll in &mut probe.in_flight {
                    poll.cpu_ratio = Some(0.9276652960269715);
                }
                // A finished poll with the same stack, and one with a stack of its own.
                let mut other = probe.in_flight.clone();
                if let Some(stack) = other.first_mut().and_then(|p| p.stack.as_mut()) {
                    stack.frames.truncate(2);
                    stack.capture_us = i;
                }
                probe.long_polls = probe.in_flight.iter().chain(&other).cloned().collect();
            }
            samples.push(s);
        }
        samples.push(sample(40, 0.3, None));
        let (back, text) = through_a_file(&samples);
        assert_eq!(back, samples);
        assert!(text.contains(r#""cpu_ratio":0.9276652960269715"#), "{text}");
        // The stack's frames are written whole once; every other time by reference.
        let deepest = samples[10]
            .probe
            .as_ref()
            .and_then(|p| p.in_flight.first())
            .and_then(|p| p.stack.as_ref())
            .and_then(|s| s.frames.last())
            .map(|f| serde_json::to_string(&f.function).unwrap_or_default())
            .expect("the fixture has a stack");
        assert_eq!(text.matches(&deepest).count(), 1, "{deepest} in {text}");
        assert!(text.contains(r#"{"~r":"#), "{text}");
        let plain: usize = samples
            .iter()
            .map(|s| serde_json::to_string(s).map_or(0, |t| t.len()))
            .sum();
        // Every field the fixture changes each sample is written each time (the workers' busy,
        // CPU and CPU-wait clocks): what is left out is the rest, several times their size.
        assert!(
            text.len() * 3 < plain,
            "{} bytes against {plain}",
            text.len()
        );
    }

    #[test]
    fn a_patch_past_the_end_of_an_array_is_an_error() {
        let mut target = json!({"a": [1]});
        let error = apply(&mut target, json!({"a": {"@": {"5": 2}}})).expect_err("refused");
        assert!(error.contains("index 5"), "{error}");
    }
}
