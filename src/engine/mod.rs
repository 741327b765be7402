// SPDX-License-Identifier: MPL-2.0
//! The process-wide inference engine: shared model instances, one thread budget for every
//! element, and cancellable runs.
//!
//! # Shared instances
//! [`crate::runtime::Model::load`] looks the model up in a process-wide registry keyed by the
//! model file's identity (canonical path, device, inode, size and modification time), the
//! requested execution provider, the session options and an optional instance name (the elements'
//! `model-instance` property). Every element that asks for the same key gets a handle to the same
//! [`SharedModel`]; it is dropped with its last handle. An ONNX Runtime session runs one request at
//! a time (`Session::run` takes `&mut self`), so a shared model keeps a small pool of sessions:
//!
//! * a **wide** session whose intra-op pool has as many threads as the budget has cores, for a run
//!   that has the machine to itself (one stream: the lowest latency);
//! * up to one **narrow** single-threaded session per core, for runs that overlap (several
//!   streams: runs side by side beat one run after another on a shared pool; `faceexpression` on
//!   2 cores, `benches/streams_bench.py`: 8 streams 70 fps with narrow runs, 31 fps with a
//!   2-thread pool per element). Each session has its own arena, so a model whose activations
//!   are large can do without narrow sessions (`SessionOptions::overlap = false`): its runs are
//!   then all wide, one after another (the voices: 4 `neuraltts` with narrow sessions had 3.3×
//!   the peak RSS of one, for about 1.13× the throughput).
//!
//! Sessions, arenas and weights therefore scale with the number of runs the cores can do at once
//! (at most `1 + cores` sessions per model on the CPU), never with the number of elements.
//! A model on an accelerator (CUDA/TensorRT) has one session that serialises its runs.
//!
//! # Thread budget
//! The budget is one token per core ([`budget`]; `NEURAL_MEDIA_THREADS` overrides it). A wide run
//! takes every token, and starts only when all are free, no other run waits and no other element
//! asked for a run in the last half second (one active stream); otherwise a run is narrow and takes
//! one token. Runs of every shared model in the process draw from the same budget, so N elements never
//! have more model threads running than there are cores. An element with `threads > 0` asks for a
//! private instance instead: its own session with a pool of that size, outside the budget (as
//! before the engine existed).
//!
//! # Cancellation
//! Each element owns a [`Cancel`]. [`Cancel::cancel`] (from `unlock()`, a flush start or a state
//! change to READY) terminates that element's running ONNX Runtime runs (`RunOptions::terminate`)
//! and fails its queued requests with [`Error::Cancelled`]; other elements' runs go on.
//! [`Cancel::reset`] lets the element run again. [`stats`] counts the runs that were cancelled, and
//! [`testing::hold_runs`] holds runs open so that tests can prove by ordering, not timing, that a
//! cancellation returns before the run would have ended.
//!
//! # Batching
//! Requests of several elements that arrive within a batch window can run as one batch
//! ([`BatchPolicy`], see the `batch` module): on by default on accelerators, off on the CPU,
//! where it gains nothing.

mod batch;

pub use batch::{AUTO_MAX_BATCH, BatchPolicy, RowsInput, RowsOutputs};

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, LazyLock, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use ort::session::{RunOptions, Session, SessionInputs, SessionOutputs};

use crate::error::{Error, Result};
use crate::runtime::{ExecutionProvider, SessionOptions};

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Waits for the scheduler's next change.
fn wait(state: MutexGuard<'_, SchedulerState>) -> MutexGuard<'_, SchedulerState> {
    SCHEDULER
        .changed
        .wait(state)
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The number of runs the process may have on the CPU at once: `NEURAL_MEDIA_THREADS` if set
/// to a positive number, else the available parallelism of the machine.
pub fn budget() -> usize {
    static BUDGET: LazyLock<usize> = LazyLock::new(|| {
        std::env::var("NEURAL_MEDIA_THREADS")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&n| n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    });
    *BUDGET
}

/// A cancellation handle: one per element, shared by every model the element runs.
#[derive(Clone, Default)]
pub struct Cancel(Arc<CancelInner>);

#[derive(Default)]
struct CancelInner {
    cancelled: AtomicBool,
    /// The run options of this handle's runs in progress.
    running: Mutex<Vec<Arc<RunOptions>>>,
}

impl std::fmt::Debug for Cancel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cancel")
            .field("cancelled", &self.is_cancelled())
            .finish_non_exhaustive()
    }
}

impl Cancel {
    /// A handle that is not cancelled.
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Terminates this handle's runs in progress and fails its queued and future requests with
    /// [`Error::Cancelled`] until [`Cancel::reset`]. Returns at once: it does not wait for a
    /// terminated run to unwind.
    pub fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::SeqCst);
        for options in lock(&self.0.running).iter() {
            if let Err(e) = options.terminate() {
                tracing::warn!(error = %e, "cannot terminate a run");
            }
        }
        SCHEDULER.wake_all();
        batch::wake_all();
    }

    /// Accepts requests again.
    pub fn reset(&self) {
        self.0.cancelled.store(false, Ordering::SeqCst);
    }

    /// Whether [`Cancel::cancel`] was called since the last reset.
    pub fn is_cancelled(&self) -> bool {
        self.0.cancelled.load(Ordering::SeqCst)
    }

    fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            Err(Error::Cancelled)
        } else {
            Ok(())
        }
    }

    /// Registers a run; a cancellation that came first terminates it at once.
    fn register(&self, options: &Arc<RunOptions>) -> Result<()> {
        lock(&self.0.running).push(Arc::clone(options));
        if self.is_cancelled() {
            options.terminate().map_err(Error::inference)?;
        }
        Ok(())
    }

    fn unregister(&self, options: &Arc<RunOptions>) {
        lock(&self.0.running).retain(|o| !Arc::ptr_eq(o, options));
    }
}

/// Counters of the engine since the process started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Model runs started.
    pub runs: u64,
    /// Runs (started or queued) that ended with [`Error::Cancelled`].
    pub cancelled: u64,
    /// ONNX Runtime sessions alive now, in every model.
    pub sessions: u64,
    /// Shared models alive now.
    pub models: u64,
    /// Runs that held the requests of more than one element.
    pub batched_runs: u64,
    /// Requests served by those runs.
    pub batched_requests: u64,
}

static RUNS: AtomicU64 = AtomicU64::new(0);
static CANCELLED: AtomicU64 = AtomicU64::new(0);
static SESSIONS: AtomicU64 = AtomicU64::new(0);
static BATCHED_RUNS: AtomicU64 = AtomicU64::new(0);
static BATCHED_REQUESTS: AtomicU64 = AtomicU64::new(0);

/// The engine's counters.
pub fn stats() -> EngineStats {
    EngineStats {
        runs: RUNS.load(Ordering::SeqCst),
        cancelled: CANCELLED.load(Ordering::SeqCst),
        sessions: SESSIONS.load(Ordering::SeqCst),
        models: lock(&REGISTRY)
            .values()
            .filter(|m| m.strong_count() > 0)
            .count() as u64,
        batched_runs: BATCHED_RUNS.load(Ordering::SeqCst),
        batched_requests: BATCHED_REQUESTS.load(Ordering::SeqCst),
    }
}

/// The budget's tokens and the test hold, behind one lock and one condition variable.
struct Scheduler {
    state: Mutex<SchedulerState>,
    changed: Condvar,
}

struct SchedulerState {
    free: usize,
    waiting: usize,
    /// Requests among `waiting` that need every token.
    wide_waiting: usize,
    /// When each handle (by address) last asked for a run: the streams active right now.
    recent: HashMap<usize, Instant>,
    hold: bool,
    held: usize,
}

/// A handle that asked for a run within this window counts as an active stream.
const ACTIVE_WINDOW: Duration = Duration::from_millis(500);

static SCHEDULER: LazyLock<Scheduler> = LazyLock::new(|| Scheduler {
    state: Mutex::new(SchedulerState {
        free: budget(),
        waiting: 0,
        wide_waiting: 0,
        recent: HashMap::new(),
        hold: false,
        held: 0,
    }),
    changed: Condvar::new(),
});

/// Tokens taken from the budget, given back on drop.
struct Grant {
    tokens: usize,
}

impl Grant {
    fn wide(&self) -> bool {
        self.tokens == budget()
    }
}

impl Drop for Grant {
    fn drop(&mut self) {
        let mut state = lock(&SCHEDULER.state);
        state.free += self.tokens;
        drop(state);
        SCHEDULER.changed.notify_all();
    }
}

impl Scheduler {
    /// Every token when they are all free, nobody else waits and no other stream asked for a
    /// run within [`ACTIVE_WINDOW`]; else one token. (Two streams that take turns with wide runs
    /// would each wait for the other's whole run, and their own work between runs would compete
    /// with the run's threads: narrow runs side by side do more.)
    ///
    /// `wide_only` (a model without narrow sessions) waits for every token, and while it waits
    /// no run takes a token before it.
    fn acquire(&self, cancel: &Cancel, wide_only: bool) -> Result<Grant> {
        let cores = budget();
        let now = Instant::now();
        let mut state = lock(&self.state);
        state
            .recent
            .retain(|_, at| now.duration_since(*at) < ACTIVE_WINDOW);
        state.recent.insert(Arc::as_ptr(&cancel.0) as usize, now);
        let alone = state.recent.len() == 1;
        state.waiting += 1;
        state.wide_waiting += usize::from(wide_only);
        let tokens = loop {
            if cancel.is_cancelled() {
                state.waiting -= 1;
                state.wide_waiting -= usize::from(wide_only);
                return Err(Error::Cancelled);
            }
            if state.free == cores && (wide_only || (state.waiting == 1 && alone)) {
                break cores;
            }
            if state.free > 0 && !wide_only && state.wide_waiting == 0 {
                break 1;
            }
            state = wait(state);
        };
        state.free -= tokens;
        state.waiting -= 1;
        state.wide_waiting -= usize::from(wide_only);
        Ok(Grant { tokens })
    }

    fn wake_all(&self) {
        drop(lock(&self.state));
        self.changed.notify_all();
    }

    /// The test hook: waits while runs are held, unless `cancel` fires.
    fn hold_point(&self, cancel: &Cancel) -> Result<()> {
        let mut state = lock(&self.state);
        if !state.hold {
            return Ok(());
        }
        state.held += 1;
        self.changed.notify_all();
        while state.hold && !cancel.is_cancelled() {
            state = wait(state);
        }
        state.held -= 1;
        cancel.check()
    }
}

/// Test support: hold every run open at its start (before it waits for the budget and calls ONNX
/// Runtime), so that a test can act while a run is in progress and prove that a cancellation
/// returns before the run ends.
#[doc(hidden)]
pub mod testing {
    use super::{SCHEDULER, lock, wait};

    /// Holds runs until dropped.
    pub struct HoldGuard(());

    /// From now on every run waits at its start until the guard is dropped or its [`super::Cancel`]
    /// is cancelled (the run then fails with `Error::Cancelled`).
    pub fn hold_runs() -> HoldGuard {
        lock(&SCHEDULER.state).hold = true;
        HoldGuard(())
    }

    impl HoldGuard {
        /// Blocks until at least `n` runs are held.
        pub fn wait_held(&self, n: usize) {
            let mut state = lock(&SCHEDULER.state);
            while state.held < n {
                state = wait(state);
            }
        }

        /// Runs held right now.
        pub fn held(&self) -> usize {
            lock(&SCHEDULER.state).held
        }
    }

    impl Drop for HoldGuard {
        fn drop(&mut self) {
            lock(&SCHEDULER.state).hold = false;
            SCHEDULER.changed.notify_all();
        }
    }
}

/// What makes two loads share one model.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ModelKey {
    path: PathBuf,
    device: u64,
    inode: u64,
    len: u64,
    modified: Option<std::time::SystemTime>,
    provider: ExecutionProvider,
    spinning: bool,
    overlap: bool,
    instance: String,
}

impl ModelKey {
    pub(crate) fn new(path: &std::path::Path, options: &SessionOptions) -> Result<ModelKey> {
        use std::os::unix::fs::MetadataExt;
        let canonical = path.canonicalize().map_err(|e| Error::model(path, e))?;
        let meta = std::fs::metadata(&canonical).map_err(|e| Error::model(path, e))?;
        Ok(ModelKey {
            path: canonical,
            device: meta.dev(),
            inode: meta.ino(),
            len: meta.len(),
            modified: meta.modified().ok(),
            provider: options.execution_provider,
            spinning: options.spinning,
            overlap: options.overlap,
            instance: options.instance.clone(),
        })
    }
}

static REGISTRY: LazyLock<Mutex<HashMap<ModelKey, Weak<SharedModel>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// A session counted in [`EngineStats::sessions`].
pub(crate) struct CountedSession(Session);

impl CountedSession {
    pub(crate) fn new(session: Session) -> CountedSession {
        SESSIONS.fetch_add(1, Ordering::SeqCst);
        CountedSession(session)
    }

    pub(crate) fn session(&self) -> &Session {
        &self.0
    }
}

impl Drop for CountedSession {
    fn drop(&mut self) {
        SESSIONS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Builds a single-threaded session for a budgeted model's overlapping runs.
pub(crate) type NarrowBuilder = Box<dyn Fn() -> Result<Session> + Send + Sync>;

/// One model, shared by every element that loaded it with the same key.
pub(crate) struct SharedModel {
    /// The provider the sessions run on (never `Auto`).
    provider: ExecutionProvider,
    /// The wide session (budgeted), or the only session (private or accelerated).
    main: Mutex<CountedSession>,
    /// Runs draw from the budget: CPU, `threads = 0`.
    budgeted: bool,
    /// Idle narrow sessions.
    narrow: Mutex<Vec<CountedSession>>,
    build_narrow: Option<NarrowBuilder>,
    /// Every input has a free first dimension: requests can be stacked into one batch.
    batchable: bool,
}

/// Whether every input of `session` has a free first (batch) dimension.
fn batchable(session: &Session) -> bool {
    session.inputs().iter().all(|input| {
        input
            .dtype()
            .tensor_shape()
            .is_some_and(|shape| shape.first().is_some_and(|&d| d < 0))
    })
}

impl SharedModel {
    /// A model outside the budget: one session, runs one after another.
    pub(crate) fn single(session: Session, provider: ExecutionProvider) -> SharedModel {
        SharedModel {
            provider,
            batchable: batchable(&session),
            main: Mutex::new(CountedSession::new(session)),
            budgeted: false,
            narrow: Mutex::new(Vec::new()),
            build_narrow: None,
        }
    }

    /// A budgeted CPU model: `wide` uses every core; `narrow` builds single-threaded sessions
    /// for overlapping runs (`None`: every run is wide, one after another).
    pub(crate) fn budgeted(wide: Session, narrow: Option<NarrowBuilder>) -> SharedModel {
        SharedModel {
            provider: ExecutionProvider::Cpu,
            batchable: batchable(&wide),
            main: Mutex::new(CountedSession::new(wide)),
            budgeted: true,
            narrow: Mutex::new(Vec::new()),
            build_narrow: narrow,
        }
    }

    /// The shared model for `key`, or a new one from `build` (under the registry lock, so two
    /// elements that load the same model at once build it once).
    pub(crate) fn get_or_build(
        key: ModelKey,
        build: impl FnOnce() -> Result<SharedModel>,
    ) -> Result<Arc<SharedModel>> {
        let mut registry = lock(&REGISTRY);
        if let Some(model) = registry.get(&key).and_then(Weak::upgrade) {
            tracing::debug!(model = %key.path.display(), instance = %key.instance, "sharing a loaded model");
            return Ok(model);
        }
        registry.retain(|_, model| model.strong_count() > 0);
        let model = Arc::new(build()?);
        registry.insert(key, Arc::downgrade(&model));
        Ok(model)
    }

    /// The execution provider in use.
    pub(crate) fn provider(&self) -> ExecutionProvider {
        self.provider
    }

    /// Whether requests can be stacked into one batch.
    pub(crate) fn batchable(&self) -> bool {
        self.batchable
    }

    /// Calls `f` with a session of this model (for its inputs and outputs).
    pub(crate) fn inspect<R>(&self, f: impl FnOnce(&Session) -> R) -> R {
        f(lock(&self.main).session())
    }

    /// Runs the model on `inputs` and hands the outputs to `extract`, within the thread budget
    /// and cancellable through `cancel`.
    pub(crate) fn run<'i, 'v: 'i, const N: usize, R>(
        &self,
        cancel: &Cancel,
        inputs: impl Into<SessionInputs<'i, 'v, N>>,
        extract: impl FnOnce(&SessionOutputs<'_>) -> Result<R>,
    ) -> Result<R> {
        let result = self.run_scheduled(cancel, inputs, extract);
        if matches!(result, Err(Error::Cancelled)) {
            CANCELLED.fetch_add(1, Ordering::SeqCst);
        }
        result
    }

    fn run_scheduled<'i, 'v: 'i, const N: usize, R>(
        &self,
        cancel: &Cancel,
        inputs: impl Into<SessionInputs<'i, 'v, N>>,
        extract: impl FnOnce(&SessionOutputs<'_>) -> Result<R>,
    ) -> Result<R> {
        cancel.check()?;
        SCHEDULER.hold_point(cancel)?;
        let grant = match self.budgeted {
            true => Some(SCHEDULER.acquire(cancel, self.build_narrow.is_none())?),
            false => None,
        };
        if grant.as_ref().is_none_or(Grant::wide) {
            let mut session = lock(&self.main);
            return run_session(&mut session.0, cancel, inputs, extract);
        }
        let mut session = self.take_narrow()?;
        let result = run_session(&mut session.0, cancel, inputs, extract);
        lock(&self.narrow).push(session);
        drop(grant);
        result
    }

    /// An idle narrow session, or a new one (at most one per token can be busy at once).
    fn take_narrow(&self) -> Result<CountedSession> {
        if let Some(session) = lock(&self.narrow).pop() {
            return Ok(session);
        }
        let build = self
            .build_narrow
            .as_ref()
            .ok_or_else(|| Error::inference("no narrow session builder"))?;
        let session = CountedSession::new(build()?);
        tracing::debug!("narrow session ready");
        Ok(session)
    }
}

fn run_session<'i, 'v: 'i, const N: usize, R>(
    session: &mut Session,
    cancel: &Cancel,
    inputs: impl Into<SessionInputs<'i, 'v, N>>,
    extract: impl FnOnce(&SessionOutputs<'_>) -> Result<R>,
) -> Result<R> {
    let options = Arc::new(RunOptions::new().map_err(Error::inference)?);
    cancel.register(&options)?;
    RUNS.fetch_add(1, Ordering::SeqCst);
    let result = session
        .run_with_options(inputs, &*options)
        .map_err(|e| {
            if cancel.is_cancelled() {
                Error::Cancelled
            } else {
                Error::inference(e)
            }
        })
        .and_then(|outputs| extract(&outputs));
    cancel.unregister(&options);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_cancelled_handle_fails_requests_until_reset() {
        let cancel = Cancel::new();
        assert!(cancel.check().is_ok());
        cancel.cancel();
        assert!(matches!(cancel.check(), Err(Error::Cancelled)));
        assert!(matches!(
            SCHEDULER.acquire(&cancel, false),
            Err(Error::Cancelled)
        ));
        cancel.reset();
        assert!(SCHEDULER.acquire(&cancel, false).is_ok());
    }

    #[test]
    fn one_request_alone_is_wide_and_overlapping_ones_are_narrow() {
        let cancel = Cancel::new();
        let first = SCHEDULER.acquire(&cancel, false).expect("granted");
        assert_eq!(first.tokens, budget());
        drop(first);
        if budget() >= 2 {
            // Another stream asked for a run just now: the next one is narrow even with every
            // token free.
            let other = Cancel::new();
            drop(SCHEDULER.acquire(&other, false).expect("granted"));
            let next = SCHEDULER.acquire(&cancel, false).expect("granted");
            assert_eq!(next.tokens, 1);
            drop(next);
            lock(&SCHEDULER.state).recent.clear();
        }
        if budget() >= 2 {
            // With one token taken, the next request is narrow.
            let mut state = lock(&SCHEDULER.state);
            state.free -= 1;
            drop(state);
            let narrow = SCHEDULER.acquire(&cancel, false).expect("granted");
            assert_eq!(narrow.tokens, 1);
            drop(narrow);
            lock(&SCHEDULER.state).free += 1;
        }
        assert_eq!(lock(&SCHEDULER.state).free, budget());
    }

    #[test]
    fn a_queued_request_is_cancelled_from_another_thread() {
        // Take every token, so that the request below has to queue.
        let blocker = Cancel::new();
        let all = SCHEDULER.acquire(&blocker, false).expect("granted");
        let cancel = Cancel::new();
        let waiter = {
            let cancel = cancel.clone();
            std::thread::spawn(move || SCHEDULER.acquire(&cancel, false).map(|g| g.tokens))
        };
        // Ordering, not timing: wait until the request is queued.
        while lock(&SCHEDULER.state).waiting == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        cancel.cancel();
        assert!(matches!(
            waiter.join().expect("joined"),
            Err(Error::Cancelled)
        ));
        drop(all);
    }
}
