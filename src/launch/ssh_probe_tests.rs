//! What machines answer to the probe and the address questions, as text: no machine needed.

use super::*;

#[test]
fn the_scripts_parse() {
    let peers = ["10.0.0.5".parse().unwrap(), "fd00::5".parse().unwrap()];
    for script in [probe(), addresses_script(&peers), addresses_script(&[])] {
        crate::launch::ssh_scripts::tests::assert_bash_parses(&script);
    }
}

#[test]
fn the_slots_are_read_as_root() {
    let script = probe();
    let list = script.lines().last().unwrap();
    assert!(list.starts_with("$as sh -c '"), "{list}");
    assert!(list.contains("/etc/baker/role-[0-9]*/node"), "{list}");
}

#[test]
fn a_free_machine_with_root_passes() {
    let probed = Probed::parse("user=admin\nroot=yes\n");
    assert_eq!(probed.user, "admin");
    assert!(probed.check("db1:22", &[]).is_ok());
}

#[test]
fn sudo_wanting_a_terminal_is_said_so_with_the_sudoers_line_that_allows_it() {
    let probed =
        Probed::parse("user=admin\nroot=no\nsudo=sudo: sorry, you must have a tty to run sudo\n");
    let err = probed.check("db1:22", &[]).unwrap_err().to_string();
    for want in [
        "db1:22",
        "requiretty",
        "`Defaults:admin !requiretty`",
        "/etc/sudoers.d/",
        "sorry, you must have a tty to run sudo",
    ] {
        assert!(err.contains(want), "{want} in {err}");
    }
    assert!(!err.contains("password-less"), "{err}");
}

#[test]
fn sudo_wanting_a_password_is_said_with_its_words() {
    let probed = Probed::parse("user=admin\nroot=no\nsudo=sudo: a password is required\n");
    let err = probed.check("db1:22", &[]).unwrap_err().to_string();
    assert!(err.contains("password-less sudo"), "{err}");
    assert!(
        err.contains("(sudo said: sudo: a password is required)"),
        "{err}"
    );
}

#[test]
fn a_machine_running_another_cluster_s_node_in_any_slot_is_busy() {
    let probed = Probed::parse("user=root\nroot=yes\nnode=pg-standby-1\nnode=other-slave-2\n");
    assert_eq!(probed.nodes, ["pg-standby-1", "other-slave-2"]);
    let err = probed.check("db1:22", &[]).unwrap_err().to_string();
    assert!(err.contains("runs baker node pg-standby-1"), "{err}");
    // A resumed launch finds its own nodes placed: only the other cluster's is in the way.
    let ours = ["pg-primary".to_owned(), "pg-standby-1".to_owned()];
    let err = probed.check("db1:22", &ours).unwrap_err().to_string();
    assert!(err.contains("runs baker node other-slave-2"), "{err}");
    let mine = Probed::parse("root=yes\nnode=pg-standby-1\nnode=\n");
    assert!(mine.check("db1:22", &ours).is_ok());
}

#[test]
fn loopback_and_link_local_addresses_are_no_node_s_address() {
    for ip in [
        "127.0.1.1",
        "127.0.0.1",
        "::1",
        "169.254.3.4",
        "fe80::1",
        "0.0.0.0",
    ] {
        assert!(!reachable(&ip.parse().unwrap()), "{ip}");
    }
    for ip in [
        "10.0.0.5",
        "172.18.0.2",
        "192.168.1.4",
        "fd00::5",
        "2001:db8::1",
    ] {
        assert!(reachable(&ip.parse().unwrap()), "{ip}");
    }
}

#[tokio::test]
async fn a_name_that_resolves_to_loopback_gives_no_address_here() {
    assert!(resolved("localhost", 22).await.is_empty());
    assert!(resolved("127.0.1.1", 22).await.is_empty());
    let found: Vec<String> = (resolved("10.0.0.5", 22).await.iter())
        .map(ToString::to_string)
        .collect();
    assert_eq!(found, ["10.0.0.5"]);
}

#[test]
fn the_machine_s_route_to_its_peers_gives_its_address_first() {
    let out = "route 10.0.0.7 via 10.0.0.1 dev eth0 src 10.0.0.5 uid 0\n\
               addr 192.168.9.9\naddr 10.0.0.5\naddr 127.0.1.1\n";
    assert_eq!(pick_address(out), Some("10.0.0.5".parse().unwrap()));
    // Its own address as a peer (another node on the machine) is routed locally, with a source.
    let out = "route local 10.0.0.5 dev lo table local src 10.0.0.5 uid 0\n";
    assert_eq!(pick_address(out), Some("10.0.0.5".parse().unwrap()));
}

#[test]
fn without_a_route_an_ipv4_global_address_is_taken_and_loopback_never() {
    let out = "addr 127.0.1.1\naddr fe80::1\naddr 2001:db8::5\naddr 172.18.0.3\n";
    assert_eq!(pick_address(out), Some("172.18.0.3".parse().unwrap()));
    assert_eq!(
        pick_address("addr 2001:db8::5\n"),
        Some("2001:db8::5".parse().unwrap())
    );
    assert_eq!(pick_address("addr 127.0.1.1\naddr 169.254.0.9\n"), None);
    assert_eq!(pick_address(""), None);
}
