//! Byte sizes as config files write them: a plain number of bytes, or a number with `KiB`,
//! `MiB`, `GiB` (powers of 1024) or `KB`, `MB`, `GB` (powers of 1000). JSON numbers are
//! accepted too, since a limit is naturally written as one.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

use crate::UnitError;

/// A size in bytes: a plain number, or a number with `KiB`, `MiB`, `GiB` (also `KB`, `MB`, `GB`
/// as powers of 1000).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

/// Pattern shared by the schema and the parser (for the string form).
pub const BYTE_SIZE_PATTERN: &str = "^[0-9]+(B|KB|MB|GB|KiB|MiB|GiB)?$";

impl FromStr for ByteSize {
    type Err = UnitError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            UnitError(format!(
                "invalid size {s:?}: write a number of bytes, optionally with KiB, MiB, GiB, KB, MB or GB (e.g. 4MiB)"
            ))
        };
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (digits, unit) = s.split_at(split);
        let n: u64 = digits.parse().map_err(|_| bad())?;
        let mult: u64 = match unit {
            "" | "B" => 1,
            "KB" => 1000,
            "MB" => 1000 * 1000,
            "GB" => 1000 * 1000 * 1000,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            _ => return Err(bad()),
        };
        n.checked_mul(mult).map(ByteSize).ok_or_else(bad)
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        if n > 0 && n % (1 << 30) == 0 {
            write!(f, "{}GiB", n >> 30)
        } else if n > 0 && n % (1 << 20) == 0 {
            write!(f, "{}MiB", n >> 20)
        } else if n > 0 && n % (1 << 10) == 0 {
            write!(f, "{}KiB", n >> 10)
        } else {
            write!(f, "{n}")
        }
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(n) => Ok(ByteSize(n)),
            Raw::Text(s) => s.parse().map_err(de::Error::custom),
        }
    }
}

impl JsonSchema for ByteSize {
    fn schema_name() -> Cow<'static, str> {
        "ByteSize".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Bytes: a number, or a number with KiB, MiB, GiB, KB, MB or GB (4MiB).",
            "anyOf": [
                { "type": "integer", "minimum": 0 },
                { "type": "string", "pattern": BYTE_SIZE_PATTERN }
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes_parse_and_print() {
        assert_eq!("4MiB".parse::<ByteSize>().unwrap().0, 4 << 20);
        assert_eq!("10KB".parse::<ByteSize>().unwrap().0, 10_000);
        assert_eq!("123".parse::<ByteSize>().unwrap().0, 123);
        assert_eq!("7B".parse::<ByteSize>().unwrap().0, 7);
        assert_eq!(ByteSize(4 << 20).to_string(), "4MiB");
        assert_eq!(ByteSize(1000).to_string(), "1000");
        assert!("4 MiB".parse::<ByteSize>().is_err());
        assert!("4mib".parse::<ByteSize>().is_err());
        assert!("99999999999999999999GiB".parse::<ByteSize>().is_err());
        assert!(
            "17179869184GiB".parse::<ByteSize>().is_err(),
            "overflows u64"
        );
        let n: ByteSize = serde_json::from_value(serde_json::json!(42)).unwrap();
        assert_eq!(n.0, 42);
        let s: ByteSize = serde_json::from_value(serde_json::json!("1KiB")).unwrap();
        assert_eq!(serde_json::to_value(s).unwrap(), serde_json::json!("1KiB"));
    }
}
