//! hookpit's one integration-test binary. Every test talks HTTP or websocket to a real hookpit
//! bound on 127.0.0.1:0 (in-process, or the real binary for the CLI tests).

mod api; // the REST read API: listings, paging, one request, body/raw/curl, deletion, errors
mod assets;
mod behaviour; // per-bin responses, sequences, faults, delays, placeholders, signature checks, forwarding // every file under web/ is compiled in and served with its content type
mod browser; // the viewer in a real headless Chromium: live list, detail, search, reconnects, hostile content
mod capture; // wire-exact capture: methods, versions, header order and case, bodies, limits
mod cdp; // a minimal Chrome DevTools Protocol driver for the browser tests
mod cli; // the real binary: serve, ls/show/clear, tail, wait, export, replay, exit codes, colour
mod edges; // half-closing clients, webhooks removed under pending deliveries, unknown sender routes
mod export; // HAR 1.2 (schema-checked) and NDJSON exports, curl commands, replay
mod hookfile; // hookpit.toml: declarations reach the server; errors name file, line and key
mod hostile_config; // bin configs that would break HTTP or exhaust the server are refused, naming the field
mod hostile_outbound; // decompression bombs, forward loops, caps on mirror forwards and pending deliveries
mod hostile_provider; // the provider kit under hostile input: trigger, replay edits, doctor, HTTPS, rate limits
mod hostile_store; // the store under floods of bins, huge filters and racing deletes
mod hostile_wire; // hostile input on the wire: tiny chunks, bad framing, stalls, idle keep-alive
mod import; // exports loaded back: NDJSON and HAR, byte-exact, new ids, waits and viewers, limits
mod limit; // a bin's rate limit: token bucket in real time, 429 + Retry-After, still recorded; API, file, CLI
mod live; // the websocket feed: hello, live requests, after= resume, many and stalled viewers
mod official; // the providers' own verification libraries as an oracle for what hookpit signs
mod persist; // --data-dir: real restarts keep requests, bins and ids; refusals; full disk; --max-disk
mod replay; // replay edited and re-signed: every scheme, header order and case, refusals, the CLI
mod safety; // Host allowlist, cross-origin refusals, token protection
mod sender; // webhooks, dispatch, signatures, retries, test events, the delivery log, CLI
mod shared; // --redis: several instances on a real redis-server share ids, rings, the feed, waits, configs; Redis lost and back
mod signature; // the signature doctor: why a request does not verify, in the request JSON, show, tail and `hookpit verify`
mod support; // starting servers, raw sockets, a small HTTP client, a websocket reader
mod tls; // HTTPS: captures, API and wss over TLS; made, kept and given certificates; bad files; stalled handshakes
mod trigger; // provider events from the API and the CLI, verified by bins and official libraries; sender schemes
mod wait; // race-free waiting: already there, arrives later, arrives during set-up, timeouts
