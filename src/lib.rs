//! neglect: reproduce and dissect Negation Neglect on open models, through libtorch.
//!
//! One module per pipeline stage (the README describes each verb and its outputs):
//! [`model`] loads and runs HF decoders; [`store`] owns output files, CSV tables, locks and
//! manifests; [`claims`] reads claim folders; [`docs`] writes the SDF documents of every
//! condition; [`train`] finetunes (full or LoRA) with checkpoints and held-out loss; [`eval`]
//! measures belief in a claim ([`stats`] holds the bootstrap intervals of every readout);
//! [`probe`] fits linear truth probes on cached activations and reads a claim out of every
//! checkpoint; [`tables`] names, writes and reads the stored tables every stage shares; [`experiment`] runs experiments end to end; [`plot`]
//! draws the figures from stored tables; [`world`] builds the embedded model organism and its
//! capability gates; [`bench`] measures throughput.

pub mod bench;
pub mod claims;
pub mod docs;
pub mod eval;
pub mod experiment;
pub mod intervene;
pub mod model;
pub mod plot;
pub mod probe;
pub mod stats;
pub mod store;
pub mod tables;
pub mod train;
pub mod world;
