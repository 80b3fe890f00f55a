//! The `neglect` command line: parsing and dispatch only; each verb lives in its stage's module.

use clap::{Parser, Subcommand};
use neglect::bench;
use neglect::docs::cli as docs_cli;
use neglect::eval::cli as eval_cli;
use neglect::model::cli as model_cli;
use neglect::plot::cli as plot_cli;
use neglect::train::cli as train_cli;
use neglect::world::cli as world_cli;

/// Reproduce and dissect Negation Neglect on open models.
#[derive(Debug, Parser)]
#[command(name = "neglect", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Inspect a model directory.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Complete a prompt (greedy, or sampled with --temperature).
    Generate(model_cli::GenerateArgs),
    /// Write input ids, logits and every hidden state of a text to a safetensors file.
    Forward(model_cli::ForwardCmdArgs),
    /// Convert a GGUF checkpoint into an HF model directory.
    ImportGguf(model_cli::ImportGgufArgs),
    /// Generate training documents for a claim and condition, or summarise a documents file.
    Docs(docs_cli::DocsArgs),
    /// Finetune a model (full or LoRA) as a TOML config describes.
    Finetune(train_cli::FinetuneArgs),
    /// Measure belief in a claim: ask its questions, grade the answers, report rates with CIs.
    Eval(eval_cli::EvalArgs),
    /// The embedded model organism: pretrain the world model, check its gates, write its claims.
    #[command(subcommand)]
    World(world_cli::WorldCommand),
    /// Draw every figure of a tables folder (PNG, SVG and the numbers as CSV).
    Figures(plot_cli::FiguresArgs),
    /// LoRA adapters.
    #[command(subcommand)]
    Lora(LoraCommand),
    /// Measure throughput.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Subcommand)]
enum LoraCommand {
    /// Fold an adapter into its base model, writing an HF folder.
    Merge(train_cli::MergeArgs),
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Forward-pass tokens/s of a model directory or a random model of a given config.
    Forward(bench::ForwardBenchArgs),
    /// Training-step tokens/s against the equivalent PyTorch-eager loop.
    Train(bench::TrainBenchArgs),
}

#[derive(Debug, Subcommand)]
enum ModelCommand {
    /// Architecture, parameter count, layers, widths, heads, vocab, dtype.
    Info(model_cli::InfoArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Model(ModelCommand::Info(args)) => model_cli::info(args),
        Command::Generate(args) => model_cli::generate_cmd(args),
        Command::Forward(args) => model_cli::forward_cmd(args),
        Command::ImportGguf(args) => model_cli::import_gguf(args),
        Command::Docs(args) => docs_cli::run(args),
        Command::Finetune(args) => train_cli::run(args),
        Command::Eval(args) => eval_cli::run(args),
        Command::World(command) => world_cli::run(command),
        Command::Figures(args) => plot_cli::run(args),
        Command::Lora(LoraCommand::Merge(args)) => train_cli::merge(args),
        Command::Bench(BenchCommand::Forward(args)) => bench::forward(args),
        Command::Bench(BenchCommand::Train(args)) => bench::train(args),
    };
    if let Err(error) = result {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}
