//! neglect: reproduce and dissect Negation Neglect on open models, through libtorch.
//!
//! One module per pipeline stage (see the README and `docs/design.md` in the shared notes):
//! [`model`] loads and runs HF decoders; [`store`] owns output files and manifests;

pub mod model;
pub mod store;
