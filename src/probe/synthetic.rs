//! Synthetic activation sets with a planted truth direction, for the probe benchmark and tests.
//!
//! Each layer's activations are a low-rank structure (16 factors of decaying size, like the few
//! dominant directions of a real residual stream; `structure` scales them, 0 leaves isotropic
//! noise), isotropic unit noise, an offset, and the
//! label's sign times `separation` along a planted unit direction orthogonal to the structure;
//! the separation rises and falls over the layers as real probe accuracies do. Because the
//! planted direction is orthogonal to the structure, it is also the Bayes-optimal (and
//! logistic) direction in raw coordinates.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

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
    tch::manual_seed(rng.random::<i64>());
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
    let options = (Kind::Float, Device::Cpu);
    let (mut xs, mut directions) = (vec![], vec![]);
    for layer in 0..layers {
        let u = Tensor::randn([d], options);
        let u = &u / u.norm();
        let sizes = Tensor::arange(FACTORS, options)
            .f_add_scalar(1.0)
            .expect("arange")
            .reciprocal()
            * structure;
        let basis = Tensor::randn([FACTORS, d], options);
        // Remove the planted direction from the structure.
        let basis = &basis - basis.matmul(&u).outer(&u);
        let structure = Tensor::randn([n, FACTORS], options).matmul(&(basis * sizes.unsqueeze(1)));
        let offset = Tensor::randn([1, d], options) * 2.0;
        let strength = separation
            * (0.25
                + 0.75 * (std::f64::consts::PI * (layer + 1) as f64 / (layers + 1) as f64).sin());
        let x =
            structure + Tensor::randn([n, d], options) + offset + &sign * u.unsqueeze(0) * strength;
        xs.push(x);
        directions.push(u);
    }
    Synthetic {
        x: Tensor::stack(&xs, 0),
        labels,
        directions: Tensor::stack(&directions, 0),
    }
}
