//! Helpers shared by the binary's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The mailmoat binary under test.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mailmoat"))
}

/// The repository root (samples, rules, config live there).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs mailmoat from the repository root.
pub fn run(args: &[&str]) -> Output {
    bin()
        .args(args)
        .current_dir(root())
        .output()
        .expect("run mailmoat")
}

/// Runs `mailmoat args…`, which must succeed and print `expected` on its standard output.
pub fn run_ok(args: &[&str], expected: &str) -> Output {
    let out = run(args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(expected), "{args:?}: {stdout}");
    out
}

/// Runs `mailmoat args…`, which must fail and say `expected` on its standard error.
pub fn run_refused(args: &[&str], expected: &str) -> Output {
    let out = run(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} succeeded");
    assert!(stderr.contains(expected), "{args:?}: {stderr}");
    out
}

/// A script family for variant tests: 20,000 bytes of the same WScript.Shell lines.
pub fn script_family() -> Vec<u8> {
    (0..4000u32)
        .flat_map(|i| {
            format!("var s{i} = new ActiveXObject('WScript.Shell'); s{i}.Run('cmd /c echo {i}');\n")
                .into_bytes()
        })
        .take(20_000)
        .collect()
}

/// Runs a command with `input` on its standard input; its standard output is captured.
pub fn run_with_stdin(mut command: Command, input: &[u8]) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

/// A fresh folder for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mailmoat-test-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A TCP connection to `to` from the local address `from` (another loopback address, say).
pub fn connect_from(from: std::net::IpAddr, to: std::net::SocketAddr) -> std::net::TcpStream {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(to),
        socket2::Type::STREAM,
        None,
    )
    .unwrap();
    socket
        .bind(&std::net::SocketAddr::new(from, 0).into())
        .unwrap();
    socket.connect(&to.into()).unwrap();
    socket.into()
}

/// The next line from `lines` that contains `needle` (20 s at most).
pub fn wait_line(lines: &std::sync::mpsc::Receiver<String>, needle: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        if let Ok(line) = lines.recv_timeout(std::time::Duration::from_millis(200)) {
            if line.contains(needle) {
                return line;
            }
        }
    }
    panic!("no line containing {needle:?}");
}

/// The lines of a child's output, as they come.
pub fn reader(stream: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stream)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// `mailmoat watch FOLDER --config CONFIG` polling every 50 ms, with its output and error lines,
/// once it says it is watching.
pub fn start_watch(
    folder: &Path,
    config: &Path,
) -> (
    std::process::Child,
    std::sync::mpsc::Receiver<String>,
    std::sync::mpsc::Receiver<String>,
) {
    use std::process::Stdio;
    let mut child = bin()
        .arg("watch")
        .arg(folder)
        .arg("--config")
        .arg(config)
        .args(["--interval-ms", "50"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mailmoat watch");
    let out = reader(child.stdout.take().expect("stdout"));
    let err = reader(child.stderr.take().expect("stderr"));
    wait_line(&err, "watching");
    (child, out, err)
}

/// Sends SIGHUP (reload) to a process.
pub fn hup(pid: u32) {
    let status = Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
}
