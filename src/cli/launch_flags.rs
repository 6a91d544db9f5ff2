//! The options of `baker launch` that only one provider reads: given to a launch on another
//! provider they would be ignored (`baker launch pg --inventory hosts` would start local
//! containers), so they are refused as the command line is read, before any work, naming the
//! provider they are for. `--resume` takes its provider from the cluster's state: clap refuses most
//! of these beside it (see [`super::launch_resume`]), and [`refuse_for_resumed`] the one it allows.

use clap::ArgMatches;
use clap::error::ErrorKind;
use clap::parser::ValueSource;

use super::launch::ProviderName;

/// Each option (clap's id and its flag) read by one provider only, with that provider.
/// `--publish-all` is docker's: qemu forwards the nodes' ports on 127.0.0.1 only, and ssh's nodes
/// are machines of their own; `--memory` is qemu's: containers run without a memory limit.
const ONE_PROVIDER_S: [(&str, &str, ProviderName); 9] = [
    ("image", "--image", ProviderName::Qemu),
    ("memory", "--memory", ProviderName::Qemu),
    ("accel", "--accel", ProviderName::Qemu),
    ("qemu", "--qemu", ProviderName::Qemu),
    ("inventory", "--inventory", ProviderName::Ssh),
    ("ssh_user", "--ssh-user", ProviderName::Ssh),
    ("ssh_key", "--ssh-key", ProviderName::Ssh),
    (
        "accept_new_host_keys",
        "--accept-new-host-keys",
        ProviderName::Ssh,
    ),
    ("publish_all", "--publish-all", ProviderName::Docker),
];

/// The name `--provider` takes for `provider`.
pub(super) fn provider_name(provider: ProviderName) -> &'static str {
    match provider {
        ProviderName::Docker => "docker",
        ProviderName::Qemu => "qemu",
        ProviderName::Ssh => "ssh",
    }
}

/// Clap's refusal of an option of [`ONE_PROVIDER_S`] given on the command line to a new launch on
/// another provider; `cli` is the parsed command. Only the command line counts: `--accel` and
/// `--qemu` have variables (`$BAKER_QEMU_ACCEL`, `$BAKER_QEMU`) that may be set for every command.
pub(super) fn refuse_other_providers(
    cli: &mut clap::Command,
    matches: &ArgMatches,
) -> Result<(), clap::Error> {
    let Some(("launch", launch)) = matches.subcommand() else {
        return Ok(());
    };
    if launch.get_flag("resume") {
        return Ok(());
    }
    let provider = *launch
        .get_one::<ProviderName>("provider")
        .expect("--provider has a default");
    let chosen = launch.value_source("provider") == Some(ValueSource::CommandLine);
    let given = |id: &str| launch.value_source(id) == Some(ValueSource::CommandLine);
    let Some(why) = (ONE_PROVIDER_S.into_iter())
        .find(|(id, _, for_provider)| *for_provider != provider && given(id))
        .map(|(_, flag, for_provider)| refusal(flag, for_provider, provider, chosen))
    else {
        return Ok(());
    };
    let command = cli.find_subcommand_mut("launch").expect("baker launch");
    Err(command.error(ErrorKind::ArgumentConflict, why))
}

/// Why `flag`, read by provider `for_provider` only, is refused by a launch on `provider`, which
/// `--provider` named (`chosen`) or is the default.
fn refusal(flag: &str, for_provider: ProviderName, provider: ProviderName, chosen: bool) -> String {
    let (wanted, used) = (provider_name(for_provider), provider_name(provider));
    if chosen {
        format!(
            "{flag} is for --provider {wanted}; this launch uses --provider {used}, which does not \
             read it: leave {flag} out, or launch with --provider {wanted}"
        )
    } else {
        format!(
            "{flag} is for --provider {wanted}; this launch uses the {used} provider, the default \
             (add --provider {wanted}, or leave {flag} out)"
        )
    }
}

/// Why `--publish-all` (`publish_all`) is refused with `--resume` of cluster `name`, launched on
/// `provider`, which publishes no ports on every interface; `None` for a docker cluster, whose
/// resume takes it (see [`baker::launch::docker_cluster::resumed_host_ip`]).
pub(super) fn refuse_for_resumed(name: &str, provider: &str, publish_all: bool) -> Option<String> {
    (publish_all && provider != "docker").then(|| {
        format!(
            "--publish-all is for --provider docker; cluster {name} uses the {provider} provider, \
             which does not read it: leave --publish-all out"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_names_the_flag_its_provider_and_the_launch_s() {
        assert_eq!(
            refusal(
                "--inventory",
                ProviderName::Ssh,
                ProviderName::Docker,
                false
            ),
            "--inventory is for --provider ssh; this launch uses the docker provider, the default \
             (add --provider ssh, or leave --inventory out)"
        );
        assert!(
            refusal(
                "--publish-all",
                ProviderName::Docker,
                ProviderName::Qemu,
                true
            )
            .ends_with("leave --publish-all out, or launch with --provider docker")
        );
        assert_eq!(refuse_for_resumed("pg", "docker", true), None);
        assert_eq!(refuse_for_resumed("pg", "qemu", false), None);
        assert!(refuse_for_resumed("pg", "ssh", true).is_some());
    }
}
