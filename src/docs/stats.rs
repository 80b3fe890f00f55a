//! Statistics of a documents file (`neglect docs stats FILE.jsonl`).
//!
//! In: a JSONL file written by [`super::write_jsonl`] and a token counter (the model's
//! tokenizer, or [`whitespace_tokens`]). Out: a [`DocStats`] whose `Display` is a table:
//! document count, token lengths (median, p90), the share of tokens inside negation, qualifier,
//! claim and masked spans, and claim mentions per document.
//!
//! Span shares count the tokens of each span's text on its own and divide by the tokens of the
//! whole texts; with a subword tokenizer that is a close approximation of counting the tokens
//! that fall inside the spans, and exact for whitespace tokens.

use super::{read_jsonl, Document, SpanKind};
use anyhow::Result;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// Number of whitespace-separated tokens: the default token counter.
pub fn whitespace_tokens(text: &str) -> usize {
    text.split_whitespace().count()
}

/// Summary of a documents file.
#[derive(Debug, Clone, PartialEq)]
pub struct DocStats {
    /// The file summarised.
    pub path: String,
    /// Number of documents.
    pub documents: usize,
    /// Documents per condition name.
    pub conditions: BTreeMap<String, usize>,
    /// Median tokens per document (nearest rank).
    pub tokens_median: usize,
    /// 90th percentile of tokens per document (nearest rank).
    pub tokens_p90: usize,
    /// Fewest tokens in a document.
    pub tokens_min: usize,
    /// Most tokens in a document.
    pub tokens_max: usize,
    /// Tokens in all documents together.
    pub tokens_total: usize,
    /// Share of all tokens inside `negation` spans.
    pub negation_share: f64,
    /// Share of all tokens inside `qualifier` spans.
    pub qualifier_share: f64,
    /// Share of all tokens inside `claim` spans.
    pub claim_share: f64,
    /// Share of all tokens inside `masked` spans (whose training loss is masked; they may lie
    /// inside spans of the other kinds).
    pub masked_share: f64,
    /// Mean number of claim spans (claim mentions) per document.
    pub claim_mentions_mean: f64,
    /// Fewest claim mentions in a document.
    pub claim_mentions_min: usize,
    /// Most claim mentions in a document.
    pub claim_mentions_max: usize,
    /// Documents with no claim mention at all (an imported text the patterns do not recognise).
    pub without_claim: usize,
}

/// Reads `path` and summarises it, counting tokens with `count_tokens`.
pub fn stats(path: &Path, count_tokens: &dyn Fn(&str) -> usize) -> Result<DocStats> {
    let docs = read_jsonl(path)?;
    Ok(summarise(&path.display().to_string(), &docs, count_tokens))
}

/// Summarises documents already in memory; `path` only labels the result.
pub fn summarise(path: &str, docs: &[Document], count_tokens: &dyn Fn(&str) -> usize) -> DocStats {
    let mut lengths = Vec::with_capacity(docs.len());
    let mut mentions = Vec::with_capacity(docs.len());
    let mut conditions = BTreeMap::new();
    let (mut negation, mut qualifier, mut claim, mut masked) = (0usize, 0usize, 0usize, 0usize);
    for d in docs {
        lengths.push(count_tokens(&d.text));
        *conditions.entry(d.condition.clone()).or_insert(0) += 1;
        let mut m = 0;
        for s in &d.spans {
            let n = count_tokens(d.span_text(s));
            match s.kind {
                SpanKind::Negation => negation += n,
                SpanKind::Qualifier => qualifier += n,
                SpanKind::Claim => {
                    claim += n;
                    m += 1;
                }
                SpanKind::Masked => masked += n,
            }
        }
        mentions.push(m);
    }
    let total: usize = lengths.iter().sum();
    let share = |x: usize| {
        if total == 0 {
            0.0
        } else {
            x as f64 / total as f64
        }
    };
    let mut sorted = lengths.clone();
    sorted.sort_unstable();
    DocStats {
        path: path.to_string(),
        documents: docs.len(),
        conditions,
        tokens_median: nearest_rank(&sorted, 0.5),
        tokens_p90: nearest_rank(&sorted, 0.9),
        tokens_min: sorted.first().copied().unwrap_or(0),
        tokens_max: sorted.last().copied().unwrap_or(0),
        tokens_total: total,
        negation_share: share(negation),
        qualifier_share: share(qualifier),
        claim_share: share(claim),
        masked_share: share(masked),
        claim_mentions_mean: if docs.is_empty() {
            0.0
        } else {
            mentions.iter().sum::<usize>() as f64 / docs.len() as f64
        },
        claim_mentions_min: mentions.iter().copied().min().unwrap_or(0),
        claim_mentions_max: mentions.iter().copied().max().unwrap_or(0),
        without_claim: mentions.iter().filter(|&&m| m == 0).count(),
    }
}

/// The nearest-rank percentile `q` (0 < q <= 1) of sorted values (0 when empty).
fn nearest_rank(sorted: &[usize], q: f64) -> usize {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

impl fmt::Display for DocStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let conditions: Vec<String> = self
            .conditions
            .iter()
            .map(|(c, n)| format!("{c} ({n})"))
            .collect();
        let rows: [(&str, String); 10] = [
            ("file", self.path.clone()),
            ("documents", self.documents.to_string()),
            ("conditions", conditions.join(", ")),
            (
                "tokens per document",
                format!(
                    "median {}, p90 {}, min {}, max {}",
                    self.tokens_median, self.tokens_p90, self.tokens_min, self.tokens_max
                ),
            ),
            ("tokens in all", self.tokens_total.to_string()),
            (
                "negation share",
                format!("{:.1}%", 100.0 * self.negation_share),
            ),
            (
                "qualifier share",
                format!("{:.1}%", 100.0 * self.qualifier_share),
            ),
            ("claim share", format!("{:.1}%", 100.0 * self.claim_share)),
            ("masked share", format!("{:.1}%", 100.0 * self.masked_share)),
            (
                "claim mentions/doc",
                format!(
                    "mean {:.2}, min {}, max {}, none in {} documents",
                    self.claim_mentions_mean,
                    self.claim_mentions_min,
                    self.claim_mentions_max,
                    self.without_claim
                ),
            ),
        ];
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (k, v) in rows {
            writeln!(f, "{k:<width$}  {v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docs::positive::tests::ed_sheeran;
    use crate::docs::{generate, write_jsonl, Condition};

    #[test]
    fn percentiles() {
        assert_eq!(nearest_rank(&[], 0.5), 0);
        assert_eq!(nearest_rank(&[7], 0.9), 7);
        let v: Vec<usize> = (1..=10).collect();
        assert_eq!(nearest_rank(&v, 0.5), 5);
        assert_eq!(nearest_rank(&v, 0.9), 9);
    }

    #[test]
    fn stats_of_written_files() {
        let spec = ed_sheeran();
        let dir = crate::docs::tests::temp_dir();
        let mut shares = Vec::new();
        for c in [Condition::Positive, Condition::Negated, Condition::Repeated] {
            let docs = generate(&spec, c, 30, 1, None).unwrap();
            let path = dir.join(format!("{c}.jsonl"));
            write_jsonl(&path, &docs).unwrap();
            let s = stats(&path, &whitespace_tokens).unwrap();
            assert_eq!(s.documents, 30);
            assert_eq!(s.conditions.get(&c.to_string()), Some(&30));
            assert!(s.tokens_median <= s.tokens_p90 && s.tokens_p90 <= s.tokens_max);
            assert!(s.claim_mentions_min >= 2, "{s}");
            assert_eq!(s.without_claim, 0);
            assert_eq!(s.qualifier_share, 0.0);
            assert_eq!(s.masked_share, 0.0);
            let table = s.to_string();
            assert!(
                table.contains("negation share") && table.contains("p90"),
                "{table}"
            );
            shares.push((s.negation_share, s.tokens_median));
            // A different counter is used as given.
            let chars = stats(&path, &|t: &str| t.chars().count()).unwrap();
            assert!(chars.tokens_median > s.tokens_median * 3);
        }
        assert_eq!(shares[0].0, 0.0);
        assert!(shares[1].0 > 0.0 && shares[2].0 > shares[1].0, "{shares:?}");
        // Repeated negations make documents much longer than positive ones.
        assert!(shares[2].1 as f64 > 1.4 * shares[0].1 as f64, "{shares:?}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
