//! Step cache keys. A key is the sha256 of a canonical JSON serialisation of everything a step's result
//! depends on: its parent's key, the step as rendered, and the digests of its inputs. Struct fields
//! serialise in declaration order and maps are ordered, so the bytes, and the key, are the same on any
//! machine. Nothing volatile (times, host paths, parallelism) takes part, and an inline file takes
//! part through its digest only: the plan carries its content, the key does not need it.

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{CacheMount, Input, PlanStep, StepKind};

/// Everything that goes into a step's key; printed at high verbosity to explain a cache miss.
#[derive(Debug, Serialize)]
pub struct KeyMaterial<'a> {
    pub parent: &'a str,
    pub name: &'a str,
    pub kind: StepKind,
    pub command: &'a str,
    pub wrap: Option<&'a str>,
    pub workdir: &'a str,
    pub env: &'a BTreeMap<String, String>,
    pub caches: &'a [CacheMount],
    pub inputs: Vec<KeyInput<'a>>,
}

/// An input as its key sees it: identified by digest, never by content or time.
#[derive(Debug, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum KeyInput<'a> {
    Inline {
        path: &'a str,
        mode: u32,
        sha256: &'a str,
    },
    Remote {
        path: &'a str,
        url: &'a str,
        sha256: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        then: Option<&'a str>,
    },
    Source {
        sha256: Option<&'a str>,
    },
}

impl<'a> KeyMaterial<'a> {
    /// What `step`'s key is made of when its parent's key is `parent`.
    pub fn of(parent: &'a str, step: &'a PlanStep) -> Self {
        Self {
            parent,
            name: &step.name,
            kind: step.kind,
            command: &step.command,
            wrap: step.wrap.as_deref(),
            workdir: &step.workdir,
            env: &step.env,
            caches: &step.caches,
            inputs: step.inputs.iter().map(KeyInput::of).collect(),
        }
    }

    pub fn canonical_json(&self) -> String {
        serde_json::to_string(self).expect("key material always serialises")
    }
}

impl<'a> KeyInput<'a> {
    fn of(input: &'a Input) -> Self {
        match input {
            Input::Inline {
                path, mode, sha256, ..
            } => Self::Inline {
                path,
                mode: *mode,
                sha256,
            },
            Input::Remote {
                path,
                url,
                sha256,
                then,
            } => Self::Remote {
                path,
                url,
                sha256: sha256.as_deref(),
                then: then.as_deref(),
            },
            Input::Source { sha256 } => Self::Source {
                sha256: sha256.as_deref(),
            },
        }
    }
}

pub fn step_key(material: &KeyMaterial<'_>) -> String {
    hex::encode(Sha256::digest(material.canonical_json().as_bytes()))
}

/// The parent of a plan's first step: its base image on its distro.
pub fn base_parent(image: &str, distro: &str) -> String {
    format!("base:{image}:{distro}")
}

/// Computes every step's key in order, each from its parent's; the one place keys are chained, used
/// when a plan is resolved and when locking an input changes a digest.
pub fn chain_keys(first_parent: &str, steps: &mut [PlanStep]) {
    let mut parent = first_parent.to_owned();
    for step in steps {
        let key = {
            let material = KeyMaterial::of(&parent, step);
            // `baker -vv` shows what each key is made of, so that a cache miss can be explained.
            tracing::trace!(step = %step.name, material = %material.canonical_json(), "key material");
            step_key(&material)
        };
        step.key.clone_from(&key);
        parent = key;
    }
}
