use std::os::unix::net::UnixListener;
use std::thread;
use std::time::Instant;

use super::super::socket::{ControlSocket, MAX_CLIENTS};
use super::*;

/// A socket at which one client is answered with `reply` (then closed).
fn answering(dir: &tempfile::TempDir, reply: &'static [u8]) -> (PathBuf, thread::JoinHandle<()>) {
    let path = dir.path().join("fake.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = [0u8; 64];
        let _ = stream.read(&mut request).unwrap();
        stream.write_all(reply).unwrap();
    });
    (path, server)
}

fn status() -> Request {
    Request::Status {
        format: Format::Json,
        door: None,
    }
}

#[test]
fn a_whole_reply_is_its_body_and_one_cut_short_is_incomplete() {
    let dir = tempfile::tempdir().unwrap();
    let (path, server) = answering(&dir, b"ok 3\n{}\n");
    assert_eq!(fetch(&path, &status()).unwrap(), b"{}\n");
    server.join().unwrap();
    fs_remove(&path);

    let (path, server) = answering(&dir, b"ok 6500000\n{\"version\":\"0.9.0\",\"do");
    let failure = fetch(&path, &status()).unwrap_err();
    server.join().unwrap();
    let Failure::Reply(why) = failure else {
        panic!("{failure:?}")
    };
    assert_eq!(
        why.to_string(),
        "the reply was incomplete: 22 of 6500000 bytes arrived"
    );
    fs_remove(&path);

    // An unframed reply (a knockd before framing, or not knockd) is not taken either.
    let (path, server) = answering(&dir, b"ok\n{\"version\":");
    let failure = fetch(&path, &status()).unwrap_err();
    server.join().unwrap();
    assert!(
        matches!(failure, Failure::Reply(ReplyError::Unexpected(_))),
        "{failure:?}"
    );
}

fn fs_remove(path: &Path) {
    std::fs::remove_file(path).unwrap();
}

#[test]
fn a_client_pushed_out_by_a_flood_is_told_knockd_is_busy() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("knockd.sock");
    let mut socket = ControlSocket::open(&path).unwrap();
    let pushed = {
        let path = path.clone();
        thread::spawn(move || fetch(&path, &status()))
    };
    // Accept it (only the listener is served, so its request stays unread).
    let started = Instant::now();
    while socket.poll_fds().len() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "never connected"
        );
        socket.serve(&[true], Instant::now());
        thread::sleep(Duration::from_millis(5));
    }
    let _flood: Vec<UnixStream> = (0..MAX_CLIENTS)
        .map(|_| UnixStream::connect(&path).unwrap())
        .collect();
    socket.serve(&[true], Instant::now());
    let failure = pushed.join().unwrap().unwrap_err();
    let Failure::Reply(ReplyError::Refused(why)) = failure else {
        panic!("{failure:?}")
    };
    assert_eq!(why, "knockd is busy: too many clients at once; try again");
}

#[test]
fn a_reset_before_any_reply_is_busy_not_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reset.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        // Closing over an unread request resets the connection.
        thread::sleep(Duration::from_millis(100));
        drop(stream);
    });
    let failure = fetch(&path, &status()).unwrap_err();
    server.join().unwrap();
    assert!(matches!(failure, Failure::Busy), "{failure:?}");
}
