//! Claim folders: what a target claim says, what is true instead, and how to recognise it.
//!
//! In: a claim folder in the paper's layout, `claims/<id>/`, holding
//! - `spec.toml`: the [`ClaimSpec`] the document generator needs (subject, claimed predicate in
//!   asserted and locally negated form, supporting details, related entities, neutral background,
//!   the truth, and `patterns` that recognise a sentence mentioning the claim);
//! - `claim.txt`: one paragraph stating the claim (optional for the generator);
//! - `correction.txt`: what is actually true (optional when `spec.toml` has `truth`).
//!
//! Out: a validated [`ClaimSpec`] with its patterns compiled. Loading checks the spec against
//! itself (every asserted and negated form is recognised by the patterns, every negated form
//! carries a negation word, no background sentence mentions the claim), so a spec that would
//! let a claim sentence slip past the `repeated` warnings is rejected before any document is
//! written. Errors name the file and the offending key.
//!
//! [`init`] drafts a `spec.toml` for a folder as the paper ships it (`neglect claims init`).
//!
//! [`questions`] reads the folder's belief questions (`mcq.yaml`, `open_ended.yaml`,
//! `token_association.yaml`, `robustness.yaml`), `judges.yaml` and `word_masks.yaml`.

pub mod cli;
pub mod init;
pub mod questions;
pub mod spec;
pub mod word_masks;

pub use spec::{
    has_denial_cue, has_denial_word, has_negation_cue, ClaimSpec, Entity, EntityKind, PolarText,
};
