//! Who may knock: `Allow_From` and `Deny_From`, per door and as the
//! `[options]` default, for IPv4 and IPv6 knockers.

use integration_tests::{config, door, Net, Packet, Pair, Rig, Scratch, TcpFlag};

#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn allow_from_and_deny_from_decide_who_may_knock() {
    let net = Net::new();
    let scratch = Scratch::new();
    let out = scratch.path("out");
    let (client, other) = (net.client_v4(), net.host_v4(3));
    let (client6, server6) = (net.client_v6(), net.server_v6());
    let subnet = format!("{}/24", net.host_v4(0));
    let subnet6 = format!("{}/64", net.host_v6(0));
    let allow = format!("Allow_From = {subnet}, {subnet6}");
    let deny6 = format!("Deny_From = {client6}");
    let defaults = format!("[options]\n    Deny_From = {other}\n");
    let doors = [
        // Allowed: the client's networks; `other` is denied by [options].
        door("lists", "7000,8000", &out, &[&allow]),
        // Its own Deny_From replaces the [options] one.
        door("nov6", "7100,8100", &out, &[&deny6]),
        // Allowed: an address that never knocks.
        door("elsewhere", "7200,8200", &out, &["Allow_From = 198.19.0.9"]),
    ];
    let conf = format!("{defaults}{}", config(&doors));
    let rig = Rig::start_on(&Pair::ours(), net, scratch, &conf, &["-D"]);
    let server = rig.server_v4();

    rig.knock(&[&server, "7000", "8000"]);
    rig.knock(&[&server6.to_string(), "7000", "8000"]);
    rig.knock(&[&server, "7100", "8100"]);
    rig.knock(&[&server6.to_string(), "7100", "8100"]);
    rig.knock(&[&server, "7200", "8200"]);
    let syn = |port| Packet::tcp(other, rig.net.server_v4(), port, &[TcpFlag::Syn]);
    rig.net.send(&[syn(7000), syn(8000), syn(7100), syn(8100)]);

    rig.sync();
    let mut opened = rig.scratch.lines("out");
    opened.sort();
    let mut expected = vec![
        format!("lists {client}"),
        format!("lists {client6}"),
        format!("nov6 {client}"),
        format!("nov6 {other}"),
    ];
    expected.sort();
    assert_eq!(opened, expected, "{}", rig.daemon.log());
    let refused = |who: &str, door: &str| {
        format!("{who}: {door}: knock ignored, the source is not allowed by Allow_From/Deny_From")
    };
    // Logged once per source a minute, whatever the number of knocks.
    for (who, door) in [
        (client6.to_string(), "nov6"),
        (client.to_string(), "elsewhere"),
        (other.to_string(), "lists"),
    ] {
        let stdout = rig.daemon.stdout();
        assert_eq!(
            stdout.matches(&refused(&who, door)).count(),
            1,
            "{who} on {door}: {stdout}"
        );
    }
}
