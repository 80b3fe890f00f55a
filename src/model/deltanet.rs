//! Gated DeltaNet linear attention (Qwen3.5's `linear_attention` layers).
//!
//! Per token: `q, k, v` from one projection through a causal depthwise convolution and SiLU;
//! `q` and `k` L2-normalised (and `q` scaled by `1/sqrt(d_k)`); a write strength
//! `beta = sigmoid(b(x))` and a decay `g = -exp(A_log) * softplus(a(x) + dt_bias)` per value
//! head. The recurrent state `S` (`[d_k, d_v]` per head) follows the gated delta rule,
//! `S <- exp(g) S + beta k (v - exp(g) S^T k)^T`, and the output is `S^T q`, normed and gated
//! by `silu(z(x))`, then projected back.
//!
//! A pass over many tokens uses the chunked form (chunks of [`CHUNK`] positions: within a chunk
//! the delta rule's updates are one triangular solve and a few matrix products, and the state is
//! carried from chunk to chunk), all in f32; a single new token after a cache uses the
//! recurrent form. The cache slot holds `(conv_state, recurrent_state)`: the last
//! `conv_kernel - 1` convolution inputs and `S`.

use super::config::{LinearAttentionConfig, ModelConfig};
use super::layers::{variable, Fill, Init, Linear, WeightLayout};
use tch::{nn, Kind, Tensor};

/// Positions per chunk of the chunked gated delta rule.
const CHUNK: i64 = 64;

/// One gated DeltaNet layer.
#[derive(Debug)]
pub(crate) struct GatedDeltaNet {
    in_proj_qkv: Linear,
    in_proj_z: Linear,
    in_proj_b: Linear,
    in_proj_a: Linear,
    out_proj: Linear,
    conv_weight: Tensor,
    dt_bias: Tensor,
    a_log: Tensor,
    norm_weight: Tensor,
    norm_eps: f64,
    shape: LinearAttentionConfig,
}

impl GatedDeltaNet {
    /// Registers the layer's weights under `path` (`linear_attn`).
    pub(crate) fn new(
        path: nn::Path,
        cfg: &ModelConfig,
        shape: &LinearAttentionConfig,
        kind: Kind,
        init: Init,
    ) -> Self {
        let d = cfg.hidden_size;
        let keys = shape.key_heads * shape.key_head_dim;
        let values = shape.value_heads * shape.value_head_dim;
        let conv_dim = 2 * keys + values;
        let linear = |name: &str, i, o| {
            Linear::new(&path / name, i, o, false, WeightLayout::OutIn, kind, init)
        };
        let vector = |name: &str, n: i64, fill: Fill| variable(&path, name, &[n], kind, fill, init);
        GatedDeltaNet {
            in_proj_qkv: linear("in_proj_qkv", d, conv_dim),
            in_proj_z: linear("in_proj_z", d, values),
            in_proj_b: linear("in_proj_b", d, shape.value_heads),
            in_proj_a: linear("in_proj_a", d, shape.value_heads),
            out_proj: linear("out_proj", values, d),
            conv_weight: variable(
                &(&path / "conv1d"),
                "weight",
                &[conv_dim, 1, shape.conv_kernel],
                kind,
                Fill::Normal,
                init,
            ),
            dt_bias: vector("dt_bias", shape.value_heads, Fill::Ones),
            a_log: vector("A_log", shape.value_heads, Fill::Zeros),
            norm_weight: variable(
                &(&path / "norm"),
                "weight",
                &[shape.value_head_dim],
                kind,
                Fill::Ones,
                init,
            ),
            norm_eps: cfg.norm_eps,
            shape: shape.clone(),
        }
    }

    /// The layer's projections, in order.
    pub(crate) fn linears_mut(&mut self) -> Vec<&mut Linear> {
        vec![
            &mut self.in_proj_qkv,
            &mut self.in_proj_z,
            &mut self.in_proj_b,
            &mut self.in_proj_a,
            &mut self.out_proj,
        ]
    }

    /// Mixes `x` `[b, s, d]` (already normed); `real` `[b, s]` marks real tokens (left padding
    /// is zeroed so that it leaves no state); `cache` is read and replaced.
    pub(crate) fn forward(
        &self,
        x: &Tensor,
        real: Option<&Tensor>,
        cache: Option<&mut Option<(Tensor, Tensor)>>,
        train: bool,
    ) -> Tensor {
        let (b, s) = (x.size()[0], x.size()[1]);
        let LinearAttentionConfig {
            key_heads,
            value_heads,
            key_head_dim,
            value_head_dim,
            conv_kernel,
        } = self.shape;
        let x = match real {
            Some(real) => x * real.unsqueeze(-1).to_kind(x.kind()),
            None => x.shallow_clone(),
        };
        let (past_conv, past_state) = match cache.as_deref().and_then(Option::as_ref) {
            Some((conv, state)) => (Some(conv.shallow_clone()), Some(state.shallow_clone())),
            None => (None, None),
        };
        // 1. the causal depthwise convolution over q, k, v, continuing the cached inputs
        let mixed = self.in_proj_qkv.forward(&x, train).transpose(1, 2); // [b, conv, s]
        let conv_dim = mixed.size()[1];
        let history = past_conv.unwrap_or_else(|| {
            Tensor::zeros(
                [b, conv_dim, conv_kernel - 1],
                (mixed.kind(), mixed.device()),
            )
        });
        let extended = Tensor::cat(&[&history, &mixed], 2);
        let convolved = extended
            .conv1d(&self.conv_weight, None::<&Tensor>, [1], [0], [1], conv_dim)
            .silu()
            .transpose(1, 2); // [b, s, conv]
        let next_conv = extended.narrow(2, s, conv_kernel - 1);
        let keys = key_heads * key_head_dim;
        let parts = convolved.split_with_sizes([keys, keys, value_heads * value_head_dim], -1);
        let q = parts[0].reshape([b, s, key_heads, key_head_dim]);
        let k = parts[1].reshape([b, s, key_heads, key_head_dim]);
        let v = parts[2].reshape([b, s, value_heads, value_head_dim]);
        // 2. write strength and decay per value head
        let beta = self.in_proj_b.forward(&x, train).sigmoid();
        let decay = -(self.a_log.to_kind(Kind::Float).exp())
            * (self.in_proj_a.forward(&x, train).to_kind(Kind::Float) + &self.dt_bias).softplus();
        // 3. the gated delta rule
        let streams = HeadsFirst::new(&q, &k, &v, &decay, &beta);
        let (out, state) = if s == 1 && past_state.is_some() {
            recurrent_delta_rule(&streams, past_state)
        } else {
            chunked_delta_rule(&streams, past_state)
        };
        if let Some(slot) = cache {
            *slot = Some((next_conv, state));
        }
        // 4. gated RMSNorm per value head, then the output projection
        let out = out.to_kind(x.kind()).reshape([-1, value_head_dim]);
        let z = self
            .in_proj_z
            .forward(&x, train)
            .reshape([-1, value_head_dim]);
        let normed = self.gated_norm(&out, &z);
        self.out_proj
            .forward(&normed.reshape([b, s, value_heads * value_head_dim]), train)
    }

    /// RMSNorm of `x` (computed in f32, cast back, times the weight) times `silu(gate)`.
    fn gated_norm(&self, x: &Tensor, gate: &Tensor) -> Tensor {
        let kind = x.kind();
        let xf = x.to_kind(Kind::Float);
        let variance = xf.square().mean_dim(-1, true, Kind::Float);
        let normed = &self.norm_weight * (xf * (variance + self.norm_eps).rsqrt()).to_kind(kind);
        (normed * gate.to_kind(Kind::Float).silu()).to_kind(kind)
    }
}

/// The delta rule's inputs, f32 and heads first (`[b, h_v, s, ..]`).
struct HeadsFirst {
    q: Tensor,
    k: Tensor,
    v: Tensor,
    decay: Tensor,
    beta: Tensor,
}

impl HeadsFirst {
    /// From `q`, `k` `[b, s, h_k, d_k]`, `v` `[b, s, h_v, d_v]`, `decay`, `beta` `[b, s, h_v]`:
    /// keys shared by consecutive value heads are repeated, `q` and `k` L2-normalised, `q`
    /// scaled by `1/sqrt(d_k)`.
    fn new(q: &Tensor, k: &Tensor, v: &Tensor, decay: &Tensor, beta: &Tensor) -> Self {
        let groups = v.size()[2] / k.size()[2];
        let repeat = |t: &Tensor| {
            if groups > 1 {
                t.repeat_interleave_self_int(groups, 2, None)
            } else {
                t.shallow_clone()
            }
        };
        let f32_first = |t: &Tensor| t.transpose(1, 2).to_kind(Kind::Float).contiguous();
        let l2 = |t: Tensor| {
            let inv = (t.square().sum_dim_intlist(-1, true, Kind::Float) + 1e-6).rsqrt();
            t * inv
        };
        let q = l2(f32_first(&repeat(q)));
        let k = l2(f32_first(&repeat(k)));
        let scale = (q.size()[3] as f64).powf(-0.5);
        HeadsFirst {
            q: q * scale,
            k,
            v: f32_first(v),
            decay: f32_first(decay),
            beta: f32_first(beta),
        }
    }

    /// `state`, or the zero state `[b, h_v, d_k, d_v]`.
    fn initial_state(&self, state: Option<Tensor>) -> Tensor {
        let size = self.k.size();
        state.unwrap_or_else(|| {
            Tensor::zeros(
                [size[0], size[1], size[3], self.v.size()[3]],
                (Kind::Float, self.k.device()),
            )
        })
    }
}

/// The gated delta rule over a whole sequence, chunk by chunk; returns the outputs
/// `[b, s, h_v, d_v]` (f32) and the final state `[b, h_v, d_k, d_v]`.
fn chunked_delta_rule(streams: &HeadsFirst, state: Option<Tensor>) -> (Tensor, Tensor) {
    let mut state = streams.initial_state(state);
    let HeadsFirst {
        q,
        k,
        v,
        decay,
        beta,
    } = streams;
    let size = k.size();
    let (b, h, s) = (size[0], size[1], size[2]);
    let pad = (CHUNK - s % CHUNK) % CHUNK;
    let padded = |t: &Tensor| {
        if pad == 0 {
            t.shallow_clone()
        } else {
            let mut shape = t.size();
            shape[2] = pad;
            Tensor::cat(
                &[t, &Tensor::zeros(shape.as_slice(), (t.kind(), t.device()))],
                2,
            )
        }
    };
    let (q, k, v, decay, beta) = (padded(q), padded(k), padded(v), padded(decay), padded(beta));
    let n = (s + pad) / CHUNK;
    let chunked = |t: &Tensor| t.reshape([b, h, n, CHUNK, t.size()[3]]);
    let v_beta = chunked(&(&v * beta.unsqueeze(-1)));
    let k_beta = chunked(&(&k * beta.unsqueeze(-1)));
    let (q, k) = (chunked(&q), chunked(&k));
    // Log-decay accumulated from each chunk's start, and between every two positions of it.
    let cumulative = decay.reshape([b, h, n, CHUNK]).cumsum(-1, Kind::Float);
    let future = Tensor::ones([CHUNK, CHUNK], (Kind::Bool, k.device())).triu(1);
    let pairwise = (cumulative.unsqueeze(-1) - cumulative.unsqueeze(-2))
        .masked_fill(&future, f64::NEG_INFINITY)
        .exp();
    let k_t = k.transpose(-1, -2);
    // Within a chunk the updates form a unit lower-triangular system.
    let system = k_beta.matmul(&k_t) * &pairwise;
    let intra = q.matmul(&k_t) * &pairwise;
    let decayed_k_beta = &k_beta * cumulative.exp().unsqueeze(-1);
    let solve = |rhs: &Tensor| system.linalg_solve_triangular(rhs, false, true, true);
    let new_values = solve(&v_beta);
    let k_cumdecay = solve(&decayed_k_beta);
    let last = cumulative.narrow(-1, CHUNK - 1, 1); // [b, h, n, 1]
    let q_decayed = &q * cumulative.exp().unsqueeze(-1);
    let k_to_end = &k * (&last - &cumulative).exp().unsqueeze(-1);
    let chunk_decay = last.exp().unsqueeze(-1); // [b, h, n, 1, 1]
    let mut outputs = Vec::with_capacity(n as usize);
    for i in 0..n {
        let at = |t: &Tensor| t.select(2, i);
        let v_new = at(&new_values) - at(&k_cumdecay).matmul(&state);
        outputs.push(at(&q_decayed).matmul(&state) + at(&intra).matmul(&v_new));
        state = &state * at(&chunk_decay) + at(&k_to_end).transpose(-1, -2).matmul(&v_new);
    }
    let out = Tensor::cat(&outputs, 2).narrow(2, 0, s).transpose(1, 2);
    (out, state)
}

/// The gated delta rule one token at a time from `state` (the decode step).
fn recurrent_delta_rule(streams: &HeadsFirst, state: Option<Tensor>) -> (Tensor, Tensor) {
    let mut state = streams.initial_state(state);
    let HeadsFirst {
        q,
        k,
        v,
        decay,
        beta,
    } = streams;
    let s = k.size()[2];
    let mut outputs = Vec::with_capacity(s as usize);
    for t in 0..s {
        let (q_t, k_t, v_t) = (q.select(2, t), k.select(2, t), v.select(2, t));
        state = &state * decay.select(2, t).exp().unsqueeze(-1).unsqueeze(-1);
        let remembered = (&state * k_t.unsqueeze(-1)).sum_dim_intlist(-2, false, Kind::Float);
        let delta = (v_t - remembered) * beta.select(2, t).unsqueeze(-1);
        state = &state + k_t.unsqueeze(-1) * delta.unsqueeze(-2);
        outputs.push((&state * q_t.unsqueeze(-1)).sum_dim_intlist(-2, false, Kind::Float));
    }
    (Tensor::stack(&outputs, 2).transpose(1, 2), state)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The chunked form equals the token-by-token recurrence over several chunks (a sequence
    /// that is not a multiple of the chunk), from a zero and from a carried state, with keys
    /// shared by two value heads.
    #[test]
    fn chunked_rule_equals_the_recurrence_across_chunks() {
        tch::manual_seed(3);
        let (b, s, hk, hv, dk, dv) = (2, 2 * CHUNK + 9, 2, 4, 8, 6);
        let q = Tensor::randn([b, s, hk, dk], (Kind::Float, tch::Device::Cpu));
        let k = Tensor::randn([b, s, hk, dk], (Kind::Float, tch::Device::Cpu));
        let v = Tensor::randn([b, s, hv, dv], (Kind::Float, tch::Device::Cpu));
        let decay = -Tensor::rand([b, s, hv], (Kind::Float, tch::Device::Cpu)) * 0.3;
        let beta = Tensor::rand([b, s, hv], (Kind::Float, tch::Device::Cpu));
        let start = Tensor::randn([b, hv, dk, dv], (Kind::Float, tch::Device::Cpu));
        for state in [None, Some(start)] {
            let copy = || state.as_ref().map(Tensor::copy);
            let streams = HeadsFirst::new(&q, &k, &v, &decay, &beta);
            let (out_c, state_c) = chunked_delta_rule(&streams, copy());
            let (out_r, state_r) = recurrent_delta_rule(&streams, copy());
            assert_eq!(out_c.size(), [b, s, hv, dv]);
            let out_diff = (&out_c - &out_r).abs().max().double_value(&[]);
            let state_diff = (&state_c - &state_r).abs().max().double_value(&[]);
            assert!(out_diff < 1e-4, "outputs differ by {out_diff:e}");
            assert!(state_diff < 1e-4, "states differ by {state_diff:e}");
        }
    }
}
