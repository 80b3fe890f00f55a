//! neglect: reproduce and dissect Negation Neglect on open models, through libtorch.
//!
//! One module per pipeline stage (see the README and `docs/design.md` in the shared notes):
//! [`model`] loads and runs HF decoders; [`store`] owns output files and manifests;
//! [`claims`] reads claim folders; [`docs`] writes the SDF documents of every condition;
//! [`eval`] measures belief in a claim; [`experiment`] runs experiments end to end;
//! [`plot`] draws the figures from stored tables; [`probe`] fits linear truth probes on
//! cached activations and reads a claim out of every checkpoint.

pub mod bench;
pub mod claims;
pub mod docs;
pub mod eval;
pub mod experiment;
pub mod model;
pub mod plot;
pub mod probe;
pub mod store;
pub mod train;
pub mod world;
