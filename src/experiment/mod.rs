//! Experiments defined in TOML: the study's arms run end to end, with resume and sharding.
//!
//! In: an experiment file `analyses/<name>.toml` ([`config::ExperimentConfig`]): a base model,
//! claim folders, conditions, seeds, a document count, a finetune recipe, evaluation, held-out
//! and probe settings. Each arm (claim x condition x seed, [`arms`]) is: documents
//! ([`crate::docs`]) -> finetune ([`crate::train`]) -> belief at every checkpoint
//! ([`crate::eval`]) -> held-out loss by token kind -> probe readouts ([`crate::probe`]).
//!
//! Out (files read and written):
//! - `checkpoints/<name>/<arm>/`: `data/` (documents, chats, constraint set, held-out sets),
//!   `finetune.toml`, and the finetune run (`step-<N>/`, `train.parquet`, `loss.parquet`);
//! - `analyses/<name>/arms/<arm>/`: the arm's `belief.parquet`, `loss.parquet`,
//!   `probe.parquet`, then `done.json` (the arm is finished; a rerun skips it);
//! - `analyses/<name>/`: `belief.parquet`, `loss.parquet`, `probe.parquet` (the finished
//!   arms' tables concatenated in sorted arm order), `probe_fit.parquet`, `probes/` (the base
//!   model's activations `acts.h5` and the fitted probes `fit/`), `experiment.toml` (a copy of
//!   the file), `manifest.json`, `judge_cache/` (HTTP judge only).
//!
//! `neglect figures analyses/<name>.toml` then draws `figures/<name>/` from the tables alone
//! ([`crate::plot`]).
//!
//! - [`config`]: the experiment file
//! - [`arms`]: arms, their names, sharding
//! - [`prepare`]: an arm's data and finetune config
//! - the per-arm tables and their merge are [`crate::tables`]
//! - [`run`]: the orchestrator (loop, resume, layout)
//! - [`summary`]: belief per condition and the base model's gates, as a table to read
//! - [`cli`]: the `run` and `summary` verbs
//! - [`figures`]: the `figures` verb
//! - [`regrade`]: the `regrade` verb on an experiment

pub mod arms;
pub mod cli;
pub mod config;
pub mod dissect;
pub mod figures;
pub mod prepare;
pub mod regrade;
pub mod run;
pub mod summary;

pub use config::ExperimentConfig;
pub use run::{merge, run, Experiment, RunOptions, RunReport};
