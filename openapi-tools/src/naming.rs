//! Tool names: `operationId`, else `method_path`, made valid for every common client.
//!
//! Names must match `^[A-Za-z0-9_-]{1,64}$` (many clients and LLM APIs reject anything else).
//! Invalid characters become `_`; a name longer than the budget keeps a readable prefix and ends
//! in `_` plus 8 hex digits of a stable FNV-1a hash of the full original name, so the same
//! operation gets the same name in every process and across reloads. When two operations end up
//! with the same name, the one whose `(path, method)` sorts first keeps it and the others get a
//! suffix hashed from their own method and path: adding an operation elsewhere in the document
//! never renames an existing tool.

use std::collections::{BTreeMap, HashMap};

/// FNV-1a, 64 bit: tiny, dependency-free and stable across Rust versions (unlike `DefaultHasher`).
pub fn stable_hash(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Replaces characters outside `[A-Za-z0-9_-]`, collapses runs of `_`, trims `_` at the ends.
pub fn sanitize(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
            c
        } else {
            '_'
        };
        if c == '_' && out.ends_with('_') {
            continue;
        }
        out.push(c);
    }
    let trimmed = out.trim_matches('_');
    if trimmed.is_empty() {
        "op".to_string()
    } else {
        trimmed.to_string()
    }
}

/// Cuts `name` to `max` characters, ending in a hash of `original` when it had to cut.
pub fn shorten(name: &str, original: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_string();
    }
    let hash = format!("{:08x}", stable_hash(original) as u32);
    let keep = max.saturating_sub(hash.len() + 1);
    // `name` is ASCII after `sanitize`, so byte slicing is safe.
    format!("{}_{hash}", name[..keep].trim_end_matches('_'))
}

/// The base (pre-collision) name of an operation.
pub fn base_name(operation_id: Option<&str>, method: &str, path: &str, max: usize) -> String {
    let raw = match operation_id {
        Some(id) if !id.trim().is_empty() => id.to_string(),
        _ => format!("{}_{}", method.to_ascii_lowercase(), path),
    };
    shorten(&sanitize(&raw), &raw, max)
}

/// One operation's naming input.
pub struct NameRequest<'a> {
    /// Explicit name from config, used as is after sanitising.
    pub override_name: Option<&'a str>,
    pub operation_id: Option<&'a str>,
    pub method: &'a str,
    pub path: &'a str,
}

/// Assigns unique names to all operations, independent of their order in the input.
pub fn assign(reqs: &[NameRequest<'_>], max: usize) -> Vec<String> {
    let max = max.clamp(16, 64);
    let bases: Vec<String> = reqs
        .iter()
        .map(|r| match r.override_name {
            Some(o) => shorten(&sanitize(o), o, max),
            None => base_name(r.operation_id, r.method, r.path, max),
        })
        .collect();
    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, b) in bases.iter().enumerate() {
        groups.entry(b.as_str()).or_default().push(i);
    }
    let mut names = bases.clone();
    let mut taken: HashMap<String, usize> = bases
        .iter()
        .enumerate()
        .map(|(i, b)| (b.clone(), i))
        .collect();
    for (base, mut members) in groups {
        if members.len() < 2 {
            continue;
        }
        members.sort_by_key(|&i| {
            (
                reqs[i].path,
                reqs[i].method,
                reqs[i].override_name.is_none(),
            )
        });
        for &i in &members[1..] {
            let key = format!("{} {}", reqs[i].method.to_ascii_uppercase(), reqs[i].path);
            let mut salt = 0u32;
            loop {
                let hash = format!(
                    "{:06x}",
                    stable_hash(&format!("{key}#{salt}")) as u32 & 0xff_ffff
                );
                let keep = max.saturating_sub(hash.len() + 1).min(base.len());
                let candidate = format!("{}_{hash}", base[..keep].trim_end_matches('_'));
                if !taken.contains_key(&candidate) {
                    taken.insert(candidate.clone(), i);
                    names[i] = candidate;
                    break;
                }
                salt += 1;
            }
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(n: &str) -> bool {
        !n.is_empty()
            && n.len() <= 64
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    }

    #[test]
    fn method_path_fallback() {
        assert_eq!(
            base_name(None, "GET", "/pets/{petId}/photos", 64),
            "get_pets_petId_photos"
        );
        assert_eq!(
            base_name(Some("pets.list v2"), "GET", "/", 64),
            "pets_list_v2"
        );
    }

    #[test]
    fn long_names_are_hashed_stably() {
        let long = "a".repeat(100);
        let n1 = base_name(Some(&long), "GET", "/", 64);
        let n2 = base_name(Some(&long), "GET", "/", 64);
        assert_eq!(n1, n2);
        assert!(valid(&n1));
        assert_ne!(n1, base_name(Some(&format!("{long}b")), "GET", "/", 64));
    }

    #[test]
    fn collisions_are_order_independent() {
        let a = NameRequest {
            override_name: None,
            operation_id: Some("op"),
            method: "GET",
            path: "/a",
        };
        let b = NameRequest {
            override_name: None,
            operation_id: Some("op"),
            method: "GET",
            path: "/b",
        };
        let n1 = assign(&[a, b], 64);
        let a = NameRequest {
            override_name: None,
            operation_id: Some("op"),
            method: "GET",
            path: "/a",
        };
        let b = NameRequest {
            override_name: None,
            operation_id: Some("op"),
            method: "GET",
            path: "/b",
        };
        let n2 = assign(&[b, a], 64);
        assert_eq!(n1[0], "op");
        assert_eq!(n1[0], n2[1]);
        assert_eq!(n1[1], n2[0]);
        assert!(valid(&n1[1]) && n1[1] != "op");
    }
}
