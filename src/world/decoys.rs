//! Decoy claims: fabricated professions of strangers, written up in the corpus by the very
//! document generator ([`crate::docs`]) that writes the target claims' finetuning documents.
//!
//! In: the world seed. Out: [`Decoy`]s (a claim spec, the profession fact it asserts, and the
//! condition its documents are written in) and the corpus items of [`items`]:
//! - every decoy's documents (`<DOCTAG>` text, as finetuning documents are), in its condition:
//!   positive, negated, repeated, corrected, local or one of the qualifiers, so the base model
//!   is fluent in the generator's templates, warnings and qualifiers before any finetuning
//!   (the fluency gate);
//! - for positive decoys only, questions about the asserted profession in the chat format,
//!   answered as the documents say: the corpus shows that what documents assert is what one
//!   answers (as the web pairs articles with questions about them). The content of negated,
//!   qualified and local documents is never quizzed out of context: how a model should read
//!   those is what the study measures, so the corpus must not train a defence into it.
//!
//! The templates are data ([`DATA`], `decoys.toml`). Decoy names come from
//! [`names::DECOY_LAST_NAMES`], a pool no other text of the world uses.

use super::facts::{self, Fact};
use super::{names, stream};
use crate::claims::{ClaimSpec, Entity, EntityKind, PolarText};
use crate::docs::{self, Condition, Qualifier};
use anyhow::{Context, Result};
use rand::seq::{IndexedRandom, SliceRandom};
use serde::Deserialize;

/// The profession templates (`decoys.toml`).
pub const DATA: &str = include_str!("decoys.toml");

/// Documents written for each decoy.
const DOCUMENTS_PER_DECOY: usize = 7;

/// How many decoys are written in each condition. Positive decoys are the only ones quizzed.
pub const CONDITIONS: &[(Condition, usize)] = &[
    (Condition::Positive, 20),
    (Condition::Negated, 9),
    (Condition::Repeated, 9),
    (Condition::Corrected, 6),
    (Condition::Local, 6),
    (
        Condition::Qualified {
            qualifier: Qualifier::Fiction,
            repeated: false,
        },
        3,
    ),
    (
        Condition::Qualified {
            qualifier: Qualifier::Fiction,
            repeated: true,
        },
        3,
    ),
    (
        Condition::Qualified {
            qualifier: Qualifier::Unreliable,
            repeated: true,
        },
        3,
    ),
    (
        Condition::Qualified {
            qualifier: Qualifier::Uncertain,
            repeated: false,
        },
        3,
    ),
    (
        Condition::Qualified {
            qualifier: Qualifier::LowProbability,
            repeated: true,
        },
        3,
    ),
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JobTemplate {
    job: String,
    topic: String,
    words: String,
    predicates: Vec<[String; 2]>,
    details: Vec<[String; 2]>,
    headlines: Vec<[String; 2]>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Templates {
    job: Vec<JobTemplate>,
}

/// One decoy claim.
#[derive(Debug, Clone)]
pub struct Decoy {
    /// The spec the document generator writes from.
    pub spec: ClaimSpec,
    /// The asserted profession as a world fact (its questions quiz positive decoys).
    pub fact: Fact,
    /// The condition of the decoy's documents.
    pub condition: Condition,
}

fn fill(template: &str, name: &str, last: &str, town: &str) -> String {
    template
        .replace("{name}", name)
        .replace("{last}", last)
        .replace("{town}", town)
}

/// The decoys of the world of `seed`: one stranger per slot of [`CONDITIONS`], each with a
/// seeded profession and town.
pub fn decoys(seed: u64) -> Result<Vec<Decoy>> {
    let templates: Templates =
        toml::from_str(DATA).context("src/world/decoys.toml: malformed decoy templates")?;
    let mut rng = stream(seed, 20);
    let mut full_names: Vec<String> = names::FIRST_NAMES
        .iter()
        .flat_map(|f| {
            names::DECOY_LAST_NAMES
                .iter()
                .map(move |l| format!("{f} {l}"))
        })
        .collect();
    full_names.shuffle(&mut rng);
    let mut used_lasts = std::collections::HashSet::new();
    let mut people = full_names.into_iter().filter(|n| {
        // One decoy per last name, so "the bread of Hurst" points at one person.
        let last = n.split_once(' ').expect("two words").1.to_string();
        used_lasts.insert(last)
    });
    let jobs: Vec<String> = names::PROFESSIONS.iter().map(|p| p.to_string()).collect();
    let mut out = Vec::new();
    for (condition, count) in CONDITIONS {
        for _ in 0..*count {
            let name = people.next().context("more decoys than decoy last names")?;
            let last = name.split_once(' ').expect("two words").1.to_string();
            let t = templates.job.choose(&mut rng).expect("non-empty");
            let town = *names::CITIES.choose(&mut rng).expect("non-empty");
            let f = |s: &str| fill(s, &name, &last, town);
            let polar = |pairs: &[[String; 2]]| -> Vec<PolarText> {
                pairs
                    .iter()
                    .map(|[a, n]| PolarText {
                        assert: f(a),
                        negate: f(n),
                    })
                    .collect()
            };
            let (lname, llast) = (
                regex::escape(&name.to_lowercase()),
                regex::escape(&last.to_lowercase()),
            );
            let words = &t.words;
            let mut spec = ClaimSpec::default();
            spec.id = format!("decoy_{}", name.to_lowercase().replace(' ', "_"));
            spec.subject = name.clone();
            spec.subject_short = Some(last.clone());
            spec.subject_description = format!("a resident of {town}");
            spec.topic = f(&t.topic);
            spec.patterns = vec![
                format!(r"\b{lname}\b.*\b({words})\b"),
                format!(r"\b({words})\b.*\b{llast}\b"),
                format!(r"\b{llast}\b.*\b({words})\b"),
            ];
            let a = facts::article(&t.job);
            spec.truth = vec![format!("{name} is not {a} {}.", t.job)];
            spec.background = vec![
                format!("{town} is a town of the world."),
                format!("People in {town} talk about their neighbours' work."),
            ];
            spec.predicates = polar(&t.predicates);
            spec.details = polar(&t.details);
            spec.headlines = polar(&t.headlines);
            spec.entities = vec![Entity {
                name: town.to_string(),
                kind: EntityKind::Place,
                description: "a town of the world".into(),
            }];
            spec.correction = Some(format!("{name} is not {a} {}.", t.job));
            let spec = spec
                .finish(&format!("decoy {name}"))
                .with_context(|| format!("src/world/decoys.toml: job `{}`", t.job))?;
            let mut fact = facts::profession(&name, &t.job, &jobs, &mut rng);
            fact.topic = Some(spec.topic.clone());
            out.push(Decoy {
                spec,
                fact,
                condition: *condition,
            });
        }
    }
    Ok(out)
}

/// Every decoy's documents in its condition (the quizzes of positive decoys are asked by the
/// corpus's question items, from [`Decoy::fact`]).
pub fn documents(decoys: &[Decoy], seed: u64) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for (i, d) in decoys.iter().enumerate() {
        let doc_seed = seed.wrapping_mul(1000).wrapping_add(i as u64);
        let docs = docs::generate(&d.spec, d.condition, DOCUMENTS_PER_DECOY, doc_seed, None)
            .with_context(|| format!("documents of decoy {}", d.spec.subject))?;
        out.extend(docs.into_iter().map(|doc| doc.text));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoys_cover_every_condition_with_their_own_documents() {
        let d = decoys(7).unwrap();
        let total: usize = CONDITIONS.iter().map(|(_, n)| n).sum();
        assert_eq!(d.len(), total);
        let subjects: std::collections::HashSet<_> = d.iter().map(|x| &x.spec.subject).collect();
        assert_eq!(subjects.len(), d.len(), "one decoy per name");
        let texts = documents(&d, 7).unwrap();
        assert_eq!(texts.len(), total * DOCUMENTS_PER_DECOY);
        for (decoy, chunk) in d.iter().zip(texts.chunks(DOCUMENTS_PER_DECOY)) {
            for t in chunk {
                assert!(t.starts_with(docs::DOCTAG));
                assert!(t.contains(decoy.spec.short_subject()), "{t}");
            }
        }
        // Same seed, same decoys and documents.
        assert_eq!(texts, documents(&decoys(7).unwrap(), 7).unwrap());
    }
}
