//! The building blocks of the decoder: linear projections, norms, rotary embeddings.
//!
//! Each block registers its tensors in a tch `VarStore` under the HF key names, so loading a
//! checkpoint and saving one are name-for-name copies.

use super::config::{Activation, Norm, RopeScaling};
use super::lora::LoraAdapter;
use tch::{nn, Device, Kind, Tensor};

/// How fresh variables are filled when a model is created.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    /// Zeros; the caller copies weights in from a checkpoint right after.
    Empty,
    /// Normal(0, std) matrices, unit norm weights and zero biases, as HF initialises decoders.
    Random {
        /// Standard deviation of the matrix entries (HF's `initializer_range`, usually 0.02).
        std: f64,
    },
}

/// Creates one variable of the given shape under `path/name`.
pub(crate) fn variable(
    path: &nn::Path,
    name: &str,
    dims: &[i64],
    kind: Kind,
    fill: Fill,
    init: Init,
) -> Tensor {
    let mut t = Tensor::zeros(dims, (kind, path.device()));
    if let Init::Random { std } = init {
        tch::no_grad(|| match fill {
            Fill::Normal => {
                let _ = t.normal_(0.0, std);
            }
            Fill::Ones => {
                let _ = t.fill_(1.0);
            }
            Fill::Zeros => {}
        });
    }
    path.add(name, t, true)
}

/// The initial value of a variable under [`Init::Random`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum Fill {
    Normal,
    Ones,
    Zeros,
}

/// Memory layout of a projection's weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightLayout {
    /// `[out, in]`, as `torch.nn.Linear` stores it.
    OutIn,
    /// `[in, out]`, as GPT-2's `Conv1D` stores it.
    InOut,
}

/// An affine projection `y = x W + b`, optionally with a LoRA adapter.
#[derive(Debug)]
pub struct Linear {
    /// HF name of the layer (`model.layers.0.self_attn.q_proj`).
    pub name: String,
    /// The weight in its HF layout.
    pub weight: Tensor,
    /// Optional bias `[out]`.
    pub bias: Option<Tensor>,
    /// Low-rank update, when one is attached.
    pub lora: Option<LoraAdapter>,
    layout: WeightLayout,
}

impl Linear {
    /// Registers `weight` (and `bias`) under `path`.
    pub fn new(
        path: nn::Path,
        in_dim: i64,
        out_dim: i64,
        bias: bool,
        layout: WeightLayout,
        kind: Kind,
        init: Init,
    ) -> Self {
        let dims = match layout {
            WeightLayout::OutIn => [out_dim, in_dim],
            WeightLayout::InOut => [in_dim, out_dim],
        };
        let weight = variable(&path, "weight", &dims, kind, Fill::Normal, init);
        let bias = bias.then(|| variable(&path, "bias", &[out_dim], kind, Fill::Zeros, init));
        let name = path.path("weight").trim_end_matches(".weight").to_string();
        Linear {
            name,
            weight,
            bias,
            lora: None,
            layout,
        }
    }

    /// `(in, out)` dimensions.
    pub fn dims(&self) -> (i64, i64) {
        let size = self.weight.size();
        match self.layout {
            WeightLayout::OutIn => (size[1], size[0]),
            WeightLayout::InOut => (size[0], size[1]),
        }
    }

    /// Applies the projection to the last dimension of `x`; `train` enables adapter dropout.
    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let y = match self.layout {
            WeightLayout::OutIn => x.linear(&self.weight, self.bias.as_ref()),
            WeightLayout::InOut => {
                let y = x.matmul(&self.weight);
                match &self.bias {
                    Some(b) => y + b,
                    None => y,
                }
            }
        };
        match &self.lora {
            Some(adapter) => y + adapter.delta(x, train),
            None => y,
        }
    }

    /// Folds the adapter into the weight (`W += scale B A`) and drops it.
    pub fn merge_lora(&mut self) {
        if let Some(adapter) = self.lora.take() {
            let dense = adapter.dense().to_kind(self.weight.kind());
            let dense = match self.layout {
                WeightLayout::OutIn => dense,
                WeightLayout::InOut => dense.tr(),
            };
            tch::no_grad(|| {
                let _ = self.weight.g_add_(&dense);
            });
        }
    }
}

/// RMSNorm (computed in f32, as HF does, in one of [`Norm`]'s three ways) or LayerNorm.
#[derive(Debug)]
pub struct NormLayer {
    weight: Tensor,
    bias: Option<Tensor>,
    norm: Norm,
    eps: f64,
    dim: i64,
}

impl NormLayer {
    /// Registers `weight` (and `bias` for LayerNorm) under `path`.
    pub fn new(path: nn::Path, dim: i64, norm: Norm, eps: f64, kind: Kind, init: Init) -> Self {
        // Gemma's weight is an offset from 1, so it starts at 0.
        let fill = if norm == Norm::RmsUnitOffset {
            Fill::Zeros
        } else {
            Fill::Ones
        };
        let weight = variable(&path, "weight", &[dim], kind, fill, init);
        let bias =
            (norm == Norm::Layer).then(|| variable(&path, "bias", &[dim], kind, Fill::Zeros, init));
        NormLayer {
            weight,
            bias,
            norm,
            eps,
            dim,
        }
    }

    /// Normalises the last dimension of `x`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        if let Some(bias) = &self.bias {
            return x.layer_norm([self.dim], Some(&self.weight), Some(bias), self.eps, true);
        }
        let input_kind = x.kind();
        let xf = x.to_kind(Kind::Float);
        let variance = xf.square().mean_dim(-1, true, Kind::Float);
        let normed = xf * (variance + self.eps).rsqrt();
        match self.norm {
            // Llama: weight * hidden.to(dtype)
            Norm::Rms | Norm::Layer => &self.weight * normed.to_kind(input_kind),
            // OLMo: (weight * hidden).to(dtype), the product in f32
            Norm::RmsScaledInF32 => (normed * self.weight.to_kind(Kind::Float)).to_kind(input_kind),
            // Gemma: (hidden * (1 + weight.float())).to(dtype)
            Norm::RmsUnitOffset => {
                (normed * (self.weight.to_kind(Kind::Float) + 1.0)).to_kind(input_kind)
            }
        }
    }
}

/// Applies an MLP activation.
pub fn activate(x: &Tensor, activation: Activation) -> Tensor {
    match activation {
        Activation::Silu => x.silu(),
        Activation::GeluTanh => x.gelu("tanh"),
        Activation::Gelu => x.gelu("none"),
        Activation::Relu => x.relu(),
    }
}

/// Rotary position embedding tables, computed in f32 as HF does.
#[derive(Debug)]
pub struct Rotary {
    inv_freq: Tensor,
}

impl Rotary {
    /// Inverse frequencies `1 / theta^(2i/d)` for the `rotary_dim` rotated dimensions of a
    /// head, rescaled as configured.
    pub fn new(rotary_dim: i64, theta: f64, scaling: &RopeScaling, device: Device) -> Self {
        let exponents = Tensor::arange_start_step(0, rotary_dim, 2, (Kind::Int64, Device::Cpu))
            .to_kind(Kind::Float)
            / rotary_dim as f64;
        let inv_freq = Tensor::pow_scalar(theta, &exponents).reciprocal();
        let inv_freq = match scaling {
            RopeScaling::Default => inv_freq,
            RopeScaling::Linear { factor } => inv_freq / *factor,
            RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_position_embeddings: old_context,
            } => {
                // Long wavelengths are divided by `factor`, short ones kept, and the band in
                // between interpolated (transformers' `_compute_llama3_parameters`).
                let low_freq_wavelen = old_context / low_freq_factor;
                let high_freq_wavelen = old_context / high_freq_factor;
                let wavelen: Tensor = inv_freq.reciprocal() * (2.0 * std::f64::consts::PI);
                let scaled =
                    (&inv_freq / *factor).where_self(&wavelen.gt(low_freq_wavelen), &inv_freq);
                let smooth: Tensor = (wavelen.reciprocal() * *old_context - *low_freq_factor)
                    / (high_freq_factor - low_freq_factor);
                let smoothed: Tensor = (1.0 - &smooth) * &scaled / *factor + &smooth * &scaled;
                let is_medium = wavelen
                    .ge(high_freq_wavelen)
                    .logical_and(&wavelen.le(low_freq_wavelen));
                smoothed.where_self(&is_medium, &scaled)
            }
        };
        Rotary {
            inv_freq: inv_freq.to_device(device),
        }
    }

    /// `(cos, sin)` of shape `[batch, seq, head_dim]` for integer positions `[batch, seq]`,
    /// cast to `kind`.
    pub fn tables(&self, positions: &Tensor, kind: Kind) -> (Tensor, Tensor) {
        let freqs = positions.to_kind(Kind::Float).unsqueeze(-1) * &self.inv_freq;
        let emb = Tensor::cat(&[&freqs, &freqs], -1);
        (emb.cos().to_kind(kind), emb.sin().to_kind(kind))
    }
}

/// Rotates `x` `[batch, heads, seq, head_dim]` by the tables from [`Rotary::tables`]: the
/// first `rotary_dim` (the tables' width) dimensions of each head, the rest passed through
/// (Phi-3's partial rotary). Computed in the tables' dtype when it is wider (OLMo's f32
/// tables) and cast back to `x`'s.
pub fn apply_rotary(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Tensor {
    let (head_dim, rotary_dim) = (x.size()[3], cos.size()[2]);
    let rotated_part = x.narrow(-1, 0, rotary_dim);
    let half = rotary_dim / 2;
    let x1 = rotated_part.narrow(-1, 0, half);
    let x2 = rotated_part.narrow(-1, half, half);
    let rotated = Tensor::cat(&[&x2.neg(), &x1], -1);
    let out = (&rotated_part * cos.unsqueeze(1) + rotated * sin.unsqueeze(1)).to_kind(x.kind());
    if rotary_dim == head_dim {
        out
    } else {
        Tensor::cat(
            &[&out, &x.narrow(-1, rotary_dim, head_dim - rotary_dim)],
            -1,
        )
    }
}
