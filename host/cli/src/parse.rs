//! Parsers for command-line values: byte sizes, durations, directory mounts.

use std::time::Duration;

use wasmtaps::ReadOnlyDir;

/// Parses `1048576`, `64KiB`, `256MiB`, `4GiB`, `1.5G` or `10MB` into bytes (KB, MB, GB
/// are powers of 1000; KiB, MiB, GiB of 1024), exactly to the byte: `parse-size` keeps
/// 64-bit precision where a float would not past 2^53.
/// Sizes and counts go up to 2^63 - 1, the largest integer a config file holds.
pub(crate) fn bytes(text: &str) -> Result<u64, String> {
    let size = parse_size::parse_size(text.trim()).map_err(|e| {
        format!("`{text}` is not a size ({e}; examples: 1048576, 64KiB, 256MiB, 4GiB, 10MB)")
    })?;
    at_most_config_integer(size)
}

/// Parses a count (tasks, workers, fuel, a seed): 0 up to 2^63 - 1, the largest integer a
/// config file holds.
pub(crate) fn count(text: &str) -> Result<u64, String> {
    let n = text
        .trim()
        .parse()
        .map_err(|e| format!("`{text}` is not a whole number of 0 or more ({e})"))?;
    at_most_config_integer(n)
}

fn at_most_config_integer(n: u64) -> Result<u64, String> {
    if i64::try_from(n).is_err() {
        return Err(format!("{n} is more than {} (2^63 - 1)", i64::MAX));
    }
    Ok(n)
}

/// The longest duration given in seconds that is accepted (365 days): longer ones are
/// certainly mistakes, and a bound keeps every `Instant + Duration` far from overflow.
pub(crate) const MAX_SECONDS: f64 = 365.0 * 24.0 * 3600.0;

/// Parses seconds (`2`, `0.5`) into a duration; see [`duration`].
pub(crate) fn seconds(text: &str) -> Result<Duration, String> {
    duration(number_of_seconds(text)?)
}

/// Parses a task's deadline in seconds (`--timeout 0.5`); see [`deadline`].
pub(crate) fn timeout(text: &str) -> Result<Duration, String> {
    deadline(number_of_seconds(text)?)
}

fn number_of_seconds(text: &str) -> Result<f64, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))
}

/// A task's deadline: a [`duration`] of more than 0 seconds. The one check for `call
/// --timeout`, `run --timeout` and `limits.timeout`.
pub(crate) fn deadline(secs: f64) -> Result<Duration, String> {
    let d = duration(secs)?;
    if d.is_zero() {
        return Err(format!(
            "{secs:?} seconds: a deadline must be more than 0 seconds"
        ));
    }
    Ok(d)
}

/// A number of seconds as a duration: finite, not negative and at most [`MAX_SECONDS`].
/// The one conversion for flags and config files alike.
pub(crate) fn duration(secs: f64) -> Result<Duration, String> {
    if !(0.0..=MAX_SECONDS).contains(&secs) {
        return Err(format!(
            "{secs:?} is not a number of seconds between 0 and {MAX_SECONDS} (365 days)"
        ));
    }
    Duration::try_from_secs_f64(secs)
        .map_err(|e| format!("{secs:?} is not a number of seconds: {e}"))
}

/// Parses `HOST_DIR:GUEST_PATH` (or just `HOST_DIR`, mounted at the same path).
pub(crate) fn read_only_dir(text: &str) -> Result<ReadOnlyDir, String> {
    let (host, guest) = match text.rsplit_once(':') {
        Some((host, guest)) if !host.is_empty() && !guest.is_empty() => (host, guest),
        _ => (text, text),
    };
    let host_path = std::path::PathBuf::from(host);
    if !host_path.is_dir() {
        return Err(format!("`{host}` is not a directory"));
    }
    Ok(ReadOnlyDir {
        host_path,
        guest_path: guest.to_owned(),
    })
}

/// Parses a JSON document given on the command line.
pub(crate) fn json(text: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_seconds() {
        assert_eq!(bytes("1048576"), Ok(1 << 20));
        assert_eq!(bytes("64KiB"), Ok(64 << 10));
        assert_eq!(bytes("4GiB"), Ok(4 << 30));
        assert_eq!(bytes("10MB"), Ok(10_000_000));
        assert!(bytes("lots").is_err());
        assert!(bytes("5 parsecs").is_err());
        assert_eq!(seconds("0.5"), Ok(Duration::from_millis(500)));
        assert!(seconds("-1").is_err());
        for absurd in ["1e20", "1e300", "inf", "NaN", "-0.5", "31536001"] {
            assert!(seconds(absurd).is_err(), "{absurd}");
        }
        assert_eq!(seconds("31536000"), Ok(Duration::from_secs(31_536_000)));
        assert_eq!(seconds("0"), Ok(Duration::ZERO));
        assert!(timeout("0").is_err());
        assert_eq!(timeout("0.5"), Ok(Duration::from_millis(500)));
        assert!(timeout("1e20").is_err());
        assert!(bytes("1e30GiB").is_err());
        // Exact past 2^53, where an f64 would round.
        assert_eq!(bytes("9007199254740993"), Ok(9_007_199_254_740_993));
        assert_eq!(bytes("1.5G"), Ok(1_500_000_000));
        assert!(bytes("-5").is_err());
        assert_eq!(
            bytes("8EiB"),
            Err(format!(
                "{} is more than {} (2^63 - 1)",
                8u64 << 60,
                i64::MAX
            ))
        );
        assert_eq!(count("9223372036854775807"), Ok(i64::MAX as u64));
        assert!(count("9223372036854775808").is_err());
        assert!(count("-1").is_err() && count("3.5").is_err());
    }
}
