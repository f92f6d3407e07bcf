//! WASI `path_open` that opens only regular files and directories.
//!
//! A read-only mount is a host directory, and a host directory may hold a FIFO, a socket
//! or a device. open(2) on a FIFO blocks until a writer appears, and it blocks inside a
//! host call, where the epoch deadline cannot interrupt it: a task could hold its worker
//! for ever. This replacement first looks the path up through the same directory
//! descriptor and lookup flags the guest gave (so with wasmtime-wasi's own sandboxing of
//! `..` and symlinks), refuses anything but a regular file or a directory, and only then
//! lets wasmtime-wasi's `path_open` open it. Once only regular files and directories can
//! be opened, no other WASI call on a mount blocks: reads of regular files, directory
//! listings, `stat` and `readlink` all return at once.
//!
//! A guest that asks is told `ENOTSUP` (or `ELOOP` for a symlink it asked not to follow,
//! as `O_NOFOLLOW` would). What remains is a race: the entry could be replaced by a FIFO
//! between the look-up and the open. Only whoever can write the host directory can do
//! that, and that is the trusted caller who chose to mount it.

use wasmtime::{AsContextMut, Caller, Extern};
use wasmtime_wasi::p1::types::{Errno, Fd, Filetype, Lookupflags};
use wasmtime_wasi::p1::wasi_snapshot_preview1::{self, WasiSnapshotPreview1};
use wasmtime_wasi::runtime::in_tokio;
use wiggle::{GuestMemory, GuestPtr};

use crate::store::StoreState;

/// `path_open(dirfd, dirflags, path, path_len, oflags, rights_base, rights_inheriting,
/// fdflags, opened_fd_out) -> errno`.
#[allow(clippy::too_many_arguments)] // the WASI signature
pub(crate) fn path_open(
    mut caller: Caller<'_, StoreState>,
    dirfd: i32,
    dirflags: i32,
    path: i32,
    path_len: i32,
    oflags: i32,
    rights_base: i64,
    rights_inheriting: i64,
    fdflags: i32,
    opened: i32,
) -> wasmtime::Result<i32> {
    let fuel = caller.as_context_mut().hostcall_fuel();
    let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
        wasmtime::bail!("missing required memory export");
    };
    let (bytes, state) = memory.data_and_store_mut(&mut caller);
    let wasi = &mut state.wasi;
    wasi.set_hostcall_fuel(fuel);
    let mut guest = GuestMemory::Unshared(bytes);
    let target = in_tokio(wasi.path_filestat_get(
        &mut guest,
        Fd::from(dirfd as u32),
        Lookupflags::from_bits_truncate(dirflags as u32),
        GuestPtr::new((path as u32, path_len as u32)),
    ));
    // A path that cannot be looked up cannot be opened either: wasmtime-wasi's
    // `path_open` then reports the error itself.
    if let Ok(stat) = target {
        match stat.filetype {
            Filetype::RegularFile | Filetype::Directory => {}
            Filetype::SymbolicLink => return Ok(Errno::Loop as i32),
            _ => return Ok(Errno::Notsup as i32),
        }
    }
    in_tokio(wasi_snapshot_preview1::path_open(
        wasi,
        &mut guest,
        dirfd,
        dirflags,
        path,
        path_len,
        oflags,
        rights_base,
        rights_inheriting,
        fdflags,
        opened,
    ))
}
