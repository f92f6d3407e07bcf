//! Arguments in, values out.

use std::collections::BTreeMap;

use wasmtaps_guest::task;

/// Does nothing: the cost of a call itself.
#[task]
pub fn noop() {}

/// `a + b`, wrapping on overflow.
#[task]
pub fn add(a: i64, b: i64) -> i64 {
    a.wrapping_add(b)
}

/// The sum of `values`, wrapping on overflow. The task is named `sum_list`.
#[task(name = "sum_list")]
pub fn sum(values: Vec<i64>) -> i64 {
    values.iter().fold(0, |acc, value| acc.wrapping_add(*value))
}

/// `"Hello, <name>!"`.
#[task]
pub fn greet(name: String) -> String {
    format!("Hello, {name}!")
}

/// How often each whitespace-separated word occurs in `text`.
#[task]
pub fn word_count(text: String) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for word in text.split_whitespace() {
        *counts.entry(word.to_owned()).or_insert(0) += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basics() {
        noop();
        assert_eq!(add(1, 2), 3);
        assert_eq!(add(i64::MAX, 1), i64::MIN);
        assert_eq!(sum(vec![1, 2, 3]), 6);
        assert_eq!(sum(vec![]), 0);
        assert_eq!(greet("Ada".into()), "Hello, Ada!");
    }

    #[test]
    fn counts_words() {
        let counts = word_count("the cat and the hat".into());
        assert_eq!(counts.get("the"), Some(&2));
        assert_eq!(counts.get("cat"), Some(&1));
        assert_eq!(counts.len(), 4);
        assert!(word_count("  ".into()).is_empty());
    }
}
