//! The run-time half of a recipe, checked: the typed image layer (kernel, bootloader, init and where
//! they boot) and the roles, of which exactly one is the cluster's master. Kept apart from
//! `validate.rs`, which checks the build half, because launch and image read only this half.

use std::collections::BTreeMap;

use toml::Spanned;

use super::Checker;
use crate::recipe::error::{RecipeError, nearest};
use crate::recipe::image::bios_only;
use crate::recipe::raw::{self, RawRecipe};
use crate::recipe::template::Template;
use crate::recipe::{
    BootTarget, Bootloader, Firmware, ImageLayer, Init, KernelPackage, Provider, ReadyCheck,
    ReadyProbe, RoleKind, RoleSpec, SmokeSpec,
};

impl Checker<'_> {
    /// Reads one enum value of the image layer, naming the valid ones (and the nearest) when wrong.
    fn choice<T: Copy>(
        &self,
        value: &Spanned<String>,
        what: &str,
        all: &[(&str, T)],
    ) -> Result<T, RecipeError> {
        let given = value.get_ref().trim();
        if let Some((_, v)) = all.iter().find(|(n, _)| *n == given) {
            return Ok(*v);
        }
        let names: Vec<&str> = all.iter().map(|(n, _)| *n).collect();
        let hint = nearest(given, names.iter().copied())
            .map(|n| format!("; did you mean `{n}`?"))
            .unwrap_or_default();
        Err(self.at(
            value.span(),
            format!(
                "unknown {what} `{given}`; valid: {}{hint}",
                names.join(", ")
            ),
        ))
    }

    pub(super) fn image(&self, i: &raw::RawImage) -> Result<ImageLayer, RecipeError> {
        let mut boots_on: Vec<BootTarget> = Vec::new();
        for t in &i.boots_on {
            let provider = self.choice(&t.provider, "provider", Provider::ALL)?;
            if boots_on.iter().any(|b| b.provider == provider) {
                return Err(self.at(
                    t.provider.span(),
                    format!("`boots_on` names provider `{provider}` twice"),
                ));
            }
            boots_on.push(BootTarget {
                provider,
                boots: t.boots.iter().map(|s| s.trim().to_owned()).collect(),
                fails: t.fails.iter().map(|s| s.trim().to_owned()).collect(),
                proven: t.proven,
                note: t.note.as_ref().map(|n| n.trim().to_owned()),
            });
        }
        let bootloader = self.choice(&i.bootloader, "bootloader", Bootloader::ALL)?;
        if let Some(first_boot) = &i.first_boot {
            tracing::warn!(
                "{}: `first_boot` is ignored: every image starts baker's role agent at first boot \
                 (images/agent); remove the line",
                self.source.locate(first_boot.span())
            );
        }
        Ok(ImageLayer {
            kernel: self.choice(&i.kernel, "kernel package", KernelPackage::ALL)?,
            bootloader,
            init: self.choice(&i.init, "init", Init::ALL)?,
            runtime_packages: i.runtime_packages.clone(),
            boots_on,
            mkfs_options: self.mkfs_options(i.mkfs_options.as_ref())?,
            firmware: self.firmware(&i.firmware, bootloader)?,
        })
    }

    /// The recipe's extra `mkfs.ext4` options, refused when they name one that baker sets itself:
    /// mke2fs keeps only the last `-E`, so a recipe's would drop the partition's offset and the
    /// fixed hash seed (the file system written over the partition table, or different bytes
    /// each run), and the label, UUID, tree and quiet/force flags are the disk's.
    fn mkfs_options(&self, given: Option<&Spanned<String>>) -> Result<Option<String>, RecipeError> {
        let Some(given) = given else { return Ok(None) };
        const BAKERS: [(&str, &str); 6] = [
            (
                "-E",
                "extended options (baker sets offset, hash_seed and nodiscard)",
            ),
            ("-U", "the UUID (derived from the image key)"),
            ("-L", "the label (`root`)"),
            ("-d", "the tree to copy in"),
            ("-F", "force"),
            ("-q", "quiet"),
        ];
        for word in given.get_ref().split_whitespace() {
            if let Some((flag, what)) = BAKERS.iter().find(|(f, _)| word.starts_with(f)) {
                return Err(self.at(
                    given.span(),
                    format!(
                        "`mkfs_options` may not set `{flag}`, {what}: baker sets it for every image"
                    ),
                ));
            }
        }
        Ok(Some(given.get_ref().clone()))
    }

    /// The image's firmware list: BIOS always (the disk always carries GRUB for BIOS), UEFI only
    /// with GRUB 2; `[]` means BIOS alone.
    fn firmware(
        &self,
        given: &[Spanned<String>],
        bootloader: Bootloader,
    ) -> Result<Vec<Firmware>, RecipeError> {
        let mut firmware = Vec::new();
        for value in given {
            let f = self.choice(value, "firmware", Firmware::ALL)?;
            if firmware.contains(&f) {
                return Err(self.at(value.span(), format!("`firmware` names `{f}` twice")));
            }
            if f == Firmware::Uefi && bootloader != Bootloader::GrubPc {
                return Err(self.at(
                    value.span(),
                    format!(
                        "firmware `uefi` needs GRUB 2 (`bootloader = \"grub-pc\"`), not `{bootloader}`"
                    ),
                ));
            }
            firmware.push(f);
        }
        if firmware.is_empty() {
            return Ok(bios_only());
        }
        if !firmware.contains(&Firmware::Bios) {
            return Err(self.at(
                given[0].span(),
                "`firmware` must include `bios`: every image carries GRUB for BIOS, and `uefi` adds an EFI System Partition",
            ));
        }
        firmware.sort();
        Ok(firmware)
    }

    /// Every role, with exactly one master among them.
    pub(super) fn roles(&self, raw: &RawRecipe) -> Result<BTreeMap<String, RoleSpec>, RecipeError> {
        let mut roles = BTreeMap::new();
        let mut master: Option<&str> = None;
        for (name, r) in &raw.roles {
            let role = self.role(name, r)?;
            if role.kind == RoleKind::Master {
                if let Some(first) = master {
                    let span = r
                        .kind
                        .as_ref()
                        .map_or_else(|| self.role_header(name), Spanned::span);
                    return Err(self.at(
                        span,
                        format!(
                            "role `{name}` is a second master (role `{first}` is one already); \
                             a recipe has exactly one `kind = \"master\"` role, the others are `kind = \"slave\"`"
                        ),
                    ));
                }
                master = Some(name);
            }
            roles.insert(name.clone(), role);
        }
        if let (None, Some((name, _))) = (master, raw.roles.iter().next()) {
            return Err(self.at(
                self.role_header(name),
                "no role is the master: mark the role the others connect to with `kind = \"master\"` \
                 (and the others with `kind = \"slave\"`)",
            ));
        }
        Ok(roles)
    }

    /// The smoke test steps, each naming a role of the recipe.
    pub(super) fn smoke(
        &self,
        raw: &RawRecipe,
        roles: &BTreeMap<String, RoleSpec>,
    ) -> Result<Vec<SmokeSpec>, RecipeError> {
        raw.smoke
            .iter()
            .map(|s| {
                let role = s.role.get_ref();
                if !roles.contains_key(role) {
                    let names: Vec<&str> = roles.keys().map(String::as_str).collect();
                    return Err(self.at(
                        s.role.span(),
                        format!(
                            "smoke step for role `{role}`, which the recipe does not have; roles: {}",
                            if names.is_empty() { "none".to_owned() } else { names.join(", ") }
                        ),
                    ));
                }
                Ok(SmokeSpec {
                    role: role.clone(),
                    run: Template::from_spanned(&s.run),
                    equals: s.equals.as_ref().map(Template::from_spanned),
                    timeout_seconds: s.timeout_seconds.unwrap_or(120),
                })
            })
            .collect()
    }

    /// The `[roles.NAME]` header of a role, for errors about the role as a whole.
    fn role_header(&self, name: &str) -> std::ops::Range<usize> {
        let all = 0..self.source.text.len();
        [format!("[roles.{name}]"), format!("[roles.\"{name}\"]")]
            .iter()
            .find_map(|needle| self.source.find_within(all.clone(), needle))
            .unwrap_or(0..0)
    }

    fn role(&self, name: &str, r: &raw::RawRole) -> Result<RoleSpec, RecipeError> {
        let kind = match &r.kind {
            Some(kind) => self.choice(
                kind,
                "role kind",
                &[("master", RoleKind::Master), ("slave", RoleKind::Slave)],
            )?,
            None => {
                return Err(self.at(
                    self.role_header(name),
                    format!(
                        "role `{name}` does not say whether it is the master or a slave: add \
                         `kind = \"master\"` or `kind = \"slave\"` to [roles.{name}] (recipes written \
                         before roles had kinds need this line)"
                    ),
                ));
            }
        };
        let ready = r
            .ready
            .iter()
            .map(|c| {
                let probe = match (&c.http, &c.command) {
                    (Some(url), None) => ReadyProbe::Http {
                        url: Template::from_spanned(url),
                        status: c.status.unwrap_or(200),
                        json_pointer: c.json_pointer.clone(),
                    },
                    (None, Some(run)) => ReadyProbe::Command {
                        run: Template::from_spanned(run),
                    },
                    (Some(url), Some(_)) => {
                        return Err(self.at(
                            url.span(),
                            "a readiness check has either `http` or `command`, not both",
                        ));
                    }
                    (None, None) => {
                        return Err(self.at(
                            r.command.span(),
                            "a readiness check needs `http` or `command`",
                        ));
                    }
                };
                Ok(ReadyCheck {
                    probe,
                    equals: c.equals.as_ref().map(Template::from_spanned),
                    timeout_seconds: c.timeout_seconds.unwrap_or(300),
                })
            })
            .collect::<Result<_, RecipeError>>()?;
        if let Some(reason) = super::role_command::not_exec_reason(r.command.get_ref()) {
            // Not an error: such a role runs, but its agent's pid is bash's rather than the role's.
            tracing::warn!(
                "{}: role `{name}`'s command will not be the role's own process: {reason}",
                self.source.locate(r.command.span())
            );
        }
        for dir in r.data.iter().filter(|d| same_in_every_slot(d.get_ref())) {
            // Not an error: a recipe launched only on docker or qemu has one node per machine.
            tracing::warn!(
                "{}: role `{name}`'s data directory `{}` does not depend on `self.slot`, so it is \
                 not the node's own on an `ssh` machine that runs several nodes: another node there \
                 may name it too, and only the first to claim it takes it (the others run in it as \
                 another node's); name it per slot, as in \
                 `/var/lib/mesos{{{{#if self.slot}}}}-{{{{self.slot}}}}{{{{/if}}}}`",
                self.source.locate(dir.span()),
                dir.get_ref()
            );
        }
        Ok(RoleSpec {
            kind,
            description: r.description.clone(),
            setup: r.setup.as_ref().map(Template::from_spanned),
            command: Template::from_spanned(&r.command),
            user: r.user.clone(),
            ports: r.ports.clone(),
            data: r
                .data
                .iter()
                .map(|d| self.data_dir(d))
                .collect::<Result<_, _>>()?,
            env: self.env(&r.env)?,
            config: r
                .config
                .iter()
                .map(|f| self.file(f))
                .collect::<Result<_, _>>()?,
            ready,
        })
    }

    /// A role's data directory: see [`super::data_dir_fault`].
    fn data_dir(&self, dir: &Spanned<String>) -> Result<Template, RecipeError> {
        let path = dir.get_ref();
        match super::data_dir_fault(path) {
            Some(fault) => Err(self.at(
                dir.span(),
                format!(
                    "data directory `{path}` {fault}: a role's data directories are absolute paths \
                     of its own, such as /var/lib/mesos"
                ),
            )),
            None => Ok(Template::from_spanned(dir)),
        }
    }
}

/// Whether `dir`, a role's data directory as written, names one directory for every node of the
/// role on a machine: it reads none of `self.slot`, `self.name` and `self.index`, which tell apart
/// the nodes of a cluster that the `ssh` provider puts on one machine (a template that reads one
/// only in a branch is taken to mean it).
pub(super) fn same_in_every_slot(dir: &str) -> bool {
    !["self.slot", "self.name", "self.index"]
        .iter()
        .any(|variable| dir.contains(variable))
}
