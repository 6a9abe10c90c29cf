//! The built-in detectors of `promptGuard.regex.builtins`: their patterns, placeholders and
//! the checks that keep look-alikes out (a Luhn checksum for card numbers, the never-issued
//! ranges for US social security numbers).
//!
//! The patterns use ASCII word boundaries (`(?-u:\b)`) so that the lazy DFA that decides
//! whether a stream's tail could still become a match (see [`super::stream`]) never has to
//! give up on non-ASCII text.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A built-in detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Builtin {
    /// E-mail addresses (`name@example.com`).
    Email,
    /// Payment card numbers: 13 to 19 digits, optionally grouped by spaces or dashes, that
    /// pass the Luhn checksum.
    CreditCard,
    /// US social security numbers written `123-45-6789` (never-issued area, group and serial
    /// numbers excluded).
    UsSsn,
    /// Phone numbers: ten digits in North American grouping (`(555) 123-4567`,
    /// `555-123-4567`, `555.123.4567`, `5551234567`), optionally after a `+` country code.
    PhoneNumber,
}

impl Builtin {
    /// Every built-in, in the order matches are preferred when they start at the same place.
    pub const ALL: [Builtin; 4] = [
        Builtin::Email,
        Builtin::CreditCard,
        Builtin::UsSsn,
        Builtin::PhoneNumber,
    ];

    /// The name users write, which metrics and logs carry.
    pub fn name(self) -> &'static str {
        match self {
            Builtin::Email => "email",
            Builtin::CreditCard => "creditCard",
            Builtin::UsSsn => "usSsn",
            Builtin::PhoneNumber => "phoneNumber",
        }
    }

    /// What `mask` writes instead of a match, unless the guard sets `replacement`.
    pub fn placeholder(self) -> &'static str {
        match self {
            Builtin::Email => "<EMAIL>",
            Builtin::CreditCard => "<CREDIT_CARD>",
            Builtin::UsSsn => "<SSN>",
            Builtin::PhoneNumber => "<PHONE_NUMBER>",
        }
    }

    /// The pattern (`regex` syntax).
    pub fn pattern(self) -> &'static str {
        match self {
            Builtin::Email => {
                r"(?i)(?-u:\b)[a-z0-9._%+-]{1,64}@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\.[a-z]{2,24}(?-u:\b)"
            }
            Builtin::CreditCard => r"(?-u:\b)(?:[0-9][ -]?){12,18}[0-9](?-u:\b)",
            Builtin::UsSsn => r"(?-u:\b)[0-9]{3}-[0-9]{2}-[0-9]{4}(?-u:\b)",
            Builtin::PhoneNumber => {
                r"(?:\+[0-9]{1,3}[ .-]?)?(?:\([0-9]{3}\)[ .-]?|(?-u:\b)[0-9]{3}[ .-]?)[0-9]{3}[ .-]?[0-9]{4}(?-u:\b)"
            }
        }
    }

    /// The check a match of the pattern must also pass, if any.
    pub fn validator(self) -> Option<fn(&str) -> bool> {
        match self {
            Builtin::CreditCard => Some(luhn_valid),
            Builtin::UsSsn => Some(ssn_valid),
            Builtin::Email | Builtin::PhoneNumber => None,
        }
    }
}

/// The Luhn checksum over the digits of `text` (separators ignored): what every payment card
/// number passes and nine in ten random digit strings fail.
pub fn luhn_valid(text: &str) -> bool {
    let digits: Vec<u32> = text.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let d2 = d * 2;
                if d2 > 9 {
                    d2 - 9
                } else {
                    d2
                }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

/// A US social security number the SSA could have issued: area not 000, 666 or 900–999,
/// group not 00, serial not 0000.
fn ssn_valid(text: &str) -> bool {
    let mut parts = text.split('-');
    let (Some(area), Some(group), Some(serial)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    area != "000" && area != "666" && !area.starts_with('9') && group != "00" && serial != "0000"
}
