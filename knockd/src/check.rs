//! `--check`: validates the configuration, prints each door and the capture
//! filter it compiles to, and exits 0, or 1 when the filter does not compile.

use std::process::ExitCode;
use std::time::Duration;

use knockd_core::filter;

use crate::capture;
use crate::interfaces;
use crate::setup::{filter_doors, Setup};

/// Prints what the daemon would run with `setup`; returns the exit status.
pub fn run(setup: &Setup) -> ExitCode {
    let args = &setup.args;
    let loaded = &setup.loaded;
    let addrs = interfaces::local_addresses(&setup.interface, args.only_ipv4).unwrap_or_default();
    let settings = setup.log_settings(&loaded.config);
    println!("configuration {} is valid", args.config.display());
    println!("interface: {}", setup.interface);
    if let Some(log_file) = &settings.log_file {
        println!("log file: {}", log_file.display());
    }
    if settings.use_syslog {
        println!("syslog: on");
    }
    println!("pid file (with -d): {}", setup.pid_file_path().display());
    println!("state directory: {}", setup.state_dir().display());
    for addr in &addrs {
        println!("local address: {addr}");
    }
    for d in &loaded.doors {
        let door = &d.door;
        println!();
        println!("[{}]", door.name);
        let one_time = d
            .one_time
            .as_ref()
            .and_then(|f| Some((f, f.active_line()?)));
        match (d.active_sequence(), one_time) {
            (Some(seq), None) => println!("  sequence: {seq}"),
            (Some(seq), Some((file, line))) => println!(
                "  sequence: {seq} (line {line} of {}, {} unused)",
                file.path().display(),
                file.remaining()
            ),
            (None, _) => println!("  sequence: none left; the door is disabled"),
        }
        println!("  seq_timeout: {}", seconds(door.seq_timeout));
        if !door.tcp_flags.is_any() {
            println!("  tcpflags: {}", door.tcp_flags);
        }
        if let Some(target) = door.target {
            println!("  target: {target}");
        }
        for (label, command) in door.commands() {
            if let Some(command) = command {
                println!("  {label}: {command}");
            }
        }
        if door.has_stop_command() {
            println!("  cmd_timeout: {}", seconds(door.cmd_timeout));
        }
        if door.refresh {
            println!("  refresh: yes");
        }
        if !door.cooldown.is_zero() {
            println!("  cooldown: {}", seconds(door.cooldown));
        }
        if let Some(max) = door.max_open {
            println!("  max_open: {max}");
        }
    }
    let doors = filter_doors(&loaded.doors);
    let expression = filter::expression(&doors, &addrs, args.only_ipv4);
    println!();
    println!("capture filter: {}", expression.whole);
    match capture::compile_filter(&expression.whole) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("the capture filter does not compile: {e}");
            ExitCode::FAILURE
        }
    }
}

fn seconds(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}
