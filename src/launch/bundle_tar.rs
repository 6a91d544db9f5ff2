//! A node bundle as the role agent reads it: a small tar of plain files (`node`, `role`, `kind`,
//! `user`, `env`, `setup.sh`, `command.sh`, `files/…`), the layout documented at the top of
//! `images/agent/baker-agent`. The same bytes are uploaded into a container, copied over SSH, or
//! written as a QEMU seed disk, so that every provider feeds the agent one way.

use std::io;

use super::bundle::NodeBundle;

/// Quotes `value` for a POSIX shell: single quotes, with `'` written as `'\''`.
pub fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// Where the agent looks for its bundle.
pub const BUNDLE_DIR: &str = "/etc/baker/role";

impl NodeBundle {
    /// The `env` file: one `export NAME='value'` line per variable.
    pub fn env_file(&self) -> String {
        self.env
            .iter()
            .map(|(k, v)| format!("export {k}={}\n", shell_quote(v)))
            .collect()
    }

    /// The bundle as a tar, entries in a fixed order with owner 0 and time 0.
    pub fn to_tar(&self) -> io::Result<Vec<u8>> {
        self.to_tar_with(&[])
    }

    /// The bundle as a tar with the provider's own entries too (`(name, mode, content)`: a VM's
    /// `network` and `authorized_keys`), before the last entry.
    pub fn to_tar_with(&self, extra: &[(&str, u32, &[u8])]) -> io::Result<Vec<u8>> {
        let mut tar = tar::Builder::new(Vec::new());
        let mut add = |path: &str, mode: u32, data: &[u8]| {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(mode);
            header.set_mtime(0);
            header.set_uid(0);
            header.set_gid(0);
            header.set_entry_type(tar::EntryType::Regular);
            tar.append_data(&mut header, path, data)
        };
        add("node", 0o644, format!("{}\n", self.node).as_bytes())?;
        add("role", 0o644, format!("{}\n", self.role).as_bytes())?;
        add("kind", 0o644, format!("{}\n", self.kind.name()).as_bytes())?;
        if let Some(user) = &self.user {
            add("user", 0o644, format!("{user}\n").as_bytes())?;
        }
        if !self.data.is_empty() {
            let lines: String = self.data.iter().map(|d| format!("{d}\n")).collect();
            add("data", 0o644, lines.as_bytes())?;
        }
        add("env", 0o600, self.env_file().as_bytes())?;
        if let Some(setup) = &self.setup {
            add("setup.sh", 0o700, format!("{setup}\n").as_bytes())?;
        }
        add(
            "command.sh",
            0o700,
            format!("{}\n", self.command).as_bytes(),
        )?;
        for file in &self.files {
            let path = format!("files/{}", file.path.trim_start_matches('/'));
            add(&path, file.mode, file.content.as_bytes())?;
        }
        for (path, mode, data) in extra {
            add(path, *mode, data)?;
        }
        // Last, so that an agent waiting for a bundle being unpacked sees it whole.
        add("complete", 0o644, b"")?;
        tar.into_inner()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::launch::bundle::BundleFile;
    use crate::recipe::RoleKind;

    fn bundle() -> NodeBundle {
        NodeBundle {
            node: "pg-1".into(),
            role: "standby".into(),
            kind: RoleKind::Slave,
            user: Some("postgres".into()),
            data: vec!["/var/lib/postgres/data-1".into()],
            env: BTreeMap::from([("PGPASSWORD".to_owned(), "it's $x".to_owned())]),
            files: vec![BundleFile {
                path: "/etc/x/y.conf".into(),
                mode: 0o640,
                content: "a=1\n".into(),
            }],
            setup: Some("initdb".into()),
            command: "postgres -D /data".into(),
            ready: vec![],
            smoke: vec![],
        }
    }

    #[test]
    fn values_are_quoted_so_the_shell_takes_them_literally() {
        assert_eq!(bundle().env_file(), "export PGPASSWORD='it'\\''s $x'\n");
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!("{}printf %s \"$PGPASSWORD\"", bundle().env_file()))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), "it's $x");
    }

    #[test]
    fn the_tar_holds_the_agents_layout_with_modes_and_is_reproducible() {
        let bytes = bundle().to_tar().unwrap();
        assert_eq!(bytes, bundle().to_tar().unwrap());
        let mut archive = tar::Archive::new(&bytes[..]);
        let entries: Vec<(String, u32)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().display().to_string(),
                    e.header().mode().unwrap(),
                )
            })
            .collect();
        let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "node",
                "role",
                "kind",
                "user",
                "data",
                "env",
                "setup.sh",
                "command.sh",
                "files/etc/x/y.conf",
                "complete"
            ]
        );
        assert_eq!(entries[8].1, 0o640);
        assert_eq!(entries[5].1, 0o600, "the env file may hold the secret");
    }
}
