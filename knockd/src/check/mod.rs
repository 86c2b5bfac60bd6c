//! `--check`: validates the configuration, prints each door and a summary of
//! the capture filter program, and predicts what would go wrong
//! ([`problems`]). Exits 0 when nothing would; 1 when knockd would not
//! start (an invalid configuration, a missing interface, no capture
//! program); 2 when it would start but part of the configuration would not
//! work (a disabled door, a command whose program is missing, a log file it
//! cannot write, no door enabled). Warnings about guessable doors
//! ([`guessable`]) and doors open to many hosts ([`prefixes`]) leave the
//! exit status alone.

mod guessable;
mod listening;
mod prefixes;
mod problems;

use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

use knock_proto::Sequence;
use knockd_core::config::settings::Setting;
use knockd_core::config::LogFormat;
use knockd_core::doors::RuntimeDoor;
use knockd_core::filter;
use knockd_core::sources::list_text;
use knockd_core::wire::LinkType;

use crate::capture;
use crate::interfaces;
use crate::log::LogSettings;
use crate::privsep::{self, ChosenAccount};
use crate::setup::Setup;
use crate::step_windows::unix_now;
use problems::Severity;

/// Prints what the daemon would run with `setup`; returns the exit status.
pub fn run(setup: &Setup) -> ExitCode {
    let addrs = interfaces::addresses_of_all(&setup.interfaces, setup.args.only_ipv4);
    let settings = setup.log_settings(&setup.loaded.config);
    print_overview(setup, &settings, &addrs);
    for door in &setup.loaded.doors {
        print_door(door);
    }
    let worst = print_warnings_and_problems(setup, &settings);
    capture_filter(setup, addrs, worst)
}

/// The lines before the doors: the configuration file, the interfaces, the
/// log sinks, the files knockd would use and the local addresses.
fn print_overview(setup: &Setup, settings: &LogSettings, addrs: &[IpAddr]) {
    println!("configuration {} is valid", setup.args.config.display());
    if setup.interface_from_default_route {
        println!(
            "interface: {} (the default route's: no interface is configured and there is no eth0)",
            setup.interface_list()
        );
    } else {
        for interface in &setup.interfaces {
            println!("interface: {interface}");
        }
    }
    if let Some(log_file) = &settings.log_file {
        println!("log file: {}", log_file.display());
    }
    if settings.use_syslog {
        println!("syslog: on");
    }
    if settings.format != LogFormat::Text {
        println!("log format: {}", settings.format.name());
    }
    println!("pid file (with -d): {}", setup.pid_file_path().display());
    println!("state directory: {}", setup.state_dir().display());
    println!("control socket: {}", setup.control_socket().display());
    print_privsep(setup);
    for addr in addrs {
        println!("local address: {addr}");
    }
    if addrs.is_empty() {
        println!(
            "local address: none yet (only doors with a Target can be knocked until one comes)"
        );
    }
}

/// A door's section: its settings in [`knockd_core::Door::settings`]' order,
/// except the target, which `--check` shows after the TCP flags.
fn print_door(d: &RuntimeDoor) {
    let door = &d.door;
    println!();
    println!("[{}]", door.name);
    let mut target = None;
    for each in door.settings() {
        let name = each.name();
        match each {
            Setting::Target(address) => target = Some(address),
            Setting::Sequence(_) => print_sequence(d),
            Setting::SeqTimeout(timeout) => println!("  {name}: {}", seconds(timeout)),
            Setting::TcpFlags(flags) => {
                if !flags.is_any() {
                    println!("  {name}: {flags}");
                }
                if let Some(target) = target.take() {
                    println!("  target: {target}");
                }
            }
            Setting::Command(_, command) | Setting::NftSet(command) => {
                println!("  {name}: {command}")
            }
            Setting::CmdTimeout(timeout) => {
                if door.has_stop_command() {
                    println!("  {name}: {}", seconds(timeout));
                } else if door.nft_set.is_some() {
                    // The element's timeout in the kernel.
                    println!("  open_for: {}", seconds(timeout));
                }
            }
            Setting::Cooldown(cooldown) => println!("  {name}: {}", seconds(cooldown)),
            Setting::MaxOpen(max) => println!("  {name}: {max}"),
            Setting::OpenPrefix4(_) => println!("  {name}: {}", prefixes::example(door, false)),
            Setting::OpenPrefix6(_) => println!("  {name}: {}", prefixes::example(door, true)),
            Setting::Refresh | Setting::AllowRepeats | Setting::Strict => {
                println!("  {name}: yes");
            }
            Setting::AllowFrom(list) | Setting::DenyFrom(list) => {
                println!("  {name}: {}", list_text(list));
            }
        }
    }
}

/// The sequence the door would take now (a rotating door's current one, a
/// one-time door's next unused line), and how hard it is to guess.
fn print_sequence(d: &RuntimeDoor) {
    let one_time = d
        .one_time
        .as_ref()
        .and_then(|f| Some((f, f.active_line()?)));
    match (d.active_sequence(), one_time, &d.rotating) {
        (_, _, Some(r)) => {
            let rotation = &r.rotation;
            println!(
                "  sequence: rotating, step {} s, {} {} knocks from {}, skew {} (now: {})",
                rotation.step(),
                rotation.length(),
                rotation.protocol(),
                rotation.range(),
                rotation.skew(),
                r.sequence_at(unix_now())
            );
        }
        (Some(seq), None, None) => println!("  sequence: {seq}"),
        (Some(seq), Some((file, line)), None) => println!(
            "  sequence: {seq} (line {line} of {}, {} unused)",
            file.path().display(),
            file.remaining()
        ),
        (None, _, None) => println!("  sequence: none left; the door is disabled"),
    }
    if let Some(space) = guessable::guessing_space(d) {
        println!("  guessing space: {space}");
    }
}

/// Prints the configuration's warnings, the guessable doors and the
/// predicted problems on stderr; returns the worst problem's severity.
fn print_warnings_and_problems(setup: &Setup, settings: &LogSettings) -> Option<Severity> {
    let loaded = &setup.loaded;
    for warning in &loaded.config.warnings {
        eprintln!("warning: {warning}");
    }
    for warning in guessable::warnings(&loaded.doors, &listening::read()) {
        eprintln!("warning: {warning}");
    }
    for warning in prefixes::warnings(loaded.doors.iter().map(|d| &d.door)) {
        eprintln!("warning: {warning}");
    }
    if let Some(warning) = spent_steps_in_memory(setup) {
        eprintln!("warning: {warning}");
    }
    let mut problems = problems::predict(setup, settings.log_file.as_deref());
    let doors: Vec<_> = loaded.doors.iter().map(|d| &d.door).collect();
    let nft = crate::nft::check(loaded.config.options.nft_table.as_ref(), &doors);
    for note in &nft.notes {
        println!("nftables: {note}");
    }
    for warning in &nft.warnings {
        eprintln!("warning: {warning}");
    }
    problems.extend(nft.problems.into_iter().map(|message| problems::Problem {
        severity: Severity::Degraded,
        message,
    }));
    for problem in &problems {
        eprintln!("{problem}");
    }
    problems.iter().map(|p| p.severity).max()
}

/// Which account the watcher would take (a user that cannot be found is
/// one of [`problems::predict`]'s).
fn print_privsep(setup: &Setup) {
    if !privsep::AVAILABLE {
        println!("privilege separation: off (not on this system: one process)");
        return;
    }
    if !setup.privsep() {
        println!("privilege separation: off (Privsep = no or --no-privsep: one process)");
        return;
    }
    match privsep::choose_account(setup.watcher_user()) {
        Ok(ChosenAccount {
            account: Some(account),
            fell_back,
        }) => println!(
            "privilege separation: the watcher would run as {} (uid {}){}",
            account.name,
            account.uid,
            if fell_back {
                ", as user knockd does not exist"
            } else {
                ""
            }
        ),
        Ok(ChosenAccount { account: None, .. }) => println!(
            "privilege separation: the watcher would keep this account (knockd is not run as \
             root), without capabilities"
        ),
        Err(_) => {}
    }
}

/// With rotating doors and a state directory knockd could not use: their
/// spent steps would be kept in memory only, so a knock replayed after a
/// restart would open again.
fn spent_steps_in_memory(setup: &Setup) -> Option<String> {
    let rotating = setup
        .loaded
        .doors
        .iter()
        .filter(|d| d.rotating.is_some())
        .count();
    if rotating == 0 {
        return None;
    }
    let dir = setup.state_dir();
    let error = problems::unusable_state_dir(&dir)?;
    Some(format!(
        "state directory {}: {}: {rotating} {}",
        dir.display(),
        knock_proto::io_message(&error),
        crate::spent_steps::IN_MEMORY_ONLY
    ))
}

/// The filter as a libpcap expression in 0.8's form (what -D's `adding
/// pcap expression` lines show), unless it is huge; then the program for
/// an Ethernet link (the interface is not opened), within what this
/// kernel takes: its size and each group of doors it tests; with -D also
/// the instructions. Returns the exit status: the worst problem's, or
/// failure when the filter cannot be built.
fn capture_filter(setup: &Setup, addrs: Vec<IpAddr>, worst: Option<Severity>) -> ExitCode {
    let args = &setup.args;
    let loaded = &setup.loaded;
    let windows: Vec<Vec<Sequence>> = loaded
        .doors
        .iter()
        .map(|d| {
            d.rotating.as_ref().map_or_else(Vec::new, |r| {
                r.window(unix_now(), |_| false, |_| None)
                    .into_iter()
                    .map(|(_, sequence)| sequence)
                    .collect()
            })
        })
        .collect();
    let steps = |index: usize| {
        windows
            .get(index)
            .map_or_else(Vec::new, |w| w.iter().collect())
    };
    let doors = filter::filter_doors(&loaded.doors, steps);
    let per_door = filter::door_expressions(&doors, &addrs, args.only_ipv4);
    let text_len: usize = per_door.iter().map(|d| d.expression.len() + 4).sum();
    println!();
    if per_door.is_empty() {
        println!("capture filter: {}", filter::MATCH_NOTHING);
    } else if text_len <= EXPRESSION_SHOWN_UP_TO {
        let texts: Vec<&str> = per_door.iter().map(|d| d.expression.as_str()).collect();
        println!("capture filter: {}", texts.join(" or "));
    } else {
        println!(
            "capture filter: {} door expressions, {text_len} characters (-D prints them)",
            per_door.len()
        );
    }
    let program = filter::fit_program(
        &doors,
        &addrs,
        args.only_ipv4,
        LinkType::Ethernet,
        capture::kernel_budget(),
        capture::kernel_takes,
        |_, _| {},
    );
    match program {
        Ok(program) => {
            println!("capture program: {}", program.headline());
            for line in program.group_lines(FILTER_PORTS_SHOWN) {
                println!("  {line}");
            }
            if args.debug {
                print!("{}", program.listing());
            }
            match worst {
                None => ExitCode::SUCCESS,
                Some(Severity::Fatal) => ExitCode::FAILURE,
                Some(Severity::Degraded) => ExitCode::from(2),
            }
        }
        Err(e) => {
            eprintln!("the capture filter cannot be built: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The longest expression `--check` prints (about a hundred doors).
const EXPRESSION_SHOWN_UP_TO: usize = 16 * 1024;
/// Ports shown per group of doors in the capture program's summary.
const FILTER_PORTS_SHOWN: usize = 16;

fn seconds(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}
