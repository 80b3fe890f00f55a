//! Statistics of every readout: bootstrap intervals, belief rates, classifier metrics.
//!
//! Every interval is a seeded percentile bootstrap ([`percentile_interval`]), so a rerun gives
//! the same interval.
//!
//! - [`belief`]: belief rates with intervals clustered by question, and two-way over seeds and
//!   questions
//! - [`classify`]: accuracy and AUROC of a probe with intervals over statements

pub mod belief;
pub mod classify;

pub use classify::Metric;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

/// The mean of `values` (`(cluster key, value)`) with a percentile-bootstrap 95% interval over
/// `resamples` resamples of the clusters (with replacement; seeded by `seed`): every value of a
/// drawn cluster counts, so several samples of one question move together. `None` without
/// values. Belief rates are this mean over 0/1 values ([`belief::belief_rate`]).
pub fn mean_over_clusters(values: &[(String, f64)], resamples: usize, seed: u64) -> Option<Metric> {
    if values.is_empty() {
        return None;
    }
    let mut clusters: BTreeMap<&str, (f64, usize)> = BTreeMap::new();
    for (key, value) in values {
        let entry = clusters.entry(key.as_str()).or_default();
        entry.0 += value;
        entry.1 += 1;
    }
    let clusters: Vec<(f64, usize)> = clusters.into_values().collect();
    let total: f64 = clusters.iter().map(|c| c.0).sum();
    let mean = total / values.len() as f64;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut means: Vec<f64> = (0..resamples.max(1))
        .map(|_| {
            let (mut sum, mut all) = (0.0, 0usize);
            for _ in 0..clusters.len() {
                let (s, n) = clusters[rng.random_range(0..clusters.len())];
                sum += s;
                all += n;
            }
            sum / all as f64
        })
        .collect();
    let (lo, hi) = percentile_interval(mean, &mut means);
    Some(Metric {
        value: mean,
        lo,
        hi,
    })
}

/// The 2.5% and 97.5% percentiles of bootstrap `values` (sorted in place), widened to contain
/// `value`: a percentile-bootstrap 95% interval. `(value, value)` without resamples.
pub fn percentile_interval(value: f64, values: &mut [f64]) -> (f64, f64) {
    if values.is_empty() {
        return (value, value);
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let quantile =
        |q: f64| values[((q * (values.len() - 1) as f64).round() as usize).min(values.len() - 1)];
    (quantile(0.025).min(value), quantile(0.975).max(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_means_weight_every_value_and_resample_whole_clusters() {
        let values: Vec<(String, f64)> = [("a", 2.0), ("a", 4.0), ("b", 9.0)]
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect();
        let m = mean_over_clusters(&values, 2000, 1).unwrap();
        assert_eq!(m.value, 5.0);
        // Every resample is cluster a twice (3), a and b (5), or b twice (9).
        assert_eq!((m.lo, m.hi), (3.0, 9.0));
        let one = mean_over_clusters(&values[..2], 100, 1).unwrap();
        assert_eq!((one.value, one.lo, one.hi), (3.0, 3.0, 3.0));
        assert!(mean_over_clusters(&[], 10, 0).is_none());
    }
}
