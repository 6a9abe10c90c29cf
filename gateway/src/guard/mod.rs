//! The detection and masking engine of the `promptGuard` policy: pure (no I/O), shared by the
//! request and response sides of routes to `ai` backends.
//!
//! - [`Detector`]: the guard's rules (built-ins and custom patterns, compiled once at load),
//!   finding non-overlapping matches in a text and masking them;
//! - [`stream::StreamMasker`]: the same over text that arrives in pieces, holding back only
//!   the tail that could still become a match;
//! - [`body`]: the texts of LLM request and response bodies (OpenAI and Anthropic), read and
//!   written back without touching anything else;
//! - [`sse::SseGuard`]: a client's response stream (OpenAI chunks or Anthropic events),
//!   masked or cut event by event.

pub mod body;
mod builtin;
pub mod sse;
pub mod stream;

use std::sync::Arc;

use regex::Regex;
use regex_automata::hybrid::dfa::{Cache, DFA};
use regex_automata::{Anchored, Input};

pub use builtin::{luhn_valid, Builtin};

/// What a guard does when a rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Refuse the request (an error in the client's format) or end the response.
    Reject,
    /// Replace each match with the rule's replacement.
    Mask,
}

impl Action {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Action::Reject => "reject",
            Action::Mask => "mask",
        }
    }
}

/// One rule as configured, before it is compiled.
#[derive(Debug, Clone)]
pub struct RuleSpec {
    /// The name metrics and logs carry (a built-in's name or a pattern's `name`).
    pub name: String,
    /// The pattern.
    pub pattern: String,
    /// What replaces a match under `mask`.
    pub replacement: String,
    /// A check a match must also pass (Luhn for card numbers).
    pub validate: Option<fn(&str) -> bool>,
}

impl RuleSpec {
    /// The spec of a built-in; `replacement` overrides its placeholder.
    pub fn builtin(b: Builtin, replacement: Option<&str>) -> RuleSpec {
        RuleSpec {
            name: b.name().to_string(),
            pattern: b.pattern().to_string(),
            replacement: replacement.unwrap_or(b.placeholder()).to_string(),
            validate: b.validator(),
        }
    }
}

/// A pattern that does not compile.
#[derive(Debug, thiserror::Error)]
#[error("pattern {name:?} does not compile: {message}")]
pub struct PatternError {
    /// The rule's name.
    pub name: String,
    /// The compiler's message.
    pub message: String,
}

/// A compiled rule.
#[derive(Debug)]
struct Rule {
    name: Arc<str>,
    regex: Regex,
    /// The lazy DFA that tells whether a text's tail could still start a match; `None` when
    /// the pattern is beyond it (any tail is then held, up to the window).
    prefix: Option<DFA>,
    replacement: String,
    validate: Option<fn(&str) -> bool>,
}

/// A match of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    /// Byte offset of its start.
    pub start: usize,
    /// Byte offset after its end.
    pub end: usize,
    /// The index of the rule ([`Detector::rule_name`]).
    pub rule: usize,
}

/// A guard's rules, compiled once.
#[derive(Debug)]
pub struct Detector {
    rules: Vec<Rule>,
}

/// The result of masking a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Masked {
    /// The text with each match replaced.
    pub text: String,
    /// The rules that matched, once each, in rule order.
    pub rules: Vec<usize>,
}

impl Detector {
    /// Compiles `specs`; the first pattern that does not compile is the error.
    pub fn new(specs: Vec<RuleSpec>) -> Result<Detector, PatternError> {
        let mut rules = Vec::with_capacity(specs.len());
        for s in specs {
            let regex = regex::RegexBuilder::new(&s.pattern)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| PatternError {
                    name: s.name.clone(),
                    message: e.to_string(),
                })?;
            let prefix = DFA::builder()
                .configure(DFA::config().unicode_word_boundary(true))
                .build(&s.pattern)
                .ok();
            rules.push(Rule {
                name: s.name.into(),
                regex,
                prefix,
                replacement: s.replacement,
                validate: s.validate,
            });
        }
        Ok(Detector { rules })
    }

    /// The name of rule `i`.
    pub fn rule_name(&self, i: usize) -> &str {
        self.rules.get(i).map_or("", |r| &r.name)
    }

    /// How many rules there are.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The matches in `text`, non-overlapping, in order. Where matches of different rules
    /// overlap, the one that starts first wins (then the longer, then the earlier rule): an
    /// e-mail address `a.5551234567@x.com` is one e-mail, not a phone number inside one.
    /// A match that fails its rule's check (Luhn) does not hide a valid one starting later
    /// inside it.
    pub fn find(&self, text: &str) -> Vec<Found> {
        let mut all = Vec::new();
        for (i, rule) in self.rules.iter().enumerate() {
            let mut at = 0;
            while at <= text.len() {
                let Some(m) = rule.regex.find_at(text, at) else {
                    break;
                };
                let ok = rule.validate.is_none_or(|check| check(m.as_str()));
                if ok && !m.is_empty() {
                    all.push(Found {
                        start: m.start(),
                        end: m.end(),
                        rule: i,
                    });
                    at = m.end();
                } else {
                    // Try again one character further.
                    at = next_char(text, m.start());
                }
            }
        }
        all.sort_by(|a, b| {
            a.start
                .cmp(&b.start)
                .then(b.end.cmp(&a.end))
                .then(a.rule.cmp(&b.rule))
        });
        let mut out: Vec<Found> = Vec::with_capacity(all.len());
        for f in all {
            if out.last().is_none_or(|last| f.start >= last.end) {
                out.push(f);
            }
        }
        out
    }

    /// `text` with each match replaced, and the rules that matched.
    pub fn mask(&self, text: &str) -> Masked {
        let found = self.find(text);
        Masked {
            text: self.replace(text, &found),
            rules: rules_of(&found),
        }
    }

    /// `text` with the matches `found` (in order, non-overlapping) replaced.
    fn replace(&self, text: &str, found: &[Found]) -> String {
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for f in found {
            out.push_str(&text[at..f.start]);
            out.push_str(&self.rules[f.rule].replacement);
            at = f.end;
        }
        out.push_str(&text[at..]);
        out
    }

    /// Lazy-DFA caches for [`Detector::could_start_match`], one per rule.
    fn caches(&self) -> Vec<Option<Cache>> {
        self.rules
            .iter()
            .map(|r| r.prefix.as_ref().map(DFA::create_cache))
            .collect()
    }

    /// Whether a match of some rule could start at `at` in `text` and reach past its end:
    /// the anchored DFA of a rule has not died by the end of `text`. A rule without a DFA (or
    /// whose DFA gives up) says yes.
    fn could_start_match(&self, caches: &mut [Option<Cache>], text: &str, at: usize) -> bool {
        self.rules
            .iter()
            .zip(caches.iter_mut())
            .any(|(rule, cache)| match (&rule.prefix, cache) {
                (Some(dfa), Some(cache)) => alive(dfa, cache, text.as_bytes(), at),
                _ => true,
            })
    }
}

/// Whether the anchored search of `dfa` from `at` is still alive after the last byte.
fn alive(dfa: &DFA, cache: &mut Cache, hay: &[u8], at: usize) -> bool {
    let input = Input::new(hay).span(at..hay.len()).anchored(Anchored::Yes);
    let Ok(mut sid) = dfa.start_state_forward(cache, &input) else {
        return true;
    };
    for &b in &hay[at..] {
        match dfa.next_state(cache, sid, b) {
            Ok(next) => sid = next,
            Err(_) => return true,
        }
        if sid.is_dead() {
            return false;
        }
        if sid.is_quit() {
            return true;
        }
    }
    !sid.is_dead()
}

/// The rules of `found`, once each, sorted.
fn rules_of(found: &[Found]) -> Vec<usize> {
    let mut rules: Vec<usize> = found.iter().map(|f| f.rule).collect();
    rules.sort_unstable();
    rules.dedup();
    rules
}

/// The byte offset of the character after the one at `at` (or past the end).
fn next_char(text: &str, at: usize) -> usize {
    text[at..]
        .chars()
        .next()
        .map_or(text.len() + 1, |c| at + c.len_utf8())
}

#[cfg(test)]
mod tests;
