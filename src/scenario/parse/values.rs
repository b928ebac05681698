//! Readers of one value: strings, ids, integers in a range, durations, sizes, one of an enum's names.

use std::str::FromStr;
use std::time::Duration;

use strum::VariantNames;
use toml::de::DeValue;

use super::checker::{Checker, Value, did_you_mean};

const DURATION_HINT: &str =
    "write a number and a unit: ns, us, ms, s, m, h (e.g. \"100ms\", \"1s\", \"250us\")";
const SIZE_HINT: &str = "write a number of bytes (e.g. 65536) or a number and a unit: B, KiB, MiB, GiB \
     (powers of 1024) or KB, MB, GB (powers of 1000), e.g. \"64KiB\", \"256MiB\"";

/// Each reader reports a bad value at its span and returns `None`.
impl Checker<'_> {
    pub(super) fn string<'v>(&mut self, key: &str, value: &'v Value<'_>) -> Option<&'v str> {
        match value.get_ref() {
            DeValue::String(text) => Some(text),
            _ => {
                self.wrong_type(key, value, "a string");
                None
            }
        }
    }

    pub(super) fn non_empty_string(&mut self, key: &str, value: &Value<'_>) -> Option<String> {
        let text = self.string(key, value)?;
        if text.trim().is_empty() {
            self.error_at(value.span(), Some(key.to_string()), "must not be empty");
            return None;
        }
        Some(text.to_string())
    }

    pub(super) fn id(&mut self, key: &str, value: &Value<'_>) -> Option<String> {
        let id = self.non_empty_string(key, value)?;
        if !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            self.error_at(
                value.span(),
                Some(key.to_string()),
                format!(
                    "may contain only ASCII letters, digits, '_' and '-', got \"{}\"",
                    id.escape_debug()
                ),
            );
            return None;
        }
        Some(id)
    }

    /// An integer in `min..=max`, converted to the caller's type (which must hold that range).
    pub(super) fn int<T: TryFrom<i64>>(
        &mut self,
        key: &str,
        value: &Value<'_>,
        min: i64,
        max: i64,
    ) -> Option<T> {
        let range = if max == i64::MAX {
            format!("at least {min}")
        } else {
            format!("{min}..={max}")
        };
        let DeValue::Integer(integer) = value.get_ref() else {
            self.wrong_type(key, value, &format!("an integer ({range})"));
            return None;
        };
        let number = i128::from_str_radix(integer.as_str(), integer.radix()).ok();
        let message = match number {
            Some(n) if n < i128::from(min) => format!("must be at least {min}, got {n}"),
            Some(n) if n > i128::from(max) => format!("must be at most {max}, got {n}"),
            Some(n) => {
                return i64::try_from(n).ok().and_then(|n| T::try_from(n).ok());
            }
            None => format!("integer out of range, got {integer}"),
        };
        let message = if max == i64::MAX {
            message
        } else {
            format!("{message} (allowed range: {range})")
        };
        self.error_at(value.span(), Some(key.to_string()), message);
        None
    }

    /// A duration string such as "100ms"; zero only if `allow_zero`.
    pub(super) fn duration(
        &mut self,
        key: &str,
        value: &Value<'_>,
        allow_zero: bool,
    ) -> Option<Duration> {
        let text = match value.get_ref() {
            DeValue::String(text) => text,
            DeValue::Integer(integer) => {
                let example = match integer.as_str().parse::<u64>() {
                    Ok(n) if integer.radix() == 10 => format!("\"{n}ms\" or \"{n}s\""),
                    _ => "\"100ms\"".to_string(),
                };
                self.error_at(
                    value.span(),
                    Some(key.to_string()),
                    format!(
                        "a duration needs a unit: write it as a string, e.g. {example}, not a bare number"
                    ),
                );
                return None;
            }
            DeValue::Float(_) => {
                self.error_at(
                    value.span(),
                    Some(key.to_string()),
                    "a duration needs a unit: write it as a string, e.g. \"100ms\" or \"1.5s\", \
                     not a bare number",
                );
                return None;
            }
            _ => {
                self.wrong_type(key, value, "a duration string such as \"100ms\"");
                return None;
            }
        };
        if text.trim_start().starts_with('-') {
            let bound = if allow_zero {
                "0 or more"
            } else {
                "greater than 0"
            };
            self.error_at(
                value.span(),
                Some(key.to_string()),
                format!("must be {bound}, got \"{}\"", text.escape_debug()),
            );
            return None;
        }
        let duration = match humantime::parse_duration(text) {
            Ok(duration) => duration,
            Err(error) => {
                let reason = match error {
                    humantime::DurationError::UnknownUnit { unit, .. } if unit.is_empty() => {
                        "no unit".to_string()
                    }
                    humantime::DurationError::UnknownUnit { unit, .. } => {
                        format!("unknown unit \"{}\"", unit.escape_debug())
                    }
                    humantime::DurationError::Empty => "empty".to_string(),
                    humantime::DurationError::NumberOverflow => "too large".to_string(),
                    _ => "not a number and a unit".to_string(),
                };
                self.error_at(
                    value.span(),
                    Some(key.to_string()),
                    format!(
                        "invalid duration \"{}\" ({reason}); {DURATION_HINT}",
                        text.escape_debug()
                    ),
                );
                return None;
            }
        };
        if !allow_zero && duration.is_zero() {
            self.error_at(
                value.span(),
                Some(key.to_string()),
                format!("must be greater than 0, got \"{}\"", text.escape_debug()),
            );
            return None;
        }
        Some(duration)
    }

    /// A byte count: a non-negative integer or a string such as "64KiB"; in `min..=max`,
    /// converted to the caller's type (which must hold that range).
    pub(super) fn size<T: TryFrom<u64>>(
        &mut self,
        key: &str,
        value: &Value<'_>,
        min: u64,
        max: u64,
    ) -> Option<T> {
        let (given, shown): (i128, String) = match value.get_ref() {
            DeValue::Integer(integer) => {
                let Ok(n) = i128::from_str_radix(integer.as_str(), integer.radix()) else {
                    self.error_at(
                        value.span(),
                        Some(key.to_string()),
                        format!("integer out of range, got {integer}"),
                    );
                    return None;
                };
                (n, n.to_string())
            }
            DeValue::String(text) => match text.trim().parse::<bytesize::ByteSize>() {
                Ok(size) => (
                    i128::from(size.0),
                    format!("\"{}\" ({} {})", text.escape_debug(), size.0, bytes(size.0)),
                ),
                Err(_) => {
                    self.error_at(
                        value.span(),
                        Some(key.to_string()),
                        format!("invalid size \"{}\"; {SIZE_HINT}", text.escape_debug()),
                    );
                    return None;
                }
            },
            _ => {
                self.wrong_type(
                    key,
                    value,
                    "a size: an integer number of bytes or a string such as \"64KiB\"",
                );
                return None;
            }
        };
        let message = if given < i128::from(min) {
            let range = if max == u64::MAX {
                String::new()
            } else {
                format!(" (allowed range: {min}..={max} bytes)")
            };
            format!("must be at least {min} {}, got {shown}{range}", bytes(min))
        } else if given > i128::from(max) {
            format!("must be at most {max} bytes ({}), got {shown}", iec(max))
        } else {
            return u64::try_from(given).ok().and_then(|n| T::try_from(n).ok());
        };
        self.error_at(value.span(), Some(key.to_string()), message);
        None
    }

    /// One of the names of `T`, an enum whose names come from strum; `what` is it in messages.
    pub(super) fn choice<T: FromStr + VariantNames>(
        &mut self,
        what: &str,
        key: &str,
        value: &Value<'_>,
    ) -> Option<T> {
        let names = T::VARIANTS;
        let DeValue::String(text) = value.get_ref() else {
            self.wrong_type(
                key,
                value,
                &format!("a string, one of: {}", names.join(", ")),
            );
            return None;
        };
        if let Ok(found) = text.parse() {
            return Some(found);
        }
        self.error_at(
            value.span(),
            Some(key.to_string()),
            format!(
                "unknown {what} \"{}\"{}; allowed: {}",
                text.escape_debug(),
                did_you_mean(text, names.iter().copied()),
                names.join(", ")
            ),
        );
        None
    }
}

// ---- Durations and sizes in messages ---------------------------------------------------------

/// A duration as a person writes it, e.g. "1s 500ms".
pub(super) fn show_duration(duration: Duration) -> String {
    humantime::format_duration(duration).to_string()
}

fn bytes(n: u64) -> &'static str {
    if n == 1 { "byte" } else { "bytes" }
}

/// `n` bytes in the largest binary unit that divides it exactly, e.g. "1MiB".
fn iec(n: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    UNITS
        .iter()
        .find(|(unit, _)| n >= *unit && n.is_multiple_of(*unit))
        .map_or_else(
            || format!("{n}B"),
            |(unit, name)| format!("{}{name}", n / unit),
        )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::testing::{kind_of, one_error, with_workload};
    use super::iec;
    use crate::scenario::spec::{Placement, WorkloadKind};

    #[test]
    fn durations_take_humantime_strings() {
        for (text, expected) in [
            ("100ms", Duration::from_millis(100)),
            ("1s", Duration::from_secs(1)),
            ("250us", Duration::from_micros(250)),
            ("1m", Duration::from_secs(60)),
            ("1s 500ms", Duration::from_millis(1500)),
            ("2h", Duration::from_secs(7200)),
        ] {
            let WorkloadKind::Sleep(sleep) = kind_of("sleep", &format!("duration = \"{text}\""))
            else {
                panic!("a sleep workload");
            };
            assert_eq!(sleep.duration, expected, "{text}");
        }
    }

    #[test]
    fn zero_durations_only_where_allowed() {
        kind_of("sleep", "every = \"0s\"");
        kind_of("mutex", "hold = \"0ms\"");
        kind_of("spawn", "work = \"0\"");
        let error = one_error(&with_workload("sleep", "duration = \"0s\""));
        assert_eq!(error.message, "must be greater than 0, got \"0s\"");
        let error = one_error(&with_workload("echo", "timeout = \"0ms\""));
        assert_eq!(error.key.as_deref(), Some("workload[1].timeout"));
        let error = one_error(&with_workload("sleep", "every = \"-5ms\""));
        assert_eq!(error.message, "must be 0 or more, got \"-5ms\"");
        let error = one_error(&with_workload("sleep", "duration = \"-5ms\""));
        assert_eq!(error.message, "must be greater than 0, got \"-5ms\"");
    }

    #[test]
    fn a_bare_integer_duration_says_to_write_a_unit() {
        let error = one_error(&with_workload("sleep", "duration = 100"));
        assert_eq!(error.key.as_deref(), Some("workload[1].duration"));
        assert!(error.message.contains("needs a unit"), "{error}");
        assert!(error.message.contains("\"100ms\""), "{error}");
    }

    #[test]
    fn bad_duration_strings_name_the_problem() {
        let error = one_error(&with_workload("sleep", "duration = \"5 parsecs\""));
        assert!(
            error
                .message
                .starts_with("invalid duration \"5 parsecs\" (unknown unit \"parsecs\");"),
            "{error}"
        );
        let error = one_error(&with_workload("sleep", "duration = \"100\""));
        assert!(error.message.contains("(no unit)"), "{error}");
    }

    #[test]
    fn sizes_take_integers_and_unit_strings() {
        for (text, expected) in [
            ("4096", 4096),
            ("\"64KiB\"", 65_536),
            ("\"64 KiB\"", 65_536),
            ("\"1MiB\"", 1_048_576),
            ("\"1KB\"", 1000),
            ("\"1.5KiB\"", 1536),
            ("\"256MiB\"", 268_435_456),
        ] {
            let WorkloadKind::Hash(hash) = kind_of("hash", &format!("size = {text}")) else {
                panic!("a hash workload");
            };
            assert_eq!(hash.size, expected, "{text}");
        }
    }

    #[test]
    fn bad_sizes_are_rejected() {
        for (bad, says) in [
            (
                "size = \"64 kilobytes\"",
                "invalid size \"64 kilobytes\"; write",
            ),
            ("size = 0", "must be at least 1 byte, got 0"),
            ("size = -1", "must be at least 1 byte, got -1"),
            (
                "size = \"0B\"",
                "must be at least 1 byte, got \"0B\" (0 bytes)",
            ),
            ("size = 1.5", "expected a size"),
            ("chunk = true", "expected a size"),
        ] {
            let error = one_error(&with_workload("hash", bad));
            assert!(error.message.starts_with(says), "{bad}: {error}");
        }
        let error = one_error(&with_workload("echo", "payload = \"2MiB\""));
        assert!(
            error.message.starts_with("must be at most 1048576 bytes"),
            "{error}"
        );
    }

    #[test]
    fn enum_values_list_what_is_allowed() {
        for &placement in <Placement as strum::VariantArray>::VARIANTS {
            let WorkloadKind::Hash(hash) =
                kind_of("hash", &format!("placement = \"{}\"", placement.name()))
            else {
                panic!("a hash workload");
            };
            assert_eq!(hash.placement, placement);
        }
        let error = one_error(&with_workload("hash", "placement = \"thread\""));
        assert_eq!(
            error.message,
            "unknown placement \"thread\"; allowed: worker, spawn_blocking, block_in_place, yield"
        );
        let error = one_error(&with_workload("mutex", "lock = \"parking_lot\""));
        assert_eq!(
            error.message,
            "unknown lock \"parking_lot\"; allowed: std, tokio"
        );
        let error = one_error(&with_workload("ech", ""));
        assert_eq!(
            error.message,
            "unknown kind \"ech\" (did you mean \"echo\"?); allowed: echo, fs, hash, mutex, sleep, spawn"
        );
    }

    #[test]
    fn sizes_in_messages() {
        assert_eq!(iec(1 << 20), "1MiB");
        assert_eq!(iec(3 << 10), "3KiB");
        assert_eq!(iec(1000), "1000B");
    }
}
