// SPDX-License-Identifier: MPL-2.0
//! Sentence-level parallelism for text that is queued ahead (a file, a long text): the next
//! chunks are synthesised side by side while the caller hands out the first, in their order.
//!
//! A [`Lookahead`] has one worker thread per run the thread budget allows at once
//! ([`crate::engine::budget`]), each with its own [`Voice::overlapping`] handle and its own
//! [`Cancel`]. Runs of different handles overlap on single-threaded sessions (see
//! [`crate::engine`]): on 2 cores, two 1-thread runs of the voice side by side do about 1.13× the
//! work of 2-thread runs one after another. Each overlapping run has a session and an arena of its
//! own, so the memory of a voice grows with the budget: use it where throughput matters and the
//! text is known ahead, not for live text that arrives as it is spoken.
//!
//! Only chunks of at most [`MAX_IDS`] ids run ahead: a session's arena grows to its longest
//! input, and with one arena per overlapping session a long chunk would cost memory several
//! times over (a 400-character chunk took about 1 GiB of arena). Longer chunks run alone with the
//! whole budget, on the wide session, after the chunks before them.
//!
//! [`Lookahead::submit`] queues a chunk for the first free worker, with a tag of the caller's (what it
//! needs with the result, such as where the chunk's text came from); [`Lookahead::next`] waits
//! for the oldest chunk's result. [`Lookahead::cancel`] terminates every worker's run (a flush or a stop);
//! [`Lookahead::take_back`] returns the chunks whose results were not taken, so that nothing is
//! lost when synthesis resumes.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::{Chunk, ChunkIds, SynthesisConfig, Voice};
use crate::engine::Cancel;
use crate::error::{Error, Result};

/// The longest chunk (in phoneme ids) that runs ahead: about 200 characters of English, more
/// than the sentences of `benches/paragraph.txt` (at most 229 ids).
pub const MAX_IDS: usize = 400;

/// Whether `ids` may run ahead (see [`MAX_IDS`]).
pub fn runs_ahead(ids: &ChunkIds) -> bool {
    ids.ids.ids.len() <= MAX_IDS
}

struct Job {
    /// The [`Lookahead::take_back`] generation it was submitted in: older jobs are skipped.
    generation: u64,
    ids: ChunkIds,
    config: SynthesisConfig,
    reply: Sender<Result<Chunk>>,
}

struct Worker {
    cancel: Cancel,
    thread: Option<JoinHandle<()>>,
}

struct InFlight<T> {
    ids: ChunkIds,
    tag: T,
    reply: Receiver<Result<Chunk>>,
}

/// Chunks synthesised ahead, side by side, and handed out in order.
pub struct Lookahead<T = ()> {
    /// One queue for every worker: the first that is free takes the next chunk.
    jobs: Option<Sender<Job>>,
    workers: Vec<Worker>,
    generation: Arc<AtomicU64>,
    /// Locked only to add or take an entry, never while waiting for a result.
    in_flight: Mutex<VecDeque<InFlight<T>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<T> std::fmt::Debug for Lookahead<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lookahead")
            .field("workers", &self.workers.len())
            .field("in_flight", &self.in_flight())
            .finish()
    }
}

impl<T> Lookahead<T> {
    /// `workers` threads, each with an overlapping handle on `voice` (at least one).
    pub fn new(voice: &Voice, workers: usize) -> Result<Lookahead<T>> {
        let generation = Arc::new(AtomicU64::new(0));
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let workers = (0..workers.max(1))
            .map(|index| {
                let current = Arc::clone(&generation);
                let queue = Arc::clone(&queue);
                let mut voice = voice.overlapping();
                let cancel = Cancel::new();
                voice.set_cancel(&cancel);
                let thread = std::thread::Builder::new()
                    .name(format!("tts-lookahead-{index}"))
                    .spawn(move || {
                        loop {
                            // The lock is held only while waiting for a job (not in a `while
                            // let`, whose guard would live through the synthesis): free workers
                            // queue for the next one.
                            let job = lock(&queue).recv();
                            let Ok(job) = job else { break };
                            if job.generation != current.load(Ordering::SeqCst) {
                                continue;
                            }
                            let result = voice.synthesize_chunk(job.ids, &job.config);
                            // The receiver is gone when the chunk was given up: nothing to do.
                            let _ = job.reply.send(result);
                        }
                    })
                    .map_err(|e| {
                        Error::inference(format!("cannot start a synthesis thread: {e}"))
                    })?;
                Ok(Worker {
                    cancel,
                    thread: Some(thread),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Lookahead {
            jobs: Some(jobs),
            workers,
            generation,
            in_flight: Mutex::new(VecDeque::new()),
        })
    }

    /// The number of worker threads.
    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// How many chunks are worth having in flight: two per worker. Results are taken in order,
    /// so with one per worker a worker that finished a short chunk would wait, idle, until the
    /// caller took the longer chunk before it (`benches/paragraph.txt`: 1.87 of 2 cores busy).
    pub fn depth(&self) -> usize {
        2 * self.workers.len()
    }

    /// Chunks submitted whose results were not taken yet.
    pub fn in_flight(&self) -> usize {
        lock(&self.in_flight).len()
    }

    /// Queues `ids` for synthesis with `config` by the first free worker; `tag` comes back with
    /// it.
    pub fn submit(&self, ids: ChunkIds, tag: T, config: &SynthesisConfig) -> Result<()> {
        let (reply, result) = mpsc::channel();
        let job = Job {
            generation: self.generation.load(Ordering::SeqCst),
            ids: ids.clone(),
            config: *config,
            reply,
        };
        self.jobs
            .as_ref()
            .ok_or_else(|| Error::inference("synthesis thread stopped"))?
            .send(job)
            .map_err(|_| Error::inference("synthesis thread stopped"))?;
        lock(&self.in_flight).push_back(InFlight {
            ids,
            tag,
            reply: result,
        });
        Ok(())
    }

    /// Waits for the oldest submitted chunk: its ids, its tag and the result of its synthesis.
    /// `None` when nothing is in flight.
    pub fn next(&self) -> Option<(ChunkIds, T, Result<Chunk>)> {
        let InFlight { ids, tag, reply } = lock(&self.in_flight).pop_front()?;
        let result = reply
            .recv()
            .unwrap_or_else(|_| Err(Error::inference("synthesis thread stopped")));
        Some((ids, tag, result))
    }

    /// Terminates every worker's run in progress; runs fail with [`Error::Cancelled`] until
    /// [`Lookahead::reset`]. Returns at once.
    pub fn cancel(&self) {
        for worker in &self.workers {
            worker.cancel.cancel();
        }
    }

    /// Accepts runs again after [`Lookahead::cancel`].
    pub fn reset(&self) {
        for worker in &self.workers {
            worker.cancel.reset();
        }
    }

    /// Gives up the chunks in flight and returns their ids and tags, oldest first.
    pub fn take_back(&self) -> Vec<(ChunkIds, T)> {
        self.generation.fetch_add(1, Ordering::SeqCst);
        lock(&self.in_flight)
            .drain(..)
            .map(|f| (f.ids, f.tag))
            .collect()
    }
}

impl<T> Drop for Lookahead<T> {
    fn drop(&mut self) {
        self.cancel();
        self.jobs = None;
        for worker in &mut self.workers {
            if let Some(thread) = worker.thread.take() {
                let _ = thread.join();
            }
        }
    }
}
