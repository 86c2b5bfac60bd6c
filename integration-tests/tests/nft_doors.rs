//! `Nft_Set` doors end to end, on the real kernel's nftables in the test's
//! namespaces: knockd adds the knocker to a set with a timeout over netlink
//! and the kernel removes it.
//!
//! | case                                         | outcome                                                 |
//! |----------------------------------------------|---------------------------------------------------------|
//! | no table                                     | knockd creates `inet knockd` and its sets at start      |
//! | knock, then connect through the admin's rule | the knocker gets in, another address does not           |
//! | `Open_For` runs out, knockd running          | the kernel drops the element; the port is shut again    |
//! | knockd SIGKILLed                             | the kernel drops the element all the same               |
//! | `Refresh = yes`, knocked again               | one batch re-arms the element: it outlives the first    |
//! | IPv6 knocker                                 | the element goes in `<set>_v6`                          |
//! | a set of another type already there          | refused with the reason; once the set is gone, it opens |
//! | `knockd status --json`                       | the kernel's element and time left                      |
//! | `knockd close DOOR IP`                       | the element is deleted                                  |
//! | `knockd --check`                             | would create the sets; warns that no rule looks one up  |
//! | SIGHUP with a second `Nft_Set` door          | its sets are created; the first door's element stays    |
//! | `--no-privsep`                               | the one process opens the door the same way             |
//! | `Max_Open = 1`, a second knocker             | refused: the kernel holds one element of the door       |
//! | `Open_Prefix4 = 24`                          | an interval set holds the /24: another address gets in  |

use std::process::Command;
use std::time::{Duration, Instant};

use integration_tests::{
    config, require_tools, run_bounded, wait_until, Net, Pair, Rig, Scratch, WAIT,
};
use nix::sys::signal::Signal;

/// A door `ssh` (7000,8000) adding knockers to `ssh_v4`/`ssh_v6` for `open_for` s.
fn nft_door(open_for: u32, extra: &[&str]) -> String {
    let mut text =
        format!("[ssh]\n    sequence = 7000,8000\n    nft_set = ssh\n    open_for = {open_for}\n");
    for line in extra {
        text.push_str(&format!("    {line}\n"));
    }
    text + "\n"
}

/// knockd with one [`nft_door`] (and `args`), once it has created the door's sets.
fn start(open_for: u32, extra: &[&str], args: &[&str]) -> Rig {
    require_tools(&["nft", "nc"]);
    let doors = [nft_door(open_for, extra)];
    let rig = Rig::start(&Pair::ours(), Scratch::new(), &config(&doors), args);
    wait_for_set(&rig, "ssh_v4");
    wait_for_set(&rig, "ssh_v6");
    rig
}

/// The administrator's rule: only the addresses of `ssh_v4` reach port 2222.
fn accept_2222(rig: &Rig) {
    let rules = rig.scratch.write(
        "rules.nft",
        "table inet knockd {\n  chain input {\n    type filter hook input priority 0;\n    \
         tcp dport 2222 ip saddr @ssh_v4 accept\n    tcp dport 2222 drop\n  }\n}\n",
    );
    let loaded = nft_in(&rig.net, &["-f", &rules.to_string_lossy()]);
    assert!(loaded.status.success(), "{loaded:?}");
}

fn nft_in(net: &Net, args: &[&str]) -> std::process::Output {
    run_bounded(
        Command::new("ip")
            .args(["netns", "exec", net.server_ns(), "nft"])
            .args(args),
        WAIT,
    )
}

/// `nft list set inet knockd <set>`, or "" when it does not exist.
fn set_text(rig: &Rig, set: &str) -> String {
    let out = nft_in(&rig.net, &["list", "set", "inet", "knockd", set]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits until `set` exists (knockd created it) and returns its listing.
fn wait_for_set(rig: &Rig, set: &str) -> String {
    wait_until(WAIT, || Some(set_text(rig, set)).filter(|t| !t.is_empty()))
        .unwrap_or_else(|| panic!("knockd did not create {set}: {}", rig.daemon.log()))
}

fn holds(rig: &Rig, set: &str, addr: &str) -> bool {
    set_text(rig, set).contains(&format!("{addr} "))
        || set_text(rig, set).contains(&format!("{addr}\n"))
}

/// Waits until the kernel no longer holds `addr` in `set`; returns when.
fn wait_gone(rig: &Rig, set: &str, addr: &str, within: Duration) -> Instant {
    wait_until(within, || (!holds(rig, set, addr)).then(Instant::now))
        .unwrap_or_else(|| panic!("{addr} still in {set}: {}", set_text(rig, set)))
}

fn knock_v4(rig: &Rig) -> String {
    rig.knock(&[&rig.server_v4(), "7000", "8000"]);
    let client = rig.net.client_v4().to_string();
    wait_until(WAIT, || holds(rig, "ssh_v4", &client).then_some(()))
        .unwrap_or_else(|| panic!("not added: {}", rig.daemon.log()));
    client
}

/// Whether a TCP connection from `from` to the server's port 2222 succeeds.
fn connects(rig: &Rig, from: &str) -> bool {
    let server = (rig.net.server_v4(), 2222).into();
    rig.net.client_connects(server, from.parse().ok(), 1)
}

fn listen_2222(rig: &Rig) -> std::net::TcpListener {
    rig.net.listen_in_server((rig.net.server_v4(), 2222).into())
}

#[test]
#[ignore = "needs root, network namespaces and nft: run as root with --ignored"]
fn the_door_opens_for_the_knocker_only_and_the_kernel_closes_it_on_time() {
    let rig = start(3, &[], &[]);
    // No table existed: knockd made it, with both sets.
    let listing = wait_for_set(&rig, "ssh_v4");
    assert!(listing.contains("type ipv4_addr") && listing.contains("flags timeout"));
    assert!(wait_for_set(&rig, "ssh_v6").contains("type ipv6_addr"));
    rig.daemon.expect_log("created nft set inet knockd ssh_v4");
    accept_2222(&rig);
    let _service = listen_2222(&rig);
    let client = rig.net.client_v4().to_string();
    let other = rig.net.add_client_v4(50).to_string();
    assert!(!connects(&rig, &client), "shut before the knock");

    let knocked = Instant::now();
    knock_v4(&rig);
    rig.assert_opened("ssh", 1);
    rig.daemon.expect_log(&format!(
        "{client}: ssh: added to nft set inet knockd ssh_v4 for 3 s"
    ));
    assert!(connects(&rig, &client), "the knocker gets in");
    assert!(!connects(&rig, &other), "another address does not");
    assert!(!holds(&rig, "ssh_v4", &other));

    let gone = wait_gone(&rig, "ssh_v4", &client, Duration::from_secs(8));
    let open = gone - knocked;
    assert!(open >= Duration::from_millis(2500), "closed after {open:?}");
    assert!(!connects(&rig, &client), "shut again after Open_For");
    assert!(rig.daemon.is_alive());
}

#[test]
#[ignore = "needs root, network namespaces and nft: run as root with --ignored"]
fn a_sigkilled_knockd_leaves_nothing_open() {
    let mut rig = start(3, &[], &[]);
    let client = knock_v4(&rig);
    rig.daemon.signal(Signal::SIGKILL);
    rig.daemon.wait_exit();
    wait_gone(&rig, "ssh_v4", &client, Duration::from_secs(8));
}

#[test]
#[ignore = "needs root, network namespaces and nft: run as root with --ignored"]
fn refresh_rearms_the_element_in_the_kernel() {
    let rig = start(4, &["refresh = yes"], &[]);
    let first = Instant::now();
    let client = knock_v4(&rig);
    std::thread::sleep(Duration::from_millis(2500));
    rig.knock(&[&rig.server_v4(), "7000", "8000"]);
    rig.daemon.expect_log(&format!(
        "{client}: ssh: nft set inet knockd ssh_v4: element re-armed for 4 s"
    ));
    // Past the first knock's 4 s, the re-armed element is still there.
    std::thread::sleep(
        (first + Duration::from_millis(4800)).saturating_duration_since(Instant::now()),
    );
    assert!(
        holds(&rig, "ssh_v4", &client),
        "{}",
        set_text(&rig, "ssh_v4")
    );
    wait_gone(&rig, "ssh_v4", &client, Duration::from_secs(8));
}

#[test]
#[ignore = "needs root, network namespaces and nft: run as root with --ignored"]
fn an_ipv6_knocker_goes_in_the_v6_set() {
    let rig = start(5, &[], &[]);
    rig.knock(&["-6", &rig.server_v6(), "7000", "8000"]);
    let client = rig.net.client_v6().to_string();
    wait_until(WAIT, || holds(&rig, "ssh_v6", &client).then_some(()))
        .unwrap_or_else(|| panic!("not added: {}", rig.daemon.log()));
    assert!(!set_text(&rig, "ssh_v4").contains("elements"));
}

#[test]
#[ignore = "needs root, network namespaces and nft: run as root with --ignored"]
fn a_set_of_another_type_is_refused_with_the_reason() {
    require_tools(&["nft"]);
    let net = Net::new();
    let scratch = Scratch::new();
    let ruleset = scratch.write(
        "taken.nft",
        "table inet knockd {\n  set ssh_v4 { type inet_service; flags timeout; }\n}\n",
    );
    let loaded = nft_in(&net, &["-f", &ruleset.to_string_lossy()]);
    assert!(loaded.status.success(), "{loaded:?}");
    let rig = Rig::start_on(
        &Pair::ours(),
        net,
        scratch,
        &config(&[nft_door(5, &[])]),
        &[],
    );
    rig.daemon.expect_log(
        "ssh: error: set ssh_v4 in table inet knockd exists but has another key type; \
         knockd needs `set ssh_v4 { type ipv4_addr; flags timeout; }`",
    );
    rig.knock(&[&rig.server_v4(), "7000", "8000"]);
    let client = rig.net.client_v4();
    rig.daemon.expect_log(&format!(
        "{client}: ssh: error: the door did not open: set ssh_v4"
    ));
    assert!(!set_text(&rig, "ssh_v4").contains(&client.to_string()));
    // Fixed by the administrator (the set removed): the next knock
    // creates the right set and opens, with no reload.
    let removed = nft_in(&rig.net, &["delete", "set", "inet", "knockd", "ssh_v4"]);
    assert!(removed.status.success(), "{removed:?}");
    knock_v4(&rig);
    assert!(set_text(&rig, "ssh_v4").contains("type ipv4_addr"));
}

#[test]
#[ignore = "needs root, network namespaces and nft: run as root with --ignored"]
fn status_shows_the_kernels_element_and_close_deletes_it() {
    let rig = start(30, &[], &[]);
    let client = knock_v4(&rig);
    let status = rig.control(&["status", "--json"]);
    assert!(status.status.success(), "{status:?}");
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let door = &json["doors"][0];
    assert_eq!(door["name"], "ssh");
    let open = &door["open"][0];
    assert_eq!(open["source"], client.as_str());
    assert_eq!(open["nft_set"], "inet knockd ssh_v4");
    let left = open["closes_in_seconds"].as_f64().unwrap();
    assert!(left > 20.0 && left <= 30.0, "{left}");
    // The kernel's truth: an element deleted behind knockd's back is gone
    // from the status too.
    let closed = rig.control(&["close", "ssh", &client]);
    assert!(closed.status.success(), "{closed:?}");
    wait_gone(&rig, "ssh_v4", &client, WAIT);
    let status = rig.control(&["status", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(json["doors"][0]["open"], serde_json::json!([]));
}

#[test]
#[ignore = "needs root, network namespaces and nft: run as root with --ignored"]
fn check_says_it_would_create_the_sets_and_warns_about_an_unreferenced_one() {
    require_tools(&["nft"]);
    let net = Net::new();
    let scratch = Scratch::new();
    let conf = scratch.write("knockd.conf", &config(&[nft_door(5, &[])]));
    let out = run_bounded(
        Command::new("ip")
            .args(["netns", "exec", net.server_ns()])
            .arg(&Pair::ours().knockd)
            .args(["--check", "-i", net.server_iface(), "-c"])
            .arg(&conf),
        WAIT,
    );
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        stdout.contains("  nft_set: ssh\n  open_for: 5s\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "nftables: would create `set ssh_v4 { type ipv4_addr; flags timeout; }` in table inet knockd"
        ),
        "{stdout}"
    );
    assert!(
        stderr.contains("warning: no rule of table inet knockd looks up set ssh_v6"),
        "{stderr}"
    );
    // --check changed nothing.
    assert!(!nft_in(&net, &["list", "table", "inet", "knockd"])
        .status
        .success());
}

#[test]
#[ignore = "needs root, network namespaces and nft: run as root with --ignored"]
fn a_reload_creates_new_sets_and_keeps_open_elements() {
    let rig = start(30, &[], &[]);
    let client = knock_v4(&rig);
    let web = "[web]\n    sequence = 9100,9200\n    nft_set = web\n    open_for = 30\n\n";
    std::fs::write(
        rig.config_path(),
        config(&[nft_door(30, &[]), web.to_owned()]),
    )
    .unwrap();
    rig.daemon.signal(Signal::SIGHUP);
    assert!(wait_for_set(&rig, "web_v4").contains("flags timeout"));
    assert!(
        holds(&rig, "ssh_v4", &client),
        "{}",
        set_text(&rig, "ssh_v4")
    );
    rig.knock(&[&rig.server_v4(), "9100", "9200"]);
    wait_until(WAIT, || holds(&rig, "web_v4", &client).then_some(()))
        .unwrap_or_else(|| panic!("not added after the reload: {}", rig.daemon.log()));
}

#[test]
#[ignore = "needs root, network namespaces and nft: run as root with --ignored"]
fn one_process_without_privilege_separation_opens_it_too() {
    let rig = start(30, &[], &["--no-privsep"]);
    let client = knock_v4(&rig);
    rig.daemon.expect_log(&format!(
        "{client}: ssh: added to nft set inet knockd ssh_v4 for 30 s"
    ));
}

#[test]
#[ignore = "needs root, network namespaces and nft: run as root with --ignored"]
fn max_open_counts_the_elements_the_kernel_holds() {
    let rig = start(30, &["max_open = 1"], &[]);
    knock_v4(&rig);
    rig.knock(&["-6", &rig.server_v6(), "7000", "8000"]);
    let second = rig.net.client_v6();
    rig.daemon.expect_log(&format!(
        "{second}: ssh: OPEN SESAME refused: the door is open for 1 knocker(s) already (Max_Open)"
    ));
    assert!(!set_text(&rig, "ssh_v6").contains(&second.to_string()));
}

#[test]
#[ignore = "needs root, network namespaces and nft: run as root with --ignored"]
fn a_prefix_door_adds_the_knockers_network_to_an_interval_set() {
    let rig = start(30, &["open_prefix4 = 24"], &[]);
    let listing = wait_for_set(&rig, "ssh_v4");
    assert!(listing.contains("flags interval,timeout"), "{listing}");
    // The v6 set has no prefix: a plain timeout set.
    assert!(!wait_for_set(&rig, "ssh_v6").contains("interval"));
    accept_2222(&rig);
    let _service = listen_2222(&rig);
    let roaming = rig.net.add_client_v4(50).to_string();
    assert!(!connects(&rig, &roaming), "shut before the knock");

    rig.knock(&[&rig.server_v4(), "7000", "8000"]);
    let network = format!("{}/24", rig.net.host_v4(0));
    wait_until(WAIT, || holds(&rig, "ssh_v4", &network).then_some(()))
        .unwrap_or_else(|| panic!("not added: {}", set_text(&rig, "ssh_v4")));
    assert!(
        connects(&rig, &roaming),
        "another address of the /24 gets in"
    );
    let status = rig.control(&["status", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(json["doors"][0]["open"][0]["network"], network.as_str());
    // Any address of the network names it for knockd close.
    let closed = rig.control(&["close", "ssh", &roaming]);
    assert!(closed.status.success(), "{closed:?}");
    wait_gone(&rig, "ssh_v4", &network, WAIT);
    assert!(!connects(&rig, &roaming), "shut again after knockd close");
}
