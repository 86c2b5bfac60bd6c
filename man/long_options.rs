//! Test helper shared by `knockd/tests/man.rs` and `knock/tests/man.rs`
//! (through `#[path]`): a man page must document exactly the long options
//! that the program's `--help` lists, so the page cannot drift from the
//! clap definition it describes.

use std::collections::BTreeSet;
use std::path::Path;

use assert_cmd::Command;

/// Asserts that `man/<page>` documents exactly the long options of `<binary> --help`.
pub fn assert_page_matches_help(binary: &str, page: &str) {
    let output = Command::cargo_bin(binary)
        .unwrap()
        .arg("--help")
        .output()
        .unwrap();
    assert!(output.status.success(), "{binary} --help failed");
    let help = from_help(&String::from_utf8(output.stdout).unwrap());

    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../man")
        .join(page);
    let roff = std::fs::read_to_string(&path).unwrap();
    let documented = from_man_page(&roff);

    for always in ["--help", "--version"] {
        assert!(
            help.contains(always),
            "{binary} --help lacks {always}: {help:?}"
        );
    }
    assert_eq!(
        documented, help,
        "man/{page} OPTIONS (left) differ from `{binary} --help` (right)"
    );
}

/// The long options clap's help defines: on each line that starts with an
/// option, the first `--name`.
pub fn from_help(help: &str) -> BTreeSet<String> {
    help.lines()
        .filter(|line| line.trim_start().starts_with('-'))
        .filter_map(|line| line.split_whitespace().find_map(long_option))
        .collect()
}

/// The long options a man page documents: those in the tags (the line after
/// each `.TP`) of its OPTIONS section.
pub fn from_man_page(roff: &str) -> BTreeSet<String> {
    let text = roff.replace("\\-", "-");
    let mut in_options = false;
    let mut after_tp = false;
    let mut options = BTreeSet::new();
    for line in text.lines() {
        if let Some(heading) = line.strip_prefix(".SH ") {
            in_options = heading.trim() == "OPTIONS";
            continue;
        }
        if in_options && after_tp {
            options.extend(
                line.split(|c: char| c.is_whitespace() || c == '"')
                    .filter_map(long_option),
            );
        }
        after_tp = line.trim() == ".TP";
    }
    options
}

/// `--name` at the start of `word`, without what follows the name.
fn long_option(word: &str) -> Option<String> {
    let name = word.strip_prefix("--")?;
    let end = name
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .unwrap_or(name.len());
    (end > 0).then(|| format!("--{}", &name[..end]))
}

#[test]
fn parsers_find_options_in_clap_help_and_roff_tags() {
    let help = "Usage: x\n\nOptions:\n  -i, --interface <INT>  Listen (see --other)\n      --check\n  -h, --help  Print help\n";
    let expected: BTreeSet<String> = ["--interface", "--check", "--help"]
        .map(String::from)
        .into();
    assert_eq!(from_help(help), expected);
    let roff = ".SH OPTIONS\n.TP\n.BR \\-i \", \" \\-\\-interface \" \\fIx\\fR\"\nText \\-\\-not\\-a\\-tag.\n.TP\n.B \\-\\-check\n.TP\n.BR \\-h \", \" \\-\\-help\n.SH SEE ALSO\n.TP\n.B \\-\\-outside\n";
    assert_eq!(from_man_page(roff), expected);
}
