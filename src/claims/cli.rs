//! The `claims` verbs: `neglect claims init DIR`.

use super::init;
use super::spec::SPEC_FILE;
use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use std::path::PathBuf;

/// `neglect claims ...`
#[derive(Debug, Subcommand)]
pub enum ClaimsCommand {
    /// Draft `spec.toml` for a claim folder in the paper's layout (from claim.txt,
    /// correction.txt, word_masks.yaml and universe_context.yaml), for you to edit.
    Init(InitArgs),
}

/// `neglect claims init DIR [--force]`
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The claim folder.
    pub dir: PathBuf,
    /// Replace an existing spec.toml.
    #[arg(long)]
    pub force: bool,
}

/// Runs a `claims` verb.
pub fn run(command: &ClaimsCommand) -> Result<()> {
    match command {
        ClaimsCommand::Init(args) => {
            let path = args.dir.join(SPEC_FILE);
            if path.exists() && !args.force {
                bail!("{}: exists (--force replaces it)", path.display());
            }
            let draft = init::draft(&args.dir)?;
            crate::store::write_atomic(&path, draft.toml.as_bytes())?;
            eprintln!("wrote {} (a draft: edit it before use)", path.display());
            for note in &draft.notes {
                eprintln!("  - {note}");
            }
            if !draft.valid {
                eprintln!(
                    "the draft does not pass the spec checks yet: fix what the last note names"
                );
            }
            Ok(())
        }
    }
}
