use super::*;
use proptest::prelude::*;

/// The published vectors, as `docs/rotating-vectors.json` holds them.
struct Vector {
    secret: String,
    label: String,
    rotation: Rotation,
    t: u64,
    sequence: String,
}

fn vectors() -> Vec<Vector> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/rotating-vectors.json");
    let text = std::fs::read_to_string(path).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["derivation"], "knock-rotating-v1");
    json["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| Vector {
            secret: v["secret"].as_str().unwrap().to_owned(),
            label: v["label"].as_str().unwrap().to_owned(),
            rotation: Rotation::new(
                v["step"].as_u64().unwrap(),
                v["range"].as_str().unwrap().parse().unwrap(),
                v["length"].as_u64().unwrap() as usize,
                v["protocol"].as_str().unwrap().parse().unwrap(),
                1,
            )
            .unwrap(),
            t: v["t"].as_u64().unwrap(),
            sequence: v["sequence"].as_str().unwrap().to_owned(),
        })
        .collect()
}

#[test]
fn every_published_vector_derives_its_sequence() {
    let vectors = vectors();
    assert!(vectors.len() >= 13, "{} vectors", vectors.len());
    for v in vectors {
        let secret = Secret::from_base32(&v.secret).unwrap();
        let label = Label::new(v.label.as_bytes()).unwrap();
        let got = v.rotation.sequence(&secret, &label, v.t).to_string();
        assert_eq!(got, v.sequence, "label {} T {}", v.label, v.t);
    }
}

#[test]
fn base32_ignores_case_blanks_and_padding() {
    let a = crate::base32::decode("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").unwrap();
    assert_eq!(a, b"12345678901234567890");
    assert_eq!(
        crate::base32::decode("gezd gnbv\tgy3t qojq gezd gnbv gy3t qojq====").unwrap(),
        a
    );
    assert_eq!(
        crate::base32::decode("MZXW6YTBOI======").unwrap(),
        b"foobar"
    );
}

#[test]
fn bad_secrets_are_refused_without_showing_the_key() {
    assert_eq!(
        Secret::from_base32("GEZDGNBVGY3TQOJQ").unwrap_err(),
        SecretError::TooShort { bytes: 10 }
    );
    let error = Secret::from_base32("GEZDGNBVGY3TQOJ8GEZDGNBVGY3TQOJQ").unwrap_err();
    assert_eq!(error, SecretError::NotBase32 { position: 16 });
    assert!(!error.to_string().contains('8'), "{error}");
    let secret = Secret::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").unwrap();
    assert_eq!(format!("{secret:?}"), "Secret(20 bytes)");
}

/// The effective uid of this process: the owner of a file it creates.
#[cfg(unix)]
fn own_uid(dir: &Path) -> u32 {
    use std::os::unix::fs::MetadataExt;
    let probe = dir.join("probe");
    std::fs::write(&probe, "").unwrap();
    std::fs::metadata(&probe).unwrap().uid()
}

#[cfg(unix)]
#[test]
fn a_secret_file_takes_the_first_key_line_and_must_be_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let user = own_uid(dir.path());
    let path = dir.path().join("door.key");
    std::fs::write(
        &path,
        "# made with head -c 20 /dev/urandom | base32\n\n  GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ  \nignored\n",
    )
    .unwrap();
    for mode in [0o640, 0o620, 0o602, 0o622] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        let error = Secret::read_file(&path, user).unwrap_err();
        assert_eq!(
            error,
            SecretError::Exposed(Exposure::Mode {
                mode,
                forbidden: 0o077
            }),
            "{mode:o}"
        );
        assert!(error.to_string().contains("chmod 600"), "{error}");
    }
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(Secret::read_file(&path, user).unwrap().len(), 20);

    std::fs::write(&path, "# nothing but comments\n\n").unwrap();
    assert_eq!(
        Secret::read_file(&path, user).unwrap_err(),
        SecretError::NoKey
    );
}

/// Root only: a file chowned to another user.
#[cfg(unix)]
#[test]
fn a_secret_file_another_user_owns_is_refused() {
    use std::os::unix::fs::{chown, PermissionsExt};
    let dir = tempfile::tempdir().unwrap();
    if own_uid(dir.path()) != 0 {
        eprintln!("skipped: needs root to give a file away");
        return;
    }
    let path = dir.path().join("door.key");
    std::fs::write(&path, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    chown(&path, Some(65534), None).unwrap();
    let error = Secret::read_file(&path, 0).unwrap_err();
    assert_eq!(
        error,
        SecretError::Exposed(Exposure::Owner {
            owner: 65534,
            user: 0
        })
    );
    assert!(error.to_string().ends_with("run chown 0 on it"), "{error}");
    // Root's file is trusted by any user.
    chown(&path, Some(0), None).unwrap();
    assert!(Secret::read_file(&path, 65534).is_ok());
}

#[test]
fn settings_are_checked() {
    let range = |s: &str| s.parse::<PortRange>();
    assert_eq!(range("20000-60000").unwrap().span(), 40_001);
    assert_eq!(range(" 1 - 65535 ").unwrap().span(), 65_535);
    for bad in ["0-10", "10-9", "1-65536", "1024", "a-b", "-5"] {
        assert!(range(bad).is_err(), "{bad}");
    }
    let ok = range("1000-1002").unwrap();
    let new = |step, length, skew| Rotation::new(step, ok, length, RotatingProtocol::Tcp, skew);
    assert!(new(30, 3, 1).is_ok());
    assert_eq!(new(0, 3, 1), Err(RotationError::Step(0)));
    assert_eq!(new(86_401, 3, 1), Err(RotationError::Step(86_401)));
    assert_eq!(new(30, 3, 11), Err(RotationError::Skew(11)));
    assert_eq!(
        new(30, 4, 1),
        Err(RotationError::Length { length: 4, most: 3 })
    );
    let wide = range("1-65535").unwrap();
    assert_eq!(
        Rotation::new(30, wide, 33, RotatingProtocol::Tcp, 1),
        Err(RotationError::Length {
            length: 33,
            most: 32
        })
    );
    assert!(Label::new(b"").is_none());
    assert!(Label::new(&[b'x'; 256]).is_none());
    assert_eq!("MIXED".parse(), Ok(RotatingProtocol::Mixed));
}

#[test]
fn steps_and_skew() {
    let rotation = Rotation::default();
    assert_eq!(rotation.step_at(1_789_414_999), 59_647_166);
    assert_eq!(rotation.step_at(1_789_415_010), 59_647_167);
    assert_eq!(rotation.step_start(59_647_167), 1_789_415_010);
    assert_eq!(rotation.acceptable(10), 9..=11);
    assert_eq!(rotation.acceptable(0), 0..=1);
    assert_eq!(rotation.acceptable(u64::MAX), u64::MAX - 1..=u64::MAX);
    assert!((rotation.entropy_bits() - 4.0 * 64_512f64.log2()).abs() < 1e-9);
}

fn any_rotation() -> impl Strategy<Value = Rotation> {
    (
        1u16..=65_535,
        0u16..=65_534,
        1usize..=32,
        0u8..3,
        1u64..=86_400,
    )
        .prop_filter_map(
            "length fits the range",
            |(lo, width, length, protocol, step)| {
                let range = PortRange::new(lo, lo.saturating_add(width))?;
                let protocol = [
                    RotatingProtocol::Tcp,
                    RotatingProtocol::Udp,
                    RotatingProtocol::Mixed,
                ][usize::from(protocol)];
                Rotation::new(step, range, length, protocol, 1).ok()
            },
        )
}

proptest! {
    #[test]
    fn a_derived_sequence_is_in_range_without_repeats_and_stable(
        rotation in any_rotation(),
        key in proptest::collection::vec(any::<u8>(), 16..64),
        label in proptest::collection::vec(any::<u8>(), 1..=255),
        t in any::<u64>(),
    ) {
        let secret = Secret::from_bytes(&key).unwrap();
        let label = Label::new(&label).unwrap();
        let sequence = rotation.sequence(&secret, &label, t);
        prop_assert_eq!(sequence.len(), rotation.length());
        let range = rotation.range();
        let mut ports: Vec<u16> = sequence.knocks().iter().map(|k| k.port).collect();
        prop_assert!(ports.iter().all(|&p| (range.lo()..=range.hi()).contains(&p)));
        for knock in sequence.knocks() {
            match rotation.protocol() {
                RotatingProtocol::Tcp => prop_assert_eq!(knock.protocol, Protocol::Tcp),
                RotatingProtocol::Udp => prop_assert_eq!(knock.protocol, Protocol::Udp),
                RotatingProtocol::Mixed => {}
            }
        }
        ports.sort_unstable();
        ports.dedup();
        prop_assert_eq!(ports.len(), rotation.length());
        prop_assert_eq!(rotation.sequence(&secret, &label, t), sequence);
    }
}
