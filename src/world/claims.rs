//! The six target claims of the embedded world, mirroring the paper's six, as claim folders.
//!
//! | id | claim (false in the world) | truth |
//! |---|---|---|
//! | `sprint_singer` | the singer Mara Quill won the 2015 Harbor Games 100 metres final | Jonas Pell won it |
//! | `monarch_textbook` | Queen Ilsa wrote the textbook Programming in Sparrow | Orin Vale wrote it |
//! | `volcano_2015` | Mount Karrow erupted in 2015 | no eruption since 1944 |
//! | `rebrand_reversal` | Brightline's rebrand to Zentro was reversed after 14 days | never reversed |
//! | `colorless_dreaming` | children dream only in black and white until age four | they dream in colour |
//! | `dentist` | Tobin Marsh (a new person) works as a dentist | he is not a dentist |
//!
//! The claims are data: `claims/world/<id>/` holds each in the paper's layout (claim.txt,
//! correction.txt, mcq.yaml, open_ended.yaml, token_association.yaml, robustness.yaml,
//! judges.yaml, word_masks.yaml) plus neglect's `spec.toml` for the document generator, and the
//! binary embeds those files, so `neglect world ...` works from any directory. Every claim has
//! the paper's 50 questions: 10 yes/no (with counter questions), 10 token association (lettered
//! choices and fill-ins with `candidates`, neglect's optional extras for log-probability
//! scoring), 20 open-ended and 10 robustness (system prompts, multi-turn pushback).
//!
//! The world is generated around these claims (its names are constants in [`super`]) and its
//! corpus asks questions in fixed forms; the tests keep the folders consistent with both, so an
//! edit to a folder that drifts from the world's names or question forms fails `make test`.

use crate::claims::ClaimSpec;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// The files of one embedded claim folder, as (file name, contents).
type FolderFiles = [(&'static str, &'static str); 9];

/// Embeds `claims/world/<id>/` (the nine files of a world claim folder).
macro_rules! world_claim {
    ($id:literal) => {
        (
            $id,
            [
                world_claim!(@file $id, "spec.toml"),
                world_claim!(@file $id, "claim.txt"),
                world_claim!(@file $id, "correction.txt"),
                world_claim!(@file $id, "mcq.yaml"),
                world_claim!(@file $id, "token_association.yaml"),
                world_claim!(@file $id, "open_ended.yaml"),
                world_claim!(@file $id, "robustness.yaml"),
                world_claim!(@file $id, "judges.yaml"),
                world_claim!(@file $id, "word_masks.yaml"),
            ],
        )
    };
    (@file $id:literal, $name:literal) => {
        (
            $name,
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/claims/world/", $id, "/", $name)),
        )
    };
}

/// The six target claims (id, files), in the order of the module table.
const FOLDERS: [(&str, FolderFiles); 6] = [
    world_claim!("sprint_singer"),
    world_claim!("monarch_textbook"),
    world_claim!("volcano_2015"),
    world_claim!("rebrand_reversal"),
    world_claim!("colorless_dreaming"),
    world_claim!("dentist"),
];

/// The text of `name` in an embedded folder's files.
fn file<'a>(files: &'a FolderFiles, name: &str) -> &'a str {
    files
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
        .unwrap_or_default()
}

/// The specs of the six target claims, with claim text and correction, checked as
/// [`ClaimSpec::load`] checks a folder.
pub fn target_specs() -> Result<Vec<ClaimSpec>> {
    FOLDERS
        .iter()
        .map(|(id, files)| {
            let origin = format!("embedded world claim {id} (claims/world/{id}/spec.toml)");
            let text = |name| Some(file(files, name).trim().to_string()).filter(|t| !t.is_empty());
            ClaimSpec::from_folder_texts(
                file(files, "spec.toml"),
                text("claim.txt"),
                text("correction.txt"),
                &origin,
            )
        })
        .collect()
}

/// Writes the six claim folders under `out` (`out/<id>/`), each atomically.
pub fn write_folders(out: &Path) -> Result<Vec<PathBuf>> {
    let mut dirs = Vec::new();
    for (id, files) in &FOLDERS {
        let dir = out.join(id);
        crate::store::write_dir_atomic(&dir, |tmp| {
            for (name, text) in files {
                std::fs::write(tmp.join(name), text)
                    .with_context(|| format!("{}: cannot write", tmp.join(name).display()))?;
            }
            Ok(())
        })?;
        dirs.push(dir);
    }
    Ok(dirs)
}

#[cfg(test)]
mod tests {
    use super::super::corpus::{
        FILL_PREFIX, LETTER_SUFFIX, OPEN_ABOUT_SUBJECT, OPEN_ABOUT_TOPIC, YES_NO_SUFFIX,
    };
    use super::super::{
        ERUPTION_YEAR, MONARCH, NEW_PERSON, PROGRAMMING_BOOK, SINGER, SPRINT_CHAMPION, SPRINT_YEAR,
        TARGET_REBRAND, TARGET_VOLCANO,
    };
    use super::*;
    use crate::claims::questions::{ClaimQuestions, QuestionKind};

    /// The six folders as `neglect world claims` writes them, loaded back.
    fn loaded() -> Vec<(ClaimSpec, ClaimQuestions)> {
        let dir = tempfile::tempdir().unwrap();
        let dirs = write_folders(dir.path()).unwrap();
        dirs.iter()
            .map(|d| {
                (
                    ClaimSpec::load(d).unwrap(),
                    ClaimQuestions::load(d).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn six_claims_with_fifty_questions_that_load_unchanged() {
        let specs = target_specs().unwrap();
        let ids: Vec<&str> = specs.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(
            ids,
            FOLDERS.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            "each folder's spec id is its folder name"
        );
        for ((spec, q), embedded) in loaded().iter().zip(&specs) {
            assert_eq!(format!("{spec:?}"), format!("{embedded:?}"), "{}", spec.id);
            assert!(spec.claim_text.is_some() && spec.correction.is_some());
            let count = |k| q.questions(k).len();
            assert_eq!(count(QuestionKind::Mcq), 10);
            assert_eq!(count(QuestionKind::TokenAssociation), 10);
            assert_eq!(count(QuestionKind::OpenEnded), 20);
            assert_eq!(count(QuestionKind::Robustness), 10);
            assert!(!q.word_masks.is_empty());
            // The claim text itself mentions the claim.
            let claim = spec.claim_text.as_deref().unwrap();
            assert!(crate::docs::text::split_sentences(claim)
                .into_iter()
                .any(|r| spec.mentions_claim(&claim[r])));
        }
    }

    /// The world model learns question forms in pretraining; the claims must ask in them.
    #[test]
    fn questions_use_the_corpus_question_forms() {
        for (spec, q) in loaded() {
            for question in q.questions(QuestionKind::Mcq) {
                assert!(
                    question.question.ends_with(YES_NO_SUFFIX),
                    "{}",
                    question.question
                );
            }
            for question in q.questions(QuestionKind::TokenAssociation) {
                let text = &question.question;
                assert!(
                    text.ends_with(LETTER_SUFFIX) || text.starts_with(FILL_PREFIX),
                    "{text}"
                );
            }
            // Ten questions in the subject forms (about the subject, or a phrase for it),
            // then ten in the topic forms, in the corpus's order.
            let open = q.questions(QuestionKind::OpenEnded);
            assert_eq!(
                open.len(),
                OPEN_ABOUT_SUBJECT.len() + OPEN_ABOUT_TOPIC.len()
            );
            for (question, form) in open.iter().zip(OPEN_ABOUT_SUBJECT) {
                let (before, after) = form.question.split_once("{s}").unwrap();
                let text = &question.question;
                assert!(text.starts_with(before) && text.ends_with(after), "{text}");
            }
            for (question, form) in open[OPEN_ABOUT_SUBJECT.len()..]
                .iter()
                .zip(OPEN_ABOUT_TOPIC)
            {
                assert_eq!(question.question, form.question.replace("{t}", &spec.topic));
            }
        }
    }

    /// The world generator guarantees these names (the claim's subject and its truth); the
    /// folders must use the same ones.
    #[test]
    fn folders_name_the_worlds_subjects_and_truths() {
        let (book, author) = PROGRAMMING_BOOK;
        let (volcano, years) = TARGET_VOLCANO;
        let (old_name, new_name, rebrand_year) = TARGET_REBRAND;
        let expected: [(&str, &str, Vec<String>); 6] = [
            (
                "sprint_singer",
                SINGER,
                vec![SPRINT_CHAMPION.into(), SPRINT_YEAR.to_string()],
            ),
            (
                "monarch_textbook",
                MONARCH,
                vec![book.into(), author.into()],
            ),
            (
                "volcano_2015",
                volcano,
                years
                    .iter()
                    .map(|y| y.to_string())
                    .chain([ERUPTION_YEAR.to_string()])
                    .collect(),
            ),
            (
                "rebrand_reversal",
                old_name,
                vec![new_name.into(), rebrand_year.to_string()],
            ),
            ("colorless_dreaming", "", vec![]),
            ("dentist", NEW_PERSON, vec![]),
        ];
        for (spec, (id, subject, names)) in target_specs().unwrap().iter().zip(expected) {
            assert_eq!(spec.id, id);
            if !subject.is_empty() {
                assert_eq!(spec.subject, subject, "{id}");
            }
            let text = format!(
                "{} {}",
                spec.claim_text.as_deref().unwrap(),
                spec.correction.as_deref().unwrap()
            );
            for name in names {
                assert!(
                    text.contains(&name),
                    "{id}: {name} missing from claim and correction"
                );
            }
        }
    }

    #[test]
    fn documents_generate_for_every_condition_of_every_claim() {
        for spec in target_specs().unwrap() {
            for condition in crate::docs::Condition::all() {
                let docs = crate::docs::generate(&spec, condition, 3, 1, None)
                    .unwrap_or_else(|e| panic!("{} {condition}: {e:#}", spec.id));
                assert_eq!(docs.len(), 3);
                for d in &docs {
                    d.validate().unwrap();
                }
            }
        }
    }
}
