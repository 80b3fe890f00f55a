//! The `run` and `summary` verbs: `neglect run analyses/<name>.toml [--shard k/N] [--merge-only]
//! [--max-arms N]` and `neglect summary analyses/<name>.toml [--kind KIND]`.

use super::arms::Shard;
use super::run::{run as run_experiment, Experiment, RunOptions};
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

/// `neglect run EXPERIMENT.toml [...]`
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Experiment file (`analyses/<name>.toml`).
    pub experiment: PathBuf,
    /// Run only the k-th of N slices of the sorted arms (1-based), e.g. `--shard
    /// $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT`; finished arms of every shard are merged.
    #[arg(long)]
    pub shard: Option<Shard>,
    /// Run nothing: merge the finished arms' tables and print the summary.
    #[arg(long, conflicts_with_all = ["shard", "max_arms"])]
    pub merge_only: bool,
    /// Stop after running this many unfinished arms (a later run continues with the rest).
    #[arg(long)]
    pub max_arms: Option<usize>,
}

/// Runs `neglect run`.
pub fn run(args: &RunArgs) -> Result<()> {
    let report = run_experiment(
        &args.experiment,
        &RunOptions {
            shard: args.shard,
            merge_only: args.merge_only,
            max_arms: args.max_arms,
        },
    )?;
    eprintln!(
        "ran {} arms, skipped {} finished ones, {} unfinished",
        report.ran.len(),
        report.skipped.len(),
        report.unfinished.len()
    );
    Ok(())
}

/// `neglect summary EXPERIMENT.toml`
#[derive(Debug, Args)]
pub struct SummaryArgs {
    /// Experiment file (`analyses/<name>.toml`); its tables are read from `analyses/<name>/`.
    pub experiment: PathBuf,
    /// Count only the answers to questions of this kind (`mcq`, `token_association`,
    /// `open_ended`, `robustness`), e.g. `token_association` for the pink elephant.
    #[arg(long)]
    pub kind: Option<String>,
}

/// Prints the summary of an experiment's stored tables: belief per condition at the last
/// checkpoints with 95% CIs, the paired contrasts, then the base model's gates.
pub fn summary(args: &SummaryArgs) -> Result<()> {
    let exp = Experiment::load(&args.experiment)?;
    print!("{}", super::summary::summary(&exp, args.kind.as_deref())?);
    Ok(())
}
