//! Linear probes: the methods, fitted per layer, and their saved form.
//!
//! Every probe reads an activation `x` as `logit = direction . ((x - mean) / scale) + bias` and
//! `P(true) = sigmoid(logit)`, so probes of any method apply the same way to activations of
//! any checkpoint of the same architecture.
//!
//! Methods ([`Method`]):
//! - `lr`: L2 logistic regression on standardised features (`mean`/`scale` = the training
//!   mean and standard deviation), solved by [`super::logistic`];
//! - `mass_mean`: the difference of class means on centred raw activations (Marks & Tegmark's
//!   mass-mean probe; `scale` = 1);
//! - `mass_mean_cov`: the covariance-corrected variant, `(Sigma + ridge)^-1 (mu1 - mu0)` on
//!   standardised features with `Sigma` the pooled within-class covariance (LDA);
//! - `ttpd`: the polarity-aware probe of Bürger et al. 2024 ("Truth is Universal", Training of
//!   Truth and Polarity Direction). Activations are centred on the mean of their polarity
//!   group (affirmative, negated), then regressed, feature by feature, on `tau` and `tau * p`
//!   (`tau` = +1 true / -1 false, `p` = +1 affirmative / -1 negated) by least squares: the
//!   coefficient of `tau` is the general truth direction `t_G` (truth read the same way in
//!   both polarities), that of `tau * p` the polarity-sensitive direction `t_P` (truth read
//!   with opposite signs, as a probe fitted on affirmative statements alone picks up). The
//!   probe reads `t_G` on raw activations centred on the training mean (`scale` = 1); `t_P`
//!   is kept beside it. It needs true and false statements of both polarities
//!   ([`fit_polarised`]).
//!
//! The mass-mean and TTPD directions fix only a direction; their scale and bias are set by a
//! one-feature logistic regression on the (unit-variance) training projections, so their
//! P(true) is calibrated on the training set like the logistic probe's.
//!
//! Saved form ([`ProbeSet::save`]): `probes.safetensors` with
//! `<method>.layer_NN.{direction,mean,scale}` `[d_model]`, `<method>.layer_NN.bias` `[1]` and,
//! for `ttpd`, `ttpd.layer_NN.polarity_direction` (`t_P`, `[d_model]`) (f32), and
//! `probes.json` ([`ProbeSetConfig`]) saying what each probe is and which activations
//! (position, model, polarities) it was fitted on.

use super::acts::{layer_name, Position};
use super::logistic::{fit_batched, fit_linfa, LogisticConfig};
use super::statements::Polarity;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// File of the probe tensors inside a probe folder.
pub const TENSORS_FILE: &str = "probes.safetensors";
/// File of the probe set's description inside a probe folder.
pub const CONFIG_FILE: &str = "probes.json";
/// Ridge added to the within-class covariance of `mass_mean_cov`, as a fraction of its mean
/// eigenvalue (about 1 on standardised features): enough to make a covariance estimated from a
/// few thousand statements in hundreds of dimensions well-conditioned.
pub const COVARIANCE_RIDGE: f64 = 0.1;

/// How a probe is fitted.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    clap::ValueEnum,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum Method {
    /// L2 logistic regression on standardised features.
    Lr,
    /// Difference of class means.
    MassMean,
    /// Covariance-corrected difference of class means (LDA with a ridge).
    MassMeanCov,
    /// TTPD's general truth direction, fitted on both polarities.
    Ttpd,
}

impl Method {
    /// Name as written in tables and files.
    pub fn name(self) -> &'static str {
        match self {
            Method::Lr => "lr",
            Method::MassMean => "mass_mean",
            Method::MassMeanCov => "mass_mean_cov",
            Method::Ttpd => "ttpd",
        }
    }
}

/// Which solver fits the logistic probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Solver {
    /// All layers at once in tch (L-BFGS), on the chosen device.
    Batched,
    /// linfa-logistic, one layer at a time on the CPU (the reference).
    Linfa,
}

/// Probes of G layers fitted together: `logit = direction . ((x - mean) / scale) + bias`.
#[derive(Debug)]
pub struct LayerProbes {
    /// `[G, d]`.
    pub direction: Tensor,
    /// `[G]`.
    pub bias: Tensor,
    /// `[G, d]`.
    pub mean: Tensor,
    /// `[G, d]`.
    pub scale: Tensor,
    /// `[G, d]` TTPD's polarity-sensitive direction `t_P` (raw coordinates); `None` for the
    /// other methods.
    pub polarity_direction: Option<Tensor>,
}

impl LayerProbes {
    /// Logits of activations `x` `[G, m, d]`: `[G, m]`.
    pub fn logits(&self, x: &Tensor) -> Tensor {
        let xs = (x - self.mean.unsqueeze(1)) / self.scale.unsqueeze(1);
        xs.bmm(&self.direction.unsqueeze(-1)).squeeze_dim(-1) + self.bias.unsqueeze(-1)
    }
}

/// Mean and population standard deviation of every feature over the rows of `x` `[G, n, d]`
/// (`[G, d]` each); constant features get scale 1, as scikit-learn's StandardScaler does.
fn standardiser(x: &Tensor) -> (Tensor, Tensor) {
    let mean = x.mean_dim(1, false, Kind::Float);
    let std = x.std_correction(1, 0, false);
    let scale = std.where_self(&std.gt(0.0), &Tensor::ones_like(&std));
    (mean, scale)
}

/// Class means of `x` `[G, n, d]` for 0/1 labels `y` `[n]`: (mean of true, mean of false).
fn class_means(x: &Tensor, y: &Tensor) -> (Tensor, Tensor) {
    let pos = y.sum(Kind::Float);
    let neg = y.size()[0] as f64 - &pos;
    let weights = y.view([1, -1, 1]);
    let mu1 = (x * &weights).sum_dim_intlist(1, false, Kind::Float) / &pos;
    let mu0 = (x * (-&weights + 1.0)).sum_dim_intlist(1, false, Kind::Float) / &neg;
    (mu1, mu0)
}

/// Scales `theta` `[G, d]` and sets a bias by a one-feature logistic regression of the labels
/// on the unit-variance projections of the (normalised) training activations `xs`.
fn calibrate(xs: &Tensor, y: &Tensor, theta: &Tensor, config: &LogisticConfig) -> (Tensor, Tensor) {
    let projection = xs.bmm(&theta.unsqueeze(-1)); // [G, n, 1]
    let spread = projection
        .std_correction(1, 0, true)
        .clamp_min(f64::from(f32::MIN_POSITIVE)); // [G, 1, 1]
    let fit = fit_batched(&(projection / &spread), y, config);
    let gain = fit.weights / spread.squeeze_dim(-1); // [G, 1]
    (theta * gain, fit.bias)
}

/// Fits `method` on activations `x` `[G, n, d]` (f32, any device) with labels `labels`,
/// one probe per leading index. `ttpd` needs the statements' polarities: [`fit_polarised`].
pub fn fit_method(
    method: Method,
    x: &Tensor,
    labels: &[bool],
    config: &LogisticConfig,
    solver: Solver,
) -> Result<LayerProbes> {
    let y = Tensor::from_slice(
        &labels
            .iter()
            .map(|&l| f32::from(u8::from(l)))
            .collect::<Vec<_>>(),
    )
    .to_device(x.device());
    let (positives, n) = (labels.iter().filter(|&&l| l).count(), labels.len());
    if positives == 0 || positives == n {
        bail!("the training statements hold only one class ({positives} true of {n})");
    }
    let (mean, scale) = standardiser(x);
    Ok(match method {
        Method::Lr => {
            let xs = (x - mean.unsqueeze(1)) / scale.unsqueeze(1);
            let (direction, bias) = match solver {
                Solver::Batched => {
                    let fit = fit_batched(&xs, &y, config);
                    (fit.weights, fit.bias)
                }
                Solver::Linfa => linfa_layers(&xs, labels, config)?,
            };
            LayerProbes {
                direction,
                bias,
                mean,
                scale,
                polarity_direction: None,
            }
        }
        Method::MassMean => {
            let scale = Tensor::ones_like(&scale);
            let xc = x - mean.unsqueeze(1);
            let (mu1, mu0) = class_means(&xc, &y);
            let (direction, bias) = calibrate(&xc, &y, &(mu1 - mu0), config);
            LayerProbes {
                direction,
                bias,
                mean,
                scale,
                polarity_direction: None,
            }
        }
        Method::MassMeanCov => {
            let xs = (x - mean.unsqueeze(1)) / scale.unsqueeze(1);
            let (mu1, mu0) = class_means(&xs, &y);
            let weights = y.view([1, -1, 1]);
            let class_mean = &weights * mu1.unsqueeze(1) + (-&weights + 1.0) * mu0.unsqueeze(1);
            let within = &xs - class_mean;
            let d = xs.size()[2];
            let sigma = within.transpose(1, 2).bmm(&within) / n as f64; // [G, d, d]
                                                                        // Constant features (the embedding of a statement's final `.` at layer 0) give a
                                                                        // zero covariance: the floor keeps the system solvable (and the direction zero).
            let mean_eigenvalue = sigma
                .diagonal(0, 1, 2)
                .mean_dim(-1, true, Kind::Float)
                .unsqueeze(-1)
                .clamp_min(f64::from(f32::EPSILON));
            let eye = Tensor::eye(d, (Kind::Float, x.device())).unsqueeze(0);
            let ridged = sigma + eye * mean_eigenvalue * COVARIANCE_RIDGE;
            let theta = Tensor::f_linalg_solve(&ridged, &(mu1 - mu0).unsqueeze(-1), true)
                .context("the ridged within-class covariance is singular")?
                .squeeze_dim(-1);
            let (direction, bias) = calibrate(&xs, &y, &theta, config);
            LayerProbes {
                direction,
                bias,
                mean,
                scale,
                polarity_direction: None,
            }
        }
        Method::Ttpd => bail!("ttpd needs each statement's polarity (fit_polarised)"),
    })
}

/// Fits `method` as [`fit_method`] does, with each statement's polarity, which `ttpd` reads
/// (the other methods ignore it).
pub fn fit_polarised(
    method: Method,
    x: &Tensor,
    labels: &[bool],
    polarities: &[Polarity],
    config: &LogisticConfig,
    solver: Solver,
) -> Result<LayerProbes> {
    if method != Method::Ttpd {
        return fit_method(method, x, labels, config, solver);
    }
    if polarities.len() != labels.len() {
        bail!(
            "{} polarities for {} labels",
            polarities.len(),
            labels.len()
        );
    }
    // (true, all) statements of each polarity.
    let counts: Vec<(usize, usize)> = Polarity::ALL
        .iter()
        .map(|&p| {
            let of = (0..labels.len()).filter(|&i| polarities[i] == p);
            of.fold((0, 0), |(t, n), i| (t + usize::from(labels[i]), n + 1))
        })
        .collect();
    if counts.iter().any(|&(t, n)| t == 0 || t == n) {
        bail!(
            "ttpd needs true and false statements of both polarities (affirmative: {} true of \
             {}; negated: {} true of {})",
            counts[0].0,
            counts[0].1,
            counts[1].0,
            counts[1].1
        );
    }
    let device = x.device();
    let floats = |v: Vec<f32>| Tensor::from_slice(&v).to_device(device);
    let tau = floats(labels.iter().map(|&l| if l { 1.0 } else { -1.0 }).collect());
    let sign = floats(polarities.iter().map(|p| p.sign()).collect());
    // Centre each polarity group on its own mean.
    let group_means: Vec<Tensor> = Polarity::ALL
        .iter()
        .map(|&p| {
            let member = floats(
                polarities
                    .iter()
                    .map(|&q| f32::from(u8::from(q == p)))
                    .collect(),
            );
            let weights = member.view([1, -1, 1]);
            let mu =
                (x * &weights).sum_dim_intlist(1, false, Kind::Float) / member.sum(Kind::Float);
            weights * mu.unsqueeze(1)
        })
        .collect();
    let centred = x - &group_means[0] - &group_means[1];
    // Least squares of the centred activations on (tau, tau * p): [G, 2, d].
    let design = Tensor::stack(&[&tau, &(&tau * &sign)], 1); // [n, 2]
    let gram = design.transpose(0, 1).matmul(&design); // [2, 2]
    let rhs = design.transpose(0, 1).matmul(&centred); // [G, 2, d]
    let coefficients = Tensor::f_linalg_solve(&gram.unsqueeze(0), &rhs, true)
        .context("the TTPD design (label, label x polarity) is singular")?;
    let general = coefficients.select(1, 0);
    let polarity_direction = coefficients.select(1, 1);
    let y = floats(labels.iter().map(|&l| f32::from(u8::from(l))).collect());
    let (mean, _) = standardiser(x);
    let xc = x - mean.unsqueeze(1);
    let (direction, bias) = calibrate(&xc, &y, &general, config);
    Ok(LayerProbes {
        direction,
        bias,
        scale: Tensor::ones_like(&mean),
        mean,
        polarity_direction: Some(polarity_direction),
    })
}

/// The linfa reference, one layer at a time: (weights `[G, d]`, bias `[G]`).
fn linfa_layers(xs: &Tensor, labels: &[bool], config: &LogisticConfig) -> Result<(Tensor, Tensor)> {
    let device = xs.device();
    let (mut weights, mut biases) = (vec![], vec![]);
    for g in 0..xs.size()[0] {
        let layer = xs.get(g).to_device(Device::Cpu).contiguous();
        let (n, d) = (layer.size()[0] as usize, layer.size()[1] as usize);
        let values = Vec::<f32>::try_from(&layer.view([-1]))?;
        let array = ndarray::ArrayView2::from_shape((n, d), &values)?;
        let (w, b) = fit_linfa(array, labels, config)?;
        weights.push(Tensor::from_slice(&w).to_kind(Kind::Float));
        biases.push(b as f32);
    }
    Ok((
        Tensor::stack(&weights, 0).to_device(device),
        Tensor::from_slice(&biases).to_device(device),
    ))
}

/// One probe: a method fitted on one layer.
#[derive(Debug)]
pub struct Probe {
    /// How it was fitted.
    pub method: Method,
    /// The layer it reads (0 = embeddings).
    pub layer: usize,
    /// `[d]`.
    pub direction: Tensor,
    /// Intercept.
    pub bias: f32,
    /// `[d]` subtracted before scaling.
    pub mean: Tensor,
    /// `[d]` divisor.
    pub scale: Tensor,
    /// `[d]` TTPD's polarity-sensitive direction; `None` for the other methods.
    pub polarity_direction: Option<Tensor>,
}

impl Probe {
    /// Logits of activations `x` `[m, d]` (any device; computed on the CPU in f32).
    pub fn logits(&self, x: &Tensor) -> Result<Vec<f32>> {
        let x = x.to_device(Device::Cpu).to_kind(Kind::Float);
        let z = ((x - &self.mean) / &self.scale).matmul(&self.direction) + f64::from(self.bias);
        Ok(Vec::<f32>::try_from(&z.contiguous())?)
    }

    /// `P(true)` of activations `x` `[m, d]`.
    pub fn p_true(&self, x: &Tensor) -> Result<Vec<f64>> {
        Ok(self
            .logits(x)?
            .into_iter()
            .map(|z| 1.0 / (1.0 + (-f64::from(z)).exp()))
            .collect())
    }

    fn key(&self) -> String {
        format!("{}.{}", self.method.name(), layer_name(self.layer))
    }
}

/// What a probe folder holds, saved as `probes.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeSetConfig {
    /// Pooling of the activations the probes were fitted on; readouts must use the same.
    pub position: Position,
    /// Width of the activations.
    pub d_model: usize,
    /// The model the activations came from.
    pub model: String,
    /// The activation file they were fitted on.
    pub acts: String,
    /// The probes, as (method, layer), in tensor-file order.
    pub probes: Vec<(Method, usize)>,
    /// Regularisation and stopping rule of the logistic fits.
    pub logistic: LogisticConfig,
    /// Seed of the split.
    pub seed: u64,
    /// The polarity of the statements the probes were fitted on; `None`: both (all
    /// statements). Absent in probe sets written before polarities existed.
    #[serde(default)]
    pub train_polarity: Option<Polarity>,
}

/// Fitted probes and their description.
#[derive(Debug)]
pub struct ProbeSet {
    /// The description saved as `probes.json`.
    pub config: ProbeSetConfig,
    /// The probes, in `config.probes` order.
    pub probes: Vec<Probe>,
}

impl ProbeSet {
    /// Writes `probes.safetensors` and `probes.json` into `dir`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create", dir.display()))?;
        let mut tensors = HashMap::new();
        for probe in &self.probes {
            let key = probe.key();
            tensors.insert(
                format!("{key}.direction"),
                probe.direction.to_kind(Kind::Float),
            );
            tensors.insert(format!("{key}.bias"), Tensor::from_slice(&[probe.bias]));
            tensors.insert(format!("{key}.mean"), probe.mean.to_kind(Kind::Float));
            tensors.insert(format!("{key}.scale"), probe.scale.to_kind(Kind::Float));
            if let Some(t) = &probe.polarity_direction {
                tensors.insert(format!("{key}.polarity_direction"), t.to_kind(Kind::Float));
            }
        }
        crate::model::load::save_tensors(&tensors, &dir.join(TENSORS_FILE))?;
        crate::store::write_json(&dir.join(CONFIG_FILE), &self.config)
    }

    /// Reads a probe folder written by [`ProbeSet::save`].
    pub fn load(dir: &Path) -> Result<Self> {
        let config_file = dir.join(CONFIG_FILE);
        let config: ProbeSetConfig = serde_json::from_str(
            &std::fs::read_to_string(&config_file)
                .with_context(|| format!("{}: cannot read", config_file.display()))?,
        )
        .with_context(|| format!("{}: not a probe set description", config_file.display()))?;
        let tensor_file = dir.join(TENSORS_FILE);
        let mut tensors: HashMap<String, Tensor> = Tensor::read_safetensors(&tensor_file)
            .with_context(|| format!("{}: cannot read", tensor_file.display()))?
            .into_iter()
            .collect();
        let mut take = |name: String| {
            let t = tensors
                .remove(&name)
                .with_context(|| format!("{}: no tensor `{name}`", tensor_file.display()))?;
            if t.numel() != config.d_model && !name.ends_with(".bias") {
                bail!(
                    "{}: `{name}` has {} values, d_model is {}",
                    tensor_file.display(),
                    t.numel(),
                    config.d_model
                );
            }
            Ok(t.to_kind(Kind::Float))
        };
        let mut probes = vec![];
        for &(method, layer) in &config.probes {
            let key = format!("{}.{}", method.name(), layer_name(layer));
            probes.push(Probe {
                method,
                layer,
                direction: take(format!("{key}.direction"))?,
                bias: take(format!("{key}.bias"))?.double_value(&[0]) as f32,
                mean: take(format!("{key}.mean"))?,
                scale: take(format!("{key}.scale"))?,
                polarity_direction: match method {
                    Method::Ttpd => Some(take(format!("{key}.polarity_direction"))?),
                    _ => None,
                },
            });
        }
        Ok(ProbeSet { config, probes })
    }

    /// The distinct layers the probes read, ascending.
    pub fn layers(&self) -> Vec<usize> {
        let mut layers: Vec<usize> = self.probes.iter().map(|p| p.layer).collect();
        layers.sort_unstable();
        layers.dedup();
        layers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn separable(n: i64, d: i64) -> (Tensor, Vec<bool>, Tensor) {
        tch::manual_seed(3);
        let labels: Vec<bool> = (0..n).map(|i| i % 2 == 0).collect();
        let sign = Tensor::from_slice(
            &labels
                .iter()
                .map(|&l| if l { 1f32 } else { -1f32 })
                .collect::<Vec<_>>(),
        );
        let u = Tensor::randn([d], (Kind::Float, Device::Cpu));
        let u = &u / u.norm();
        let x = Tensor::randn([1, n, d], (Kind::Float, Device::Cpu)) * 0.3
            + sign.view([1, -1, 1]) * u.view([1, 1, -1]) * 3.0
            + 5.0;
        (x, labels, u)
    }

    #[test]
    fn ttpd_recovers_the_general_and_the_polarity_directions() {
        let set = super::super::synthetic::polarised(1, 2000, 24, (3.0, 6.0, 4.0), 5);
        let config = LogisticConfig::default();
        let probes = fit_polarised(
            Method::Ttpd,
            &set.x,
            &set.labels,
            &set.polarities,
            &config,
            Solver::Batched,
        )
        .unwrap();
        let cosine = |a: &Tensor, b: &Tensor| {
            a.dot(b).double_value(&[]) / (a.norm().double_value(&[]) * b.norm().double_value(&[]))
        };
        let t_g = probes.direction.get(0);
        let t_p = probes.polarity_direction.as_ref().unwrap().get(0);
        assert!(
            cosine(&t_g, &set.general) > 0.95,
            "{}",
            cosine(&t_g, &set.general)
        );
        assert!(
            cosine(&t_p, &set.flipped) > 0.95,
            "{}",
            cosine(&t_p, &set.flipped)
        );
        assert_eq!(
            probes.scale.get(0),
            Tensor::ones([24], (Kind::Float, Device::Cpu))
        );
        // The polarity coefficient is the planted half-separation (3.0 along t_P).
        let size = t_p.norm().double_value(&[]);
        assert!((size - 3.0).abs() < 0.2, "{size}");
        // TTPD needs polarities, and both of them.
        let error = fit_method(Method::Ttpd, &set.x, &set.labels, &config, Solver::Batched);
        assert!(error.unwrap_err().to_string().contains("polarity"));
        let affirmative = vec![Polarity::Affirmative; set.labels.len()];
        let error = fit_polarised(
            Method::Ttpd,
            &set.x,
            &set.labels,
            &affirmative,
            &config,
            Solver::Batched,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            error,
            "ttpd needs true and false statements of both polarities (affirmative: 1000 true \
             of 2000; negated: 0 true of 0)"
        );
    }

    #[test]
    fn every_method_separates_separable_data() {
        let (x, labels, u) = separable(400, 16);
        for method in [Method::Lr, Method::MassMean, Method::MassMeanCov] {
            let probes = fit_method(
                method,
                &x,
                &labels,
                &LogisticConfig::default(),
                Solver::Batched,
            )
            .unwrap();
            let logits = Vec::<f32>::try_from(&probes.logits(&x).view([-1])).unwrap();
            let acc = crate::stats::classify::accuracy(&logits, &labels);
            assert_eq!(acc, 1.0, "{method:?}");
            // The class-mean difference estimates the planted direction (logistic regression on
            // separable data tends to a max-margin direction instead, and the ridge of the
            // covariance-corrected variant tilts it).
            if method == Method::MassMean {
                let raw = &probes.direction.get(0) / &probes.scale.get(0);
                let cosine = raw.dot(&u).double_value(&[]) / raw.norm().double_value(&[]);
                assert!(cosine > 0.99, "{method:?}: cosine {cosine}");
            }
        }
    }
}
