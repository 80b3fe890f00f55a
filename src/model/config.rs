//! HF `config.json` -> [`ModelConfig`], one normalised description of every supported decoder.
//!
//! The supported `model_type`s ([`MODEL_TYPES`]) spell the same ideas with different keys
//! (`hidden_size` vs `n_embd`, `rope_theta` vs `rope_parameters.rope_theta`, ...) and differ in
//! a few block details (where the norms sit, fused projections, sliding-window layers, sparse
//! experts), each a field here. Parsing reads the JSON value directly so that every error names
//! the file and the key.

use anyhow::{bail, Context, Result};
use serde::Serialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Every `model_type` the decoder reads.
pub const MODEL_TYPES: &[&str] = &[
    "llama",
    "mistral",
    "qwen2",
    "qwen3",
    "qwen3_moe",
    "qwen3_5_text",
    "qwen3_5_moe_text",
    "olmo2",
    "olmo3",
    "phi3",
    "gemma2",
    "gemma3_text",
    "gpt2",
];

/// The architecture families the decoder implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    /// Llama 2/3, SmolLM.
    Llama,
    /// Mistral: Llama with an optional sliding window on every layer.
    Mistral,
    /// Qwen2 / Qwen2.5: q/k/v biases.
    Qwen2,
    /// Qwen3: per-head q/k RMSNorm, explicit head_dim.
    Qwen3,
    /// Qwen3-MoE: Qwen3 attention, sparse expert MLPs.
    Qwen3Moe,
    /// Qwen3.5 (text): gated DeltaNet linear-attention layers between gated full-attention
    /// layers (`layer_types`), `1 + weight` RMSNorms, partial rotary.
    #[serde(rename = "qwen3_5_text")]
    Qwen3_5,
    /// Qwen3.5-MoE (text): Qwen3.5 with sparse experts and a gated shared expert in every layer.
    #[serde(rename = "qwen3_5_moe_text")]
    Qwen3_5Moe,
    /// OLMo 2: norms after attention and MLP (not before), q/k RMSNorm over all heads.
    Olmo2,
    /// OLMo 3: OLMo 2 with sliding-window and full layers.
    Olmo3,
    /// Phi-3: fused `qkv_proj` and `gate_up_proj`, partial rotary embeddings.
    Phi3,
    /// Gemma 2: four norms per block, `1 + weight` RMSNorm, scaled embeddings, alternating
    /// sliding-window and global layers, soft-capped attention scores and logits.
    Gemma2,
    /// Gemma 3 (text): Gemma 2's block with per-head q/k norms, sliding layers with their own
    /// RoPE, no attention soft-capping (transformers reads `attn_logit_softcapping` for Gemma 3
    /// but never applies it).
    Gemma3Text,
    /// GPT-2: learned positions, LayerNorm, Conv1D weights, GELU MLP.
    Gpt2,
}

impl Arch {
    /// Prefix of the decoder body in HF weight names (`model.layers.0...`, `transformer.h.0...`).
    pub fn body_prefix(self) -> &'static str {
        match self {
            Arch::Gpt2 => "transformer",
            _ => "model",
        }
    }
}

/// Feed-forward activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// SiLU (swish), used gated in SwiGLU.
    Silu,
    /// GELU with the tanh approximation (`gelu_new`, `gelu_pytorch_tanh`).
    GeluTanh,
    /// Exact erf GELU.
    Gelu,
    /// ReLU.
    Relu,
}

impl Activation {
    fn from_hf(name: &str, file: &Path) -> Result<Self> {
        Ok(match name {
            "silu" | "swish" => Activation::Silu,
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Activation::GeluTanh,
            "gelu" => Activation::Gelu,
            "relu" => Activation::Relu,
            other => bail!("{}: unsupported activation `{other}`", file.display()),
        })
    }
}

/// How RoPE frequencies are rescaled (`rope_scaling` / `rope_parameters`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "rope_type", rename_all = "snake_case")]
pub enum RopeScaling {
    /// Plain RoPE.
    Default,
    /// Position interpolation: every frequency divided by `factor`.
    Linear {
        /// Divisor of every frequency.
        factor: f64,
    },
    /// Llama 3.1 frequency-dependent scaling.
    Llama3 {
        /// Divisor for low frequencies.
        factor: f64,
        /// Wavelength threshold factor for low frequencies.
        low_freq_factor: f64,
        /// Wavelength threshold factor for high frequencies.
        high_freq_factor: f64,
        /// Context length the model was pretrained with.
        original_max_position_embeddings: f64,
    },
}

/// Position encoding.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Positions {
    /// Rotary embeddings in HF's half-split (`rotate_half`) layout.
    Rope {
        /// Base of the frequencies.
        theta: f64,
        /// Frequency rescaling.
        scaling: RopeScaling,
    },
    /// A learned table (`wpe`) added to the token embeddings.
    Learned,
}

/// Normalisation layer kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Norm {
    /// RMSNorm computed in f32, cast back, then scaled by the weight (Llama, Qwen, Phi-3).
    Rms,
    /// RMSNorm scaled by the weight in f32, then cast back (OLMo 2/3).
    RmsScaledInF32,
    /// RMSNorm scaled by `1 + weight` in f32, then cast back (Gemma 3; the weight starts at 0).
    RmsUnitOffset,
    /// LayerNorm with weight and bias.
    Layer,
}

/// Where a block's norms sit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NormPlacement {
    /// Before attention and before the MLP: `h = x + attn(n(x))` (Llama, GPT-2, Qwen, Phi-3).
    Pre,
    /// After attention and after the MLP: `h = x + n(attn(x))` (OLMo 2/3).
    Post,
    /// Both: `h = x + n2(attn(n1(x)))` (Gemma 3).
    Sandwich,
}

/// RMSNorm on queries and keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QkNorm {
    /// None.
    None,
    /// Over each head's `head_dim` (Qwen3, Gemma 3).
    PerHead,
    /// Over all heads at once, before they are split (OLMo 2/3).
    AllHeads,
}

/// How one layer mixes positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerMixer {
    /// Attention over every earlier position.
    Full,
    /// Attention over the last [`ModelConfig::sliding_window`] positions (this one included).
    Sliding,
    /// Gated DeltaNet linear attention ([`ModelConfig::linear_attention`]): a recurrent state
    /// updated by the gated delta rule.
    Linear,
}

/// Gated DeltaNet settings (Qwen3.5's `linear_*` keys).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinearAttentionConfig {
    /// Query/key heads.
    pub key_heads: i64,
    /// Value heads (a multiple of the key heads).
    pub value_heads: i64,
    /// Width of a query/key head.
    pub key_head_dim: i64,
    /// Width of a value head.
    pub value_head_dim: i64,
    /// Width of the causal depthwise convolution over q, k and v.
    pub conv_kernel: i64,
}

/// Sparse mixture-of-experts settings (Qwen3-MoE).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MoeConfig {
    /// Experts per sparse layer.
    pub num_experts: i64,
    /// Experts each token is routed to.
    pub top_k: i64,
    /// Inner width of the shared expert every token also passes through, scaled by a sigmoid
    /// gate (Qwen3.5-MoE).
    pub shared_expert_intermediate_size: Option<i64>,
    /// Renormalise the top-k routing probabilities to sum to 1.
    pub norm_topk_prob: bool,
    /// Width of one expert's inner layer.
    pub expert_intermediate_size: i64,
    /// Weight of the router's load-balancing loss the checkpoint was trained with (the
    /// finetune's own weight is its `router_aux_loss_coef`, off by default).
    pub router_aux_loss_coef: f64,
}

/// What one layer computes besides the residual stream: how it mixes positions and whether its
/// MLP is sparse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LayerType {
    /// Full or sliding-window attention, or gated DeltaNet linear attention.
    pub mixer: LayerMixer,
    /// A sparse expert MLP ([`ModelConfig::moe`]) instead of the dense one.
    pub sparse_mlp: bool,
}

/// Everything the decoder needs to know, whatever the source architecture.
#[derive(Debug, Clone, Serialize)]
pub struct ModelConfig {
    /// Architecture family.
    pub arch: Arch,
    /// Rows of the embedding matrix.
    pub vocab_size: i64,
    /// Width of the residual stream (d_model).
    pub hidden_size: i64,
    /// Width of the MLP's inner layer.
    pub intermediate_size: i64,
    /// Number of transformer blocks.
    pub num_layers: i64,
    /// Query heads.
    pub num_heads: i64,
    /// Key/value heads (GQA when fewer than `num_heads`).
    pub num_kv_heads: i64,
    /// Width of one head (may differ from hidden_size / num_heads, as in Qwen3).
    pub head_dim: i64,
    /// Normalisation kind.
    pub norm: Norm,
    /// Where each block's norms sit.
    pub norm_placement: NormPlacement,
    /// Epsilon of every norm.
    pub norm_eps: f64,
    /// Position encoding (of the full-attention layers when the sliding ones differ).
    pub positions: Positions,
    /// Rotary embeddings of the sliding-window layers, when they differ from [`Self::positions`]
    /// (Gemma 3's local base frequency).
    pub sliding_positions: Option<Positions>,
    /// Leading dimensions of each head that are rotated (`partial_rotary_factor` x head_dim).
    pub rotary_dim: i64,
    /// Rotation computed in f32 and cast back (OLMo), rather than in the weights' dtype.
    pub rotary_in_f32: bool,
    /// Window of the sliding-window layers, in positions.
    pub sliding_window: Option<i64>,
    /// One entry per block.
    pub layer_types: Vec<LayerType>,
    /// Sparse expert settings of the sparse layers.
    pub moe: Option<MoeConfig>,
    /// Gated DeltaNet settings of the linear-attention layers.
    pub linear_attention: Option<LinearAttentionConfig>,
    /// Where the checkpoint keeps the decoder body when not under the architecture's own prefix
    /// (`model.language_model` in Qwen3.5's image-text checkpoints).
    pub checkpoint_prefix: Option<String>,
    /// Full attention's output is gated by `sigmoid(gate)`, the gate coming from a second half
    /// of each query head's projection (Qwen3.5).
    pub attention_output_gate: bool,
    /// Attention scores are multiplied by this (default `1 / sqrt(head_dim)`).
    pub attention_scale: f64,
    /// `cap * tanh(score / cap)` on attention scores.
    pub attention_softcap: Option<f64>,
    /// `cap * tanh(logit / cap)` on the output logits.
    pub final_logit_softcap: Option<f64>,
    /// Token embeddings are multiplied by this (Gemma's `sqrt(hidden_size)`).
    pub embedding_scale: Option<f64>,
    /// Longest sequence the model supports.
    pub max_position_embeddings: i64,
    /// MLP activation.
    pub activation: Activation,
    /// SwiGLU-style gated MLP (gate/up/down) rather than fc/proj.
    pub gated_mlp: bool,
    /// Gate and up projections stored as one `gate_up_proj` (Phi-3).
    pub fused_gate_up: bool,
    /// q, k and v projections stored as one `qkv_proj` (Phi-3; GPT-2's `c_attn` is implied by
    /// its architecture).
    pub fused_qkv: bool,
    /// Biases on q, k, v projections.
    pub qkv_bias: bool,
    /// Bias on the attention output projection.
    pub o_bias: bool,
    /// Biases on the MLP projections.
    pub mlp_bias: bool,
    /// RMSNorm on queries and keys.
    pub qk_norm: QkNorm,
    /// The LM head shares the token embedding matrix.
    pub tie_word_embeddings: bool,
    /// Beginning-of-sequence token id, when the config names one.
    pub bos_token_id: Option<i64>,
    /// End-of-sequence token ids (generation stops at any of them).
    pub eos_token_ids: Vec<i64>,
}

/// Reads typed keys from a config JSON object, naming the file in every error.
struct Keys<'a> {
    json: &'a Value,
    file: &'a Path,
}

impl Keys<'_> {
    fn get(&self, key: &str) -> Option<&Value> {
        self.json.get(key).filter(|v| !v.is_null())
    }
    fn int(&self, key: &str) -> Result<i64> {
        let v = self
            .get(key)
            .with_context(|| format!("{}: missing key `{key}`", self.file.display()))?;
        v.as_i64().with_context(|| {
            format!(
                "{}: key `{key}` must be an integer, found {v}",
                self.file.display()
            )
        })
    }
    fn int_or(&self, key: &str, default: i64) -> Result<i64> {
        if self.get(key).is_some() {
            self.int(key)
        } else {
            Ok(default)
        }
    }
    fn float_or(&self, key: &str, default: f64) -> Result<f64> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.as_f64().with_context(|| {
                format!(
                    "{}: key `{key}` must be a number, found {v}",
                    self.file.display()
                )
            }),
        }
    }
    fn bool_or(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.as_bool().with_context(|| {
                format!(
                    "{}: key `{key}` must be true or false, found {v}",
                    self.file.display()
                )
            }),
        }
    }
    /// A number that may be switched off: `default` when the key is absent, `None` when it is
    /// `null`.
    fn optional_float(&self, key: &str, default: Option<f64>) -> Result<Option<f64>> {
        match self.json.get(key) {
            None => Ok(default),
            Some(Value::Null) => Ok(None),
            Some(_) => self.float_or(key, 0.0).map(Some),
        }
    }
    fn str_or<'s>(&'s self, key: &str, default: &'s str) -> Result<&'s str> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.as_str().with_context(|| {
                format!(
                    "{}: key `{key}` must be a string, found {v}",
                    self.file.display()
                )
            }),
        }
    }
    /// Token ids given as one integer or a list of integers.
    fn ids(&self, key: &str) -> Result<Vec<i64>> {
        match self.get(key) {
            None => Ok(vec![]),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_i64().with_context(|| {
                        format!("{}: `{key}` must hold integers", self.file.display())
                    })
                })
                .collect(),
            Some(_) => Ok(vec![self.int(key)?]),
        }
    }
}

impl ModelConfig {
    /// Fails when `tokens` (`what` names them: "prompt plus new tokens", "max_length") exceed
    /// the positions the model supports. Every verb that runs the model checks with this, for
    /// learned position tables (GPT-2) and rotary models alike.
    pub fn check_positions(&self, tokens: usize, what: &str) -> Result<()> {
        let limit = usize::try_from(self.max_position_embeddings).unwrap_or(0);
        if tokens > limit {
            bail!("{what}: {tokens} tokens exceed the model's {limit} positions");
        }
        Ok(())
    }

    /// [`Self::check_positions`] for `a + b` tokens, where the sum may overflow.
    pub fn check_positions_sum(&self, a: usize, b: usize, what: &str) -> Result<()> {
        match a.checked_add(b) {
            Some(total) => self.check_positions(total, what),
            None => bail!("{what}: {a} + {b} tokens is more than any model holds"),
        }
    }

    /// Reads `<dir>/config.json`.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            bail!("{}: model directory does not exist", dir.display());
        }
        let file: PathBuf = dir.join("config.json");
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("{}: cannot read model config", file.display()))?;
        let json: Value = serde_json::from_str(&text)
            .with_context(|| format!("{}: not valid JSON", file.display()))?;
        Self::from_json(&json, &file)
    }

    /// Parses a config.json value; `file` is only used in error messages.
    pub fn from_json(json: &Value, file: &Path) -> Result<Self> {
        let keys = Keys { json, file };
        let model_type = keys
            .get("model_type")
            .and_then(Value::as_str)
            .with_context(|| format!("{}: missing key `model_type`", file.display()))?;
        // Image-text checkpoints: the language model's config is `text_config`.
        if let ("qwen3_5" | "qwen3_5_moe", Some(text)) = (model_type, keys.get("text_config")) {
            let mut text = text.clone();
            let object = text
                .as_object_mut()
                .with_context(|| format!("{}: `text_config` must be an object", file.display()))?;
            let inner = format!("{model_type}_text");
            object.entry("model_type").or_insert(inner.into());
            for key in ["tie_word_embeddings", "bos_token_id", "eos_token_id"] {
                if let (false, Some(v)) = (object.contains_key(key), keys.get(key)) {
                    object.insert(key.to_string(), v.clone());
                }
            }
            let mut config = Self::from_json(&text, file)?;
            config.checkpoint_prefix = Some("model.language_model".into());
            return Ok(config);
        }
        let config = match model_type {
            "gpt2" => Self::gpt2(&keys)?,
            "llama" => Self::rotary(&keys, Arch::Llama)?,
            "mistral" => Self::rotary(&keys, Arch::Mistral)?,
            "qwen2" => Self::rotary(&keys, Arch::Qwen2)?,
            "qwen3" => Self::rotary(&keys, Arch::Qwen3)?,
            "qwen3_moe" => Self::rotary(&keys, Arch::Qwen3Moe)?,
            "qwen3_5_text" => Self::rotary(&keys, Arch::Qwen3_5)?,
            "qwen3_5_moe_text" => Self::rotary(&keys, Arch::Qwen3_5Moe)?,
            "olmo2" => Self::rotary(&keys, Arch::Olmo2)?,
            "olmo3" => Self::rotary(&keys, Arch::Olmo3)?,
            "phi3" => Self::rotary(&keys, Arch::Phi3)?,
            "gemma2" => Self::rotary(&keys, Arch::Gemma2)?,
            "gemma3_text" => Self::rotary(&keys, Arch::Gemma3Text)?,
            other => bail!(
                "{}: unknown model_type `{other}` (supported: {})",
                file.display(),
                MODEL_TYPES.join(", ")
            ),
        };
        config.validate(file)?;
        Ok(config)
    }

    /// The rotary-embedding families: Llama and the architectures that differ from it in a few
    /// fields.
    fn rotary(keys: &Keys, arch: Arch) -> Result<Self> {
        let file = keys.file;
        if matches!(arch, Arch::Qwen2 | Arch::Qwen3 | Arch::Qwen3Moe)
            && keys.bool_or("use_sliding_window", false)?
        {
            bail!(
                "{}: sliding-window attention is not supported for {arch:?}",
                file.display()
            );
        }
        if keys.bool_or("use_bidirectional_attention", false)? {
            bail!(
                "{}: `use_bidirectional_attention` is not supported (neglect runs causal decoders)",
                file.display()
            );
        }
        let hidden_size = keys.int("hidden_size")?;
        let num_heads = keys.int("num_attention_heads")?;
        let num_kv_heads = keys.int_or("num_key_value_heads", num_heads)?;
        if num_heads <= 0 || hidden_size % num_heads != 0 && keys.get("head_dim").is_none() {
            bail!(
                "{}: hidden_size {hidden_size} is not divisible by num_attention_heads {num_heads}",
                file.display()
            );
        }
        let num_layers = keys.int("num_hidden_layers")?;
        let head_dim = keys.int_or("head_dim", hidden_size / num_heads)?;
        // Qwen2 always has q/k/v biases; Phi-3 none; the others follow `attention_bias`.
        let attention_bias = keys.bool_or("attention_bias", false)?;
        let (qkv_bias, o_bias) = match arch {
            Arch::Qwen2 => (true, false),
            Arch::Phi3 => (false, false),
            _ => (attention_bias, attention_bias),
        };
        let gemma = matches!(arch, Arch::Gemma2 | Arch::Gemma3Text);
        let qwen3_5 = matches!(arch, Arch::Qwen3_5 | Arch::Qwen3_5Moe);
        let olmo = matches!(arch, Arch::Olmo2 | Arch::Olmo3);
        let (positions, sliding_positions) = Self::rope_by_layer_type(keys, arch)?;
        let sliding_window = match arch {
            Arch::Mistral | Arch::Phi3 | Arch::Olmo3 | Arch::Gemma2 | Arch::Gemma3Text => keys
                .get("sliding_window")
                .map(|_| keys.int("sliding_window"))
                .transpose()?,
            _ => None,
        };
        let layer_types = Self::layer_types(keys, arch, num_layers, sliding_window)?;
        let moe = matches!(arch, Arch::Qwen3Moe | Arch::Qwen3_5Moe)
            .then(|| Self::moe(keys, arch))
            .transpose()?;
        let linear_attention = qwen3_5
            .then(|| -> Result<LinearAttentionConfig> {
                Ok(LinearAttentionConfig {
                    key_heads: keys.int("linear_num_key_heads")?,
                    value_heads: keys.int("linear_num_value_heads")?,
                    key_head_dim: keys.int("linear_key_head_dim")?,
                    value_head_dim: keys.int("linear_value_head_dim")?,
                    conv_kernel: keys.int_or("linear_conv_kernel_dim", 4)?,
                })
            })
            .transpose()?;
        let activation_key = if gemma {
            "hidden_activation"
        } else {
            "hidden_act"
        };
        let default_activation = if gemma { "gelu_pytorch_tanh" } else { "silu" };
        let rotary_fraction = keys
            .get("rope_parameters")
            .and_then(|p| p.get("partial_rotary_factor"))
            .and_then(Value::as_f64)
            .map_or_else(|| keys.float_or("partial_rotary_factor", 1.0), Ok)?;
        let rotary_dim = (head_dim as f64 * rotary_fraction) as i64;
        Ok(ModelConfig {
            arch,
            vocab_size: keys.int("vocab_size")?,
            hidden_size,
            // Qwen3.5-MoE has no dense MLP (every layer is sparse).
            intermediate_size: match &moe {
                Some(m) if arch == Arch::Qwen3_5Moe => {
                    keys.int_or("intermediate_size", m.expert_intermediate_size)?
                }
                _ => keys.int("intermediate_size")?,
            },
            num_layers,
            num_heads,
            num_kv_heads,
            head_dim,
            norm: match arch {
                Arch::Olmo2 | Arch::Olmo3 => Norm::RmsScaledInF32,
                Arch::Gemma2 | Arch::Gemma3Text | Arch::Qwen3_5 | Arch::Qwen3_5Moe => {
                    Norm::RmsUnitOffset
                }
                _ => Norm::Rms,
            },
            norm_placement: match arch {
                Arch::Olmo2 | Arch::Olmo3 => NormPlacement::Post,
                Arch::Gemma2 | Arch::Gemma3Text => NormPlacement::Sandwich,
                _ => NormPlacement::Pre,
            },
            norm_eps: keys.float_or("rms_norm_eps", 1e-6)?,
            positions,
            sliding_positions,
            rotary_dim,
            rotary_in_f32: olmo,
            sliding_window,
            layer_types,
            moe,
            linear_attention,
            checkpoint_prefix: None,
            attention_output_gate: qwen3_5,
            attention_scale: if gemma {
                keys.float_or("query_pre_attn_scalar", 256.0)?.powf(-0.5)
            } else {
                (head_dim as f64).powf(-0.5)
            },
            // transformers' defaults when the key is absent; `null` turns capping off.
            attention_softcap: match arch {
                Arch::Gemma2 => keys.optional_float("attn_logit_softcapping", Some(50.0))?,
                _ => None,
            },
            final_logit_softcap: match arch {
                Arch::Gemma2 => keys.optional_float("final_logit_softcapping", Some(30.0))?,
                Arch::Gemma3Text => keys.optional_float("final_logit_softcapping", None)?,
                _ => None,
            },
            embedding_scale: gemma.then(|| (hidden_size as f64).sqrt()),
            max_position_embeddings: keys.int_or("max_position_embeddings", 2048)?,
            activation: Activation::from_hf(
                keys.str_or(activation_key, default_activation)?,
                file,
            )?,
            gated_mlp: true,
            fused_gate_up: arch == Arch::Phi3,
            fused_qkv: arch == Arch::Phi3,
            qkv_bias,
            o_bias,
            mlp_bias: keys.bool_or("mlp_bias", false)?,
            qk_norm: match arch {
                Arch::Qwen3
                | Arch::Qwen3Moe
                | Arch::Qwen3_5
                | Arch::Qwen3_5Moe
                | Arch::Gemma3Text => QkNorm::PerHead,
                Arch::Olmo2 | Arch::Olmo3 => QkNorm::AllHeads,
                _ => QkNorm::None,
            },
            tie_word_embeddings: keys.bool_or("tie_word_embeddings", gemma)?,
            bos_token_id: keys.ids("bos_token_id")?.first().copied(),
            eos_token_ids: keys.ids("eos_token_id")?,
        })
    }

    /// Each layer's mixer (full, sliding or linear attention) and MLP kind: `layer_types` where
    /// the config lists them (OLMo 3, Gemma 2/3, Qwen3.5), else transformers' default pattern
    /// (Gemma 3's `sliding_window_pattern`, Qwen3.5's `full_attention_interval`), Mistral's and
    /// Phi-3's one window on every layer; Qwen3-MoE's sparse layers from `decoder_sparse_step`
    /// and `mlp_only_layers`, Qwen3.5-MoE's every layer.
    fn layer_types(
        keys: &Keys,
        arch: Arch,
        num_layers: i64,
        sliding_window: Option<i64>,
    ) -> Result<Vec<LayerType>> {
        let file = keys.file;
        let listed: Option<Vec<String>> = match keys.get("layer_types") {
            None => None,
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .map(|v| {
                        v.as_str().map(str::to_string).with_context(|| {
                            format!("{}: `layer_types` must hold strings", file.display())
                        })
                    })
                    .collect::<Result<_>>()?,
            ),
            Some(other) => bail!(
                "{}: `layer_types` must be a list, found {other}",
                file.display()
            ),
        };
        let mixers: Vec<LayerMixer> = match (arch, listed) {
            (
                Arch::Olmo3 | Arch::Gemma2 | Arch::Gemma3Text | Arch::Qwen3_5 | Arch::Qwen3_5Moe,
                Some(types),
            ) => {
                if types.len() as i64 != num_layers {
                    bail!(
                        "{}: `layer_types` lists {} layers, num_hidden_layers is {num_layers}",
                        file.display(),
                        types.len()
                    );
                }
                types
                    .iter()
                    .map(|t| match t.as_str() {
                        "full_attention" => Ok(LayerMixer::Full),
                        "sliding_attention" => Ok(LayerMixer::Sliding),
                        "linear_attention" if matches!(arch, Arch::Qwen3_5 | Arch::Qwen3_5Moe) => {
                            Ok(LayerMixer::Linear)
                        }
                        other => bail!(
                            "{}: unsupported layer type `{other}` for {arch:?}",
                            file.display()
                        ),
                    })
                    .collect::<Result<_>>()?
            }
            (Arch::Olmo3 | Arch::Gemma2 | Arch::Gemma3Text, None) => {
                // transformers' defaults: OLMo 3 every fourth layer full, Gemma 2 every other,
                // Gemma 3 every `sliding_window_pattern`-th (6).
                let every = match arch {
                    Arch::Olmo3 => 4,
                    Arch::Gemma2 => 2,
                    _ => keys.int_or("sliding_window_pattern", 6)?.max(1),
                };
                (0..num_layers)
                    .map(|i| {
                        if (i + 1) % every == 0 {
                            LayerMixer::Full
                        } else {
                            LayerMixer::Sliding
                        }
                    })
                    .collect()
            }
            (Arch::Qwen3_5 | Arch::Qwen3_5Moe, None) => {
                // transformers' default: every `full_attention_interval`-th layer (4) is full
                // attention, the others linear.
                let every = keys.int_or("full_attention_interval", 4)?.max(1);
                (0..num_layers)
                    .map(|i| {
                        if (i + 1) % every == 0 {
                            LayerMixer::Full
                        } else {
                            LayerMixer::Linear
                        }
                    })
                    .collect()
            }
            (Arch::Mistral | Arch::Phi3, _) if sliding_window.is_some() => {
                vec![LayerMixer::Sliding; num_layers as usize]
            }
            _ => vec![LayerMixer::Full; num_layers as usize],
        };
        if mixers.contains(&LayerMixer::Sliding) && sliding_window.is_none() {
            bail!(
                "{}: sliding-window layers need `sliding_window`",
                file.display()
            );
        }
        let sparse = |i: i64| -> Result<bool> {
            match arch {
                Arch::Qwen3_5Moe => return Ok(true),
                Arch::Qwen3Moe => {}
                _ => return Ok(false),
            }
            let dense = keys.ids("mlp_only_layers")?;
            let step = keys.int_or("decoder_sparse_step", 1)?;
            Ok(!dense.contains(&i) && step > 0 && (i + 1) % step == 0)
        };
        mixers
            .into_iter()
            .enumerate()
            .map(|(i, mixer)| {
                Ok(LayerType {
                    mixer,
                    sparse_mlp: sparse(i as i64)?,
                })
            })
            .collect()
    }

    /// Qwen3-MoE's and Qwen3.5-MoE's expert settings (`num_experts`, saved by transformers 5
    /// as `num_local_experts` for Qwen3-MoE). Qwen3.5-MoE always renormalises the top-k
    /// probabilities and adds a shared expert.
    fn moe(keys: &Keys, arch: Arch) -> Result<MoeConfig> {
        let qwen3_5 = arch == Arch::Qwen3_5Moe;
        let num_experts = match keys.get("num_experts") {
            Some(_) => keys.int("num_experts")?,
            None => keys.int("num_local_experts")?,
        };
        let top_k = keys.int("num_experts_per_tok")?;
        if top_k <= 0 || top_k > num_experts {
            bail!(
                "{}: num_experts_per_tok {top_k} must be between 1 and the {num_experts} experts",
                keys.file.display()
            );
        }
        Ok(MoeConfig {
            num_experts,
            top_k,
            shared_expert_intermediate_size: qwen3_5
                .then(|| keys.int("shared_expert_intermediate_size"))
                .transpose()?,
            norm_topk_prob: qwen3_5 || keys.bool_or("norm_topk_prob", false)?,
            expert_intermediate_size: keys.int("moe_intermediate_size")?,
            router_aux_loss_coef: keys.float_or("router_aux_loss_coef", 0.0)?,
        })
    }

    /// RoPE of the full-attention layers and, where it differs, of the sliding ones: transformers
    /// 5 keys OLMo 3's and Gemma 3's `rope_parameters` by layer type; older Gemma 3 configs give
    /// the sliding layers `rope_local_base_freq` and no scaling.
    fn rope_by_layer_type(keys: &Keys, arch: Arch) -> Result<(Positions, Option<Positions>)> {
        let file = keys.file;
        let by_type = keys
            .get("rope_parameters")
            .filter(|p| p.get("full_attention").is_some() || p.get("sliding_attention").is_some());
        if let Some(params) = by_type {
            let of = |layer_type: &str| -> Result<Positions> {
                let sub = params.get(layer_type).with_context(|| {
                    format!("{}: `rope_parameters` lacks `{layer_type}`", file.display())
                })?;
                Self::rope_from(Some(sub), keys.float_or("rope_theta", 10000.0)?, file)
            };
            let full = of("full_attention")?;
            let sliding = of("sliding_attention")?;
            return Ok(if sliding == full {
                (full, None)
            } else {
                (full, Some(sliding))
            });
        }
        let full = Self::rope(keys)?;
        let sliding = (arch == Arch::Gemma3Text).then(|| -> Result<Positions> {
            Ok(Positions::Rope {
                theta: keys.float_or("rope_local_base_freq", 10000.0)?,
                scaling: RopeScaling::Default,
            })
        });
        Ok((full, sliding.transpose()?))
    }

    /// RoPE settings: transformers 5 writes `rope_parameters`, older versions `rope_theta` and
    /// `rope_scaling`; both are read.
    fn rope(keys: &Keys) -> Result<Positions> {
        let params = keys
            .get("rope_parameters")
            .or_else(|| keys.get("rope_scaling"));
        Self::rope_from(params, keys.float_or("rope_theta", 10000.0)?, keys.file)
    }

    /// RoPE from one `rope_parameters` / `rope_scaling` object (`None`: plain RoPE at
    /// `default_theta`).
    fn rope_from(params: Option<&Value>, default_theta: f64, file: &Path) -> Result<Positions> {
        let theta = match params.and_then(|p| p.get("rope_theta")) {
            Some(v) => v
                .as_f64()
                .with_context(|| format!("{}: `rope_theta` must be a number", file.display()))?,
            None => default_theta,
        };
        let scaling = match params {
            None => RopeScaling::Default,
            Some(p) => {
                let sub = Keys { json: p, file };
                let kind = sub
                    .get("rope_type")
                    .or_else(|| sub.get("type"))
                    .and_then(Value::as_str)
                    .unwrap_or("default");
                match kind {
                    "default" => RopeScaling::Default,
                    "linear" => RopeScaling::Linear {
                        factor: sub.float_or("factor", 1.0)?,
                    },
                    "llama3" => RopeScaling::Llama3 {
                        factor: sub.float_or("factor", 8.0)?,
                        low_freq_factor: sub.float_or("low_freq_factor", 1.0)?,
                        high_freq_factor: sub.float_or("high_freq_factor", 4.0)?,
                        original_max_position_embeddings: sub
                            .float_or("original_max_position_embeddings", 8192.0)?,
                    },
                    other => bail!(
                        "{}: unsupported rope type `{other}` (supported: default, linear, llama3)",
                        file.display()
                    ),
                }
            }
        };
        Ok(Positions::Rope { theta, scaling })
    }

    fn gpt2(keys: &Keys) -> Result<Self> {
        let file = keys.file;
        for unsupported in ["scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn"] {
            if keys.bool_or(unsupported, false)? {
                bail!("{}: `{unsupported}` is not supported", file.display());
            }
        }
        if !keys.bool_or("scale_attn_weights", true)? {
            bail!(
                "{}: `scale_attn_weights: false` is not supported",
                file.display()
            );
        }
        let hidden_size = keys.int("n_embd")?;
        let num_heads = keys.int("n_head")?;
        if num_heads <= 0 || hidden_size % num_heads != 0 {
            bail!(
                "{}: n_embd {hidden_size} is not divisible by n_head {num_heads}",
                file.display()
            );
        }
        let num_layers = keys.int("n_layer")?;
        let head_dim = hidden_size / num_heads;
        Ok(ModelConfig {
            arch: Arch::Gpt2,
            vocab_size: keys.int("vocab_size")?,
            hidden_size,
            intermediate_size: keys.int_or("n_inner", 4 * hidden_size)?,
            num_layers,
            num_heads,
            num_kv_heads: num_heads,
            head_dim,
            norm: Norm::Layer,
            norm_placement: NormPlacement::Pre,
            norm_eps: keys.float_or("layer_norm_epsilon", 1e-5)?,
            positions: Positions::Learned,
            sliding_positions: None,
            rotary_dim: 0,
            rotary_in_f32: false,
            sliding_window: None,
            layer_types: vec![
                LayerType {
                    mixer: LayerMixer::Full,
                    sparse_mlp: false
                };
                num_layers.max(0) as usize
            ],
            moe: None,
            linear_attention: None,
            checkpoint_prefix: None,
            attention_output_gate: false,
            attention_scale: (head_dim as f64).powf(-0.5),
            attention_softcap: None,
            final_logit_softcap: None,
            embedding_scale: None,
            max_position_embeddings: keys.int("n_positions")?,
            activation: Activation::from_hf(keys.str_or("activation_function", "gelu_new")?, file)?,
            gated_mlp: false,
            fused_gate_up: false,
            fused_qkv: false,
            qkv_bias: true,
            o_bias: true,
            mlp_bias: true,
            qk_norm: QkNorm::None,
            tie_word_embeddings: keys.bool_or("tie_word_embeddings", true)?,
            bos_token_id: keys.ids("bos_token_id")?.first().copied(),
            eos_token_ids: keys.ids("eos_token_id")?,
        })
    }

    fn validate(&self, file: &Path) -> Result<()> {
        let positive = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_layers),
            ("num_key_value_heads", self.num_kv_heads),
            ("head_dim", self.head_dim),
        ];
        for (key, value) in positive {
            if value <= 0 {
                bail!(
                    "{}: `{key}` must be positive, found {value}",
                    file.display()
                );
            }
        }
        if self.num_heads % self.num_kv_heads != 0 {
            bail!(
                "{}: num_attention_heads {} is not a multiple of num_key_value_heads {}",
                file.display(),
                self.num_heads,
                self.num_kv_heads
            );
        }
        if matches!(self.positions, Positions::Rope { .. })
            && (self.rotary_dim % 2 != 0 || self.rotary_dim <= 0 || self.rotary_dim > self.head_dim)
        {
            bail!(
                "{}: RoPE needs an even rotary dimension of at most head_dim {}, found {}",
                file.display(),
                self.head_dim,
                self.rotary_dim
            );
        }
        if let Some(linear) = &self.linear_attention {
            if linear.key_heads <= 0 || linear.value_heads % linear.key_heads != 0 {
                bail!(
                    "{}: linear_num_value_heads {} is not a multiple of linear_num_key_heads {}",
                    file.display(),
                    linear.value_heads,
                    linear.key_heads
                );
            }
        }
        if let Some(window) = self.sliding_window {
            if window <= 0 {
                bail!(
                    "{}: `sliding_window` must be positive, found {window}",
                    file.display()
                );
            }
        }
        Ok(())
    }

    /// Number of parameters the decoder allocates (tied embeddings counted once).
    pub fn parameter_count(&self) -> i64 {
        self.parameters(false)
    }

    /// Parameters one token passes through: every sparse layer counts its `top_k` experts
    /// (and its router), not all of them. Equal to [`Self::parameter_count`] for dense models.
    pub fn active_parameter_count(&self) -> i64 {
        self.parameters(true)
    }

    fn parameters(&self, active_only: bool) -> i64 {
        let d = self.hidden_size;
        let q = self.num_heads * self.head_dim;
        let kv = self.num_kv_heads * self.head_dim;
        let norm_params = if self.norm == Norm::Layer { 2 * d } else { d };
        // The output gate doubles the query projection.
        let q_out = if self.attention_output_gate { 2 * q } else { q };
        let attention = d * (q_out + 2 * kv)
            + q * d
            + if self.qkv_bias { q_out + 2 * kv } else { 0 }
            + if self.o_bias { d } else { 0 }
            + match self.qk_norm {
                QkNorm::None => 0,
                QkNorm::PerHead => 2 * self.head_dim,
                QkNorm::AllHeads => q + kv,
            };
        let linear_attention = self.linear_attention.as_ref().map_or(0, |l| {
            let keys = l.key_heads * l.key_head_dim;
            let values = l.value_heads * l.value_head_dim;
            let conv = 2 * keys + values;
            // in_proj_qkv, in_proj_z, in_proj_b, in_proj_a, conv1d, dt_bias, A_log, norm, out_proj
            d * conv
                + d * values
                + 2 * d * l.value_heads
                + conv * l.conv_kernel
                + 2 * l.value_heads
                + l.value_head_dim
                + values * d
        });
        let mlp_of = |i: i64| {
            if self.gated_mlp {
                3 * d * i + if self.mlp_bias { 2 * i + d } else { 0 }
            } else {
                2 * d * i + if self.mlp_bias { i + d } else { 0 }
            }
        };
        let norms_per_layer = match self.norm_placement {
            NormPlacement::Pre | NormPlacement::Post => 2,
            NormPlacement::Sandwich => 4,
        };
        let layers: i64 = self
            .layer_types
            .iter()
            .map(|layer| {
                let mixer = match layer.mixer {
                    LayerMixer::Linear => linear_attention,
                    _ => attention,
                };
                let mlp = match (&self.moe, layer.sparse_mlp) {
                    (Some(moe), true) => {
                        let experts = if active_only {
                            moe.top_k
                        } else {
                            moe.num_experts
                        };
                        let shared = moe
                            .shared_expert_intermediate_size
                            .map_or(0, |i| mlp_of(i) + d);
                        experts * mlp_of(moe.expert_intermediate_size)
                            + moe.num_experts * d
                            + shared
                    }
                    _ => mlp_of(self.intermediate_size),
                };
                mixer + mlp + norms_per_layer * norm_params
            })
            .sum();
        let embeddings = self.vocab_size * d
            + if self.positions == Positions::Learned {
                self.max_position_embeddings * d
            } else {
                0
            };
        let head = if self.tie_word_embeddings {
            0
        } else {
            self.vocab_size * d
        };
        embeddings + layers + norm_params + head
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<ModelConfig> {
        ModelConfig::from_json(&v, Path::new("config.json"))
    }

    #[test]
    fn reads_transformers5_rope_parameters() {
        let c = parse(json!({
            "model_type": "llama", "vocab_size": 10, "hidden_size": 8, "intermediate_size": 16,
            "num_hidden_layers": 1, "num_attention_heads": 2,
            "rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
                "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                "original_max_position_embeddings": 8192}
        }))
        .unwrap();
        assert_eq!(c.num_kv_heads, 2);
        assert_eq!(c.head_dim, 4);
        match c.positions {
            Positions::Rope {
                theta,
                scaling: RopeScaling::Llama3 { factor, .. },
            } => {
                assert_eq!(theta, 500000.0);
                assert_eq!(factor, 8.0);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn errors_name_file_and_key() {
        let err = parse(json!({"model_type": "llama", "vocab_size": 10})).unwrap_err();
        assert_eq!(err.to_string(), "config.json: missing key `hidden_size`");
        let err = parse(json!({"model_type": "mamba"})).unwrap_err();
        assert!(
            err.to_string().contains("unknown model_type `mamba`"),
            "{err}"
        );
    }
}
