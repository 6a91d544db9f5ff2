//! Locks filled into a plan that is already made. A plan made before the first download of an
//! unpinned file (a recipe's `unpinned` source or repository key) has no sha256 for it, so its keys
//! cannot be final. The build fetches those files once, records their sha256 in the lock file, and
//! then fills them in here and recomputes the key chain, instead of resolving the recipe a second
//! time. The keys are exactly the ones [`resolve`](fn@super::resolve) gives with the same locks.

use std::collections::BTreeMap;

use super::key::{base_parent, chain_keys};
use super::{Input, Plan, SourcePlan};
use crate::recipe::Pin;

/// A file the plan needs whose sha256 is not known yet: nothing pins it and the lock file has no
/// entry for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unlocked {
    /// The name mirrors know the file by.
    pub file_name: String,
    /// Where it comes from, in order; the lock file records it under the first.
    pub urls: Vec<String>,
}

impl Unlocked {
    /// The URL the lock file records the file under.
    pub fn lock_url(&self) -> &str {
        &self.urls[0]
    }
}

impl Plan {
    /// Every input still without a sha256, once each, in step order.
    pub fn unlocked_inputs(&self) -> Vec<Unlocked> {
        let mut found: Vec<Unlocked> = Vec::new();
        for input in self.steps.iter().flat_map(|s| &s.inputs) {
            let unlocked = match (input, &self.source) {
                (
                    Input::Remote {
                        url, sha256: None, ..
                    },
                    _,
                ) => Unlocked {
                    file_name: url.rsplit('/').next().unwrap_or("file").to_owned(),
                    urls: vec![url.clone()],
                },
                (
                    Input::Source { sha256: None },
                    SourcePlan::Archive {
                        file_name, urls, ..
                    },
                ) => Unlocked {
                    file_name: file_name.clone(),
                    urls: urls.clone(),
                },
                _ => continue,
            };
            if !found.contains(&unlocked) {
                found.push(unlocked);
            }
        }
        found
    }

    /// Fills the sha256s of `locked` (by URL, as the lock file holds them) into every unpinned input
    /// that has none yet, then recomputes every step's key.
    pub fn apply_locks(&mut self, locked: &BTreeMap<String, String>) {
        let mut source_sha256 = None;
        if let SourcePlan::Archive {
            urls,
            pin: Pin::Lock { .. },
            locked_sha256,
            ..
        } = &mut self.source
        {
            if locked_sha256.is_none() {
                *locked_sha256 = locked.get(&urls[0]).cloned();
            }
            source_sha256.clone_from(locked_sha256);
        }
        for input in self.steps.iter_mut().flat_map(|s| &mut s.inputs) {
            match input {
                Input::Remote { url, sha256, .. } if sha256.is_none() => {
                    *sha256 = locked.get(url.as_str()).cloned();
                }
                Input::Source { sha256 } if sha256.is_none() => sha256.clone_from(&source_sha256),
                _ => {}
            }
        }
        self.rekey();
    }

    /// Recomputes the key chain: each step's key from its parent's (the base image's for the first),
    /// the step as rendered and its inputs.
    pub fn rekey(&mut self) {
        chain_keys(
            &base_parent(&self.base.image, &self.recipe.distro),
            &mut self.steps,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{PlanOptions, every_embedded_plan, resolve};

    /// Every embedded recipe and version, planned without locks.
    fn unlocked_plans() -> Vec<(crate::recipe::Recipe, String, Plan)> {
        (every_embedded_plan(&PlanOptions::default()).into_iter())
            .map(|(recipe, plan)| (recipe, plan.version.clone(), plan))
            .collect()
    }

    #[test]
    fn filling_in_locks_gives_exactly_the_plan_resolve_gives_with_them() {
        let mut tried = 0;
        for (recipe, version, mut plan) in unlocked_plans() {
            let unlocked = plan.unlocked_inputs();
            if unlocked.is_empty() {
                continue;
            }
            tried += 1;
            let locked: BTreeMap<String, String> = unlocked
                .iter()
                .enumerate()
                .map(|(i, u)| (u.lock_url().to_owned(), format!("{i:064x}")))
                .collect();
            let before: Vec<String> = plan.steps.iter().map(|s| s.key.clone()).collect();
            plan.apply_locks(&locked);
            let expected = resolve(
                &recipe,
                &PlanOptions {
                    version: Some(version.clone()),
                    locked: locked.clone(),
                    ..PlanOptions::default()
                },
            )
            .unwrap();
            assert_eq!(plan, expected, "{} {version}", recipe.name);
            assert!(plan.unlocked_inputs().is_empty());
            assert_ne!(
                before.last(),
                plan.steps.last().map(|s| &s.key),
                "a lock changes the install key"
            );
        }
        assert!(tried >= 3, "the mesos recipes have unpinned inputs");
    }

    #[test]
    fn rekeying_a_resolved_plan_changes_nothing() {
        for (_, _, plan) in unlocked_plans() {
            let mut again = plan.clone();
            again.apply_locks(&BTreeMap::new());
            assert_eq!(again, plan);
        }
    }

    #[test]
    fn locks_for_other_urls_leave_inputs_unlocked() {
        let (_, _, mut plan) = unlocked_plans()
            .into_iter()
            .find(|(_, _, p)| !p.unlocked_inputs().is_empty())
            .unwrap();
        let count = plan.unlocked_inputs().len();
        plan.apply_locks(&BTreeMap::from([(
            "http://elsewhere/x.tar.gz".to_owned(),
            "0".repeat(64),
        )]));
        assert_eq!(plan.unlocked_inputs().len(), count);
    }
}
