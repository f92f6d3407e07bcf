//! Whether a cache directory or file may be trusted with native code: only the user
//! running wasmtaps (or root, for the directories above it) may be able to change it.

use std::fs::Metadata;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// Why a path is not trusted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Untrusted {
    /// Someone other than this user (and root) owns it.
    #[error("{path} is owned by uid {owner}, not by this user (uid {me})")]
    Owner { path: String, owner: u32, me: u32 },
    /// Its group or other users can write to it.
    #[error("{path} can be written by its group or by other users (mode {mode:o})")]
    Writable { path: String, mode: u32 },
    /// It is not the kind of file expected (a symlink, FIFO or device where a regular
    /// file or directory belongs).
    #[error("{path} is not a {expected}")]
    Kind {
        path: String,
        expected: &'static str,
    },
    /// It could not be inspected.
    #[error("cannot inspect {path}: {reason}")]
    Io { path: String, reason: String },
}

/// The effective user id of this process.
pub(crate) fn current_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Checks one file's metadata: owned by this user, not writable by group or others.
pub(crate) fn check_owned(path: &Path, meta: &Metadata) -> Result<(), Untrusted> {
    let me = current_uid();
    if meta.uid() != me {
        return Err(Untrusted::Owner {
            path: path.display().to_string(),
            owner: meta.uid(),
            me,
        });
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(Untrusted::Writable {
            path: path.display().to_string(),
            mode,
        });
    }
    Ok(())
}

/// Checks a cache directory: it must be a directory owned by this user that nobody else
/// can write, and every directory above it must be owned by this user or root and not
/// writable by others, unless it is sticky (like `/tmp`, where nobody can rename another
/// user's entries).
pub(crate) fn check_directory(dir: &Path) -> Result<(), Untrusted> {
    let io = |path: &Path, e: std::io::Error| Untrusted::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let dir = dir.canonicalize().map_err(|e| io(dir, e))?;
    let meta = std::fs::metadata(&dir).map_err(|e| io(&dir, e))?;
    if !meta.is_dir() {
        return Err(Untrusted::Kind {
            path: dir.display().to_string(),
            expected: "directory",
        });
    }
    check_owned(&dir, &meta)?;
    let me = current_uid();
    for ancestor in dir.ancestors().skip(1) {
        let meta = std::fs::metadata(ancestor).map_err(|e| io(ancestor, e))?;
        if meta.uid() != me && meta.uid() != 0 {
            return Err(Untrusted::Owner {
                path: ancestor.display().to_string(),
                owner: meta.uid(),
                me,
            });
        }
        let mode = meta.permissions().mode() & 0o7777;
        let sticky = mode & 0o1000 != 0;
        if mode & 0o022 != 0 && !sticky {
            return Err(Untrusted::Writable {
                path: ancestor.display().to_string(),
                mode,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_directories_pass_and_shared_ones_do_not() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        check_directory(dir.path()).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o775)).unwrap();
        assert!(matches!(
            check_directory(dir.path()),
            Err(Untrusted::Writable { .. })
        ));
        // A private directory below a world-writable, non-sticky one can be swapped away.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let inner = dir.path().join("cache");
        std::fs::create_dir(&inner).unwrap();
        std::fs::set_permissions(&inner, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert!(matches!(
            check_directory(&inner),
            Err(Untrusted::Writable { .. })
        ));
        // Sticky, like /tmp: fine.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        check_directory(&inner).unwrap();
        let file = inner.join("f");
        std::fs::write(&file, b"x").unwrap();
        assert!(matches!(
            check_directory(&file),
            Err(Untrusted::Kind { .. })
        ));
    }
}
