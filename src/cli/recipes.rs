//! `baker recipes`: what can be built, on which distro, in which versions, from which source.

use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use super::Global;

#[derive(Debug, Args)]
pub struct RecipesArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(global: &Global, args: &RecipesArgs) -> anyhow::Result<ExitCode> {
    let catalog = global.catalog()?;
    if args.json {
        let list: Vec<_> = catalog
            .recipes()
            .iter()
            .map(|r| {
                json!({
                    "name": r.name,
                    "distro": r.distro,
                    "versions": r.version_names(),
                    "default_version": r.default_version,
                    "source": r.source.url.text,
                    "origin": r.source_text.origin,
                    "description": r.description,
                })
            })
            .collect();
        super::emit(&(serde_json::to_string_pretty(&list)? + "\n"))?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<[String; 4]> = catalog
        .recipes()
        .iter()
        .map(|r| {
            [
                r.name.clone(),
                r.distro.to_string(),
                r.version_names()
                    .iter()
                    .map(|v| {
                        if *v == r.default_version {
                            format!("{v}*")
                        } else {
                            (*v).to_owned()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                r.source.url.text.clone(),
            ]
        })
        .collect();
    let header = ["RECIPE", "DISTRO", "VERSIONS", "SOURCE"].map(String::from);
    let widths: Vec<usize> = (0..3)
        .map(|i| {
            rows.iter()
                .chain([&header])
                .map(|r| r[i].len())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut text = String::new();
    for row in [&header].into_iter().chain(&rows) {
        text.push_str(&format!(
            "{:w0$}  {:w1$}  {:w2$}  {}\n",
            row[0],
            row[1],
            row[2],
            row[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        ));
    }
    text.push_str("\n* default version. `baker plan --distro D [--recipe NAME] [--version V]` shows what a build runs.\n");
    super::emit(&text)?;
    Ok(ExitCode::SUCCESS)
}
