//! Reversible names for tools and prompts, and reversible URIs for resources.
//!
//! # Names (tools and prompts)
//!
//! * With more than one target, the exposed name is `{target}_{name}`. Target
//!   names match `^[a-z0-9]([-a-z0-9]*[a-z0-9])?$` (no `_`), so splitting on the
//!   **first** `_` recovers the target and the rest is the upstream name
//!   verbatim, even if it contains `_` itself. With one target the name is the
//!   upstream name (a transparent proxy).
//! * Every exposed name matches `^[A-Za-z0-9_-]{1,64}$`, which many clients and
//!   LLM APIs enforce. A candidate that breaks that rule (too long, `.`, `/`,
//!   non-ASCII, empty) is **shortened**: the candidate with every disallowed
//!   character replaced by `-`, cut to 46 characters, then `--` and 16
//!   lowercase hex digits of FNV-1a-64 over `target \0 name`. The target
//!   prefix (at most 32 characters plus `_`) always survives the cut, so the
//!   owning target of a shortened name is still known without any state.
//! * A shortened name always ends in `--` + 16 hex digits (the *hash suffix*).
//!   A candidate that is valid but happens to end that way is shortened too, so
//!   the set of verbatim names and the set of shortened names are disjoint:
//!   a verbatim name never collides with a shortened one, and two verbatim
//!   names never collide because `{target}_{name}` is injective.
//! * Routing back: a verbatim name is split, no state needed (any replica can
//!   route it). A shortened name is looked up in a table filled by every list;
//!   on a miss the owning target is listed again and the names recomputed,
//!   so a replica that never listed still routes it. Two shortened names of
//!   one target can only collide on a 64-bit hash collision; the multiplexer
//!   detects that at list time and withholds the second tool with an error log
//!   rather than ever routing a call to the wrong tool.
//!
//! FNV-1a is used (not `DefaultHasher`) because the value must be identical on
//! every replica and every Rust release.
//!
//! # Resource URIs
//!
//! With more than one target a resource URI (and a template's `uriTemplate`)
//! is exposed as `switchboard+{target}:{original}`. The prefix is a valid URI
//! scheme (it starts with a letter; target names use `[a-z0-9-]`), the original
//! URI follows verbatim, and unwrapping is "strip `switchboard+`, split at the
//! first `:`". With one target URIs pass through unchanged.

/// Target names are the upstream layer's rules, re-exported here where clients see them.
pub use crate::upstream::target::{validate_target_name, MAX_TARGET_NAME_LEN};

/// Separates the target from the upstream name.
pub const DELIMITER: char = '_';
/// Longest exposed name (common client limit).
pub const MAX_NAME_LEN: usize = 64;
/// Scheme prefix of wrapped resource URIs.
pub const URI_PREFIX: &str = "switchboard+";

const HASH_HEX: usize = 16;
const HASH_SUFFIX_LEN: usize = 2 + HASH_HEX;
const HEAD_LEN: usize = MAX_NAME_LEN - HASH_SUFFIX_LEN;

/// Whether `name` matches `^[A-Za-z0-9_-]{1,64}$`.
pub fn is_client_safe(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Whether `name` ends in the hash suffix that marks shortened names.
pub fn has_hash_suffix(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= HASH_SUFFIX_LEN && {
        let s = &b[b.len() - HASH_SUFFIX_LEN..];
        s[0] == b'-'
            && s[1] == b'-'
            && s[2..]
                .iter()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
    }
}

/// FNV-1a, 64 bit: stable across processes, platforms and releases.
pub fn fnv1a64(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            // A 0 byte between parts (xor with 0 is a no-op, so only the multiply
            // remains) keeps ("ab", "c") and ("a", "bc") apart.
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        for &byte in *part {
            h ^= u64::from(byte);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// The exposed name of upstream `name` on `target` (`None` = single-target mode).
pub fn expose(target: Option<&str>, name: &str) -> String {
    let candidate = match target {
        Some(t) => format!("{t}{DELIMITER}{name}"),
        None => name.to_owned(),
    };
    if is_client_safe(&candidate) && !has_hash_suffix(&candidate) {
        return candidate;
    }
    let hash = fnv1a64(&[target.unwrap_or("").as_bytes(), name.as_bytes()]);
    let mut head: String = candidate
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(HEAD_LEN)
        .collect();
    if head.is_empty() {
        head.push('x');
    }
    format!("{head}--{hash:016x}")
}

/// What an exposed name says about where it routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// A verbatim name: the upstream name is known without any lookup.
    Direct {
        target: Option<&'a str>,
        name: &'a str,
    },
    /// A shortened name: the target is known, the upstream name needs the table.
    Shortened { target: Option<&'a str> },
}

/// Parses an exposed name; `None` if it cannot belong to any target.
pub fn parse(exposed: &str, prefixed: bool) -> Option<Parsed<'_>> {
    if !prefixed {
        return Some(if has_hash_suffix(exposed) {
            Parsed::Shortened { target: None }
        } else {
            Parsed::Direct {
                target: None,
                name: exposed,
            }
        });
    }
    let (target, rest) = exposed.split_once(DELIMITER)?;
    if has_hash_suffix(exposed) {
        Some(Parsed::Shortened {
            target: Some(target),
        })
    } else {
        Some(Parsed::Direct {
            target: Some(target),
            name: rest,
        })
    }
}

/// Wraps a resource URI (or URI template) of `target`.
pub fn wrap_uri(target: &str, uri: &str) -> String {
    format!("{URI_PREFIX}{target}:{uri}")
}

/// A task id of `target` as clients see it when there are several targets: `{target}_{id}`
/// (target names have no `_`, so the first one splits it back).
pub fn wrap_task_id(target: &str, id: &str) -> String {
    format!("{target}{DELIMITER}{id}")
}

/// Unwraps `switchboard+{target}:{original}` into `(target, original)`.
pub fn unwrap_uri(uri: &str) -> Option<(&str, &str)> {
    uri.strip_prefix(URI_PREFIX)?.split_once(':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_names() {
        assert!(validate_target_name("time").is_ok());
        assert!(validate_target_name("a-1").is_ok());
        assert!(validate_target_name("0").is_ok());
        for bad in ["", "-a", "a-", "A", "a_b", "a.b", &"x".repeat(33)] {
            assert!(validate_target_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn verbatim_names_split_on_first_delimiter() {
        let e = expose(Some("alpha"), "get_user");
        assert_eq!(e, "alpha_get_user");
        assert_eq!(
            parse(&e, true),
            Some(Parsed::Direct {
                target: Some("alpha"),
                name: "get_user"
            })
        );
        assert_eq!(expose(None, "echo"), "echo");
        assert_eq!(parse("nodelim", true), None);
    }

    #[test]
    fn long_and_invalid_names_are_shortened_stably() {
        let long = "x".repeat(100);
        let e = expose(Some("alpha"), &long);
        assert!(is_client_safe(&e) && has_hash_suffix(&e), "{e}");
        assert_eq!(e.len(), MAX_NAME_LEN);
        assert!(e.starts_with("alpha_"));
        assert_eq!(e, expose(Some("alpha"), &long), "stable");
        assert_ne!(e, expose(Some("alpha"), &"x".repeat(101)));
        assert_eq!(
            parse(&e, true),
            Some(Parsed::Shortened {
                target: Some("alpha")
            })
        );
        let dotted = expose(Some("beta"), "files.read");
        assert!(is_client_safe(&dotted) && dotted.starts_with("beta_files-read--"));
        assert!(is_client_safe(&expose(None, "")));
        assert!(is_client_safe(&expose(None, "héllo wörld")));
    }

    #[test]
    fn names_that_look_shortened_are_shortened() {
        let sneaky = format!("t--{}", "a".repeat(16));
        let e = expose(None, &sneaky);
        assert_ne!(e, sneaky);
        assert!(has_hash_suffix(&e));
    }

    #[test]
    fn uris_round_trip() {
        let w = wrap_uri("docs", "file:///a/b:c");
        assert_eq!(w, "switchboard+docs:file:///a/b:c");
        assert_eq!(unwrap_uri(&w), Some(("docs", "file:///a/b:c")));
        assert_eq!(unwrap_uri("file:///x"), None);
    }
}
