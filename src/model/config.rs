//! HF `config.json` -> [`ModelConfig`], one normalised description of every supported decoder.
//!
//! The four supported `model_type`s (llama, qwen2, qwen3, gpt2) spell the same ideas with
//! different keys (`hidden_size` vs `n_embd`, `rope_theta` vs `rope_parameters.rope_theta`, ...).
//! Parsing reads the JSON value directly so that every error names the file and the key.

use anyhow::{bail, Context, Result};
use serde::Serialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The architecture families the decoder implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// Llama 2/3, SmolLM, Mistral-without-sliding-window.
    Llama,
    /// Qwen2 / Qwen2.5: q/k/v biases.
    Qwen2,
    /// Qwen3: per-head q/k RMSNorm, explicit head_dim.
    Qwen3,
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
    /// RMSNorm computed in f32, weight only.
    Rms,
    /// LayerNorm with weight and bias.
    Layer,
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
    /// Epsilon of every norm.
    pub norm_eps: f64,
    /// Position encoding.
    pub positions: Positions,
    /// Longest sequence the model supports.
    pub max_position_embeddings: i64,
    /// MLP activation.
    pub activation: Activation,
    /// SwiGLU-style gated MLP (gate/up/down) rather than fc/proj.
    pub gated_mlp: bool,
    /// Biases on q, k, v projections.
    pub qkv_bias: bool,
    /// Bias on the attention output projection.
    pub o_bias: bool,
    /// Biases on the MLP projections.
    pub mlp_bias: bool,
    /// Per-head RMSNorm on queries and keys (Qwen3).
    pub qk_norm: bool,
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
        let config = match model_type {
            "llama" | "qwen2" | "qwen3" => Self::llama_like(&keys, model_type)?,
            "gpt2" => Self::gpt2(&keys)?,
            other => bail!(
                "{}: unknown model_type `{other}` (supported: llama, qwen2, qwen3, gpt2)",
                file.display()
            ),
        };
        config.validate(file)?;
        Ok(config)
    }

    fn llama_like(keys: &Keys, model_type: &str) -> Result<Self> {
        let arch = match model_type {
            "llama" => Arch::Llama,
            "qwen2" => Arch::Qwen2,
            _ => Arch::Qwen3,
        };
        let file = keys.file;
        if keys.bool_or("use_sliding_window", false)? {
            bail!(
                "{}: sliding-window attention is not supported",
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
        let head_dim = keys.int_or("head_dim", hidden_size / num_heads)?;
        // Qwen2 always has q/k/v biases; Llama and Qwen3 follow `attention_bias`.
        let attention_bias = keys.bool_or("attention_bias", false)?;
        let (qkv_bias, o_bias) = match arch {
            Arch::Qwen2 => (true, false),
            _ => (attention_bias, attention_bias),
        };
        Ok(ModelConfig {
            arch,
            vocab_size: keys.int("vocab_size")?,
            hidden_size,
            intermediate_size: keys.int("intermediate_size")?,
            num_layers: keys.int("num_hidden_layers")?,
            num_heads,
            num_kv_heads,
            head_dim,
            norm: Norm::Rms,
            norm_eps: keys.float_or("rms_norm_eps", 1e-6)?,
            positions: Self::rope(keys)?,
            max_position_embeddings: keys.int_or("max_position_embeddings", 2048)?,
            activation: Activation::from_hf(keys.str_or("hidden_act", "silu")?, file)?,
            gated_mlp: true,
            qkv_bias,
            o_bias,
            mlp_bias: keys.bool_or("mlp_bias", false)?,
            qk_norm: arch == Arch::Qwen3,
            tie_word_embeddings: keys.bool_or("tie_word_embeddings", false)?,
            bos_token_id: keys.ids("bos_token_id")?.first().copied(),
            eos_token_ids: keys.ids("eos_token_id")?,
        })
    }

    /// RoPE settings: transformers 5 writes `rope_parameters`, older versions `rope_theta` and
    /// `rope_scaling`; both are read.
    fn rope(keys: &Keys) -> Result<Positions> {
        let file = keys.file;
        let params = keys
            .get("rope_parameters")
            .or_else(|| keys.get("rope_scaling"));
        let theta = match params.and_then(|p| p.get("rope_theta")) {
            Some(v) => v
                .as_f64()
                .with_context(|| format!("{}: `rope_theta` must be a number", file.display()))?,
            None => keys.float_or("rope_theta", 10000.0)?,
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
        Ok(ModelConfig {
            arch: Arch::Gpt2,
            vocab_size: keys.int("vocab_size")?,
            hidden_size,
            intermediate_size: keys.int_or("n_inner", 4 * hidden_size)?,
            num_layers: keys.int("n_layer")?,
            num_heads,
            num_kv_heads: num_heads,
            head_dim: hidden_size / num_heads,
            norm: Norm::Layer,
            norm_eps: keys.float_or("layer_norm_epsilon", 1e-5)?,
            positions: Positions::Learned,
            max_position_embeddings: keys.int("n_positions")?,
            activation: Activation::from_hf(keys.str_or("activation_function", "gelu_new")?, file)?,
            gated_mlp: false,
            qkv_bias: true,
            o_bias: true,
            mlp_bias: true,
            qk_norm: false,
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
        if matches!(self.positions, Positions::Rope { .. }) && self.head_dim % 2 != 0 {
            bail!(
                "{}: RoPE needs an even head_dim, found {}",
                file.display(),
                self.head_dim
            );
        }
        Ok(())
    }

    /// Number of parameters the decoder allocates (tied embeddings counted once).
    pub fn parameter_count(&self) -> i64 {
        let d = self.hidden_size;
        let q = self.num_heads * self.head_dim;
        let kv = self.num_kv_heads * self.head_dim;
        let norm_params = if self.norm == Norm::Layer { 2 * d } else { d };
        let attn = d * (q + 2 * kv)
            + q * d
            + if self.qkv_bias { q + 2 * kv } else { 0 }
            + if self.o_bias { d } else { 0 }
            + if self.qk_norm { 2 * self.head_dim } else { 0 };
        let i = self.intermediate_size;
        let mlp = if self.gated_mlp {
            3 * d * i + if self.mlp_bias { 2 * i + d } else { 0 }
        } else {
            2 * d * i + if self.mlp_bias { i + d } else { 0 }
        };
        let per_layer = attn + mlp + 2 * norm_params;
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
        embeddings + self.num_layers * per_layer + norm_params + head
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
