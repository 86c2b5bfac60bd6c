use super::*;

const SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

fn uri(host: &str, door: &[u8]) -> KnockUri {
    let rotation = Rotation::new(
        30,
        PortRange::new(20000, 60000).unwrap(),
        4,
        RotatingProtocol::Tcp,
        1,
    )
    .unwrap();
    let key = crate::base32::decode(SECRET).unwrap();
    KnockUri::new(host, Label::new(door).unwrap(), &key, rotation).unwrap()
}

/// `text` with its check value computed again, as a careful forger would.
fn rechecked(text: &str) -> String {
    let (covered, _) = text.rsplit_once("&check=").unwrap();
    format!("{covered}&check={}", check_value(covered))
}

fn refused(text: &str) -> String {
    KnockUri::parse(text).unwrap_err().to_string()
}

#[test]
fn a_uri_reads_back_whole() {
    let u = uri("knock.example.net", b"openSSH");
    let text = u.to_string();
    assert!(
        text.starts_with(
            "knock://knock.example.net/openSSH?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &step=30&range=20000-60000&length=4&protocol=tcp&v=1&check="
        ),
        "{text}"
    );
    assert_eq!(KnockUri::parse(&text).unwrap(), u);
}

#[test]
fn odd_door_names_are_escaped_as_bytes_and_read_back() {
    for door in [
        "Grüße".as_bytes(),
        b"open SSH/2",
        b"a%b&c=d?e#f",
        b"[x]",
        b"\x00\xff\n",
        b"-._~",
        &[b'z'; 255],
    ] {
        let u = uri("198.18.0.1", door);
        let text = u.to_string();
        let path = text.split('/').nth(3).unwrap().split('?').next().unwrap();
        assert!(
            path.bytes().all(|b| is_unreserved(b) || b == b'%'),
            "{text}"
        );
        assert_eq!(KnockUri::parse(&text).unwrap().label().as_bytes(), door);
    }
    assert!(uri("h", "Grüße".as_bytes())
        .to_string()
        .contains("/Gr%C3%BC%C3%9Fe?"));
    // Lower-case escapes read the same (but change the check value).
    let text = rechecked(
        &uri("h", "ü".as_bytes())
            .to_string()
            .replace("%C3%BC", "%c3%bc"),
    );
    assert_eq!(
        KnockUri::parse(&text).unwrap().label().as_bytes(),
        "ü".as_bytes()
    );
}

#[test]
fn ipv6_hosts_go_in_brackets() {
    let u = uri("2001:DB8::1", b"d");
    assert_eq!(u.host(), "2001:db8::1");
    let text = u.to_string();
    assert!(text.starts_with("knock://[2001:db8::1]/d?"), "{text}");
    assert_eq!(KnockUri::parse(&text).unwrap().host(), "2001:db8::1");
}

#[test]
fn a_changed_character_anywhere_is_caught_by_the_check() {
    let text = uri("knock.example.net", b"openSSH").to_string();
    for (index, c) in text.char_indices() {
        if index < "knock://".len() {
            continue;
        }
        let replacement = if c == '2' { '3' } else { '2' };
        let mut changed = text.clone();
        changed.replace_range(index..index + 1, &replacement.to_string());
        assert!(KnockUri::parse(&changed).is_err(), "{changed}");
    }
    let secret_typo = text.replacen("GEZDG", "GEZDH", 1);
    assert_eq!(
        refused(&secret_typo),
        "the URI's check value does not match the rest of it: it was mistyped, cut short or \
         altered; copy it again exactly as knockd secret new or show printed it"
    );
    assert!(refused(&text[..text.len() - 1]).contains("check value does not match"));
}

#[test]
fn parameters_unknown_repeated_missing_or_misplaced_are_named() {
    let text = uri("h", b"d").to_string();
    let cases = [
        (text.replace("&v=1", "&v=1&x=2"), "unknown parameter 'x'"),
        (
            text.replace("&v=1", "&v=1&step=30"),
            "parameter 'step' is given twice",
        ),
        (
            text.replace("&step=30&range=20000-60000", ""),
            "lacks parameters step, range",
        ),
        (text.replace("&length=4", ""), "lacks parameter length:"),
        (text.replace("&v=1", "&v=2"), "version v=2"),
        (text.replace("?", "?secret=&"), "given twice"),
    ];
    for (bad, expected) in cases {
        let message = refused(&rechecked(&bad));
        assert!(message.contains(expected), "{bad}: {message}");
        assert!(!message.contains(SECRET), "{message}");
    }
    let late = text.replace("&v=1", "") + "&v=1";
    assert!(refused(&late).contains("'check' must come last"));
}

#[test]
fn inconsistent_or_bad_values_are_refused_even_with_a_good_check() {
    let text = uri("h", b"d").to_string();
    let cases = [
        (
            text.replace("length=4", "length=40"),
            "length 40 is out of range",
        ),
        (
            text.replace("range=20000-60000", "range=6-5"),
            "range='6-5' is not LO-HI",
        ),
        (text.replace("step=30", "step=0"), "step of 0 seconds"),
        (
            text.replace("step=30", "step=+3"),
            "step='+3' is not a whole number",
        ),
        (
            text.replace("protocol=tcp", "protocol=sctp"),
            "protocol='sctp'",
        ),
        (
            text.replace(SECRET, "GEZDGNBVGY3TQOJQ"),
            "the secret is 10 bytes long",
        ),
        (
            text.replace(SECRET, "GEZDGNBVGY3TQOJ1GEZDGNBVGY3TQOJQ"),
            "character 16 of the secret",
        ),
        (
            text.replace(SECRET, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ=="),
            "character 33 of the secret",
        ),
    ];
    for (bad, expected) in cases {
        let message = refused(&rechecked(&bad));
        assert!(message.contains(expected), "{bad}: {message}");
        assert!(!message.contains("GEZDG"), "{message}");
    }
}

#[test]
fn bad_structure_is_explained() {
    let text = uri("h", b"d").to_string();
    let cases = [
        ("https://h/d?v=1", "must begin with knock://"),
        ("knock://h?v=1", "names no door"),
        ("knock://h/d", "has no parameters"),
        ("knock://u@h/d?v=1", "no user@ part"),
        ("knock://h:22/d?v=1", "has no port"),
        ("knock://[::1/d?v=1", "in brackets"),
        ("knock://[fe80::1%25eth0]/d?v=1", "not an IPv6 address"),
        ("knock://h!/d?v=1", "host 'h!'"),
        ("knock://h/a/b?v=1", "'/') must be written %2F"),
        ("knock://h/a%4?v=1", "two hex digits"),
        ("knock://h/?v=1", "0 bytes long"),
        ("knock://h/d?v=1#x", "#fragment"),
        ("knock://h/d ?v=1", "character 12 of the URI is a blank"),
        ("knock://h/dü?v=1", "not ASCII"),
    ];
    for (bad, expected) in cases {
        let message = refused(bad);
        assert!(message.contains(expected), "{bad}: {message}");
    }
    assert!(refused(&"x".repeat(KnockUri::MAX_LEN + 1)).contains("4097 bytes long"));
    // The scheme is case-insensitive, as RFC 3986 says.
    let upper = rechecked(&text.replacen("knock://", "KNOCK://", 1));
    assert!(KnockUri::parse(&upper).is_ok());
}

#[test]
fn debug_never_shows_the_key() {
    let shown = format!("{:?}", uri("h", b"d"));
    assert!(shown.contains("20 bytes"), "{shown}");
    assert!(
        !shown.contains("GEZDG") && !shown.contains("49, 50"),
        "{shown}"
    );
}

#[test]
fn new_refuses_hosts_a_uri_cannot_carry_and_short_keys() {
    let label = Label::new(b"d").unwrap();
    let r = Rotation::default();
    for host in ["", "a b", "ü.example", "h:22", "u@h"] {
        assert!(
            KnockUri::new(host, label.clone(), &[1; 16], r).is_err(),
            "{host}"
        );
    }
    let short = KnockUri::new("h", label, &[1; 15], r).unwrap_err();
    assert!(short.to_string().contains("15 bytes"), "{short}");
}

/// The published vectors, `docs/knock-uri-vectors.json`.
#[test]
fn every_published_uri_vector_holds() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/knock-uri-vectors.json"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let valid = json["valid"].as_array().unwrap();
    assert!(valid.len() >= 5);
    for v in valid {
        let text = v["uri"].as_str().unwrap();
        let parsed = KnockUri::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let label = hex(v["door_hex"].as_str().unwrap());
        let key = crate::base32::decode(v["secret"].as_str().unwrap()).unwrap();
        let rotation = Rotation::new(
            v["step"].as_u64().unwrap(),
            v["range"].as_str().unwrap().parse().unwrap(),
            v["length"].as_u64().unwrap() as usize,
            v["protocol"].as_str().unwrap().parse().unwrap(),
            1,
        )
        .unwrap();
        let built = KnockUri::new(
            v["host"].as_str().unwrap(),
            Label::new(&label).unwrap(),
            &key,
            rotation,
        )
        .unwrap();
        assert_eq!(parsed, built, "{text}");
        assert_eq!(built.to_string(), text);
    }
    let invalid = json["invalid"].as_array().unwrap();
    assert!(invalid.len() >= 5);
    for v in invalid {
        let text = v["uri"].as_str().unwrap();
        let message = refused(text);
        let expected = v["error"].as_str().unwrap();
        assert!(message.contains(expected), "{text}: {message}");
    }
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}
