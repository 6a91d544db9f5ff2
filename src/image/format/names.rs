//! Format names as users write them: one name in any case ([`Format`]'s `FromStr`), or the
//! comma-separated list of `baker image --format` ([`parse_list`]). An unknown name is refused with
//! the format it most likely means: the names other tools give the same files (`img` is a raw
//! disk, `vpc` is qemu-img's VHD, `tar.gz` is GCE's archive), else the nearest name.

use std::str::FromStr;

use super::{Format, FormatError};
use crate::recipe::error::did_you_mean;

/// Names other tools and clouds give the files baker writes, with the format that writes them.
const OTHER_NAMES: [(&str, Format); 7] = [
    ("img", Format::Raw),
    ("qcow", Format::Qcow2),
    ("vpc", Format::Vhd),
    ("tar.gz", Format::Gce),
    ("targz", Format::Gce),
    ("tgz", Format::Gce),
    ("disk.raw", Format::Gce),
];

impl FromStr for Format {
    type Err = FormatError;

    /// A format's name, in any case; an unknown one is refused with the format it likely means.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.trim().to_ascii_lowercase();
        Format::ALL
            .into_iter()
            .find(|f| f.name() == name)
            .ok_or_else(|| FormatError::UnknownFormat {
                given: s.to_owned(),
                hint: likely_meant(&name),
            })
    }
}

/// `; did you mean `raw`?` for a name another tool gives a format, else for the nearest name;
/// nothing when none is near.
fn likely_meant(name: &str) -> String {
    match OTHER_NAMES.iter().find(|(other, _)| *other == name) {
        Some((_, format)) => format!("; did you mean `{format}`?"),
        None => did_you_mean(name, Format::ALL.iter().map(|f| f.name())),
    }
}

/// `raw,qcow2` -> the formats, each once, in the order given. An empty item (`raw,,vhd`, `raw,`)
/// is refused rather than skipped, as a list naming no format is.
pub fn parse_list(list: &str) -> Result<Vec<Format>, FormatError> {
    let items: Vec<&str> = list.split(',').map(str::trim).collect();
    if items.iter().all(|item| item.is_empty()) {
        return Err(FormatError::NoFormat {
            given: list.to_owned(),
        });
    }
    if let Some(empty) = items.iter().position(|item| item.is_empty()) {
        return Err(FormatError::EmptyItem {
            given: list.to_owned(),
            position: empty + 1,
            without: (items.iter().filter(|i| !i.is_empty()))
                .map(|i| (*i).to_owned())
                .collect(),
        });
    }
    let mut formats = Vec::new();
    for item in items {
        let format: Format = item.parse()?;
        if !formats.contains(&format) {
            formats.push(format);
        }
    }
    Ok(formats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_is_each_format_once_in_the_order_given() {
        assert_eq!(
            parse_list("raw, qcow2,raw").unwrap(),
            [Format::Raw, Format::Qcow2]
        );
        assert_eq!(parse_list(" RAW,Vhd ").unwrap(), [Format::Raw, Format::Vhd]);
        let said = parse_list("raw,vmdk").unwrap_err().to_string();
        assert!(said.starts_with("unknown image format `vmdk`"), "{said}");
    }

    #[test]
    fn an_empty_item_is_refused_by_its_place() {
        let said = |list: &str| parse_list(list).unwrap_err().to_string();
        assert_eq!(
            said("raw,,vhd"),
            "`raw,,vhd` has an empty item (the 2nd): name a format between every two commas, \
             e.g. `raw,vhd`"
        );
        assert!(said("raw,").contains("(the 2nd)"), "{}", said("raw,"));
        assert!(said(" ,qcow2").contains("(the 1st)") && said(",qcow2").contains("`qcow2`"));
        assert!(said("a,b,,c").contains("(the 3rd)"), "{}", said("a,b,,c"));
        assert!(
            said(",").starts_with("`,` names no format"),
            "{}",
            said(",")
        );
        assert!(said("").starts_with("`` names no format"), "{}", said(""));
    }

    #[test]
    fn other_tools_names_suggest_the_format_that_writes_their_files() {
        let hint = |name: &str| name.parse::<Format>().unwrap_err().to_string();
        for (name, meant) in [
            ("img", "raw"),
            ("IMG", "raw"),
            ("qcow", "qcow2"),
            ("vpc", "vhd"),
            ("tar.gz", "gce"),
            ("targz", "gce"),
            ("disk.raw", "gce"),
            ("rae", "raw"),
            ("vhdx", "vhd"),
        ] {
            assert!(
                hint(name).ends_with(&format!("; did you mean `{meant}`?")),
                "{name}: {}",
                hint(name)
            );
        }
        assert!(
            !hint("zzzzzz").contains("did you mean"),
            "{}",
            hint("zzzzzz")
        );
    }
}
