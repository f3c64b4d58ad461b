//! A minimal Chrome DevTools Protocol driver for the browser tests: it launches a headless
//! Chromium with a fresh profile, attaches to its page over the DevTools websocket (flattened
//! sessions), and offers navigation, evaluation, polling waits, real mouse clicks and key
//! presses, screenshots and offline emulation. It records what a page must never do unnoticed:
//! JavaScript dialogs (dismissed at once), uncaught exceptions and console errors.
//!
//! Uses only tokio, tokio-tungstenite, futures-util, serde_json and base64. The browser process
//! is closed and killed on drop, and its profile directory removed. When no Chromium is found,
//! `launch` prints a loud skip notice and returns None, except under `CI=true`, where it panics.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

const CALL_TIMEOUT: Duration = Duration::from_secs(30);
const POLL_EVERY: Duration = Duration::from_millis(25);

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Value, String>>>>>;

/// What the page did that tests check for.
#[derive(Debug, Default, Clone)]
pub struct PageLog {
    /// Messages of `alert`/`confirm`/`prompt`/`beforeunload` dialogs that opened.
    pub dialogs: Vec<String>,
    /// Uncaught exceptions.
    pub exceptions: Vec<String>,
    /// Console and browser log entries of level error.
    pub errors: Vec<String>,
}

/// One DevTools event: its method and params.
#[derive(Debug, Clone)]
pub struct Event {
    pub method: String,
    pub params: Value,
}

/// A headless Chromium with one attached page.
pub struct Browser {
    child: Child,
    profile: PathBuf,
    out: mpsc::UnboundedSender<Message>,
    pending: Pending,
    next_id: Arc<AtomicU64>,
    session: String,
    log: Arc<Mutex<PageLog>>,
    events: broadcast::Sender<Event>,
    network_on: std::sync::atomic::AtomicBool,
}

/// The Chromium binary: `$CHROMIUM`, else the first of the usual names on `PATH`.
pub fn find_chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMIUM").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    for name in [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ] {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// Launches Chromium, or returns None (after a loud notice) when there is none; under `CI=true`
/// a missing browser is a failure.
pub async fn launch() -> Option<Browser> {
    let Some(bin) = find_chromium() else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!(
                "no Chromium found (set CHROMIUM=/path/to/chromium): browser tests must run in CI"
            );
        }
        eprintln!(
            "\n*** SKIPPED: no Chromium found (set CHROMIUM=...) — browser tests did not run ***\n"
        );
        return None;
    };
    match Browser::start(&bin).await {
        Ok(b) => Some(b),
        Err(e) => panic!("cannot start {}: {e}", bin.display()),
    }
}

fn fresh_profile_dir() -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    std::env::temp_dir().join(format!(
        "hookpit-chromium-{}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        nanos
    ))
}

impl Browser {
    async fn start(bin: &Path) -> Result<Browser, String> {
        let profile = fresh_profile_dir();
        std::fs::create_dir_all(&profile).map_err(|e| format!("profile dir: {e}"))?;
        let mut child = Command::new(bin)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--disable-features=Translate,MediaRouter,OptimizationHints",
                "--remote-debugging-port=0",
                "--window-size=1280,800",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawn: {e}"))?;

        // the DevTools URL is announced on stderr; keep draining it afterwards so the browser
        // never blocks on a full pipe
        let stderr = child.stderr.take().ok_or("no stderr")?;
        let (url_tx, url_rx) = oneshot::channel::<String>();
        std::thread::spawn(move || {
            let mut url_tx = Some(url_tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(i) = line.find("ws://") {
                    if line.contains("DevTools listening on") {
                        if let Some(tx) = url_tx.take() {
                            let _ = tx.send(line[i..].trim().to_owned());
                        }
                    }
                }
            }
        });
        let ws_url = match tokio::time::timeout(Duration::from_secs(30), url_rx).await {
            Ok(Ok(u)) => u,
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                let _ = std::fs::remove_dir_all(&profile);
                return Err("Chromium did not announce its DevTools endpoint".into());
            }
        };

        let (ws, _) = tokio_tungstenite::connect_async(ws_url.as_str())
            .await
            .map_err(|e| format!("DevTools websocket: {e}"))?;
        let (mut sink, mut stream) = ws.split();
        let (out, mut out_rx) = mpsc::unbounded_channel::<Message>();
        tokio::spawn(async move {
            while let Some(m) = out_rx.recv().await {
                if sink.send(m).await.is_err() {
                    break;
                }
            }
        });

        let pending: Pending = Arc::default();
        let log: Arc<Mutex<PageLog>> = Arc::default();
        let next_id = Arc::new(AtomicU64::new(1));
        let (events, _) = broadcast::channel::<Event>(4096);
        {
            let pending = pending.clone();
            let log = log.clone();
            let events = events.clone();
            let out = out.clone();
            let next_id = next_id.clone();
            tokio::spawn(async move {
                while let Some(Ok(msg)) = stream.next().await {
                    let Message::Text(text) = msg else { continue };
                    let Ok(v) = serde_json::from_str::<Value>(text.as_str()) else {
                        continue;
                    };
                    if let Some(id) = v.get("id").and_then(Value::as_u64) {
                        let tx = pending.lock().expect("pending lock").remove(&id);
                        if let Some(tx) = tx {
                            let r = match v.get("error") {
                                Some(e) => Err(e.to_string()),
                                None => Ok(v.get("result").cloned().unwrap_or(Value::Null)),
                            };
                            let _ = tx.send(r);
                        }
                        continue;
                    }
                    let method = v["method"].as_str().unwrap_or_default().to_owned();
                    let params = v.get("params").cloned().unwrap_or(Value::Null);
                    record(&log, &method, &params);
                    if method == "Page.javascriptDialogOpening" {
                        // never leave the page blocked on a dialog
                        let id = next_id.fetch_add(1, Ordering::Relaxed);
                        let mut cmd = json!({"id": id, "method": "Page.handleJavaScriptDialog", "params": {"accept": false}});
                        if let Some(s) = v.get("sessionId") {
                            cmd["sessionId"] = s.clone();
                        }
                        let _ = out.send(Message::Text(cmd.to_string().into()));
                    }
                    let _ = events.send(Event { method, params });
                }
                // the browser went away: fail every waiting call
                pending.lock().expect("pending lock").clear();
            });
        }

        let mut browser = Browser {
            child,
            profile,
            out,
            pending,
            next_id,
            session: String::new(),
            log,
            events,
            network_on: false.into(),
        };

        let targets = browser.call_browser("Target.getTargets", json!({})).await?;
        let page = targets["targetInfos"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["type"] == "page"))
            .and_then(|t| t["targetId"].as_str())
            .map(str::to_owned);
        let target_id = match page {
            Some(id) => id,
            None => browser
                .call_browser("Target.createTarget", json!({"url": "about:blank"}))
                .await?["targetId"]
                .as_str()
                .ok_or("no target id")?
                .to_owned(),
        };
        let attached = browser
            .call_browser(
                "Target.attachToTarget",
                json!({"targetId": target_id, "flatten": true}),
            )
            .await?;
        browser.session = attached["sessionId"]
            .as_str()
            .ok_or("no session id")?
            .to_owned();
        for domain in ["Page.enable", "Runtime.enable", "Log.enable"] {
            browser.call(domain, json!({})).await?;
        }
        browser
            .call(
                "Emulation.setDeviceMetricsOverride",
                json!({"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": false}),
            )
            .await?;
        Ok(browser)
    }

    async fn send(&self, method: &str, params: Value, session: bool) -> Result<Value, String> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut cmd = json!({"id": id, "method": method, "params": params});
        if session {
            cmd["sessionId"] = Value::String(self.session.clone());
        }
        let (tx, rx) = oneshot::channel();
        self.pending.lock().expect("pending lock").insert(id, tx);
        self.out
            .send(Message::Text(cmd.to_string().into()))
            .map_err(|_| "DevTools connection closed".to_string())?;
        match tokio::time::timeout(CALL_TIMEOUT, rx).await {
            Ok(Ok(r)) => r.map_err(|e| format!("{method}: {e}")),
            Ok(Err(_)) => Err(format!("{method}: DevTools connection closed")),
            Err(_) => {
                self.pending.lock().expect("pending lock").remove(&id);
                Err(format!("{method}: no answer within {CALL_TIMEOUT:?}"))
            }
        }
    }

    /// A command to the attached page.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, String> {
        self.send(method, params, true).await
    }

    /// A command to the browser itself.
    pub async fn call_browser(&self, method: &str, params: Value) -> Result<Value, String> {
        self.send(method, params, false).await
    }

    /// Subscribes to the page's DevTools events from now on.
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// Dialogs, exceptions and errors so far.
    pub fn log(&self) -> PageLog {
        self.log.lock().expect("log lock").clone()
    }

    /// Runs a script in every new document before its own scripts.
    pub async fn add_init_script(&self, source: &str) {
        self.call(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({"source": source}),
        )
        .await
        .expect("init script");
    }

    /// Loads a URL and waits for its load event.
    pub async fn navigate(&self, url: &str) {
        let mut ev = self.events();
        let r = self
            .call("Page.navigate", json!({"url": url}))
            .await
            .expect("navigate");
        if let Some(e) = r.get("errorText").and_then(Value::as_str) {
            panic!("navigating to {url} failed: {e}");
        }
        if r.get("loaderId").is_none() {
            // a same-document navigation (only the fragment changed): no load event follows
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, ev.recv()).await {
                Ok(Ok(e)) if e.method == "Page.loadEventFired" => return,
                Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
                _ => panic!("{url} did not finish loading within 15s"),
            }
        }
    }

    /// Evaluates an expression (promises awaited) and returns its JSON value, or the exception.
    pub async fn try_eval(&self, js: &str) -> Result<Value, String> {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({"expression": js, "returnByValue": true, "awaitPromise": true}),
            )
            .await?;
        if let Some(ex) = r.get("exceptionDetails") {
            let text = ex["exception"]["description"]
                .as_str()
                .or_else(|| ex["text"].as_str())
                .unwrap_or("exception");
            return Err(format!("{text}\n  in: {js}"));
        }
        Ok(r["result"].get("value").cloned().unwrap_or(Value::Null))
    }

    /// Evaluates an expression; a thrown exception fails the test.
    pub async fn eval(&self, js: &str) -> Value {
        self.try_eval(js)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}"))
    }

    /// Polls an expression every 25 ms until it is truthy; returns its value and the time it
    /// took. Fails the test (with the last value) after `timeout`.
    pub async fn wait_for(&self, js: &str, timeout: Duration) -> (Value, Duration) {
        let start = Instant::now();
        loop {
            let last = match self.try_eval(js).await {
                Ok(v) if truthy(&v) => return (v, start.elapsed()),
                Ok(v) => v,
                Err(e) => Value::String(e),
            };
            if start.elapsed() >= timeout {
                panic!("timed out after {timeout:?} waiting for `{js}` (last value: {last})");
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }

    /// The viewport centre of the first element matching a CSS selector, scrolled into view.
    async fn centre(&self, selector: &str, to: &str) -> (f64, f64) {
        let sel = serde_json::to_string(selector).expect("selector");
        let js = format!(
            "(() => {{ const e = document.querySelector({sel}); if (!e) return null; \
             e.scrollIntoView({{block: 'nearest'}}); const r = e.getBoundingClientRect(); \
             return [r.left + r.width / 2, r.top + r.height / 2]; }})()"
        );
        let at = self.eval(&js).await;
        match (at[0].as_f64(), at[1].as_f64()) {
            (Some(x), Some(y)) => (x, y),
            _ => panic!("nothing to {to}: no element matches {selector}"),
        }
    }

    /// Clicks the centre of the first element matching a CSS selector, with real mouse events.
    pub async fn click(&self, selector: &str) {
        let (x, y) = self.centre(selector, "click").await;
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            )
            .await
            .expect("mouse event");
        }
    }

    /// Moves the mouse over the centre of the first element matching a CSS selector (`:hover`).
    pub async fn hover(&self, selector: &str) {
        let (x, y) = self.centre(selector, "hover").await;
        self.call(
            "Input.dispatchMouseEvent",
            json!({"type": "mouseMoved", "x": x, "y": y}),
        )
        .await
        .expect("mouse event");
    }

    /// Presses one key (`"j"`, `"/"`, `"Escape"`, `"Enter"`…) on the focused element.
    pub async fn press(&self, key: &str) {
        let (code, vk, text) = match key {
            "Escape" => ("Escape", 27, ""),
            "Enter" => ("Enter", 13, "\r"),
            "/" => ("Slash", 191, "/"),
            k if k.len() == 1 => {
                let c = k.as_bytes()[0].to_ascii_uppercase();
                return self.press_char(k, c as i64).await;
            }
            other => panic!("press: unsupported key {other}"),
        };
        self.key_events(key, code, vk, text).await;
    }

    async fn press_char(&self, k: &str, vk: i64) {
        let code = format!("Key{}", k.to_ascii_uppercase());
        self.key_events(k, &code, vk, k).await;
    }

    async fn key_events(&self, key: &str, code: &str, vk: i64, text: &str) {
        let mut down = json!({"type": if text.is_empty() { "rawKeyDown" } else { "keyDown" },
            "key": key, "code": code, "windowsVirtualKeyCode": vk});
        if !text.is_empty() {
            down["text"] = json!(text);
        }
        self.call("Input.dispatchKeyEvent", down)
            .await
            .expect("key down");
        self.call(
            "Input.dispatchKeyEvent",
            json!({"type": "keyUp", "key": key, "code": code, "windowsVirtualKeyCode": vk}),
        )
        .await
        .expect("key up");
    }

    /// Types text into the focused element as if it came from the keyboard.
    pub async fn type_text(&self, text: &str) {
        self.call("Input.insertText", json!({"text": text}))
            .await
            .expect("insert text");
    }

    /// Takes the network offline (or back online) for the page.
    pub async fn set_offline(&self, offline: bool) {
        if !self.network_on.swap(true, Ordering::Relaxed) {
            self.call("Network.enable", json!({}))
                .await
                .expect("network enable");
        }
        self.call(
            "Network.emulateNetworkConditions",
            json!({"offline": offline, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}),
        )
        .await
        .expect("network conditions");
    }

    /// Emulates `prefers-color-scheme` (`"light"` or `"dark"`).
    pub async fn color_scheme(&self, scheme: &str) {
        self.call(
            "Emulation.setEmulatedMedia",
            json!({"features": [{"name": "prefers-color-scheme", "value": scheme}]}),
        )
        .await
        .expect("emulated media");
    }

    /// Resizes the page's viewport.
    pub async fn viewport(&self, width: u32, height: u32, mobile: bool) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile}),
        )
        .await
        .expect("viewport");
    }

    /// Saves a PNG screenshot of the viewport.
    pub async fn screenshot(&self, path: &Path) {
        let r = self
            .call("Page.captureScreenshot", json!({"format": "png"}))
            .await
            .expect("screenshot");
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().expect("screenshot data"))
            .expect("screenshot base64");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot dir");
        }
        std::fs::write(path, png).expect("write screenshot");
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

fn record(log: &Mutex<PageLog>, method: &str, params: &Value) {
    let mut log = log.lock().expect("log lock");
    match method {
        "Page.javascriptDialogOpening" => log.dialogs.push(format!(
            "{}: {}",
            params["type"].as_str().unwrap_or("dialog"),
            params["message"].as_str().unwrap_or_default()
        )),
        "Runtime.exceptionThrown" => {
            let d = &params["exceptionDetails"];
            log.exceptions.push(
                d["exception"]["description"]
                    .as_str()
                    .or_else(|| d["text"].as_str())
                    .unwrap_or("exception")
                    .to_owned(),
            );
        }
        "Runtime.consoleAPICalled" if params["type"] == "error" => {
            let text = params["args"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|x| {
                            x["value"]
                                .as_str()
                                .map(str::to_owned)
                                .or_else(|| x["description"].as_str().map(str::to_owned))
                                .unwrap_or_else(|| x["value"].to_string())
                        })
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            log.errors.push(format!("console: {text}"));
        }
        "Log.entryAdded" if params["entry"]["level"] == "error" => {
            let e = &params["entry"];
            log.errors.push(format!(
                "{}: {} {}",
                e["source"].as_str().unwrap_or("log"),
                e["text"].as_str().unwrap_or_default(),
                e["url"].as_str().unwrap_or_default()
            ));
        }
        _ => {}
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // ask politely, then make sure
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let _ = self.out.send(Message::Text(
            json!({"id": id, "method": "Browser.close"})
                .to_string()
                .into(),
        ));
        let deadline = Instant::now() + Duration::from_millis(1500);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
