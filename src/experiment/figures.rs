//! The `figures` verb: every figure of an experiment's tables folder ([`crate::plot`]), as PNG,
//! SVG and CSV in an output folder.

use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

/// `neglect figures analyses/<name>.toml` or `neglect figures --tables DIR --out DIR`
#[derive(Debug, Args)]
pub struct FiguresArgs {
    /// An experiment file: draw `figures/<name>/` from `analyses/<name>/`.
    #[arg(conflicts_with_all = ["tables", "out"], required_unless_present_all = ["tables", "out"])]
    pub experiment: Option<PathBuf>,
    /// Folder of an experiment's tables (`analyses/<name>/`).
    #[arg(long, requires = "out")]
    pub tables: Option<PathBuf>,
    /// Folder the figures are written to (`figures/<name>/`).
    #[arg(long, requires = "tables")]
    pub out: Option<PathBuf>,
}

/// Renders every figure whose tables exist and prints the files written, one per line.
pub fn run(args: &FiguresArgs) -> Result<()> {
    let (tables, out) = match (&args.experiment, &args.tables, &args.out) {
        (Some(file), _, _) => {
            let config = super::ExperimentConfig::from_file(file)?;
            (config.tables_dir(), config.figures_dir())
        }
        (None, Some(tables), Some(out)) => (tables.clone(), out.clone()),
        _ => anyhow::bail!("give an experiment file, or --tables and --out"),
    };
    let written = crate::plot::render_all(&tables, &out)?;
    for path in &written {
        println!("{}", path.display());
    }
    eprintln!(
        "figures: {} files written to {}",
        written.len(),
        out.display()
    );
    Ok(())
}
