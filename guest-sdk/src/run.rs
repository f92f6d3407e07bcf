//! One task call: decode the arguments, call the function, encode the envelope.

use std::fmt::Display;

use serde::Serialize;

use crate::args::{Args, ArgumentError, TaskSpec};
use crate::result_bytes::ResultBytes;

/// Where a call writes its result envelope.
///
/// The export writes into the SDK's arena; native tests use `Vec<u8>`.
pub trait Output {
    /// Appends bytes.
    fn write(&mut self, bytes: &[u8]);
    /// Discards everything written so far.
    fn reset(&mut self);
    /// Replaces everything written so far with `envelope`, a whole result envelope,
    /// taking its buffer as it is.
    fn adopt(&mut self, envelope: Vec<u8>);
}

impl Output for Vec<u8> {
    fn write(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }

    fn reset(&mut self) {
        self.clear();
    }

    fn adopt(&mut self, envelope: Vec<u8>) {
        *self = envelope;
    }
}

/// What a task may return: any [`Serialize`] value, encoded into the result envelope,
/// or [`ResultBytes`], whose buffer becomes the envelope without a copy.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be returned by a task: it does not implement `serde::Serialize`",
    label = "not `serde::Serialize`",
    note = "a task returns a `serde::Serialize` value (or `wasmtaps_guest::ResultBytes`)"
)]
pub trait TaskReturn {
    /// Writes `{"ok": self}` through `reply`.
    fn reply(self, reply: Reply<'_>) -> Replied;
}

impl<T: Serialize> TaskReturn for T {
    fn reply(self, reply: Reply<'_>) -> Replied {
        write_ok(reply, &self)
    }
}

impl TaskReturn for ResultBytes {
    fn reply(self, reply: Reply<'_>) -> Replied {
        let len = self.len();
        match self.into_ok_envelope() {
            Some(envelope) => reply.out.adopt(envelope),
            None => {
                reply.out.reset();
                write_err(
                    reply.out,
                    "SerializationError",
                    &format!(
                        "{}(): cannot encode the result: {len} bytes are more than a MessagePack bin holds",
                        reply.task
                    ),
                );
            }
        }
        Replied(())
    }
}

/// Where the generated code sends the function's return value: [`plain`] or
/// [`fallible`] encode it into the call's output.
pub struct Reply<'a> {
    out: &'a mut dyn Output,
    task: &'static str,
}

/// Proof that a [`Reply`] was used.
#[derive(Debug)]
pub struct Replied(());

/// Sends the return value of a task that returns a plain value (not spelled
/// `Result`): `{"ok": value}`.
pub fn plain<T: TaskReturn>(reply: Reply<'_>, value: T) -> Replied {
    value.reply(reply)
}

/// Sends the return value of a task that returns `Result<T, E>`: `{"ok": value}`,
/// or for `Err(e)` a guest error whose type is [`short_type_name::<E>()`] and whose
/// message is `e.to_string()`.
pub fn fallible<T: TaskReturn, E: Display>(reply: Reply<'_>, result: Result<T, E>) -> Replied {
    match result {
        Ok(value) => value.reply(reply),
        Err(err) => {
            write_err(reply.out, short_type_name::<E>(), &err.to_string());
            Replied(())
        }
    }
}

/// The last path segment of `E`'s type name without generics:
/// `core::num::error::ParseIntError` is `ParseIntError`, `Box<dyn Error>` is `Box`.
pub fn short_type_name<E: ?Sized>() -> &'static str {
    let full = std::any::type_name::<E>();
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base)
}

/// Runs one call of a task: checks `input` (`[args, kwargs]`) against `spec`, lets
/// `call` decode the parameters (through [`Args::next_param`]), call the function and
/// send its return value through the [`Reply`], and leaves the result envelope in
/// `out`.
///
/// Argument problems become an `ArgumentError` envelope, and a value that fails to
/// serialize a `SerializationError` envelope. A panic in `call` is not caught.
pub fn run_task<'a, F>(input: &'a [u8], spec: &'a TaskSpec, out: &mut dyn Output, call: F)
where
    F: FnOnce(&mut Args<'a>, Reply<'_>) -> Result<Replied, ArgumentError>,
{
    out.reset();
    let reply = Reply {
        out: &mut *out,
        task: spec.name,
    };
    let result = Args::parse(input, spec).and_then(|mut args| call(&mut args, reply));
    if let Err(err) = result {
        // Arguments are decoded before the function is called, so nothing was written.
        out.reset();
        write_err(out, "ArgumentError", err.message());
    }
}

fn write_ok<T: Serialize + ?Sized>(reply: Reply<'_>, value: &T) -> Replied {
    let Reply { out, task } = reply;
    out.write(&[0x81, 0xa2, b'o', b'k']);
    let mut serializer = rmp_serde::Serializer::new(Writer(&mut *out)).with_struct_map();
    if let Err(err) = value.serialize(&mut serializer) {
        out.reset();
        write_err(
            out,
            "SerializationError",
            &format!("{task}(): cannot encode the result: {err}"),
        );
    }
    Replied(())
}

/// Writes `{"err": {"type": ty, "message": message, "traceback": nil}}`.
fn write_err(out: &mut dyn Output, ty: &str, message: &str) {
    out.write(&[0x81]);
    write_str(out, "err");
    out.write(&[0x83]);
    write_str(out, "type");
    write_str(out, ty);
    write_str(out, "message");
    write_str(out, message);
    write_str(out, "traceback");
    out.write(&[0xc0]);
}

fn write_str(out: &mut dyn Output, s: &str) {
    let len = s.len();
    if len < 32 {
        out.write(&[0xa0 | len as u8]);
    } else if let Ok(len) = u8::try_from(len) {
        out.write(&[0xd9, len]);
    } else if let Ok(len) = u16::try_from(len) {
        out.write(&[0xda]);
        out.write(&len.to_be_bytes());
    } else {
        out.write(&[0xdb]);
        out.write(&(len as u32).to_be_bytes());
    }
    out.write(s.as_bytes());
}

/// `std::io::Write` over an [`Output`], for `rmp_serde`.
struct Writer<'a>(&'a mut dyn Output);

impl std::io::Write for Writer<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf);
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.0.write(buf);
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
