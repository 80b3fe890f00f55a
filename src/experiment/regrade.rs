//! `neglect regrade EXPERIMENT.toml`: every finished arm's generated answers graded again by
//! another judge or rubric ([`crate::eval::regrade`]), in place, then the tables merged anew.

use super::arms::Target;
use super::run::{merge, Experiment};
use crate::eval::regrade::{claim_judge, print_report, regrade, RegradeArgs, RegradeReport};
use crate::eval::LOGPROB_JUDGE;
use crate::store::{self, Manifest};
use crate::tables;
use anyhow::{anyhow, bail, Result};

/// Regrades every finished arm of an experiment in place (each arm's `belief.parquet`, written
/// atomically), then merges the experiment's tables and records the regrade beside them.
pub fn run(args: &RegradeArgs) -> Result<()> {
    if args.claim.is_some() || args.out.is_some() {
        bail!("an experiment is regraded in place: --claim and --out are for a table");
    }
    let exp = Experiment::load(&args.input)?;
    let judge_config = args.judge.clone().or(exp.config.eval.judge.clone());
    let cache = exp.tables().join("judge_cache");
    let mut judges = std::collections::HashMap::new();
    let mut total = RegradeReport::default();
    let mut label = String::new();
    for arm in &exp.arms {
        let Target::Claim { dir, spec } = &arm.target else {
            continue;
        };
        let path = exp.arm_tables(arm).join(tables::BELIEF_FILE);
        if exp.done(arm)?.is_none() || !path.is_file() {
            continue;
        }
        // A `neglect run` holding the arm may still be writing it.
        let _lock = store::DirLock::try_acquire(&exp.arm_tables(arm))?.map_err(|holder| {
            anyhow!(
                "arm {} is held by another process ({holder}): regrade once it is done",
                arm.name()
            )
        })?;
        if !judges.contains_key(&spec.id) {
            let made = claim_judge(dir, judge_config.as_deref(), args.rubric.as_deref(), &cache)?;
            judges.insert(spec.id.clone(), made);
        }
        let (questions, claim_id, judge) = &judges[&spec.id];
        let mut table = store::read_parquet(&path)?;
        let has_generated = table
            .column("judge")
            .ok()
            .and_then(|c| {
                c.str()
                    .ok()
                    .map(|s| s.into_iter().any(|j| j != Some(LOGPROB_JUDGE)))
            })
            .unwrap_or(false);
        if !has_generated {
            continue;
        }
        let report = regrade(
            &path,
            &mut table,
            questions,
            claim_id,
            judge.as_ref(),
            args.rubric.as_deref(),
        )?;
        store::write_parquet(&path, &mut table)?;
        total.regraded += report.regraded;
        for (pair, n) in report.transitions {
            *total.transitions.entry(pair).or_default() += n;
        }
        label = judge.label();
    }
    if total.regraded == 0 {
        bail!(
            "{}: no finished arm has generated answers to grade",
            args.input.display()
        );
    }
    merge(&exp)?;
    store::write_json(
        &exp.tables().join("regrade.json"),
        &Manifest::new("regrade", args, None),
    )?;
    print_report(&exp.config.name, &label, &total);
    Ok(())
}
