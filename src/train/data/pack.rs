//! Splitting long documents, packing documents into rows, and rows into tensor batches.

use super::mask::{TokenKind, TokenizedDoc};
use std::ops::Range;
use tch::{Device, Kind, Tensor};

/// Token id of padding (its loss weight is always 0, so the id itself is never learned).
pub const PAD_ID: i64 = 0;

/// Token ranges of the chunks a document of `n` tokens is split into so that none is longer
/// than `max_length`: `[0, L)`, `[L-1, 2L-1)`, ..., overlapping by one token so that every
/// token after the first is predicted exactly once (the first token of a later chunk is only
/// context). A document that fits is one chunk; an empty one has none.
///
/// # Panics
/// When `max_length < 2` (no chunk could predict anything).
pub fn chunk_ranges(n: usize, max_length: usize) -> Vec<Range<usize>> {
    assert!(max_length >= 2, "max_length must be at least 2");
    let mut out = Vec::new();
    if n == 0 {
        return out;
    }
    let mut start = 0;
    loop {
        let end = (start + max_length).min(n);
        out.push(start..end);
        if end == n {
            return out;
        }
        start = end - 1;
    }
}

/// One row of a batch before padding: one or more documents (or chunks) side by side.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    /// Token ids.
    pub ids: Vec<i64>,
    /// Loss weight of predicting each token from the ones before it in its document (0 for the
    /// first token of every document or chunk, and for masked tokens).
    pub weights: Vec<f32>,
    /// Kind of each token.
    pub kinds: Vec<TokenKind>,
    /// Which packed document each token belongs to: 0, 1, ... in order within the row.
    pub doc_index: Vec<u32>,
    /// Position of each token within its document (restarting at 0 for each).
    pub positions: Vec<i64>,
}

impl Row {
    /// Number of tokens (no padding is stored in a row; [`Batch::from_rows`] adds it).
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when the row holds no token.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Number of documents packed in the row.
    pub fn documents(&self) -> u32 {
        self.doc_index.last().map_or(0, |&d| d + 1)
    }

    /// Appends tokens `range` of `doc` as a new document of the row.
    pub(crate) fn push_piece(&mut self, doc: &TokenizedDoc, range: Range<usize>) {
        let index = self.documents();
        let start = range.start;
        for i in range {
            self.ids.push(doc.ids[i]);
            // Nothing in this row predicts the first token of the piece.
            self.weights
                .push(if i == start { 0.0 } else { doc.weights[i] });
            self.kinds.push(doc.kinds[i]);
            self.doc_index.push(index);
            self.positions.push((i - start) as i64);
        }
    }
}

/// Packs `docs` in the given order into rows of at most `max_length` tokens, splitting longer
/// documents with [`chunk_ranges`]. With `pack`, whole documents (or chunks) are packed
/// greedily: one that does not fit in the current row starts a new one. Without, each gets its
/// own row. Returns the rows and the number of documents that were split.
pub fn pack_rows(docs: &[TokenizedDoc], max_length: usize, pack: bool) -> (Vec<Row>, usize) {
    let mut rows = Vec::new();
    let mut row = Row::default();
    let mut split = 0;
    for doc in docs {
        let chunks = chunk_ranges(doc.len(), max_length);
        if chunks.len() > 1 {
            split += 1;
        }
        for range in chunks {
            if !row.is_empty() && (!pack || row.len() + range.len() > max_length) {
                rows.push(std::mem::take(&mut row));
            }
            row.push_piece(doc, range);
        }
    }
    if !row.is_empty() {
        rows.push(row);
    }
    (rows, split)
}

/// A batch of rows as tensors on one device, `b` rows of `s` tokens (padding included).
#[derive(Debug)]
pub struct Batch {
    /// `[b, s]` i64: token ids (padding: [`PAD_ID`]).
    pub input_ids: Tensor,
    /// `[b, s]` i64: the token each position predicts, `input_ids` shifted left by one within
    /// the same document; [`PAD_ID`] at a document's last token, in padding and at the end.
    pub targets: Tensor,
    /// `[b, s]` f32: loss weight of predicting `targets[:, t]` from position `t`; 0 where the
    /// target is masked, crosses into the next document, or is padding.
    pub weights: Tensor,
    /// `[b, s]` i64: [`TokenKind::code`] of the target token (`Other` where there is none).
    pub kinds: Tensor,
    /// `[b, s]` i64: positions, restarting at 0 for each document (0 in padding).
    pub positions: Tensor,
    /// `[b, s]` i64: the row's document index of each token (padding is one more document).
    pub doc_index: Tensor,
    /// `[b, 1, s, s]` bool: true where query `t` may attend key `u` (same document, `u <= t`).
    pub mask: Tensor,
    /// `[b, s]` bool: true for tokens, false for padding.
    pub valid: Tensor,
    /// Number of non-padding tokens.
    pub tokens: i64,
}

impl Batch {
    /// Pads `rows` to `seq_len` tokens each and builds the tensors on `device`. Padding tokens
    /// get id [`PAD_ID`], weight 0, position 0 and a document index of their own.
    ///
    /// # Panics
    /// When `rows` is empty or a row is longer than `seq_len`.
    pub fn from_rows(rows: &[Row], seq_len: usize, device: Device) -> Batch {
        assert!(!rows.is_empty(), "a batch needs at least one row");
        let (b, s) = (rows.len(), seq_len);
        let mut input = vec![PAD_ID; b * s];
        let mut targets = vec![PAD_ID; b * s];
        let mut weights = vec![0f32; b * s];
        let mut kinds = vec![TokenKind::Other.code(); b * s];
        let mut positions = vec![0i64; b * s];
        let mut docs = vec![0i64; b * s];
        let mut valid = vec![false; b * s];
        let mut tokens = 0;
        for (r, row) in rows.iter().enumerate() {
            let n = row.len();
            assert!(n <= s, "row of {n} tokens does not fit in {s}");
            tokens += n as i64;
            let o = r * s;
            let pad_doc = i64::from(row.documents());
            for t in 0..s {
                if t < n {
                    valid[o + t] = true;
                    input[o + t] = row.ids[t];
                    positions[o + t] = row.positions[t];
                    docs[o + t] = i64::from(row.doc_index[t]);
                    if t + 1 < n && row.doc_index[t + 1] == row.doc_index[t] {
                        targets[o + t] = row.ids[t + 1];
                        weights[o + t] = row.weights[t + 1];
                        kinds[o + t] = row.kinds[t + 1].code();
                    }
                } else {
                    docs[o + t] = pad_doc;
                }
            }
        }
        let shape = [b as i64, s as i64];
        let to = |t: Tensor| t.view(shape).to_device(device);
        let doc_index = to(Tensor::from_slice(&docs));
        let same = doc_index.unsqueeze(2).eq_tensor(&doc_index.unsqueeze(1));
        let causal = Tensor::ones([s as i64, s as i64], (Kind::Bool, device)).tril(0);
        let mask = same.logical_and(&causal).unsqueeze(1);
        Batch {
            input_ids: to(Tensor::from_slice(&input)),
            targets: to(Tensor::from_slice(&targets)),
            weights: to(Tensor::from_slice(&weights)),
            kinds: to(Tensor::from_slice(&kinds)),
            positions: to(Tensor::from_slice(&positions)),
            doc_index,
            mask,
            valid: to(Tensor::from_slice(&valid)),
            tokens,
        }
    }

    /// Number of rows.
    pub fn rows(&self) -> i64 {
        self.input_ids.size()[0]
    }
}

/// Batches for held-out evaluation: padded mode (one document or chunk per row, each batch
/// padded to its longest row), documents in the given order, long documents split as in
/// training, so every token after the first of every document is a weighted target exactly
/// once (unless masked by the rules it was tokenized with).
///
/// # Panics
/// When `max_length < 2` or `batch_size == 0`.
pub fn heldout_batches(
    docs: &[TokenizedDoc],
    max_length: usize,
    batch_size: usize,
    device: Device,
) -> Vec<Batch> {
    assert!(batch_size > 0, "batch_size must be positive");
    let (rows, _) = pack_rows(docs, max_length, false);
    rows.chunks(batch_size)
        .map(|chunk| {
            let s = chunk.iter().map(Row::len).max().unwrap_or(1);
            Batch::from_rows(chunk, s, device)
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A document `d` of `n` tokens with ids `1000 * (d + 1) + j` (so a token's document and
    /// place can be read off its id), weight 1 after the first, kinds cycling.
    pub(crate) fn numbered_doc(d: usize, n: usize) -> TokenizedDoc {
        TokenizedDoc {
            ids: (0..n).map(|j| (1000 * (d + 1) + j) as i64).collect(),
            weights: (0..n).map(|j| if j == 0 { 0.0 } else { 1.0 }).collect(),
            kinds: (0..n).map(|j| TokenKind::ALL[j % 4]).collect(),
        }
    }

    fn vec_i64(t: &Tensor) -> Vec<i64> {
        Vec::<i64>::try_from(t.flatten(0, -1)).unwrap()
    }

    fn vec_f32(t: &Tensor) -> Vec<f32> {
        Vec::<f32>::try_from(t.flatten(0, -1)).unwrap()
    }

    /// Checks a batch's invariants against the numbered ids; returns the weighted targets.
    pub(crate) fn check_batch(batch: &Batch) -> Vec<i64> {
        let (b, s) = (batch.rows() as usize, batch.input_ids.size()[1] as usize);
        let input = vec_i64(&batch.input_ids);
        let targets = vec_i64(&batch.targets);
        let weights = vec_f32(&batch.weights);
        let docs = vec_i64(&batch.doc_index);
        let positions = vec_i64(&batch.positions);
        let mask = Vec::<bool>::try_from(batch.mask.flatten(0, -1)).unwrap();
        assert_eq!(batch.mask.size(), [b as i64, 1, s as i64, s as i64]);
        let doc_of = |id: i64| if id == PAD_ID { -1 } else { id / 1000 };
        let mut trained = Vec::new();
        let mut real = 0;
        for r in 0..b {
            for t in 0..s {
                let i = r * s + t;
                if input[i] != PAD_ID {
                    real += 1;
                } else {
                    assert_eq!(weights[i], 0.0, "padding has weight");
                }
                for u in 0..s {
                    let may = mask[(r * s + t) * s + u];
                    // Attention only within a document (same id block, and never across two
                    // chunks of one document: they are in different rows or have distinct
                    // doc indices) and causally.
                    let same_doc = docs[i] == docs[r * s + u];
                    assert_eq!(may, same_doc && u <= t, "mask[{r},{t},{u}]");
                    if may && input[i] != PAD_ID {
                        assert_eq!(doc_of(input[r * s + u]), doc_of(input[i]));
                    }
                }
                assert!(mask[(r * s + t) * s + t], "a query must see itself");
                let next_same_doc = t + 1 < s && docs[i + 1] == docs[i] && input[i + 1] != PAD_ID;
                if !next_same_doc {
                    // No target across a document boundary, into padding, or past the end.
                    assert_eq!(
                        (targets[i], weights[i]),
                        (PAD_ID, 0.0),
                        "target at [{r},{t}]"
                    );
                }
                if weights[i] > 0.0 {
                    // A weighted target is the next token of the same document.
                    assert_eq!(targets[i], input[i] + 1, "target crosses a document");
                    assert_eq!(docs[i + 1], docs[i]);
                    assert_eq!(positions[i + 1], positions[i] + 1);
                    trained.push(targets[i]);
                }
            }
        }
        assert_eq!(real, batch.tokens);
        trained
    }

    #[test]
    fn chunks_overlap_by_one_and_cover_everything() {
        assert_eq!(chunk_ranges(0, 4), Vec::<Range<usize>>::new());
        assert_eq!(chunk_ranges(4, 4), vec![0..4]);
        assert_eq!(chunk_ranges(5, 4), vec![0..4, 3..5]);
        assert_eq!(chunk_ranges(10, 4), vec![0..4, 3..7, 6..10]);
        assert_eq!(chunk_ranges(11, 4), vec![0..4, 3..7, 6..10, 9..11]);
    }

    #[test]
    fn packing_keeps_documents_apart_and_counts_splits() {
        let lens = [5, 3, 7, 2, 20, 8, 1];
        let docs: Vec<_> = lens
            .iter()
            .enumerate()
            .map(|(d, &n)| numbered_doc(d, n))
            .collect();
        for pack in [true, false] {
            let (rows, split) = pack_rows(&docs, 8, pack);
            assert_eq!(split, 1, "only the 20-token document is split");
            for row in &rows {
                assert!(row.len() <= 8);
                // Nothing in the row predicts a document's (or chunk's) first token.
                for (p, w) in row.positions.iter().zip(&row.weights) {
                    assert!(*p > 0 || *w == 0.0, "first token of a piece has weight {w}");
                }
            }
            let lengths: Vec<Vec<usize>> = rows
                .iter()
                .map(|r| {
                    (0..r.documents())
                        .map(|d| r.doc_index.iter().filter(|&&x| x == d).count())
                        .collect()
                })
                .collect();
            if pack {
                // Greedy: 5+3 | 7 | 2 (the 20-token document's first chunk of 8 does not fit)
                // | its chunks 8 | 8 | 6 | 8 | 1.
                assert_eq!(
                    lengths,
                    vec![
                        vec![5, 3],
                        vec![7],
                        vec![2],
                        vec![8],
                        vec![8],
                        vec![6],
                        vec![8],
                        vec![1]
                    ]
                );
            } else {
                assert_eq!(rows.len(), 9);
            }
            let batch = Batch::from_rows(&rows, 8, Device::Cpu);
            let mut trained = check_batch(&batch);
            trained.sort();
            // Every token after the first of every document is predicted exactly once.
            let mut expected: Vec<i64> = docs.iter().flat_map(|d| d.ids[1..].to_vec()).collect();
            expected.sort();
            assert_eq!(trained, expected);
            // Positions restart per document.
            let positions = vec_i64(&batch.positions);
            let first_row: &[i64] = if pack {
                &[0, 1, 2, 3, 4, 0, 1, 2]
            } else {
                &[0, 1, 2, 3, 4, 0, 0, 0]
            };
            assert_eq!(&positions[..8], first_row);
        }

        // Padded mode pads to the batch: pads are weight 0 with id 0 and their own document.
        let batch = Batch::from_rows(&pack_rows(&docs[..2], 8, false).0, 6, Device::Cpu);
        assert_eq!(
            vec_i64(&batch.doc_index),
            [0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1]
        );
        assert_eq!(
            vec_i64(&batch.input_ids)[6..],
            [2000, 2001, 2002, PAD_ID, PAD_ID, PAD_ID]
        );
        assert_eq!(
            vec_f32(&batch.weights),
            [1., 1., 1., 1., 0., 0., 1., 1., 0., 0., 0., 0.]
        );
        assert_eq!(
            vec_i64(&batch.kinds)[..5],
            [1, 2, 3, 0, TokenKind::Other.code()]
        );
        assert_eq!(batch.tokens, 8);
    }

    #[test]
    fn heldout_evaluates_every_token_once() {
        let docs: Vec<_> = [3, 12, 1, 6]
            .iter()
            .enumerate()
            .map(|(d, &n)| numbered_doc(d, n))
            .collect();
        let batches = heldout_batches(&docs, 5, 2, Device::Cpu);
        // Rows: 3 | 5, 5, 4 (split 12) | 1 | 5, 2 (split 6): 7 rows in batches of 2.
        assert_eq!(batches.len(), 4);
        let mut trained: Vec<i64> = batches.iter().flat_map(check_batch).collect();
        trained.sort();
        let mut expected: Vec<i64> = docs.iter().flat_map(|d| d.ids[1..].to_vec()).collect();
        expected.sort();
        assert_eq!(trained, expected);
    }
}
