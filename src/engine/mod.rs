// SPDX-License-Identifier: MPL-2.0
//! The process-wide inference engine: shared model instances, one thread budget for every
//! element, and cancellable runs.
//!
//! # Shared instances
//! [`crate::runtime::Model::load`] looks the model up in a process-wide registry keyed by the
//! model file's identity (canonical path, device, inode, size and modification time), the
//! requested execution provider, the session options (but for the overlap and batch policies,
//! which belong to each handle) and an optional instance name (the elements'
//! `model-instance` property). Every element that asks for the same key gets a handle to the same
//! [`SharedModel`]; it is dropped with its last handle. An ONNX Runtime session runs one request at
//! a time (`Session::run` takes `&mut self`), so a shared model keeps a small pool of sessions:
//!
//! * a **wide** session whose intra-op pool has as many threads as the budget has cores, for a run
//!   that has the machine to itself (one stream: the lowest latency);
//! * up to one **narrow** single-threaded session per core, for runs that overlap (several
//!   streams: runs side by side beat one run after another on a shared pool; `faceexpression` on
//!   2 cores, `benches/streams_bench.py`: 8 streams 70 fps with narrow runs, 31 fps with a
//!   2-thread pool per element).
//!
//! Each session has its own arena, which keeps the size of the largest run the session ever had.
//! Which runs of a load may take a narrow session is the load's [`Overlap`] policy, a property of
//! the handle rather than of the model (loads that differ only in it share one model):
//!
//! * the voices take turns on the wide session (`Overlap::Never`): 4 `neuraltts` with narrow
//!   sessions had 3.3× the peak RSS of one, for about 1.13× the throughput;
//! * the face detector takes turns too (`Overlap::Never`), whole frames and ROI crop batches
//!   alike: a whole 640×352 frame grows a narrow session's arena by about 45 MB, and two narrow
//!   sessions of crop batches cost about 40 MB. On 2 cores, `benches/streams_bench.py` worker
//!   runs in `detection-mode=roi`, paired: 2 streams 196 MB at 148–155 fps this way against
//!   236 MB at 134–153 fps with crop batches overlapping; 8 streams 278–281 MB at 169–176 fps
//!   against 320–322 MB at 159–185 fps. Overlapping whole frames too gave about a fifth more
//!   throughput at 8 streams, for 385–395 MB (another machine);
//! * the expression classifier's runs overlap (`Overlap::Allowed`): its inputs are a few small
//!   face crops, and its narrow sessions stay small;
//! * the TTS lookahead's handles always run narrow, side by side (`Overlap::Always`). A model
//!   first loaded that way starts with one narrow session per core, built in parallel, and builds
//!   its wide session only when a run needs it: `neuralttssrc` on a text file then starts
//!   speaking without building a wide session it would not use.
//!
//! Sessions are built when a run first needs them; the first one when the model is loaded (the
//! kind the loading handle needs). Sessions, arenas and weights therefore scale with the number of
//! runs the cores can do at once (at most `1 + cores` sessions per model on the CPU), never with
//! the number of elements. A model on an accelerator (CUDA/TensorRT) has one session that
//! serialises its runs.
//!
//! ONNX Runtime's memory patterns are off (see `crate::runtime`): it keeps one per input shape,
//! and the inputs here change shape all the time.
//!
//! # Thread budget
//! The budget is one token per core ([`budget`]; `NEURAL_MEDIA_THREADS` overrides it). A wide run
//! takes every token. A run that may overlap ([`Overlap::Allowed`]) is wide only when all tokens
//! are free, no other run waits and no other element asked for a run in the last half second (one
//! active stream); otherwise it is narrow and takes one token. A run that may not overlap waits
//! for every token, and no run takes a token before it meanwhile; an [`Overlap::Always`] run takes
//! one token. Runs of every shared model in the process draw from the same budget, so N elements
//! never have more model threads running than there are cores. An element with `threads > 0`
//! asks for a private instance instead: its own session with a pool of that size, outside the
//! budget (as before the engine existed).
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
use crate::runtime::{ExecutionProvider, Optimization, SessionOptions};

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

/// Which runs of a load may take a narrow (single-threaded) session of the shared model and go
/// side by side with other runs, rather than wait for the whole thread budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Overlap {
    /// None: every run waits for the whole budget and takes the wide session, one after another.
    /// A narrow session's arena keeps the size of the largest run it ever had, so models with
    /// large activations (the voices, the face detector) take turns.
    Never,
    /// Any run may: it takes the whole budget when it is alone, else one core.
    #[default]
    Allowed,
    /// Every run takes one core on a narrow session, even alone: for handles whose runs are meant
    /// to go side by side (the TTS lookahead). The model's first session is then a narrow one,
    /// and its wide session is built only when another handle's run needs it.
    Always,
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
    /// The run takes the wide session.
    wide: bool,
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
    /// For [`Overlap::Allowed`]: every token when they are all free, nobody else waits and no other
    /// stream asked for a run within [`ACTIVE_WINDOW`]; else one token. (Two streams that take
    /// turns with wide runs would each wait for the other's whole run, and their own work
    /// between runs would compete with the run's threads: narrow runs side by side do more.)
    ///
    /// [`Overlap::Never`] waits for every token, and while it waits no run takes a token before
    /// it. [`Overlap::Always`] takes one token.
    fn acquire(&self, cancel: &Cancel, overlap: Overlap) -> Result<Grant> {
        let cores = budget();
        let now = Instant::now();
        let wide_only = overlap == Overlap::Never;
        let mut state = lock(&self.state);
        state
            .recent
            .retain(|_, at| now.duration_since(*at) < ACTIVE_WINDOW);
        state.recent.insert(Arc::as_ptr(&cancel.0) as usize, now);
        let alone = state.recent.len() == 1;
        state.waiting += 1;
        state.wide_waiting += usize::from(wide_only);
        let grant = loop {
            if cancel.is_cancelled() {
                state.waiting -= 1;
                state.wide_waiting -= usize::from(wide_only);
                return Err(Error::Cancelled);
            }
            let all_free = state.free == cores;
            if all_free
                && (wide_only || (overlap == Overlap::Allowed && state.waiting == 1 && alone))
            {
                break Grant {
                    tokens: cores,
                    wide: true,
                };
            }
            if state.free > 0 && !wide_only && state.wide_waiting == 0 {
                break Grant {
                    tokens: 1,
                    wide: false,
                };
            }
            state = wait(state);
        };
        state.free -= grant.tokens;
        state.waiting -= 1;
        state.wide_waiting -= usize::from(wide_only);
        Ok(grant)
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
    optimization: Optimization,
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
            optimization: options.optimization,
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

/// Builds one more session of a budgeted model (wide or narrow).
pub(crate) type SessionFactory = Box<dyn Fn() -> Result<Session> + Send + Sync>;

/// One model, shared by every element that loaded it with the same key.
pub(crate) struct SharedModel {
    /// The provider the sessions run on (never `Auto`).
    provider: ExecutionProvider,
    /// The wide session (budgeted: built when a run first needs it), or the only session
    /// (private or accelerated).
    main: Mutex<Option<CountedSession>>,
    build_main: Option<SessionFactory>,
    /// Runs draw from the budget: CPU, `threads = 0`.
    budgeted: bool,
    /// Idle narrow sessions.
    narrow: Mutex<Vec<CountedSession>>,
    build_narrow: Option<SessionFactory>,
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
            main: Mutex::new(Some(CountedSession::new(session))),
            build_main: None,
            budgeted: false,
            narrow: Mutex::new(Vec::new()),
            build_narrow: None,
        }
    }

    /// A budgeted CPU model whose first session is `first` (a narrow one when `first_narrow`,
    /// else the wide one); `wide` and `narrow` build the others when runs first need them.
    pub(crate) fn budgeted(
        first: Session,
        first_narrow: bool,
        wide: SessionFactory,
        narrow: SessionFactory,
    ) -> SharedModel {
        let batchable = batchable(&first);
        let first = CountedSession::new(first);
        let (main, idle) = if first_narrow {
            (None, vec![first])
        } else {
            (Some(first), Vec::new())
        };
        SharedModel {
            provider: ExecutionProvider::Cpu,
            batchable,
            main: Mutex::new(main),
            build_main: Some(wide),
            budgeted: true,
            narrow: Mutex::new(idle),
            build_narrow: Some(narrow),
        }
    }

    /// Adds idle narrow sessions built ahead of the runs.
    pub(crate) fn add_idle(&self, sessions: Vec<Session>) {
        lock(&self.narrow).extend(sessions.into_iter().map(CountedSession::new));
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

    /// Calls `f` with a session of this model (for its inputs and outputs): the wide one, else
    /// an idle narrow one.
    pub(crate) fn inspect<R>(&self, f: impl FnOnce(&Session) -> R) -> Result<R> {
        let main = lock(&self.main);
        if let Some(session) = main.as_ref() {
            return Ok(f(session.session()));
        }
        drop(main);
        let session = self.take_narrow()?;
        let result = f(session.session());
        lock(&self.narrow).push(session);
        Ok(result)
    }

    /// Runs the model on `inputs` and hands the outputs to `extract`, within the thread budget
    /// and cancellable through `cancel`. `overlap`: the sessions the run may take.
    pub(crate) fn run<'i, 'v: 'i, const N: usize, R>(
        &self,
        cancel: &Cancel,
        overlap: Overlap,
        inputs: impl Into<SessionInputs<'i, 'v, N>>,
        extract: impl FnOnce(&SessionOutputs<'_>) -> Result<R>,
    ) -> Result<R> {
        let result = self.run_scheduled(cancel, overlap, inputs, extract);
        if matches!(result, Err(Error::Cancelled)) {
            CANCELLED.fetch_add(1, Ordering::SeqCst);
        }
        result
    }

    fn run_scheduled<'i, 'v: 'i, const N: usize, R>(
        &self,
        cancel: &Cancel,
        overlap: Overlap,
        inputs: impl Into<SessionInputs<'i, 'v, N>>,
        extract: impl FnOnce(&SessionOutputs<'_>) -> Result<R>,
    ) -> Result<R> {
        cancel.check()?;
        SCHEDULER.hold_point(cancel)?;
        let grant = match self.budgeted {
            true => Some(SCHEDULER.acquire(cancel, overlap)?),
            false => None,
        };
        if grant.as_ref().is_none_or(|grant| grant.wide) {
            let mut main = lock(&self.main);
            if main.is_none() {
                *main = Some(self.build(self.build_main.as_ref(), "wide")?);
            }
            let session = main
                .as_mut()
                .ok_or_else(|| Error::inference("no wide session"))?;
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
        self.build(self.build_narrow.as_ref(), "narrow")
    }

    fn build(&self, factory: Option<&SessionFactory>, kind: &str) -> Result<CountedSession> {
        let build =
            factory.ok_or_else(|| Error::inference(format!("no {kind} session builder")))?;
        let session = CountedSession::new(build()?);
        tracing::debug!("{kind} session ready");
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
    fn an_always_narrow_request_takes_one_token_even_alone() {
        let cancel = Cancel::new();
        let grant = SCHEDULER
            .acquire(&cancel, Overlap::Always)
            .expect("granted");
        assert_eq!((grant.tokens, grant.wide), (1, false));
        drop(grant);
        lock(&SCHEDULER.state).recent.clear();
    }

    #[test]
    fn a_cancelled_handle_fails_requests_until_reset() {
        let cancel = Cancel::new();
        assert!(cancel.check().is_ok());
        cancel.cancel();
        assert!(matches!(cancel.check(), Err(Error::Cancelled)));
        assert!(matches!(
            SCHEDULER.acquire(&cancel, Overlap::Allowed),
            Err(Error::Cancelled)
        ));
        cancel.reset();
        assert!(SCHEDULER.acquire(&cancel, Overlap::Allowed).is_ok());
    }

    #[test]
    fn one_request_alone_is_wide_and_overlapping_ones_are_narrow() {
        let cancel = Cancel::new();
        let first = SCHEDULER
            .acquire(&cancel, Overlap::Allowed)
            .expect("granted");
        assert_eq!(first.tokens, budget());
        drop(first);
        if budget() >= 2 {
            // Another stream asked for a run just now: the next one is narrow even with every
            // token free.
            let other = Cancel::new();
            drop(
                SCHEDULER
                    .acquire(&other, Overlap::Allowed)
                    .expect("granted"),
            );
            let next = SCHEDULER
                .acquire(&cancel, Overlap::Allowed)
                .expect("granted");
            assert_eq!(next.tokens, 1);
            drop(next);
            lock(&SCHEDULER.state).recent.clear();
        }
        if budget() >= 2 {
            // With one token taken, the next request is narrow.
            let mut state = lock(&SCHEDULER.state);
            state.free -= 1;
            drop(state);
            let narrow = SCHEDULER
                .acquire(&cancel, Overlap::Allowed)
                .expect("granted");
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
        let all = SCHEDULER
            .acquire(&blocker, Overlap::Allowed)
            .expect("granted");
        let cancel = Cancel::new();
        let waiter = {
            let cancel = cancel.clone();
            std::thread::spawn(move || {
                SCHEDULER
                    .acquire(&cancel, Overlap::Allowed)
                    .map(|g| g.tokens)
            })
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
