//! Durations as config files write them: a whole number and a unit, `500ms`, `5s`, `1m`, `2h`.
//!
//! One grammar for every config key (gateway file, MCP targets, OpenAPI targets), so a value
//! that works in one place works in all, and one upper bound: ten years, because durations
//! are added to the clock when used and far beyond that the addition overflows (a panic).

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

use crate::UnitError;

/// A duration written as a whole number and a unit: `ms`, `s`, `m` or `h`. At most
/// [`MAX_DURATION`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub std::time::Duration);

/// Pattern of [`Duration`], shared by the JSON schema and the gateway's schema check.
pub const DURATION_PATTERN: &str = "^[0-9]+(ms|s|m|h)$";

/// The longest duration a config may say (ten years, `87600h`).
pub const MAX_DURATION: std::time::Duration = std::time::Duration::from_secs(10 * 365 * 24 * 3600);

impl FromStr for Duration {
    type Err = UnitError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            UnitError(format!(
                "invalid duration {s:?}: write a whole number and a unit: ms, s, m or h (e.g. 500ms, 5s, 1m)"
            ))
        };
        let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let (digits, unit) = s.split_at(split);
        let n: u64 = digits.parse().map_err(|_| bad())?;
        let d = match unit {
            "ms" => std::time::Duration::from_millis(n),
            "s" => std::time::Duration::from_secs(n),
            "m" => std::time::Duration::from_secs(n.checked_mul(60).ok_or_else(bad)?),
            "h" => std::time::Duration::from_secs(n.checked_mul(3600).ok_or_else(bad)?),
            _ => return Err(bad()),
        };
        if d > MAX_DURATION {
            return Err(UnitError(format!(
                "duration {s:?} is too long: at most {}h (ten years)",
                MAX_DURATION.as_secs() / 3600
            )));
        }
        Ok(Duration(d))
    }
}

impl From<Duration> for std::time::Duration {
    fn from(d: Duration) -> Self {
        d.0
    }
}

impl fmt::Display for Duration {
    /// The largest unit that divides it, so `120s` prints as `2m`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms % 3_600_000 == 0 && ms > 0 {
            write!(f, "{}h", ms / 3_600_000)
        } else if ms % 60_000 == 0 && ms > 0 {
            write!(f, "{}m", ms / 60_000)
        } else if ms % 1000 == 0 {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(de::Error::custom)
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": DURATION_PATTERN,
            "description": "A whole number and a unit: ms, s, m or h (500ms, 5s, 1m)."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print() {
        let d: Duration = "500ms".parse().unwrap();
        assert_eq!(d.0, std::time::Duration::from_millis(500));
        assert_eq!("5s".parse::<Duration>().unwrap().0.as_secs(), 5);
        assert_eq!("1m".parse::<Duration>().unwrap().0.as_secs(), 60);
        assert_eq!("2h".parse::<Duration>().unwrap().0.as_secs(), 7200);
        assert_eq!("90s".parse::<Duration>().unwrap().to_string(), "90s");
        assert_eq!("120s".parse::<Duration>().unwrap().to_string(), "2m");
        for bad in ["", "5", "s", "5 s", "1.5s", "5sec", "-1s", " 5s"] {
            assert!(bad.parse::<Duration>().is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn at_most_ten_years() {
        let max = "87600h".parse::<Duration>().unwrap();
        assert_eq!(max.0, MAX_DURATION);
        for too_long in ["87601h", "18446744073709551615ms", "18446744073709551615s"] {
            let err = too_long.parse::<Duration>().expect_err(too_long);
            assert!(err.0.contains("too long"), "{too_long}: {err}");
        }
    }

    #[test]
    fn serde_and_schema_share_the_grammar() {
        let d: Duration = serde_json::from_value(serde_json::json!("10s")).unwrap();
        assert_eq!(serde_json::to_value(d).unwrap(), serde_json::json!("10s"));
        assert!(serde_json::from_value::<Duration>(serde_json::json!(10)).is_err());
        let schema = serde_json::to_string(&schemars::schema_for!(Duration)).unwrap();
        assert!(schema.contains(&DURATION_PATTERN.replace('\\', "\\\\")));
    }
}
