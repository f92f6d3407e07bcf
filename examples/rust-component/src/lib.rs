//! The world `apps` (wit/wasmtaps-apps.wit) in Rust: the tasks of examples/apps, typed by
//! WIT. `synthetic` returns the same bytes as the core module's `synthetic`.

use std::collections::BTreeMap;

wit_bindgen::generate!({
    path: "../../wit",
    world: "apps",
});

/// The component's implementation of the world.
struct Apps;

impl Guest for Apps {
    fn synthetic(data: Vec<Vec<u8>>, output_size: u64, sleep: f64) -> Vec<u8> {
        let mut seed = 0xcbf2_9ce4_8422_2325u64;
        for &b in data.iter().flatten() {
            seed = (seed ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        if sleep > 0.0 {
            std::thread::sleep(std::time::Duration::from_secs_f64(sleep));
        }
        random_bytes(seed, output_size as usize)
    }

    fn map_words(text: String) -> Vec<(String, u64)> {
        let mut counts = BTreeMap::new();
        for word in text
            .split(|c: char| !(c.is_alphanumeric() || c == '\''))
            .map(|w| w.trim_matches('\''))
            .filter(|w| !w.is_empty())
        {
            *counts.entry(word.to_lowercase()).or_insert(0) += 1;
        }
        counts.into_iter().collect()
    }

    fn reduce_counts(counts: Vec<Vec<(String, u64)>>) -> Vec<(String, u64)> {
        let mut total = BTreeMap::new();
        for (word, n) in counts.into_iter().flatten() {
            *total.entry(word).or_insert(0u64) += n;
        }
        total.into_iter().collect()
    }
}

/// `len` bytes from a xorshift generator seeded with `seed` (as examples/apps).
fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let take = (len - out.len()).min(8);
        out.extend_from_slice(&state.to_le_bytes()[..take]);
    }
    out
}

export!(Apps);
