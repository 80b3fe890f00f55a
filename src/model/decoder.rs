//! One decoder-only transformer for the Llama / Qwen2 / Qwen3 / GPT-2 family.
//!
//! Pre-norm blocks `h = x + attn(norm1(x)); out = h + mlp(norm2(h))`. Variables live in a
//! `VarStore` under HF key names (`model.layers.3.self_attn.q_proj.weight`,
//! `transformer.h.3.attn.c_attn.weight`), so [`super::load`] copies checkpoints name for name
//! and the same store is what the training engine optimises.

use super::config::{Arch, ModelConfig, Positions};
use super::edit::{EditGuard, EditSlot, ResidualEdit};
use super::layers::{
    activate, apply_rotary, variable, Fill, Init, Linear, NormLayer, Rotary, WeightLayout,
};
use super::lora::{LoraAdapter, LoraConfig, PEFT_PREFIX};
use anyhow::{bail, Result};
use tch::{nn, Device, Kind, Tensor};

/// The attention mask of a right-padded batch: `[b, 1, s, s]`, true where query `i` may attend
/// key `j` (`j <= i` and `j` is not padding).
pub fn padded_causal_mask(lengths: &[usize], seq: usize, device: Device) -> Tensor {
    let lengths: Vec<i64> = lengths.iter().map(|&l| l as i64).collect();
    let positions = Tensor::arange(seq as i64, (Kind::Int64, device));
    let causal = positions
        .unsqueeze(1)
        .ge_tensor(&positions.unsqueeze(0))
        .unsqueeze(0)
        .unsqueeze(0); // [1,1,s,s]
    let valid = positions
        .unsqueeze(0)
        .lt_tensor(&Tensor::from_slice(&lengths).to_device(device).unsqueeze(1)); // [b,s]
    causal.logical_and(&valid.unsqueeze(1).unsqueeze(1))
}

/// Keys and values of earlier positions, one entry per layer, `[batch, kv_heads, len, head_dim]`.
#[derive(Debug, Default)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
}

impl KvCache {
    /// Number of positions already cached.
    pub fn len(&self) -> i64 {
        match self.layers.first() {
            Some(Some((k, _))) => k.size()[2],
            _ => 0,
        }
    }

    /// True when nothing is cached yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Which positions get logits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logits {
    /// Every position: `[batch, seq, vocab]`.
    All,
    /// The last position only: `[batch, 1, vocab]` (generation).
    Last,
    /// None (activation capture only).
    Skip,
    /// No logits: [`ForwardOutput::logits`] holds the final-normed residual stream
    /// `[batch, seq, d_model]` instead, for a loss computed in chunks through
    /// [`Decoder::head`].
    FinalHidden,
}

/// Options of one forward pass.
pub struct ForwardArgs<'a> {
    /// Position ids `[batch, seq]`; default `cache.len() .. cache.len() + seq`.
    pub positions: Option<&'a Tensor>,
    /// Boolean mask `[batch, 1, seq, kv_len]`, true where attention is allowed; default causal.
    pub mask: Option<&'a Tensor>,
    /// Cache to read earlier keys/values from and append this pass's to.
    pub cache: Option<&'a mut KvCache>,
    /// Which positions get logits.
    pub logits: Logits,
    /// Keep the residual stream after the embeddings and after every block.
    pub capture_hidden: bool,
    /// Training mode: enables adapter dropout.
    pub train: bool,
}

impl Default for ForwardArgs<'_> {
    fn default() -> Self {
        ForwardArgs {
            positions: None,
            mask: None,
            cache: None,
            logits: Logits::All,
            capture_hidden: false,
            train: false,
        }
    }
}

/// Result of a forward pass.
#[derive(Debug)]
pub struct ForwardOutput {
    /// Logits in the model's dtype, as selected by [`Logits`]; `None` for [`Logits::Skip`]
    /// (the final hidden states for [`Logits::FinalHidden`]).
    pub logits: Option<Tensor>,
    /// Residual stream `[batch, seq, d_model]`: index 0 after the embeddings, index i after
    /// block i (the last one before the final norm). Empty unless requested.
    pub hidden: Vec<Tensor>,
}

#[derive(Debug)]
enum Projections {
    /// Separate q/k/v projections (Llama, Qwen).
    Split { q: Linear, k: Linear, v: Linear },
    /// GPT-2's fused `c_attn`.
    Fused(Linear),
}

#[derive(Debug)]
struct Attention {
    qkv: Projections,
    out: Linear,
    q_norm: Option<NormLayer>,
    k_norm: Option<NormLayer>,
    num_heads: i64,
    num_kv_heads: i64,
    head_dim: i64,
}

impl Attention {
    fn new(path: nn::Path, cfg: &ModelConfig, kind: Kind, init: Init) -> Self {
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
            _ => (
                Projections::Split {
                    q: linear("q_proj", d, q_dim, cfg.qkv_bias, WeightLayout::OutIn),
                    k: linear("k_proj", d, kv_dim, cfg.qkv_bias, WeightLayout::OutIn),
                    v: linear("v_proj", d, kv_dim, cfg.qkv_bias, WeightLayout::OutIn),
                },
                linear("o_proj", q_dim, d, cfg.o_bias, WeightLayout::OutIn),
            ),
        };
        let head_norm = |name: &str| {
            cfg.qk_norm.then(|| {
                NormLayer::new(
                    &path / name,
                    cfg.head_dim,
                    cfg.norm,
                    cfg.norm_eps,
                    kind,
                    init,
                )
            })
        };
        Attention {
            qkv,
            out,
            q_norm: head_norm("q_norm"),
            k_norm: head_norm("k_norm"),
            num_heads: cfg.num_heads,
            num_kv_heads: cfg.num_kv_heads,
            head_dim: cfg.head_dim,
        }
    }

    fn forward(
        &self,
        x: &Tensor,
        rope: Option<&(Tensor, Tensor)>,
        mask: &AttentionMask,
        cache: Option<&mut Option<(Tensor, Tensor)>>,
        train: bool,
    ) -> Tensor {
        let (b, s) = (x.size()[0], x.size()[1]);
        // 1. project to q, k, v and split heads: [b, s, heads, head_dim]
        let (q, k, v) = match &self.qkv {
            Projections::Split { q, k, v } => (
                q.forward(x, train),
                k.forward(x, train),
                v.forward(x, train),
            ),
            Projections::Fused(c_attn) => {
                let qkv = c_attn.forward(x, train).split(x.size()[2], -1);
                (
                    qkv[0].shallow_clone(),
                    qkv[1].shallow_clone(),
                    qkv[2].shallow_clone(),
                )
            }
        };
        let q = q.view([b, s, self.num_heads, self.head_dim]);
        let k = k.view([b, s, self.num_kv_heads, self.head_dim]);
        let v = v.view([b, s, self.num_kv_heads, self.head_dim]);
        // 2. per-head q/k norm (Qwen3)
        let q = self
            .q_norm
            .as_ref()
            .map_or(q.shallow_clone(), |n| n.forward(&q));
        let k = self
            .k_norm
            .as_ref()
            .map_or(k.shallow_clone(), |n| n.forward(&k));
        // 3. to [b, heads, s, head_dim] and rotate
        let (mut q, mut k, mut v) = (q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2));
        if let Some((cos, sin)) = rope {
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
        // 5. attend (GQA handled by SDPA's enable_gqa) and merge heads
        let gqa = self.num_kv_heads != self.num_heads;
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let attended = match mask {
            AttentionMask::Causal => Tensor::scaled_dot_product_attention(
                &q,
                &k,
                &v,
                None::<Tensor>,
                0.0,
                true,
                scale,
                gqa,
            ),
            AttentionMask::None => Tensor::scaled_dot_product_attention(
                &q,
                &k,
                &v,
                None::<Tensor>,
                0.0,
                false,
                scale,
                gqa,
            ),
            AttentionMask::Explicit(m) => {
                Tensor::scaled_dot_product_attention(&q, &k, &v, Some(m), 0.0, false, scale, gqa)
            }
        };
        let merged = attended
            .transpose(1, 2)
            .reshape([b, s, self.num_heads * self.head_dim]);
        // 6. output projection
        self.out.forward(&merged, train)
    }
}

#[derive(Debug)]
struct Mlp {
    /// `gate_proj` (gated) or `c_fc` (plain).
    up_or_fc: Linear,
    /// `up_proj`, gated MLPs only.
    up: Option<Linear>,
    /// `down_proj` or `c_proj`.
    down: Linear,
    activation: super::config::Activation,
}

impl Mlp {
    fn new(path: nn::Path, cfg: &ModelConfig, kind: Kind, init: Init) -> Self {
        let (d, i) = (cfg.hidden_size, cfg.intermediate_size);
        let linear = |name: &str, a, b, layout| {
            Linear::new(&path / name, a, b, cfg.mlp_bias, layout, kind, init)
        };
        if cfg.gated_mlp {
            Mlp {
                up_or_fc: linear("gate_proj", d, i, WeightLayout::OutIn),
                up: Some(linear("up_proj", d, i, WeightLayout::OutIn)),
                down: linear("down_proj", i, d, WeightLayout::OutIn),
                activation: cfg.activation,
            }
        } else {
            Mlp {
                up_or_fc: linear("c_fc", d, i, WeightLayout::InOut),
                up: None,
                down: linear("c_proj", i, d, WeightLayout::InOut),
                activation: cfg.activation,
            }
        }
    }

    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let hidden = activate(&self.up_or_fc.forward(x, train), self.activation);
        let hidden = match &self.up {
            Some(up) => hidden * up.forward(x, train),
            None => hidden,
        };
        self.down.forward(&hidden, train)
    }
}

#[derive(Debug)]
struct Block {
    norm1: NormLayer,
    attn: Attention,
    norm2: NormLayer,
    mlp: Mlp,
}

impl Block {
    /// Attention and MLP, each a residual update of `x`.
    fn forward(
        &self,
        x: &Tensor,
        rope: Option<&(Tensor, Tensor)>,
        mask: &AttentionMask,
        slot: Option<&mut Option<(Tensor, Tensor)>>,
        train: bool,
    ) -> Tensor {
        let h = x + self
            .attn
            .forward(&self.norm1.forward(x), rope, mask, slot, train);
        self.mlp.forward(&self.norm2.forward(&h), train) + h
    }

    fn new(path: nn::Path, cfg: &ModelConfig, kind: Kind, init: Init) -> Self {
        let norm = |name: &str| {
            NormLayer::new(
                &path / name,
                cfg.hidden_size,
                cfg.norm,
                cfg.norm_eps,
                kind,
                init,
            )
        };
        match cfg.arch {
            Arch::Gpt2 => Block {
                norm1: norm("ln_1"),
                attn: Attention::new(&path / "attn", cfg, kind, init),
                norm2: norm("ln_2"),
                mlp: Mlp::new(&path / "mlp", cfg, kind, init),
            },
            _ => Block {
                norm1: norm("input_layernorm"),
                attn: Attention::new(&path / "self_attn", cfg, kind, init),
                norm2: norm("post_attention_layernorm"),
                mlp: Mlp::new(&path / "mlp", cfg, kind, init),
            },
        }
    }
}

/// How attention is restricted in one pass.
enum AttentionMask {
    /// Square causal attention (no cache): SDPA's built-in causal path.
    Causal,
    /// Every key visible (a single new token after a cache).
    None,
    /// An explicit boolean mask, true where allowed.
    Explicit(Tensor),
}

/// A forward pass that kept only the blocks' inputs ([`Decoder::forward_checkpointed`]).
pub struct Checkpointed<'a> {
    decoder: &'a Decoder,
    input_ids: Tensor,
    positions: Tensor,
    mask: AttentionMask,
    rope: Option<(Tensor, Tensor)>,
    seed: i64,
    inputs: Vec<Tensor>,
    last: Tensor,
    /// The final-normed hidden states `[batch, seq, d_model]`, with a graph back to the last
    /// block's output (and the final norm's weight).
    pub hidden: Tensor,
}

impl Checkpointed<'_> {
    /// Carries the gradient that has reached the last block's output (after a backward pass
    /// through [`Checkpointed::hidden`]) back through every block, recomputed one at a time,
    /// and into the embeddings.
    pub fn backward_blocks(self) {
        let mut grad = self.last.grad();
        if !grad.defined() {
            return;
        }
        let decoder = self.decoder;
        for (i, block) in decoder.blocks.iter().enumerate().rev() {
            let input = self.inputs[i].detach().set_requires_grad(true);
            tch::manual_seed(self.seed.wrapping_add(i as i64));
            let output = block.forward(&input, self.rope.as_ref(), &self.mask, None, true);
            (output * &grad).sum(Kind::Float).backward();
            grad = input.grad();
        }
        let embedded = decoder.embed_input(&self.input_ids, &self.positions);
        if embedded.requires_grad() {
            (embedded * grad).sum(Kind::Float).backward();
        }
    }
}

/// The decoder: embeddings, blocks, final norm, LM head.
#[derive(Debug)]
pub struct Decoder {
    /// The configuration it was built from.
    pub config: ModelConfig,
    embed: Tensor,
    position_embed: Option<Tensor>,
    rotary: Option<Rotary>,
    blocks: Vec<Block>,
    final_norm: NormLayer,
    lm_head: Option<Tensor>,
    kind: Kind,
    device: Device,
    edit: EditSlot,
}

impl Decoder {
    /// Creates the decoder's variables in `vs` (on the store's device) with dtype `kind`.
    pub fn new(vs: &nn::VarStore, cfg: &ModelConfig, kind: Kind, init: Init) -> Self {
        let root = vs.root();
        let body = &root / cfg.arch.body_prefix();
        let d = cfg.hidden_size;
        let (embed_name, layers_name, final_norm_name) = match cfg.arch {
            Arch::Gpt2 => ("wte", "h", "ln_f"),
            _ => ("embed_tokens", "layers", "norm"),
        };
        let embed = variable(
            &(&body / embed_name),
            "weight",
            &[cfg.vocab_size, d],
            kind,
            Fill::Normal,
            init,
        );
        let position_embed = (cfg.positions == Positions::Learned).then(|| {
            variable(
                &(&body / "wpe"),
                "weight",
                &[cfg.max_position_embeddings, d],
                kind,
                Fill::Normal,
                init,
            )
        });
        let rotary = match &cfg.positions {
            Positions::Rope { theta, scaling } => {
                Some(Rotary::new(cfg.head_dim, *theta, scaling, vs.device()))
            }
            Positions::Learned => None,
        };
        let layers = &body / layers_name;
        let blocks = (0..cfg.num_layers)
            .map(|i| Block::new(&layers / i, cfg, kind, init))
            .collect();
        let final_norm = NormLayer::new(
            &body / final_norm_name,
            d,
            cfg.norm,
            cfg.norm_eps,
            kind,
            init,
        );
        let lm_head = (!cfg.tie_word_embeddings).then(|| {
            variable(
                &(&root / "lm_head"),
                "weight",
                &[cfg.vocab_size, d],
                kind,
                Fill::Normal,
                init,
            )
        });
        Decoder {
            config: cfg.clone(),
            embed,
            position_embed,
            rotary,
            blocks,
            final_norm,
            lm_head,
            kind,
            device: vs.device(),
            edit: EditSlot::default(),
        }
    }

    /// Device the weights live on.
    pub fn device(&self) -> Device {
        self.device
    }

    /// Dtype of the weights.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The token embedding matrix `[vocab, d_model]`.
    pub fn embedding(&self) -> &Tensor {
        &self.embed
    }

    /// Runs token ids `[batch, seq]` through the model.
    pub fn forward(&self, input_ids: &Tensor, args: ForwardArgs) -> ForwardOutput {
        let ForwardArgs {
            positions,
            mask,
            mut cache,
            logits,
            capture_hidden,
            train,
        } = args;
        let (batch, seq) = (input_ids.size()[0], input_ids.size()[1]);
        let past = cache.as_ref().map_or(0, |c| c.len());
        if let Some(c) = cache.as_deref_mut() {
            c.layers.resize_with(self.blocks.len(), || None);
        }
        let positions = match positions {
            Some(p) => p.shallow_clone(),
            None => Tensor::arange_start(past, past + seq, (Kind::Int64, self.device))
                .unsqueeze(0)
                .expand([batch, seq], false),
        };
        let attention_mask = match mask {
            Some(m) => AttentionMask::Explicit(m.shallow_clone()),
            None if past == 0 => AttentionMask::Causal,
            None if seq == 1 => AttentionMask::None,
            None => {
                // New queries after a cache: query i sees keys 0 ..= past + i.
                let q = Tensor::arange_start(past, past + seq, (Kind::Int64, self.device));
                let k = Tensor::arange(past + seq, (Kind::Int64, self.device));
                AttentionMask::Explicit(k.unsqueeze(0).le_tensor(&q.unsqueeze(1)).view([
                    1,
                    1,
                    seq,
                    past + seq,
                ]))
            }
        };

        let edit = self.edit.current();
        let edited =
            |site: usize, x: Tensor| match edit.as_ref().and_then(|e| e.edit(site, &x, past)) {
                Some(y) => y,
                None => x,
            };
        let mut x = edited(0, self.embed_input(input_ids, &positions));
        let rope = self
            .rotary
            .as_ref()
            .map(|r| r.tables(&positions, self.kind));
        let mut hidden = Vec::new();
        if capture_hidden {
            hidden.push(x.shallow_clone());
        }
        for (i, block) in self.blocks.iter().enumerate() {
            let slot = cache.as_deref_mut().map(|c| &mut c.layers[i]);
            x = edited(
                i + 1,
                block.forward(&x, rope.as_ref(), &attention_mask, slot, train),
            );
            if capture_hidden {
                hidden.push(x.shallow_clone());
            }
        }
        let logits = match logits {
            Logits::Skip => None,
            Logits::All => Some(self.lens(&x)),
            Logits::Last => Some(self.lens(&x.narrow(1, seq - 1, 1))),
            Logits::FinalHidden => Some(self.final_norm.forward(&x)),
        };
        ForwardOutput { logits, hidden }
    }

    /// Token (and learned position) embeddings of `input_ids`.
    fn embed_input(&self, input_ids: &Tensor, positions: &Tensor) -> Tensor {
        let tokens = Tensor::embedding(&self.embed, input_ids, -1, false, false);
        match &self.position_embed {
            Some(wpe) => tokens + Tensor::embedding(wpe, positions, -1, false, false),
            None => tokens,
        }
    }

    /// A training forward pass with activation checkpointing: only each block's input is kept
    /// (no activations inside the blocks), and [`Checkpointed::hidden`] holds the final-normed
    /// hidden states. Once a loss has been backpropagated into them,
    /// [`Checkpointed::backward_blocks`] recomputes each block, last first, and carries the
    /// gradient through it into every parameter. Adapter dropout draws from libtorch's
    /// generator seeded per block from `seed`, the same in both passes.
    pub fn forward_checkpointed(
        &self,
        input_ids: &Tensor,
        positions: &Tensor,
        mask: &Tensor,
        seed: i64,
    ) -> Checkpointed<'_> {
        let mask = AttentionMask::Explicit(mask.shallow_clone());
        let rope = self.rotary.as_ref().map(|r| r.tables(positions, self.kind));
        let mut inputs = Vec::with_capacity(self.blocks.len());
        let last = tch::no_grad(|| {
            let mut x = self.embed_input(input_ids, positions);
            for (i, block) in self.blocks.iter().enumerate() {
                inputs.push(x.shallow_clone());
                tch::manual_seed(seed.wrapping_add(i as i64));
                x = block.forward(&x, rope.as_ref(), &mask, None, true);
            }
            x
        })
        .set_requires_grad(true);
        let hidden = self.final_norm.forward(&last);
        Checkpointed {
            decoder: self,
            input_ids: input_ids.shallow_clone(),
            positions: positions.shallow_clone(),
            mask,
            rope,
            seed,
            inputs,
            last,
            hidden,
        }
    }

    /// Every linear layer of the blocks, in order.
    pub fn linears_mut(&mut self) -> Vec<&mut Linear> {
        let mut out = Vec::new();
        for block in &mut self.blocks {
            match &mut block.attn.qkv {
                Projections::Split { q, k, v } => out.extend([q, k, v]),
                Projections::Fused(c_attn) => out.push(c_attn),
            }
            out.push(&mut block.attn.out);
            out.push(&mut block.mlp.up_or_fc);
            if let Some(up) = &mut block.mlp.up {
                out.push(up);
            }
            out.push(&mut block.mlp.down);
        }
        out
    }

    /// Attaches a fresh LoRA adapter, stored in `adapters`, to every linear layer whose name
    /// matches `config.targets`; returns the adapted layer names.
    pub fn attach_lora(
        &mut self,
        adapters: &nn::VarStore,
        config: &LoraConfig,
    ) -> Result<Vec<String>> {
        let targets = config.target_regex()?;
        self.attach_lora_each(adapters, &targets, &|_| config.clone())
            .map_err(|_| anyhow::anyhow!("lora targets `{}` match no layer", config.targets))
    }

    /// Attaches a fresh LoRA adapter to every linear layer whose name `targets` matches, each
    /// with its own settings (`config_for(name)`: PEFT's per-layer rank and alpha); returns the
    /// adapted layer names.
    pub fn attach_lora_each(
        &mut self,
        adapters: &nn::VarStore,
        targets: &regex::Regex,
        config_for: &dyn Fn(&str) -> LoraConfig,
    ) -> Result<Vec<String>> {
        let kind = self.kind;
        let root = adapters.root();
        let mut names = Vec::new();
        for linear in self.linears_mut() {
            if !targets.is_match(&linear.name) {
                continue;
            }
            let mut path = root.clone();
            for part in PEFT_PREFIX.split('.').chain(linear.name.split('.')) {
                if !part.is_empty() {
                    path = &path / part;
                }
            }
            let (in_dim, out_dim) = linear.dims();
            let config = config_for(&linear.name);
            linear.lora = Some(LoraAdapter::new(&path, in_dim, out_dim, &config, kind));
            names.push(linear.name.clone());
        }
        if names.is_empty() {
            bail!("lora targets `{}` match no layer", targets.as_str());
        }
        Ok(names)
    }

    /// Folds every attached adapter into its base weight.
    pub fn merge_lora(&mut self) {
        for linear in self.linears_mut() {
            linear.merge_lora();
        }
    }

    /// Installs a residual-stream edit for every forward pass until the guard is dropped
    /// ([`super::edit`]); an error when one is installed already.
    pub fn install_edit(&self, edit: std::sync::Arc<dyn ResidualEdit>) -> Result<EditGuard<'_>> {
        self.edit.install(edit)
    }

    /// The logit lens: logits of a residual stream `[.., d_model]` read at any site, through the
    /// final norm and the unembedding (at the last site, the model's own logits).
    pub fn lens(&self, x: &Tensor) -> Tensor {
        self.head(&self.final_norm.forward(x))
    }

    /// Logits of final-normed hidden states `[.., d_model]` (the unembedding).
    pub fn head(&self, x: &Tensor) -> Tensor {
        x.linear(
            self.lm_head.as_ref().unwrap_or(&self.embed),
            None::<&Tensor>,
        )
    }
}
