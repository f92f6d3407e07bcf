//! Tasks that use WASI: stdout, stderr, clocks and the file system.

use std::time::Duration;

use wasmtaps_guest::task;

/// Prints `text` as a line to stdout `count` times; returns `count`.
#[task]
pub fn print_lines(count: u64, text: String) -> u64 {
    for _ in 0..count {
        println!("{text}");
    }
    count
}

/// Prints `text` as a line to stderr.
#[task]
pub fn eprint(text: String) {
    eprintln!("{text}");
}

/// Sleeps for `seconds` (nothing for zero, negative or NaN; "forever" for values
/// too large for a `Duration`, such as infinity).
#[task]
pub fn sleep(seconds: f64) {
    if seconds.is_nan() || seconds <= 0.0 {
        return;
    }
    std::thread::sleep(Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX));
}

/// The contents of the UTF-8 file at `path`; any failure (the file is missing, or
/// the host gave no access to it) is a guest error of type `Error`
/// (`std::io::Error`).
#[task]
pub fn read_file(path: String) -> Result<String, std::io::Error> {
    std::fs::read_to_string(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints() {
        assert_eq!(print_lines(2, "line".into()), 2);
        assert_eq!(print_lines(0, "none".into()), 0);
        eprint("to stderr".into());
    }

    #[test]
    fn sleeps_briefly() {
        let start = std::time::Instant::now();
        sleep(0.01);
        sleep(-1.0);
        sleep(f64::NAN);
        assert!(start.elapsed() >= Duration::from_millis(10));
    }

    #[test]
    fn reads_files() {
        let path = std::env::temp_dir().join(format!("wasmtaps-read-{}", std::process::id()));
        std::fs::write(&path, "contents").unwrap();
        let read = read_file(path.to_str().unwrap().to_owned());
        std::fs::remove_file(&path).unwrap();
        assert_eq!(read.unwrap(), "contents");
        assert!(read_file("/definitely/not/here".into()).is_err());
    }
}
