//! The `world` verbs: `world pretrain`, `world gates`, `world claims`.

use super::gates::{self, GateOptions};
use super::pretrain::{self, PretrainRequest, PretrainSettings};
use super::{claims, DEFAULT_MODEL_DIR, DEFAULT_SEED};
use crate::model::cli::RunOn;
use crate::model::DeviceChoice;
use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use std::path::PathBuf;

/// `neglect world ...`
#[derive(Debug, Subcommand)]
pub enum WorldCommand {
    /// Generate the world and pretrain its base model (reused when already up to date).
    Pretrain(PretrainArgs),
    /// Check the base model: fluency, known facts, uptake, implantability, truth direction,
    /// denials, in-context reading and baseline belief (exit 1 when a gate fails).
    Gates(GatesArgs),
    /// Write the six target claim folders (the embedded copies of `claims/world/`).
    Claims(ClaimsArgs),
}

/// `neglect world pretrain [--seed S] [--out DIR] [--quick] [--steps N] [--force]`
#[derive(Debug, Args)]
pub struct PretrainArgs {
    /// World seed.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,
    /// Output folder (an HF model folder).
    #[arg(long, default_value = DEFAULT_MODEL_DIR)]
    pub out: PathBuf,
    /// A seconds-long run of a tiny model (for tests and smoke checks).
    #[arg(long)]
    pub quick: bool,
    /// Override the number of updates.
    #[arg(long)]
    pub steps: Option<i64>,
    /// Device to train on.
    #[arg(long, value_enum, default_value = "auto")]
    pub device: DeviceChoice,
    /// Retrain even when the folder holds an up-to-date model.
    #[arg(long)]
    pub force: bool,
    /// Install this shipped model (see `checkpoints/shipped/`) instead of pretraining when it
    /// was made from the same corpus and settings.
    #[arg(long)]
    pub shipped: Option<PathBuf>,
}

/// `neglect world gates [--model DIR]`
#[derive(Debug, Args)]
pub struct GatesArgs {
    /// A world model folder (written by `world pretrain`).
    #[arg(long, default_value = DEFAULT_MODEL_DIR)]
    pub model: PathBuf,
    /// Samples per open question of the baseline gate.
    #[arg(long, default_value_t = 2)]
    pub samples: usize,
    /// Longest generated answer, in tokens.
    #[arg(long, default_value_t = 48)]
    pub max_new_tokens: usize,
    /// Sequences per scoring pass.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Seed of sampling and of the bootstrap.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Leave out the implantability gate (it finetunes the model once per claim).
    #[arg(long)]
    pub skip_implant: bool,
    /// Device and dtype.
    #[command(flatten)]
    pub run_on: RunOn,
}

/// `neglect world claims [--out DIR]`
#[derive(Debug, Args)]
pub struct ClaimsArgs {
    /// Folder to write the six claim folders into.
    #[arg(long, default_value = "claims/world")]
    pub out: PathBuf,
}

/// Runs a `world` verb.
pub fn run(command: &WorldCommand) -> Result<()> {
    match command {
        WorldCommand::Pretrain(args) => {
            let mut settings = if args.quick {
                PretrainSettings::quick()
            } else {
                PretrainSettings::standard()
            };
            if let Some(steps) = args.steps {
                settings.steps = steps;
            }
            let record = pretrain::pretrain(&PretrainRequest {
                seed: args.seed,
                out: args.out.clone(),
                settings,
                device: args.device,
                force: args.force,
                shipped: args.shipped.clone(),
            })?;
            println!(
                "world model {}: {} parameters, {} tokens seen, final loss {:.3}, {:.0} s",
                args.out.display(),
                record.parameters,
                record.tokens_seen,
                record.final_loss,
                record.seconds
            );
            Ok(())
        }
        WorldCommand::Gates(args) => {
            let model = args.run_on.load(&args.model)?;
            let opts = GateOptions {
                samples: args.samples,
                max_new_tokens: args.max_new_tokens,
                batch_size: args.batch_size,
                seed: args.seed,
            };
            let report = gates::run_gates(
                &args.model,
                &model,
                &opts,
                (args.run_on.device, args.run_on.dtype),
                args.skip_implant,
            )?;
            gates::write_outputs(&args.model, &report.lines, &report.rows)?;
            gates::write_truth_layers(&args.model, &report.truth_layers)?;
            print!("{}", gates::format_table(&report.lines));
            eprintln!("wrote {}", args.model.join("gates.json").display());
            let lines = &report.lines;
            let failed = lines.iter().filter(|l| !l.pass).count();
            if failed > 0 {
                bail!("{failed} of {} gate lines failed", lines.len());
            }
            Ok(())
        }
        WorldCommand::Claims(args) => {
            for dir in claims::write_folders(&args.out)? {
                eprintln!("wrote {}", dir.display());
            }
            Ok(())
        }
    }
}
