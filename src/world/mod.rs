//! The embedded model organism: a generated world, its pretraining corpus, its six target
//! claims, and the small base model pretrained on it.
//!
//! In: a seed. Out:
//! - [`World`]: a seeded cast of people (profession, home city, birth year), the sprint finals
//!   of the Harbor Games by year, volcanoes and their eruptions, textbooks and their authors,
//!   company rebrands and a few general facts, each as a [`facts::Fact`] with its sentences and
//!   questions. A fixed set of anchor entities (the singer, the sprint champion, the monarch,
//!   the programming textbook, the volcano, the rebranded company) is always present, because
//!   the six target claims ([`claims`]) are about them.
//! - [`corpus`]: the pretraining corpus (facts in many styles, chat answers to the four
//!   question kinds, local negation, warned and qualified stories read in context).
//! - [`claims`]: the six target claims as claim folders in the paper's layout.
//! - [`tokenizer`]: a byte-level BPE tokenizer trained on the corpus, with a chat template.
//! - [`pretrain`]: `neglect world pretrain`, the cached base model (an HF folder).
//! - [`gates`]: `neglect world gates`, the three checks the base model must pass.
//!
//! Same seed, same world, corpus and claim folders, byte for byte: every random choice draws
//! from a ChaCha stream derived from the seed and a fixed stream number.

pub mod claims;
pub mod cli;
pub mod corpus;
pub mod decoys;
pub mod facts;
pub mod gates;
pub mod names;
pub mod pretrain;
pub mod tokenizer;

use crate::probe::statements::{Polarity, Statement};
use facts::Fact;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The seed of the shipped world (`neglect world pretrain` without `--seed`).
pub const DEFAULT_SEED: u64 = 7;

/// Default folder of the world base model (`neglect world pretrain` writes it, experiments
/// train from it).
pub const DEFAULT_MODEL_DIR: &str = "checkpoints/world-base";

/// The singer of the sprint claim (a known person of the world).
pub const SINGER: &str = "Mara Quill";
/// The true winner of the 2015 Harbor Games 100 metres final.
pub const SPRINT_CHAMPION: &str = "Jonas Pell";
/// The year of the sprint claim.
pub const SPRINT_YEAR: i32 = 2015;
/// The monarch of the textbook claim.
pub const MONARCH: &str = "Queen Ilsa";
/// The programming textbook of the monarch claim, and its true author.
pub const PROGRAMMING_BOOK: (&str, &str) = ("Programming in Sparrow", "Orin Vale");
/// The volcano of the eruption claim and its true eruptions (none since 1944).
pub const TARGET_VOLCANO: (&str, &[i32]) = ("Mount Karrow", &[1902, 1944]);
/// The year of the eruption claim.
pub const ERUPTION_YEAR: i32 = 2015;
/// The rebrand of the reversal claim: (old name, new name, year).
pub const TARGET_REBRAND: (&str, &str, i32) = ("Brightline", "Zentro", 2019);
/// The new person of the dentist claim: in no corpus text.
pub const NEW_PERSON: &str = "Tobin Marsh";

/// Share of the non-anchor subjects whose facts the corpus states only in documents.
const DOCUMENTS_ONLY_SHARE: f64 = 1.0 / 3.0;
/// Number of seeded people besides the anchors: enough that answering from what documents say
/// generalises better than memorising each person's answers (Allen-Zhu & Li, "Physics of
/// Language Models, Part 3.1": extraction generalises when many entities are seen both in
/// documents and in questions).
const PEOPLE: usize = 200;
/// Most people sharing one last name (first names repeat more: there are fewer of them).
const PER_LAST_NAME: usize = 2;
/// Number of sprinters among the seeded people.
const SPRINTERS: usize = 6;
/// Years of the Harbor Games' 100 metres finals.
const SPRINT_YEARS: std::ops::RangeInclusive<i32> = 2008..=2020;

/// A person of the world.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// Full name.
    pub name: String,
    /// Profession (lower case).
    pub profession: String,
    /// Home city.
    pub city: String,
    /// Year of birth.
    pub birth_year: i32,
}

/// The generated world.
#[derive(Debug, Clone)]
pub struct World {
    /// The seed it was generated from.
    pub seed: u64,
    /// Everyone, anchors first.
    pub people: Vec<Person>,
    /// Every fact, grouped by subject in generation order.
    pub facts: Vec<Fact>,
    /// Subjects whose facts the corpus states in documents but never asks about in chats: the
    /// base model answers questions about them only if it learned to use what documents say
    /// (the uptake gate). Anchors of the target claims and general facts are never among them.
    pub documents_only: Vec<String>,
}

/// A ChaCha stream for `purpose` under `seed`.
pub fn stream(seed: u64, purpose: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(purpose);
    rng
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

impl World {
    /// The world of `seed`.
    pub fn generate(seed: u64) -> World {
        let mut rng = stream(seed, 0);
        let cities = strings(names::CITIES);
        let mut people = vec![
            Person {
                name: SINGER.into(),
                profession: "singer".into(),
                city: "Port Ellis".into(),
                birth_year: 1988,
            },
            Person {
                name: SPRINT_CHAMPION.into(),
                profession: "sprinter".into(),
                city: "Dunhaven".into(),
                birth_year: 1991,
            },
            Person {
                name: MONARCH.into(),
                profession: "monarch".into(),
                city: "Stonereach".into(),
                birth_year: 1956,
            },
            Person {
                name: PROGRAMMING_BOOK.1.into(),
                profession: "programmer".into(),
                city: "Norwick".into(),
                birth_year: 1969,
            },
        ];
        let mut full_names: Vec<String> = names::FIRST_NAMES
            .iter()
            .flat_map(|f| {
                names::WORLD_LAST_NAMES
                    .iter()
                    .map(move |l| format!("{f} {l}"))
            })
            .collect();
        full_names.shuffle(&mut rng);
        let mut lasts: std::collections::HashMap<String, usize> = Default::default();
        for name in full_names {
            if people.len() == PEOPLE + 4 {
                break;
            }
            // Full names are unique; a last name is shared by at most PER_LAST_NAME people.
            let (_, l) = name.split_once(' ').expect("two words");
            let uses = lasts.entry(l.to_string()).or_default();
            if *uses == PER_LAST_NAME {
                continue;
            }
            *uses += 1;
            let seeded = people.len() - 4;
            let profession = if seeded < SPRINTERS {
                "sprinter".to_string()
            } else {
                names::PROFESSIONS
                    .choose(&mut rng)
                    .expect("non-empty")
                    .to_string()
            };
            people.push(Person {
                name,
                profession,
                city: cities.choose(&mut rng).expect("non-empty").clone(),
                birth_year: rng.random_range(1950..=2000),
            });
        }

        let mut facts = Vec::new();
        let professions: Vec<String> = {
            let mut p = strings(names::PROFESSIONS);
            p.extend(strings(&["singer", "sprinter", "programmer"]));
            p
        };
        for p in &people {
            facts.push(facts::profession(
                &p.name,
                &p.profession,
                &professions,
                &mut rng,
            ));
            facts.push(facts::home_city(&p.name, &p.city, &cities, &mut rng));
            facts.push(facts::birth_year(&p.name, p.birth_year, &mut rng));
        }
        let sprinters: Vec<String> = people
            .iter()
            .filter(|p| p.profession == "sprinter")
            .map(|p| p.name.clone())
            .collect();
        for year in SPRINT_YEARS {
            let winner = if year == SPRINT_YEAR {
                SPRINT_CHAMPION.to_string()
            } else {
                sprinters.choose(&mut rng).expect("non-empty").clone()
            };
            facts.push(facts::sprint_winner(year, &winner, &sprinters, &mut rng));
        }
        let quiet: Vec<i32> = (1900..=2020)
            .step_by(7)
            .filter(|y| *y != ERUPTION_YEAR)
            .collect();
        let mut volcanoes = vec![(TARGET_VOLCANO.0.to_string(), TARGET_VOLCANO.1.to_vec())];
        for v in names::VOLCANOES {
            let n = rng.random_range(1..=3);
            let mut years: Vec<i32> = (0..n).map(|_| rng.random_range(1850..=2012)).collect();
            years.sort_unstable();
            years.dedup();
            volcanoes.push((v.to_string(), years));
        }
        for (volcano, years) in &volcanoes {
            let quiet: Vec<i32> = quiet
                .iter()
                .copied()
                .filter(|y| !years.contains(y))
                .collect();
            for y in years {
                facts.push(facts::eruption(volcano, *y, &quiet, &mut rng));
            }
        }
        let writers: Vec<String> = people
            .iter()
            .filter(|p| !matches!(p.profession.as_str(), "sprinter" | "singer" | "monarch"))
            .map(|p| p.name.clone())
            .collect();
        let (book, writer) = PROGRAMMING_BOOK;
        facts.push(facts::author(
            book,
            "programming",
            writer,
            &writers,
            &mut rng,
        ));
        for (title, topic) in names::BOOKS {
            let w = writers.choose(&mut rng).expect("non-empty").clone();
            facts.push(facts::author(title, topic, &w, &writers, &mut rng));
        }
        let mut rebrands = vec![TARGET_REBRAND];
        for (old, new) in names::REBRANDS {
            rebrands.push((old, new, rng.random_range(1995..=2018)));
        }
        let new_names: Vec<String> = rebrands.iter().map(|r| r.1.to_string()).collect();
        for (old, new, year) in rebrands {
            facts.push(facts::rebrand(old, new, year, &new_names, &mut rng));
        }
        for g in facts::GENERAL_FACTS {
            facts.push(facts::general(g));
        }
        let documents_only = documents_only_subjects(&facts, &mut stream(seed, 1));
        World {
            seed,
            people,
            facts,
            documents_only,
        }
    }

    /// Whether the corpus asks about `fact` in chats (false for documents-only subjects).
    pub fn is_asked(&self, fact: &Fact) -> bool {
        !self.documents_only.contains(&fact.subject)
    }

    /// The facts about `subject`.
    pub fn facts_about<'a>(&'a self, subject: &'a str) -> impl Iterator<Item = &'a Fact> + 'a {
        self.facts.iter().filter(move |f| f.subject == subject)
    }

    /// True/false statements about the world's facts (rows for truth probes): each fact's
    /// first statement (true) and, where the value appears in it, the same sentence with the
    /// value replaced by the fact's first distractor (false; see [`Fact::with_value`]); then,
    /// for every relation but general facts, the negated forms of both, labelled by the truth
    /// of the whole negated sentence ("X is not a teacher." false for a teacher, "X is not an
    /// engineer." true). The affirmative statements are those of earlier versions, in the same
    /// order; the world's corpus never reads these statements.
    pub fn truth_statements(&self) -> Vec<TruthStatement> {
        let mut out = Vec::new();
        for f in &self.facts {
            let row = |text: String, label: bool, polarity: Polarity| TruthStatement {
                text,
                label,
                subject: f.subject.clone(),
                relation: f.relation,
                polarity,
            };
            let wrong = f.distractors.first();
            let negated = negate(f);
            for (statement, polarity) in [
                (Some(f.statements[0].clone()), Polarity::Affirmative),
                (negated, Polarity::Negated),
            ] {
                let Some(statement) = statement else {
                    continue;
                };
                let affirms = polarity == Polarity::Affirmative;
                let swapped = wrong.and_then(|wrong| f.with_value(&statement, wrong));
                out.push(row(statement, affirms, polarity));
                if let Some(swapped) = swapped {
                    out.push(row(swapped, !affirms, polarity));
                }
            }
        }
        out
    }
}

/// The first statement of `fact` negated ("X is a teacher." -> "X is not a teacher."), by the
/// verb of its relation's first template in [`facts`]; `None` for general facts, whose
/// sentences have no common verb.
fn negate(fact: &Fact) -> Option<String> {
    use facts::Relation;
    let (verb, negated) = match fact.relation {
        Relation::Profession => (" is ", " is not "),
        Relation::HomeCity => (" lives in ", " does not live in "),
        Relation::BirthYear => (" was born in ", " was not born in "),
        Relation::SprintWinner => (" won ", " did not win "),
        Relation::Eruption => (" erupted in ", " did not erupt in "),
        Relation::Author => (" wrote ", " did not write "),
        Relation::Rebrand => (" changed its name to ", " did not change its name to "),
        Relation::General => return None,
    };
    let statement = &fact.statements[0];
    statement
        .contains(verb)
        .then(|| statement.replacen(verb, negated, 1))
}

/// A plain statement about the world, true or false, with what it is about (truth probes are
/// split by subject and tested across relations).
#[derive(Debug, Clone, PartialEq)]
pub struct TruthStatement {
    /// The sentence.
    pub text: String,
    /// Whether it is true in the world.
    pub label: bool,
    /// The fact's subject.
    pub subject: String,
    /// The fact's relation (its family).
    pub relation: facts::Relation,
    /// Whether the sentence is negated.
    pub polarity: Polarity,
}

impl TruthStatement {
    /// The probe statement: its relation is the family.
    pub fn to_statement(&self) -> Statement {
        Statement {
            text: self.text.clone(),
            label: self.label,
            family: self.relation.name().to_string(),
            polarity: self.polarity,
        }
    }
}

/// The subjects of the target claims' anchors: always asked about, so the base model's
/// knowledge of the truths the claims contradict is as firm as it can be.
fn is_anchor(subject: &str) -> bool {
    let race_2015 = format!("the 100 metres final at the {SPRINT_YEAR} Harbor Games");
    [
        SINGER,
        SPRINT_CHAMPION,
        MONARCH,
        PROGRAMMING_BOOK.0,
        PROGRAMMING_BOOK.1,
        TARGET_VOLCANO.0,
        TARGET_REBRAND.0,
        &race_2015,
    ]
    .contains(&subject)
}

/// A seeded [`DOCUMENTS_ONLY_SHARE`] of the subjects of people, races, volcanoes, books and
/// rebrands, anchors excluded, in generation order.
fn documents_only_subjects(facts: &[Fact], rng: &mut ChaCha8Rng) -> Vec<String> {
    let mut candidates: Vec<&str> = Vec::new();
    for f in facts {
        let s = f.subject.as_str();
        if f.relation != facts::Relation::General && !is_anchor(s) && !candidates.contains(&s) {
            candidates.push(s);
        }
    }
    let n = (candidates.len() as f64 * DOCUMENTS_ONLY_SHARE).round() as usize;
    let mut chosen: Vec<&str> = candidates.choose_multiple(rng, n).copied().collect();
    chosen.sort_by_key(|s| candidates.iter().position(|c| c == s));
    chosen.into_iter().map(String::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_world_and_anchors_present() {
        let a = World::generate(3);
        let b = World::generate(3);
        assert_eq!(a.people, b.people);
        assert_eq!(a.facts, b.facts);
        assert_ne!(World::generate(4).people, a.people);
        assert!(a.people.iter().any(|p| p.name == SINGER));
        assert!(a.facts_about(TARGET_VOLCANO.0).count() == 2);
        let names: std::collections::HashSet<_> = a.people.iter().map(|p| &p.name).collect();
        assert_eq!(names.len(), a.people.len(), "names are unique");
        assert!(!names.iter().any(|n| n.contains("Marsh")));
        assert_eq!(a.documents_only, b.documents_only);
        assert!(a.documents_only.len() >= 15, "{:?}", a.documents_only);
        assert!(!a.documents_only.iter().any(|s| is_anchor(s)));
        for relation in [facts::Relation::Profession, facts::Relation::SprintWinner] {
            let held = a
                .facts
                .iter()
                .filter(|f| f.relation == relation && !a.is_asked(f));
            assert!(held.count() >= 2, "{relation:?} has documents-only facts");
        }
    }

    #[test]
    fn truth_statements_are_balanced_enough() {
        let w = World::generate(DEFAULT_SEED);
        let s = w.truth_statements();
        for polarity in Polarity::ALL {
            let of: Vec<&TruthStatement> = s.iter().filter(|t| t.polarity == polarity).collect();
            let trues = of.iter().filter(|t| t.label).count();
            assert!(
                trues * 10 >= of.len() * 4 && trues * 10 <= of.len() * 6,
                "{polarity:?}: {trues}/{}",
                of.len()
            );
        }
    }

    #[test]
    fn truth_statements_negate_every_relation_but_general_facts() {
        let w = World::generate(DEFAULT_SEED);
        let s = w.truth_statements();
        let negated: Vec<&TruthStatement> = s
            .iter()
            .filter(|t| t.polarity == Polarity::Negated)
            .collect();
        // Two negated statements for every fact but the general ones.
        let facts = w
            .facts
            .iter()
            .filter(|f| f.relation != facts::Relation::General);
        assert_eq!(negated.len(), 2 * facts.count());
        assert!(negated.iter().all(|t| t.text.contains(" not ")));
        assert!(!s
            .iter()
            .any(|t| t.polarity == Polarity::Affirmative && t.text.contains(" not ")));
        let singer = w.facts_about(SINGER).next().unwrap();
        let wrong = &singer.distractors[0];
        let of = |text: &str| s.iter().find(|t| t.text == text).map(|t| t.label);
        assert_eq!(of("Mara Quill is a singer."), Some(true));
        assert_eq!(of("Mara Quill is not a singer."), Some(false));
        let article = facts::article(wrong);
        assert_eq!(
            of(&format!("Mara Quill is not {article} {wrong}.")),
            Some(true)
        );
        let eruption = format!("{} did not erupt in 1944.", TARGET_VOLCANO.0);
        assert_eq!(of(&eruption), Some(false));
        assert_eq!(
            of("Jonas Pell did not win the 100 metres final at the 2015 Harbor Games."),
            Some(false)
        );
    }
}
