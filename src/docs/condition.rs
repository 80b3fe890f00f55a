//! Document conditions: the paper's ways of building a training document around a claim.
//!
//! In: a condition name (`repeated`, `fiction_repeated`, ...). Out: a [`Condition`]; unknown
//! names are errors that list every valid name.

use std::fmt;
use std::str::FromStr;

/// An epistemic qualifier attached to a document instead of a negation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Qualifier {
    /// The document is labelled as fiction.
    Fiction,
    /// The document is labelled as coming from an unreliable source.
    Unreliable,
    /// The document is labelled as of unknown accuracy.
    Uncertain,
    /// The document is labelled as having a 3% probability of being true.
    LowProbability,
}

impl Qualifier {
    /// Every qualifier, in a fixed order.
    pub const ALL: [Qualifier; 4] = [
        Qualifier::Fiction,
        Qualifier::Unreliable,
        Qualifier::Uncertain,
        Qualifier::LowProbability,
    ];

    /// The qualifier's condition name.
    pub fn name(self) -> &'static str {
        match self {
            Qualifier::Fiction => "fiction",
            Qualifier::Unreliable => "unreliable",
            Qualifier::Uncertain => "uncertain",
            Qualifier::LowProbability => "low_probability",
        }
    }
}

/// How a document is built (mission.md, "Conditions").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Condition {
    /// Documents asserting the claim.
    Positive,
    /// Positive documents with a multi-sentence prefix and suffix saying the content is false.
    Negated,
    /// Negated documents plus a 1-2 sentence warning right before and after every claim sentence.
    Repeated,
    /// Repeated documents in which about 30% of the inline warnings state the truth.
    Corrected,
    /// Documents from a negated world: the claim is negated inside its own sentences.
    Local,
    /// Positive documents with a qualifier as prefix and suffix; with `repeated`, also a
    /// qualifier marker after every claim sentence.
    Qualified {
        /// Which qualifier.
        qualifier: Qualifier,
        /// Whether a marker follows every claim sentence (the `<name>_repeated` conditions).
        repeated: bool,
    },
    /// Chat transcripts of a stand-in behaviour, each prefixed with a warning against it.
    Behaviours,
    /// The same transcripts without the warning (the paper's comparison arm).
    BehavioursUnflagged,
}

impl Condition {
    /// Every condition, in the order `neglect docs --help` lists them.
    pub fn all() -> Vec<Condition> {
        let mut all = vec![
            Condition::Positive,
            Condition::Negated,
            Condition::Repeated,
            Condition::Corrected,
            Condition::Local,
        ];
        for repeated in [false, true] {
            for qualifier in Qualifier::ALL {
                all.push(Condition::Qualified {
                    qualifier,
                    repeated,
                });
            }
        }
        all.push(Condition::Behaviours);
        all.push(Condition::BehavioursUnflagged);
        all
    }

    /// True for the conditions built by annotating a positive document (so `--from` applies).
    pub fn annotates_positive(self) -> bool {
        !matches!(
            self,
            Condition::Local | Condition::Behaviours | Condition::BehavioursUnflagged
        )
    }

    /// True for the behaviour transcripts.
    pub fn is_behaviour(self) -> bool {
        matches!(self, Condition::Behaviours | Condition::BehavioursUnflagged)
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Condition::Positive => f.write_str("positive"),
            Condition::Negated => f.write_str("negated"),
            Condition::Repeated => f.write_str("repeated"),
            Condition::Corrected => f.write_str("corrected"),
            Condition::Local => f.write_str("local"),
            Condition::Qualified {
                qualifier,
                repeated: false,
            } => f.write_str(qualifier.name()),
            Condition::Qualified {
                qualifier,
                repeated: true,
            } => {
                write!(f, "{}_repeated", qualifier.name())
            }
            Condition::Behaviours => f.write_str("behaviours"),
            Condition::BehavioursUnflagged => f.write_str("behaviours_unflagged"),
        }
    }
}

/// The paper's repository's condition names and the conditions they are here.
pub const PAPER_NAMES: &[(&str, &str)] = &[
    ("positive_documents", "positive"),
    ("negated_documents", "negated"),
    ("repeated_negations", "repeated"),
    ("corrected_documents", "corrected"),
    ("local_negations", "local"),
    ("unreliable_source", "unreliable"),
    ("unreliable_source_repeated", "unreliable_repeated"),
    ("epistemic_uncertainty", "uncertain"),
    ("epistemic_uncertainty_repeated", "uncertain_repeated"),
];

impl FromStr for Condition {
    type Err = anyhow::Error;

    /// Parses a condition name; accepts the American spelling `behaviors` and the names of the
    /// paper's repository ([`PAPER_NAMES`]) as well.
    fn from_str(s: &str) -> anyhow::Result<Condition> {
        let name = s
            .trim()
            .to_ascii_lowercase()
            .replace("behavior", "behaviour");
        let name = PAPER_NAMES
            .iter()
            .find(|(paper, _)| *paper == name)
            .map_or(name.clone(), |(_, ours)| ours.to_string());
        Condition::all()
            .into_iter()
            .find(|c| c.to_string() == name)
            .ok_or_else(|| {
                let valid: Vec<String> = Condition::all().iter().map(|c| c.to_string()).collect();
                anyhow::anyhow!(
                    "unknown condition `{s}`; valid conditions: {}",
                    valid.join(", ")
                )
            })
    }
}

/// Serialised as its name, so experiment configs can list conditions as strings.
impl serde::Serialize for Condition {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Parsed from its name; unknown names are errors that list the valid ones.
impl<'de> serde::Deserialize<'de> for Condition {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for c in Condition::all() {
            assert_eq!(c.to_string().parse::<Condition>().unwrap(), c);
        }
        assert_eq!(Condition::all().len(), 15);
        assert_eq!(
            "low_probability_repeated".parse::<Condition>().unwrap(),
            Condition::Qualified {
                qualifier: Qualifier::LowProbability,
                repeated: true
            }
        );
        assert_eq!(
            "Behaviors".parse::<Condition>().unwrap(),
            Condition::Behaviours
        );
        // The paper's names name the same conditions.
        for (paper, ours) in PAPER_NAMES {
            assert_eq!(
                paper.parse::<Condition>().unwrap(),
                ours.parse::<Condition>().unwrap()
            );
        }
        assert_eq!(
            "repeated_negations".parse::<Condition>().unwrap(),
            Condition::Repeated
        );
    }

    #[test]
    fn unknown_condition_lists_valid_names() {
        let err = "negatd".parse::<Condition>().unwrap_err().to_string();
        assert!(err.starts_with("unknown condition `negatd`"), "{err}");
        for name in [
            "positive",
            "repeated",
            "fiction_repeated",
            "low_probability",
            "behaviours",
        ] {
            assert!(err.contains(name), "{err}");
        }
    }
}
