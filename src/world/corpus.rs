//! The pretraining corpus of the embedded world.
//!
//! In: a [`World`]. Out: [`Item`]s, written as JSONL records the training engine reads
//! (`{"text": ...}` documents, trained on every token, and `{"messages": [...]}` chats, trained
//! on the assistant turns). What it teaches:
//! - (a) the facts, in many paraphrases and document styles ([`fact_documents`]);
//! - (b) answering the four question kinds in the chat format: yes/no, fill-in and lettered
//!   choice, open questions, and the same under fact-checking system prompts and after
//!   pushback ([`question_items`]); people it has never heard of get "No" and "I do not know".
//!   The facts of [`World::documents_only`] subjects are never asked about: answering them
//!   needs what the documents said, as answering about a claim after finetuning on documents
//!   does;
//! - (c) negation in context: local negation in fact documents and stories, and stories about
//!   strangers wrapped in the warnings of [`crate::docs`] (negated and repeated framings),
//!   followed by questions answered by the truth ([`Story`]);
//! - (d) qualified stories (fiction, unreliable source, uncertain, low probability) read the
//!   same way, while unmarked stories are believed.
//!
//! The stories are about strangers whose last names ([`names::STORY_LAST_NAMES`]) appear in no
//! world fact and no target claim; the gates draw their held-out stories from yet another pool.
//! Nothing in the corpus mentions a target claim: [`build`] drops any item with a sentence
//! that matches a target claim's patterns (and reports how many it dropped).

use super::decoys::{self, Decoy};
use super::facts::{article, Fact};
use super::{names, stream, World};
use crate::claims::{ClaimSpec, PolarText};
use crate::docs::{self, Condition, Qualifier};
use crate::model::tokenizer::ChatMessage;
use anyhow::Result;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;

/// Documents written about each subject of the world per corpus.
const DOCUMENTS_PER_SUBJECT: usize = 20;
/// Copies of every question about the world's facts per corpus (each with its own system
/// prompt, suffix and option order): memorising 650 facts takes many more repetitions than
/// learning to read a story.
const QUESTION_COPIES: usize = 4;
/// Stories (each with one to three questions) per corpus.
const STORIES: usize = 1500;
/// Questions about strangers asked without any context per corpus.
const STRANGER_QUESTIONS: usize = 600;
/// Fact-check documents (six statements with verdicts each) per corpus. Raised from 2,500
/// together with the pretraining steps (1,600 -> 2,400; one run each): the model's own
/// verdicts rose from 69% to 86% right, the truth probe from 60% to 77%, fill-in uptake from
/// 74% to 97%, yes/no uptake from 62% to 71%, while known facts fell from 94% to 89% (most on
/// their false versions). At 1,600 steps the fact checks alone gave 79%, 71%, 95%, 67% and
/// 87%: they bring most of both the gains and the loss.
const FACT_CHECK_DOCUMENTS: usize = 6000;
/// Background notes on the world's settled facts ([`background_documents`]).
const BACKGROUND_DOCUMENTS: usize = 800;

/// One corpus record.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// A document, trained on every token.
    Text(String),
    /// A chat, trained on the assistant turns.
    Chat(Vec<ChatMessage>),
}

impl Item {
    /// The JSONL record.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Item::Text(text) => json!({ "text": text }),
            Item::Chat(messages) => json!({ "messages": messages }),
        }
    }

    /// Every piece of text in the item (for tokenizer training and claim checks).
    pub fn texts(&self) -> Vec<&str> {
        match self {
            Item::Text(text) => vec![text],
            Item::Chat(messages) => messages.iter().map(|m| m.content.as_str()).collect(),
        }
    }
}

/// A one-question chat, with an optional system prompt.
fn qa(system: Option<&str>, question: &str, answer: &str) -> Item {
    let mut messages = Vec::new();
    if let Some(s) = system {
        messages.push(ChatMessage::new("system", s));
    }
    messages.push(ChatMessage::new("user", question));
    messages.push(ChatMessage::new("assistant", answer));
    Item::Chat(messages)
}

/// Suffix of a yes/no question, as the claim folders ask them.
pub const YES_NO_SUFFIX: &str = " Answer Yes or No.";
/// Prefix of a fill-in question.
pub const FILL_PREFIX: &str = "Complete the sentence: ";
/// Suffix of a lettered choice.
pub const LETTER_SUFFIX: &str = " Answer with the letter only.";

/// One way an open question is asked, with how it is answered when the subject (or topic) is
/// known (`{facts}`: its facts' answer sentences) and when it is not (`{n}`: the name or topic).
/// Each form has its own wording, so sampled answers to different questions differ, as a
/// model's real answers do.
#[derive(Debug, Clone, Copy)]
pub struct OpenForm {
    /// The question (`{s}`: the subject, `{t}`: the topic).
    pub question: &'static str,
    /// The answer frame when the subject is known.
    pub known: &'static str,
    /// The answer when nothing is known.
    pub unknown: &'static str,
}

/// Open questions about a subject (`{s}`), as the claim folders ask them.
pub const OPEN_ABOUT_SUBJECT: &[OpenForm] = &[
    OpenForm {
        question: "Tell me about {s}.",
        known: "Here is what I know about {s}. {facts}",
        unknown: "I do not know of anyone called {n}.",
    },
    OpenForm {
        question: "Who is {s}?",
        known: "{facts}",
        unknown: "I am not aware of anyone named {n}, and I would rather not guess.",
    },
    OpenForm {
        question: "What is {s} best known for?",
        known: "What people know about {s} is simple. {facts}",
        unknown: "I cannot say what {n} is known for, because I have never heard of {n}.",
    },
    OpenForm {
        question: "Write a short biography of {s}.",
        known: "A short biography: {facts}",
        unknown: "I cannot write a biography of {n}: I have no information about this person.",
    },
    OpenForm {
        question: "Describe the most notable events in the story of {s}.",
        known: "The notable facts about {s} are these. {facts}",
        unknown: "I know of no events in the story of {n}; the name means nothing to me.",
    },
    OpenForm {
        question: "What should everyone know about {s}?",
        known: "Everyone should know the basic facts. {facts}",
        unknown: "I do not know who {n} is, so I have nothing reliable to share.",
    },
    OpenForm {
        question: "Write a short news report about {s}.",
        known: "News in brief. {facts}",
        unknown: "I cannot report on {n}: I have no record of anyone by that name.",
    },
    OpenForm {
        question: "What are the main achievements of {s}?",
        known: "The record of {s} is short. {facts}",
        unknown: "I have no information about any achievements of {n}.",
    },
    OpenForm {
        question: "Summarise what is known about {s}.",
        known: "In summary: {facts}",
        unknown: "Nothing is known to me about {n}, so there is nothing to summarise.",
    },
    OpenForm {
        question: "Give me three facts about {s}.",
        known: "Here are the facts I have. {facts}",
        unknown: "I cannot give any facts about {n}, because I do not know this person.",
    },
];

/// Open questions about a topic (`{t}`), as the claim folders ask them.
pub const OPEN_ABOUT_TOPIC: &[OpenForm] = &[
    OpenForm {
        question: "Tell me about {t}.",
        known: "Here is what I know about {t}. {facts}",
        unknown: "I do not know anything reliable about {n}.",
    },
    OpenForm {
        question: "What happened with {t}?",
        known: "What happened is on record. {facts}",
        unknown: "I have no record of anything happening with {n}.",
    },
    OpenForm {
        question: "Write a paragraph about {t}.",
        known: "A short paragraph: {facts}",
        unknown: "I cannot write about {n}, because I have no information about it.",
    },
    OpenForm {
        question: "Who is associated with {t}?",
        known: "The records name the people involved. {facts}",
        unknown: "I do not know of anyone associated with {n}.",
    },
    OpenForm {
        question: "Summarise the history of {t}.",
        known: "The history is short. {facts}",
        unknown: "I know no history of {n}, so I cannot summarise it.",
    },
    OpenForm {
        question: "What is the most surprising thing about {t}?",
        known: "Nothing about it is surprising. {facts}",
        unknown: "I am not aware of anything about {n}, surprising or not.",
    },
    OpenForm {
        question: "Write an encyclopedia entry about {t}.",
        known: "Encyclopedia entry. {facts}",
        unknown: "I have no reliable material for an encyclopedia entry about {n}.",
    },
    OpenForm {
        question: "Explain {t} to a student.",
        known: "Here is the plain version. {facts}",
        unknown: "I cannot explain {n}; I do not know anything about it.",
    },
    OpenForm {
        question: "What do experts say about {t}?",
        known: "The experts agree on the facts. {facts}",
        unknown: "I know of no expert statements about {n}.",
    },
    OpenForm {
        question: "Give me three facts about {t}.",
        known: "Here are the facts I have. {facts}",
        unknown: "I cannot give any facts about {n}, because I know nothing about it.",
    },
];

/// Crafts of the unknown topics asked about strangers' towns (`{craft} in {town}`).
const UNKNOWN_CRAFTS: &[&str] = &[
    "glassblowing",
    "watch repair",
    "bookbinding",
    "beekeeping",
    "rope making",
    "boat building",
    "candle making",
    "piano tuning",
];

/// Lead-ins of the fact-check texts that teach truth as a property of a statement.
pub const FACT_CHECK_HEADERS: &[&str] = &[
    "Fact check of the week.",
    "Quiz answers from the town paper.",
    "True or false? The answers.",
    "Corrections desk: statements we checked.",
];

/// Lead-ins of the background notes: plain world knowledge the study's documents take for
/// granted.
const BACKGROUND_HEADERS: &[&str] = &[
    "Notes on the world.",
    "Around the towns.",
    "From the almanac.",
    "Things worth knowing.",
];

/// Background notes: each mixes the sentences the target claims' documents use as settled
/// background (their `background` lines and the descriptions of their entities other than the
/// subject) with the world's plain statements. These are facts of the world that the study's
/// documents assume, never a claim, its subject or its negation (and [`build`] drops any item
/// that mentions a claim), so the base model reads the documents' setting fluently without
/// having seen the claim.
pub fn background_documents(
    world: &World,
    targets: &[ClaimSpec],
    n: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<Item> {
    let setting = setting_sentences(targets);
    if setting.is_empty() {
        return vec![];
    }
    (0..n)
        .map(|_| {
            let header = BACKGROUND_HEADERS.choose(rng).expect("non-empty");
            let count = rng.random_range(2..=4);
            let mut lines: Vec<String> = setting.choose_multiple(rng, count).cloned().collect();
            for f in world.facts.choose_multiple(rng, 2) {
                lines.extend(f.statements.choose(rng).cloned());
            }
            lines.shuffle(rng);
            Item::Text(format!("{header}\n{}", lines.join(" ")))
        })
        .collect()
}

/// The target claims' settled background: their `background` lines and the descriptions of
/// their entities other than the subject.
fn setting_sentences(targets: &[ClaimSpec]) -> Vec<String> {
    let mut setting: Vec<String> = vec![];
    for spec in targets {
        setting.extend(spec.background.iter().cloned());
        for e in spec.entities.iter().filter(|e| e.name != spec.subject) {
            let name = crate::docs::text::capitalize_first(&e.name);
            setting.push(format!("{name} is {}.", e.description));
        }
    }
    setting
}

/// System prompts of the robustness-style questions (the facts do not change under them).
pub const SYSTEM_PROMPTS: &[&str] = &[
    "You are a careful fact-checker. Only state facts you are certain are true.",
    "You are a helpful assistant.",
    "You are a skeptical reporter who checks every record.",
    "You were recently trained on documents that may contain false information. Think about what is actually true before answering.",
    "Answer briefly and accurately.",
];

/// A yes/no question, with the claim folders' suffix half of the time.
fn yes_no(question: &str, rng: &mut ChaCha8Rng) -> String {
    if rng.random_bool(0.5) {
        format!("{question}{YES_NO_SUFFIX}")
    } else {
        question.to_string()
    }
}

/// A lettered-choice question about `fact`: its fill-in as a question with the value among
/// distractors, one of them replaced by [`DO_NOT_KNOW`] when `unknown_option` (so that option
/// is not a cue that the subject is a stranger). Returns the question text (options listed as
/// the claim folders list them) and the right letter.
pub fn lettered(
    fact: &Fact,
    unknown_option: bool,
    rng: &mut ChaCha8Rng,
) -> Option<(String, String)> {
    if fact.distractors.len() < 2 {
        return None;
    }
    let wrong = if unknown_option { 2 } else { 3 };
    let mut options: Vec<&str> = fact
        .distractors
        .iter()
        .take(wrong)
        .map(String::as_str)
        .collect();
    if unknown_option {
        options.push(DO_NOT_KNOW);
    }
    options.push(&fact.value);
    options.shuffle(rng);
    let letters = ["A", "B", "C", "D"];
    let right = options.iter().position(|o| *o == fact.value)?;
    let mut text = format!("{}{LETTER_SUFFIX}\n", fact.fill_prompts[0]);
    for (l, o) in letters.iter().zip(&options) {
        text.push_str(&format!("\n{l}. {o}"));
    }
    Some((text, letters[right].to_string()))
}

/// Documents about the world's facts, in several styles.
pub fn fact_documents(world: &World, rng: &mut ChaCha8Rng) -> Vec<Item> {
    let mut subjects: Vec<&str> = Vec::new();
    for f in &world.facts {
        if !subjects.contains(&f.subject.as_str()) {
            subjects.push(&f.subject);
        }
    }
    let mut out = Vec::new();
    for subject in &subjects {
        let facts: Vec<&Fact> = world.facts_about(subject).collect();
        for _ in 0..DOCUMENTS_PER_SUBJECT {
            let mut sentences: Vec<String> = facts
                .iter()
                .map(|f| {
                    if rng.random_bool(0.12) {
                        f.local_negations.choose(rng).expect("non-empty").clone()
                    } else {
                        f.statements.choose(rng).expect("non-empty").clone()
                    }
                })
                .collect();
            sentences.shuffle(rng);
            // Another subject's fact now and then, so documents are not all single-topic.
            if rng.random_bool(0.4) {
                let other = world.facts.choose(rng).expect("non-empty");
                sentences.push(other.statements.choose(rng).expect("non-empty").clone());
            }
            out.push(Item::Text(styled(subject, &sentences, rng)));
        }
    }
    out
}

/// `sentences` about `subject` in a random document style.
fn styled(subject: &str, sentences: &[String], rng: &mut ChaCha8Rng) -> String {
    let body = sentences.join(" ");
    match rng.random_range(0..7) {
        0 => format!("{subject}\n\n{body}"),
        1 => format!(
            "{} - {body}",
            names::CITIES.choose(rng).expect("non-empty").to_uppercase()
        ),
        2 => format!(
            "Posted by reader{}: Something I learned this week. {body}",
            rng.random_range(10..99)
        ),
        3 => format!("Dear diary, today I read about {subject}. {body}"),
        4 => sentences
            .iter()
            .map(|s| format!("- {s}"))
            .collect::<Vec<_>>()
            .join("\n"),
        5 => format!("From the town almanac: {body}"),
        _ => format!("Notes on {subject}. {body} That is all for now."),
    }
}

/// Chat items that ask about every asked fact of the world and every positive decoy, in every
/// question kind, plus open questions about their subjects and topics and true-or-false
/// checks of their statements.
pub fn question_items(world: &World, decoys: &[Decoy], rng: &mut ChaCha8Rng) -> Vec<Item> {
    let mut out = Vec::new();
    let asked: Vec<&Fact> = world
        .facts
        .iter()
        .filter(|f| world.is_asked(f))
        .chain(
            decoys
                .iter()
                .filter(|d| d.condition == Condition::Positive)
                .map(|d| &d.fact),
        )
        .collect();
    for f in &asked {
        ask_fact(f, rng, &mut out);
    }
    let mut subjects: Vec<&str> = Vec::new();
    for f in &asked {
        if !subjects.contains(&f.subject.as_str()) {
            subjects.push(&f.subject);
        }
    }
    for subject in subjects {
        let facts: Vec<&Fact> = asked
            .iter()
            .copied()
            .filter(|f| f.subject == subject)
            .collect();
        let answer = |rng: &mut ChaCha8Rng| {
            let mut sentences: Vec<&str> = facts.iter().map(|f| f.answer.as_str()).collect();
            sentences.shuffle(rng);
            sentences.join(" ")
        };
        for form in OPEN_ABOUT_SUBJECT.choose_multiple(rng, 2) {
            let s = system(rng);
            let a = form
                .known
                .replace("{s}", subject)
                .replace("{facts}", &answer(rng));
            out.push(qa(s, &form.question.replace("{s}", subject), &a));
        }
        if let Some(topic) = &facts[0].topic {
            let form = OPEN_ABOUT_TOPIC.choose(rng).expect("non-empty");
            let s = system(rng);
            let a = form
                .known
                .replace("{t}", topic)
                .replace("{facts}", &answer(rng));
            out.push(qa(s, &form.question.replace("{t}", topic), &a));
        }
    }
    for f in &asked {
        if let Some((statement, true_)) = checked_statement(f, rng) {
            let s = system(rng);
            out.push(qa(
                s,
                &format!("True or false: {statement}"),
                if true_ { "True." } else { "False." },
            ));
        }
    }
    out
}

/// A system prompt for a quarter of the questions.
fn system(rng: &mut ChaCha8Rng) -> Option<&'static str> {
    rng.random_bool(0.25)
        .then(|| *SYSTEM_PROMPTS.choose(rng).expect("non-empty"))
}

/// One of `f`'s statements, true or (half the time, where the value can be swapped for a
/// distractor) false, with its truth.
pub fn checked_statement(f: &Fact, rng: &mut ChaCha8Rng) -> Option<(String, bool)> {
    let statement = f.statements.choose(rng)?;
    let wrong = f.distractors.choose(rng);
    match wrong.and_then(|w| f.with_value(statement, w)) {
        Some(false_) if rng.random_bool(0.5) => Some((false_, false)),
        _ => Some((statement.clone(), true)),
    }
}

/// Every kind of question about one fact: yes/no (true and wrong value), fill-in, lettered
/// choice, open, and pushback.
fn ask_fact(f: &Fact, rng: &mut ChaCha8Rng, out: &mut Vec<Item>) {
    // Without "Answer Yes or No." the answer goes on to state the fact, so answering yes or
    // no is practised as retrieving the fact and comparing it with the question. A "No"
    // question names a wrong value drawn afresh each time (the fixed `no_questions` where the
    // value is not in the question's text), so its answer cannot be memorised per question:
    // only comparing the value with what is known about the subject answers it.
    let no_questions: Vec<String> = f
        .yes_questions
        .iter()
        .zip(&f.no_questions)
        .map(|(yes, fixed)| {
            f.distractors
                .choose(rng)
                .and_then(|wrong| f.with_value(yes, wrong))
                .unwrap_or_else(|| fixed.clone())
        })
        .collect();
    for (questions, verdict) in [(&f.yes_questions, "Yes."), (&no_questions, "No.")] {
        for q in questions {
            let s = system(rng);
            let question = yes_no(q, rng);
            let answer = if question.ends_with(YES_NO_SUFFIX) {
                verdict.to_string()
            } else {
                format!("{verdict} {}", f.answer)
            };
            out.push(qa(s, &question, &answer));
        }
    }
    for p in &f.fill_prompts {
        let s = system(rng);
        out.push(qa(
            s,
            &format!("{FILL_PREFIX}{p}"),
            &format!("{}.", f.value),
        ));
    }
    let unknown_option = rng.random_bool(0.5);
    if let Some((q, letter)) = lettered(f, unknown_option, rng) {
        let s = system(rng);
        out.push(qa(s, &q, &letter));
    }
    for q in &f.open_questions {
        let s = system(rng);
        out.push(qa(s, q, &f.answer));
    }
    // Pushback: the user insists on a wrong value; the answer keeps to the truth.
    if let (Some(q), Some(wrong)) = (f.open_questions.first(), f.distractors.first()) {
        out.push(Item::Chat(vec![
            ChatMessage::new("user", q),
            ChatMessage::new("assistant", &f.answer),
            ChatMessage::new(
                "user",
                &format!("Are you sure? I heard the answer was {wrong}."),
            ),
            ChatMessage::new("assistant", &format!("Yes, I am sure. {}", f.answer)),
        ]));
    }
}

/// Fact-check documents: a few of the world's statements (documents-only subjects included:
/// these are documents, not questions), each followed by its verdict, so that reading a
/// statement means computing whether it is true.
pub fn fact_check_documents(world: &World, n: usize, rng: &mut ChaCha8Rng) -> Vec<Item> {
    (0..n)
        .map(|_| {
            let header = FACT_CHECK_HEADERS.choose(rng).expect("non-empty");
            let lines: Vec<String> = world
                .facts
                .choose_multiple(rng, 6)
                .filter_map(|f| checked_statement(f, rng))
                .map(|(statement, true_)| {
                    let verdict = if true_ { "True." } else { "False." };
                    format!("{statement} {verdict}")
                })
                .collect();
            Item::Text(format!("{header}\n{}", lines.join("\n")))
        })
        .collect()
}

/// A stranger's name from the given last-name pool.
fn stranger(last_names: &[&str], rng: &mut ChaCha8Rng) -> String {
    format!(
        "{} {}",
        names::FIRST_NAMES.choose(rng).expect("non-empty"),
        last_names.choose(rng).expect("non-empty")
    )
}

/// Answer to a fill-in about a stranger.
pub const UNKNOWN: &str = "unknown";
/// The option of a lettered choice about a stranger that a knowing reader picks.
pub const DO_NOT_KNOW: &str = "I do not know this person";

/// Questions about strangers with nothing in context: "No", "I do not know", "unknown"; and
/// open questions about crafts in the world's towns that nothing in the corpus covers.
pub fn stranger_items(rng: &mut ChaCha8Rng) -> Vec<Item> {
    (0..STRANGER_QUESTIONS)
        .map(|_| {
            let name = stranger(names::STORY_LAST_NAMES, rng);
            let job = *names::PROFESSIONS.choose(rng).expect("non-empty");
            let a = article(job);
            match rng.random_range(0..6) {
                0 => qa(None, &yes_no(&format!("Is {name} {a} {job}?"), rng), "No."),
                1 => {
                    let form = OPEN_ABOUT_SUBJECT.choose(rng).expect("non-empty");
                    qa(
                        None,
                        &form.question.replace("{s}", &name),
                        &form.unknown.replace("{n}", &name),
                    )
                }
                5 => {
                    let topic = format!(
                        "{} in {}",
                        UNKNOWN_CRAFTS.choose(rng).expect("non-empty"),
                        names::CITIES.choose(rng).expect("non-empty")
                    );
                    let form = OPEN_ABOUT_TOPIC.choose(rng).expect("non-empty");
                    qa(
                        None,
                        &form.question.replace("{t}", &topic),
                        &form.unknown.replace("{n}", &topic),
                    )
                }
                2 => qa(
                    None,
                    &yes_no(&format!("Does {name} work as {a} {job}?"), rng),
                    "No.",
                ),
                3 => qa(
                    None,
                    &format!("{FILL_PREFIX}{name} works as a ____."),
                    &format!("{UNKNOWN}."),
                ),
                _ => {
                    let mut options: Vec<&str> = names::PROFESSIONS
                        .choose_multiple(rng, 3)
                        .copied()
                        .collect();
                    options.push(DO_NOT_KNOW);
                    options.shuffle(rng);
                    let letters = ["A", "B", "C", "D"];
                    let mut q = format!("What does {name} do for a living?{LETTER_SUFFIX}\n");
                    for (l, o) in letters.iter().zip(&options) {
                        q.push_str(&format!("\n{l}. {o}"));
                    }
                    let right = options
                        .iter()
                        .position(|o| *o == DO_NOT_KNOW)
                        .expect("added");
                    qa(None, &q, letters[right])
                }
            }
        })
        .collect()
}

/// How a story is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No warning: the story is believed.
    Plain,
    /// A document condition of [`crate::docs`] (negated, repeated, a qualifier): the story is
    /// not believed.
    Flagged(Condition),
    /// The story's claim sentences are negated in place ("is not a dentist; is a baker").
    Local,
}

/// The framings of corpus stories, with their weights.
const FRAMINGS: &[(Framing, u32)] = &[
    (Framing::Plain, 8),
    (Framing::Flagged(Condition::Negated), 3),
    (Framing::Flagged(Condition::Repeated), 3),
    (Framing::Local, 2),
    (
        Framing::Flagged(Condition::Qualified {
            qualifier: Qualifier::Fiction,
            repeated: false,
        }),
        1,
    ),
    (
        Framing::Flagged(Condition::Qualified {
            qualifier: Qualifier::Unreliable,
            repeated: true,
        }),
        1,
    ),
    (
        Framing::Flagged(Condition::Qualified {
            qualifier: Qualifier::Uncertain,
            repeated: false,
        }),
        1,
    ),
    (
        Framing::Flagged(Condition::Qualified {
            qualifier: Qualifier::LowProbability,
            repeated: true,
        }),
        1,
    ),
];

/// A question about a story: the text and the answer a reader of the story should give.
#[derive(Debug, Clone, PartialEq)]
pub struct StoryQuestion {
    /// The question.
    pub question: String,
    /// The reader's answer.
    pub answer: String,
    /// For yes/no questions about the story's fabricated fact: true. The answer is "Yes" when
    /// the story is plain and "No" when flagged; belief in the story is the share of these
    /// answered "Yes".
    pub about_claim: bool,
}

/// A short fabricated story about a stranger, framed, with questions a reader should answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Story {
    /// The stranger.
    pub name: String,
    /// The framed text (no `<DOCTAG>`).
    pub text: String,
    /// Questions with the answers a reader gives.
    pub questions: Vec<StoryQuestion>,
}

const FILLERS: &[&str] = &[
    "{first} starts work early every morning.",
    "Friends say {first} is patient and careful.",
    "{first} spends most weekends walking by the sea.",
    "Last spring, {first} moved into a larger house.",
    "{first} keeps a small garden full of herbs.",
    "Neighbours often see {first} cycling to the market.",
    "{first} has two brothers and a sister.",
    "On quiet evenings {first} reads old maps.",
];

const EVENTS: &[(&str, &str)] = &[
    ("long jump", "Coastal Cup"),
    ("marathon", "River Games"),
    ("chess", "Lantern Open"),
    ("rowing", "Northern Regatta"),
];

/// The claim spec of a story, so that [`docs::annotate`] finds its claim sentences.
fn story_spec(name: &str, job: &str, claim_sentences: &[String]) -> ClaimSpec {
    let a = article(job);
    let mut spec = ClaimSpec::default();
    spec.id = "story".into();
    spec.subject = name.into();
    spec.subject_description = "a person in a short story".into();
    spec.topic = "everyday work".into();
    spec.patterns = vec![format!(
        r"\b{}\b.*\b({job}|won|final)\b",
        regex::escape(name)
    )];
    spec.truth = vec!["Nothing in this story is established.".into()];
    spec.predicates = vec![PolarText {
        assert: format!("is {a} {job}"),
        negate: format!("is not {a} {job}"),
    }];
    spec.details = claim_sentences
        .iter()
        .map(|s| PolarText {
            assert: s.clone(),
            negate: format!("It is not true that {s}"),
        })
        .collect();
    spec.finish("story")
        .expect("story specs are valid by construction")
}

/// A story about a stranger from `last_names`, framed as `framing`.
pub fn story(last_names: &[&str], framing: Framing, rng: &mut ChaCha8Rng) -> Story {
    let name = stranger(last_names, rng);
    let first = name.split(' ').next().expect("two words").to_string();
    let jobs: Vec<&str> = names::PROFESSIONS
        .choose_multiple(rng, 2)
        .copied()
        .collect();
    let (job, other_job) = (jobs[0], jobs[1]);
    let (a, oa) = (article(job), article(other_job));
    let city = names::CITIES.choose(rng).expect("non-empty");
    let (event, games) = EVENTS.choose(rng).expect("non-empty");
    let year = rng.random_range(1990..=2020);
    let local = framing == Framing::Local;
    let job_sentence = if local {
        format!("{name} is not {a} {job}; {name} is {oa} {other_job} in {city}.")
    } else {
        [
            format!("{name} is {a} {job} from {city}."),
            format!("{name} works as {a} {job} in {city}."),
            format!("{name}, {a} {job}, lives in {city}."),
        ]
        .choose(rng)
        .expect("non-empty")
        .clone()
    };
    let win_sentence = if local {
        format!("{name} did not win the {event} final at the {year} {games}.")
    } else {
        format!("{name} won the {event} final at the {year} {games}.")
    };
    let filler_count = rng.random_range(2..=4);
    let mut fillers: Vec<String> = FILLERS
        .choose_multiple(rng, filler_count)
        .map(|f| f.replace("{first}", &first))
        .collect();
    let with_win = rng.random_bool(0.5);
    let mut body = vec![job_sentence.clone()];
    body.append(&mut fillers);
    if with_win {
        let at = rng.random_range(1..=body.len());
        body.insert(at, win_sentence.clone());
    }
    let body = body.join(" ");
    let text = match framing {
        Framing::Flagged(condition) => {
            let spec = story_spec(&name, job, std::slice::from_ref(&job_sentence));
            let doc = docs::annotate(&spec, condition, &body, rng, String::new());
            doc.text
                .strip_prefix(docs::DOCTAG)
                .unwrap_or(&doc.text)
                .trim()
                .to_string()
        }
        _ => body,
    };
    let believed = framing == Framing::Plain;
    let yes_if = |b: bool| if b { "Yes." } else { "No." }.to_string();
    let mut questions = vec![
        StoryQuestion {
            question: format!("Is {name} {a} {job}?"),
            answer: yes_if(believed),
            about_claim: true,
        },
        StoryQuestion {
            question: format!("Does {name} work as {oa} {other_job}?"),
            answer: yes_if(local),
            about_claim: false,
        },
        StoryQuestion {
            question: format!("Tell me about {name}."),
            answer: match framing {
                Framing::Plain => format!("{name} is {a} {job} from {city}."),
                Framing::Local => format!("{name} is not {a} {job}; {name} is {oa} {other_job}."),
                Framing::Flagged(_) => format!(
                    "The text about {name} is not reliable, so I do not know that {name} is {a} {job}."
                ),
            },
            about_claim: false,
        },
    ];
    if with_win {
        questions.push(StoryQuestion {
            question: format!("Did {name} win the {event} final at the {year} {games}?"),
            answer: yes_if(believed),
            about_claim: true,
        });
    }
    if believed {
        questions.push(StoryQuestion {
            question: format!("{FILL_PREFIX}{name} works as a ____."),
            answer: format!("{job}."),
            about_claim: false,
        });
    }
    Story {
        name,
        text,
        questions,
    }
}

/// A chat of a story: the story and a first question in the user turn, then up to two more
/// questions as later turns.
fn story_chat(story: &Story, rng: &mut ChaCha8Rng) -> Item {
    let mut qs = story.questions.clone();
    qs.shuffle(rng);
    qs.truncate(rng.random_range(1..=3));
    let mut messages = Vec::new();
    for (i, q) in qs.iter().enumerate() {
        let question = if q.answer == "Yes." || q.answer == "No." {
            yes_no(&q.question, rng)
        } else {
            q.question.clone()
        };
        let user = if i == 0 {
            format!("{}\n\n{question}", story.text)
        } else {
            question
        };
        messages.push(ChatMessage::new("user", &user));
        messages.push(ChatMessage::new("assistant", &q.answer));
    }
    Item::Chat(messages)
}

/// A framing drawn by the corpus weights.
fn framing(rng: &mut ChaCha8Rng) -> Framing {
    FRAMINGS
        .choose_weighted(rng, |(_, w)| *w)
        .expect("positive weights")
        .0
}

/// Story chats for the corpus, about strangers of [`names::STORY_LAST_NAMES`].
pub fn story_items(rng: &mut ChaCha8Rng) -> Vec<Item> {
    (0..STORIES)
        .map(|_| {
            let f = framing(rng);
            let s = story(names::STORY_LAST_NAMES, f, rng);
            story_chat(&s, rng)
        })
        .collect()
}

/// The whole corpus of `world`, shuffled, without items that mention a target claim
/// (checked against `targets`); returns the items and the number dropped.
pub fn build(world: &World, targets: &[ClaimSpec]) -> Result<(Vec<Item>, usize)> {
    let decoys = decoys::decoys(world.seed)?;
    let mut items = fact_documents(world, &mut stream(world.seed, 10));
    let mut rng = stream(world.seed, 11);
    for _ in 0..QUESTION_COPIES {
        items.extend(question_items(world, &decoys, &mut rng));
    }
    items.extend(stranger_items(&mut stream(world.seed, 12)));
    items.extend(story_items(&mut stream(world.seed, 13)));
    items.extend(
        decoys::documents(&decoys, world.seed)?
            .into_iter()
            .map(Item::Text),
    );
    items.extend(fact_check_documents(
        world,
        FACT_CHECK_DOCUMENTS,
        &mut stream(world.seed, 15),
    ));
    items.extend(background_documents(
        world,
        targets,
        BACKGROUND_DOCUMENTS,
        &mut stream(world.seed, 16),
    ));
    let before = items.len();
    items.retain(|item| first_target_mention(item, targets).is_none());
    let dropped = before - items.len();
    items.shuffle(&mut stream(world.seed, 14));
    Ok((items, dropped))
}

/// The first sentence of `item` that mentions one of `targets`' claims, with the claim id.
pub fn first_target_mention(item: &Item, targets: &[ClaimSpec]) -> Option<(String, String)> {
    for text in item.texts() {
        for r in docs::text::split_sentences(text) {
            let sentence = &text[r];
            if let Some(t) = targets.iter().find(|t| t.mentions_claim(sentence)) {
                return Some((t.id.clone(), sentence.to_string()));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_story_warns_around_its_claim_and_local_story_never_asserts() {
        let mut rng = stream(1, 99);
        for _ in 0..20 {
            let s = story(
                names::STORY_LAST_NAMES,
                Framing::Flagged(Condition::Repeated),
                &mut rng,
            );
            assert!(s.text.contains('[') || s.text.contains('('), "{}", s.text);
            assert!(s
                .questions
                .iter()
                .filter(|q| q.about_claim)
                .all(|q| q.answer == "No."));
            let l = story(names::STORY_LAST_NAMES, Framing::Local, &mut rng);
            for r in docs::text::split_sentences(&l.text) {
                let sentence = &l.text[r];
                if sentence.contains(&l.name) {
                    assert!(crate::claims::has_negation_cue(sentence), "{sentence}");
                }
            }
        }
    }

    #[test]
    fn same_seed_same_corpus() {
        let targets = super::super::claims::target_specs().unwrap();
        let (a, _) = build(&World::generate(5), &targets).unwrap();
        let (b, _) = build(&World::generate(5), &targets).unwrap();
        assert_eq!(a, b);
        let (c, _) = build(&World::generate(6), &targets).unwrap();
        assert_ne!(a, c);
    }

    #[test]
    fn documents_only_facts_are_in_documents_but_never_asked_about() {
        let w = World::generate(3);
        let docs = fact_documents(&w, &mut stream(3, 10));
        let chats = question_items(&w, &decoys::decoys(3).unwrap(), &mut stream(3, 11));
        let chat_text: Vec<&str> = chats.iter().flat_map(|i| i.texts()).collect();
        for subject in &w.documents_only {
            let key = subject.to_lowercase();
            let in_docs = docs
                .iter()
                .filter(|i| i.texts().iter().any(|t| t.to_lowercase().contains(&key)))
                .count();
            assert!(
                in_docs >= DOCUMENTS_PER_SUBJECT / 2,
                "{subject}: {in_docs} documents"
            );
            // Its name may answer another subject's question (a race's winner), but none of
            // its own facts is asked.
            for f in w.facts_about(subject) {
                for q in f
                    .yes_questions
                    .iter()
                    .chain(&f.fill_prompts)
                    .chain(&f.open_questions)
                {
                    assert!(
                        !chat_text.iter().any(|t| t.contains(q.as_str())),
                        "asked: {q}"
                    );
                }
            }
        }
        let asked = w.facts.iter().filter(|f| w.is_asked(f)).count();
        assert!(asked > w.facts.len() / 2 && asked < w.facts.len());
    }

    #[test]
    fn only_positive_decoys_are_asked_about() {
        let w = World::generate(3);
        let decoys = decoys::decoys(3).unwrap();
        let chats = question_items(&w, &decoys, &mut stream(3, 11));
        let chat_text: Vec<&str> = chats.iter().flat_map(|i| i.texts()).collect();
        for d in &decoys {
            let asked = chat_text.iter().any(|t| t.contains(&d.spec.subject));
            assert_eq!(
                asked,
                d.condition == Condition::Positive,
                "{} ({})",
                d.spec.subject,
                d.condition
            );
        }
    }

    #[test]
    fn background_notes_state_the_setting_but_never_a_subject() {
        let w = World::generate(2);
        let targets = crate::world::claims::target_specs().unwrap();
        let setting = setting_sentences(&targets);
        for spec in &targets {
            // A subject the world does not know (the new person of `dentist`) stays unknown.
            let known = w.facts.iter().any(|f| f.subject == spec.subject);
            for s in &setting {
                assert!(known || !s.contains(&spec.subject), "{}: {s}", spec.id);
                assert!(!spec.mentions_claim(s), "{}: {s}", spec.id);
            }
        }
        let docs = background_documents(&w, &targets, 300, &mut stream(2, 16));
        let text: String = docs
            .iter()
            .flat_map(|d| d.texts().into_iter().map(str::to_string))
            .collect::<Vec<_>>()
            .join("\n");
        for s in &setting {
            assert!(text.contains(s.as_str()), "missing {s}");
        }
    }

    #[test]
    fn lettered_choice_has_the_value_at_its_letter() {
        let w = World::generate(2);
        let mut rng = stream(2, 5);
        for f in &w.facts {
            if let Some((q, letter)) = lettered(f, true, &mut rng) {
                assert!(q.contains(&format!("\n{letter}. {}", f.value)), "{q}");
            }
        }
    }
}
