//! Shell completions for a build script: bash, zsh and fish, generated from
//! the program's own clap definition so they can never disagree with it.
//!
//! Shared by `knockd/build.rs` and `knock/build.rs` through `#[path]`.
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

/// Writes `name`'s completions for every supported shell and tells Cargo
/// which inputs should re-run the build script.
pub fn generate(mut command: clap::Command, name: &str) -> io::Result<()> {
    println!("cargo:rerun-if-changed=src/cli.rs");
    println!("cargo:rerun-if-changed=../packaging/completions.rs");
    let out_dir = PathBuf::from(
        env::var_os("OUT_DIR")
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "OUT_DIR is not set"))?,
    );
    let generated = out_dir.join("completions");
    fs::create_dir_all(&generated)?;
    let mut files = Vec::new();
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        files.push(generate_to(shell, &mut command, name, &generated)?);
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

/// The profile directory, from `OUT_DIR` = `<profile>/build/<package>-<hash>/out`.
fn profile_dir(out_dir: &Path) -> Option<&Path> {
    let build = out_dir.parent()?.parent()?;
    if build.file_name()? != "build" {
        return None;
    }
    build.parent()
}
