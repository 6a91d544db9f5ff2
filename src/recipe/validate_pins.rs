//! What a build takes from outside the recipe, checked to be pinned: each version's source (a
//! `sha256` with the `checksum_origin` saying where the value comes from, or `unpinned` with the
//! reason none is published) and the setup step's repositories with their signing keys, pinned the
//! same way. Kept apart from `validate.rs`, which checks the steps, because these rules are one
//! idea: nothing enters a build unverified unless the recipe says why.

use std::collections::BTreeMap;
use std::ops::Range;

use toml::Spanned;

use super::{Checker, names};
use crate::recipe::error::RecipeError;
use crate::recipe::raw::{self, RawRecipe};
use crate::recipe::template::Template;
use crate::recipe::{Pin, RemoteFile, Repository, VersionSpec};

impl Checker<'_> {
    pub(super) fn versions(
        &self,
        raw: &RawRecipe,
    ) -> Result<BTreeMap<String, VersionSpec>, RecipeError> {
        if raw.versions.is_empty() {
            return Err(self.at(
                raw.recipe.default_version.span(),
                "a recipe needs at least one [versions.\"X\"] table",
            ));
        }
        raw.versions
            .iter()
            .map(|(name, v)| {
                let pin = self.pin(
                    v.sha256.as_ref(),
                    v.checksum_origin.as_ref(),
                    v.unpinned.as_ref(),
                    raw.recipe.default_version.span(),
                    &format!("[versions.\"{name}\"]"),
                )?;
                Ok((
                    name.clone(),
                    VersionSpec {
                        pin,
                        packages: names(&v.packages),
                        remove_packages: names(&v.remove_packages),
                        env: self.env(&v.env)?,
                    },
                ))
            })
            .collect()
    }

    fn pin(
        &self,
        sha256: Option<&Spanned<String>>,
        origin: Option<&String>,
        unpinned: Option<&String>,
        fallback_span: Range<usize>,
        what: &str,
    ) -> Result<Pin, RecipeError> {
        match (sha256, unpinned) {
            (Some(sum), None) => {
                let value = sum.get_ref();
                if value.len() != 64 || !value.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')) {
                    return Err(self.at(
                        sum.span(),
                        "sha256 must be 64 lower-case hexadecimal digits",
                    ));
                }
                let origin = origin.filter(|o| !o.trim().is_empty()).ok_or_else(|| {
                    self.at(
                        sum.span(),
                        format!("{what}: a pinned sha256 needs `checksum_origin` saying where the value comes from"),
                    )
                })?;
                Ok(Pin::Sha256 {
                    sha256: value.clone(),
                    origin: origin.trim().to_owned(),
                })
            }
            (None, Some(reason)) if !reason.trim().is_empty() => Ok(Pin::Lock {
                reason: reason.trim().to_owned(),
            }),
            (Some(sum), Some(_)) => Err(self.at(
                sum.span(),
                format!("{what}: give either `sha256` or `unpinned`, not both"),
            )),
            _ => Err(self.at(
                fallback_span,
                format!("{what}: needs `sha256` (with `checksum_origin`) or `unpinned = \"why no checksum is published\"`"),
            )),
        }
    }

    pub(super) fn repository(&self, r: &raw::RawRepository) -> Result<Repository, RecipeError> {
        Ok(Repository {
            name: r.name.get_ref().clone(),
            path: self.absolute(&r.path)?,
            content: Template::from_spanned(&r.content),
            keys: r
                .keys
                .iter()
                .map(|k| {
                    Ok(RemoteFile {
                        url: Template::from_spanned(&k.url),
                        path: self.absolute(&k.path)?,
                        pin: self.pin(
                            k.sha256.as_ref(),
                            k.checksum_origin.as_ref(),
                            k.unpinned.as_ref(),
                            k.url.span(),
                            &format!("key {}", k.url.get_ref()),
                        )?,
                        then: k.then.as_ref().map(Template::from_spanned),
                    })
                })
                .collect::<Result<_, RecipeError>>()?,
        })
    }
}
