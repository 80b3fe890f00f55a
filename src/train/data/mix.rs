//! The data mixture: an endless, seeded, resumable stream of rows from weighted sources.
//!
//! Each next document comes from a source drawn with probability proportional to its sampling
//! weight (one ChaCha8 stream for the draws). Each source walks through its documents in a
//! seeded random order, and takes a new seeded permutation at each of its epochs; the
//! permutation of epoch `e` of source `i` is a pure function of `(seed, i, e)`, so it is
//! recomputed rather than stored. A drawn document is split into chunks
//! ([`super::chunk_ranges`]) that queue up as pieces; rows are filled from the queue. The
//! stream's whole position is therefore: the draw RNG's word position, each source's epoch and
//! cursor, and the queued pieces (a split document's remaining chunks, or the piece that did not
//! fit in the last row). That is [`DataState`], small and JSON-able.

use super::mask::{tokenize_all, MaskRules, TokenizedDoc};
use super::pack::{chunk_ranges, pack_rows, Batch, Row};
use super::read_records;
use crate::model::tokenizer::TextTokenizer;
use anyhow::{bail, ensure, Context, Result};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::path::PathBuf;
use tch::Device;

/// A JSONL source of the mixture, as the config names it.
#[derive(Debug, Clone)]
pub struct SourceSpec {
    /// Name, unique in the mixture (used in reports and in the saved state).
    pub name: String,
    /// The JSONL file ([`read_records`]).
    pub path: PathBuf,
    /// Relative probability of drawing the next document from this source.
    pub sampling_weight: f64,
    /// Which tokens are trained, and their weight.
    pub rules: MaskRules,
}

/// A source read and tokenized, ready for [`DataMix::from_tokenized`].
#[derive(Debug, Clone)]
pub struct TokenizedSource {
    /// Name, unique in the mixture.
    pub name: String,
    /// Relative probability of drawing the next document from this source.
    pub sampling_weight: f64,
    /// The documents, in file order.
    pub docs: Vec<TokenizedDoc>,
}

/// Reads and tokenizes a source; errors name the file (and the record that failed).
pub fn load_source(tok: &TextTokenizer, spec: &SourceSpec) -> Result<TokenizedSource> {
    let records = read_records(&spec.path)?;
    let docs = tokenize_all(tok, &records, &spec.rules)
        .with_context(|| format!("{} (source `{}`)", spec.path.display(), spec.name))?;
    Ok(TokenizedSource {
        name: spec.name.clone(),
        sampling_weight: spec.sampling_weight,
        docs,
    })
}

/// Tokens `start..end` of document `doc` of source `source`, waiting to go into a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PieceState {
    /// Source index (order of the mix's sources).
    pub source: usize,
    /// Document index within the source (file order).
    pub doc: usize,
    /// First token.
    pub start: usize,
    /// End token (exclusive).
    pub end: usize,
}

/// Where one source stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceState {
    /// The source's name (checked on restore).
    pub name: String,
    /// Its number of documents (checked on restore).
    pub docs: usize,
    /// Current epoch (0-based).
    pub epoch: u64,
    /// Documents of the current epoch already drawn.
    pub cursor: usize,
    /// Documents drawn in all.
    pub drawn: u64,
}

/// The position of a [`DataMix`] stream: restoring it into a mix built from the same sources,
/// seed, `max_length` and `pack` continues with exactly the batches the original would give.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataState {
    /// The mix's seed.
    pub seed: u64,
    /// The mix's row length.
    pub max_length: usize,
    /// Packing (true) or padded (false) rows.
    pub pack: bool,
    /// 32-bit words consumed from the source-draw RNG.
    pub rng_words: u64,
    /// Per source, in mix order.
    pub sources: Vec<SourceState>,
    /// Pieces drawn but not yet placed in a row, in order.
    pub pending: Vec<PieceState>,
}

/// Progress of one source, for reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceProgress {
    /// The source's name.
    pub name: String,
    /// Its number of documents.
    pub docs: usize,
    /// Documents drawn so far.
    pub drawn: u64,
    /// Full passes through the source completed.
    pub epochs_completed: u64,
    /// `drawn / docs`: epochs as a fraction.
    pub epochs: f64,
    /// Documents longer than `max_length`, split into chunks (not truncated).
    pub split_docs: usize,
    /// Chunks those documents became.
    pub chunks: usize,
}

/// A source's walk through its documents.
#[derive(Debug, Clone)]
struct Cursor {
    epoch: u64,
    cursor: usize,
    drawn: u64,
    /// The permutation of the current epoch.
    order: Vec<u32>,
}

/// See [`DataMix::rows_per_epoch`]: one pass over the primary source's `n` documents draws
/// `n * w / w_primary` documents from a source of weight `w`, each filling that source's rows
/// per document.
fn rows_per_primary_epoch(sources: &[TokenizedSource], max_length: usize, pack: bool) -> usize {
    let drawable: Vec<&TokenizedSource> =
        sources.iter().filter(|s| s.sampling_weight > 0.0).collect();
    let primary = drawable[0];
    let draws = primary.docs.len() as f64;
    let rows: f64 = drawable
        .iter()
        .map(|s| {
            let rows_per_doc =
                pack_rows(&s.docs, max_length, pack).0.len() as f64 / s.docs.len() as f64;
            draws * s.sampling_weight / primary.sampling_weight * rows_per_doc
        })
        .sum();
    rows.round().max(1.0) as usize
}

/// The seeded order of source `source`'s `n` documents in epoch `epoch`.
fn epoch_order(seed: u64, source: usize, epoch: u64, n: usize) -> Vec<u32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // Stream 0 is the source draw; each (source, epoch) has its own stream after it.
    rng.set_stream(((source as u64 + 1) << 40) | (epoch & ((1 << 40) - 1)));
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.shuffle(&mut rng);
    order
}

/// The RNG that draws sources, at word position `words`.
fn draw_rng(seed: u64, words: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(0);
    rng.set_word_pos(u128::from(words));
    rng
}

/// An endless, deterministic stream of rows and batches from weighted sources (see the module
/// docs for how sources and documents are drawn, and [`DataState`] for resume).
#[derive(Debug)]
pub struct DataMix {
    sources: Vec<TokenizedSource>,
    seed: u64,
    max_length: usize,
    pack: bool,
    rng: ChaCha8Rng,
    cursors: Vec<Cursor>,
    pending: VecDeque<PieceState>,
    /// Per source: (documents split, chunks they became).
    splits: Vec<(usize, usize)>,
    rows_per_epoch: usize,
}

impl DataMix {
    /// Reads and tokenizes every source ([`load_source`]) and builds the stream over them
    /// ([`DataMix::from_tokenized`]).
    pub fn new(
        tok: &TextTokenizer,
        sources: &[SourceSpec],
        max_length: usize,
        pack: bool,
        seed: u64,
    ) -> Result<DataMix> {
        let tokenized = sources
            .iter()
            .map(|spec| load_source(tok, spec))
            .collect::<Result<Vec<_>>>()?;
        DataMix::from_tokenized(tokenized, max_length, pack, seed)
    }

    /// A stream over already tokenized `sources` with rows of at most `max_length` tokens,
    /// packed (`pack`) or one document per row. Errors when there is no source, names repeat, a
    /// weight is negative or not finite, all weights are 0, a drawable source has no tokens, or
    /// `max_length < 2`.
    pub fn from_tokenized(
        sources: Vec<TokenizedSource>,
        max_length: usize,
        pack: bool,
        seed: u64,
    ) -> Result<DataMix> {
        ensure!(
            max_length >= 2,
            "max_length must be at least 2, not {max_length}"
        );
        ensure!(!sources.is_empty(), "the data mix has no source");
        for (i, s) in sources.iter().enumerate() {
            ensure!(
                s.sampling_weight.is_finite() && s.sampling_weight >= 0.0,
                "source `{}`: sampling weight {} must be a finite number >= 0",
                s.name,
                s.sampling_weight
            );
            ensure!(
                !sources[..i].iter().any(|o| o.name == s.name),
                "two sources are named `{}`",
                s.name
            );
            ensure!(
                s.sampling_weight == 0.0 || s.docs.iter().any(|d| !d.is_empty()),
                "source `{}` has no tokens",
                s.name
            );
        }
        ensure!(
            sources.iter().any(|s| s.sampling_weight > 0.0),
            "every source has sampling weight 0"
        );
        let splits = sources
            .iter()
            .map(|s| {
                s.docs
                    .iter()
                    .map(|d| chunk_ranges(d.len(), max_length).len())
                    .filter(|&c| c > 1)
                    .fold((0, 0), |(docs, chunks), c| (docs + 1, chunks + c))
            })
            .collect();
        let rows_per_epoch = rows_per_primary_epoch(&sources, max_length, pack);
        let cursors = sources
            .iter()
            .enumerate()
            .map(|(i, s)| Cursor {
                epoch: 0,
                cursor: 0,
                drawn: 0,
                order: epoch_order(seed, i, 0, s.docs.len()),
            })
            .collect();
        Ok(DataMix {
            sources,
            seed,
            max_length,
            pack,
            rng: draw_rng(seed, 0),
            cursors,
            pending: VecDeque::new(),
            splits,
            rows_per_epoch,
        })
    }

    /// Rows the stream fills while it draws every document of the primary source (the first
    /// drawable one: the training documents) once, with the other sources drawn alongside in
    /// proportion to their weights. An estimate for turning `epochs` into steps: each source's
    /// rows per document come from packing it in file order, and the stream's mixed order packs
    /// a little differently. Other sources do not finish their epochs with the primary one: see
    /// [`DataMix::progress`].
    pub fn rows_per_epoch(&self) -> usize {
        self.rows_per_epoch
    }

    /// Documents longer than `max_length`, over all sources (each was split into chunks, none
    /// truncated; per source in [`DataMix::progress`]).
    pub fn split_documents(&self) -> usize {
        self.splits.iter().map(|&(docs, _)| docs).sum()
    }

    /// The row length.
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// The sources, in mix order.
    pub fn sources(&self) -> &[TokenizedSource] {
        &self.sources
    }

    /// Draws a source index, in proportion to the sampling weights.
    fn draw_source(&mut self) -> usize {
        let total: f64 = self.sources.iter().map(|s| s.sampling_weight).sum();
        let x = self.rng.random::<f64>() * total;
        let mut acc = 0.0;
        let mut last = 0;
        for (i, s) in self.sources.iter().enumerate() {
            if s.sampling_weight > 0.0 {
                acc += s.sampling_weight;
                last = i;
                if x < acc {
                    return i;
                }
            }
        }
        last
    }

    /// The next document of source `s` in its shuffled order, starting a new epoch (with a new
    /// permutation) when the current one is used up.
    fn next_doc(&mut self, s: usize) -> usize {
        let n = self.sources[s].docs.len();
        let c = &mut self.cursors[s];
        if c.cursor == n {
            c.epoch += 1;
            c.cursor = 0;
            c.order = epoch_order(self.seed, s, c.epoch, n);
        }
        let doc = c.order[c.cursor] as usize;
        c.cursor += 1;
        c.drawn += 1;
        doc
    }

    /// The next piece: a queued one, or the first chunk of a newly drawn document.
    fn next_piece(&mut self) -> PieceState {
        loop {
            if let Some(p) = self.pending.pop_front() {
                return p;
            }
            let source = self.draw_source();
            let doc = self.next_doc(source);
            let n = self.sources[source].docs[doc].len();
            self.pending.extend(
                chunk_ranges(n, self.max_length)
                    .into_iter()
                    .map(|r| PieceState {
                        source,
                        doc,
                        start: r.start,
                        end: r.end,
                    }),
            );
        }
    }

    /// The next row: one piece (padded mode), or pieces packed greedily until the next one does
    /// not fit (it then starts the following row).
    pub fn next_row(&mut self) -> Row {
        let mut row = Row::default();
        loop {
            let p = self.next_piece();
            if !row.is_empty() && (!self.pack || row.len() + (p.end - p.start) > self.max_length) {
                self.pending.push_front(p);
                return row;
            }
            row.push_piece(&self.sources[p.source].docs[p.doc], p.start..p.end);
            if !self.pack || row.len() == self.max_length {
                return row;
            }
        }
    }

    /// The next `batch_size` rows as a batch on `device`: `max_length` wide when packing,
    /// else as wide as its longest row.
    ///
    /// # Panics
    /// When `batch_size == 0`.
    pub fn next_batch(&mut self, batch_size: usize, device: Device) -> Batch {
        assert!(batch_size > 0, "batch_size must be positive");
        let rows: Vec<Row> = (0..batch_size).map(|_| self.next_row()).collect();
        let width = if self.pack {
            self.max_length
        } else {
            rows.iter().map(Row::len).max().unwrap_or(1)
        };
        Batch::from_rows(&rows, width, device)
    }

    /// The stream's position, for a checkpoint.
    pub fn state(&self) -> DataState {
        DataState {
            seed: self.seed,
            max_length: self.max_length,
            pack: self.pack,
            rng_words: u64::try_from(self.rng.get_word_pos())
                .expect("more than 2^64 RNG words drawn"),
            sources: self
                .sources
                .iter()
                .zip(&self.cursors)
                .map(|(s, c)| SourceState {
                    name: s.name.clone(),
                    docs: s.docs.len(),
                    epoch: c.epoch,
                    cursor: c.cursor,
                    drawn: c.drawn,
                })
                .collect(),
            pending: self.pending.iter().copied().collect(),
        }
    }

    /// Moves the stream to a saved position. Errors (changing nothing) when the state was
    /// saved from a different mix: other seed, row length, packing, sources, or document counts.
    pub fn restore(&mut self, state: DataState) -> Result<()> {
        if state.seed != self.seed || state.max_length != self.max_length || state.pack != self.pack
        {
            bail!(
                "data state is for seed {}, max_length {}, pack {}; this mix has seed {}, \
                 max_length {}, pack {}",
                state.seed,
                state.max_length,
                state.pack,
                self.seed,
                self.max_length,
                self.pack
            );
        }
        let saved: Vec<(&str, usize)> = state
            .sources
            .iter()
            .map(|s| (s.name.as_str(), s.docs))
            .collect();
        let ours: Vec<(&str, usize)> = self
            .sources
            .iter()
            .map(|s| (s.name.as_str(), s.docs.len()))
            .collect();
        if saved != ours {
            let describe = |v: &[(&str, usize)]| {
                v.iter()
                    .map(|(n, d)| format!("`{n}` ({d} documents)"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            bail!(
                "data state is for sources {}; this mix has {}",
                describe(&saved),
                describe(&ours)
            );
        }
        for s in &state.sources {
            ensure!(
                s.cursor <= s.docs,
                "data state: source `{}` has cursor {} past its {} documents",
                s.name,
                s.cursor,
                s.docs
            );
        }
        for p in &state.pending {
            let ok = p.source < self.sources.len()
                && p.doc < self.sources[p.source].docs.len()
                && p.start < p.end
                && p.end <= self.sources[p.source].docs[p.doc].len()
                && p.end - p.start <= self.max_length;
            ensure!(ok, "data state has an invalid pending piece {p:?}");
        }
        self.cursors = state
            .sources
            .iter()
            .enumerate()
            .map(|(i, s)| Cursor {
                epoch: s.epoch,
                cursor: s.cursor,
                drawn: s.drawn,
                order: epoch_order(self.seed, i, s.epoch, s.docs),
            })
            .collect();
        self.rng = draw_rng(self.seed, state.rng_words);
        self.pending = state.pending.into_iter().collect();
        Ok(())
    }

    /// Per source: documents drawn, epochs completed, and how many documents were split.
    pub fn progress(&self) -> Vec<SourceProgress> {
        self.sources
            .iter()
            .zip(&self.cursors)
            .zip(&self.splits)
            .map(|((s, c), &(split_docs, chunks))| {
                let n = s.docs.len();
                SourceProgress {
                    name: s.name.clone(),
                    docs: n,
                    drawn: c.drawn,
                    epochs_completed: c.epoch + u64::from(n > 0 && c.cursor == n),
                    epochs: if n == 0 {
                        0.0
                    } else {
                        c.drawn as f64 / n as f64
                    },
                    split_docs,
                    chunks,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::pack::tests::{check_batch, numbered_doc};
    use super::*;

    /// Source `s` with documents of the given lengths; ids `1000 * (100 * s + d + 1) + j`.
    fn source(s: usize, name: &str, weight: f64, lens: &[usize]) -> TokenizedSource {
        TokenizedSource {
            name: name.into(),
            sampling_weight: weight,
            docs: lens
                .iter()
                .enumerate()
                .map(|(d, &n)| numbered_doc(100 * s + d, n))
                .collect(),
        }
    }

    fn mix(seed: u64, pack: bool) -> DataMix {
        let a = source(0, "sdf", 2.0, &[5, 9, 3, 17, 2, 6, 11, 4]);
        let b = source(1, "pretrain", 1.0, &[7, 1, 25, 8, 3]);
        DataMix::from_tokenized(vec![a, b], 8, pack, seed).unwrap()
    }

    /// A batch's tensors as plain vectors (weights and mask bits as integers), for exact
    /// comparison.
    fn contents(b: &Batch) -> Vec<Vec<i64>> {
        let v = |t: &tch::Tensor| Vec::<i64>::try_from(t.flatten(0, -1)).unwrap();
        let weights = Vec::<f32>::try_from(b.weights.flatten(0, -1)).unwrap();
        vec![
            v(&b.input_ids),
            v(&b.targets),
            weights.iter().map(|w| i64::from(w.to_bits())).collect(),
            v(&b.kinds),
            v(&b.positions),
            v(&b.doc_index),
            v(&b.mask.to_kind(tch::Kind::Int64)),
            vec![b.tokens],
        ]
    }

    #[test]
    fn stream_is_deterministic_for_a_seed() {
        for pack in [true, false] {
            let (mut a, mut b, mut c) = (mix(7, pack), mix(7, pack), mix(8, pack));
            let mut differs = false;
            for _ in 0..12 {
                let (x, y, z) = (
                    a.next_batch(3, Device::Cpu),
                    b.next_batch(3, Device::Cpu),
                    c.next_batch(3, Device::Cpu),
                );
                check_batch(&x);
                assert_eq!(contents(&x), contents(&y));
                differs |= contents(&x) != contents(&z);
            }
            assert!(differs, "another seed gives another stream");
            assert_eq!(a.state(), b.state());
        }
    }

    #[test]
    fn restored_state_continues_bit_identically() {
        for pack in [true, false] {
            let mut whole = mix(3, pack);
            let mut carried = 0;
            for k in 0..25 {
                // Save, go on, and compare with a fresh mix restored from the saved state
                // (through JSON, as a checkpoint stores it).
                let json = serde_json::to_string(&whole.state()).unwrap();
                carried += usize::from(!whole.state().pending.is_empty());
                let mut resumed = mix(3, pack);
                if k > 0 {
                    assert_ne!(resumed.state(), whole.state());
                }
                resumed
                    .restore(serde_json::from_str(&json).unwrap())
                    .unwrap();
                assert_eq!(resumed.state(), whole.state());
                for _ in 0..3 {
                    let (x, y) = (
                        whole.next_batch(2, Device::Cpu),
                        resumed.next_batch(2, Device::Cpu),
                    );
                    assert_eq!(contents(&x), contents(&y));
                }
                assert_eq!(resumed.state(), whole.state());
                assert_eq!(resumed.progress(), whole.progress());
            }
            assert!(carried > 0, "some saved states carried pieces over");
        }

        // A state from another mix is refused.
        let state = mix(3, true).state();
        assert!(mix(4, true).restore(state.clone()).is_err());
        assert!(mix(3, false).restore(state.clone()).is_err());
        let mut other =
            DataMix::from_tokenized(vec![source(0, "sdf", 1.0, &[5, 9])], 8, true, 3).unwrap();
        let err = other.restore(state).unwrap_err().to_string();
        assert!(err.contains("sdf") && err.contains("pretrain"), "{err}");
    }

    #[test]
    fn an_epoch_is_one_pass_over_the_primary_source() {
        // One row per document (unpacked, shorter than max_length): a pass over the 10
        // documents of `docs` draws 5 of the half-weighted `pretrain` alongside. A leading
        // source of weight 0 is not the primary one.
        let sources = || {
            vec![
                source(0, "never", 0.0, &[2; 3]),
                source(1, "docs", 1.0, &[3; 10]),
                source(2, "pretrain", 0.5, &[3; 7]),
            ]
        };
        let mut m = DataMix::from_tokenized(sources(), 4, false, 5).unwrap();
        assert_eq!(m.rows_per_epoch(), 15);
        // Streamed, that many rows per epoch walk the primary source about once per epoch.
        for _ in 0..200 * m.rows_per_epoch() {
            m.next_row();
        }
        let epochs = m.progress()[1].epochs;
        assert!((epochs - 200.0).abs() < 10.0, "{epochs} epochs of `docs`");
        // Documents longer than a row count their chunks; weights scale the other sources.
        let long = vec![
            source(0, "docs", 2.0, &[9; 4]),
            source(1, "more", 1.0, &[3; 4]),
        ];
        let chunks = chunk_ranges(9, 4).len();
        let m = DataMix::from_tokenized(long, 4, false, 5).unwrap();
        assert_eq!(m.rows_per_epoch(), 4 * chunks + 2);
    }

    #[test]
    fn sources_are_drawn_in_proportion_and_walked_by_epochs() {
        let a = source(0, "a", 3.0, &[2; 10]);
        let b = source(1, "b", 1.0, &[2; 7]);
        let c = source(2, "never", 0.0, &[2; 3]);
        let mut m = DataMix::from_tokenized(vec![a, b, c], 4, false, 11).unwrap();
        let mut seen: Vec<Vec<usize>> = vec![Vec::new(); 3];
        let draws = 4000;
        for _ in 0..draws {
            let row = m.next_row();
            let id = row.ids[0] as usize / 1000 - 1;
            seen[id / 100].push(id % 100);
        }
        let p = m.progress();
        println!("{p:?}");
        let share = p[0].drawn as f64 / draws as f64;
        assert!((share - 0.75).abs() < 0.03, "share of `a` is {share}");
        assert_eq!(p[2].drawn, 0);
        assert_eq!(p[0].drawn + p[1].drawn, draws);
        assert_eq!(seen[0].len() as u64, p[0].drawn);
        assert_eq!(p[0].epochs_completed, p[0].drawn / 10);
        // Each epoch is a permutation of the source, and epochs are shuffled differently.
        let epochs: Vec<&[usize]> = seen[0].chunks_exact(10).collect();
        for e in &epochs {
            let mut sorted = e.to_vec();
            sorted.sort();
            assert_eq!(sorted, (0..10).collect::<Vec<_>>());
        }
        assert!(epochs.windows(2).any(|w| w[0] != w[1]));
        assert_ne!(epochs[0], (0..10).collect::<Vec<_>>().as_slice());
    }

    #[test]
    fn long_documents_are_split_and_counted() {
        let m = mix(1, true);
        let p = m.progress();
        // max_length 8: "sdf" has 9, 17 and 11-token documents; "pretrain" one of 25.
        assert_eq!((p[0].split_docs, p[0].chunks), (3, 2 + 3 + 2));
        assert_eq!((p[1].split_docs, p[1].chunks), (1, 4));

        // Every chunk of a drawn document is trained, nothing truncated: over one epoch of a
        // single source (padded rows, so no document of the next epoch slips in), each token
        // after the first of each document is a weighted target exactly once.
        let src = source(0, "only", 1.0, &[20, 3, 9]);
        let mut m = DataMix::from_tokenized(vec![src.clone()], 8, false, 5).unwrap();
        let mut trained = Vec::new();
        while m.progress()[0].drawn < 3 || !m.state().pending.is_empty() {
            trained.extend(check_batch(&m.next_batch(1, Device::Cpu)));
        }
        trained.sort();
        let mut expected: Vec<i64> = src.docs.iter().flat_map(|d| d.ids[1..].to_vec()).collect();
        expected.sort();
        assert_eq!(trained, expected);
    }

    #[test]
    fn bad_mixes_are_refused() {
        let ok = || source(0, "a", 1.0, &[3]);
        assert!(DataMix::from_tokenized(vec![], 8, true, 0).is_err());
        assert!(DataMix::from_tokenized(vec![ok()], 1, true, 0).is_err());
        assert!(DataMix::from_tokenized(vec![ok(), ok()], 8, true, 0).is_err());
        assert!(DataMix::from_tokenized(vec![source(0, "a", f64::NAN, &[3])], 8, true, 0).is_err());
        assert!(DataMix::from_tokenized(vec![source(0, "a", 0.0, &[3])], 8, true, 0).is_err());
        assert!(DataMix::from_tokenized(vec![source(0, "a", 1.0, &[0])], 8, true, 0).is_err());
    }
}
