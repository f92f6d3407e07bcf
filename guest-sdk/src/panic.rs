//! Panic reporting: the message goes to the host through `wasmtaps.panic` before
//! the panic aborts (a trap), which the host reports as a `GuestPanic`.

use std::panic::PanicHookInfo;

#[cfg(target_arch = "wasm32")]
#[link(wasm_import_module = "wasmtaps")]
unsafe extern "C" {
    /// `wasmtaps.panic(ptr: i32, len: i32)`: a UTF-8 panic message.
    #[link_name = "panic"]
    fn wasmtaps_panic(ptr: *const u8, len: usize);
}

/// `"<message> at <file>:<line>:<col>"`.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub(crate) fn message(info: &PanicHookInfo<'_>) -> String {
    let message = info.payload_as_str().unwrap_or("Box<dyn Any>");
    match info.location() {
        Some(at) => format!("{message} at {}:{}:{}", at.file(), at.line(), at.column()),
        None => message.to_owned(),
    }
}

/// Installs the reporting hook. The closure captures nothing, so boxing it does not
/// allocate, and replacing the previous (equal) hook frees nothing.
#[cfg(target_arch = "wasm32")]
pub(crate) fn install_hook() {
    std::panic::set_hook(Box::new(|info| {
        let message = message(info);
        // SAFETY: the import only reads `len` bytes at `ptr`, which are valid.
        unsafe { wasmtaps_panic(message.as_ptr(), message.len()) }
    }));
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    static SEEN: Mutex<Option<String>> = Mutex::new(None);

    #[test]
    fn formats_message_and_location() {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(|info| {
            *SEEN.lock().unwrap() = Some(super::message(info));
        }));
        let line = line!() + 1;
        let result = std::panic::catch_unwind(|| panic!("boom {}", 42));
        std::panic::set_hook(previous);
        assert!(result.is_err());
        let seen = SEEN.lock().unwrap().take().unwrap();
        assert!(
            seen.starts_with(&format!("boom 42 at {}:{line}:", file!())),
            "{seen}"
        );
    }
}
