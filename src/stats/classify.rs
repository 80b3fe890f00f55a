//! Probe metrics: accuracy and AUROC with percentile-bootstrap 95% intervals.
//!
//! In: scores (any monotone function of P(true); a probe's logits) and labels. Out:
//! [`Metric`]s. Accuracy thresholds the logit at 0 (P(true) = 0.5). AUROC is the
//! Mann-Whitney statistic, ties counting one half. The bootstrap resamples statements with
//! replacement (seeded); resamples that hold only one class give no AUROC and are skipped.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A metric and its 95% interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metric {
    /// The value on the full set.
    pub value: f64,
    /// Lower end of the interval.
    pub lo: f64,
    /// Upper end of the interval.
    pub hi: f64,
}

/// Share of statements whose logit has the sign of their label (logit > 0 reads as true).
pub fn accuracy(logits: &[f32], labels: &[bool]) -> f64 {
    let right = logits
        .iter()
        .zip(labels)
        .filter(|(&s, &l)| (s > 0.0) == l)
        .count();
    right as f64 / logits.len().max(1) as f64
}

/// Statements sorted by score, with tied scores grouped: for each group, the indices in it.
fn tie_groups(scores: &[f32]) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut groups: Vec<Vec<usize>> = vec![];
    for i in order {
        match groups.last_mut() {
            Some(g) if scores[g[0]] == scores[i] => g.push(i),
            _ => groups.push(vec![i]),
        }
    }
    groups
}

/// AUROC of statements weighted by `counts` (multiplicities of a resample; all ones for the
/// plain statistic), given their tie groups. `None` when one class is absent.
fn weighted_auroc(groups: &[Vec<usize>], labels: &[bool], counts: &[u32]) -> Option<f64> {
    let (mut below_neg, mut pairs, mut pos_total) = (0f64, 0f64, 0f64);
    for group in groups {
        let (mut pos, mut neg) = (0f64, 0f64);
        for &i in group {
            let c = f64::from(counts[i]);
            if labels[i] {
                pos += c;
            } else {
                neg += c;
            }
        }
        pairs += pos * (below_neg + 0.5 * neg);
        below_neg += neg;
        pos_total += pos;
    }
    (pos_total > 0.0 && below_neg > 0.0).then(|| pairs / (pos_total * below_neg))
}

/// Area under the ROC curve of `scores` for `labels`; `None` when one class is absent.
pub fn auroc(scores: &[f32], labels: &[bool]) -> Option<f64> {
    weighted_auroc(&tie_groups(scores), labels, &vec![1; scores.len()])
}

fn interval(value: f64, values: &mut [f64]) -> Metric {
    let (lo, hi) = super::percentile_interval(value, values);
    Metric { value, lo, hi }
}

/// Accuracy and AUROC of `logits` against `labels`, each with a bootstrap 95% interval from
/// `resamples` resamples seeded by `seed`. AUROC is NaN when one class is absent.
pub fn accuracy_and_auroc(
    logits: &[f32],
    labels: &[bool],
    resamples: usize,
    seed: u64,
) -> (Metric, Metric) {
    let n = logits.len();
    let groups = tie_groups(logits);
    let right: Vec<bool> = logits
        .iter()
        .zip(labels)
        .map(|(&s, &l)| (s > 0.0) == l)
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut accs, mut aurocs) = (vec![], vec![]);
    let mut counts = vec![0u32; n];
    for _ in 0..if n == 0 { 0 } else { resamples } {
        counts.fill(0);
        for _ in 0..n {
            counts[rng.random_range(0..n)] += 1;
        }
        let hits: u32 = counts
            .iter()
            .zip(&right)
            .filter(|(_, &r)| r)
            .map(|(c, _)| c)
            .sum();
        accs.push(f64::from(hits) / n as f64);
        aurocs.extend(weighted_auroc(&groups, labels, &counts));
    }
    let auc = weighted_auroc(&groups, labels, &vec![1; n]).unwrap_or(f64::NAN);
    (
        interval(accuracy(logits, labels), &mut accs),
        interval(auc, &mut aurocs),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auroc_counts_ties_as_half_and_matches_pairs() {
        let labels = [true, false, true, false];
        assert_eq!(auroc(&[0.9, 0.1, 0.8, 0.2], &labels), Some(1.0));
        assert_eq!(auroc(&[0.1, 0.9, 0.2, 0.8], &labels), Some(0.0));
        assert_eq!(auroc(&[0.5, 0.5, 0.5, 0.5], &labels), Some(0.5));
        // Pairs (pos, neg): (0.3, 0.1) win, (0.3, 0.6) lose, (0.6, 0.1) win, (0.6, 0.6) tie.
        assert_eq!(auroc(&[0.3, 0.1, 0.6, 0.6], &labels), Some(0.625));
        assert_eq!(auroc(&[0.3, 0.1], &[true, true]), None);
    }

    #[test]
    fn intervals_contain_the_value_and_are_reproducible() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let labels: Vec<bool> = (0..300).map(|i| i % 2 == 0).collect();
        let logits: Vec<f32> = labels
            .iter()
            .map(|&l| if l { 0.5 } else { -0.5 } + rng.random_range(-1.0..1.0f32))
            .collect();
        let (acc, auc) = accuracy_and_auroc(&logits, &labels, 500, 3);
        assert!(acc.lo < acc.value && acc.value < acc.hi, "{acc:?}");
        assert!(auc.lo < auc.value && auc.value < auc.hi, "{auc:?}");
        assert!(acc.value > 0.6 && auc.value > 0.7);
        assert!(acc.hi - acc.lo < 0.15);
        assert_eq!((acc, auc), accuracy_and_auroc(&logits, &labels, 500, 3));
    }
}
