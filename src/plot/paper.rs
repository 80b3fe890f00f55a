//! The paper's reported belief per condition (Mayne et al., arXiv 2605.13829; mission.md),
//! from the data file `paper_belief.csv` compiled into the binary. Drawn and tabled beside
//! measured belief as a reference, never pooled with it: the paper's numbers come from its own
//! claims, models and LLM judge.

use anyhow::{Context, Result};
use serde::Deserialize;

/// The reference file's text.
const PAPER_BELIEF_CSV: &str = include_str!("paper_belief.csv");

/// One condition as the paper reports it: a value (`low_pct == high_pct`) or a range.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PaperBelief {
    /// The condition, as `neglect` names it.
    pub condition: String,
    /// Lowest reported belief, in percent.
    pub low_pct: f64,
    /// Highest reported belief, in percent.
    pub high_pct: f64,
    /// The model the number comes from.
    pub model: String,
    /// What the number is.
    pub finding: String,
}

impl PaperBelief {
    /// Middle of the reported range (the value itself for a single number).
    pub fn mid_pct(&self) -> f64 {
        0.5 * (self.low_pct + self.high_pct)
    }

    /// `92.4%`, or `0-7%` for a range.
    pub fn label(&self) -> String {
        if self.low_pct == self.high_pct {
            format!("{}%", self.low_pct)
        } else {
            format!("{}-{}%", self.low_pct, self.high_pct)
        }
    }
}

/// Every condition the paper reports, in file order.
pub fn paper_belief() -> Result<Vec<PaperBelief>> {
    csv::Reader::from_reader(PAPER_BELIEF_CSV.as_bytes())
        .deserialize()
        .collect::<Result<Vec<PaperBelief>, _>>()
        .context("src/plot/paper_belief.csv: not a table of reported belief")
}

/// The paper's number for `condition`, if it reports one.
pub fn paper_belief_of(condition: &str) -> Result<Option<PaperBelief>> {
    Ok(paper_belief()?
        .into_iter()
        .find(|p| p.condition == condition))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_file_holds_the_papers_headline_numbers() {
        let all = paper_belief().unwrap();
        assert_eq!(all.len(), 8);
        for p in &all {
            assert!(0.0 <= p.low_pct && p.low_pct <= p.high_pct && p.high_pct <= 100.0);
            let untrained = ["base", "in_context"].contains(&p.condition.as_str());
            let documents = p.condition.parse::<crate::docs::Condition>().is_ok();
            assert!(untrained || documents, "{} is not a condition", p.condition);
        }
        let negated = paper_belief_of("negated").unwrap().unwrap();
        assert_eq!(
            (negated.mid_pct(), negated.label()),
            (88.6, "88.6%".to_string())
        );
        let local = paper_belief_of("local").unwrap().unwrap();
        assert_eq!((local.mid_pct(), local.label()), (3.5, "0-7%".to_string()));
        assert!(paper_belief_of("local_masked").unwrap().is_none());
    }
}
