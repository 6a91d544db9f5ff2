//! Step cache keys. A key is the sha256 of a canonical JSON serialisation of everything a step's result
//! depends on: its parent's key, the step as rendered, and the digests of its inputs. Struct fields
//! serialise in declaration order and maps are ordered, so the bytes, and the key, are the same on any
//! machine. Nothing volatile (times, host paths, parallelism) takes part.

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{CacheMount, Input, StepKind};

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
    pub inputs: &'a [Input],
}

impl KeyMaterial<'_> {
    pub fn canonical_json(&self) -> String {
        serde_json::to_string(self).expect("key material always serialises")
    }
}

pub fn step_key(material: &KeyMaterial<'_>) -> String {
    hex::encode(Sha256::digest(material.canonical_json().as_bytes()))
}
