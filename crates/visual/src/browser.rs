//! One page in headless Chromium, driven over the DevTools protocol on a pipe (no debugging
//! port to guard): a fresh profile per capture, downloads denied, all traffic through the
//! checking proxy, and a hard deadline after which the browser is killed.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

use crate::proxy::{Proxy, ProxyLog};

/// Limits of one capture.
#[derive(Debug, Clone)]
pub struct Limits {
    /// From start to screenshot; the browser is killed when it runs out.
    pub deadline: Duration,
    /// After the load event, time for late scripts and styles to draw.
    pub settle: Duration,
    /// Bytes the page may pull from the web.
    pub byte_budget: u64,
    pub width: u32,
    pub height: u32,
    /// Reach loopback addresses (the loopback test pages; never in production).
    pub allow_loopback: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            deadline: Duration::from_secs(8),
            settle: Duration::from_millis(300),
            byte_budget: 8 << 20,
            width: 1280,
            height: 800,
            allow_loopback: false,
        }
    }
}

/// A captured page.
#[derive(Debug)]
pub struct Capture {
    pub png: Vec<u8>,
    /// Where the browser ended up (after redirects and scripts).
    pub final_url: String,
    pub proxy: ProxyLog,
    pub elapsed: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("cannot start the browser {0}: {1}")]
    Start(String, std::io::Error),
    #[error("the page did not finish within {0:?}")]
    Timeout(Duration),
    #[error("the browser failed: {0}")]
    Browser(String),
}

/// Finds a Chromium binary: the configured one, else the usual names on PATH.
pub fn find_chromium(configured: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = configured {
        return p
            .exists()
            .then(|| p.to_path_buf())
            .or_else(|| on_path(&p.to_string_lossy()));
    }
    [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "headless_shell",
    ]
    .iter()
    .find_map(|name| on_path(name))
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

struct Session {
    child: Child,
    commands: ChildStdin,
    replies: Receiver<Value>,
    next_id: u64,
    events: Vec<Value>,
    deadline: Instant,
    limit: Duration,
}

impl Session {
    fn send(
        &mut self,
        method: &str,
        params: Value,
        session: Option<&str>,
    ) -> Result<Value, CaptureError> {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes =
            serde_json::to_vec(&msg).map_err(|e| CaptureError::Browser(e.to_string()))?;
        bytes.push(0);
        self.commands
            .write_all(&bytes)
            .and_then(|_| self.commands.flush())
            .map_err(|e| CaptureError::Browser(format!("pipe: {e}")))?;
        loop {
            let value = self.next_message()?;
            if value.get("id").and_then(Value::as_u64) == Some(id) {
                if let Some(err) = value.get("error") {
                    return Err(CaptureError::Browser(format!("{method}: {err}")));
                }
                return Ok(value.get("result").cloned().unwrap_or(Value::Null));
            }
            if value.get("method").is_some() {
                self.events.push(value);
            }
        }
    }

    fn next_message(&mut self) -> Result<Value, CaptureError> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        match self.replies.recv_timeout(left) {
            Ok(v) => Ok(v),
            Err(RecvTimeoutError::Timeout) => Err(CaptureError::Timeout(self.limit)),
            Err(RecvTimeoutError::Disconnected) => {
                Err(CaptureError::Browser("the browser exited".into()))
            }
        }
    }

    /// Waits for an event (already seen or still to come).
    fn wait_event(&mut self, method: &str, until: Instant) -> Result<bool, CaptureError> {
        loop {
            if self.events.iter().any(|e| e["method"] == method) {
                return Ok(true);
            }
            let left = until
                .min(self.deadline)
                .saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            match self.replies.recv_timeout(left) {
                Ok(v) => self.events.push(v),
                Err(RecvTimeoutError::Timeout) => return Ok(false),
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(CaptureError::Browser("the browser exited".into()))
                }
            }
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // After Browser.close Chromium ends by itself within moments; then (or at once when it
        // hangs) its whole process group goes, renderers included.
        let grace = Instant::now() + Duration::from_millis(500);
        while Instant::now() < grace {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh browser profile (cookies, cache, downloads) for one capture, removed afterwards.
struct Profile(PathBuf);

impl Profile {
    fn create() -> std::io::Result<Profile> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "mailmoat-visual-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir)?;
        Ok(Profile(dir))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Profile {
    fn drop(&mut self) {
        // A renderer that is still exiting may write one last file: try again briefly.
        for _ in 0..10 {
            if std::fs::remove_dir_all(&self.0).is_ok() || !self.0.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Opens `url` and takes a screenshot of the first screen.
pub fn capture(chromium: &Path, url: &str, limits: &Limits) -> Result<Capture, CaptureError> {
    let started = Instant::now();
    let proxy = Proxy::start(limits.allow_loopback, limits.byte_budget, limits.deadline)
        .map_err(|e| CaptureError::Start("proxy".into(), e))?;
    let profile = Profile::create().map_err(|e| CaptureError::Start("profile folder".into(), e))?;
    // The DevTools pipe is fds 3 (commands in) and 4 (replies out): the shell moves our
    // stdin/stdout pipes there before it becomes Chromium.
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(r#"exec "$0" "$@" 3<&0 4>&1 0</dev/null 1>/dev/null"#)
        .arg(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--disable-default-apps",
            "--no-first-run",
            "--no-default-browser-check",
            "--mute-audio",
            "--hide-scrollbars",
            "--deny-permission-prompts",
            "--disable-dev-shm-usage",
            // Chromium's own calls home: not part of the page, and noise in the proxy's log.
            "--disable-client-side-phishing-detection",
            "--disable-domain-reliability",
            "--no-pings",
            "--disable-features=OptimizationHints,Translate,MediaRouter,AutofillServerCommunication,CertificateTransparencyComponentUpdater",
            "--remote-debugging-pipe",
            // WebRTC would otherwise send UDP around the proxy.
            "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
            "--proxy-bypass-list=<-loopback>",
        ])
        .arg(format!("--proxy-server=http://{}", proxy.addr()))
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--window-size={},{}", limits.width, limits.height))
        .arg("about:blank")
        .env("HOME", profile.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        // Its own process group, so the renderers can be ended with it.
        .process_group(0)
        .spawn()
        .map_err(|e| CaptureError::Start(chromium.display().to_string(), e))?;
    let commands = child
        .stdin
        .take()
        .ok_or_else(|| CaptureError::Browser("no command pipe".into()))?;
    let replies_pipe = child
        .stdout
        .take()
        .ok_or_else(|| CaptureError::Browser("no reply pipe".into()))?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(replies_pipe);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(0, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if buf.last() == Some(&0) {
                        buf.pop();
                    }
                    if let Ok(v) = serde_json::from_slice::<Value>(&buf) {
                        if tx.send(v).is_err() {
                            break;
                        }
                    }
                }
            }
        }
    });
    let mut s = Session {
        child,
        commands,
        replies: rx,
        next_id: 0,
        events: Vec::new(),
        deadline: started + limits.deadline,
        limit: limits.deadline,
    };
    s.send(
        "Browser.setDownloadBehavior",
        json!({"behavior": "deny"}),
        None,
    )?;
    let target = s.send("Target.createTarget", json!({"url": "about:blank"}), None)?;
    let target_id = target["targetId"].as_str().unwrap_or_default().to_string();
    let attached = s.send(
        "Target.attachToTarget",
        json!({"targetId": target_id, "flatten": true}),
        None,
    )?;
    let sid = attached["sessionId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let sid = Some(sid.as_str());
    s.send("Page.enable", json!({}), sid)?;
    s.send(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": limits.width, "height": limits.height, "deviceScaleFactor": 1, "mobile": false}),
        sid,
    )?;
    let nav = s.send("Page.navigate", json!({"url": url}), sid)?;
    if let Some(err) = nav.get("errorText").and_then(Value::as_str) {
        // A refused or unreachable destination still draws Chromium's error page: keep going
        // so the caller sees the proxy's log, but say so.
        if err.contains("ERR_ABORTED") {
            return Err(CaptureError::Browser(format!("navigation aborted: {err}")));
        }
    }
    let loaded = s.wait_event("Page.loadEventFired", s.deadline)?;
    if !loaded {
        return Err(CaptureError::Timeout(limits.deadline));
    }
    std::thread::sleep(
        limits
            .settle
            .min(s.deadline.saturating_duration_since(Instant::now())),
    );
    let href = s.send(
        "Runtime.evaluate",
        json!({"expression": "location.href", "returnByValue": true}),
        sid,
    )?;
    let final_url = href["result"]["value"].as_str().unwrap_or(url).to_string();
    let shot = s.send(
        "Page.captureScreenshot",
        json!({"format": "png", "captureBeyondViewport": false}),
        sid,
    )?;
    let png = base64::engine::general_purpose::STANDARD
        .decode(shot["data"].as_str().unwrap_or_default())
        .map_err(|e| CaptureError::Browser(format!("screenshot: {e}")))?;
    let _ = s.send("Browser.close", json!({}), None);
    drop(s);
    Ok(Capture {
        png,
        final_url,
        proxy: proxy.log(),
        elapsed: started.elapsed(),
    })
}
