//! [`StoreKey`]: the one place a store key is validated.

use super::DistributedError;

/// The longest key a store accepts.
pub(crate) const MAX_KEY_LEN: usize = 128;

/// A validated store key: 1 to 128 ASCII letters, digits, `-` and `_`,
/// starting with a letter or digit. So a key is never a path (no `/`, no `.`, no `..`),
/// never empty and never hidden, and every [`Store`](super::Store) can use it as a file
/// name or a Redis key suffix as it is.
///
/// Keys are minted by wasmtaps (`arg-<uuid>-<n>`, `result-<uuid>`); a key arriving from
/// anywhere else is checked here before any store sees it.
///
/// # Examples
/// ```
/// use wasmtaps::remote::StoreKey;
/// assert!(StoreKey::new("result-0123abcd").is_ok());
/// assert!(StoreKey::new("../etc/passwd").is_err());
/// assert!(StoreKey::new("/dev/zero").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StoreKey(String);

impl StoreKey {
    /// Validates `key`.
    ///
    /// # Errors
    /// [`DistributedError::BadKey`] naming what is wrong with it.
    pub fn new(key: impl Into<String>) -> Result<StoreKey, DistributedError> {
        let key = key.into();
        let bad = |why: &str| {
            // Never echo a long or binary key back whole.
            let shown: String = key
                .chars()
                .take(64)
                .collect::<String>()
                .escape_debug()
                .to_string();
            Err(DistributedError::BadKey(format!("{shown}: {why}")))
        };
        if key.is_empty() {
            return bad("empty");
        }
        if key.len() > MAX_KEY_LEN {
            return bad(&format!("longer than {MAX_KEY_LEN} bytes"));
        }
        if !key.as_bytes()[0].is_ascii_alphanumeric() {
            return bad("must start with a letter or digit");
        }
        if !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return bad("only letters, digits, '-' and '_' are allowed");
        }
        Ok(StoreKey(key))
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for StoreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_never_paths() {
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "a/b",
            "/etc/passwd",
            ".hidden",
            "-x",
            "a\0b",
            "a b",
            "é",
            &"a".repeat(MAX_KEY_LEN + 1),
        ] {
            assert!(StoreKey::new(bad).is_err(), "{bad:?} accepted");
        }
        for good in [
            "k1",
            "arg-0123456789abcdef-3",
            "result_x",
            &"a".repeat(MAX_KEY_LEN),
        ] {
            assert_eq!(StoreKey::new(good).expect("valid").as_str(), good);
        }
    }
}
