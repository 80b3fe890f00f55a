//! Self-attention of every supported family: q/k/v projections (separate, Phi-3's fused
//! `qkv_proj` or GPT-2's `c_attn`), optional q/k RMSNorm (per head or over all heads), rotary
//! embeddings (whole or partial), the KV cache, grouped-query attention and optional score
//! soft-capping, and the output projection.

use super::config::{Arch, LayerMixer, ModelConfig, QkNorm};
use super::layers::{apply_rotary, Init, Linear, NormLayer, WeightLayout};
use tch::{nn, Device, Kind, Tensor};

/// How attention is restricted in one pass.
pub(crate) enum AttentionMask {
    /// Square causal attention (no cache): SDPA's built-in causal path.
    Causal,
    /// Every key visible (a single new token after a cache).
    None,
    /// An explicit boolean mask `[batch or 1, 1, seq, kv_len]`, true where allowed.
    Explicit(Tensor),
}

impl AttentionMask {
    fn shallow_clone(&self) -> Self {
        match self {
            AttentionMask::Causal => AttentionMask::Causal,
            AttentionMask::None => AttentionMask::None,
            AttentionMask::Explicit(m) => AttentionMask::Explicit(m.shallow_clone()),
        }
    }

    /// The boolean mask `[.., seq, kv_len]` this stands for (`None` when everything is allowed).
    fn explicit(&self, seq: i64, kv_len: i64, device: Device) -> Option<Tensor> {
        match self {
            AttentionMask::Causal => {
                let q = Tensor::arange_start(kv_len - seq, kv_len, (Kind::Int64, device));
                let k = Tensor::arange(kv_len, (Kind::Int64, device));
                Some(k.unsqueeze(0).le_tensor(&q.unsqueeze(1)))
            }
            AttentionMask::None => None,
            AttentionMask::Explicit(m) => Some(m.shallow_clone()),
        }
    }

    /// This mask restricted to the last `window` positions: query `i` (at index `past + i`)
    /// sees key `j` only when `past + i - j < window`, as transformers' sliding-window mask.
    /// Each query also sees itself, so a padding query whose window holds only padding attends
    /// to something (real queries see themselves already).
    pub(crate) fn sliding(&self, window: i64, past: i64, seq: i64, device: Device) -> Self {
        let kv_len = past + seq;
        if kv_len <= window {
            return self.shallow_clone();
        }
        let q = Tensor::arange_start(past, kv_len, (Kind::Int64, device)).unsqueeze(1);
        let k = Tensor::arange(kv_len, (Kind::Int64, device)).unsqueeze(0);
        let within = k.gt_tensor(&(&q - window));
        let itself = k.eq_tensor(&q);
        let allowed = match self.explicit(seq, kv_len, device) {
            Some(m) => m.logical_and(&within).logical_or(&itself),
            None => within,
        };
        let allowed = if allowed.dim() == 2 {
            allowed.view([1, 1, seq, kv_len])
        } else {
            allowed
        };
        AttentionMask::Explicit(allowed)
    }
}

/// What every layer of one forward pass shares: rotary tables and masks, for full-attention
/// layers and (where the model has them) sliding-window ones.
pub(crate) struct PassContext {
    /// `(cos, sin)` of the full layers (of every layer when the sliding ones share them).
    pub rope: Option<(Tensor, Tensor)>,
    /// `(cos, sin)` of the sliding layers when their RoPE differs.
    pub sliding_rope: Option<(Tensor, Tensor)>,
    /// Mask of the full layers.
    pub mask: AttentionMask,
    /// Mask of the sliding layers, when the model has any.
    pub sliding_mask: Option<AttentionMask>,
    /// Real tokens `[batch, seq]` for linear-attention layers (see
    /// [`super::decoder::ForwardArgs::real_tokens`]).
    pub real_tokens: Option<Tensor>,
}

impl PassContext {
    fn rope(&self, mixer: LayerMixer) -> Option<&(Tensor, Tensor)> {
        match (mixer, &self.sliding_rope) {
            (LayerMixer::Sliding, Some(tables)) => Some(tables),
            _ => self.rope.as_ref(),
        }
    }

    fn mask(&self, mixer: LayerMixer) -> &AttentionMask {
        match (mixer, &self.sliding_mask) {
            (LayerMixer::Sliding, Some(mask)) => mask,
            _ => &self.mask,
        }
    }
}

#[derive(Debug)]
enum Projections {
    /// Separate q/k/v projections (Llama, Qwen, Gemma, OLMo).
    Split { q: Linear, k: Linear, v: Linear },
    /// One projection whose output is q, k and v side by side (GPT-2's `c_attn`, Phi-3's
    /// `qkv_proj`).
    Fused(Linear),
}

/// One layer's self-attention.
#[derive(Debug)]
pub(crate) struct Attention {
    qkv: Projections,
    out: Linear,
    q_norm: Option<NormLayer>,
    k_norm: Option<NormLayer>,
    qk_norm: QkNorm,
    mixer: LayerMixer,
    output_gate: bool,
    num_heads: i64,
    num_kv_heads: i64,
    head_dim: i64,
    scale: f64,
    softcap: Option<f64>,
}

impl Attention {
    /// Registers layer `index`'s attention under `path`.
    pub(crate) fn new(
        path: nn::Path,
        cfg: &ModelConfig,
        index: usize,
        kind: Kind,
        init: Init,
    ) -> Self {
        let d = cfg.hidden_size;
        let q_dim = cfg.num_heads * cfg.head_dim;
        let kv_dim = cfg.num_kv_heads * cfg.head_dim;
        let linear = |name: &str, i, o, bias, layout| {
            Linear::new(&path / name, i, o, bias, layout, kind, init)
        };
        let (qkv, out) = match cfg.arch {
            Arch::Gpt2 => (
                Projections::Fused(linear("c_attn", d, 3 * d, true, WeightLayout::InOut)),
                linear("c_proj", d, d, true, WeightLayout::InOut),
            ),
            _ => {
                // Qwen3.5's query projection also yields a gate per head.
                let q_out = if cfg.attention_output_gate {
                    2 * q_dim
                } else {
                    q_dim
                };
                let qkv = if cfg.fused_qkv {
                    Projections::Fused(linear(
                        "qkv_proj",
                        d,
                        q_dim + 2 * kv_dim,
                        cfg.qkv_bias,
                        WeightLayout::OutIn,
                    ))
                } else {
                    Projections::Split {
                        q: linear("q_proj", d, q_out, cfg.qkv_bias, WeightLayout::OutIn),
                        k: linear("k_proj", d, kv_dim, cfg.qkv_bias, WeightLayout::OutIn),
                        v: linear("v_proj", d, kv_dim, cfg.qkv_bias, WeightLayout::OutIn),
                    }
                };
                (
                    qkv,
                    linear("o_proj", q_dim, d, cfg.o_bias, WeightLayout::OutIn),
                )
            }
        };
        let norm = |name: &str, dim: i64| {
            NormLayer::new(&path / name, dim, cfg.norm, cfg.norm_eps, kind, init)
        };
        let (q_norm, k_norm) = match cfg.qk_norm {
            QkNorm::None => (None, None),
            QkNorm::PerHead => (
                Some(norm("q_norm", cfg.head_dim)),
                Some(norm("k_norm", cfg.head_dim)),
            ),
            QkNorm::AllHeads => (Some(norm("q_norm", q_dim)), Some(norm("k_norm", kv_dim))),
        };
        Attention {
            qkv,
            out,
            q_norm,
            k_norm,
            qk_norm: cfg.qk_norm,
            mixer: cfg.layer_types[index].mixer,
            output_gate: cfg.attention_output_gate,
            num_heads: cfg.num_heads,
            num_kv_heads: cfg.num_kv_heads,
            head_dim: cfg.head_dim,
            scale: cfg.attention_scale,
            softcap: cfg.attention_softcap,
        }
    }

    /// The q/k/v projections and the output projection, in order.
    pub(crate) fn linears_mut(&mut self) -> Vec<&mut Linear> {
        let mut out: Vec<&mut Linear> = match &mut self.qkv {
            Projections::Split { q, k, v } => vec![q, k, v],
            Projections::Fused(fused) => vec![fused],
        };
        out.push(&mut self.out);
        out
    }

    /// Attends `x` `[b, s, d]` (already normed where the block norms first), reading and
    /// extending the layer's cache `slot`.
    pub(crate) fn forward(
        &self,
        x: &Tensor,
        ctx: &PassContext,
        cache: Option<&mut Option<(Tensor, Tensor)>>,
        train: bool,
    ) -> Tensor {
        let (b, s) = (x.size()[0], x.size()[1]);
        let q_dim = self.num_heads * self.head_dim;
        let kv_dim = self.num_kv_heads * self.head_dim;
        // 1. project to q, k, v
        let (q, k, v) = match &self.qkv {
            Projections::Split { q, k, v } => (
                q.forward(x, train),
                k.forward(x, train),
                v.forward(x, train),
            ),
            Projections::Fused(fused) => {
                let qkv = fused
                    .forward(x, train)
                    .split_with_sizes([q_dim, kv_dim, kv_dim], -1);
                (
                    qkv[0].shallow_clone(),
                    qkv[1].shallow_clone(),
                    qkv[2].shallow_clone(),
                )
            }
        };
        // Qwen3.5: each head's projection is [query, gate].
        let (q, gate) = if self.output_gate {
            let halves = q
                .view([b, s, self.num_heads, 2 * self.head_dim])
                .chunk(2, -1);
            (
                halves[0].reshape([b, s, q_dim]),
                Some(halves[1].reshape([b, s, q_dim])),
            )
        } else {
            (q, None)
        };
        let norm = |n: &Option<NormLayer>, t: Tensor| {
            n.as_ref().map_or(t.shallow_clone(), |n| n.forward(&t))
        };
        // 2. q/k norm over all heads (OLMo) before the split, per head (Qwen3, Gemma) after
        let (q, k) = if self.qk_norm == QkNorm::AllHeads {
            (norm(&self.q_norm, q), norm(&self.k_norm, k))
        } else {
            (q, k)
        };
        let q = q.view([b, s, self.num_heads, self.head_dim]);
        let k = k.view([b, s, self.num_kv_heads, self.head_dim]);
        let v = v.view([b, s, self.num_kv_heads, self.head_dim]);
        let (q, k) = if self.qk_norm == QkNorm::PerHead {
            (norm(&self.q_norm, q), norm(&self.k_norm, k))
        } else {
            (q, k)
        };
        // 3. to [b, heads, s, head_dim] and rotate
        let (mut q, mut k, mut v) = (q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2));
        if let Some((cos, sin)) = ctx.rope(self.mixer) {
            q = apply_rotary(&q, cos, sin);
            k = apply_rotary(&k, cos, sin);
        }
        // 4. append to the cache
        if let Some(slot) = cache {
            if let Some((past_k, past_v)) = slot.as_ref() {
                k = Tensor::cat(&[past_k, &k], 2);
                v = Tensor::cat(&[past_v, &v], 2);
            }
            *slot = Some((k.shallow_clone(), v.shallow_clone()));
        }
        // 5. attend and merge heads
        let attended = match self.softcap {
            None => self.attend(&q, &k, &v, ctx.mask(self.mixer)),
            Some(cap) => self.attend_softcapped(&q, &k, &v, ctx.mask(self.mixer), cap),
        };
        let merged = attended.transpose(1, 2).reshape([b, s, q_dim]);
        let merged = match gate {
            Some(gate) => merged * gate.sigmoid(),
            None => merged,
        };
        // 6. output projection
        self.out.forward(&merged, train)
    }

    /// Scaled dot-product attention (GQA through SDPA's `enable_gqa`).
    fn attend(&self, q: &Tensor, k: &Tensor, v: &Tensor, mask: &AttentionMask) -> Tensor {
        let gqa = self.num_kv_heads != self.num_heads;
        let (explicit, causal) = match mask {
            AttentionMask::Causal => (None, true),
            AttentionMask::None => (None, false),
            AttentionMask::Explicit(m) => (Some(m), false),
        };
        Tensor::scaled_dot_product_attention(q, k, v, explicit, 0.0, causal, self.scale, gqa)
    }

    /// Attention with soft-capped scores, `cap * tanh(score / cap)`, as transformers' eager
    /// path computes it (scores in the weights' dtype, softmax in f32).
    fn attend_softcapped(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        mask: &AttentionMask,
        cap: f64,
    ) -> Tensor {
        let groups = self.num_heads / self.num_kv_heads;
        let (k, v) = if groups > 1 {
            (
                k.repeat_interleave_self_int(groups, 1, None),
                v.repeat_interleave_self_int(groups, 1, None),
            )
        } else {
            (k.shallow_clone(), v.shallow_clone())
        };
        let scores = q.matmul(&k.transpose(2, 3)) * self.scale;
        let scores = (scores / cap).tanh() * cap;
        let (seq, kv_len) = (q.size()[2], k.size()[2]);
        let scores = match mask.explicit(seq, kv_len, q.device()) {
            Some(allowed) => scores.masked_fill(&allowed.logical_not(), f64::NEG_INFINITY),
            None => scores,
        };
        scores.softmax(-1, Kind::Float).to_kind(q.kind()).matmul(&v)
    }
}
