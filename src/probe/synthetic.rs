//! Synthetic activation sets with a planted truth direction, for the probe benchmark and tests.
//!
//! Each layer's activations are a low-rank structure (16 factors of decaying size, like the few
//! dominant directions of a real residual stream; `structure` scales them, 0 leaves isotropic
//! noise), isotropic unit noise, an offset, and the
//! label's sign times `separation` along a planted unit direction orthogonal to the structure;
//! the separation rises and falls over the layers as real probe accuracies do. Because the
//! planted direction is orthogonal to the structure, it is also the Bayes-optimal (and
//! logistic) direction in raw coordinates.
//!
//! [`polarised`] plants TTPD's structure instead: affirmative and negated statements, a general
//! truth direction read the same way in both, a polarity-sensitive one whose sign flips with
//! negation, and a polarity offset.

use super::statements::Polarity;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::Tensor;

/// Factors of the low-rank structure.
const FACTORS: i64 = 16;
/// Size of the largest structure factor (in noise standard deviations per coordinate) used by
/// the benchmark: it makes the features strongly correlated, as residual streams are.
pub const RESIDUAL_STRUCTURE: f64 = 8.0;

/// A synthetic activation set.
#[derive(Debug)]
pub struct Synthetic {
    /// `[layers, n, d]` f32.
    pub x: Tensor,
    /// One label per statement, balanced.
    pub labels: Vec<bool>,
    /// `[layers, d]` unit planted directions.
    pub directions: Tensor,
}

/// `layers` layers of `n` statements in `d` dimensions; `separation` is the distance between
/// class means (in noise standard deviations) at the best layer; `structure` the size of the
/// largest structure factor.
pub fn synthetic(
    layers: i64,
    n: i64,
    d: i64,
    separation: f64,
    structure: f64,
    seed: u64,
) -> Synthetic {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut labels: Vec<bool> = (0..n).map(|i| i % 2 == 0).collect();
    for i in (1..labels.len()).rev() {
        labels.swap(i, rng.random_range(0..=i));
    }
    let sign = Tensor::from_slice(
        &labels
            .iter()
            .map(|&l| if l { 0.5f32 } else { -0.5 })
            .collect::<Vec<_>>(),
    )
    .view([n, 1]);
    let sizes = Tensor::from_slice(
        &(1..=FACTORS)
            .map(|j| (structure / j as f64) as f32)
            .collect::<Vec<_>>(),
    );
    let (mut xs, mut directions) = (vec![], vec![]);
    for layer in 0..layers {
        let u = gaussian(&mut rng, &[d]);
        let u = &u / u.norm();
        let basis = gaussian(&mut rng, &[FACTORS, d]);
        // Remove the planted direction from the structure.
        let basis = &basis - basis.matmul(&u).outer(&u);
        let structure = gaussian(&mut rng, &[n, FACTORS]).matmul(&(basis * sizes.unsqueeze(1)));
        let offset = gaussian(&mut rng, &[1, d]) * 2.0;
        let strength = separation
            * (0.25
                + 0.75 * (std::f64::consts::PI * (layer + 1) as f64 / (layers + 1) as f64).sin());
        let noise = gaussian(&mut rng, &[n, d]);
        xs.push(structure + noise + offset + &sign * u.unsqueeze(0) * strength);
        directions.push(u);
    }
    Synthetic {
        x: Tensor::stack(&xs, 0),
        labels,
        directions: Tensor::stack(&directions, 0),
    }
}

/// A synthetic activation set of affirmative and negated statements.
#[derive(Debug)]
pub struct Polarised {
    /// `[layers, n, d]` f32.
    pub x: Tensor,
    /// One label per statement, balanced within each polarity.
    pub labels: Vec<bool>,
    /// One polarity per statement, half negated.
    pub polarities: Vec<Polarity>,
    /// `[d]` unit general truth direction `t_G`.
    pub general: Tensor,
    /// `[d]` unit polarity-sensitive direction `t_P`, orthogonal to `t_G`.
    pub flipped: Tensor,
}

/// `layers` layers of `n` statements (statement `i` true when `i` is even, negated when `i / 2`
/// is odd) in `d` dimensions: isotropic unit noise, an offset, `polarity_offset` times the
/// polarity sign along a third direction, and, with `tau` = +-1 the label and `p` = +-1 the
/// polarity, `tau * general / 2` along `t_G` and `tau * p * flipped / 2` along `t_P`. With
/// `flipped` > `general`, the truth direction of affirmative statements alone
/// (`general * t_G + flipped * t_P`) reads negated statements the wrong way round.
pub fn polarised(
    layers: i64,
    n: i64,
    d: i64,
    (general, flipped, polarity_offset): (f64, f64, f64),
    seed: u64,
) -> Polarised {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let labels: Vec<bool> = (0..n).map(|i| i % 2 == 0).collect();
    let polarities: Vec<Polarity> = (0..n)
        .map(|i| match (i / 2) % 2 {
            0 => Polarity::Affirmative,
            _ => Polarity::Negated,
        })
        .collect();
    // Three orthonormal directions (Gram-Schmidt).
    let mut basis: Vec<Tensor> = vec![];
    for _ in 0..3 {
        let mut v = gaussian(&mut rng, &[d]);
        for b in &basis {
            v = &v - b * v.dot(b);
        }
        basis.push(&v / v.norm());
    }
    let column = |values: Vec<f32>| Tensor::from_slice(&values).view([n, 1]);
    let tau = column(labels.iter().map(|&l| if l { 0.5 } else { -0.5 }).collect());
    let sign = column(polarities.iter().map(|p| p.sign()).collect());
    let xs: Vec<Tensor> = (0..layers)
        .map(|_| {
            let offset = gaussian(&mut rng, &[1, d]) * 2.0;
            gaussian(&mut rng, &[n, d])
                + offset
                + &tau * basis[0].unsqueeze(0) * general
                + &tau * &sign * basis[1].unsqueeze(0) * flipped
                + &sign * basis[2].unsqueeze(0) * polarity_offset
        })
        .collect();
    Polarised {
        x: Tensor::stack(&xs, 0),
        labels,
        polarities,
        general: basis[0].shallow_clone(),
        flipped: basis[1].shallow_clone(),
    }
}

/// Standard normal f32 values of the given shape from `rng` (Box-Muller), so a set depends on
/// its seed only, never on libtorch's global generator (which concurrent tests share).
fn gaussian(rng: &mut ChaCha8Rng, shape: &[i64]) -> Tensor {
    let count = shape.iter().product::<i64>() as usize;
    let mut values = Vec::with_capacity(count + 1);
    while values.len() < count {
        let radius = (-2.0 * (1.0 - rng.random::<f64>()).ln()).sqrt();
        let angle = std::f64::consts::TAU * rng.random::<f64>();
        values.push((radius * angle.cos()) as f32);
        values.push((radius * angle.sin()) as f32);
    }
    values.truncate(count);
    Tensor::from_slice(&values).view(shape)
}
