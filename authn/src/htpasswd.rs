//! htpasswd files: `user:hash` lines with bcrypt (`$2y$`, `$2b$`, `$2a$`), `$apr1$` or
//! `{SHA}` hashes. Read whole when the config is loaded; a line that cannot be used is a load
//! error naming its number, never a user silently locked out (or let in).

use std::collections::HashMap;
use std::str::FromStr as _;

use base64::Engine as _;
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

/// bcrypt costs above this are refused: each request with basic credentials verifies one.
const MAX_BCRYPT_COST: u32 = 14;

/// One user's password hash.
#[derive(Clone, PartialEq, Eq)]
pub enum Hash {
    /// bcrypt, verified by the `bcrypt` crate (slow on purpose: run it off the event loop).
    Bcrypt(String),
    /// Apache MD5-crypt.
    Apr1(String),
    /// `{SHA}`: base64 of the SHA-1 of the password (unsalted; accepted for old files).
    Sha1([u8; 20]),
}

impl std::fmt::Debug for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Hash::Bcrypt(_) => "Bcrypt",
            Hash::Apr1(_) => "Apr1",
            Hash::Sha1(_) => "Sha1",
        })
    }
}

impl Hash {
    /// Whether `password` matches; comparisons of derived hashes are constant-time.
    pub fn verify(&self, password: &[u8]) -> bool {
        match self {
            Hash::Bcrypt(h) => bcrypt::verify(password, h).unwrap_or(false),
            Hash::Apr1(h) => match crate::apr1::salt(h) {
                Some(salt) => {
                    let computed = crate::apr1::hash(password, salt);
                    bool::from(computed.as_bytes().ct_eq(h.as_bytes()))
                }
                None => false,
            },
            Hash::Sha1(expected) => {
                let got: [u8; 20] = Sha1::digest(password).into();
                bool::from(got.ct_eq(expected))
            }
        }
    }

    /// Whether verifying costs enough CPU to be worth moving off the event loop.
    pub fn is_slow(&self) -> bool {
        matches!(self, Hash::Bcrypt(_))
    }
}

/// The users of a file.
#[derive(Debug, Clone, Default)]
pub struct Htpasswd {
    users: HashMap<String, Hash>,
}

impl Htpasswd {
    /// Parses a file's text; an error says which line (1-based) and why.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut users = HashMap::new();
        for (i, raw) in text.lines().enumerate() {
            let n = i + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((user, hash)) = line.split_once(':') else {
                return Err(format!("line {n}: expected user:hash"));
            };
            if user.is_empty() {
                return Err(format!("line {n}: empty user name"));
            }
            let hash =
                parse_hash(hash).map_err(|why| format!("line {n} (user {user:?}): {why}"))?;
            if users.insert(user.to_string(), hash).is_some() {
                return Err(format!("line {n}: user {user:?} is listed twice"));
            }
        }
        if users.is_empty() {
            return Err("no users in the file".into());
        }
        Ok(Htpasswd { users })
    }

    /// The user's hash.
    pub fn get(&self, user: &str) -> Option<&Hash> {
        self.users.get(user)
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether there are no users (never true for a parsed file).
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

fn parse_hash(hash: &str) -> Result<Hash, String> {
    if let Some(b64) = hash.strip_prefix("{SHA}") {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| "the {SHA} hash is not base64".to_string())?;
        let digest: [u8; 20] = bytes
            .try_into()
            .map_err(|_| "the {SHA} hash is not 20 bytes".to_string())?;
        return Ok(Hash::Sha1(digest));
    }
    if hash.starts_with("$apr1$") {
        return match crate::apr1::salt(hash) {
            Some(_) => Ok(Hash::Apr1(hash.to_string())),
            None => Err("malformed $apr1$ hash".into()),
        };
    }
    if ["$2y$", "$2b$", "$2a$"].iter().any(|p| hash.starts_with(p)) {
        // Checked now, so a malformed hash is a load error and not a user who can never log
        // in, and a cost that would take seconds per request is refused.
        let parts =
            bcrypt::HashParts::from_str(hash).map_err(|e| format!("malformed bcrypt hash: {e}"))?;
        if parts.get_cost() > MAX_BCRYPT_COST {
            return Err(format!(
                "bcrypt cost {} is above {MAX_BCRYPT_COST}: every request would spend seconds verifying it",
                parts.get_cost()
            ));
        }
        return Ok(Hash::Bcrypt(hash.to_string()));
    }
    Err("unsupported hash: use bcrypt (htpasswd -B), $apr1$ (htpasswd -m) or {SHA} (htpasswd -s); crypt and plain text are refused".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> String {
        let bcrypt_hash = bcrypt::hash("pw-bcrypt", 4)
            .unwrap()
            .replace("$2b$", "$2y$");
        format!(
            "# users\n\nalice:{bcrypt_hash}\nbob:$apr1$saltsalt$5MCuaE4VxZK/CDugVarlJ.\ncarol:{{SHA}}{}\n",
            base64::engine::general_purpose::STANDARD.encode(Sha1::digest(b"pw-sha"))
        )
    }

    #[test]
    fn verifies_each_hash_kind() {
        let h = Htpasswd::parse(&file()).unwrap();
        assert_eq!(h.len(), 3);
        assert!(h.get("alice").unwrap().verify(b"pw-bcrypt"));
        assert!(!h.get("alice").unwrap().verify(b"pw-bcrypX"));
        assert!(h.get("bob").unwrap().verify(b"secret1"));
        assert!(!h.get("bob").unwrap().verify(b"secret2"));
        assert!(h.get("carol").unwrap().verify(b"pw-sha"));
        assert!(!h.get("carol").unwrap().verify(b""));
        assert!(h.get("dave").is_none());
    }

    #[test]
    fn bad_lines_name_their_number() {
        let cases = [
            ("alice:$apr1$x$y\n", "line 1"),
            ("# c\nbob\n", "line 2: expected user:hash"),
            ("a:{SHA}abc=\n", "line 1"),
            (
                "\n\n:{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=\n",
                "line 3: empty user name",
            ),
            ("c:plaintext\n", "unsupported hash"),
            ("d:$2y$05$tooshort\n", "malformed bcrypt"),
            (
                "e:{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=\ne:{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=\n",
                "line 2: user \"e\" is listed twice",
            ),
            ("# only comments\n", "no users"),
            (
                "f:$2y$20$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui\n",
                "cost 20",
            ),
        ];
        for (text, want) in cases {
            let err = Htpasswd::parse(text).unwrap_err();
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }

    /// Bounded fuzz: random and mangled lines never panic the parser or the verifier.
    #[test]
    fn garbled_files_never_panic() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let base = file();
        let alphabet = b"$:{}SHAapr1y2b./\n#=+ \xff";
        for _ in 0..2000 {
            let mut bytes = base.clone().into_bytes();
            for _ in 0..rng.random_range(1..8) {
                let i = rng.random_range(0..bytes.len());
                bytes[i] = alphabet[rng.random_range(0..alphabet.len())];
            }
            let text = String::from_utf8_lossy(&bytes);
            if let Ok(h) = Htpasswd::parse(&text) {
                for user in ["alice", "bob", "carol"] {
                    if let Some(hash) = h.get(user) {
                        if !hash.is_slow() {
                            let _ = hash.verify(b"secret1");
                        }
                    }
                }
            }
        }
    }
}
