//! The `Nft_Table`, `Nft_Set` and `Open_For` keys, in both readers.

use std::path::Path;
use std::time::Duration;

use knockd_core::config::{knockd_conf, toml};
use knockd_core::nft::{Family, Table};
use knockd_core::Config;

fn conf(text: &str) -> Config {
    knockd_conf::parse(Path::new("/etc/knockd.conf"), text.as_bytes()).unwrap()
}

fn toml(text: &str) -> Config {
    toml::parse(Path::new("/etc/knockd.toml"), text.as_bytes()).unwrap()
}

#[test]
fn both_readers_take_the_table_the_set_and_open_for_in_any_case() {
    let a = conf(
        "[options]\n  nft_TABLE = ip filter\n[openSSH]\n  sequence = 1,2,3\n  \
         NFT_Set = ssh_allowed\n  open_for = 30\n",
    );
    let b = toml(
        "[options]\nnft_table = \"ip filter\"\n[[door]]\nname = \"openSSH\"\n\
         sequence = \"1,2,3\"\nnft_set = \"ssh_allowed\"\nopen_for = 30\n",
    );
    for c in [a, b] {
        let table = c.options.nft_table.clone().unwrap();
        assert_eq!((table.family, table.name.as_str()), (Family::Ip, "filter"));
        assert_eq!(c.doors[0].nft_set.as_deref(), Some("ssh_allowed"));
        assert_eq!(c.doors[0].cmd_timeout, Duration::from_secs(30));
        assert!(c.disabled.is_empty());
    }
    assert_eq!(Table::default_table().to_string(), "inet knockd");
}

#[test]
fn a_door_with_commands_and_a_set_is_disabled_with_the_reason() {
    let a = conf("[d]\nsequence = 1,2\nnft_set = s\ncommand = /bin/true\n[e]\nsequence = 3\n");
    let b = toml(
        "[[door]]\nname = \"d\"\nsequence = \"1,2\"\nnft_set = \"s\"\nstart_command = \"x\"\n\
         [[door]]\nname = \"e\"\nsequence = \"3\"\n",
    );
    for c in [a, b] {
        assert_eq!(c.doors.len(), 1, "the other door runs");
        assert_eq!(c.disabled[0].door, "d");
        let message = c.disabled[0].error.to_string();
        assert!(
            message.contains("either commands or Nft_Set, not both"),
            "{message}"
        );
    }
}

#[test]
fn a_zero_open_for_and_a_bad_set_name_disable_the_door() {
    let c = conf("[d]\nsequence = 1\nnft_set = s\nopen_for = 0\n");
    assert!(c.disabled[0]
        .error
        .to_string()
        .contains("at least 1 second"));
    let c = conf("[d]\nsequence = 1\nnft_set = bad name\n");
    let message = c.disabled[0].error.to_string();
    assert!(
        message.contains("invalid value \"bad name\" for nft_set"),
        "{message}"
    );
    let error = knockd_conf::parse(Path::new("/k"), b"[options]\nnft_table = arp x\n");
    assert!(error
        .unwrap_err()
        .to_string()
        .contains("a family (inet, ip or ip6)"));
    let error = toml::parse(Path::new("/k.toml"), b"[options]\nnft_table = \"x y z\"\n");
    assert!(error.unwrap_err().to_string().contains("nft_table"));
}

#[test]
fn nft_table_belongs_in_options_and_nft_set_in_a_door() {
    let e = knockd_conf::parse(Path::new("/k"), b"[d]\nsequence = 1\nnft_table = inet x\n");
    assert!(e.unwrap_err().to_string().contains("belongs in [options]"));
    let e = knockd_conf::parse(Path::new("/k"), b"[options]\nnft_set = x\n");
    assert!(e
        .unwrap_err()
        .to_string()
        .contains("belongs in a door section"));
}
