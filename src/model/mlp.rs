//! The dense feed-forward layer: gated (`gate_proj`/`up_proj`, or Phi-3's fused
//! `gate_up_proj`) or plain (GPT-2's `c_fc`), then the down projection.

use super::config::{Activation, ModelConfig};
use super::layers::{activate, Init, Linear, WeightLayout};
use tch::{nn, Kind, Tensor};

#[derive(Debug)]
enum Inner {
    /// `act(gate(x)) * up(x)`.
    Gated { gate: Linear, up: Linear },
    /// `act(g) * u` where `[g, u] = gate_up(x)`.
    FusedGated(Linear),
    /// `act(fc(x))`.
    Plain(Linear),
}

/// A dense MLP of inner width `inner` (a block's, or one expert's).
#[derive(Debug)]
pub(crate) struct Mlp {
    inner: Inner,
    down: Linear,
    activation: Activation,
}

impl Mlp {
    /// Registers the MLP's projections under `path`.
    pub(crate) fn new(
        path: nn::Path,
        cfg: &ModelConfig,
        inner: i64,
        kind: Kind,
        init: Init,
    ) -> Self {
        let d = cfg.hidden_size;
        let linear = |name: &str, a, b, layout| {
            Linear::new(&path / name, a, b, cfg.mlp_bias, layout, kind, init)
        };
        let (inner_layers, down) = match (cfg.gated_mlp, cfg.fused_gate_up) {
            (true, false) => (
                Inner::Gated {
                    gate: linear("gate_proj", d, inner, WeightLayout::OutIn),
                    up: linear("up_proj", d, inner, WeightLayout::OutIn),
                },
                linear("down_proj", inner, d, WeightLayout::OutIn),
            ),
            (true, true) => (
                Inner::FusedGated(linear("gate_up_proj", d, 2 * inner, WeightLayout::OutIn)),
                linear("down_proj", inner, d, WeightLayout::OutIn),
            ),
            (false, _) => (
                Inner::Plain(linear("c_fc", d, inner, WeightLayout::InOut)),
                linear("c_proj", inner, d, WeightLayout::InOut),
            ),
        };
        Mlp {
            inner: inner_layers,
            down,
            activation: cfg.activation,
        }
    }

    /// Every projection, in order.
    pub(crate) fn linears_mut(&mut self) -> Vec<&mut Linear> {
        let mut out: Vec<&mut Linear> = match &mut self.inner {
            Inner::Gated { gate, up } => vec![gate, up],
            Inner::FusedGated(gate_up) => vec![gate_up],
            Inner::Plain(fc) => vec![fc],
        };
        out.push(&mut self.down);
        out
    }

    /// Applies the MLP to the last dimension of `x`.
    pub(crate) fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let hidden = match &self.inner {
            Inner::Gated { gate, up } => {
                activate(&gate.forward(x, train), self.activation) * up.forward(x, train)
            }
            Inner::FusedGated(gate_up) => {
                let both = gate_up.forward(x, train).chunk(2, -1);
                activate(&both[0], self.activation) * &both[1]
            }
            Inner::Plain(fc) => activate(&fc.forward(x, train), self.activation),
        };
        self.down.forward(&hidden, train)
    }
}
