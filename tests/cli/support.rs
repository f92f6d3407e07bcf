//! Helpers shared by the CLI tests.

/// The current time as float Unix seconds, as the records' times are.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
