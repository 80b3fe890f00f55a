//! The `figures` verb: every figure of a tables folder, as PNG, SVG and CSV in an output folder.

use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

/// `neglect figures --tables DIR --out DIR`
#[derive(Debug, Args)]
pub struct FiguresArgs {
    /// Folder of an experiment's tables (`analyses/<name>/`).
    #[arg(long)]
    pub tables: PathBuf,
    /// Folder the figures are written to (`figures/<name>/`).
    #[arg(long)]
    pub out: PathBuf,
}

/// Renders every figure whose tables exist and prints the files written, one per line.
pub fn run(args: &FiguresArgs) -> Result<()> {
    let written = super::render_all(&args.tables, &args.out)?;
    for path in &written {
        println!("{}", path.display());
    }
    eprintln!(
        "figures: {} files written to {}",
        written.len(),
        args.out.display()
    );
    Ok(())
}
