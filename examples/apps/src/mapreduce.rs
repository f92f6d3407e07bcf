//! Word count as map and reduce tasks.

use std::collections::BTreeMap;

use wasmtaps_guest::task;

/// Counts the words of `text`: lower-cased runs of letters, digits and apostrophes.
#[task]
pub fn map_words(text: String) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for word in text
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .map(|w| w.trim_matches('\''))
        .filter(|w| !w.is_empty())
    {
        *counts.entry(word.to_lowercase()).or_insert(0) += 1;
    }
    counts
}

/// Adds up word counts.
#[task]
pub fn reduce_counts(counts: Vec<BTreeMap<String, u64>>) -> BTreeMap<String, u64> {
    let mut total = BTreeMap::new();
    for part in counts {
        for (word, n) in part {
            *total.entry(word).or_insert(0) += n;
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_merges() {
        let a = map_words("The cat, the HAT! don't".into());
        assert_eq!(a["the"], 2);
        assert_eq!(a["don't"], 1);
        let total = reduce_counts(vec![a.clone(), a]);
        assert_eq!(total["the"], 4);
    }
}

/// [`map_words`] under TaPS's name for it.
#[task]
pub fn map_task(text: String) -> BTreeMap<String, u64> {
    map_words(text)
}

/// [`reduce_counts`] under TaPS's name for it.
#[task]
pub fn reduce_task(counts: Vec<BTreeMap<String, u64>>) -> BTreeMap<String, u64> {
    reduce_counts(counts)
}
