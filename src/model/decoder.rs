//! One decoder-only transformer for every supported family ([`super::config::MODEL_TYPES`]).
//!
//! Blocks `h = x + attn(x); out = h + mlp(h)`, with norms before (Llama, Qwen, GPT-2, Phi-3),
//! after (OLMo) or around (Gemma) each update; attention in [`super::attention`], dense and
//! sparse MLPs in [`super::mlp`] and [`super::moe`]. Variables live in a
//! `VarStore` under HF key names (`model.layers.3.self_attn.q_proj.weight`,
//! `transformer.h.3.attn.c_attn.weight`), so [`super::load`] copies checkpoints name for name
//! and the same store is what the training engine optimises.

use super::attention::{Attention, AttentionMask, PassContext};
use super::config::{Arch, LayerMixer, ModelConfig, NormPlacement, Positions};
use super::deltanet::GatedDeltaNet;
use super::edit::{EditGuard, EditSlot, ResidualEdit};
use super::layers::{variable, Fill, Init, Linear, NormLayer, Rotary};
use super::lora::{LoraAdapter, LoraConfig, PEFT_PREFIX};
use super::mlp::Mlp;
use super::moe::SparseMlp;
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

/// What earlier positions left, one entry per layer: keys and values
/// `[batch, kv_heads, len, head_dim]` of attention layers, the convolution inputs and recurrent
/// state of linear-attention layers.
#[derive(Debug, Default)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    positions: i64,
}

impl KvCache {
    /// Number of positions already cached.
    pub fn len(&self) -> i64 {
        self.positions
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
    /// `[batch, seq]` booleans, false at left padding: linear-attention layers zero those
    /// inputs so that they leave no state (attention layers rely on `mask`). Default: every
    /// position is a token.
    pub real_tokens: Option<&'a Tensor>,
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
            real_tokens: None,
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
    /// Router logits `[batch * seq, experts]` of every sparse layer, in order (empty for dense
    /// models), for the load-balancing loss.
    pub router_logits: Vec<Tensor>,
}

/// A block's feed-forward layer.
#[derive(Debug)]
enum FeedForward {
    Dense(Box<Mlp>),
    Sparse(Box<SparseMlp>),
}

/// A block's token mixer.
#[derive(Debug)]
enum Mixer {
    Attention(Box<Attention>),
    DeltaNet(Box<GatedDeltaNet>),
}

/// One transformer block: a token mixer (attention or linear attention) and a feed-forward
/// layer, each a residual update, with norms where the architecture puts them
/// ([`NormPlacement`]).
#[derive(Debug)]
struct Block {
    attn_in: Option<NormLayer>,
    attn: Mixer,
    attn_out: Option<NormLayer>,
    mlp_in: Option<NormLayer>,
    mlp: FeedForward,
    mlp_out: Option<NormLayer>,
}

/// `norm(x)`, or `x` where the block has no norm there.
fn maybe_norm(norm: &Option<NormLayer>, x: &Tensor) -> Tensor {
    norm.as_ref()
        .map_or_else(|| x.shallow_clone(), |n| n.forward(x))
}

impl Block {
    /// Attention and feed-forward, each a residual update of `x`; the router logits of a
    /// sparse feed-forward layer.
    fn forward(
        &self,
        x: &Tensor,
        ctx: &PassContext,
        slot: Option<&mut Option<(Tensor, Tensor)>>,
        train: bool,
    ) -> (Tensor, Option<Tensor>) {
        let mixer_in = maybe_norm(&self.attn_in, x);
        let attended = match &self.attn {
            Mixer::Attention(attn) => attn.forward(&mixer_in, ctx, slot, train),
            Mixer::DeltaNet(linear) => {
                linear.forward(&mixer_in, ctx.real_tokens.as_ref(), slot, train)
            }
        };
        let h = x + maybe_norm(&self.attn_out, &attended);
        let mlp_in = maybe_norm(&self.mlp_in, &h);
        let (update, router_logits) = match &self.mlp {
            FeedForward::Dense(mlp) => (mlp.forward(&mlp_in, train), None),
            FeedForward::Sparse(moe) => {
                let (update, logits) = moe.forward(&mlp_in, train);
                (update, Some(logits))
            }
        };
        (maybe_norm(&self.mlp_out, &update) + h, router_logits)
    }

    fn new(path: nn::Path, cfg: &ModelConfig, index: usize, kind: Kind, init: Init) -> Self {
        let norm = |name: &str| {
            Some(NormLayer::new(
                &path / name,
                cfg.hidden_size,
                cfg.norm,
                cfg.norm_eps,
                kind,
                init,
            ))
        };
        let gpt2 = cfg.arch == Arch::Gpt2;
        let (attn_name, mlp_name) = if gpt2 {
            ("attn", "mlp")
        } else {
            ("self_attn", "mlp")
        };
        let (attn_in, attn_out, mlp_in, mlp_out) = match (cfg.norm_placement, gpt2) {
            (NormPlacement::Pre, true) => (norm("ln_1"), None, norm("ln_2"), None),
            (NormPlacement::Pre, false) => (
                norm("input_layernorm"),
                None,
                norm("post_attention_layernorm"),
                None,
            ),
            (NormPlacement::Post, _) => (
                None,
                norm("post_attention_layernorm"),
                None,
                norm("post_feedforward_layernorm"),
            ),
            (NormPlacement::Sandwich, _) => (
                norm("input_layernorm"),
                norm("post_attention_layernorm"),
                norm("pre_feedforward_layernorm"),
                norm("post_feedforward_layernorm"),
            ),
        };
        let mlp = match (&cfg.moe, cfg.layer_types[index].sparse_mlp) {
            (Some(moe), true) => FeedForward::Sparse(Box::new(SparseMlp::new(
                &path / mlp_name,
                cfg,
                moe,
                kind,
                init,
            ))),
            _ => FeedForward::Dense(Box::new(Mlp::new(
                &path / mlp_name,
                cfg,
                cfg.intermediate_size,
                kind,
                init,
            ))),
        };
        let attn = match (cfg.layer_types[index].mixer, &cfg.linear_attention) {
            (LayerMixer::Linear, Some(shape)) => Mixer::DeltaNet(Box::new(GatedDeltaNet::new(
                &path / "linear_attn",
                cfg,
                shape,
                kind,
                init,
            ))),
            _ => Mixer::Attention(Box::new(Attention::new(
                &path / attn_name,
                cfg,
                index,
                kind,
                init,
            ))),
        };
        Block {
            attn_in,
            attn,
            attn_out,
            mlp_in,
            mlp,
            mlp_out,
        }
    }
}

/// A forward pass that kept only the blocks' inputs ([`Decoder::forward_checkpointed`]).
pub struct Checkpointed<'a> {
    decoder: &'a Decoder,
    input_ids: Tensor,
    positions: Tensor,
    ctx: PassContext,
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
            let (output, _) = block.forward(&input, &self.ctx, None, true);
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
    sliding_rotary: Option<Rotary>,
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
        let rotary_of = |positions: &Positions| match positions {
            Positions::Rope { theta, scaling } => {
                Some(Rotary::new(cfg.rotary_dim, *theta, scaling, vs.device()))
            }
            Positions::Learned => None,
        };
        let rotary = rotary_of(&cfg.positions);
        let sliding_rotary = cfg.sliding_positions.as_ref().and_then(rotary_of);
        let layers = &body / layers_name;
        let blocks = (0..cfg.num_layers)
            .map(|i| Block::new(&layers / i, cfg, i as usize, kind, init))
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
            sliding_rotary,
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
            real_tokens,
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

        let ctx = self.pass_context(&positions, attention_mask, real_tokens, past, seq);

        let edit = self.edit.current();
        let edited =
            |site: usize, x: Tensor| match edit.as_ref().and_then(|e| e.edit(site, &x, past)) {
                Some(y) => y,
                None => x,
            };
        let mut x = edited(0, self.embed_input(input_ids, &positions));
        let mut hidden = Vec::new();
        let mut router_logits = Vec::new();
        if capture_hidden {
            hidden.push(x.shallow_clone());
        }
        for (i, block) in self.blocks.iter().enumerate() {
            let slot = cache.as_deref_mut().map(|c| &mut c.layers[i]);
            let (out, routed) = block.forward(&x, &ctx, slot, train);
            x = edited(i + 1, out);
            router_logits.extend(routed);
            if capture_hidden {
                hidden.push(x.shallow_clone());
            }
        }
        if let Some(c) = cache {
            c.positions = past + seq;
        }
        let logits = match logits {
            Logits::Skip => None,
            Logits::All => Some(self.lens(&x)),
            Logits::Last => Some(self.lens(&x.narrow(1, seq - 1, 1))),
            Logits::FinalHidden => Some(self.final_norm.forward(&x)),
        };
        ForwardOutput {
            logits,
            hidden,
            router_logits,
        }
    }

    /// Rotary tables, masks and real tokens of a pass over `seq` new positions after `past`
    /// cached ones.
    fn pass_context(
        &self,
        positions: &Tensor,
        mask: AttentionMask,
        real_tokens: Option<&Tensor>,
        past: i64,
        seq: i64,
    ) -> PassContext {
        let tables = |r: &Rotary| {
            let kind = if self.config.rotary_in_f32 {
                Kind::Float
            } else {
                self.kind
            };
            r.tables(positions, kind)
        };
        let sliding_mask = self
            .config
            .sliding_window
            .map(|window| mask.sliding(window, past, seq, self.device));
        PassContext {
            rope: self.rotary.as_ref().map(tables),
            sliding_rope: self.sliding_rotary.as_ref().map(tables),
            mask,
            sliding_mask,
            real_tokens: real_tokens.map(Tensor::shallow_clone),
        }
    }

    /// Token (and learned position) embeddings of `input_ids`.
    fn embed_input(&self, input_ids: &Tensor, positions: &Tensor) -> Tensor {
        let tokens = Tensor::embedding(&self.embed, input_ids, -1, false, false);
        // Gemma: the scale is cast to the weights' dtype first, as transformers does.
        let tokens = match self.config.embedding_scale {
            Some(scale) => {
                tokens
                    * Tensor::from(scale)
                        .to_kind(self.kind)
                        .to_device(self.device)
            }
            None => tokens,
        };
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
        let seq = input_ids.size()[1];
        let ctx = self.pass_context(
            positions,
            AttentionMask::Explicit(mask.shallow_clone()),
            None,
            0,
            seq,
        );
        let mut inputs = Vec::with_capacity(self.blocks.len());
        let last = tch::no_grad(|| {
            let mut x = self.embed_input(input_ids, positions);
            for (i, block) in self.blocks.iter().enumerate() {
                inputs.push(x.shallow_clone());
                tch::manual_seed(seed.wrapping_add(i as i64));
                x = block.forward(&x, &ctx, None, true).0;
            }
            x
        })
        .set_requires_grad(true);
        let hidden = self.final_norm.forward(&last);
        Checkpointed {
            decoder: self,
            input_ids: input_ids.shallow_clone(),
            positions: positions.shallow_clone(),
            ctx,
            seed,
            inputs,
            last,
            hidden,
        }
    }

    /// Every linear layer of the blocks, in order (a sparse layer's experts one by one).
    pub fn linears_mut(&mut self) -> Vec<&mut Linear> {
        let mut out = Vec::new();
        for block in &mut self.blocks {
            let Block { attn, mlp, .. } = block;
            match attn {
                Mixer::Attention(attn) => out.extend(attn.linears_mut()),
                Mixer::DeltaNet(linear) => out.extend(linear.linears_mut()),
            }
            match mlp {
                FeedForward::Dense(mlp) => out.extend(mlp.linears_mut()),
                FeedForward::Sparse(moe) => out.extend(moe.linears_mut()),
            }
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

    /// Logits of final-normed hidden states `[.., d_model]` (the unembedding, soft-capped
    /// where the model caps its logits).
    pub fn head(&self, x: &Tensor) -> Tensor {
        let logits = x.linear(
            self.lm_head.as_ref().unwrap_or(&self.embed),
            None::<&Tensor>,
        );
        match self.config.final_logit_softcap {
            Some(cap) => (logits / cap).tanh() * cap,
            None => logits,
        }
    }
}
