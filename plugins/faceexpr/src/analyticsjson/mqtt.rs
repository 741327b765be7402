// SPDX-License-Identifier: MPL-2.0
//! MQTT publishing for `analyticsjson`, GStreamer-free: a bounded queue in front of `rumqttc`
//! (MQTT 3.1.1), driven by one worker thread, so that the caller (the streaming thread) never
//! waits on the broker.
//!
//! - [`Publisher::offer`] queues one record (QoS 1) or refuses it when `max_queued` records are
//!   not yet acknowledged by the broker (waiting, or sent and awaiting their PUBACK). It never
//!   blocks: the only lock it takes is the queue's, which nobody holds across a network wait.
//! - The worker owns the connection: plain TCP or TLS (rustls with the `ring` provider; a CA
//!   file or the system's roots; an optional client certificate), username/password, a persistent
//!   session (`clean_session = false`, the caller's stable client id). After a lost connection it
//!   reconnects with a growing delay (0.2 s doubling to 5 s) and sends every unacknowledged record
//!   again, the oldest first, whether or not the broker kept the session: delivery is
//!   at-least-once (a record whose PUBACK was lost with the connection is sent twice).
//! - At most [`MAX_IN_FLIGHT`] records are handed to `rumqttc` at a time; the rest wait in this
//!   queue. (`rumqttc` would lose requests that collide on a packet id if it held more.)
//! - [`Publisher::drain`] waits, bounded, until everything was acknowledged; [`Publisher::stop`]
//!   never waits on the broker and returns the number of records it gives up.
//!
//! Connection events reach the caller through a [`Report`] callback, called on the worker
//! thread.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rumqttc::{
    AsyncClient, ClientError, EventLoop, MqttOptions, Packet, QoS, Request, TlsConfiguration,
    Transport,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::sync::oneshot;

/// Records handed to `rumqttc` and not yet acknowledged, at most (the rest wait in our queue).
pub const MAX_IN_FLIGHT: usize = 100;
/// The worker pings an idle broker this often; a silent broker is given up after 1.5 of it.
const KEEP_ALIVE: Duration = Duration::from_secs(20);
/// First delay before reconnecting; it doubles up to [`RECONNECT_MAX`].
const RECONNECT_MIN: Duration = Duration::from_millis(200);
const RECONNECT_MAX: Duration = Duration::from_secs(5);
/// MQTT's own limit on a packet: a record is never refused for its size.
const MAX_OUTGOING_PACKET: usize = 268_435_455;
/// The broker only sends acknowledgements to a publisher.
const MAX_INCOMING_PACKET: usize = 64 * 1024;

/// Why the publisher could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    #[error("invalid MQTT broker address {0:?} (expected host:port)")]
    Address(String),
    #[error("invalid MQTT topic name {0:?} (empty, or with a + or # wildcard)")]
    Topic(String),
    #[error("invalid MQTT client id {0:?} (empty, or starting with a space)")]
    ClientId(String),
    #[error("an MQTT password needs a username")]
    PasswordWithoutUsername,
    #[error("a client certificate and its key go together (only the {0} is set)")]
    HalfClientCertificate(&'static str),
    #[error("could not read {what} from \"{}\": {reason}", path.display())]
    TlsFile {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("no system root certificates to verify the broker with: set a CA file")]
    NoSystemRoots,
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    #[error("could not start the MQTT worker: {0}")]
    Worker(#[from] std::io::Error),
}

/// TLS to the broker: its CA certificates (`None`: the system's roots) and an optional client
/// certificate chain and key, all PEM files.
#[derive(Debug, Clone, Default)]
pub struct TlsFiles {
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

/// Everything the publisher needs; checked by [`Publisher::start`]. (No `Debug`: it holds the
/// password.)
#[derive(Clone)]
pub struct Config {
    /// `host:port` (`[v6]:port` for an IPv6 literal).
    pub address: String,
    /// Stable across runs: the broker keeps the session under this id.
    pub client_id: String,
    pub topic: String,
    pub tls: Option<TlsFiles>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Records not yet acknowledged by the broker, at most (at least 1).
    pub max_queued: usize,
}

/// A connection event, reported from the worker thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// Connected (again). `after_failure`: a [`Report::ConnectionFailed`] came before;
    /// `session_present`: the broker kept our session; `resent`: unacknowledged records sent
    /// again.
    Connected {
        after_failure: bool,
        session_present: bool,
        resent: usize,
    },
    /// The connection could not be made, or was lost; reported once until the next
    /// [`Report::Connected`]. `unacknowledged`: records held for the next connection.
    ConnectionFailed {
        error: String,
        was_connected: bool,
        unacknowledged: usize,
    },
}

/// Counts since the publisher started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Accepted by [`Publisher::offer`] and not yet acknowledged by the broker.
    pub unacknowledged: u64,
    /// Acknowledged by the broker (PUBACK).
    pub acknowledged: u64,
}

/// Splits `host:port`; brackets around an IPv6 literal are removed.
fn host_port(address: &str) -> Result<(String, u16), MqttError> {
    let bad = || MqttError::Address(address.to_owned());
    let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let port = port.parse::<u16>().map_err(|_| bad())?;
    if host.is_empty() || port == 0 {
        return Err(bad());
    }
    Ok((host.to_owned(), port))
}

/// Checks that `topic` can be published to (not empty, no wildcards).
pub fn check_topic(topic: &str) -> Result<(), MqttError> {
    if topic.is_empty() || topic.contains(['+', '#']) {
        return Err(MqttError::Topic(topic.to_owned()));
    }
    Ok(())
}

fn read_certificates(
    what: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, MqttError> {
    let error = |reason: String| MqttError::TlsFile {
        what,
        path: path.to_owned(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| error(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| error(e.to_string()))?;
    if certs.is_empty() {
        return Err(error("no PEM certificate in it".into()));
    }
    Ok(certs)
}

/// The rustls client configuration, with the `ring` provider (never the process default).
fn tls_config(files: &TlsFiles) -> Result<Arc<rustls::ClientConfig>, MqttError> {
    let mut roots = rustls::RootCertStore::empty();
    match &files.ca_file {
        Some(path) => {
            for cert in read_certificates("the CA certificates", path)? {
                roots.add(cert).map_err(|e| MqttError::TlsFile {
                    what: "the CA certificates",
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            }
        }
        None => {
            let (added, _ignored) =
                roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            if added == 0 {
                return Err(MqttError::NoSystemRoots);
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let config = match (&files.cert_file, &files.key_file) {
        (None, None) => builder.with_no_client_auth(),
        (Some(cert), Some(key)) => {
            let chain = read_certificates("the client certificate", cert)?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| MqttError::TlsFile {
                what: "the client key",
                path: key.clone(),
                reason: e.to_string(),
            })?;
            builder.with_client_auth_cert(chain, key)?
        }
        (Some(_), None) => return Err(MqttError::HalfClientCertificate("certificate")),
        (None, Some(_)) => return Err(MqttError::HalfClientCertificate("key")),
    };
    Ok(Arc::new(config))
}

fn options(config: &Config) -> Result<MqttOptions, MqttError> {
    let (host, port) = host_port(&config.address)?;
    check_topic(&config.topic)?;
    // rumqttc panics on these; refuse them here.
    if config.client_id.is_empty() || config.client_id.starts_with(' ') {
        return Err(MqttError::ClientId(config.client_id.clone()));
    }
    let mut options = MqttOptions::new(config.client_id.clone(), host, port);
    options
        .set_clean_session(false)
        .set_keep_alive(KEEP_ALIVE)
        .set_max_packet_size(MAX_INCOMING_PACKET, MAX_OUTGOING_PACKET)
        .set_inflight(in_flight_max(config.max_queued) as u16);
    match (&config.username, &config.password) {
        (Some(user), password) => {
            options.set_credentials(user.clone(), password.clone().unwrap_or_default());
        }
        (None, Some(_)) => return Err(MqttError::PasswordWithoutUsername),
        (None, None) => {}
    }
    if let Some(files) = &config.tls {
        options.set_transport(Transport::Tls(TlsConfiguration::Rustls(tls_config(files)?)));
    }
    Ok(options)
}

fn in_flight_max(max_queued: usize) -> usize {
    max_queued.clamp(1, MAX_IN_FLIGHT)
}

#[derive(Default)]
struct Queue {
    /// Accepted, not yet handed to the client.
    waiting: VecDeque<Vec<u8>>,
    /// Handed to the client (sent, or held for the next connection), not yet acknowledged.
    in_flight: usize,
    acknowledged: u64,
    /// Set while flushing or stopping: [`Publisher::drain`] returns at once.
    flushing: bool,
    /// After [`Publisher::stop`]: every offer is refused.
    stopped: bool,
}

impl Queue {
    fn unacknowledged(&self) -> usize {
        self.waiting.len() + self.in_flight
    }
}

struct Shared {
    queue: Mutex<Queue>,
    /// Signalled on every acknowledgement and on flushing.
    changed: Condvar,
    client: AsyncClient,
    topic: String,
    max_queued: usize,
    in_flight_max: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands waiting records to the client, in order, while fewer than `in_flight_max` are
    /// unacknowledged. The client's channel holds `in_flight_max` requests, so this never
    /// blocks; a refused record goes back to the front of the queue.
    fn hand_over(&self, queue: &mut Queue) {
        while queue.in_flight < self.in_flight_max {
            let Some(payload) = queue.waiting.pop_front() else {
                break;
            };
            match self
                .client
                .try_publish(self.topic.as_str(), QoS::AtLeastOnce, false, payload)
            {
                Ok(()) => queue.in_flight += 1,
                Err(ClientError::Request(Request::Publish(p)))
                | Err(ClientError::TryRequest(Request::Publish(p))) => {
                    queue.waiting.push_front(p.payload.to_vec());
                    break;
                }
                Err(_) => break,
            }
        }
    }

    fn acknowledged(&self) {
        let mut queue = self.lock();
        queue.in_flight = queue.in_flight.saturating_sub(1);
        queue.acknowledged += 1;
        self.hand_over(&mut queue);
        drop(queue);
        self.changed.notify_all();
    }
}

/// A running publisher; dropping it stops it.
pub struct Publisher {
    shared: Arc<Shared>,
    shutdown: Mutex<Option<oneshot::Sender<()>>>,
    worker: Mutex<Option<JoinHandle<()>>>,
}

impl Publisher {
    /// Checks `config`, reads the TLS files and starts the worker, which connects in the
    /// background: an unreachable broker is a [`Report::ConnectionFailed`], not an error here.
    pub fn start(
        config: &Config,
        report: impl Fn(Report) + Send + 'static,
    ) -> Result<Publisher, MqttError> {
        let options = options(config)?;
        let in_flight_max = in_flight_max(config.max_queued);
        let (client, eventloop) = AsyncClient::new(options, in_flight_max);
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            changed: Condvar::new(),
            client,
            topic: config.topic.clone(),
            max_queued: config.max_queued.max(1),
            in_flight_max,
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()?;
        let (shutdown_tx, shutdown_rx) = oneshot::channel();
        let worker_shared = shared.clone();
        let worker = std::thread::Builder::new()
            .name("analyticsjson-mqtt".into())
            .spawn(move || {
                runtime.block_on(run(eventloop, worker_shared, Box::new(report), shutdown_rx));
            })?;
        Ok(Publisher {
            shared,
            shutdown: Mutex::new(Some(shutdown_tx)),
            worker: Mutex::new(Some(worker)),
        })
    }

    /// Queues one record; `false` (the record is dropped) when `max_queued` records are
    /// unacknowledged already, or after [`Publisher::stop`]. Never blocks.
    pub fn offer(&self, payload: Vec<u8>) -> bool {
        let mut queue = self.shared.lock();
        if queue.unacknowledged() >= self.shared.max_queued || queue.stopped {
            return false;
        }
        queue.waiting.push_back(payload);
        self.shared.hand_over(&mut queue);
        true
    }

    pub fn stats(&self) -> Stats {
        let queue = self.shared.lock();
        Stats {
            unacknowledged: queue.unacknowledged() as u64,
            acknowledged: queue.acknowledged,
        }
    }

    /// While flushing, [`Publisher::drain`] returns at once (and a running one wakes up).
    pub fn set_flushing(&self, flushing: bool) {
        self.shared.lock().flushing = flushing;
        self.shared.changed.notify_all();
    }

    /// Waits until the broker acknowledged every record, for `timeout` at most or until
    /// flushing; returns the number still unacknowledged (they stay queued).
    pub fn drain(&self, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        let mut queue = self.shared.lock();
        loop {
            let now = Instant::now();
            if queue.unacknowledged() == 0 || queue.flushing || now >= deadline {
                return queue.unacknowledged();
            }
            queue = self
                .shared
                .changed
                .wait_timeout(queue, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Stops the worker without waiting on the broker (the connection is dropped) and returns
    /// the number of records given up (never acknowledged). Later calls return 0.
    pub fn stop(&self) -> usize {
        {
            let mut queue = self.shared.lock();
            queue.flushing = true;
            queue.stopped = true;
        }
        self.shared.changed.notify_all();
        let shutdown = self
            .shutdown
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(shutdown) = shutdown else {
            return 0;
        };
        let _ = shutdown.send(());
        let worker = self
            .worker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(worker) = worker {
            // The worker only waits on the shutdown signal or the network, and the signal wins.
            let _ = worker.join();
        }
        let mut queue = self.shared.lock();
        let given_up = queue.unacknowledged();
        queue.waiting.clear();
        queue.in_flight = 0;
        given_up
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The worker: drives `rumqttc`'s event loop until shut down.
async fn run(
    mut eventloop: EventLoop,
    shared: Arc<Shared>,
    report: Box<dyn Fn(Report) + Send>,
    mut shutdown: oneshot::Receiver<()>,
) {
    // Unacknowledged requests across a reconnection. rumqttc keeps them in `pending` but drops
    // them when the broker answers without our session (a broker without persistence restarted,
    // or a session that expired); we put them back after every CONNACK instead.
    let mut held: VecDeque<Request> = VecDeque::new();
    let mut connected = false;
    let mut was_connected = false;
    let mut failure_reported = false;
    let mut delay = RECONNECT_MIN;
    loop {
        if !connected {
            held.extend(eventloop.pending.drain(..));
        }
        let event = tokio::select! {
            biased;
            _ = &mut shutdown => return,
            event = eventloop.poll() => event,
        };
        match event {
            Ok(rumqttc::Event::Incoming(Packet::ConnAck(ack))) => {
                let resent = held.len();
                while let Some(mut request) = held.pop_back() {
                    // Sent before (it has a packet id): MQTT wants the DUP flag on it.
                    if let Request::Publish(publish) = &mut request {
                        publish.dup = publish.pkid != 0;
                    }
                    eventloop.pending.push_front(request);
                }
                report(Report::Connected {
                    after_failure: failure_reported,
                    session_present: ack.session_present,
                    resent,
                });
                connected = true;
                was_connected = true;
                failure_reported = false;
                delay = RECONNECT_MIN;
            }
            Ok(rumqttc::Event::Incoming(Packet::PubAck(_))) => shared.acknowledged(),
            Ok(_) => {}
            Err(error) => {
                connected = false;
                if !failure_reported {
                    failure_reported = true;
                    // Not under the queue lock: the callback posts messages.
                    let unacknowledged = shared.lock().unacknowledged();
                    report(Report::ConnectionFailed {
                        error: error.to_string(),
                        was_connected,
                        unacknowledged,
                    });
                }
                tokio::select! {
                    biased;
                    _ = &mut shutdown => return,
                    _ = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(RECONNECT_MAX);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::sync::mpsc;

    fn config(address: &str) -> Config {
        Config {
            address: address.to_owned(),
            client_id: "unit".into(),
            topic: "t/x".into(),
            tls: None,
            username: None,
            password: None,
            max_queued: 2,
        }
    }

    #[test]
    fn addresses() {
        assert_eq!(
            host_port("localhost:1883").unwrap(),
            ("localhost".into(), 1883)
        );
        assert_eq!(host_port("[::1]:8883").unwrap(), ("::1".into(), 8883));
        for bad in ["localhost", ":1883", "h:0", "h:65536", "h:x"] {
            assert!(
                matches!(host_port(bad), Err(MqttError::Address(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn bad_settings_are_refused_before_anything_starts() {
        let refused = |config: Config| Publisher::start(&config, |_| {}).err().unwrap();
        for topic in ["", "a/+/b", "a/#"] {
            let err = refused(Config {
                topic: topic.into(),
                ..config("h:1")
            });
            assert!(matches!(err, MqttError::Topic(_)), "{err}");
        }
        let err = refused(Config {
            client_id: String::new(),
            ..config("h:1")
        });
        assert!(matches!(err, MqttError::ClientId(_)), "{err}");
        let err = refused(Config {
            password: Some("p".into()),
            ..config("h:1")
        });
        assert!(matches!(err, MqttError::PasswordWithoutUsername), "{err}");
        let missing = PathBuf::from("/nonexistent/ca.pem");
        let err = refused(Config {
            tls: Some(TlsFiles {
                ca_file: Some(missing.clone()),
                ..TlsFiles::default()
            }),
            ..config("h:1")
        });
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
        let not_pem = std::env::current_exe().unwrap();
        let err = refused(Config {
            tls: Some(TlsFiles {
                ca_file: Some(not_pem),
                ..TlsFiles::default()
            }),
            ..config("h:1")
        });
        assert!(err.to_string().contains("no PEM certificate"), "{err}");
        let err = refused(Config {
            tls: Some(TlsFiles {
                ca_file: None,
                cert_file: Some(missing),
                key_file: None,
            }),
            ..config("h:1")
        });
        // Either the system roots are missing or the client key is.
        assert!(
            matches!(
                err,
                MqttError::HalfClientCertificate("certificate") | MqttError::NoSystemRoots
            ),
            "{err}"
        );
    }

    /// Nothing listens: the records queue up to `max_queued`, the rest are refused, the
    /// failure is reported once, and neither drain nor stop waits for a broker.
    #[test]
    fn unreachable_broker_bounds_the_queue() {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let address = format!("127.0.0.1:{port}");
        let (tx, rx) = mpsc::channel();
        let publisher = Publisher::start(&config(&address), move |r| {
            let _ = tx.send(r);
        })
        .unwrap();
        let offered: Vec<bool> = (0..5).map(|i| publisher.offer(vec![b'0' + i])).collect();
        assert_eq!(offered, [true, true, false, false, false]);
        let report = rx.recv_timeout(Duration::from_secs(30)).unwrap();
        let Report::ConnectionFailed {
            error,
            was_connected,
            unacknowledged,
        } = report
        else {
            panic!("{report:?}")
        };
        assert!(!was_connected);
        // The first attempt may fail before the records were offered.
        assert!(unacknowledged <= 2, "{unacknowledged}");
        assert!(error.contains("refused"), "{error}");
        assert_eq!(publisher.drain(Duration::from_millis(50)), 2);
        assert_eq!(
            publisher.stats(),
            Stats {
                unacknowledged: 2,
                acknowledged: 0
            }
        );
        publisher.set_flushing(true);
        assert_eq!(publisher.drain(Duration::from_secs(3600)), 2, "flushing");
        assert_eq!(publisher.stop(), 2);
        assert_eq!(publisher.stop(), 0);
        assert!(!publisher.offer(b"late".to_vec()), "stopped");
        // Reported once per outage, however many attempts failed.
        assert!(rx.try_recv().is_err());
    }
}
