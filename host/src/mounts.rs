//! WASI `path_open` (core modules) and `open-at` (components) that open only regular
//! files and directories.
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
//!
//! Components reach files through WASI preview 2's `descriptor.open-at`, which
//! [`open_at`] replaces in the same way: `stat-at` first, with the guest's own path flags,
//! then wasmtime-wasi's `open-at` only for a regular file or a directory.

use wasmtime::component::Resource;
use wasmtime::{AsContextMut, Caller, Extern, StoreContextMut};
use wasmtime_wasi::filesystem::WasiFilesystemView;
use wasmtime_wasi::p1::types::{Errno, Fd, Filetype, Lookupflags};
use wasmtime_wasi::p1::wasi_snapshot_preview1::{self, WasiSnapshotPreview1};
use wasmtime_wasi::p2::bindings::sync::filesystem::types::{
    Descriptor, DescriptorFlags, DescriptorType, ErrorCode, Host, HostDescriptor, OpenFlags,
    PathFlags,
};
use wasmtime_wasi::runtime::in_tokio;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder, WasiView};
use wiggle::{GuestMemory, GuestPtr};

use crate::failure::{ErrorKind, TaskError};
use crate::invoke::ReadOnlyDir;
use crate::store::StoreState;

/// Preopens each of `dirs` read-only in `wasi`, for a core module's or a component's
/// task alike (what they may open in them is guarded by [`path_open`] and [`open_at`]).
///
/// # Errors
/// A `HostError` naming a directory that cannot be opened.
pub(crate) fn preopen(wasi: &mut WasiCtxBuilder, dirs: &[ReadOnlyDir]) -> Result<(), TaskError> {
    for dir in dirs {
        wasi.preopened_dir(&dir.host_path, &dir.guest_path, FsPerms::ReadOnly)
            .map_err(|e| {
                TaskError::new(
                    ErrorKind::HostError,
                    format!(
                        "cannot open read-only directory {}: {e:#}",
                        dir.host_path.display()
                    ),
                )
            })?;
    }
    Ok(())
}

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

/// `[method]descriptor.open-at(self, path-flags, path, open-flags, descriptor-flags) ->
/// result<descriptor, error-code>` of `wasi:filesystem/types`: a FIFO, socket or device
/// is refused with `unsupported` (a symlink the guest asked not to follow with `loop`)
/// before anything is opened.
pub(crate) fn open_at<T: WasiView + 'static>(
    mut store: StoreContextMut<'_, T>,
    (dir, path_flags, path, open_flags, flags): (
        Resource<Descriptor>,
        PathFlags,
        String,
        OpenFlags,
        DescriptorFlags,
    ),
) -> wasmtime::Result<(Result<Resource<Descriptor>, ErrorCode>,)> {
    let mut files = store.data_mut().filesystem();
    let looked_up = HostDescriptor::stat_at(
        &mut files,
        Resource::new_borrow(dir.rep()),
        path_flags,
        path.clone(),
    );
    // A path that cannot be looked up cannot be opened either: wasmtime-wasi's `open-at`
    // then reports the error itself.
    if let Ok(stat) = looked_up {
        match stat.type_ {
            DescriptorType::RegularFile | DescriptorType::Directory => {}
            DescriptorType::SymbolicLink => return Ok((Err(ErrorCode::Loop),)),
            _ => return Ok((Err(ErrorCode::Unsupported),)),
        }
    }
    let opened = match HostDescriptor::open_at(&mut files, dir, path_flags, path, open_flags, flags)
    {
        Ok(descriptor) => Ok(descriptor),
        Err(e) => Err(Host::convert_error_code(&mut files, e)?),
    };
    Ok((opened,))
}
