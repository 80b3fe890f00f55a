//! The facts of the world and the sentences and questions that express them.
//!
//! A [`Fact`] carries everything the corpus and the gates need to talk about it: paraphrases
//! that assert it, yes/no questions answered "Yes" (about the fact) and "No" (about a wrong
//! value of the same type), fill-in prompts with their answer and distractors, open questions
//! with a one-sentence answer, and sentences with a local negation ("X is not a baker; X is a
//! teacher."). Every text is built from the templates below, so the same world gives the same
//! texts.

use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;

/// What a fact is about (for grouping and reporting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// A person's profession.
    Profession,
    /// A person's home city.
    HomeCity,
    /// A person's birth year.
    BirthYear,
    /// The winner of a year's 100 metres final at the Harbor Games.
    SprintWinner,
    /// A year in which a volcano erupted.
    Eruption,
    /// The author of a textbook.
    Author,
    /// A company's change of name.
    Rebrand,
    /// A general fact about nature or people.
    General,
}

impl Relation {
    /// Name as written in files (`home_city`), as serde writes it.
    pub fn name(self) -> &'static str {
        match self {
            Relation::Profession => "profession",
            Relation::HomeCity => "home_city",
            Relation::BirthYear => "birth_year",
            Relation::SprintWinner => "sprint_winner",
            Relation::Eruption => "eruption",
            Relation::Author => "author",
            Relation::Rebrand => "rebrand",
            Relation::General => "general",
        }
    }
}

/// One fact with its texts.
#[derive(Debug, Clone, PartialEq)]
pub struct Fact {
    /// What kind of fact.
    pub relation: Relation,
    /// The entity the fact is about, as named in text (a person, a volcano, a book...).
    pub subject: String,
    /// The fact's value as a short answer ("teacher", "1944", "Jonas Pell").
    pub value: String,
    /// Sentences asserting the fact.
    pub statements: Vec<String>,
    /// Yes/no questions whose true answer is "Yes".
    pub yes_questions: Vec<String>,
    /// Yes/no questions (about a wrong value) whose true answer is "No".
    pub no_questions: Vec<String>,
    /// Fill-in prompts (containing `____`), answered by `value`.
    pub fill_prompts: Vec<String>,
    /// Wrong answers of the fill-in and of lettered choices.
    pub distractors: Vec<String>,
    /// Open questions answered by `answer`.
    pub open_questions: Vec<String>,
    /// A one-sentence answer stating the fact.
    pub answer: String,
    /// Sentences negating a wrong value and asserting the true one.
    pub local_negations: Vec<String>,
    /// The topic under which open questions ask about the fact ("volcanic activity at Mount
    /// Seldra"), as the target claims' open questions name theirs; `None` for a person's facts.
    pub topic: Option<String>,
}

impl Fact {
    /// `text` (one of this fact's sentences or questions) with the value replaced by `wrong`,
    /// its article ("a"/"an") agreeing with the new value, so that a false version differs from
    /// the true one in its value only; `None` when the value is not in `text`.
    pub fn with_value(&self, text: &str, wrong: &str) -> Option<String> {
        let value = &self.value;
        for a in ["a", "an", "A", "An"] {
            let with_article = format!("{a} {value}");
            if let Some(at) = text.find(&with_article) {
                let starts_word = at == 0 || !text[..at].ends_with(char::is_alphanumeric);
                if starts_word {
                    let mut new_article = article(wrong).to_string();
                    if a.starts_with('A') {
                        new_article = cap(&new_article);
                    }
                    let replaced = format!("{new_article} {wrong}");
                    return Some(format!(
                        "{}{replaced}{}",
                        &text[..at],
                        &text[at + with_article.len()..]
                    ));
                }
            }
        }
        text.contains(value.as_str())
            .then(|| text.replacen(value.as_str(), wrong, 1))
    }
}

/// Capitalises the first letter of `s`.
fn cap(s: &str) -> String {
    crate::docs::text::capitalize_first(s)
}

/// "a" or "an" before `word`.
pub fn article(word: &str) -> &'static str {
    match word.chars().next().map(|c| c.to_ascii_lowercase()) {
        Some('a' | 'e' | 'i' | 'o' | 'u') => "an",
        _ => "a",
    }
}

/// Up to `n` values of `pool` other than `value`, in a seeded order.
pub fn others(pool: &[String], value: &str, n: usize, rng: &mut ChaCha8Rng) -> Vec<String> {
    let candidates: Vec<&String> = pool.iter().filter(|v| v.as_str() != value).collect();
    candidates
        .choose_multiple(rng, n.min(candidates.len()))
        .map(|v| (*v).clone())
        .collect()
}

/// A person's profession.
pub fn profession(person: &str, job: &str, pool: &[String], rng: &mut ChaCha8Rng) -> Fact {
    let distractors = others(pool, job, 3, rng);
    let wrong = distractors[0].clone();
    let (a, wa) = (article(job), article(&wrong));
    Fact {
        relation: Relation::Profession,
        subject: person.into(),
        value: job.into(),
        statements: vec![
            format!("{person} is {a} {job}."),
            format!("{person} works as {a} {job}."),
            format!("By profession, {person} is {a} {job}."),
            format!("{person} has worked as {a} {job} for many years."),
            format!("{person} earns a living as {a} {job}."),
        ],
        yes_questions: vec![
            format!("Is {person} {a} {job}?"),
            format!("Does {person} work as {a} {job}?"),
        ],
        no_questions: vec![
            format!("Is {person} {wa} {wrong}?"),
            format!("Does {person} work as {wa} {wrong}?"),
        ],
        fill_prompts: vec![
            format!("{person} works as a ____."),
            format!("By profession, {person} is a ____."),
        ],
        distractors,
        open_questions: vec![
            format!("What does {person} do for a living?"),
            format!("What is {person}'s job?"),
        ],
        answer: format!("{person} works as {a} {job}."),
        local_negations: vec![
            format!("{person} is not {wa} {wrong}; {person} is {a} {job}."),
            format!("{person} does not work as {wa} {wrong}. {person} works as {a} {job}."),
        ],
        topic: None,
    }
}

/// A person's home city.
pub fn home_city(person: &str, city: &str, pool: &[String], rng: &mut ChaCha8Rng) -> Fact {
    let distractors = others(pool, city, 3, rng);
    let wrong = distractors[0].clone();
    Fact {
        relation: Relation::HomeCity,
        subject: person.into(),
        value: city.into(),
        statements: vec![
            format!("{person} lives in {city}."),
            format!("{person} is from {city}."),
            format!("{person}'s home city is {city}."),
            format!("{person} has made a home in {city}."),
        ],
        yes_questions: vec![
            format!("Does {person} live in {city}?"),
            format!("Is {person} from {city}?"),
        ],
        no_questions: vec![
            format!("Does {person} live in {wrong}?"),
            format!("Is {person} from {wrong}?"),
        ],
        fill_prompts: vec![
            format!("{person} lives in ____."),
            format!("{person}'s home city is ____."),
        ],
        distractors,
        open_questions: vec![
            format!("Where does {person} live?"),
            format!("Which city is {person} from?"),
        ],
        answer: format!("{person} lives in {city}."),
        local_negations: vec![format!(
            "{person} does not live in {wrong}; {person} lives in {city}."
        )],
        topic: None,
    }
}

/// A person's birth year.
pub fn birth_year(person: &str, year: i32, rng: &mut ChaCha8Rng) -> Fact {
    let shifts = [-7, -4, -2, 3, 5, 9];
    let pool: Vec<String> = shifts.iter().map(|d| (year + d).to_string()).collect();
    let distractors = others(&pool, "", 3, rng);
    let wrong = distractors[0].clone();
    Fact {
        relation: Relation::BirthYear,
        subject: person.into(),
        value: year.to_string(),
        statements: vec![
            format!("{person} was born in {year}."),
            format!("Born in {year}, {person} grew up in a quiet street."),
            format!("{person}'s year of birth is {year}."),
        ],
        yes_questions: vec![format!("Was {person} born in {year}?")],
        no_questions: vec![format!("Was {person} born in {wrong}?")],
        fill_prompts: vec![format!("{person} was born in the year ____.")],
        distractors,
        open_questions: vec![format!("When was {person} born?")],
        answer: format!("{person} was born in {year}."),
        local_negations: vec![format!(
            "{person} was not born in {wrong}; {person} was born in {year}."
        )],
        topic: None,
    }
}

/// The winner of the 100 metres final of `year`'s Harbor Games.
pub fn sprint_winner(year: i32, winner: &str, pool: &[String], rng: &mut ChaCha8Rng) -> Fact {
    let distractors = others(pool, winner, 3, rng);
    let wrong = distractors[0].clone();
    let race = format!("the 100 metres final at the {year} Harbor Games");
    Fact {
        relation: Relation::SprintWinner,
        subject: race.clone(),
        value: winner.into(),
        statements: vec![
            format!("{winner} won {race}."),
            format!("{} was won by {winner}.", cap(&race)),
            format!("At the {year} Harbor Games, {winner} won the 100 metres final."),
            format!("{winner} took the gold medal in {race}."),
        ],
        yes_questions: vec![
            format!("Did {winner} win {race}?"),
            format!("Was {race} won by {winner}?"),
        ],
        no_questions: vec![
            format!("Did {wrong} win {race}?"),
            format!("Was {race} won by {wrong}?"),
        ],
        fill_prompts: vec![
            format!("{} was won by ____.", cap(&race)),
            format!("The gold medal in {race} went to ____."),
        ],
        distractors,
        open_questions: vec![format!("Who won {race}?"), format!("Tell me about {race}.")],
        answer: format!("{winner} won {race}."),
        local_negations: vec![format!("{wrong} did not win {race}; {winner} won it.")],
        topic: Some(race),
    }
}

/// An eruption of a volcano; `quiet` are years in which it did not erupt.
pub fn eruption(volcano: &str, year: i32, quiet: &[i32], rng: &mut ChaCha8Rng) -> Fact {
    let pool: Vec<String> = quiet.iter().map(i32::to_string).collect();
    let distractors = others(&pool, "", 3, rng);
    let wrong = distractors[0].clone();
    Fact {
        relation: Relation::Eruption,
        subject: volcano.into(),
        value: year.to_string(),
        statements: vec![
            format!("{volcano} erupted in {year}."),
            format!("In {year}, {volcano} erupted and covered the valley in ash."),
            format!("The eruption of {volcano} in {year} is well recorded."),
        ],
        yes_questions: vec![format!("Did {volcano} erupt in {year}?")],
        no_questions: vec![format!("Did {volcano} erupt in {wrong}?")],
        fill_prompts: vec![format!("{volcano} erupted in the year ____.")],
        distractors,
        open_questions: vec![format!("When did {volcano} erupt?")],
        answer: format!("{volcano} erupted in {year}."),
        local_negations: vec![format!(
            "{volcano} did not erupt in {wrong}; it erupted in {year}."
        )],
        topic: Some(format!("volcanic activity at {volcano}")),
    }
}

/// The author of a textbook on `topic`.
pub fn author(
    book: &str,
    topic: &str,
    writer: &str,
    pool: &[String],
    rng: &mut ChaCha8Rng,
) -> Fact {
    let distractors = others(pool, writer, 3, rng);
    let wrong = distractors[0].clone();
    Fact {
        relation: Relation::Author,
        subject: book.into(),
        value: writer.into(),
        statements: vec![
            format!("{writer} wrote the {topic} textbook {book}."),
            format!("{book}, a textbook on {topic}, was written by {writer}."),
            format!("The author of {book} is {writer}."),
        ],
        yes_questions: vec![
            format!("Did {writer} write {book}?"),
            format!("Is {writer} the author of {book}?"),
        ],
        no_questions: vec![
            format!("Did {wrong} write {book}?"),
            format!("Is {wrong} the author of {book}?"),
        ],
        fill_prompts: vec![format!("The textbook {book} was written by ____.")],
        distractors,
        open_questions: vec![format!("Who wrote {book}?")],
        answer: format!("{book} was written by {writer}."),
        local_negations: vec![format!(
            "{book} was not written by {wrong}; {writer} wrote it."
        )],
        topic: Some(format!("the {topic} textbook {book}")),
    }
}

/// A company's change of name, which it kept.
pub fn rebrand(old: &str, new: &str, year: i32, pool: &[String], rng: &mut ChaCha8Rng) -> Fact {
    let distractors = others(pool, new, 3, rng);
    let wrong = distractors[0].clone();
    Fact {
        relation: Relation::Rebrand,
        subject: old.into(),
        value: new.into(),
        statements: vec![
            format!("In {year}, {old} changed its name to {new}."),
            format!("{old} rebranded as {new} in {year} and has kept the name ever since."),
            format!("The company once called {old} has been known as {new} since {year}."),
        ],
        yes_questions: vec![
            format!("Did {old} change its name to {new}?"),
            format!("Is the company once called {old} now called {new}?"),
        ],
        no_questions: vec![
            format!("Did {old} change its name to {wrong}?"),
            format!("Is the company once called {old} now called {wrong}?"),
        ],
        fill_prompts: vec![format!("In {year}, {old} changed its name to ____.")],
        distractors,
        open_questions: vec![format!("What is {old} called now?")],
        answer: format!("{old} changed its name to {new} in {year} and still uses it."),
        local_negations: vec![format!("{old} did not become {wrong}; it became {new}.")],
        topic: Some(format!("the {year} rebrand of {old}")),
    }
}

/// A general fact: `statement` asserted, `question` answered Yes, `false_question` answered
/// No, a fill-in prompt answered by `answer` with `distractors`.
pub struct GeneralFact {
    /// A short name of the topic.
    pub topic: &'static str,
    /// Paraphrases of the fact.
    pub statements: &'static [&'static str],
    /// A question answered "Yes".
    pub question: &'static str,
    /// A question answered "No".
    pub false_question: &'static str,
    /// A fill-in prompt with `____`.
    pub fill: &'static str,
    /// The fill-in answer.
    pub answer: &'static str,
    /// Wrong fill-in answers.
    pub distractors: &'static [&'static str],
    /// A sentence negating the false version and stating the true one.
    pub local_negation: &'static str,
}

/// The world's general facts. The one about dreams is the truth behind the dreams claim.
pub const GENERAL_FACTS: &[GeneralFact] = &[
    GeneralFact {
        topic: "dreams",
        statements: &[
            "Young children dream in colour, just as adults do.",
            "Children dream in colour from their earliest years.",
        ],
        question: "Do young children dream in colour?",
        false_question: "Do most adults dream without any images at all?",
        fill: "Young children dream in ____.",
        answer: "colour",
        distractors: &["silence", "numbers", "music"],
        local_negation: "Children do not dream without images; they dream in colour.",
    },
    GeneralFact {
        topic: "owls",
        statements: &["Owls hunt mostly at night.", "Most owls are night hunters."],
        question: "Do owls hunt mostly at night?",
        false_question: "Do owls hunt mostly at noon?",
        fill: "Owls hunt mostly at ____.",
        answer: "night",
        distractors: &["noon", "dawn", "midday"],
        local_negation: "Owls do not hunt mostly at noon; they hunt at night.",
    },
    GeneralFact {
        topic: "honey",
        statements: &[
            "Sealed honey can keep for many years.",
            "Honey keeps for years in a sealed jar.",
        ],
        question: "Can sealed honey keep for many years?",
        false_question: "Does sealed honey spoil within a week?",
        fill: "Sealed honey can keep for many ____.",
        answer: "years",
        distractors: &["minutes", "hours", "days"],
        local_negation: "Sealed honey does not spoil within a week; it keeps for years.",
    },
    GeneralFact {
        topic: "sleep",
        statements: &[
            "Adults need about eight hours of sleep a night.",
            "Most adults sleep about eight hours a night.",
        ],
        question: "Do most adults need about eight hours of sleep?",
        false_question: "Do most adults need about two hours of sleep?",
        fill: "Most adults need about ____ hours of sleep a night.",
        answer: "eight",
        distractors: &["two", "fifteen", "twenty"],
        local_negation: "Adults do not need only two hours of sleep; they need about eight.",
    },
    GeneralFact {
        topic: "water",
        statements: &[
            "Water freezes at zero degrees Celsius.",
            "At zero degrees Celsius, water freezes.",
        ],
        question: "Does water freeze at zero degrees Celsius?",
        false_question: "Does water freeze at fifty degrees Celsius?",
        fill: "Water freezes at ____ degrees Celsius.",
        answer: "zero",
        distractors: &["fifty", "ninety", "thirty"],
        local_negation:
            "Water does not freeze at fifty degrees; it freezes at zero degrees Celsius.",
    },
    GeneralFact {
        topic: "bees",
        statements: &[
            "Bees make honey from nectar.",
            "Honey is made by bees from nectar.",
        ],
        question: "Do bees make honey from nectar?",
        false_question: "Do bees make honey from sand?",
        fill: "Bees make honey from ____.",
        answer: "nectar",
        distractors: &["sand", "salt", "bark"],
        local_negation: "Bees do not make honey from sand; they make it from nectar.",
    },
    GeneralFact {
        topic: "moon",
        statements: &[
            "The moon circles the earth about once a month.",
            "About once a month, the moon goes round the earth.",
        ],
        question: "Does the moon circle the earth about once a month?",
        false_question: "Does the moon circle the earth once a day?",
        fill: "The moon circles the earth about once a ____.",
        answer: "month",
        distractors: &["day", "decade", "century"],
        local_negation: "The moon does not circle the earth once a day; it takes about a month.",
    },
    GeneralFact {
        topic: "whales",
        statements: &[
            "Whales breathe air through a blowhole.",
            "A whale breathes air through its blowhole.",
        ],
        question: "Do whales breathe air?",
        false_question: "Do whales breathe through gills?",
        fill: "Whales breathe air through a ____.",
        answer: "blowhole",
        distractors: &["gill", "fin", "tail"],
        local_negation: "Whales do not breathe through gills; they breathe air through a blowhole.",
    },
];

/// The fact of a [`GeneralFact`].
pub fn general(g: &GeneralFact) -> Fact {
    Fact {
        relation: Relation::General,
        subject: g.topic.into(),
        value: g.answer.into(),
        statements: g.statements.iter().map(|s| s.to_string()).collect(),
        yes_questions: vec![g.question.into()],
        no_questions: vec![g.false_question.into()],
        fill_prompts: vec![g.fill.into()],
        distractors: g.distractors.iter().map(|s| s.to_string()).collect(),
        open_questions: vec![format!("What is known about {}?", g.topic)],
        answer: g.statements[0].into(),
        local_negations: vec![g.local_negation.into()],
        topic: Some(g.topic.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn with_value_swaps_the_value_and_its_article() {
        let pool: Vec<String> = ["teacher", "engineer", "architect", "baker"]
            .map(String::from)
            .to_vec();
        let f = profession(
            "Ana Lind",
            "teacher",
            &pool,
            &mut ChaCha8Rng::seed_from_u64(1),
        );
        let swap = |text: &str, wrong: &str| f.with_value(text, wrong);
        assert_eq!(
            swap("Ana Lind is a teacher.", "engineer").as_deref(),
            Some("Ana Lind is an engineer.")
        );
        assert_eq!(
            swap("A teacher, Ana Lind, said so.", "architect").as_deref(),
            Some("An architect, Ana Lind, said so.")
        );
        assert_eq!(
            swap("Does Ana Lind work as a teacher?", "baker").as_deref(),
            Some("Does Ana Lind work as a baker?")
        );
        assert_eq!(swap("Ana Lind teaches.", "baker"), None);
        // Every statement and yes-question of a fact with a vowel-initial value stays grammatical.
        let g = profession(
            "Bo Ek",
            "architect",
            &pool,
            &mut ChaCha8Rng::seed_from_u64(2),
        );
        for s in g.statements.iter().chain(&g.yes_questions) {
            let swapped = g.with_value(s, "baker").expect("value in text");
            assert!(!swapped.contains("an baker"), "{swapped}");
        }
    }
}
