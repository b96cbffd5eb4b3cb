//! Fault injection for the reliability suite (issue #8): an HTTP proxy between
//! the operator and the emulator, and a TCP proxy between the operator and the
//! API server. Both listen on loopback, connect only to a loopback upstream,
//! and run on a thread of their own with their own runtime, so that a test
//! blocking its own thread (a `kubectl`, a child's `wait`) never stalls them.
//! Dropping a proxy stops it and every connection it holds.
//!
//! Faults are drawn per request (HTTP) or per connection (TCP) from a seeded
//! generator; the seed is printed by [`seed_for`]. Requests arrive
//! concurrently, so the same seed gives the same sequence of draws, not
//! necessarily the same request for each draw.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, TcpStream};

// ---------------------------------------------------------------- seeds

/// SplitMix64: small, seedable, and good enough to pick faults and moments.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform in [lo, hi] (inclusive).
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi.saturating_sub(lo) + 1)
    }

    pub fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(self.between(lo, hi))
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next_u64() % items.len() as u64) as usize]
    }
}

/// The run's seed: `RELIABILITY_SEED`, else one from the clock; printed once.
pub fn base_seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| {
        let seed = std::env::var("RELIABILITY_SEED")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
                    % 1_000_000_000
            });
        println!("reliability: RELIABILITY_SEED={seed} (set it to replay this run's choices)");
        seed
    })
}

/// A scenario's own seed, derived from the run's: scenarios running at once
/// do not share one sequence of draws.
pub fn seed_for(scenario: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in scenario.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    let seed = base_seed() ^ h;
    println!("reliability: scenario {scenario} draws from seed {seed}");
    seed
}

// ---------------------------------------------------------------- fault plan

/// One kind of injected fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// The connection is dropped before the request reaches the emulator.
    Reset,
    /// The request reaches the emulator, then the connection is dropped: the
    /// change happened but the client never hears of it.
    LostResponse,
    /// The request is held back for a while, then forwarded.
    Delay,
    /// HTTP 500 without reaching the emulator.
    ServerError,
    /// The service's own throttling error, without reaching the emulator.
    Throttle,
    /// The outage switch is on: the connection is refused (reset at once).
    Outage,
}

impl Fault {
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::Reset => "reset",
            Fault::LostResponse => "lost-response",
            Fault::Delay => "delay",
            Fault::ServerError => "http-500",
            Fault::Throttle => "throttle",
            Fault::Outage => "outage",
        }
    }
}

/// Per-request probabilities of each fault (the rest pass through), and a cap.
#[derive(Clone, Debug)]
pub struct FaultPlan {
    pub reset: f64,
    pub lost_response: f64,
    pub delay: f64,
    /// Delays are uniform in [0, max_delay].
    pub max_delay: Duration,
    pub server_error: f64,
    pub throttle: f64,
    /// At most this many faults (outage refusals aside); then everything passes.
    pub limit: u64,
    /// Every response is held this long after the emulator answered: AWS has
    /// acted, the operator does not know it yet (a window for a kill).
    pub hold_response: Option<Duration>,
}

impl Default for FaultPlan {
    fn default() -> Self {
        FaultPlan {
            reset: 0.0,
            lost_response: 0.0,
            delay: 0.0,
            max_delay: Duration::from_millis(500),
            server_error: 0.0,
            throttle: 0.0,
            limit: 100_000,
            hold_response: None,
        }
    }
}

impl FaultPlan {
    /// No faults: a counting pass-through.
    pub fn none() -> FaultPlan {
        FaultPlan::default()
    }

    fn draw(&self, rng: &mut Rng) -> Option<Fault> {
        let x = rng.unit();
        let mut edge = 0.0;
        for (p, fault) in [
            (self.reset, Fault::Reset),
            (self.lost_response, Fault::LostResponse),
            (self.delay, Fault::Delay),
            (self.server_error, Fault::ServerError),
            (self.throttle, Fault::Throttle),
        ] {
            edge += p;
            if x < edge {
                return Some(fault);
            }
        }
        None
    }
}

/// What a proxy saw and did.
#[derive(Default)]
struct Tally {
    faults: BTreeMap<Fault, u64>,
    /// Requests by AWS service (from the SigV4 credential scope).
    requests: BTreeMap<String, u64>,
    /// Throttling responses by AWS service.
    throttled: BTreeMap<String, u64>,
}

struct HttpState {
    plan: Mutex<FaultPlan>,
    rng: Mutex<Rng>,
    outage: AtomicBool,
    tally: Mutex<Tally>,
    /// Requests that the SDK marked as a retry (`amz-sdk-request: attempt=N`, N > 1).
    retries: AtomicU64,
    /// The highest attempt number seen.
    max_attempt: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

// ---------------------------------------------------------------- the AWS proxy

/// An HTTP proxy in front of the emulator: point the operator's
/// `AWS_ENDPOINT_URL` at [`AwsProxy::url`].
pub struct AwsProxy {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    state: Arc<HttpState>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

type Body = BoxBody<Bytes, hyper::Error>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl AwsProxy {
    /// Starts a proxy to `upstream` (`http://127.0.0.1:PORT`, the emulator).
    pub fn start(upstream: &str, plan: FaultPlan, seed: u64) -> AwsProxy {
        let upstream = loopback_addr(upstream);
        let listener =
            std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind the AWS proxy");
        let port = listener.local_addr().expect("proxy address").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let state = Arc::new(HttpState {
            plan: Mutex::new(plan),
            rng: Mutex::new(Rng::new(seed)),
            outage: AtomicBool::new(false),
            tally: Mutex::new(Tally::default()),
            retries: AtomicU64::new(0),
            max_attempt: AtomicU64::new(0),
        });
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let shared = state.clone();
        let thread = std::thread::Builder::new()
            .name(format!("aws-proxy-{port}"))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("proxy runtime");
                rt.block_on(async move {
                    let listener = TcpListener::from_std(listener).expect("tokio listener");
                    tokio::select! {
                        _ = serve_http(listener, upstream, shared) => {}
                        _ = stopped => {}
                    }
                });
                // Dropping the runtime drops every connection task.
                rt.shutdown_timeout(Duration::from_secs(1));
            })
            .expect("spawn the AWS proxy thread");
        AwsProxy {
            url: format!("http://127.0.0.1:{port}"),
            state,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn set_plan(&self, plan: FaultPlan) {
        *lock(&self.state.plan) = plan;
    }

    /// While on, every connection and request is refused (reset at once).
    pub fn set_outage(&self, on: bool) {
        self.state.outage.store(on, Ordering::SeqCst);
    }

    /// Faults injected so far, by kind.
    pub fn faults(&self) -> BTreeMap<Fault, u64> {
        lock(&self.state.tally).faults.clone()
    }

    /// Requests received, by AWS service.
    pub fn requests(&self) -> BTreeMap<String, u64> {
        lock(&self.state.tally).requests.clone()
    }

    /// Throttling responses sent, by AWS service.
    pub fn throttled(&self) -> BTreeMap<String, u64> {
        lock(&self.state.tally).throttled.clone()
    }

    /// (requests the SDK sent as retries, the highest attempt number seen).
    pub fn sdk_retries(&self) -> (u64, u64) {
        (
            self.state.retries.load(Ordering::SeqCst),
            self.state.max_attempt.load(Ordering::SeqCst),
        )
    }
}

impl Drop for AwsProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The loopback socket address of `http://127.0.0.1:PORT` (anything else panics:
/// the proxies must never reach beyond this machine).
fn loopback_addr(url: &str) -> SocketAddr {
    let rest = url
        .trim_start_matches("http://")
        .trim_start_matches("https://");
    let host_port = rest.split('/').next().unwrap_or(rest);
    let addr: SocketAddr = host_port
        .parse()
        .unwrap_or_else(|e| panic!("upstream {url} is not IP:PORT: {e}"));
    assert!(
        addr.ip().is_loopback(),
        "the proxies only ever connect to loopback, not {addr}"
    );
    addr
}

async fn serve_http(listener: TcpListener, upstream: SocketAddr, state: Arc<HttpState>) {
    let client: Client<HttpConnector, Incoming> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        if state.outage.load(Ordering::SeqCst) {
            *lock(&state.tally).faults.entry(Fault::Outage).or_default() += 1;
            refuse(stream);
            continue;
        }
        let Some((stream, twin)) = with_twin(stream) else {
            continue;
        };
        let state = state.clone();
        let client = client.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                handle(req, upstream, state.clone(), client.clone())
            });
            let result = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
            // A fault ended the connection: make the close a reset (RST), not a FIN.
            if result.is_err() {
                let _ = twin.set_zero_linger();
            }
            drop(twin);
        });
    }
}

/// A second handle on the same socket, to turn its close into a reset after
/// hyper has given up its own.
fn with_twin(stream: TcpStream) -> Option<(TcpStream, TcpStream)> {
    let std = stream.into_std().ok()?;
    let twin = std.try_clone().ok()?;
    Some((
        TcpStream::from_std(std).ok()?,
        TcpStream::from_std(twin).ok()?,
    ))
}

/// Closes with a reset: what a client sees of a refused or broken connection.
fn refuse(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

/// The AWS service a request is signed for: `Credential=AKID/DATE/REGION/SERVICE/aws4_request`.
fn service_of<B>(req: &Request<B>) -> String {
    req.headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|auth| auth.split("Credential=").nth(1))
        .and_then(|cred| cred.split('/').nth(3))
        .unwrap_or("unknown")
        .to_string()
}

/// The SDK's attempt number (`amz-sdk-request: attempt=2; max=3`).
fn attempt_of<B>(req: &Request<B>) -> Option<u64> {
    let v = req.headers().get("amz-sdk-request")?.to_str().ok()?;
    v.split(';')
        .find_map(|p| p.trim().strip_prefix("attempt="))
        .and_then(|n| n.parse().ok())
}

#[derive(Debug)]
struct Dropped(&'static str);

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "fault injected: {}", self.0)
    }
}

impl std::error::Error for Dropped {}

async fn handle(
    mut req: Request<Incoming>,
    upstream: SocketAddr,
    state: Arc<HttpState>,
    client: Client<HttpConnector, Incoming>,
) -> Result<Response<Body>, BoxError> {
    let service = service_of(&req);
    if let Some(n) = attempt_of(&req) {
        state.max_attempt.fetch_max(n, Ordering::SeqCst);
        if n > 1 {
            state.retries.fetch_add(1, Ordering::SeqCst);
        }
    }
    let count = |state: &HttpState, fault: Fault| {
        let mut t = lock(&state.tally);
        *t.faults.entry(fault).or_default() += 1;
        if fault == Fault::Throttle {
            *t.throttled.entry(service.clone()).or_default() += 1;
        }
    };
    *lock(&state.tally)
        .requests
        .entry(service.clone())
        .or_default() += 1;
    if state.outage.load(Ordering::SeqCst) {
        count(&state, Fault::Outage);
        return Err(Box::new(Dropped("outage")));
    }
    let (fault, delay, hold) = {
        let plan = lock(&state.plan).clone();
        let injected: u64 = lock(&state.tally)
            .faults
            .iter()
            .filter(|(f, _)| **f != Fault::Outage)
            .map(|(_, n)| n)
            .sum();
        let mut rng = lock(&state.rng);
        let fault = if injected < plan.limit {
            plan.draw(&mut rng)
        } else {
            None
        };
        let max = plan.max_delay.as_millis() as u64;
        (fault, rng.millis(0, max), plan.hold_response)
    };
    if let Some(f) = fault {
        count(&state, f);
    }
    match fault {
        Some(Fault::Reset) => return Err(Box::new(Dropped("reset"))),
        Some(Fault::ServerError) => return Ok(server_error(&service)),
        Some(Fault::Throttle) => return Ok(throttle(&service)),
        Some(Fault::Delay) => tokio::time::sleep(delay).await,
        _ => {}
    }
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    *req.uri_mut() = format!("http://{upstream}{path}").parse()?;
    let response = client.request(req).await?;
    if let Some(hold) = hold {
        tokio::time::sleep(hold).await;
    }
    if fault == Some(Fault::LostResponse) {
        // The emulator has acted; the client never learns it.
        return Err(Box::new(Dropped("lost response")));
    }
    Ok(response.map(|b| b.boxed()))
}

fn full(status: StatusCode, headers: &[(&str, &str)], body: String) -> Response<Body> {
    let mut builder = Response::builder().status(status);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    builder
        .header("x-amzn-RequestId", "00000000-0000-4000-8000-00000000fa17")
        .body(
            Full::new(Bytes::from(body))
                .map_err(|never: Infallible| match never {})
                .boxed(),
        )
        .expect("a fault response")
}

/// The query protocol's error document (SNS, IAM, STS).
fn query_error(service: &str, type_: &str, code: &str, message: &str) -> String {
    let ns = match service {
        "sns" => "http://sns.amazonaws.com/doc/2010-03-31/",
        "iam" => "https://iam.amazonaws.com/doc/2010-05-08/",
        _ => "https://sts.amazonaws.com/doc/2011-06-15/",
    };
    format!(
        "<ErrorResponse xmlns=\"{ns}\"><Error><Type>{type_}</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>00000000-0000-4000-8000-00000000fa17</RequestId></ErrorResponse>"
    )
}

/// Throttling as each service spells it.
fn throttle(service: &str) -> Response<Body> {
    match service {
        // awsJson1_0: the code in x-amzn-ErrorType and __type.
        "states" => full(
            StatusCode::BAD_REQUEST,
            &[
                ("content-type", "application/x-amz-json-1.0"),
                ("x-amzn-ErrorType", "ThrottlingException"),
            ],
            r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.into(),
        ),
        // restJson1: Batch answers 429 TooManyRequestsException.
        "batch" => full(
            StatusCode::TOO_MANY_REQUESTS,
            &[
                ("content-type", "application/json"),
                ("x-amzn-ErrorType", "TooManyRequestsException"),
            ],
            r#"{"message":"Too Many Requests."}"#.into(),
        ),
        // awsQuery: SNS, IAM, STS.
        _ => full(
            StatusCode::BAD_REQUEST,
            &[("content-type", "text/xml")],
            query_error(service, "Sender", "Throttling", "Rate exceeded"),
        ),
    }
}

fn server_error(service: &str) -> Response<Body> {
    match service {
        "states" => full(
            StatusCode::INTERNAL_SERVER_ERROR,
            &[
                ("content-type", "application/x-amz-json-1.0"),
                ("x-amzn-ErrorType", "InternalFailure"),
            ],
            r#"{"__type":"InternalFailure","message":"injected"}"#.into(),
        ),
        "batch" => full(
            StatusCode::INTERNAL_SERVER_ERROR,
            &[
                ("content-type", "application/json"),
                ("x-amzn-ErrorType", "ServerException"),
            ],
            r#"{"message":"injected"}"#.into(),
        ),
        _ => full(
            StatusCode::INTERNAL_SERVER_ERROR,
            &[("content-type", "text/xml")],
            query_error(service, "Receiver", "InternalFailure", "injected"),
        ),
    }
}

// ---------------------------------------------------------------- the API-server proxy

struct TcpState {
    rng: Mutex<Rng>,
    outage: AtomicBool,
    /// Each new connection is cut after a random while with this probability.
    reset_chance: Mutex<(f64, Duration)>,
    /// Bumped to cut every open connection at once.
    cut: tokio::sync::watch::Sender<u64>,
    connections: AtomicU64,
    resets: AtomicU64,
    refused: AtomicU64,
    cut_by_outage: AtomicU64,
}

/// A TCP proxy in front of the API server. TLS passes through untouched: the
/// serving certificate names 127.0.0.1, so a kubeconfig whose server is this
/// proxy still verifies.
pub struct ApiProxy {
    pub addr: SocketAddr,
    state: Arc<TcpState>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// What the API-server proxy did.
#[derive(Clone, Copy, Debug, Default)]
pub struct TcpTally {
    pub connections: u64,
    /// Connections cut at a random moment.
    pub resets: u64,
    /// Connections refused during an outage.
    pub refused: u64,
    /// Open connections cut when an outage began.
    pub cut_by_outage: u64,
}

impl ApiProxy {
    /// Starts a proxy to `upstream` (`https://127.0.0.1:PORT`, the API server).
    pub fn start(upstream: &str, seed: u64) -> ApiProxy {
        let upstream = loopback_addr(upstream);
        let listener =
            std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind the API proxy");
        let addr = listener.local_addr().expect("proxy address");
        listener.set_nonblocking(true).expect("nonblocking");
        let (cut, _) = tokio::sync::watch::channel(0);
        let state = Arc::new(TcpState {
            rng: Mutex::new(Rng::new(seed)),
            outage: AtomicBool::new(false),
            reset_chance: Mutex::new((0.0, Duration::ZERO)),
            cut,
            connections: AtomicU64::new(0),
            resets: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            cut_by_outage: AtomicU64::new(0),
        });
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let shared = state.clone();
        let thread = std::thread::Builder::new()
            .name(format!("api-proxy-{}", addr.port()))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("proxy runtime");
                rt.block_on(async move {
                    let listener = TcpListener::from_std(listener).expect("tokio listener");
                    tokio::select! {
                        _ = serve_tcp(listener, upstream, shared) => {}
                        _ = stopped => {}
                    }
                });
                rt.shutdown_timeout(Duration::from_secs(1));
            })
            .expect("spawn the API proxy thread");
        ApiProxy {
            addr,
            state,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// A kubeconfig like the bed's, whose server is this proxy; written next to the bed's logs.
    pub fn kubeconfig(&self, bed: &batchnotify_testbed::TestBed, name: &str) -> std::path::PathBuf {
        let text = std::fs::read_to_string(&bed.kubeconfig).expect("read the bed's kubeconfig");
        assert!(
            text.contains(&bed.api_server),
            "kubeconfig names the server"
        );
        let text = text.replace(&bed.api_server, &format!("https://{}", self.addr));
        let path = bed.log_dir.join(format!("kubeconfig-{name}"));
        std::fs::write(&path, text).expect("write the proxy's kubeconfig");
        path
    }

    /// On: cut every open connection and refuse new ones. Off: pass again.
    pub fn set_outage(&self, on: bool) {
        self.state.outage.store(on, Ordering::SeqCst);
        if on {
            self.state.cut.send_modify(|n| *n += 1);
        }
    }

    /// Each new connection is cut, with probability `p`, after up to `within`.
    pub fn set_resets(&self, p: f64, within: Duration) {
        *lock(&self.state.reset_chance) = (p, within);
    }

    pub fn tally(&self) -> TcpTally {
        TcpTally {
            connections: self.state.connections.load(Ordering::SeqCst),
            resets: self.state.resets.load(Ordering::SeqCst),
            refused: self.state.refused.load(Ordering::SeqCst),
            cut_by_outage: self.state.cut_by_outage.load(Ordering::SeqCst),
        }
    }
}

impl Drop for ApiProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve_tcp(listener: TcpListener, upstream: SocketAddr, state: Arc<TcpState>) {
    loop {
        let Ok((inbound, _)) = listener.accept().await else {
            continue;
        };
        if state.outage.load(Ordering::SeqCst) {
            state.refused.fetch_add(1, Ordering::SeqCst);
            refuse(inbound);
            continue;
        }
        state.connections.fetch_add(1, Ordering::SeqCst);
        let reset_after = {
            let (p, within) = *lock(&state.reset_chance);
            let mut rng = lock(&state.rng);
            rng.chance(p)
                .then(|| rng.millis(0, within.as_millis() as u64))
        };
        let mut cut = state.cut.subscribe();
        let state = state.clone();
        tokio::spawn(async move {
            let Ok(mut outbound) = TcpStream::connect(upstream).await else {
                refuse(inbound);
                return;
            };
            let mut inbound = inbound;
            let reset = async {
                match reset_after {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                _ = reset => {
                    state.resets.fetch_add(1, Ordering::SeqCst);
                    refuse(inbound);
                    refuse(outbound);
                }
                _ = cut.changed() => {
                    state.cut_by_outage.fetch_add(1, Ordering::SeqCst);
                    refuse(inbound);
                    refuse(outbound);
                }
            }
        });
    }
}
