//! Gateway-minted pagination cursors for merged lists.
//!
//! A merged page asks every target that still has items for its next page at
//! once. The cursor the client gets back records, per target, the upstream
//! cursor to continue from; targets that are done are absent. It is
//! base64url(JSON) with the list kind inside, so a `tools/list` cursor cannot
//! be replayed against `prompts/list`. Clients must treat it as opaque; a
//! cursor that does not decode is `-32602` per the pagination spec.
//!
//! Not sealed yet: a client can only alter which upstream cursor it sends to
//! a target it could already page through. Sealing with `config.sessionKey`
//! comes with the session work.

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::MuxError;

#[derive(Serialize, Deserialize)]
struct Wire {
    v: u8,
    k: String,
    p: BTreeMap<String, String>,
}

/// Upstream cursors to continue from, keyed by target name.
pub(crate) type Positions = BTreeMap<String, String>;

/// Mints a cursor for `kind` (e.g. `tools`), or `None` when every target is done.
pub(crate) fn encode(kind: &str, positions: Positions) -> Option<String> {
    if positions.is_empty() {
        return None;
    }
    let wire = Wire {
        v: 1,
        k: kind.to_owned(),
        p: positions,
    };
    let json = serde_json::to_vec(&wire).ok()?;
    Some(URL_SAFE_NO_PAD.encode(json))
}

/// Reads a cursor minted by [`encode`] for the same `kind`.
pub(crate) fn decode(kind: &str, cursor: &str) -> Result<Positions, MuxError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| MuxError::InvalidCursor)?;
    let wire: Wire = serde_json::from_slice(&bytes).map_err(|_| MuxError::InvalidCursor)?;
    if wire.v != 1 || wire.k != kind || wire.p.is_empty() {
        return Err(MuxError::InvalidCursor);
    }
    Ok(wire.p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects() {
        let mut p = Positions::new();
        p.insert("a".into(), "c1".into());
        let c = encode("tools", p.clone()).expect("cursor");
        assert_eq!(decode("tools", &c).expect("decode"), p);
        assert!(decode("prompts", &c).is_err());
        assert!(decode("tools", "!!").is_err());
        assert!(decode("tools", "e30").is_err());
        assert_eq!(encode("tools", Positions::new()), None);
    }
}
