// SPDX-License-Identifier: MPL-2.0
//! ONNX Runtime loading and session building on the provisioned library and models, and the
//! errors a user gets for a missing or broken library or model.
//!
//! nextest runs each test in its own process, so every test starts with no library loaded.

use std::path::{Path, PathBuf};

use neural_media::runtime::{self, ExecutionProvider, Model, SessionOptions};
use neural_media::{Error, assets};

fn tmp_file(name: &str, contents: &[u8]) -> PathBuf {
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("runtime-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create tmp dir");
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write tmp file");
    path
}

fn cpu() -> SessionOptions {
    SessionOptions {
        execution_provider: ExecutionProvider::Cpu,
        threads: 1,
        ..SessionOptions::default()
    }
}

fn model_error(result: neural_media::Result<Model>, path: &Path) -> String {
    match result {
        Err(err @ Error::Model { .. }) => {
            let msg = err.to_string();
            assert!(
                msg.contains(&path.display().to_string()),
                "error does not name the file: {msg}"
            );
            msg
        }
        other => panic!(
            "expected a model error for {}, got {other:?}",
            path.display()
        ),
    }
}

#[test]
fn provisioned_models_load_and_auto_falls_back_to_cpu() {
    for model in [
        assets::DEFAULT_VOICE,
        assets::DEFAULT_FACE_DETECTOR,
        assets::DEFAULT_EXPRESSION_CLASSIFIER,
    ] {
        let path = assets::data_file(model);
        let loaded = Model::load(&path, &SessionOptions::default())
            .unwrap_or_else(|e| panic!("{model} should load after set-up: {e}"));
        // The CPU build of ONNX Runtime is provisioned: CUDA registration fails, CPU is used.
        assert_eq!(loaded.provider(), ExecutionProvider::Cpu);
    }
}

#[test]
fn explicit_cuda_request_falls_back_to_cpu_on_the_cpu_library() {
    let options = SessionOptions {
        execution_provider: ExecutionProvider::Cuda,
        threads: 1,
        ..SessionOptions::default()
    };
    let model =
        Model::load(&assets::data_file(assets::DEFAULT_FACE_DETECTOR), &options).expect("load");
    assert_eq!(model.provider(), ExecutionProvider::Cpu);
}

#[test]
fn missing_empty_and_corrupt_models_name_the_file() {
    let missing = PathBuf::from("/nonexistent/model.onnx");
    let msg = model_error(Model::load(&missing, &cpu()), &missing);
    assert!(msg.contains("No such file"), "{msg}");

    let empty = tmp_file("empty.onnx", b"");
    assert!(model_error(Model::load(&empty, &cpu()), &empty).contains("empty"));

    let corrupt = tmp_file("corrupt.onnx", b"this is not a protobuf \x00\x01\x02\xff");
    model_error(Model::load(&corrupt, &cpu()), &corrupt);

    // A truncated copy of a real model.
    let voice =
        std::fs::read(assets::data_file(assets::DEFAULT_FACE_DETECTOR)).expect("read detector");
    let truncated = tmp_file("truncated.onnx", &voice[..voice.len() / 3]);
    model_error(Model::load(&truncated, &cpu()), &truncated);
}

#[test]
fn wrong_model_is_caught_by_its_inputs_and_outputs() {
    let voice = assets::data_file(assets::DEFAULT_VOICE);
    let model = Model::load(&voice, &cpu()).expect("voice loads");
    let err = model
        .require_io(&["input.1"], &["537"])
        .expect_err("voice is not a detector");
    let msg = err.to_string();
    assert!(
        msg.contains("input.1") && msg.contains("537") && msg.contains("en_US-joe-medium"),
        "{msg}"
    );
    model
        .require_io(&["input", "input_lengths", "scales"], &[])
        .expect("voice inputs");
}

#[test]
fn missing_library_is_an_error_and_a_good_library_can_follow() {
    let missing = Path::new("/nonexistent/libonnxruntime.so.1.32.0");
    match runtime::environment_from(missing) {
        Err(err @ Error::Runtime { .. }) => assert!(
            err.to_string()
                .contains("/nonexistent/libonnxruntime.so.1.32.0")
        ),
        other => panic!("expected a runtime error, got {other:?}"),
    }
    // Not a shared library at all.
    let bogus = tmp_file("libonnxruntime.so.1.32.0", b"garbage");
    match runtime::environment_from(&bogus) {
        Err(err @ Error::Runtime { .. }) => {
            assert!(err.to_string().contains(&bogus.display().to_string()))
        }
        other => panic!("expected a runtime error, got {other:?}"),
    }
    // The failed loads leave the process usable: the provisioned library loads and runs.
    runtime::environment().expect("provisioned library");
    Model::load(&assets::data_file(assets::DEFAULT_FACE_DETECTOR), &cpu())
        .expect("model after retry");
}

#[test]
fn wrong_library_version_is_refused() {
    // Another shared library that is not ONNX Runtime: loads, but has no OrtGetApiBase.
    let libc = Path::new("/lib/x86_64-linux-gnu/libz.so.1");
    match runtime::environment_from(libc) {
        Err(err @ Error::Runtime { .. }) => {
            assert!(err.to_string().contains("OrtGetApiBase"), "{err}")
        }
        other => panic!("expected a runtime error, got {other:?}"),
    }
}
