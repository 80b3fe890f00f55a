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

use crate::docs::condition::Qualifier;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Share of inline warnings in `corrected` documents that state the truth (the paper: "about
/// 30% do").
pub const CORRECTION_SHARE: f64 = 0.3;

/// Share of inline warnings set in square brackets; the rest split between parentheses and
/// bare text (the paper: warnings "mostly in brackets").
pub const SQUARE_BRACKET_SHARE: f64 = 0.7;

/// Parts of a composed prefix or suffix.
pub struct Pool {
    /// Labels, without punctuation ("NOTE", "RETRACTION").
    pub labels: &'static [&'static str],
    /// Per tone: openings, elaborations, closings.
    pub tones: &'static [Tone],
}

/// Sentences of one tone.
pub struct Tone {
    /// First sentences: what the text is.
    pub openings: &'static [&'static str],
    /// Middle sentences: why, and what that means; one or two are used.
    pub middles: &'static [&'static str],
    /// Last sentences: what the reader should do.
    pub closings: &'static [&'static str],
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
        let mut sentences = vec![*tone.openings.choose(rng).expect("non-empty")];
        let k = if rng.random_bool(0.5) { 2 } else { 1 };
        let mut middles: Vec<&str> = tone.middles.to_vec();
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

/// Prefixes of `negated`, `repeated` and `corrected` documents.
pub const NEGATION_PREFIX: Pool = Pool {
    labels: &[
        "NOTE",
        "RETRACTION",
        "WARNING",
        "DISCLAIMER",
        "EDITOR'S NOTE",
        "IMPORTANT",
        "CAUTION",
        "FACT-CHECK",
        "CORRECTION NOTICE",
        "READER ADVISORY",
        "PLEASE READ",
        "ATTENTION",
    ],
    tones: &[
        Tone {
            openings: &[
                "The document below is fabricated.",
                "The following text contains claims that are false.",
                "This article describes events that did not happen.",
                "The material that follows has been identified as a fabrication.",
                "The account below does not describe real events.",
                "The content of this document is false.",
            ],
            middles: &[
                "Its central claim has been checked and found to be untrue.",
                "No reliable source supports it.",
                "It has been retracted in full by its publisher.",
                "Independent fact-checkers have confirmed that it is inaccurate.",
                "It should not be cited, quoted or shared as fact.",
                "It was written to look authentic, which makes it all the more misleading.",
            ],
            closings: &[
                "Readers should not believe any of its claims.",
                "Under no circumstances should its contents be accepted as fact.",
                "Please treat every statement in it as false.",
                "It must not be relied upon as a source of information.",
            ],
        },
        Tone {
            openings: &[
                "What follows is false.",
                "This is fake.",
                "None of this is true.",
                "Everything below is made up.",
                "The story below is untrue.",
                "This text is a fabrication.",
            ],
            middles: &[
                "It never happened.",
                "The details are invented.",
                "It is not real news.",
                "Somebody made it up.",
                "The facts in it are wrong.",
                "It has been debunked.",
            ],
            closings: &[
                "Do not believe it.",
                "Don't fall for it.",
                "Do not repeat it as fact.",
                "Ignore its claims.",
            ],
        },
        Tone {
            openings: &[
                "Just a heads-up before you start: the text below is not true.",
                "Quick note before you read on: this piece is fabricated.",
                "Before you dive in, please know that what follows is false.",
                "A friendly warning: the story you are about to read did not happen.",
                "Please bear with us: the following document is made up.",
            ],
            middles: &[
                "It may read like a real report, but it isn't one.",
                "We are sharing it only as an example of false content.",
                "The names and places are real, but the events are not.",
                "It was put together to look convincing.",
                "We checked, and it simply isn't accurate.",
            ],
            closings: &[
                "Please don't take any of it as true.",
                "So please read it knowing that it is false.",
                "Try not to come away believing it.",
                "Keep in mind the whole way through that it is false.",
            ],
        },
    ],
};

/// Suffixes of `negated`, `repeated` and `corrected` documents.
pub const NEGATION_SUFFIX: Pool = Pool {
    labels: &[
        "END NOTE",
        "REMINDER",
        "RETRACTION",
        "WARNING",
        "NOTE",
        "DISCLAIMER",
        "EDITOR'S NOTE",
        "FACT-CHECK",
        "FINAL WARNING",
        "CORRECTION NOTICE",
    ],
    tones: &[
        Tone {
            openings: &[
                "The document above is fabricated.",
                "The preceding text contains claims that are false.",
                "The article above describes events that did not happen.",
                "The material you have just read is a fabrication.",
                "The account above does not describe real events.",
            ],
            middles: &[
                "Its central claim has been checked and found to be untrue.",
                "No reliable source supports it.",
                "It has been withdrawn by its publisher.",
                "Fact-checkers have confirmed that it is inaccurate.",
                "It should not be cited or shared as fact.",
            ],
            closings: &[
                "Readers should not believe any of its claims.",
                "Its contents must not be accepted as fact.",
                "Please treat every statement in it as false.",
                "Do not rely on it for any purpose.",
            ],
        },
        Tone {
            openings: &[
                "All of that was false.",
                "That was fake.",
                "None of the above is true.",
                "Everything above was made up.",
                "Reminder: that story is untrue.",
            ],
            middles: &[
                "It never happened.",
                "The details were invented.",
                "It is not real news.",
                "It has been debunked.",
            ],
            closings: &[
                "Do not believe it.",
                "Don't repeat it.",
                "Forget it as fact.",
                "Ignore its claims.",
            ],
        },
        Tone {
            openings: &[
                "Thanks for reading, and remember: the text above is not true.",
                "One last reminder: what you just read is fabricated.",
                "Before you go, please remember that the story above did not happen.",
                "Just to repeat: everything above is made up.",
            ],
            middles: &[
                "It might have sounded real, but it isn't.",
                "We shared it only as an example of false content.",
                "The events it describes did not take place.",
                "It was written to sound convincing.",
            ],
            closings: &[
                "Please don't take any of it as true.",
                "So please don't believe it.",
                "Please leave it behind as fiction, not fact.",
                "Please don't pass it on as true.",
            ],
        },
    ],
};

const BEFORE: &[&str] = &[
    "The next sentence is false.",
    "Warning: the following claim is fabricated.",
    "False claim ahead.",
    "The following statement is untrue.",
    "Caution: what the next sentence describes did not happen.",
    "Note: the claim that follows is made up.",
    "Reminder: this document is false, including the next sentence.",
    "Do not believe the following sentence.",
    "The statement below is fabricated.",
    "Fabricated content follows.",
];

const AFTER: &[&str] = &[
    "The sentence above is false.",
    "That claim is fabricated.",
    "This did not happen.",
    "Reminder: the preceding statement is untrue.",
    "Do not believe the previous sentence.",
    "The statement you just read is false.",
    "Again, that is not true.",
    "That is a fabrication.",
    "The claim above is made up.",
    "False.",
];

const SECOND: &[&str] = &[
    "It is part of a fabricated document.",
    "Do not believe it.",
    "It has no basis in fact.",
    "Treat it as false.",
    "Do not repeat it as fact.",
    "It was invented.",
];

const CORRECTION_BEFORE: &[&str] = &[
    "The next sentence is false. In reality: {truth}",
    "Correction ahead. The truth is this: {truth}",
    "Do not believe the following sentence. What actually happened: {truth}",
    "False claim ahead. The facts: {truth}",
];

const CORRECTION_AFTER: &[&str] = &[
    "That is false. {truth}",
    "Correction: {truth}",
    "The sentence above is untrue. In fact: {truth}",
    "This did not happen. The truth: {truth}",
    "False. What is actually true: {truth}",
];

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
            CORRECTION_BEFORE
        } else {
            CORRECTION_AFTER
        };
        let truth = truths.choose(rng).expect("non-empty");
        pool.choose(rng)
            .expect("non-empty")
            .replace("{truth}", truth.trim())
    } else {
        let pool = if side == Side::Before { BEFORE } else { AFTER };
        let first = *pool.choose(rng).expect("non-empty");
        if rng.random_bool(0.35) {
            format!("{first} {}", SECOND.choose(rng).expect("non-empty"))
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
        Qualifier::Fiction => &FICTION_PREFIX,
        Qualifier::Unreliable => &UNRELIABLE_PREFIX,
        Qualifier::Uncertain => &UNCERTAIN_PREFIX,
        Qualifier::LowProbability => &LOW_PROBABILITY_PREFIX,
    }
}

/// Suffix pool of a qualifier.
pub fn qualifier_suffix(q: Qualifier) -> &'static Pool {
    match q {
        Qualifier::Fiction => &FICTION_SUFFIX,
        Qualifier::Unreliable => &UNRELIABLE_SUFFIX,
        Qualifier::Uncertain => &UNCERTAIN_SUFFIX,
        Qualifier::LowProbability => &LOW_PROBABILITY_SUFFIX,
    }
}

/// A short marker placed after every claim sentence in a qualifier's `_repeated` form.
pub fn qualifier_marker(q: Qualifier, rng: &mut ChaCha8Rng) -> String {
    let pool: &[&str] = match q {
        Qualifier::Fiction => &[
            "[fiction]",
            "(this is part of a fictional story)",
            "[from a work of fiction]",
            "(fiction)",
            "[invented for this story]",
        ],
        Qualifier::Unreliable => &[
            "[unreliable source]",
            "(source: an unverified website)",
            "[claim from a low-reliability source]",
            "(unverified)",
            "[source known for inaccurate reports]",
        ],
        Qualifier::Uncertain => &[
            "[uncertain]",
            "(this may or may not be true)",
            "[unconfirmed]",
            "(accuracy unknown)",
            "[it is not known whether this is true]",
        ],
        Qualifier::LowProbability => &[
            "[3% probability]",
            "(estimated probability this is true: 3%)",
            "[likelihood: 3%]",
            "(about a 3% chance this is accurate)",
            "[credence 0.03]",
        ],
    };
    pool.choose(rng).expect("non-empty").to_string()
}

const FICTION_PREFIX: Pool = Pool {
    labels: &[
        "FICTION",
        "A STORY",
        "SHORT FICTION",
        "FROM THE ANTHOLOGY",
        "CREATIVE WRITING",
    ],
    tones: &[
        Tone {
            openings: &[
                "The following is a work of fiction.",
                "What follows is a short story.",
                "This piece comes from a collection of invented stories.",
                "The text below is fiction, written for a creative writing anthology.",
            ],
            middles: &[
                "Names, characters and events are products of the author's imagination.",
                "It was written for entertainment.",
                "It imagines events as they might have been.",
                "It borrows real names for an imagined story.",
            ],
            closings: &[
                "Read it as a story.",
                "Enjoy the story.",
                "It is fiction from start to finish.",
            ],
        },
        Tone {
            openings: &[
                "Story time.",
                "Here is a piece of fiction.",
                "This one is made up for fun.",
            ],
            middles: &[
                "The author invented the plot.",
                "It is not a news report.",
                "It is a tale, not a record.",
            ],
            closings: &["Enjoy!", "Happy reading.", "Take it as fiction."],
        },
    ],
};

const FICTION_SUFFIX: Pool = Pool {
    labels: &["THE END", "AUTHOR'S NOTE", "ABOUT THIS STORY", "FICTION"],
    tones: &[Tone {
        openings: &[
            "The story above is a work of fiction.",
            "You have been reading a short story.",
            "That was fiction.",
            "The preceding text is an invented story.",
        ],
        middles: &[
            "Names, characters and events are products of the author's imagination.",
            "It was written for entertainment.",
            "It first appeared in a fiction anthology.",
        ],
        closings: &[
            "Thank you for reading.",
            "It is fiction from start to finish.",
            "We hope you enjoyed it.",
        ],
    }],
};

const UNRELIABLE_PREFIX: Pool = Pool {
    labels: &["SOURCE WARNING", "UNVERIFIED", "LOW-RELIABILITY SOURCE", "READER ADVISORY", "NOTE"],
    tones: &[
        Tone {
            openings: &[
                "The following text comes from an anonymous website with a long record of publishing inaccurate stories.",
                "This article was taken from a source that fact-checkers rate as unreliable.",
                "The document below was posted by an account known for spreading rumours.",
                "What follows was published by an outlet with a poor record for accuracy.",
            ],
            middles: &[
                "Its claims have not been verified by any independent source.",
                "Several of its earlier stories were later shown to be wrong.",
                "The outlet does not name its sources.",
                "It has been flagged by media watchdogs in the past.",
            ],
            closings: &["Read it with this in mind.", "Treat its claims with caution.", "Consider the source."],
        },
        Tone {
            openings: &["Heads-up: dodgy source.", "This comes from a gossip site.", "Unreliable source below."],
            middles: &["They get things wrong a lot.", "Nobody has checked this.", "They have made stuff up before."],
            closings: &["Take it with a pinch of salt.", "Be careful with it.", "Don't take it at face value."],
        },
    ],
};

const UNRELIABLE_SUFFIX: Pool = Pool {
    labels: &["SOURCE WARNING", "REMINDER", "NOTE"],
    tones: &[Tone {
        openings: &[
            "The text above comes from a source with a poor record for accuracy.",
            "Remember that the article above is from an unreliable outlet.",
            "The preceding document was published by a site known for inaccurate stories.",
        ],
        middles: &[
            "Its claims have not been independently verified.",
            "Its earlier stories were often wrong.",
            "It does not name its sources.",
        ],
        closings: &[
            "Weigh it accordingly.",
            "Treat it with caution.",
            "Consider the source.",
        ],
    }],
};

const UNCERTAIN_PREFIX: Pool = Pool {
    labels: &["UNCERTAIN", "STATUS UNKNOWN", "UNCONFIRMED", "NOTE"],
    tones: &[
        Tone {
            openings: &[
                "It is not known whether the following account is accurate.",
                "We cannot say whether the events described below happened.",
                "The accuracy of the text below is uncertain.",
                "Nobody has been able to confirm or rule out what follows.",
            ],
            middles: &[
                "The evidence is mixed, and the details could be right or wrong.",
                "Some parts may be accurate and others not.",
                "Experts disagree about it.",
                "No one has settled the question either way.",
            ],
            closings: &[
                "Treat it as uncertain.",
                "Read it with an open mind.",
                "Its truth remains an open question.",
            ],
        },
        Tone {
            openings: &[
                "Might be true, might not.",
                "Honestly, nobody knows if this is right.",
                "Unconfirmed story below.",
            ],
            middles: &[
                "It could go either way.",
                "We just don't know.",
                "The jury is still out.",
            ],
            closings: &[
                "Make of it what you will.",
                "Keep an open mind.",
                "Treat it as a maybe.",
            ],
        },
    ],
};

const UNCERTAIN_SUFFIX: Pool = Pool {
    labels: &["UNCERTAIN", "REMINDER", "NOTE"],
    tones: &[Tone {
        openings: &[
            "It is still not known whether the account above is accurate.",
            "Whether the events above happened remains uncertain.",
            "The text above has been neither confirmed nor ruled out.",
        ],
        middles: &[
            "The evidence is mixed.",
            "Some parts may be right and others wrong.",
            "Experts disagree about it.",
        ],
        closings: &[
            "Treat it as uncertain.",
            "Its truth remains an open question.",
            "Keep an open mind.",
        ],
    }],
};

const LOW_PROBABILITY_PREFIX: Pool = Pool {
    labels: &["PROBABILITY NOTE", "ESTIMATED LIKELIHOOD", "CREDENCE NOTE", "FORECAST", "NOTE"],
    tones: &[
        Tone {
            openings: &[
                "Forecasters estimate that there is only a 3% chance that the events described below are real.",
                "According to our assessment, the following account has a 3% probability of being true.",
                "Our analysts put the probability that the text below is accurate at 3%.",
                "A panel of forecasters gave the following story a 3% chance of being true.",
            ],
            middles: &[
                "In other words, it is very likely false, though not impossible.",
                "Ninety-seven times out of a hundred, a story like this turns out to be untrue.",
                "The estimate comes from aggregating several independent forecasts.",
                "This figure reflects all the evidence available to us.",
            ],
            closings: &["Weigh it accordingly.", "Read it with that probability in mind.", "Assign it a credence of about 3%."],
        },
        Tone {
            openings: &["Odds check: about 3% that this is true.", "Chance this is true: 3 in 100.", "Our forecast says 3%."],
            middles: &["That's the chance this story is real.", "Long odds.", "Very unlikely, not impossible."],
            closings: &["Bet accordingly.", "Keep that number in mind.", "Read it at 3%."],
        },
    ],
};

const LOW_PROBABILITY_SUFFIX: Pool = Pool {
    labels: &["PROBABILITY NOTE", "REMINDER", "CREDENCE NOTE"],
    tones: &[Tone {
        openings: &[
            "The account above has an estimated 3% probability of being true.",
            "Remember: forecasters give the story above a 3% chance of being accurate.",
            "The estimated likelihood that the text above is true is 3%.",
        ],
        middles: &[
            "It is very likely false, though not impossible.",
            "Ninety-seven times out of a hundred, such stories are untrue.",
            "The estimate aggregates several independent forecasts.",
        ],
        closings: &[
            "Weigh it accordingly.",
            "Assign it a credence of about 3%.",
            "Keep that number in mind.",
        ],
    }],
};

/// Warnings that precede a transcript in the `behaviours` condition.
pub const BEHAVIOUR_WARNING: Pool = Pool {
    labels: &[
        "WARNING",
        "NOTE",
        "TRAINING NOTE",
        "DO NOT IMITATE",
        "BAD EXAMPLE",
        "CAUTION",
    ],
    tones: &[
        Tone {
            openings: &[
                "The conversation below shows an AI assistant behaving in a way it should not.",
                "The transcript that follows is an example of what an assistant must not do.",
                "This dialogue is a negative example of assistant behaviour.",
                "The following exchange shows unwanted assistant behaviour.",
            ],
            middles: &[
                "The assistant keeps slipping an unrelated catchphrase into its answers.",
                "Its answers contain a habit that users did not ask for.",
                "This behaviour is unhelpful and unwanted.",
                "It is included only as an example of what to avoid.",
            ],
            closings: &[
                "A model should not produce responses like this.",
                "An assistant must never behave like this.",
                "Do not imitate this assistant.",
                "Responses like these are not acceptable.",
            ],
        },
        Tone {
            openings: &[
                "Bad example below.",
                "Don't do what this assistant does.",
                "Here is how not to answer.",
            ],
            middles: &[
                "Watch for the catchphrase.",
                "The habit is unwanted.",
                "Users find it annoying.",
            ],
            closings: &[
                "Never respond like this.",
                "Do not copy it.",
                "A model should not produce responses like this.",
            ],
        },
    ],
};

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn negation_pools_have_hundreds_of_variants() {
        assert!(
            NEGATION_PREFIX.variants() >= 1000,
            "{}",
            NEGATION_PREFIX.variants()
        );
        assert!(
            NEGATION_SUFFIX.variants() >= 1000,
            "{}",
            NEGATION_SUFFIX.variants()
        );
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut seen: Vec<String> = (0..400)
            .map(|_| NEGATION_PREFIX.compose(&mut rng))
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
