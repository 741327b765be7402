// SPDX-License-Identifier: MPL-2.0
//! ONNX Runtime: loading the shared library, choosing the execution provider, building sessions.
//!
//! The ONNX Runtime library is global to the process: the first successful load wins and a failed
//! load can be retried. A [`Model`] is one element's handle on a model that the
//! [`crate::engine`] shares between every element that loads the same file with the same
//! options: the engine keeps the sessions, schedules the runs within the process's thread budget
//! and cancels them (see its module docs for what it shares and what that costs).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use ort::environment::Environment;
use ort::ep::{self, ExecutionProviderDispatch};
use ort::session::builder::{GraphOptimizationLevel, SessionBuilder};
use ort::session::{Session, SessionInputs, SessionOutputs};

use crate::assets;
use crate::engine::{
    BatchPolicy, Cancel, ModelKey, Overlap, RowsInput, RowsOutputs, SessionFactory, SharedModel,
};
use crate::error::{Error, Result};

/// Where a model runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ExecutionProvider {
    /// CUDA when it can be registered, else CPU.
    #[default]
    Auto,
    /// CPU only.
    Cpu,
    /// NVIDIA CUDA; falls back to CPU (with a warning) when unavailable.
    Cuda,
    /// NVIDIA TensorRT, then CUDA, then CPU.
    TensorRt,
}

impl ExecutionProvider {
    /// Lower-case name, as used by element properties.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionProvider::Auto => "auto",
            ExecutionProvider::Cpu => "cpu",
            ExecutionProvider::Cuda => "cuda",
            ExecutionProvider::TensorRt => "tensorrt",
        }
    }

    /// The accelerated providers to try, strongest first; CPU is always the last resort.
    fn accelerated_chain(self) -> &'static [ExecutionProvider] {
        match self {
            ExecutionProvider::Auto | ExecutionProvider::Cuda => &[ExecutionProvider::Cuda],
            ExecutionProvider::TensorRt => &[ExecutionProvider::TensorRt, ExecutionProvider::Cuda],
            ExecutionProvider::Cpu => &[],
        }
    }

    fn dispatch(self) -> Option<ExecutionProviderDispatch> {
        match self {
            ExecutionProvider::Cuda => Some(ep::CUDA::default().build().error_on_failure()),
            ExecutionProvider::TensorRt => Some(ep::TensorRT::default().build().error_on_failure()),
            ExecutionProvider::Auto | ExecutionProvider::Cpu => None,
        }
    }
}

impl fmt::Display for ExecutionProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ExecutionProvider {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(ExecutionProvider::Auto),
            "cpu" => Ok(ExecutionProvider::Cpu),
            "cuda" => Ok(ExecutionProvider::Cuda),
            "tensorrt" | "trt" => Ok(ExecutionProvider::TensorRt),
            other => Err(Error::InvalidInput(format!(
                "unknown execution provider {other:?} (expected auto, cpu, cuda or tensorrt)"
            ))),
        }
    }
}

/// How to build a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionOptions {
    /// Requested execution provider.
    pub execution_provider: ExecutionProvider,
    /// Intra-op threads. 0 (the default) shares the model and runs it within the process's
    /// thread budget ([`crate::engine`]); more gives this load a private instance with a pool of
    /// that many threads, outside the budget.
    pub threads: usize,
    /// Whether idle intra-op threads busy-wait for the next parallel section (ONNX Runtime's
    /// `session.intra_op.allow_spinning`, on by default). Spinning shaves a little latency off a
    /// session run alone, but a spinning pool takes cores from everything else in the process,
    /// other sessions' pools included: a small model run between the runs of a large one should
    /// not spin.
    pub spinning: bool,
    /// With `threads = 0` on the CPU: which of this load's runs may overlap other runs on extra
    /// single-threaded sessions of the shared model (more throughput with several streams, one
    /// more arena each); the others take the whole budget, one after another. A property of the
    /// load, not of the model: loads that differ only in it share one model. See
    /// [`crate::engine`].
    pub overlap: Overlap,
    /// Loads with the same model, options and instance name share one model; empty (the default)
    /// shares by model and options alone. A name forces a separate instance, like DL Streamer's
    /// `model-instance-id`.
    pub instance: String,
    /// How much ONNX Runtime rewrites the graph when it builds a session.
    pub optimization: Optimization,
    /// How this load's requests may be batched with other elements' requests for the same
    /// shared model ([`Model::run_rows`]); not part of what makes loads share a model.
    pub batch: BatchPolicy,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            execution_provider: ExecutionProvider::Auto,
            threads: 0,
            spinning: true,
            overlap: Overlap::Allowed,
            optimization: Optimization::All,
            instance: String::new(),
            batch: BatchPolicy::default(),
        }
    }
}

/// How much ONNX Runtime rewrites a model's graph when it builds a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Optimization {
    /// Constant folding and redundant node removal only (ONNX Runtime's level 1): for a model
    /// in which the other rewrites find nothing to do, they only cost time at every session
    /// build.
    Basic,
    /// Every rewrite, layout changes for the CPU included (level 3, "all").
    #[default]
    All,
}

static ENVIRONMENT: Mutex<Option<Environment>> = Mutex::new(None);

/// Loads the ONNX Runtime library from its default location (see [`assets::ort_library`]) unless
/// one is loaded already, and returns the process environment.
pub fn environment() -> Result<Environment> {
    environment_from(&assets::ort_library())
}

/// Like [`environment`], with an explicit library path. When a library is already loaded, it is
/// kept (ONNX Runtime is process-global) and `library` is ignored.
pub fn environment_from(library: &Path) -> Result<Environment> {
    let mut guard = ENVIRONMENT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(env) = guard.as_ref() {
        return Ok(env.clone());
    }
    let runtime_error = |reason: String| Error::Runtime {
        path: library.to_path_buf(),
        reason,
    };
    if !library.is_file() {
        return Err(runtime_error(
            "file not found (run the set-up script, or set ORT_DYLIB_PATH / NEURAL_MEDIA_DATA_DIR)"
                .into(),
        ));
    }
    let builder = ort::init_from(library).map_err(|e| runtime_error(e.to_string()))?;
    let env = builder
        .with_name("neural-media")
        .build()
        .map_err(|e| runtime_error(e.to_string()))?;
    tracing::info!(library = %library.display(), "loaded ONNX Runtime");
    *guard = Some(env.clone());
    Ok(env)
}

/// One element's handle on a loaded ONNX model: shared with every other load of the same key
/// (see [`crate::engine`]), run within the thread budget, cancellable through its [`Cancel`].
pub struct Model {
    shared: Arc<SharedModel>,
    path: PathBuf,
    cancel: Cancel,
    batch: BatchPolicy,
    overlap: Overlap,
}

impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Model")
            .field("path", &self.path)
            .field("provider", &self.provider())
            .finish_non_exhaustive()
    }
}

impl Model {
    /// Loads `path` on the requested execution provider, falling back to CPU when an accelerated
    /// provider cannot be registered or cannot run this model. The reason for a fallback is
    /// logged; [`Model::provider`] tells what is in use. With `options.threads == 0` an
    /// already loaded model with the same key is shared instead of loaded again.
    pub fn load(path: &Path, options: &SessionOptions) -> Result<Model> {
        check_model_file(path)?;
        let env = environment()?;
        let shared = if options.threads > 0 {
            let (session, provider) = build_with_fallback(&env, path, options)?;
            Arc::new(SharedModel::single(session, provider))
        } else {
            let key = ModelKey::new(path, options)?;
            SharedModel::get_or_build(key, || {
                // The first session is the kind this load's runs need first: narrow for a load
                // whose runs always overlap, else wide. The other kind is built when a run
                // first needs it.
                let first_narrow = options.overlap == Overlap::Always;
                let factory = |threads: usize| -> SessionFactory {
                    let options = SessionOptions {
                        threads,
                        ..options.clone()
                    };
                    let (env, model) = (env.clone(), path.to_path_buf());
                    Box::new(move || {
                        build_session(&env, &model, &options, None)
                            .map_err(|reason| Error::model(&model, reason))
                    })
                };
                let wide = crate::engine::budget();
                let first = SessionOptions {
                    threads: if first_narrow { 1 } else { wide },
                    ..options.clone()
                };
                let narrow = factory(1);
                // Side-by-side runs will want one narrow session per core: build them side by
                // side now, while the cores are idle anyway (CPU sessions: should the first
                // session land on an accelerator, they are dropped).
                let extra = if first_narrow { wide - 1 } else { 0 };
                let (first, others) = std::thread::scope(|scope| {
                    let others: Vec<_> = (0..extra).map(|_| scope.spawn(&narrow)).collect();
                    let first = build_with_fallback(&env, path, &first);
                    let others: Vec<Session> = others
                        .into_iter()
                        .filter_map(|handle| match handle.join() {
                            Ok(Ok(session)) => Some(session),
                            // Built again, with its error reported, when a run needs it.
                            Ok(Err(e)) => {
                                tracing::warn!(error = %e, "cannot build a narrow session ahead");
                                None
                            }
                            Err(_) => None,
                        })
                        .collect();
                    (first, others)
                });
                let (session, provider) = first?;
                if provider != ExecutionProvider::Cpu {
                    return Ok(SharedModel::single(session, provider));
                }
                let model = SharedModel::budgeted(session, first_narrow, factory(wide), narrow);
                model.add_idle(others);
                Ok(model)
            })?
        };
        Ok(Model {
            shared,
            path: path.to_path_buf(),
            cancel: Cancel::new(),
            batch: options.batch,
            overlap: options.overlap,
        })
    }

    /// The execution provider actually in use (never [`ExecutionProvider::Auto`]).
    pub fn provider(&self) -> ExecutionProvider {
        self.shared.provider()
    }

    /// The model file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes `cancel` the handle that cancels this model's runs (an element gives all its models
    /// the same one).
    pub fn set_cancel(&mut self, cancel: &Cancel) {
        self.cancel = cancel.clone();
    }

    /// Another handle on the same loaded model, with the same [`Cancel`] and batch policy, whose
    /// runs follow `overlap` (no file is read and no session built).
    pub fn with_overlap(&self, overlap: Overlap) -> Model {
        Model {
            shared: Arc::clone(&self.shared),
            path: self.path.clone(),
            cancel: self.cancel.clone(),
            batch: self.batch,
            overlap,
        }
    }

    /// Calls `f` with one of the model's sessions, to read its inputs and outputs.
    pub fn inspect<R>(&self, f: impl FnOnce(&Session) -> R) -> Result<R> {
        self.shared.inspect(f)
    }

    /// Runs the model and hands its outputs to `extract`. Waits for the thread budget; fails with
    /// [`Error::Cancelled`] when this model's [`Cancel`] fires before or during the run.
    pub fn run<'i, 'v: 'i, const N: usize, R>(
        &self,
        inputs: impl Into<SessionInputs<'i, 'v, N>>,
        extract: impl FnOnce(&SessionOutputs<'_>) -> Result<R>,
    ) -> Result<R> {
        self.shared.run(&self.cancel, self.overlap, inputs, extract)
    }

    /// Runs the model on one block of rows and returns this request's rows of the named `f32`
    /// outputs. Where the batch policy and the provider allow it, the rows run in one batch with
    /// other elements' requests of the same shape (see [`crate::engine`]); else as [`Model::run`].
    pub fn run_rows(&self, input: RowsInput<'_>, outputs: &[&str]) -> Result<RowsOutputs> {
        self.shared
            .run_rows(&self.cancel, &self.batch, self.overlap, input, outputs)
    }

    /// The latency batching adds to this model's requests (the batch timeout where requests
    /// may wait for others, else zero).
    pub fn batch_latency(&self) -> std::time::Duration {
        if self.shared.batchable() {
            self.batch.latency(self.provider())
        } else {
            std::time::Duration::ZERO
        }
    }

    /// Fails with a clear error unless the model has every named input and output — catches a
    /// valid ONNX file given in the place of another model.
    pub fn require_io(&self, inputs: &[&str], outputs: &[&str]) -> Result<()> {
        let has =
            |outlets: &[ort::value::Outlet], name: &str| outlets.iter().any(|o| o.name() == name);
        let missing: Vec<String> = self.inspect(|session| {
            inputs
                .iter()
                .filter(|n| !has(session.inputs(), n))
                .map(|n| format!("input {n:?}"))
                .chain(
                    outputs
                        .iter()
                        .filter(|n| !has(session.outputs(), n))
                        .map(|n| format!("output {n:?}")),
                )
                .collect()
        })?;
        if missing.is_empty() {
            Ok(())
        } else {
            Err(Error::model(
                &self.path,
                format!(
                    "not the expected kind of model: missing {}",
                    missing.join(", ")
                ),
            ))
        }
    }
}

/// Builds a session on the strongest provider of the requested chain that works, else the CPU.
fn build_with_fallback(
    env: &Environment,
    path: &Path,
    options: &SessionOptions,
) -> Result<(Session, ExecutionProvider)> {
    for &provider in options.execution_provider.accelerated_chain() {
        match build_session(env, path, options, provider.dispatch()) {
            Ok(session) => {
                tracing::info!(model = %path.display(), %provider, "session ready");
                return Ok((session, provider));
            }
            Err(reason) if options.execution_provider == ExecutionProvider::Auto => {
                tracing::info!(%provider, %reason, "execution provider unavailable, trying the next")
            }
            Err(reason) => {
                tracing::warn!(%provider, %reason, "requested execution provider unavailable, falling back")
            }
        }
    }
    let session =
        build_session(env, path, options, None).map_err(|reason| Error::model(path, reason))?;
    tracing::info!(model = %path.display(), provider = "cpu", threads = options.threads, "session ready");
    Ok((session, ExecutionProvider::Cpu))
}

fn check_model_file(path: &Path) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() && meta.len() > 0 => Ok(()),
        Ok(meta) if meta.is_file() => Err(Error::model(path, "file is empty")),
        Ok(_) => Err(Error::model(path, "not a regular file")),
        Err(e) => Err(Error::model(path, e)),
    }
}

fn build_session(
    env: &Environment,
    path: &Path,
    options: &SessionOptions,
    provider: Option<ExecutionProviderDispatch>,
) -> std::result::Result<Session, String> {
    let mut builder: SessionBuilder = Session::builder(env).map_err(|e| e.to_string())?;
    if let Some(provider) = provider {
        builder = builder
            .with_execution_providers([provider])
            .map_err(|e| e.to_string())?;
    }
    let level = match options.optimization {
        Optimization::Basic => GraphOptimizationLevel::Level1,
        Optimization::All => GraphOptimizationLevel::Level3,
    };
    builder = builder
        .with_optimization_level(level)
        .map_err(|e| e.to_string())?;
    if options.threads > 0 {
        builder = builder
            .with_intra_threads(options.threads)
            .map_err(|e| e.to_string())?;
    }

    // ONNX Runtime keeps one memory pattern per input shape it has seen, each holding a block of
    // the arena. The inputs here change shape all the time (sentences, crop batches), so the
    // patterns only pile up: 4 `neuraltts` sharing a voice had 1.46x the peak RSS of one with
    // them, 1.04x without, at the same speed (`benches/streams_bench.py --only tts`).
    builder = builder
        .with_memory_pattern(false)
        .map_err(|e| e.to_string())?;
    if !options.spinning {
        builder = builder
            .with_intra_op_spinning(false)
            .map_err(|e| e.to_string())?;
    }
    builder.commit_from_file(path).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_names_round_trip() {
        for p in [
            ExecutionProvider::Auto,
            ExecutionProvider::Cpu,
            ExecutionProvider::Cuda,
            ExecutionProvider::TensorRt,
        ] {
            assert_eq!(p.as_str().parse::<ExecutionProvider>().unwrap(), p);
        }
        assert!("gpu".parse::<ExecutionProvider>().is_err());
    }
}
