//! The shipped example configurations: each knockd.conf and its TOML twin
//! must read to the same model.

use std::path::PathBuf;

use knock_proto::OneTimeSequences;
use knockd_core::config::LogFormat;
use knockd_core::Config;

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name)
}

#[test]
fn each_knockd_conf_example_and_its_toml_twin_give_the_same_model() {
    for stem in [
        "knockd",
        "start-stop",
        "one-time",
        "always-close",
        "source-lists",
        "secure-doors",
        "nft-set",
    ] {
        let conf = Config::load(&example(&format!("{stem}.conf"))).unwrap();
        let toml = Config::load(&example(&format!("{stem}.toml"))).unwrap();
        assert!(!conf.doors.is_empty(), "{stem}");
        assert_eq!(conf, toml, "{stem}");
    }
}

#[test]
fn the_example_one_time_file_has_three_sequences() {
    let ots = OneTimeSequences::load(&example("smtp_sequences")).unwrap();
    assert_eq!(ots.remaining(), 3);
    assert_eq!(
        ots.active().unwrap().to_string(),
        "4151:tcp,2412:tcp,3215:tcp"
    );
}

#[test]
fn log_format_reads_the_same_in_both_syntaxes() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("k.conf");
    let toml = dir.path().join("k.toml");
    std::fs::write(&conf, "[options]\nLogFormat = json\n").unwrap();
    std::fs::write(&toml, "[options]\nlog_format = \"json\"\n").unwrap();
    let conf = Config::load(&conf).unwrap();
    assert_eq!(conf.options.log_format, Some(LogFormat::Json));
    assert_eq!(conf, Config::load(&toml).unwrap());
}

#[test]
fn open_prefixes_read_the_same_in_both_syntaxes() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("knockd.conf");
    let toml = dir.path().join("k.toml");
    let door = "[ssh]\nsequence = 7000\nopen_prefix6 = 56\n";
    std::fs::write(&conf, format!("[options]\nopen_prefix4 = 24\n{door}")).unwrap();
    std::fs::write(
        &toml,
        "[options]\nopen_prefix4 = 24\n[[door]]\nname = \"ssh\"\nsequence = \"7000\"\nopen_prefix6 = 56\n",
    )
    .unwrap();
    let conf = Config::load(&conf).unwrap();
    assert_eq!(conf, Config::load(&toml).unwrap());
    let prefix = conf.doors[0].open_prefix;
    assert_eq!((prefix.v4, prefix.v6), (Some(24), Some(56)));
    std::fs::write(
        &toml,
        "[[door]]\nname = \"d\"\nsequence = \"1\"\nopen_prefix4 = 33\n",
    )
    .unwrap();
    let error = Config::load(&toml).unwrap_err().to_string();
    assert!(
        error.contains("line 4") && error.contains("a prefix length from 0 to 32"),
        "{error}"
    );
}

#[test]
fn toml_errors_name_file_line_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    for (text, line, words) in [
        (
            "[[door]]\nname = \"d\"\nsequence = \"7000,70000\"\n",
            3,
            "port 70000 is invalid",
        ),
        (
            "[[door]]\nname = \"d\"\nsequence = \"1\"\nsequnce = \"2\"\n",
            4,
            "sequnce",
        ),
        (
            "[[door]]\nname = \"d\"\nsequence = \"1\"\ncmd_timeout = -5\n",
            4,
            "invalid value \"-5\" for cmd_timeout",
        ),
        (
            "[[door]]\nname = \"d\"\nsequence = \"1\"\ntcp_flags = \"syn,push\"\n",
            4,
            "unrecognized flag \"push\"",
        ),
        ("[[door]]\nname = \"d\"\n", 2, "has an empty knock sequence"),
        ("[options]\nlog_file = 3\n", 2, "invalid type"),
        (
            "[[door]]\nname = \"d\"\nrotating_secret = \"k\"\nrotating_range = \"9-1\"\n",
            4,
            "invalid value \"9-1\" for rotating_range",
        ),
        (
            "[[door]]\nname = \"d\"\nsequence = \"1\"\nrotating_secret = \"k\"\n",
            2,
            "Rotating_Secret excludes Sequence",
        ),
        (
            "[options]\nlog_format = \"xml\"\n",
            2,
            "invalid value \"xml\" for log_format",
        ),
    ] {
        std::fs::write(&path, text).unwrap();
        let e = Config::load(&path).unwrap_err();
        assert_eq!(e.line, Some(line), "{text}: {e}");
        let shown = e.to_string();
        assert!(
            shown.starts_with(&format!("{}: line {line}: ", path.display())),
            "{shown}"
        );
        assert!(shown.contains(words), "{shown}");
    }
}

#[test]
fn a_missing_file_names_the_path_and_the_os_reason() {
    let e = Config::load(&example("does-not-exist.conf")).unwrap_err();
    assert!(
        e.to_string()
            .ends_with("does-not-exist.conf: No such file or directory"),
        "{e}"
    );
}
