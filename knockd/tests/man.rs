//! knockd(8) stays true to `knockd --help`, and knockd.conf(5) to the tested recipes.

#[path = "../../man/long_options.rs"]
mod long_options;

#[test]
fn man_page_documents_exactly_the_long_options_of_help() {
    long_options::assert_page_matches_help("knockd", "knockd.8");
}

/// The firewall recipes knockd.conf(5) and the README show are the files of examples/,
/// command for command: those integration-tests/tests/hardened_unit.rs runs, and those for
/// other platforms that knockd/tests/other_platforms.rs checks (marked untested in the file).
#[test]
fn the_recipes_in_the_docs_are_the_examples() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let read = |path: &str| {
        std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    // The page's roff escapes, undone; whitespace runs made one space.
    let page = read("man/knockd.conf.5")
        .replace("\\-", "-")
        .replace("\\(aq", "'")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let readme = read("README.md")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let untested = ["pf", "ipfw", "openwrt-fw4"];
    for recipe in ["nftables", "iptables", "ufw", "firewalld"]
        .into_iter()
        .chain(untested)
    {
        let example = read(&format!("examples/{recipe}.conf"));
        assert_eq!(
            example.contains("UNTESTED"),
            untested.contains(&recipe),
            "examples/{recipe}.conf says UNTESTED exactly when no test runs it"
        );
        let commands: Vec<String> = example
            .lines()
            .map(str::trim)
            .filter(|line| line.contains("_command"))
            .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        assert!(
            !commands.is_empty(),
            "no commands in examples/{recipe}.conf"
        );
        for command in commands {
            assert!(
                page.contains(&command),
                "knockd.conf(5) lacks examples/{recipe}.conf's {command:?}"
            );
            assert!(
                readme.contains(&command),
                "README.md lacks examples/{recipe}.conf's {command:?}"
            );
        }
    }
}
