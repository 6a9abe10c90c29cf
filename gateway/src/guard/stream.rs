//! Masking text that arrives in pieces (a streamed response's deltas) without waiting for
//! the whole of it.
//!
//! Each piece is appended to what was held back; everything up to the earliest position
//! that could still start a match is final and goes out (masked), the rest is held. Whether
//! a position could still start a match is decided exactly, per rule, by running the rule's
//! lazy DFA anchored at that position over the held text: a position whose DFA has not died
//! by the end could become (or extend) a match with the next piece.
//!
//! The bound: only the last [`WINDOW`] bytes are examined, so at most [`WINDOW`] bytes are
//! ever held (plus a replacement's length, never a match's). A match longer than
//! [`WINDOW`] bytes (only possible with a custom pattern) may therefore go out unmasked in
//! parts. The built-ins are shorter: an e-mail address is at most 254 bytes.

use std::sync::Arc;

use regex_automata::hybrid::dfa::Cache;

use super::{rules_of, Detector, Found};

/// The most bytes a [`StreamMasker`] holds back.
pub const WINDOW: usize = 256;

/// The masking state of one stream of text (one choice, one content block).
pub struct StreamMasker {
    detector: Arc<Detector>,
    held: String,
    caches: Vec<Option<Cache>>,
}

impl std::fmt::Debug for StreamMasker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamMasker")
            .field("held", &self.held.len())
            .finish_non_exhaustive()
    }
}

/// What a piece released.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Released {
    /// The text to send now, masked.
    pub text: String,
    /// The rules that matched in it, once each.
    pub rules: Vec<usize>,
}

impl StreamMasker {
    /// A masker for `detector`'s rules.
    pub fn new(detector: Arc<Detector>) -> Self {
        let caches = detector.caches();
        StreamMasker {
            detector,
            held: String::new(),
            caches,
        }
    }

    /// The bytes held back now.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// The next piece; what is final now.
    pub fn push(&mut self, piece: &str) -> Released {
        self.held.push_str(piece);
        let buf = std::mem::take(&mut self.held);
        let len = buf.len();
        let mut from = len.saturating_sub(WINDOW);
        while !buf.is_char_boundary(from) {
            from += 1;
        }
        let mut hold = len;
        for (i, _) in buf[from..].char_indices() {
            let at = from + i;
            if self.detector.could_start_match(&mut self.caches, &buf, at) {
                hold = at;
                break;
            }
        }
        let done: Vec<Found> = self
            .detector
            .find(&buf)
            .into_iter()
            .filter(|f| f.start < hold)
            .collect();
        let cut = done.last().map_or(hold, |f| f.end.max(hold));
        let text = self.detector.replace(&buf[..cut], &done);
        self.held = buf[cut..].to_string();
        Released {
            text,
            rules: rules_of(&done),
        }
    }

    /// The text ended: the rest, masked.
    pub fn finish(&mut self) -> Released {
        let buf = std::mem::take(&mut self.held);
        let m = self.detector.mask(&buf);
        Released {
            text: m.text,
            rules: m.rules,
        }
    }
}
