//! The training engine: full and LoRA finetuning through libtorch.
//!
//! In: a finetune config (model folder, JSONL data sources with sampling and loss weights,
//! held-out sets, recipe, checkpoint schedule). Out: a run directory of checkpoints, per-step
//! metrics and held-out loss by token kind (see [`finetune`]).
//!
//! - [`data`]: JSONL records -> per-token loss weights and kinds -> packed batches
//! - [`optim`]: AdamW with saveable state, learning-rate schedules, gradient clipping
//! - [`schedule`]: checkpoint steps
//! - [`config`]: the TOML config
//! - [`finetune`]: the loop, checkpoints, resume, held-out loss, LoRA merge
//! - [`cli`]: the `finetune` and `lora merge` verbs

pub mod cli;
pub mod config;
pub mod data;
pub mod finetune;
pub mod optim;
pub mod schedule;
