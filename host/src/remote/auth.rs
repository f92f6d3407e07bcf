//! [`Secret`] and message authentication: every job and reply on Redis carries an
//! HMAC-SHA256 tag, checked in constant time before its body is decoded.
//!
//! A message is `tag (32 bytes) | id length (1 byte) | id | body`. The tag covers a
//! version string, the purpose (`job` or `reply`), the stream the message was written
//! to, the id and the body, so a job cannot be replayed as a reply, a message cannot be
//! moved to another stream, and a body cannot be given another job's id.

use std::path::Path;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::DistributedError;

/// The environment variable a secret is read from when no secret file is given.
pub const SECRET_ENV: &str = "WASMTAPS_SECRET";

/// The shortest secret accepted, in bytes.
const MIN_SECRET_BYTES: usize = 16;
const TAG_BYTES: usize = 32;
const VERSION: &[u8] = b"wasmtaps-redis-v1";

/// The shared secret that engines and workers sign and check every message with.
///
/// Anyone who holds it can submit jobs (run any module on the workers) and forge
/// results; anyone without it who can reach Redis can only delay or drop messages.
/// It does not encrypt: use TLS (`rediss://`) to hide payloads on the network.
#[derive(Clone)]
pub struct Secret(Arc<[u8]>);

impl Secret {
    /// A secret of at least 16 bytes (use 32 random bytes, e.g. `openssl rand -hex 32`).
    ///
    /// # Errors
    /// [`DistributedError::BadSecret`] when it is shorter.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Secret, DistributedError> {
        let bytes = bytes.into();
        if bytes.len() < MIN_SECRET_BYTES {
            return Err(DistributedError::BadSecret(format!(
                "the secret is {} bytes; at least {MIN_SECRET_BYTES} are needed \
                 (make one with `openssl rand -hex 32`)",
                bytes.len()
            )));
        }
        Ok(Secret(bytes.into()))
    }

    /// Reads a secret from a file only its owner can read (mode `0600` or `0400`);
    /// surrounding whitespace is ignored.
    ///
    /// # Errors
    /// [`DistributedError::BadSecret`] when the file is readable by its group or others,
    /// cannot be read, or holds too short a secret.
    pub fn from_file(path: &Path) -> Result<Secret, DistributedError> {
        use std::os::unix::fs::PermissionsExt;
        let bad = |why: String| DistributedError::BadSecret(format!("{}: {why}", path.display()));
        let meta = std::fs::metadata(path).map_err(|e| bad(e.to_string()))?;
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(bad(format!(
                "readable by others (mode {:o}); run `chmod 600 {}`",
                mode & 0o777,
                path.display()
            )));
        }
        let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        Secret::new(bytes.trim_ascii()).map_err(|e| bad(e.to_string()))
    }

    /// The secret in [`SECRET_ENV`], if it is set.
    ///
    /// # Errors
    /// [`DistributedError::BadSecret`] when it is set but too short.
    pub fn from_env() -> Result<Option<Secret>, DistributedError> {
        match std::env::var_os(SECRET_ENV) {
            None => Ok(None),
            Some(value) => {
                use std::os::unix::ffi::OsStrExt;
                Secret::new(value.as_bytes().trim_ascii())
                    .map(Some)
                    .map_err(|e| DistributedError::BadSecret(format!("{SECRET_ENV}: {e}")))
            }
        }
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// What a message is, bound into its tag.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Purpose {
    Job,
    Reply,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::Job => b"job",
            Purpose::Reply => b"reply",
        }
    }
}

/// How messages are signed and checked: with a secret, or (explicitly) not at all.
#[derive(Clone, Debug)]
pub(crate) enum Auth {
    Secret(Secret),
    /// Tags are zeros and not checked: anyone who can reach Redis can forge anything.
    Insecure,
}

/// Why a message was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AuthError {
    #[error("too short to be a message")]
    Truncated,
    #[error("fails authentication (is its secret the same as this process's?)")]
    BadTag,
}

impl Auth {
    /// Chooses from what the user gave: a secret, or an explicit opt-out.
    pub(crate) fn choose(
        secret: Option<Secret>,
        insecure: bool,
        who: &str,
    ) -> Result<Auth, DistributedError> {
        match (secret, insecure) {
            (Some(secret), _) => Ok(Auth::Secret(secret)),
            (None, true) => {
                tracing::warn!(
                    "{who} runs WITHOUT AUTHENTICATION (--insecure): anyone \
                     who can reach Redis can run code on the workers and forge results"
                );
                Ok(Auth::Insecure)
            }
            (None, false) => Err(DistributedError::NoSecret),
        }
    }

    fn tag(&self, purpose: Purpose, stream: &str, id: &[u8], body: &[u8]) -> [u8; TAG_BYTES] {
        let Auth::Secret(secret) = self else {
            return [0; TAG_BYTES];
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(&secret.0).expect("HMAC takes any key");
        mac.update(&self::framed(purpose, stream, id, body));
        mac.finalize().into_bytes().into()
    }

    /// Signs a message for `stream`.
    pub(crate) fn seal(&self, purpose: Purpose, stream: &str, id: &str, body: &[u8]) -> Vec<u8> {
        let id = &id.as_bytes()[..id.len().min(255)];
        let mut out = Vec::with_capacity(TAG_BYTES + 1 + id.len() + body.len());
        out.extend_from_slice(&self.tag(purpose, stream, id, body));
        out.push(id.len() as u8);
        out.extend_from_slice(id);
        out.extend_from_slice(body);
        out
    }

    /// Checks a message read from `stream` and returns its id and body; the body is
    /// only handed out once the tag is verified (in constant time).
    pub(crate) fn open<'a>(
        &self,
        purpose: Purpose,
        stream: &str,
        message: &'a [u8],
    ) -> Result<(&'a [u8], &'a [u8]), AuthError> {
        let (tag, rest) = message
            .split_at_checked(TAG_BYTES)
            .ok_or(AuthError::Truncated)?;
        let (&len, rest) = rest.split_first().ok_or(AuthError::Truncated)?;
        let (id, body) = rest
            .split_at_checked(usize::from(len))
            .ok_or(AuthError::Truncated)?;
        if let Auth::Secret(secret) = self {
            let mut mac = Hmac::<Sha256>::new_from_slice(&secret.0).expect("HMAC takes any key");
            mac.update(&framed(purpose, stream, id, body));
            mac.verify_slice(tag).map_err(|_| AuthError::BadTag)?;
        }
        Ok((id, body))
    }
}

/// The bytes a tag covers: each part length-prefixed, so no two messages frame alike.
fn framed(purpose: Purpose, stream: &str, id: &[u8], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + stream.len() + id.len() + body.len());
    for part in [VERSION, purpose.label(), stream.as_bytes(), id, body] {
        out.extend_from_slice(&(part.len() as u64).to_le_bytes());
        out.extend_from_slice(part);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(secret: &str) -> Auth {
        Auth::Secret(Secret::new(secret).expect("long enough"))
    }

    #[test]
    fn only_the_same_secret_purpose_stream_and_id_open_a_message() {
        let a = auth("0123456789abcdef0123");
        let sealed = a.seal(Purpose::Job, "p:jobs", "id1", b"body");
        let (id, body) = a.open(Purpose::Job, "p:jobs", &sealed).expect("opens");
        assert_eq!((id, body), (&b"id1"[..], &b"body"[..]));
        assert!(
            auth("another secret 0123")
                .open(Purpose::Job, "p:jobs", &sealed)
                .is_err()
        );
        assert!(a.open(Purpose::Reply, "p:jobs", &sealed).is_err());
        assert!(a.open(Purpose::Job, "q:jobs", &sealed).is_err());
        let mut tampered = sealed.clone();
        *tampered.last_mut().expect("non-empty") ^= 1;
        assert!(a.open(Purpose::Job, "p:jobs", &tampered).is_err());
        let mut other_id = sealed.clone();
        other_id[33] = b'x';
        assert!(a.open(Purpose::Job, "p:jobs", &other_id).is_err());
        assert!(a.open(Purpose::Job, "p:jobs", &sealed[..20]).is_err());
        assert!(a.open(Purpose::Job, "p:jobs", &[]).is_err());
        // An insecure sender's messages never pass a secret's check.
        let plain = Auth::Insecure.seal(Purpose::Job, "p:jobs", "id1", b"body");
        assert!(a.open(Purpose::Job, "p:jobs", &plain).is_err());
    }

    #[test]
    fn short_secrets_and_open_secret_files_are_refused() {
        assert!(Secret::new("short").is_err());
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("secret");
        std::fs::write(&path, "0123456789abcdef0123456789abcdef\n").expect("write");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let error = Secret::from_file(&path).expect_err("group/world readable");
        assert!(error.to_string().contains("chmod 600"), "{error}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert!(Secret::from_file(&path).is_ok());
    }
}
