// SPDX-License-Identifier: MPL-2.0
//! ONNX Runtime: loading the shared library, choosing the execution provider, building sessions.
//!
//! The ONNX Runtime library is global to the process: the first successful load wins and a failed
//! load can be retried. Every [`Model`] owns its own session (ort's `Session::run` takes
//! `&mut self`), so one element instance never waits for another.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Mutex;

use ort::environment::Environment;
use ort::ep::{self, ExecutionProviderDispatch};
use ort::session::Session;
use ort::session::builder::{GraphOptimizationLevel, SessionBuilder};

use crate::assets;
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
    /// Intra-op threads; 0 lets ONNX Runtime choose (one per core).
    pub threads: usize,
    /// Whether idle intra-op threads busy-wait for the next parallel section (ONNX Runtime's
    /// `session.intra_op.allow_spinning`, on by default). Spinning shaves a little latency off a
    /// session run alone, but a spinning pool takes cores from everything else in the process,
    /// other sessions' pools included: a small model run between the runs of a large one should
    /// not spin.
    pub spinning: bool,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            execution_provider: ExecutionProvider::Auto,
            threads: 0,
            spinning: true,
        }
    }
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

/// A loaded ONNX model with its own session.
pub struct Model {
    session: Session,
    provider: ExecutionProvider,
    path: PathBuf,
}

impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Model")
            .field("path", &self.path)
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

impl Model {
    /// Loads `path` on the requested execution provider, falling back to CPU when an accelerated
    /// provider cannot be registered or cannot run this model. The reason for a fallback is
    /// logged; [`Model::provider`] tells what is in use.
    pub fn load(path: &Path, options: &SessionOptions) -> Result<Model> {
        check_model_file(path)?;
        let env = environment()?;
        for &provider in options.execution_provider.accelerated_chain() {
            match build_session(&env, path, options, provider.dispatch()) {
                Ok(session) => {
                    tracing::info!(model = %path.display(), %provider, "session ready");
                    return Ok(Model {
                        session,
                        provider,
                        path: path.to_path_buf(),
                    });
                }
                Err(reason) if options.execution_provider == ExecutionProvider::Auto => {
                    tracing::info!(%provider, %reason, "execution provider unavailable, trying the next")
                }
                Err(reason) => {
                    tracing::warn!(%provider, %reason, "requested execution provider unavailable, falling back")
                }
            }
        }
        let session = build_session(&env, path, options, None)
            .map_err(|reason| Error::model(path, reason))?;
        tracing::info!(model = %path.display(), provider = "cpu", "session ready");
        Ok(Model {
            session,
            provider: ExecutionProvider::Cpu,
            path: path.to_path_buf(),
        })
    }

    /// The execution provider actually in use (never [`ExecutionProvider::Auto`]).
    pub fn provider(&self) -> ExecutionProvider {
        self.provider
    }

    /// The model file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The session, to run.
    pub fn session(&mut self) -> &mut Session {
        &mut self.session
    }

    /// Fails with a clear error unless the model has every named input and output — catches a
    /// valid ONNX file given in the place of another model.
    pub fn require_io(&self, inputs: &[&str], outputs: &[&str]) -> Result<()> {
        let has =
            |outlets: &[ort::value::Outlet], name: &str| outlets.iter().any(|o| o.name() == name);
        let missing: Vec<String> = inputs
            .iter()
            .filter(|n| !has(self.session.inputs(), n))
            .map(|n| format!("input {n:?}"))
            .chain(
                outputs
                    .iter()
                    .filter(|n| !has(self.session.outputs(), n))
                    .map(|n| format!("output {n:?}")),
            )
            .collect();
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
    builder = builder
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .map_err(|e| e.to_string())?;
    if options.threads > 0 {
        builder = builder
            .with_intra_threads(options.threads)
            .map_err(|e| e.to_string())?;
    }
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
