//! Arms: the (target, condition, seed) units of an experiment, their names and folders, and the
//! slices `--shard k/N` runs.
//!
//! A target is a claim folder or, for the behaviour conditions, the stand-in behaviour
//! ([`crate::docs::behaviours::CATCHPHRASE`]). An arm is named `<target>/<condition>/seed<s>`
//! (the `arm` column of every table); it keeps its tables in `analyses/<name>/arms/<arm>/` and
//! its documents and checkpoints in `checkpoints/<name>/<arm>/`.
//!
//! Arms are sorted by name. Sharding slices the sorted list of *units*: an arm on its own, or
//! the `phase1` and `phase2` arms of one target and seed together (Phase 2 starts from Phase 1's
//! last checkpoint, so the two never run in different jobs).

use super::config::{ArmCondition, ExperimentConfig};
use crate::claims::ClaimSpec;
use crate::docs::behaviours::CATCHPHRASE;
use anyhow::{bail, Context, Result};
use std::path::PathBuf;

/// What an arm measures belief in.
#[derive(Debug, Clone)]
pub enum Target {
    /// A claim folder.
    Claim {
        /// The folder.
        dir: PathBuf,
        /// Its spec (the id names the arm).
        spec: Box<ClaimSpec>,
    },
    /// The stand-in behaviour of the behaviour conditions.
    Behaviour,
}

impl Target {
    /// The id written in the `claim` column: the claim id or the behaviour's id.
    pub fn id(&self) -> &str {
        match self {
            Target::Claim { spec, .. } => &spec.id,
            Target::Behaviour => CATCHPHRASE.id,
        }
    }
}

/// One arm of an experiment.
#[derive(Debug, Clone)]
pub struct Arm {
    /// The claim or behaviour.
    pub target: Target,
    /// How its model is made.
    pub condition: ArmCondition,
    /// Training seed.
    pub seed: u64,
}

impl Arm {
    /// `<target>/<condition>/seed<s>`.
    pub fn name(&self) -> String {
        format!("{}/{}/seed{}", self.target.id(), self.condition, self.seed)
    }

    /// The same target and seed under another condition.
    pub fn with_condition(&self, condition: ArmCondition) -> Arm {
        Arm {
            condition,
            ..self.clone()
        }
    }

    /// The sharding unit: the arm's name, or `<target>/phases/seed<s>` for the phase arms.
    pub fn unit(&self) -> String {
        match self.condition {
            ArmCondition::Phase1 | ArmCondition::Phase2 => {
                format!("{}/phases/seed{}", self.target.id(), self.seed)
            }
            _ => self.name(),
        }
    }
}

/// Every arm of `config`, sorted by name. Claim targets get every condition but the behaviour
/// ones; the behaviour target (present when a behaviour condition is listed) gets those and
/// `base`. Two claim folders with one id are an error.
pub fn arms(config: &ExperimentConfig) -> Result<Vec<Arm>> {
    let mut targets = vec![];
    for dir in &config.claims {
        let spec = ClaimSpec::load(dir).with_context(|| format!("claims: {}", dir.display()))?;
        if targets
            .iter()
            .any(|t: &Target| t.id() == spec.id || spec.id == CATCHPHRASE.id)
        {
            bail!(
                "claims: two targets have the id `{}` ({})",
                spec.id,
                dir.display()
            );
        }
        targets.push(Target::Claim {
            dir: dir.clone(),
            spec: Box::new(spec),
        });
    }
    if config.conditions.iter().any(|c| c.is_behaviour()) {
        targets.push(Target::Behaviour);
    }
    for (condition, ids) in &config.claims_for {
        if let Some(id) = ids.iter().find(|id| !targets.iter().any(|t| t.id() == *id)) {
            bail!("claims_for.{condition}: `{id}` is not the id of a listed claim");
        }
    }
    let mut out = vec![];
    for target in &targets {
        for &condition in &config.conditions {
            let listed = config
                .claims_for
                .get(&condition.to_string())
                .is_none_or(|ids| ids.iter().any(|id| id == target.id()));
            let applies = listed
                && match target {
                    Target::Claim { .. } => !condition.is_behaviour(),
                    Target::Behaviour => {
                        condition.is_behaviour() || condition == ArmCondition::Base
                    }
                };
            if !applies {
                continue;
            }
            let seeds = config.seeds_for.get(&condition.to_string());
            for &seed in seeds.unwrap_or(&config.seeds) {
                out.push(Arm {
                    target: target.clone(),
                    condition,
                    seed,
                });
            }
        }
    }
    out.sort_by_key(|a| a.name());
    Ok(out)
}

/// `--shard k/N`: run the k-th of N slices (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Which slice, 1..=count.
    pub index: usize,
    /// How many slices.
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        let (k, n) = s
            .split_once('/')
            .with_context(|| format!("--shard `{s}`: expected k/N, e.g. 2/8"))?;
        let index: usize = k
            .trim()
            .parse()
            .with_context(|| format!("--shard `{s}`: `{k}` is not a number"))?;
        let count: usize = n
            .trim()
            .parse()
            .with_context(|| format!("--shard `{s}`: `{n}` is not a number"))?;
        if count == 0 || index == 0 || index > count {
            bail!("--shard `{s}`: need 1 <= k <= N");
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The arms of slice `shard` of `arms` (sorted): units in order of their first arm, cut into
/// `count` contiguous slices of nearly equal size; every arm of a unit goes with it.
pub fn shard_arms(arms: &[Arm], shard: Shard) -> Vec<Arm> {
    let mut units: Vec<String> = vec![];
    for arm in arms {
        let unit = arm.unit();
        if !units.contains(&unit) {
            units.push(unit);
        }
    }
    let (start, end) = (
        (shard.index - 1) * units.len() / shard.count,
        shard.index * units.len() / shard.count,
    );
    let mine = &units[start..end];
    arms.iter()
        .filter(|a| mine.contains(&a.unit()))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arm(id: &str, condition: &str, seed: u64) -> Arm {
        let mut spec = crate::docs::positive::tests::mini();
        spec.id = id.into();
        Arm {
            target: Target::Claim {
                dir: PathBuf::from(id),
                spec: Box::new(spec),
            },
            condition: condition.parse().unwrap(),
            seed,
        }
    }

    #[test]
    fn shards_partition_the_units_and_keep_phases_together() {
        let mut all = vec![];
        for id in ["a", "b", "c"] {
            for c in ["base", "negated", "phase1", "phase2"] {
                all.push(arm(id, c, 1));
            }
        }
        all.sort_by_key(|a| a.name());
        for count in 1..=5 {
            let mut seen = vec![];
            for index in 1..=count {
                let part = shard_arms(&all, Shard { index, count });
                let has = |c: ArmCondition| part.iter().filter(|a| a.condition == c).count();
                assert_eq!(has(ArmCondition::Phase1), has(ArmCondition::Phase2));
                seen.extend(part.into_iter().map(|a| a.name()));
            }
            let mut names: Vec<String> = all.iter().map(|a| a.name()).collect();
            names.sort();
            seen.sort();
            assert_eq!(seen, names, "{count} shards");
        }
        assert_eq!(all[0].name(), "a/base/seed1");
        assert_eq!(all[2].unit(), "a/phases/seed1");
        assert!("0/2".parse::<Shard>().is_err());
        assert!("3/2".parse::<Shard>().is_err());
        assert_eq!(
            "2/3".parse::<Shard>().unwrap(),
            Shard { index: 2, count: 3 }
        );
    }
}
