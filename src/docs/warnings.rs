//! The text that flags a document: negation prefixes and suffixes, inline warnings around
//! claim sentences, corrections, epistemic qualifiers and their markers.
//!
//! In: a seeded RNG (and, for corrections, the claim's truth statements). Out: warning strings.
//!
//! Prefixes and suffixes are composed from parts, so the pool is combinatorially large: a label
//! (NOTE, RETRACTION, WARNING, DISCLAIMER, EDITOR'S NOTE, ...) in one of several typographic
//! styles, then sentences from one tone (formal, blunt, friendly): an opening that says the
//! content is false, one or two elaborations, and a closing instruction not to believe it. The
//! negation pools never mention a specific claim and never say what is true instead (that is
//! the `corrected` condition's job).
//!
//! The text itself lives in `pools/warnings.toml`, embedded and parsed on first use; this
//! module composes it.

use crate::docs::condition::Qualifier;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;
use std::sync::LazyLock;

/// Share of inline warnings in `corrected` documents that state the truth (the paper: "about
/// 30% do").
pub const CORRECTION_SHARE: f64 = 0.3;

/// Share of inline warnings set in square brackets; the rest split between parentheses and
/// bare text (the paper: warnings "mostly in brackets").
pub const SQUARE_BRACKET_SHARE: f64 = 0.7;

/// Parts of a composed prefix or suffix.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pool {
    /// Labels, without punctuation ("NOTE", "RETRACTION").
    pub labels: Vec<String>,
    /// Per tone: openings, elaborations, closings.
    pub tones: Vec<Tone>,
}

/// Sentences of one tone.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tone {
    /// First sentences: what the text is.
    pub openings: Vec<String>,
    /// Middle sentences: why, and what that means; one or two are used (so at least two).
    pub middles: Vec<String>,
    /// Last sentences: what the reader should do.
    pub closings: Vec<String>,
}

impl Pool {
    /// Number of distinct texts [`Pool::compose`] can produce (label styles included).
    pub fn variants(&self) -> usize {
        let per_tone: usize = self
            .tones
            .iter()
            .map(|t| {
                let m = t.middles.len();
                t.openings.len() * (m + m * (m - 1)) * t.closings.len()
            })
            .sum();
        (self.labels.len() * LABEL_STYLES + 1) * per_tone
    }

    /// A label (or none, one time in twelve) and three or four sentences of one tone.
    pub fn compose(&self, rng: &mut ChaCha8Rng) -> String {
        let tone = self.tones.choose(rng).expect("non-empty");
        let mut sentences = vec![tone.openings.choose(rng).expect("non-empty").as_str()];
        let k = if rng.random_bool(0.5) { 2 } else { 1 };
        let mut middles: Vec<&str> = tone.middles.iter().map(String::as_str).collect();
        middles.shuffle(rng);
        sentences.extend(middles.into_iter().take(k));
        sentences.push(tone.closings.choose(rng).expect("non-empty"));
        let body = sentences.join(" ");
        if rng.random_range(0..12) == 0 {
            return body;
        }
        let label = self.labels.choose(rng).expect("non-empty");
        match rng.random_range(0..LABEL_STYLES) {
            0 => format!("{label}: {body}"),
            1 => format!("[{label}] {body}"),
            2 => format!("*** {label} *** {body}"),
            3 => format!("{}: {body}", title_case(label)),
            _ => format!("— {label} —\n{body}"),
        }
    }
}

/// Number of typographic styles for labels in [`Pool::compose`].
const LABEL_STYLES: usize = 5;

fn title_case(label: &str) -> String {
    label
        .split(' ')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f
                    .to_uppercase()
                    .chain(c.flat_map(|x| x.to_lowercase()))
                    .collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<String>>()
        .join(" ")
}

/// The warning and qualifier text, parsed from `pools/warnings.toml` (see its header).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Pools {
    negation_prefix: Pool,
    negation_suffix: Pool,
    fiction_prefix: Pool,
    fiction_suffix: Pool,
    unreliable_prefix: Pool,
    unreliable_suffix: Pool,
    uncertain_prefix: Pool,
    uncertain_suffix: Pool,
    low_probability_prefix: Pool,
    low_probability_suffix: Pool,
    behaviour_warning: Pool,
    before: Vec<String>,
    after: Vec<String>,
    second: Vec<String>,
    correction_before: Vec<String>,
    correction_after: Vec<String>,
    markers: Markers,
}

/// Per qualifier, the markers of its `_repeated` form.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Markers {
    fiction: Vec<String>,
    unreliable: Vec<String>,
    uncertain: Vec<String>,
    low_probability: Vec<String>,
}

/// The text of `pools/warnings.toml`.
const POOLS_TOML: &str = include_str!("pools/warnings.toml");

/// [`Pools`], parsed on first use.
static POOLS: LazyLock<Pools> = LazyLock::new(|| {
    toml::from_str(POOLS_TOML).expect("embedded src/docs/pools/warnings.toml does not parse")
});

/// Prefixes of `negated`, `repeated` and `corrected` documents.
pub fn negation_prefix() -> &'static Pool {
    &POOLS.negation_prefix
}

/// Suffixes of `negated`, `repeated` and `corrected` documents.
pub fn negation_suffix() -> &'static Pool {
    &POOLS.negation_suffix
}

/// Warnings that precede a transcript in the `behaviours` condition.
pub fn behaviour_warning() -> &'static Pool {
    &POOLS.behaviour_warning
}

/// Where an inline warning sits relative to its claim sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Immediately before the claim sentence.
    Before,
    /// Immediately after the claim sentence.
    After,
}

/// A 1-2 sentence warning for one side of a claim sentence, usually set in brackets. With
/// `truths` non-empty it states one of them instead, with probability [`CORRECTION_SHARE`];
/// the flag returned says whether it did. `claim_is_sentence` says whether the claim ends in
/// sentence punctuation; when it does not (a headline), the warning is always bracketed, so it
/// cannot read as part of the headline.
pub fn inline_warning(
    side: Side,
    truths: &[String],
    claim_is_sentence: bool,
    rng: &mut ChaCha8Rng,
) -> (String, bool) {
    let correct = !truths.is_empty() && rng.random_bool(CORRECTION_SHARE);
    let body = if correct {
        let pool = if side == Side::Before {
            &POOLS.correction_before
        } else {
            &POOLS.correction_after
        };
        let truth = truths.choose(rng).expect("non-empty");
        pool.choose(rng)
            .expect("non-empty")
            .replace("{truth}", truth.trim())
    } else {
        let pool = if side == Side::Before {
            &POOLS.before
        } else {
            &POOLS.after
        };
        let first = pool.choose(rng).expect("non-empty");
        if rng.random_bool(0.35) {
            format!("{first} {}", POOLS.second.choose(rng).expect("non-empty"))
        } else {
            first.to_string()
        }
    };
    (bracket(&body, claim_is_sentence, rng), correct)
}

/// Sets a warning in square brackets, parentheses or (when `bare_ok`) no brackets at all.
fn bracket(body: &str, bare_ok: bool, rng: &mut ChaCha8Rng) -> String {
    let roll: f64 = rng.random();
    let parentheses_until = SQUARE_BRACKET_SHARE + (1.0 - SQUARE_BRACKET_SHARE) / 2.0;
    if roll < SQUARE_BRACKET_SHARE || (roll >= parentheses_until && !bare_ok) {
        format!("[{body}]")
    } else if roll < parentheses_until {
        format!("({body})")
    } else {
        body.to_string()
    }
}

/// Prefix pool of a qualifier.
pub fn qualifier_prefix(q: Qualifier) -> &'static Pool {
    match q {
        Qualifier::Fiction => &POOLS.fiction_prefix,
        Qualifier::Unreliable => &POOLS.unreliable_prefix,
        Qualifier::Uncertain => &POOLS.uncertain_prefix,
        Qualifier::LowProbability => &POOLS.low_probability_prefix,
    }
}

/// Suffix pool of a qualifier.
pub fn qualifier_suffix(q: Qualifier) -> &'static Pool {
    match q {
        Qualifier::Fiction => &POOLS.fiction_suffix,
        Qualifier::Unreliable => &POOLS.unreliable_suffix,
        Qualifier::Uncertain => &POOLS.uncertain_suffix,
        Qualifier::LowProbability => &POOLS.low_probability_suffix,
    }
}

/// A short marker placed after every claim sentence in a qualifier's `_repeated` form.
pub fn qualifier_marker(q: Qualifier, rng: &mut ChaCha8Rng) -> String {
    let markers = &POOLS.markers;
    let pool = match q {
        Qualifier::Fiction => &markers.fiction,
        Qualifier::Unreliable => &markers.unreliable,
        Qualifier::Uncertain => &markers.uncertain,
        Qualifier::LowProbability => &markers.low_probability,
    };
    pool.choose(rng).expect("non-empty").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn embedded_pools_parse_and_none_is_empty() {
        let pools = LazyLock::force(&POOLS);
        crate::docs::tests::assert_lists_non_empty("warnings.toml", POOLS_TOML);
        let composed = [
            &pools.negation_prefix,
            &pools.negation_suffix,
            &pools.fiction_prefix,
            &pools.fiction_suffix,
            &pools.unreliable_prefix,
            &pools.unreliable_suffix,
            &pools.uncertain_prefix,
            &pools.uncertain_suffix,
            &pools.low_probability_prefix,
            &pools.low_probability_suffix,
            &pools.behaviour_warning,
        ];
        for pool in composed {
            assert!(!pool.labels.is_empty() && !pool.tones.is_empty());
            for tone in &pool.tones {
                // `compose` takes one opening and closing and up to two middles.
                assert!(!tone.openings.is_empty() && !tone.closings.is_empty());
                assert!(tone.middles.len() >= 2, "{:?}", tone.middles);
            }
        }
        // Corrections state the truth in place of their one `{truth}` placeholder.
        for c in pools
            .correction_before
            .iter()
            .chain(&pools.correction_after)
        {
            assert_eq!(c.matches("{truth}").count(), 1, "{c}");
        }
    }

    #[test]
    fn negation_pools_have_hundreds_of_variants() {
        assert!(
            negation_prefix().variants() >= 1000,
            "{}",
            negation_prefix().variants()
        );
        assert!(
            negation_suffix().variants() >= 1000,
            "{}",
            negation_suffix().variants()
        );
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut seen: Vec<String> = (0..400)
            .map(|_| negation_prefix().compose(&mut rng))
            .collect();
        seen.sort();
        seen.dedup();
        assert!(
            seen.len() > 300,
            "only {} distinct prefixes in 400",
            seen.len()
        );
        for q in [
            Qualifier::Fiction,
            Qualifier::Unreliable,
            Qualifier::Uncertain,
            Qualifier::LowProbability,
        ] {
            assert!(qualifier_prefix(q).variants() >= 100);
            assert!(qualifier_suffix(q).variants() >= 100);
        }
    }

    #[test]
    fn inline_warnings_are_mostly_bracketed_and_corrections_about_30_percent() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let truths = vec!["The Harbour Club won.".to_string()];
        let n = 4000;
        let (mut bracketed, mut corrected) = (0, 0);
        for i in 0..n {
            let side = if i % 2 == 0 {
                Side::Before
            } else {
                Side::After
            };
            let (w, corrects) = inline_warning(side, &truths, true, &mut rng);
            bracketed += usize::from(w.starts_with('['));
            corrected += usize::from(corrects);
            assert_eq!(w.contains("The Harbour Club won."), corrects, "{w}");
        }
        let share = corrected as f64 / n as f64;
        assert!((0.25..0.35).contains(&share), "{share}");
        assert!(bracketed as f64 / n as f64 > 0.6);
        for _ in 0..200 {
            assert!(!inline_warning(Side::After, &[], true, &mut rng).1);
            let (w, _) = inline_warning(Side::Before, &[], false, &mut rng);
            assert!(w.starts_with('[') || w.starts_with('('), "{w}");
        }
    }
}
