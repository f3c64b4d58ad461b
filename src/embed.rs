//! The in-process embedding API: [`ServerHandle`], what `Server::start` hands back (addresses,
//! the store, the sender, waiting, shutdown on drop), and [`BinRef`], one bin of it (its catch
//! URL, its config, its requests, waiting on them).
//!
//! Uses `store` (which applies bin configs), `tls` (what the HTTPS listener shows), `deliver` (the sender), `rules` (bin configs),
//! `matcher` (wait filters), `model` and `error`. `server` builds the handle; nothing here calls
//! `server`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::Result;
use crate::model::{CapturedRequest, RequestId};
use crate::store::{Store, WaitFailed, WaitOutcome, WaitSpec};

/// A running server. Dropping it shuts the server down.
pub struct ServerHandle {
    addr: SocketAddr,
    store: Store,
    sender: crate::deliver::Sender,
    /// The durable store (`--data-dir`), flushed and closed when the server stops.
    disk: Option<Arc<crate::disk::Disk>>,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
    /// What start-up brought back differently from how it was stored.
    warnings: Vec<String>,
    /// The last id given out before this server started (restored from its data directory):
    /// what it captures itself is counted from there.
    started_after: RequestId,
    /// The HTTPS listener, when there is one.
    tls: Option<crate::tls::TlsInfo>,
}

/// What a server did, printed at shutdown.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    /// Requests this server captured (ids it gave out; not those a data directory brought back).
    pub requests: RequestId,
    pub kept: usize,
    pub bins: usize,
    pub evicted: u64,
    /// What the data directory could not keep at the stop (a disk still full), as a sentence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unwritten: Option<String>,
}

impl ServerHandle {
    /// The handle of a server listening on `addr` whose accept loop is `task` and stops when
    /// `shutdown` says `true`.
    pub(crate) fn new(
        addr: SocketAddr,
        store: Store,
        sender: crate::deliver::Sender,
        disk: Option<Arc<crate::disk::Disk>>,
        shutdown: watch::Sender<bool>,
        task: JoinHandle<()>,
    ) -> ServerHandle {
        ServerHandle {
            addr,
            store,
            sender,
            disk,
            shutdown,
            task: Some(task),
            warnings: Vec::new(),
            started_after: 0,
            tls: None,
        }
    }

    /// The same handle with its HTTPS listener.
    pub(crate) fn with_tls(mut self, tls: Option<crate::tls::TlsInfo>) -> ServerHandle {
        self.tls = tls;
        self
    }

    /// The HTTPS listener (`Config::tls_listen`): its bound address and certificate.
    pub fn tls(&self) -> Option<&crate::tls::TlsInfo> {
        self.tls.as_ref()
    }

    /// `https://HOST:PORT`, when the server also serves HTTPS.
    pub fn tls_base_url(&self) -> Option<String> {
        self.tls.as_ref().map(|t| format!("https://{}", t.addr))
    }

    /// The same handle with start-up's warnings.
    pub(crate) fn with_warnings(mut self, warnings: Vec<String>) -> ServerHandle {
        self.warnings = warnings;
        self
    }

    /// The same handle, counting captures after `last_id` (what a data directory brought back).
    pub(crate) fn started_after(mut self, last_id: RequestId) -> ServerHandle {
        self.started_after = last_id;
        self
    }

    /// What start-up brought back from the data directory differently from how it was stored
    /// (a bin whose config no longer applies, a webhook the config file now shadows), one
    /// sentence each; `serve` prints them as `warning:` lines.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://HOST:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The viewer's URL.
    pub fn viewer_url(&self) -> String {
        format!("{}/_/", self.base_url())
    }

    /// The API base URL.
    pub fn api_url(&self) -> String {
        format!("{}/_/api", self.base_url())
    }

    /// The catch URL of a bin.
    pub fn catch_url(&self, bin: &str) -> String {
        format!("{}/{}", self.base_url(), bin)
    }

    /// The store behind this server.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The webhook sender of this server (webhooks, dispatch, the delivery log).
    pub fn sender(&self) -> &crate::deliver::Sender {
        &self.sender
    }

    /// Requests captured in a bin, oldest first.
    pub fn requests(&self, bin: &str) -> Vec<Arc<CapturedRequest>> {
        self.bin(bin).requests()
    }

    /// A handle on one bin of this server (it is created by its first request).
    pub fn bin(&self, name: &str) -> BinRef {
        BinRef {
            store: self.store.clone(),
            name: name.to_owned(),
            url: self.catch_url(name),
        }
    }

    /// A handle on a new bin with a random name no request has used yet.
    pub fn fresh_bin(&self) -> BinRef {
        let mut b = [0u8; 6];
        let _ = getrandom::fill(&mut b);
        let name: String = b.iter().map(|x| format!("{x:02x}")).collect();
        self.bin(&format!("t-{name}"))
    }

    /// Waits for what `spec` describes; a timeout is an outcome with a report, not an error.
    pub async fn wait(&self, spec: WaitSpec) -> WaitOutcome {
        self.store.wait(spec).await
    }

    /// What the server did so far.
    pub fn summary(&self) -> Summary {
        let s = self.store.stats();
        Summary {
            requests: s.last_id.saturating_sub(self.started_after),
            kept: s.requests,
            bins: s.bins,
            evicted: s.evicted,
            unwritten: None,
        }
    }

    /// Stops accepting, lets in-flight responses finish (up to a few seconds) and returns what
    /// the server did.
    pub async fn shutdown(mut self) -> Summary {
        let _ = self.shutdown.send(true);
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        let mut unwritten = None;
        if let Some(j) = self.store.journal_handle().filter(|_| self.disk.is_none()) {
            // a shared store's writer finishes what is queued (while Redis answers)
            let _ = tokio::task::spawn_blocking(move || j.flush()).await;
        }
        if let Some(d) = self.disk.take() {
            // everything answered is written before the process goes
            unwritten = tokio::task::spawn_blocking(move || {
                let dir = d.dir().display().to_string();
                d.close().map(|why| format!("{dir}: {why}"))
            })
            .await
            .unwrap_or_else(|e| Some(e.to_string()));
        }
        Summary {
            unwritten,
            ..self.summary()
        }
    }

    /// The durable store, when the server runs with a data directory.
    pub fn disk(&self) -> Option<&crate::disk::Disk> {
        self.disk.as_deref()
    }
}

/// One bin of an embedded server: its catch URL, its requests, and waiting on them.
#[derive(Clone)]
pub struct BinRef {
    store: Store,
    name: String,
    url: String,
}

impl BinRef {
    /// The bin's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The bin's catch URL (append any path).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sets the bin's behaviour (SPEC §12 bin config: response, rules, sequence, fault, verify,
    /// forward, max_requests); a bad value is an error naming its field.
    pub fn configure(&self, config: serde_json::Value) -> Result<crate::model::BinSummary> {
        let setup = crate::rules::BinSetup::from_json(&config, usize::MAX)?;
        Ok(self.store.apply_bin_config(&self.name, setup))
    }

    /// The bin's kept requests, oldest first.
    pub fn requests(&self) -> Vec<Arc<CapturedRequest>> {
        let (mut v, _) = self
            .store
            .list(Some(&self.name), 0, None, usize::MAX, |_| true);
        v.reverse();
        v
    }

    /// Waits for one request matching `filter` (the filter language of the API's `q=`); counts
    /// requests that arrived before the call too.
    pub async fn wait_for(
        &self,
        filter: &str,
        timeout: Duration,
    ) -> std::result::Result<Arc<CapturedRequest>, WaitFailed> {
        let mut v = self.wait_for_count(filter, 1, timeout).await?;
        Ok(v.remove(0))
    }

    /// Waits for `count` requests matching `filter`; returns them oldest first.
    pub async fn wait_for_count(
        &self,
        filter: &str,
        count: usize,
        timeout: Duration,
    ) -> std::result::Result<Vec<Arc<CapturedRequest>>, WaitFailed> {
        let filter = crate::matcher::Filter::parse(filter).map_err(WaitFailed::BadFilter)?;
        let spec = WaitSpec {
            bin: self.name.clone(),
            filter,
            count: count.max(1),
            after: 0,
            timeout,
        };
        match self.store.wait(spec).await {
            WaitOutcome::Matched(v) => Ok(v),
            WaitOutcome::TimedOut(r) => Err(WaitFailed::TimedOut(r)),
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(d) = self.disk.take() {
            // written, and the directory's lock released, before the handle is gone
            let _ = d.close();
        }
    }
}
