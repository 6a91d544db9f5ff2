//! The `baker` binary: parse arguments, set up logging, run the subcommand, and on failure print the
//! whole cause chain and exit non-zero.

use std::process::ExitCode;

mod cli;

fn main() -> ExitCode {
    let args = cli::parse();
    cli::logging::init(args.global.verbose, args.global.quiet);
    match cli::run(args) {
        Ok(code) => code,
        Err(err) => {
            let mut said = err.to_string();
            cli::output::say(&format!("error: {said}"));
            // Print each cause once: many messages already end with their cause's text.
            for cause in err.chain().skip(1) {
                let text = cause.to_string();
                if !said.contains(&text) {
                    cli::output::say(&format!("  caused by: {text}"));
                    said = text;
                }
            }
            ExitCode::FAILURE
        }
    }
}
