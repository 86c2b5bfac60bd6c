//! Shell completions for a build script: bash, zsh and fish, generated from
//! the program's own clap definition so they can never disagree with it.
//!
//! Shared by `knockd/build.rs` and `knock/build.rs` through `#[path]`.
//!
//! clap's generators know files, directories and fixed word lists; the values
//! they cannot know ([`Values`]: interface names, comma-separated TCP flag
//! lists) are added to each generated script here, and their options then
//! never complete file names.
//!
//! The files are written to `OUT_DIR` and copied to `completions/` in the
//! profile directory (`target/release/completions/` in a plain release
//! build). That copy is what packaging names: cargo-deb maps an asset path
//! starting with `target/release/` onto the real profile directory, wherever
//! `CARGO_TARGET_DIR`, `--target` or `--profile` put it, whereas `OUT_DIR`
//! carries a hash no packaging manifest can spell.

use std::env;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use clap_complete::{generate_to, Shell};

/// What the value of an option completes to, beyond what clap's generators know.
// Each build script uses the variants its program needs.
#[allow(dead_code)]
#[derive(Debug, Clone, Copy)]
pub enum Values<'a> {
    /// The names of the host's network interfaces.
    Interfaces,
    /// A comma-separated list of these words (e.g. `syn,ack`).
    CommaList(&'a [&'a str]),
}

/// Writes `name`'s completions for every supported shell, with `values` for
/// the options named there (by their clap id), and tells Cargo which inputs
/// should re-run the build script.
pub fn generate(
    mut command: clap::Command,
    name: &str,
    values: &[(&str, Values<'_>)],
) -> io::Result<()> {
    println!("cargo:rerun-if-changed=src/cli.rs");
    println!("cargo:rerun-if-changed=../packaging/completions.rs");
    let out_dir = PathBuf::from(
        env::var_os("OUT_DIR")
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "OUT_DIR is not set"))?,
    );
    let generated = out_dir.join("completions");
    fs::create_dir_all(&generated)?;
    let mut files = Vec::new();
    command.build();
    let options = values
        .iter()
        .map(|&(id, values)| Completed::find(&command, id, values))
        .collect::<io::Result<Vec<_>>>()?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let file = generate_to(shell, &mut command, name, &generated)?;
        let script = fs::read_to_string(&file)?;
        let script = match shell {
            Shell::Bash => bash(&script, name, &options),
            Shell::Zsh => zsh(&script, &options)?,
            _ => fish(&script, name, &options),
        };
        fs::write(&file, script)?;
        files.push(file);
    }

    let Some(published) = profile_dir(&out_dir).map(|dir| dir.join("completions")) else {
        println!(
            "cargo:warning=unexpected OUT_DIR layout {}; completions stay in {}",
            out_dir.display(),
            generated.display()
        );
        return Ok(());
    };
    fs::create_dir_all(&published)?;
    for file in files {
        if let Some(file_name) = file.file_name() {
            fs::copy(&file, published.join(file_name))?;
        }
    }
    Ok(())
}

/// An option whose values [`generate`] completes, as the shells spell it.
struct Completed<'a> {
    short: Option<char>,
    long: String,
    value_name: String,
    values: Values<'a>,
}

impl<'a> Completed<'a> {
    /// The option `id` of `command`; an error when there is none (a renamed field).
    fn find(command: &clap::Command, id: &str, values: Values<'a>) -> io::Result<Completed<'a>> {
        let arg = command
            .get_arguments()
            .find(|arg| arg.get_id() == id)
            .ok_or_else(|| invalid(format!("no option {id:?} to complete values for")))?;
        Ok(Completed {
            short: arg.get_short(),
            long: arg.get_long().unwrap_or(id).to_owned(),
            value_name: arg
                .get_value_names()
                .and_then(|names| names.first())
                .map_or_else(|| id.to_uppercase(), ToString::to_string),
            values,
        })
    }

    /// The words bash sees before the value: `-i|--interface`.
    fn bash_pattern(&self) -> String {
        match self.short {
            Some(short) => format!("-{short}|--{}", self.long),
            None => format!("--{}", self.long),
        }
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// Bash: a function run before clap's `_<name>` that completes the values of
/// `options` itself, registered in its place with the same options; without
/// `-o default` there, so that no file names are offered instead.
fn bash(script: &str, name: &str, options: &[Completed<'_>]) -> String {
    let function = format!("_{}", name.replace('-', "__"));
    let mut arms = String::new();
    for option in options {
        let body = match option.values {
            Values::Interfaces => "COMPREPLY=($(compgen -W \"$(ls /sys/class/net 2>/dev/null || \
                ifconfig -l 2>/dev/null)\" -- \"${cur}\"))"
                .to_owned(),
            // The words already typed stay as the prefix; only the last one completes.
            Values::CommaList(words) => format!(
                "local typed=\"\"\n            \
                 [[ \"${{cur}}\" == *,* ]] && typed=\"${{cur%,*}},\"\n            \
                 COMPREPLY=($(compgen -P \"${{typed}}\" -W \"{}\" -- \"${{cur##*,}}\"))\n            \
                 compopt -o nospace",
                words.join(" ")
            ),
        };
        arms.push_str(&format!(
            "        {})\n            compopt +o default +o bashdefault\n            {body}\n            return 0\n            ;;\n",
            option.bash_pattern()
        ));
    }
    format!(
        "{script}\n\
         # Values clap's generator cannot know; added by packaging/completions.rs.\n\
         {function}_values() {{\n    \
             local cur=\"${{COMP_WORDS[COMP_CWORD]}}\" prev=\"${{COMP_WORDS[COMP_CWORD-1]}}\"\n    \
             case \"${{prev}}\" in\n{arms}    esac\n    \
             {function} \"$@\"\n\
         }}\n\
         complete -F {function}_values -o bashdefault -o default {name}\n"
    )
}

/// Zsh: the action of each option's value spec, empty in clap's output.
fn zsh(script: &str, options: &[Completed<'_>]) -> io::Result<String> {
    let mut script = script.to_owned();
    for option in options {
        let action = match option.values {
            Values::Interfaces => "_net_interfaces".to_owned(),
            Values::CommaList(words) => format!("_sequence compadd - {}", words.join(" ")),
        };
        let mut specs = vec![format!("--{}=[", option.long)];
        specs.extend(option.short.map(|short| format!("-{short}+[")));
        for spec in specs {
            let line = script
                .lines()
                .find(|line| {
                    line.contains(&spec) && line.ends_with(&format!(":{}:' \\", option.value_name))
                })
                .ok_or_else(|| invalid(format!("no zsh spec {spec:?} to add values to")))?
                .to_owned();
            let completed = line.replace(
                &format!(":{}:' \\", option.value_name),
                &format!(":{}:{action}' \\", option.value_name),
            );
            script = script.replace(&line, &completed);
        }
    }
    Ok(script)
}

/// Fish: one more `complete` line per option, whose values join clap's.
fn fish(script: &str, name: &str, options: &[Completed<'_>]) -> String {
    let mut script = script.to_owned();
    for option in options {
        let values = match option.values {
            Values::Interfaces => "(__fish_print_interfaces)".to_owned(),
            Values::CommaList(words) => format!(
                "(__fish_complete_list , \"string split ' ' '{}'\")",
                words.join(" ")
            ),
        };
        let short = option.short.map(|s| format!(" -s {s}")).unwrap_or_default();
        script.push_str(&format!(
            "complete -c {name}{short} -l {} -x -a '{}'\n",
            option.long,
            values.replace('\'', "\\'")
        ));
    }
    script
}

/// The profile directory, from `OUT_DIR` = `<profile>/build/<package>-<hash>/out`.
fn profile_dir(out_dir: &Path) -> Option<&Path> {
    let build = out_dir.parent()?.parent()?;
    if build.file_name()? != "build" {
        return None;
    }
    build.parent()
}
