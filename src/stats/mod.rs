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
