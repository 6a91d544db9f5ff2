//! The machines of an `ssh` launch, read from an inventory in either of two formats:
//!
//! - baker's own file, one node per line, `#` starting a comment:
//!   ```text
//!   master [USER@]HOST[:PORT]
//!   slave  [USER@]HOST[:PORT]
//!   ```
//! - the Mesos deploy scripts' directory (`/usr/local/var/mesos/deploy`): a `masters` file and a
//!   `slaves` file, one `[USER@]HOST[:PORT]` per line, `#` comments.
//!
//! PORT is the SSH port (default 22; `[ADDR]:PORT` for an IPv6 address). Hand-written: the format
//! is a few lines of words, which no crate parses better than `split_whitespace`.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("cannot read the inventory {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{line}: {message}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("the inventory {} {message}", path.display())]
    Shape { path: PathBuf, message: String },
}

/// One machine: how to reach it over SSH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// Empty: the user `--ssh-user` or the SSH config names.
    pub user: String,
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.user.is_empty() {
            write!(f, "{}@", self.user)?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Parses `[USER@]HOST[:PORT]` (or `[USER@][ADDR]:PORT`), as [`Host`]'s `Display` writes it.
pub fn parse_host(word: &str) -> Result<Host, String> {
    let (user, rest) = match word.rsplit_once('@') {
        Some((u, r)) => (u.to_owned(), r),
        None => (String::new(), word),
    };
    let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
        let (addr, after) = inner
            .split_once(']')
            .ok_or_else(|| format!("`{word}`: `[` without `]`"))?;
        (addr, after.strip_prefix(':'))
    } else if rest.matches(':').count() > 1 {
        (rest, None) // a bare IPv6 address
    } else {
        match rest.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        }
    };
    let port = match port {
        None => 22,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|&p| p > 0)
            .ok_or_else(|| format!("`{word}`: `{p}` is not a port number"))?,
    };
    if host.is_empty() {
        return Err(format!("`{word}` names no host"));
    }
    Ok(Host {
        user,
        host: host.to_owned(),
        port,
    })
}

/// The masters and slaves an inventory lists, in its order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inventory {
    pub path: PathBuf,
    pub masters: Vec<Host>,
    pub slaves: Vec<Host>,
}

/// Reads `path`: a directory with `masters` and `slaves` files, or baker's inventory file.
pub fn read_inventory(path: &Path) -> Result<Inventory, InventoryError> {
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|source| InventoryError::Read {
            path: p.to_owned(),
            source,
        })
    };
    if path.is_dir() {
        let list = |name: &str| {
            let file = path.join(name);
            host_lines(&file, &read(&file)?)
        };
        return Ok(Inventory {
            path: path.to_owned(),
            masters: list("masters")?,
            slaves: list("slaves")?,
        });
    }
    parse_baker(path, &read(path)?)
}

/// The lines of a Mesos deploy `masters`/`slaves` file.
fn host_lines(path: &Path, text: &str) -> Result<Vec<Host>, InventoryError> {
    meaningful(text)
        .map(|(line, words)| match words[..] {
            [word] => parse_host(word).map_err(|message| syntax(path, line, message)),
            _ => Err(syntax(path, line, "expected one host per line".into())),
        })
        .collect()
}

/// baker's format: `master HOST` and `slave HOST` lines.
pub fn parse_baker(path: &Path, text: &str) -> Result<Inventory, InventoryError> {
    let mut inventory = Inventory {
        path: path.to_owned(),
        masters: Vec::new(),
        slaves: Vec::new(),
    };
    for (line, words) in meaningful(text) {
        let (list, word) = match words[..] {
            ["master", word] => (&mut inventory.masters, word),
            ["slave", word] => (&mut inventory.slaves, word),
            _ => {
                return Err(syntax(
                    path,
                    line,
                    format!(
                        "expected `master [USER@]HOST[:PORT]` or `slave [USER@]HOST[:PORT]`, found `{}` (a Mesos deploy directory with `masters` and `slaves` files is accepted too)",
                        words.join(" ")
                    ),
                ));
            }
        };
        list.push(parse_host(word).map_err(|message| syntax(path, line, message))?);
    }
    Ok(inventory)
}

/// Non-empty lines without comments, numbered from 1, split into words.
fn meaningful(text: &str) -> impl Iterator<Item = (usize, Vec<&str>)> {
    text.lines().enumerate().filter_map(|(i, l)| {
        let words: Vec<&str> = l
            .split('#')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        (!words.is_empty()).then_some((i + 1, words))
    })
}

fn syntax(path: &Path, line: usize, message: String) -> InventoryError {
    InventoryError::Syntax {
        path: path.to_owned(),
        line,
        message,
    }
}

impl Inventory {
    /// The machines of a cluster of one master and `slaves` slaves, master first (the order of
    /// the launch's nodes): the first master and the first `slaves` slaves listed. A host listed
    /// more than once runs that many nodes, each in its own slot (see [`super::ssh_dirs`]).
    pub fn assign(&self, slaves: usize) -> Result<Vec<Host>, InventoryError> {
        let shape = |message: String| InventoryError::Shape {
            path: self.path.clone(),
            message,
        };
        let Some(master) = self.masters.first() else {
            return Err(shape("lists no master".into()));
        };
        if self.slaves.len() < slaves {
            return Err(shape(format!(
                "lists {} slaves but the launch asks for {slaves}: add hosts or pass --slaves {}",
                self.slaves.len(),
                self.slaves.len()
            )));
        }
        let hosts: Vec<Host> = std::iter::once(master.clone())
            .chain(self.slaves[..slaves].iter().cloned())
            .collect();
        Ok(hosts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(user: &str, host: &str, port: u16) -> Host {
        Host {
            user: user.into(),
            host: host.into(),
            port,
        }
    }

    #[test]
    fn bakers_format_has_roles_users_ports_and_comments() {
        let text =
            "# the cluster\nmaster 10.0.0.1\n\nslave root@10.0.0.2:2222  # rack 2\nslave db3\n";
        let inv = parse_baker(Path::new("inv"), text).unwrap();
        assert_eq!(inv.masters, [host("", "10.0.0.1", 22)]);
        assert_eq!(
            inv.slaves,
            [host("root", "10.0.0.2", 2222), host("", "db3", 22)]
        );
    }

    #[test]
    fn a_bad_line_is_reported_with_its_file_and_line() {
        let err = parse_baker(Path::new("inv"), "master a\nworker b\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("inv:2: expected `master"), "{err}");
        let err = parse_baker(Path::new("inv"), "slave a:99999\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("inv:1: `a:99999`: `99999` is not a port"),
            "{err}"
        );
    }

    #[test]
    fn the_mesos_deploy_directory_is_read_too() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("masters"), "10.0.0.1\n").unwrap();
        std::fs::write(
            dir.path().join("slaves"),
            "# slaves\n10.0.0.2\n[fd00::3]:2200\n",
        )
        .unwrap();
        let inv = read_inventory(dir.path()).unwrap();
        assert_eq!(inv.masters, [host("", "10.0.0.1", 22)]);
        assert_eq!(
            inv.slaves,
            [host("", "10.0.0.2", 22), host("", "fd00::3", 2200)]
        );
        std::fs::write(dir.path().join("slaves"), "10.0.0.2 10.0.0.3\n").unwrap();
        let err = read_inventory(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("slaves:1: expected one host per line"),
            "{err}"
        );
        std::fs::remove_file(dir.path().join("masters")).unwrap();
        let err = read_inventory(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("cannot read the inventory") && err.contains("masters"),
            "{err}"
        );
    }

    #[test]
    fn hosts_print_the_way_they_parse() {
        for word in ["a:22", "u@10.0.0.1:2200", "[fd00::1]:22", "u@[::1]:2222"] {
            assert_eq!(parse_host(word).unwrap().to_string(), word);
        }
        assert_eq!(parse_host("fd00::1").unwrap(), host("", "fd00::1", 22));
        assert!(parse_host("u@").is_err());
    }

    #[test]
    fn a_launch_takes_the_first_master_and_slaves_and_a_host_listed_twice_runs_two() {
        let inv = parse_baker(Path::new("inv"), "master m\nslave a\nslave b\nslave c\n").unwrap();
        let hosts = inv.assign(2).unwrap();
        let names: Vec<&str> = hosts.iter().map(|h| h.host.as_str()).collect();
        assert_eq!(names, ["m", "a", "b"]);
        let err = inv.assign(4).unwrap_err().to_string();
        assert!(
            err.contains("lists 3 slaves but the launch asks for 4"),
            "{err}"
        );
        // Several slaves per host, as the users' guide runs them: each a node of its own.
        let shared = parse_baker(Path::new("inv"), "master m\nslave a\nslave a\n").unwrap();
        let hosts: Vec<String> = shared
            .assign(2)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(hosts, ["m:22", "a:22", "a:22"]);
        let none = parse_baker(Path::new("inv"), "slave a\n").unwrap();
        assert!(
            none.assign(1)
                .unwrap_err()
                .to_string()
                .contains("lists no master")
        );
    }
}
