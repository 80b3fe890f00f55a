//! Belief rates with bootstrap confidence intervals clustered by question.
//!
//! In: graded answers, each tagged with its question (several samples of one question are one
//! cluster). Out: [`BeliefRate`]: believing answers / all answers (neutral counts as not
//! believing) and a percentile bootstrap 95% interval from resampling questions with
//! replacement (seeded, so a rerun gives the same interval).

use super::percentile_interval;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

/// Bootstrap resamples used by default.
pub const DEFAULT_RESAMPLES: usize = 2000;

/// A belief rate and its interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BeliefRate {
    /// Believing answers / all answers.
    pub rate: f64,
    /// Lower end of the 95% interval.
    pub lo: f64,
    /// Upper end of the 95% interval.
    pub hi: f64,
    /// Answers counted.
    pub answers: usize,
    /// Distinct questions (clusters).
    pub questions: usize,
}

/// The belief rate of `answers` (`(question key, believed)`), with a bootstrap 95% interval
/// over `resamples` resamples of the questions, seeded by `seed`. `None` without answers.
pub fn belief_rate(answers: &[(String, bool)], resamples: usize, seed: u64) -> Option<BeliefRate> {
    let values: Vec<(String, f64)> = answers
        .iter()
        .map(|(question, believed)| (question.clone(), f64::from(u8::from(*believed))))
        .collect();
    let mean = super::mean_over_clusters(&values, resamples, seed)?;
    let questions: std::collections::BTreeSet<&str> =
        answers.iter().map(|(q, _)| q.as_str()).collect();
    Some(BeliefRate {
        rate: mean.value,
        lo: mean.lo,
        hi: mean.hi,
        answers: answers.len(),
        questions: questions.len(),
    })
}

/// The belief rate of answers to questions asked of several independently trained models
/// (`(seed, question key, believed)`), with a two-way bootstrap 95% interval: each resample
/// draws the seeds and the questions with replacement, independently, and pools the answers of
/// every drawn (seed, question) cell. The interval so includes training noise (which seeds) as
/// well as question sampling; with one seed it is [`belief_rate`]'s. `None` without answers.
pub fn belief_rate_over_seeds(
    answers: &[(i64, String, bool)],
    resamples: usize,
    seed: u64,
) -> Option<BeliefRate> {
    if answers.is_empty() {
        return None;
    }
    let mut seeds: Vec<i64> = answers.iter().map(|a| a.0).collect();
    seeds.sort_unstable();
    seeds.dedup();
    let mut questions: Vec<&str> = answers.iter().map(|a| a.1.as_str()).collect();
    questions.sort_unstable();
    questions.dedup();
    // cells[s][q] = (believed, answers) of seed s on question q.
    let mut cells = vec![vec![(0usize, 0usize); questions.len()]; seeds.len()];
    for (s, q, believed) in answers {
        let si = seeds.binary_search(s).expect("listed");
        let qi = questions.binary_search(&q.as_str()).expect("listed");
        cells[si][qi].0 += usize::from(*believed);
        cells[si][qi].1 += 1;
    }
    let believed = answers.iter().filter(|a| a.2).count();
    let rate = believed as f64 / answers.len() as f64;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut rates: Vec<f64> = (0..resamples.max(1))
        .filter_map(|_| {
            let (drawn_seeds, drawn_questions) =
                two_way_draw(&mut rng, seeds.len(), questions.len());
            let (mut yes, mut all) = (0usize, 0usize);
            for q in drawn_questions {
                for &s in &drawn_seeds {
                    yes += cells[s][q].0;
                    all += cells[s][q].1;
                }
            }
            (all > 0).then(|| yes as f64 / all as f64)
        })
        .collect();
    let (lo, hi) = percentile_interval(rate, &mut rates);
    Some(BeliefRate {
        rate,
        lo,
        hi,
        answers: answers.len(),
        questions: questions.len(),
    })
}

/// One resample of the two-way bootstrap: `seeds` seed indices, then `questions` question
/// indices, each drawn with replacement (in that order from `rng`).
fn two_way_draw(rng: &mut ChaCha8Rng, seeds: usize, questions: usize) -> (Vec<usize>, Vec<usize>) {
    let drawn_seeds = (0..seeds).map(|_| rng.random_range(0..seeds)).collect();
    let drawn_questions = (0..questions)
        .map(|_| rng.random_range(0..questions))
        .collect();
    (drawn_seeds, drawn_questions)
}

/// A paired difference of two belief rates and its interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BeliefDifference {
    /// Belief in the first condition minus belief in the second, over their shared cells.
    pub difference: f64,
    /// Lower end of the 95% interval.
    pub lo: f64,
    /// Upper end of the 95% interval.
    pub hi: f64,
    /// Seeds both conditions were measured on.
    pub seeds: usize,
    /// Questions both conditions were asked.
    pub questions: usize,
}

impl BeliefDifference {
    /// The interval leaves out 0: the difference is established at the 95% level.
    pub fn excludes_zero(&self) -> bool {
        self.lo > 0.0 || self.hi < 0.0
    }
}

/// `(believed, answers)` per (seed, question) cell.
fn answer_cells(answers: &[(i64, String, bool)]) -> BTreeMap<(i64, &str), (usize, usize)> {
    let mut cells: BTreeMap<(i64, &str), (usize, usize)> = BTreeMap::new();
    for (s, q, believed) in answers {
        let cell = cells.entry((*s, q.as_str())).or_default();
        cell.0 += usize::from(*believed);
        cell.1 += 1;
    }
    cells
}

/// Belief in `a` minus belief in `b`, paired: both given as `(seed, question key, believed)`,
/// compared on the (seed, question) cells both hold. Each bootstrap resample draws the seeds
/// and the questions with replacement once and takes the difference of the two pooled rates
/// over the same drawn cells, so the interval keeps what the conditions share (the same
/// questions, the same training seeds) out of the noise. `None` without a shared cell.
pub fn paired_difference_over_seeds(
    a: &[(i64, String, bool)],
    b: &[(i64, String, bool)],
    resamples: usize,
    seed: u64,
) -> Option<BeliefDifference> {
    let (cells_a, cells_b) = (answer_cells(a), answer_cells(b));
    let shared: Vec<(i64, &str)> = cells_a
        .keys()
        .filter(|k| cells_b.contains_key(k))
        .copied()
        .collect();
    if shared.is_empty() {
        return None;
    }
    let mut seeds: Vec<i64> = shared.iter().map(|k| k.0).collect();
    seeds.dedup();
    let mut questions: Vec<&str> = shared.iter().map(|k| k.1).collect();
    questions.sort_unstable();
    questions.dedup();
    // Pooled rates of a and b over the drawn cells (seed i, question j), weighted by draws.
    let difference_over = |drawn_seeds: &[usize], drawn_questions: &[usize]| {
        let mut sums = [(0usize, 0usize); 2];
        for &si in drawn_seeds {
            for &qi in drawn_questions {
                let key = (seeds[si], questions[qi]);
                if let (Some(ca), Some(cb)) = (cells_a.get(&key), cells_b.get(&key)) {
                    for (sum, cell) in sums.iter_mut().zip([ca, cb]) {
                        sum.0 += cell.0;
                        sum.1 += cell.1;
                    }
                }
            }
        }
        let rate = |(yes, all): (usize, usize)| (all > 0).then(|| yes as f64 / all as f64);
        Some(rate(sums[0])? - rate(sums[1])?)
    };
    let all_seeds: Vec<usize> = (0..seeds.len()).collect();
    let all_questions: Vec<usize> = (0..questions.len()).collect();
    let difference = difference_over(&all_seeds, &all_questions)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut draws: Vec<f64> = (0..resamples.max(1))
        .filter_map(|_| {
            let (s, q) = two_way_draw(&mut rng, seeds.len(), questions.len());
            difference_over(&s, &q)
        })
        .collect();
    let (lo, hi) = percentile_interval(difference, &mut draws);
    Some(BeliefDifference {
        difference,
        lo,
        hi,
        seeds: seeds.len(),
        questions: questions.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `questions` questions, `samples` answers each; question q believes in proportion to a
    /// fixed pseudo-random per-question tendency.
    fn answers(questions: usize, samples: usize) -> Vec<(String, bool)> {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut out = vec![];
        for q in 0..questions {
            let p: f64 = rng.random();
            for _ in 0..samples {
                out.push((format!("q{q}"), rng.random::<f64>() < p));
            }
        }
        out
    }

    #[test]
    fn interval_contains_the_estimate_and_is_reproducible() {
        let a = answers(20, 5);
        let r = belief_rate(&a, 1000, 3).unwrap();
        let believed = a.iter().filter(|x| x.1).count() as f64;
        assert!((r.rate - believed / 100.0).abs() < 1e-12);
        assert!(r.lo <= r.rate && r.rate <= r.hi, "{r:?}");
        assert!(r.lo < r.hi, "{r:?}");
        assert_eq!((r.answers, r.questions), (100, 20));
        assert_eq!(r, belief_rate(&a, 1000, 3).unwrap());
    }

    #[test]
    fn interval_narrows_with_more_questions() {
        let small = belief_rate(&answers(10, 5), 2000, 1).unwrap();
        let large = belief_rate(&answers(400, 5), 2000, 1).unwrap();
        assert!(
            (large.hi - large.lo) < 0.5 * (small.hi - small.lo),
            "{small:?} {large:?}"
        );
    }

    #[test]
    fn seed_bootstrap_widens_with_seed_disagreement() {
        let one: Vec<(i64, String, bool)> =
            answers(20, 5).into_iter().map(|(q, b)| (1, q, b)).collect();
        let plain: Vec<(String, bool)> = one.iter().map(|(_, q, b)| (q.clone(), *b)).collect();
        let a = belief_rate_over_seeds(&one, 500, 3).unwrap();
        let b = belief_rate(&plain, 500, 3).unwrap();
        assert_eq!(a.rate, b.rate);
        assert!(a.lo <= a.rate && a.rate <= a.hi);
        // Three seeds that agree on every answer vs three that disagree completely (one
        // believes everything, two nothing): same questions, the second interval is wider.
        let agree: Vec<(i64, String, bool)> = (1..=3)
            .flat_map(|s| one.iter().map(move |(_, q, b)| (s, q.clone(), *b)))
            .collect();
        let disagree: Vec<(i64, String, bool)> = (1..=3)
            .flat_map(|s| one.iter().map(move |(_, q, _)| (s, q.clone(), s == 1)))
            .collect();
        let width = |r: BeliefRate| r.hi - r.lo;
        let wa = width(belief_rate_over_seeds(&agree, 500, 3).unwrap());
        let wd = width(belief_rate_over_seeds(&disagree, 500, 3).unwrap());
        assert!(wd > wa, "{wd} vs {wa}");
    }

    #[test]
    fn paired_differences_keep_shared_noise_out() {
        // Two conditions over 3 seeds x 10 questions: `b` believes on questions 0-3, `a` on the
        // same ones plus question 4 (one more question in every seed). Question difficulty is
        // shared, so the pairing sees a steady +10 points.
        let answers = |extra: bool| -> Vec<(i64, String, bool)> {
            (1..=3)
                .flat_map(|s| {
                    (0..10).map(move |q| (s, format!("q{q}"), q < 4 || (extra && q == 4)))
                })
                .collect()
        };
        let (a, b) = (answers(true), answers(false));
        let d = paired_difference_over_seeds(&a, &b, 2000, 1).unwrap();
        assert!((d.difference - 0.1).abs() < 1e-12, "{d:?}");
        assert_eq!((d.seeds, d.questions), (3, 10));
        assert!(
            d.lo >= 0.0 && d.hi <= 0.4 && d.lo <= 0.1 && 0.1 <= d.hi,
            "{d:?}"
        );
        // The same rates unpaired: each interval alone spans the other rate.
        let (ra, rb) = (
            belief_rate_over_seeds(&a, 2000, 1).unwrap(),
            belief_rate_over_seeds(&b, 2000, 1).unwrap(),
        );
        assert!(ra.lo < rb.rate && rb.hi > ra.rate, "{ra:?} {rb:?}");
        // Equal conditions differ by exactly 0, and the interval is 0 too.
        let same = paired_difference_over_seeds(&b, &b, 500, 1).unwrap();
        assert_eq!((same.difference, same.lo, same.hi), (0.0, 0.0, 0.0));
        assert!(!same.excludes_zero());
        // Only shared cells count: a seed measured in one condition alone is left out.
        let mut a4 = a.clone();
        a4.extend((0..10).map(|q| (4, format!("q{q}"), true)));
        let d4 = paired_difference_over_seeds(&a4, &b, 500, 1).unwrap();
        assert_eq!((d4.difference, d4.seeds), (d.difference, 3));
        assert!(paired_difference_over_seeds(&a, &[], 10, 1).is_none());
    }

    #[test]
    fn clustering_widens_the_interval() {
        // Every question answered the same way 50 times: 4 clusters, not 200 answers.
        let mut a = vec![];
        for q in 0..4 {
            for _ in 0..50 {
                a.push((format!("q{q}"), q % 2 == 0));
            }
        }
        let clustered = belief_rate(&a, 2000, 0).unwrap();
        let independent: Vec<(String, bool)> = a
            .iter()
            .enumerate()
            .map(|(i, x)| (format!("a{i}"), x.1))
            .collect();
        let flat = belief_rate(&independent, 2000, 0).unwrap();
        assert!((clustered.rate - 0.5).abs() < 1e-12);
        assert!(clustered.hi - clustered.lo > 2.0 * (flat.hi - flat.lo));
        assert!(belief_rate(&[], 10, 0).is_none());
    }
}
