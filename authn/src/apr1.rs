//! Apache's `$apr1$` password hash: the FreeBSD MD5-crypt algorithm with Apache's magic
//! string. No kept crate implements the `$apr1$` variant (`pwhash` has only `$1$`), so the
//! loop is here, on the `md-5` crate's MD5, and checked against `openssl passwd -apr1`.

use md5::{Digest, Md5};

const MAGIC: &str = "$apr1$";
const ITOA64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The salt of an `$apr1$salt$hash` entry, or `None` when it is not one.
pub(crate) fn salt(entry: &str) -> Option<&str> {
    let rest = entry.strip_prefix(MAGIC)?;
    let (salt, hash) = rest.split_once('$')?;
    (salt.len() <= 8 && hash.len() == 22).then_some(salt)
}

/// `$apr1$<salt>$<hash>` of `password`.
pub(crate) fn hash(password: &[u8], salt: &str) -> String {
    let salt = &salt.as_bytes()[..salt.len().min(8)];
    let mut ctx = Md5::new();
    ctx.update(password);
    ctx.update(MAGIC.as_bytes());
    ctx.update(salt);
    let mut alt = Md5::new();
    alt.update(password);
    alt.update(salt);
    alt.update(password);
    let alt = alt.finalize();
    let mut left = password.len();
    while left > 0 {
        let n = left.min(16);
        ctx.update(&alt[..n]);
        left -= n;
    }
    let mut i = password.len();
    while i > 0 {
        if i & 1 == 1 {
            ctx.update([0u8]);
        } else {
            ctx.update(&password[..1]);
        }
        i >>= 1;
    }
    let mut fin = ctx.finalize();
    for round in 0..1000 {
        let mut c = Md5::new();
        if round & 1 == 1 {
            c.update(password);
        } else {
            c.update(fin);
        }
        if round % 3 != 0 {
            c.update(salt);
        }
        if round % 7 != 0 {
            c.update(password);
        }
        if round & 1 == 1 {
            c.update(fin);
        } else {
            c.update(password);
        }
        fin = c.finalize();
    }
    let mut out = String::with_capacity(37);
    out.push_str(MAGIC);
    out.push_str(&String::from_utf8_lossy(salt));
    out.push('$');
    let groups = [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)];
    for (a, b, c) in groups {
        let v = (u32::from(fin[a]) << 16) | (u32::from(fin[b]) << 8) | u32::from(fin[c]);
        to64(v, 4, &mut out);
    }
    to64(u32::from(fin[11]), 2, &mut out);
    out
}

fn to64(mut v: u32, n: usize, out: &mut String) {
    for _ in 0..n {
        out.push(char::from(ITOA64[(v & 0x3f) as usize]));
        v >>= 6;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values from `openssl passwd -apr1 -salt ...`.
    #[test]
    fn matches_openssl() {
        assert_eq!(
            hash(b"secret1", "saltsalt"),
            "$apr1$saltsalt$5MCuaE4VxZK/CDugVarlJ."
        );
        assert_eq!(
            hash(b"a much longer password with spaces 1234567890", "ab"),
            "$apr1$ab$lgdCwxZy3MhWVhxaRNZFE/"
        );
        assert_eq!(hash(b"", "x"), "$apr1$x$tMwYqBfQwi3FYAr0aJc8M/");
        assert_eq!(
            salt("$apr1$saltsalt$5MCuaE4VxZK/CDugVarlJ."),
            Some("saltsalt")
        );
        assert_eq!(salt("$2y$05$abc"), None);
    }
}
