//! Which steps get a checkpoint: every N steps, an explicit list, or K log-spaced steps (the
//! paper used 15). Step 0 (the starting weights) and the last step are always included.

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The `[checkpoints]` table of a finetune config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointSchedule {
    /// A checkpoint every this many steps.
    #[serde(default)]
    pub every: Option<i64>,
    /// Checkpoints at exactly these steps.
    #[serde(default)]
    pub at: Vec<i64>,
    /// About this many checkpoints, spaced evenly in log(step).
    #[serde(default)]
    pub log_spaced: Option<usize>,
}

impl CheckpointSchedule {
    /// The checkpoint steps of a run of `total` steps, ascending.
    pub fn steps(&self, total: i64) -> Result<Vec<i64>> {
        if total < 1 {
            bail!("a run needs at least one step, found {total}");
        }
        let mut steps: BTreeSet<i64> = [0, total].into();
        if let Some(every) = self.every {
            if every < 1 {
                bail!("checkpoints.every must be positive, found {every}");
            }
            steps.extend((every..total).step_by(every as usize));
        }
        for &step in &self.at {
            if !(0..=total).contains(&step) {
                bail!("checkpoints.at holds step {step}, outside 0..={total}");
            }
            steps.insert(step);
        }
        if let Some(k) = self.log_spaced {
            steps.extend(log_spaced(total, k));
        }
        Ok(steps.into_iter().collect())
    }
}

/// `k` steps from 1 to `total` evenly spaced in log(step), rounded (duplicates removed, so
/// short runs get fewer).
pub fn log_spaced(total: i64, k: usize) -> Vec<i64> {
    if k == 0 {
        return vec![];
    }
    if k == 1 {
        return vec![total];
    }
    let top = (total as f64).ln();
    let mut out: Vec<i64> = (0..k)
        .map(|i| (top * i as f64 / (k - 1) as f64).exp().round() as i64)
        .collect();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_spaced_contents() {
        assert_eq!(log_spaced(1000, 4), vec![1, 10, 100, 1000]);
        let fifteen = log_spaced(10_000, 15);
        assert_eq!(fifteen.len(), 15);
        assert_eq!((fifteen[0], fifteen[14]), (1, 10_000));
        assert!(fifteen.windows(2).all(|w| w[0] < w[1]));
        // ratios between neighbours are all about 10000^(1/14)
        let ratio = 10_000f64.powf(1.0 / 14.0);
        for w in fifteen.windows(2).skip(4) {
            assert!(
                (w[1] as f64 / w[0] as f64 - ratio).abs() < 0.1,
                "{fifteen:?}"
            );
        }
        assert_eq!(log_spaced(3, 15), vec![1, 2, 3]);
    }

    #[test]
    fn schedule_always_has_first_and_last() {
        let every = CheckpointSchedule {
            every: Some(4),
            ..Default::default()
        };
        assert_eq!(every.steps(10).unwrap(), vec![0, 4, 8, 10]);
        let at = CheckpointSchedule {
            at: vec![3, 7],
            ..Default::default()
        };
        assert_eq!(at.steps(7).unwrap(), vec![0, 3, 7]);
        let log = CheckpointSchedule {
            log_spaced: Some(3),
            ..Default::default()
        };
        assert_eq!(log.steps(100).unwrap(), vec![0, 1, 10, 100]);
        assert!(CheckpointSchedule {
            at: vec![11],
            ..Default::default()
        }
        .steps(10)
        .is_err());
        assert!(CheckpointSchedule {
            every: Some(0),
            ..Default::default()
        }
        .steps(10)
        .is_err());
    }
}
