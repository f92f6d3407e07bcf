//! [`Durations`]: the streaming record of one phase's durations — nearest-rank percentiles
//! from HDR histograms (relative error ≤ 0.05 %), exact count, minimum and maximum, and
//! exact logarithmic bins for the report's histograms — in memory that does not grow with
//! the number of tasks.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

/// Bins per decade of [`Durations::log_bins`].
pub const BINS_PER_DECADE: f64 = 4.0;

/// Significant decimal digits the histograms keep: values are recorded with a relative
/// error of at most half a unit in the third digit's next place (0.05 %).
const SIGNIFICANT_DIGITS: u8 = 3;

/// The longest duration recorded apart from the others, in nanoseconds (about 100 years);
/// longer ones count as this long in the percentiles (the maximum stays exact).
const MAX_NANOS: u64 = 100 * 365 * 24 * 3600 * 1_000_000_000;

/// One phase's durations, added one at a time.
#[derive(Clone, Debug)]
pub struct Durations {
    /// Durations ≥ 0, in nanoseconds.
    non_negative: Histogram<u64>,
    /// The magnitudes of negative durations (clock skew between hosts), in nanoseconds;
    /// created at the first one.
    negative: Option<Histogram<u64>>,
    count: u64,
    non_positive: u64,
    min: f64,
    max: f64,
    /// Positive durations by `floor(log10(d) * BINS_PER_DECADE)`; at most a few thousand
    /// keys, as finite `f64`s span about 630 decades.
    log_bins: BTreeMap<i32, u64>,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_NANOS, SIGNIFICANT_DIGITS).expect("constant bounds are valid")
}

fn nanos(seconds: f64) -> u64 {
    // `as` saturates; NaN never gets here.
    (seconds * 1e9).round() as u64
}

impl Default for Durations {
    fn default() -> Self {
        Durations {
            non_negative: histogram(),
            negative: None,
            count: 0,
            non_positive: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            log_bins: BTreeMap::new(),
        }
    }
}

impl Durations {
    /// Adds one duration in seconds. NaN (only reachable as `inf - inf` from a file with
    /// infinite times) is ignored.
    pub fn add(&mut self, seconds: f64) {
        if seconds.is_nan() {
            return;
        }
        self.count += 1;
        self.min = self.min.min(seconds);
        self.max = self.max.max(seconds);
        if seconds <= 0.0 {
            self.non_positive += 1;
        }
        if seconds < 0.0 {
            self.negative
                .get_or_insert_with(histogram)
                .saturating_record(nanos(-seconds));
        } else {
            self.non_negative.saturating_record(nanos(seconds));
        }
        if seconds > 0.0 {
            let bin = (seconds.log10() * BINS_PER_DECADE).floor() as i32;
            *self.log_bins.entry(bin).or_default() += 1;
        }
    }

    /// How many durations were added.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// How many were zero or negative.
    pub fn non_positive(&self) -> u64 {
        self.non_positive
    }

    /// The longest, exactly; 0 when there is none.
    pub fn max(&self) -> f64 {
        if self.count == 0 { 0.0 } else { self.max }
    }

    /// The nearest-rank percentile `q` (0..=1) in seconds, within 0.05 % of the exact one
    /// (exact at the minimum's and the maximum's rank, and never beyond them); 0 when
    /// there is none.
    pub fn quantile(&self, q: f64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        if rank == 1 {
            return self.min;
        }
        if rank == self.count {
            return self.max;
        }
        let negatives = self.negative.as_ref().map_or(0, Histogram::len);
        let value = if rank <= negatives {
            // Negative values in ascending order are their magnitudes in descending order.
            let magnitudes = self.negative.as_ref().expect("rank ≤ its length");
            -(nth_smallest(magnitudes, negatives - rank + 1) as f64) * 1e-9
        } else {
            nth_smallest(&self.non_negative, rank - negatives) as f64 * 1e-9
        };
        value.clamp(self.min, self.max)
    }

    /// Counts of positive durations per logarithmic bin: key `k` holds durations in
    /// `[10^(k/4), 10^((k+1)/4))` seconds. Zero and negative ones are in
    /// [`Durations::non_positive`].
    pub fn log_bins(&self) -> &BTreeMap<i32, u64> {
        &self.log_bins
    }
}

/// The `rank`-th smallest (1-based) value recorded in `h`, as the middle of its bucket.
fn nth_smallest(h: &Histogram<u64>, rank: u64) -> u64 {
    let mut seen = 0;
    for v in h.iter_recorded() {
        seen += v.count_at_value();
        if seen >= rank {
            return h.median_equivalent(v.value_iterated_to());
        }
    }
    h.median_equivalent(h.max())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nearest-rank percentile of sorted values, the definition `quantile` approximates.
    fn exact(sorted: &[f64], q: f64) -> f64 {
        let rank = (q * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1]
    }

    #[test]
    fn percentiles_match_nearest_rank() {
        let mut d = Durations::default();
        for i in 1..=100 {
            d.add(f64::from(i));
        }
        // Within the histogram's 0.05 %, on the value of nearest rank.
        assert!((d.quantile(0.5) - 50.0).abs() <= 50.0 * 5e-4);
        assert!((d.quantile(0.99) - 99.0).abs() <= 99.0 * 5e-4);
        assert_eq!(d.quantile(1.0), 100.0, "the maximum is exact");
        assert_eq!(d.quantile(0.0), 1.0, "the minimum is exact");
        assert_eq!(d.max(), 100.0);
        assert_eq!(Durations::default().quantile(0.5), 0.0);
    }

    #[test]
    fn negative_and_mixed_values_keep_their_order() {
        let mut values = vec![-3e-3, -1e-6, 0.0, 2e-6, 5.0, -7.5, 1e-9, 0.25, 40.0];
        let mut d = Durations::default();
        for &v in &values {
            d.add(v);
        }
        values.sort_by(f64::total_cmp);
        for q in [0.0, 0.1, 0.25, 0.5, 0.6, 0.75, 0.99, 1.0] {
            let (got, want) = (d.quantile(q), exact(&values, q));
            assert!(
                (got - want).abs() <= want.abs() * 5e-4,
                "q {q}: {got} vs {want}"
            );
        }
        assert_eq!((d.count(), d.non_positive()), (9, 4));
        assert_eq!(d.log_bins().values().sum::<u64>(), 5);
    }

    #[test]
    fn extreme_values_saturate_without_panicking() {
        let mut d = Durations::default();
        d.add(f64::INFINITY);
        d.add(1e300);
        d.add(-1e300);
        d.add(f64::NAN);
        assert_eq!(d.count(), 3);
        assert_eq!(d.max(), f64::INFINITY);
        assert!(d.quantile(0.5) > 1e9);
    }
}
