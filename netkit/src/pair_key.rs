//! Looking up a map keyed by an owned pair with two borrowed parts, allocating nothing.
//!
//! Maps on the request path (the upstream connection pool, the MCP question router) are keyed
//! by pairs such as `(String, RequestId)`; building an owned key only to look one up would
//! clone or allocate on every request. [`PairKey`] hashes exactly as the owned pair does
//! (its fields in order, each as its borrowed form, which [`Borrow`] promises hashes the same)
//! and compares equal to it, so `hashbrown`'s `get`, `remove` and `raw_entry` take it.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};

use hashbrown::Equivalent;

/// The two parts of a pair key, borrowed.
pub struct PairKey<'a, A: ?Sized, B: ?Sized>(pub &'a A, pub &'a B);

impl<A: Hash + ?Sized, B: Hash + ?Sized> Hash for PairKey<'_, A, B> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
        self.1.hash(state);
    }
}

impl<A, B, OA, OB> Equivalent<(OA, OB)> for PairKey<'_, A, B>
where
    A: Eq + ?Sized,
    B: Eq + ?Sized,
    OA: Borrow<A>,
    OB: Borrow<B>,
{
    fn equivalent(&self, owned: &(OA, OB)) -> bool {
        self.0 == owned.0.borrow() && self.1 == owned.1.borrow()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hashbrown::HashMap;

    #[test]
    fn finds_and_removes_the_owned_pair() {
        let mut map: HashMap<(String, u64), &str> = HashMap::new();
        map.insert(("a".into(), 1), "one");
        map.insert(("a".into(), 2), "two");
        assert_eq!(map.get(&PairKey("a", &2)), Some(&"two"));
        assert_eq!(map.get(&PairKey("b", &1)), None);
        assert_eq!(map.remove(&PairKey("a", &1)), Some("one"));
        assert_eq!(map.len(), 1);
    }
}
