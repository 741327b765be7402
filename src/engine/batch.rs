// SPDX-License-Identifier: MPL-2.0
//! Cross-stream batching: requests of several elements for the same shared model that arrive
//! within a batch window run as one batch.
//!
//! A request is a block of rows (the input's first dimension) with the rest of its shape. The
//! first request for a model opens a batch and leads it; later requests with the same input name,
//! row shape and outputs join it until it holds `max_batch` rows' worth of requests. The leader
//! closes the batch when it is full, when every stream that uses the model right now has joined,
//! or when its `timeout` has passed; it then runs the rows concatenated along the first
//! dimension, cuts each output into the requests' rows and hands every request its share.
//!
//! Cancellation: a request that is cancelled while it waits leaves the batch, or drops its share
//! when the batch already runs. A run that holds other elements' requests is never terminated for
//! one of them; a leader alone in its batch runs on its own [`Cancel`], as an unbatched run does.
//!
//! Batching pays where a run's cost grows slower than its batch (accelerators). On the CPU,
//! CenterFace's cost per frame is flat in the batch size, so [`BatchPolicy::max_batch`] 0 turns
//! batching off there and on for CUDA and TensorRT.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, LazyLock, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ort::value::TensorRef;

use super::{ACTIVE_WINDOW, BATCHED_REQUESTS, BATCHED_RUNS, Cancel, Overlap, SharedModel, lock};
use crate::error::{Error, Result};
use crate::runtime::ExecutionProvider;

/// How an element's requests may be batched with other streams'.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchPolicy {
    /// The most requests in one batch; 0 chooses by execution provider ([`AUTO_MAX_BATCH`] on
    /// CUDA and TensorRT, no batching on the CPU); 1 never batches.
    pub max_batch: usize,
    /// How long the first request of a batch waits for others. A batch also closes as soon as
    /// every stream that ran the model within the last half second has joined it.
    pub timeout: Duration,
}

/// The batch size that `max_batch = 0` gives on an accelerator.
pub const AUTO_MAX_BATCH: usize = 8;

impl Default for BatchPolicy {
    fn default() -> Self {
        BatchPolicy {
            max_batch: 0,
            timeout: Duration::from_millis(5),
        }
    }
}

impl BatchPolicy {
    /// The batch size this policy gives on `provider` (1: requests run alone).
    pub fn effective_max_batch(&self, provider: ExecutionProvider) -> usize {
        match (self.max_batch, provider) {
            (0, ExecutionProvider::Cpu) => 1,
            (0, _) => AUTO_MAX_BATCH,
            (n, _) => n,
        }
    }

    /// The latency batching adds to a request on `provider`: the timeout when requests may wait
    /// for others, else zero.
    pub fn latency(&self, provider: ExecutionProvider) -> Duration {
        if self.effective_max_batch(provider) > 1 {
            self.timeout
        } else {
            Duration::ZERO
        }
    }
}

/// One request's input: `shape[0]` rows of `shape[1..]` each.
#[derive(Debug, Clone, Copy)]
pub struct RowsInput<'a> {
    /// The model input's name.
    pub name: &'a str,
    /// The input's shape, rows first.
    pub shape: &'a [usize],
    /// The values, row-major.
    pub data: &'a [f32],
}

/// The `f32` outputs of one request: its own rows of each output.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RowsOutputs(Vec<(String, Vec<i64>, Vec<f32>)>);

impl RowsOutputs {
    /// The shape and values of output `name`.
    pub fn get(&self, name: &str) -> Option<(&[i64], &[f32])> {
        self.0
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, shape, data)| (shape.as_slice(), data.as_slice()))
    }

    /// Copies the named outputs out of a run.
    pub(super) fn extract(
        outputs: &ort::session::SessionOutputs<'_>,
        names: &[&str],
    ) -> Result<RowsOutputs> {
        names
            .iter()
            .map(|&name| {
                let value = outputs
                    .get(name)
                    .ok_or_else(|| Error::inference(format!("output {name:?} missing")))?;
                let (shape, data) = value
                    .try_extract_tensor::<f32>()
                    .map_err(|e| Error::inference(format!("output {name:?}: {e}")))?;
                Ok((name.to_owned(), shape.to_vec(), data.to_vec()))
            })
            .collect::<Result<Vec<_>>>()
            .map(RowsOutputs)
    }

    /// Cuts a batch's outputs into blocks of `rows` rows.
    fn split(self, rows: &[usize]) -> Result<Vec<RowsOutputs>> {
        let total: usize = rows.iter().sum();
        let mut parts = vec![RowsOutputs::default(); rows.len()];
        for (name, shape, data) in self.0 {
            if shape.first().copied() != Some(total as i64) {
                return Err(Error::inference(format!(
                    "output {name:?} has shape {shape:?}: its first dimension is not the batch's {total} rows"
                )));
            }
            let per_row = data.len() / total.max(1);
            let mut start = 0;
            for (part, &n) in parts.iter_mut().zip(rows) {
                let mut own = shape.clone();
                own[0] = n as i64;
                part.0
                    .push((name.clone(), own, data[start..start + n * per_row].to_vec()));
                start += n * per_row;
            }
        }
        Ok(parts)
    }
}

/// What a request may be batched with: the same model, input, row shape and outputs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct BatchKey {
    model: usize,
    input: String,
    row_shape: Vec<usize>,
    outputs: Vec<String>,
}

struct OpenBatch {
    id: u64,
    key: BatchKey,
    max: usize,
    /// Rows of each request, leader first.
    rows: Vec<usize>,
    data: Vec<f32>,
}

#[derive(Default)]
struct BatchState {
    next_id: u64,
    open: Vec<OpenBatch>,
    /// Shares of batches that ran, by (batch, slot), until their request takes them.
    done: HashMap<(u64, usize), Result<RowsOutputs>>,
    /// Requests that left a running batch: their shares are dropped.
    abandoned: HashSet<(u64, usize)>,
    /// When each handle last asked each model for a batched run: (model, handle).
    recent: HashMap<(usize, usize), Instant>,
}

struct Batches {
    state: Mutex<BatchState>,
    changed: Condvar,
}

static BATCHES: LazyLock<Batches> = LazyLock::new(|| Batches {
    state: Mutex::new(BatchState::default()),
    changed: Condvar::new(),
});

fn wait_until(
    state: MutexGuard<'_, BatchState>,
    deadline: Option<Instant>,
) -> MutexGuard<'_, BatchState> {
    match deadline {
        None => BATCHES
            .changed
            .wait(state)
            .unwrap_or_else(|poisoned| poisoned.into_inner()),
        Some(deadline) => {
            let left = deadline.saturating_duration_since(Instant::now());
            BATCHES
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0
        }
    }
}

/// Wakes the requests waiting in batches (a cancellation may concern one of them).
pub(super) fn wake_all() {
    drop(lock(&BATCHES.state));
    BATCHES.changed.notify_all();
}

/// A batch's result as another request gets it (the core error is not `Clone`).
fn share_error(e: &Error) -> Error {
    match e {
        Error::Cancelled => Error::Cancelled,
        other => Error::inference(other.to_string()),
    }
}

impl SharedModel {
    /// Runs `input` as part of a batch with other handles' requests where `policy` allows it,
    /// and returns this request's rows of the named outputs.
    pub(crate) fn run_rows(
        self: &Arc<Self>,
        cancel: &Cancel,
        policy: &BatchPolicy,
        overlap: Overlap,
        input: RowsInput<'_>,
        outputs: &[&str],
    ) -> Result<RowsOutputs> {
        let max = policy.effective_max_batch(self.provider());
        if max <= 1 || !self.batchable() {
            return self.run_alone(cancel, overlap, input, outputs);
        }
        cancel.check()?;
        let key = BatchKey {
            model: Arc::as_ptr(self) as usize,
            input: input.name.to_owned(),
            row_shape: input.shape[1..].to_vec(),
            outputs: outputs.iter().map(|&o| o.to_owned()).collect(),
        };
        let rows = input.shape[0];
        let mut state = lock(&BATCHES.state);
        let now = Instant::now();
        state
            .recent
            .retain(|_, at| now.duration_since(*at) < ACTIVE_WINDOW);
        state
            .recent
            .insert((key.model, Arc::as_ptr(&cancel.0) as usize), now);
        if let Some(open) = state
            .open
            .iter_mut()
            .find(|b| b.key == key && b.rows.len() < b.max)
        {
            open.rows.push(rows);
            open.data.extend_from_slice(input.data);
            let slot = (open.id, open.rows.len() - 1);
            BATCHES.changed.notify_all();
            return Self::follow(state, cancel, slot);
        }
        let id = state.next_id;
        state.next_id += 1;
        state.open.push(OpenBatch {
            id,
            key: key.clone(),
            max,
            rows: vec![rows],
            data: input.data.to_vec(),
        });
        let deadline = now + policy.timeout;
        let batch = loop {
            let position = state
                .open
                .iter()
                .position(|b| b.id == id)
                .ok_or_else(|| Error::inference("a batch vanished"))?;
            let open = &state.open[position];
            let streams = state.recent.keys().filter(|(m, _)| *m == key.model).count();
            let alone = open.rows.len() == 1;
            if alone && cancel.is_cancelled() {
                state.open.remove(position);
                return Err(Error::Cancelled);
            }
            if open.rows.len() >= open.max.min(streams.max(1)) || Instant::now() >= deadline {
                break state.open.remove(position);
            }
            state = wait_until(state, Some(deadline));
        };
        drop(state);
        self.lead(cancel, overlap, batch, &key)
    }

    /// Waits for the share of slot `(batch, index)`, or leaves when `cancel` fires.
    fn follow(
        mut state: MutexGuard<'_, BatchState>,
        cancel: &Cancel,
        slot: (u64, usize),
    ) -> Result<RowsOutputs> {
        loop {
            if let Some(result) = state.done.remove(&slot) {
                return result;
            }
            if cancel.is_cancelled() {
                // Still open: take the request out of the batch (its rows stay, as padding
                // that nobody reads). Running: drop its share when it comes.
                state.abandoned.insert(slot);
                return Err(Error::Cancelled);
            }
            state = wait_until(state, None);
        }
    }

    /// Runs a closed batch and hands out the shares; returns the leader's.
    fn lead(
        &self,
        cancel: &Cancel,
        overlap: Overlap,
        batch: OpenBatch,
        key: &BatchKey,
    ) -> Result<RowsOutputs> {
        let total: usize = batch.rows.iter().sum();
        let mut shape = vec![total];
        shape.extend_from_slice(&key.row_shape);
        let outputs: Vec<&str> = key.outputs.iter().map(String::as_str).collect();
        let input = RowsInput {
            name: &key.input,
            shape: &shape,
            data: &batch.data,
        };
        let shared = batch.rows.len() > 1;
        // A run that holds other requests is not terminated for the leader's sake.
        let detached = Cancel::new();
        let run_cancel = if shared { &detached } else { cancel };
        let result = self
            .run_alone(run_cancel, overlap, input, &outputs)
            .and_then(|all| all.split(&batch.rows));
        if shared {
            BATCHED_RUNS.fetch_add(1, Ordering::SeqCst);
            BATCHED_REQUESTS.fetch_add(batch.rows.len() as u64, Ordering::SeqCst);
        }
        let mut shares: Vec<Result<RowsOutputs>> = match result {
            Ok(parts) => parts.into_iter().map(Ok).collect(),
            Err(e) => batch.rows.iter().map(|_| Err(share_error(&e))).collect(),
        };
        let own = shares.remove(0);
        let mut state = lock(&BATCHES.state);
        for (index, share) in shares.into_iter().enumerate() {
            let slot = (batch.id, index + 1);
            if !state.abandoned.remove(&slot) {
                state.done.insert(slot, share);
            }
        }
        drop(state);
        BATCHES.changed.notify_all();
        cancel.check()?;
        own
    }

    /// One request, run by itself.
    fn run_alone(
        &self,
        cancel: &Cancel,
        overlap: Overlap,
        input: RowsInput<'_>,
        outputs: &[&str],
    ) -> Result<RowsOutputs> {
        let tensor = TensorRef::from_array_view((input.shape.to_vec(), input.data))
            .map_err(Error::inference)?;
        self.run(cancel, overlap, ort::inputs![input.name => tensor], |out| {
            RowsOutputs::extract(out, outputs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_batches_on_accelerators_only() {
        let auto = BatchPolicy::default();
        assert_eq!(auto.effective_max_batch(ExecutionProvider::Cpu), 1);
        assert_eq!(auto.latency(ExecutionProvider::Cpu), Duration::ZERO);
        assert_eq!(
            auto.effective_max_batch(ExecutionProvider::Cuda),
            AUTO_MAX_BATCH
        );
        assert_eq!(auto.latency(ExecutionProvider::TensorRt), auto.timeout);
        let forced = BatchPolicy {
            max_batch: 4,
            timeout: Duration::from_millis(20),
        };
        assert_eq!(forced.effective_max_batch(ExecutionProvider::Cpu), 4);
        assert_eq!(
            forced.latency(ExecutionProvider::Cpu),
            Duration::from_millis(20)
        );
    }

    #[test]
    fn outputs_are_cut_into_each_requests_rows() {
        let all = RowsOutputs(vec![(
            "y".to_owned(),
            vec![3, 2],
            vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        )]);
        let parts = all.split(&[1, 2]).expect("splits");
        assert_eq!(
            parts[0].get("y"),
            Some((&[1i64, 2][..], &[1.0f32, 2.0][..]))
        );
        assert_eq!(
            parts[1].get("y"),
            Some((&[2i64, 2][..], &[3.0f32, 4.0, 5.0, 6.0][..]))
        );
        let wrong = RowsOutputs(vec![("y".to_owned(), vec![2, 2], vec![0.0; 4])]);
        assert!(wrong.split(&[1, 2]).is_err());
    }
}
