//! WASI `poll_oneoff` that honours the task's deadline.
//!
//! wasmtime interrupts running wasm at the deadline, but not a guest blocked inside a host
//! call: a guest sleeping through wasmtime-wasi's `poll_oneoff` would hold its worker for
//! as long as it asked. This replacement sleeps at most until the deadline and then traps
//! with [`Trap::Interrupt`], which is reported as a `Timeout` like any other overrun.
//!
//! The sandbox has no files or sockets to wait on: stdin is empty and stdout/stderr never
//! block, so fd subscriptions are reported ready at once.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use wasmtime::{Caller, Extern, Trap};

use crate::store::StoreState;

const SUBSCRIPTION_SIZE: usize = 48;
const EVENT_SIZE: usize = 32;
const ERRNO_SUCCESS: i32 = 0;
const ERRNO_FAULT: i32 = 21;
const ERRNO_INVAL: i32 = 28;
const ERRNO_NOTSUP: i32 = 58;
const EVENTTYPE_CLOCK: u8 = 0;
const EVENTTYPE_FD_READ: u8 = 1;
const EVENTTYPE_FD_WRITE: u8 = 2;
const CLOCK_REALTIME: u32 = 0;
const SUBCLOCKFLAGS_ABSTIME: u16 = 1;
const EVENTRWFLAGS_HANGUP: u16 = 1;
const MAX_SUBSCRIPTIONS: usize = 4096;

struct Subscription {
    userdata: u64,
    kind: u8,
    clock_id: u32,
    timeout_ns: u64,
    flags: u16,
}

fn parse(bytes: &[u8]) -> Subscription {
    let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().unwrap_or_default());
    Subscription {
        userdata: u64_at(0),
        kind: bytes[8],
        clock_id: u32::from_le_bytes(bytes[16..20].try_into().unwrap_or_default()),
        timeout_ns: u64_at(24),
        flags: u16::from_le_bytes(bytes[40..42].try_into().unwrap_or_default()),
    }
}

fn event(userdata: u64, kind: u8, nbytes: u64, flags: u16) -> [u8; EVENT_SIZE] {
    let mut e = [0u8; EVENT_SIZE];
    e[0..8].copy_from_slice(&userdata.to_le_bytes());
    e[10] = kind;
    e[16..24].copy_from_slice(&nbytes.to_le_bytes());
    e[24..26].copy_from_slice(&flags.to_le_bytes());
    e
}

/// `poll_oneoff(in, out, nsubscriptions, nevents_out) -> errno`.
pub(crate) fn poll_oneoff(
    mut caller: Caller<'_, StoreState>,
    in_ptr: i32,
    out_ptr: i32,
    nsubscriptions: i32,
    nevents_ptr: i32,
) -> wasmtime::Result<i32> {
    let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
        return Ok(ERRNO_INVAL);
    };
    let n = nsubscriptions as u32 as usize;
    if n == 0 || n > MAX_SUBSCRIPTIONS {
        return Ok(ERRNO_INVAL);
    }
    let mut raw = vec![0u8; n * SUBSCRIPTION_SIZE];
    if memory
        .read(&caller, in_ptr as u32 as usize, &mut raw)
        .is_err()
    {
        return Ok(ERRNO_FAULT);
    }
    let subs: Vec<Subscription> = raw.chunks_exact(SUBSCRIPTION_SIZE).map(parse).collect();
    let mut events: Vec<[u8; EVENT_SIZE]> = subs
        .iter()
        .filter_map(|s| match s.kind {
            EVENTTYPE_FD_READ => Some(event(s.userdata, s.kind, 0, EVENTRWFLAGS_HANGUP)),
            EVENTTYPE_FD_WRITE => Some(event(s.userdata, s.kind, 1 << 16, 0)),
            _ => None,
        })
        .collect();
    if events.is_empty() {
        let mut soonest: Option<(Duration, u64)> = None;
        for s in subs.iter().filter(|s| s.kind == EVENTTYPE_CLOCK) {
            let wait = if s.flags & SUBCLOCKFLAGS_ABSTIME == 0 {
                Duration::from_nanos(s.timeout_ns)
            } else if s.clock_id == CLOCK_REALTIME {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default();
                Duration::from_nanos(s.timeout_ns).saturating_sub(now)
            } else {
                return Ok(ERRNO_NOTSUP);
            };
            if soonest.is_none_or(|(w, _)| wait < w) {
                soonest = Some((wait, s.userdata));
            }
        }
        let Some((wait, userdata)) = soonest else {
            return Ok(ERRNO_INVAL);
        };
        let wake = Instant::now().checked_add(wait);
        match (caller.data().deadline, wake) {
            (Some(deadline), Some(wake)) if wake <= deadline => std::thread::sleep(wait),
            (Some(deadline), _) => {
                std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
                return Err(Trap::Interrupt.into());
            }
            (None, _) => std::thread::sleep(wait),
        }
        events.push(event(userdata, EVENTTYPE_CLOCK, 0, 0));
    }
    let bytes: Vec<u8> = events.iter().flatten().copied().collect();
    if memory
        .write(&mut caller, out_ptr as u32 as usize, &bytes)
        .is_err()
        || memory
            .write(
                &mut caller,
                nevents_ptr as u32 as usize,
                &(events.len() as u32).to_le_bytes(),
            )
            .is_err()
    {
        return Ok(ERRNO_FAULT);
    }
    Ok(ERRNO_SUCCESS)
}
