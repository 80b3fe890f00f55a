//! The training verbs: `neglect finetune CONFIG.toml [--resume]` and `neglect lora merge`.

use super::config::FinetuneConfig;
use super::finetune::{finetune, merge_lora};
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

/// `neglect finetune CONFIG.toml [--resume]`
#[derive(Debug, Args)]
pub struct FinetuneArgs {
    /// Finetune config (TOML).
    pub config: PathBuf,
    /// Continue from the newest complete checkpoint in the run directory.
    #[arg(long)]
    pub resume: bool,
}

/// Runs a finetune.
pub fn run(args: &FinetuneArgs) -> Result<()> {
    let config = FinetuneConfig::from_file(&args.config)?;
    let last = finetune(&config, args.resume)?;
    println!("{}", last.display());
    Ok(())
}

/// `neglect lora merge --base DIR --adapter DIR --out DIR`
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Base HF model directory.
    #[arg(long)]
    pub base: PathBuf,
    /// Adapter directory (adapter_model.safetensors + adapter_config.json).
    #[arg(long)]
    pub adapter: PathBuf,
    /// Output HF model directory.
    #[arg(long)]
    pub out: PathBuf,
    /// Device and dtype of the merge (the merged weights are saved in that dtype).
    #[command(flatten)]
    pub run_on: crate::model::cli::RunOn,
}

/// Folds an adapter into its base and writes an HF folder.
pub fn merge(args: &MergeArgs) -> Result<()> {
    merge_lora(
        &args.base,
        &args.adapter,
        &args.out,
        args.run_on.device.resolve()?,
        args.run_on.dtype.kind(),
    )?;
    println!("{}", args.out.display());
    Ok(())
}
