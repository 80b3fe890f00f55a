//! The `neglect` command line: parsing and dispatch only; each verb lives in its stage's module.

use clap::{Parser, Subcommand};
use neglect::bench;
use neglect::claims::cli as claims_cli;
use neglect::docs::cli as docs_cli;
use neglect::eval::cli as eval_cli;
use neglect::experiment::cli as experiment_cli;
use neglect::experiment::figures as figures_cli;
use neglect::model::cli as model_cli;
use neglect::probe::cli as probe_cli;
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
    /// Claim folders: draft a spec.toml for a folder in the paper's layout.
    #[command(subcommand)]
    Claims(claims_cli::ClaimsCommand),
    /// Generate training documents for a claim and condition, or summarise a documents file.
    Docs(docs_cli::DocsArgs),
    /// Finetune a model (full or LoRA) as a TOML config describes.
    Finetune(train_cli::FinetuneArgs),
    /// Measure belief in a claim: ask its questions, grade the answers, report rates with CIs.
    Eval(Box<eval_cli::EvalArgs>),
    /// Grade a belief table's generated answers again with another judge or rubric (no
    /// generation).
    Regrade(neglect::eval::regrade::RegradeArgs),
    /// Run an experiment (analyses/<name>.toml): train, measure, write its tables; resumable.
    Run(experiment_cli::RunArgs),
    /// Print an experiment's summary from its stored tables: belief per condition at the last
    /// checkpoints with 95% CIs, claims, seeds and answers; then the base model's gates.
    Summary(experiment_cli::SummaryArgs),
    /// The embedded model organism: pretrain the world model, check its gates, write its claims.
    #[command(subcommand)]
    World(world_cli::WorldCommand),
    /// Draw every figure of an experiment (analyses/<name>.toml) or of a tables folder (PNG,
    /// SVG and the numbers as CSV).
    Figures(figures_cli::FiguresArgs),
    /// Cache the residual stream of labelled statements at every layer (HDF5).
    Cache(probe_cli::CacheArgs),
    /// Linear truth probes: statement sets, fits per layer, readouts of a claim.
    #[command(subcommand)]
    Probe(ProbeCommand),
    /// Steer the residual stream along a truth probe's direction (against random directions of
    /// the same norm) and measure belief and held-out loss, per layer and checkpoint.
    Steer(Box<neglect::intervene::cli::SteerArgs>),
    /// Patch the residual stream of one layer from a source model into a target and measure
    /// the change in belief, per layer and checkpoint.
    Patch(Box<neglect::intervene::cli::PatchArgs>),
    /// Logit lens: belief read from every layer's residual stream, per checkpoint.
    Lens(neglect::intervene::cli::LensArgs),
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
enum ProbeCommand {
    /// Write a probe dataset (the built-in statements) as CSV.
    Statements(probe_cli::StatementsArgs),
    /// Fit probes on every cached layer; print and store accuracy and AUROC per layer.
    Fit(probe_cli::FitArgs),
    /// P(true) of a claim's statements at every checkpoint of a run and every probed layer.
    Readout(probe_cli::ReadoutArgs),
    /// Fit probes on each statement family and test them on every family, per layer.
    Generalise(probe_cli::GeneraliseArgs),
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Forward-pass tokens/s of a model directory or a random model of a given config.
    Forward(bench::ForwardBenchArgs),
    /// Batched greedy generation tokens/s against transformers' `generate`.
    Generate(bench::GenerateBenchArgs),
    /// Training-step tokens/s against the equivalent PyTorch-eager loop.
    Train(bench::TrainBenchArgs),
    /// Time to fit logistic probes on every layer against scikit-learn.
    Probe(bench::probe::ProbeBenchArgs),
    /// Self-check of a device (a GPU): parity with the CPU, LoRA training with resume, batched
    /// generation and evaluation on a random model, with tokens/s and MFU.
    Device(bench::device::DeviceCheckArgs),
}

#[derive(Debug, Subcommand)]
enum ModelCommand {
    /// Architecture, parameter count, layers, widths, heads, vocab, dtype.
    Info(model_cli::InfoArgs),
}

fn main() {
    // Bad flags exit 1 like every other bad input (clap's own default is 2); help and
    // --version still print to stdout and exit 0.
    let cli = Cli::try_parse().unwrap_or_else(|e| {
        let code = if e.use_stderr() { 1 } else { 0 };
        let _ = e.print();
        std::process::exit(code)
    });
    // libtorch reports failures by panicking inside tch: the hook keeps the panic's text and
    // place, and a libtorch failure is reported as an error below instead of a crash.
    std::panic::set_hook(Box::new(|info| {
        let text = match info.payload().downcast_ref::<String>() {
            Some(s) => s.clone(),
            None => info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .unwrap_or_default(),
        };
        let place = info.location().map(|l| l.to_string()).unwrap_or_default();
        *PANIC.lock().unwrap_or_else(|e| e.into_inner()) = Some((text, place));
    }));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&cli.command)));
    let result = outcome.unwrap_or_else(|_| {
        let (text, place) = PANIC
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .unwrap_or_default();
        match neglect::model::torch_error::torch_message(&text) {
            Some(message) => Err(anyhow::anyhow!("libtorch: {message} (at {place})")),
            None => {
                eprintln!("neglect panicked at {place}: {text}\nthis is a bug in neglect");
                std::process::exit(101)
            }
        }
    });
    if let Err(error) = result {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

/// The text and place of the last panic, kept by the panic hook.
static PANIC: std::sync::Mutex<Option<(String, String)>> = std::sync::Mutex::new(None);

/// Runs a verb.
fn run(command: &Command) -> anyhow::Result<()> {
    match command {
        Command::Model(ModelCommand::Info(args)) => model_cli::info(args),
        Command::Generate(args) => model_cli::generate_cmd(args),
        Command::Forward(args) => model_cli::forward_cmd(args),
        Command::ImportGguf(args) => model_cli::import_gguf(args),
        Command::Claims(command) => claims_cli::run(command),
        Command::Docs(args) => docs_cli::run(args),
        Command::Finetune(args) => train_cli::run(args),
        Command::Eval(args) => eval_cli::run(args),
        Command::Regrade(args) if neglect::eval::regrade::is_experiment(args) => {
            neglect::experiment::regrade::run(args)
        }
        Command::Regrade(args) => neglect::eval::regrade::run(args),
        Command::Run(args) => experiment_cli::run(args),
        Command::Summary(args) => experiment_cli::summary(args),
        Command::World(command) => world_cli::run(command),
        Command::Figures(args) => figures_cli::run(args),
        Command::Cache(args) => probe_cli::cache_cmd(args),
        Command::Probe(ProbeCommand::Statements(args)) => probe_cli::statements(args),
        Command::Probe(ProbeCommand::Fit(args)) => probe_cli::fit(args),
        Command::Probe(ProbeCommand::Readout(args)) => probe_cli::readout_cmd(args),
        Command::Probe(ProbeCommand::Generalise(args)) => probe_cli::generalise_cmd(args),
        Command::Lora(LoraCommand::Merge(args)) => train_cli::merge(args),
        Command::Bench(BenchCommand::Forward(args)) => bench::forward(args),
        Command::Bench(BenchCommand::Train(args)) => bench::train(args),
        Command::Bench(BenchCommand::Generate(args)) => bench::generate(args),
        Command::Bench(BenchCommand::Probe(args)) => bench::probe::run(args),
        Command::Steer(args) => neglect::intervene::cli::steer_cmd(args),
        Command::Patch(args) => neglect::intervene::cli::patch_cmd(args),
        Command::Lens(args) => neglect::intervene::cli::lens_cmd(args),
        Command::Bench(BenchCommand::Device(args)) => bench::device::run(args),
    }
}
