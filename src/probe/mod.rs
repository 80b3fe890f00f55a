//! Linear truth probes: labelled statements -> cached activations -> probes per layer ->
//! readouts of a claim across checkpoints.
//!
//! - [`statements`]: probe datasets: `statement,label[,family][,polarity]` CSV files (the
//!   geometry-of-truth convention) and the built-in generated set, affirmative and negated;
//!   reads and writes `probes/*.csv`
//! - [`acts`]: the residual stream of every statement at every layer, streamed to HDF5
//!   (`probes/*.h5`, one `[n, d_model]` dataset per layer)
//! - [`logistic`]: L2 logistic regression for many layers at once (batched L-BFGS in tch), and
//!   the linfa-logistic reference
//! - [`probes`]: the methods (logistic, mass-mean, covariance-corrected mass-mean, TTPD's
//!   polarity-aware truth direction) and the saved probe folder (`probes.safetensors` +
//!   `probes.json`)
//! - accuracy and AUROC with bootstrap intervals are [`crate::stats::classify`]'s
//! - [`fit`]: the layer sweep: splits, per-layer fits, `fit.parquet` (accuracy on all,
//!   affirmative and negated held-out statements)
//! - [`generalise`]: probes fitted on one family and tested on another, every pair and layer:
//!   `probe_generalisation.parquet`
//! - [`readout`]: P(true) of a claim, its paraphrases and negations, per checkpoint and layer
//! - [`synthetic`]: activation sets with a planted direction (benchmark and tests)
//! - [`cli`]: the `cache` and `probe statements|fit|generalise|readout` verbs
//!
//! Probes are fitted on the base model's activations and applied unchanged to every checkpoint
//! of a finetuning run, so a readout shows how the model's internal truth direction rates the
//! claim as training goes on.

pub mod acts;
pub mod cli;
pub mod fit;
pub mod generalise;
pub mod logistic;
pub mod probes;
pub mod readout;
pub mod statements;
pub mod synthetic;
