//! The ONNX graphs of one model in ONNX Runtime, with their inputs and outputs bound by what
//! the model declares (names and element types read from each graph), not by the names of one
//! export: the public files come from an older GigaAM export than the shared test models
//! (batch 1 in the decoder and joint, no `encoded_lengths` output in CTC, other state names), and
//! rech depends on none of the newer export's extras. Everything ort says is turned into
//! [`rech_asr::Error`] here; no ort type leaves this file.

use std::path::Path;

use ort::session::Session;
use ort::value::{Tensor, TensorElementType, ValueType};
use rech_asr::Error;

use crate::runtime::{self, short};

const ENGINE: &str = "ONNX Runtime";

/// Hidden size of the RNN-T prediction network (the LSTM state), the same in every v3 export.
pub const PRED_HIDDEN: usize = 320;

/// Why a graph could not be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenError {
    /// ONNX Runtime itself is missing or unusable (the message says what to do).
    Runtime(String),
    /// The file is not a usable GigaAM graph.
    Model(String),
}

/// One graph and the names of its inputs and outputs, in the roles rech gives them.
struct Graph {
    session: Session,
    /// Float inputs, in declaration order.
    float_in: Vec<String>,
    /// Integer inputs (lengths, token ids), in declaration order.
    int_in: Vec<String>,
    /// Float outputs, in declaration order.
    float_out: Vec<String>,
}

fn is_float(ty: &ValueType) -> bool {
    matches!(
        ty,
        ValueType::Tensor {
            ty: TensorElementType::Float32,
            ..
        }
    )
}

fn is_int(ty: &ValueType) -> bool {
    matches!(
        ty,
        ValueType::Tensor {
            ty: TensorElementType::Int64 | TensorElementType::Int32,
            ..
        }
    )
}

fn run_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Engine {
        engine: ENGINE,
        what: format!("running the {what}: {}", short(&e.to_string())),
    }
}

impl Graph {
    /// Opens `path` on `threads` threads (on CUDA device `gpu` where one is given) and checks
    /// that it has `float_in` float inputs, `int_in` integer inputs and at least `float_out`
    /// float outputs.
    fn open(
        path: &Path,
        threads: usize,
        gpu: Option<u32>,
        (float_in, int_in, float_out): (usize, usize, usize),
    ) -> Result<Self, OpenError> {
        let env = runtime::environment().map_err(|e| OpenError::Runtime(e.to_string()))?;
        let cuda = gpu
            .map(runtime::cuda_provider)
            .transpose()
            .map_err(|e| OpenError::Runtime(e.to_string()))?;
        let builder = Session::builder(env)
            .and_then(|b| Ok(b.with_intra_threads(threads.max(1))?))
            .and_then(|b| Ok(b.with_inter_threads(1)?))
            // Between runs the pool's threads sleep rather than spin: a shared graph's threads
            // would otherwise take the cores the other workers decode on.
            .and_then(|b| Ok(b.with_intra_op_spinning(false)?))
            .map_err(|e| OpenError::Model(short(&e.to_string())))?;
        // Registering CUDA is where a missing GPU, driver or CUDA library shows: that is the
        // runtime's fault, not the model's.
        let mut builder = match cuda {
            Some(cuda) => builder.with_execution_providers([cuda]).map_err(|e| {
                OpenError::Runtime(
                    runtime::RuntimeError::Gpu {
                        detail: short(&e.to_string()),
                    }
                    .to_string(),
                )
            })?,
            None => builder,
        };
        let session = builder
            .commit_from_file(path)
            .map_err(|e| OpenError::Model(short(&e.to_string())))?;
        let names = |outlets: &[ort::value::Outlet], keep: fn(&ValueType) -> bool| -> Vec<String> {
            outlets
                .iter()
                .filter(|o| keep(o.dtype()))
                .map(|o| o.name().to_owned())
                .collect()
        };
        let graph = Self {
            float_in: names(session.inputs(), is_float),
            int_in: names(session.inputs(), is_int),
            float_out: names(session.outputs(), is_float),
            session,
        };
        if graph.float_in.len() != float_in
            || graph.int_in.len() != int_in
            || graph.float_out.len() < float_out
            || graph.session.inputs().len() != float_in + int_in
        {
            return Err(OpenError::Model(format!(
                "its inputs and outputs are not those of a GigaAM-v3 graph ({} float and {} integer inputs, {} float outputs)",
                graph.float_in.len(),
                graph.int_in.len(),
                graph.float_out.len()
            )));
        }
        Ok(graph)
    }
}

/// The features `[1, 64, frames]` and their length, as a graph's two inputs.
fn feature_inputs(
    graph: &Graph,
    features: &[f32],
    frames: usize,
) -> Result<Vec<(String, ort::session::SessionInputValue<'static>)>, Error> {
    let x = Tensor::from_array(([1usize, 64, frames], features.to_vec()))
        .map_err(|e| run_error("front end", e))?;
    let len = Tensor::from_array(([1usize], vec![frames as i64]))
        .map_err(|e| run_error("front end", e))?;
    Ok(vec![
        (graph.float_in[0].clone(), x.into()),
        (graph.int_in[0].clone(), len.into()),
    ])
}

/// A CTC model: features in, log-probabilities `[frames', classes]` out.
pub struct CtcGraph {
    graph: Graph,
    output: String,
}

impl CtcGraph {
    /// Opens a CTC graph, on CUDA device `gpu` where one is given.
    pub fn open(path: &Path, threads: usize, gpu: Option<u32>) -> Result<Self, OpenError> {
        let graph = open_named(path, "model", threads, gpu, (1, 1, 1))?;
        // `log_probs` by name where the export has it (the newer one adds lengths after it).
        let output = graph
            .float_out
            .iter()
            .find(|n| n.as_str() == "log_probs")
            .unwrap_or(&graph.float_out[0])
            .clone();
        Ok(Self { graph, output })
    }

    /// Log-probabilities for `frames` feature frames: the values, encoder frames, classes.
    pub fn run(
        &mut self,
        features: &[f32],
        frames: usize,
    ) -> Result<(Vec<f32>, usize, usize), Error> {
        let inputs = feature_inputs(&self.graph, features, frames)?;
        let outputs = self
            .graph
            .session
            .run(inputs)
            .map_err(|e| run_error("CTC model", e))?;
        let value = outputs
            .get(&self.output)
            .ok_or_else(|| run_error("CTC model", "no log-probabilities came out"))?;
        let (shape, data) = value
            .try_extract_tensor::<f32>()
            .map_err(|e| run_error("CTC model", e))?;
        if shape.len() != 3 || shape[0] != 1 {
            return Err(run_error(
                "CTC model",
                format!("log-probabilities of shape {shape:?}"),
            ));
        }
        Ok((data.to_vec(), shape[1] as usize, shape[2] as usize))
    }
}

/// An RNN-T model's encoder: the big graph, which every recognizer of a model shares.
pub struct RnntEncoder {
    encoder: Graph,
}

/// An RNN-T model's prediction network and joint: small graphs, run once per token and frame,
/// a pair per recognizer.
pub struct RnntHeads {
    decoder: Graph,
    joint: Graph,
}

/// The encoder's output for one utterance: `[dim][frames]`, channels first.
pub struct Encoded {
    /// The values.
    pub data: Vec<f32>,
    /// Channels per frame.
    pub dim: usize,
    /// Frames.
    pub frames: usize,
}

/// The prediction network's state (LSTM `h` and `c`) and its last output.
#[derive(Clone)]
pub struct DecoderState {
    h: Vec<f32>,
    c: Vec<f32>,
}

impl Default for DecoderState {
    fn default() -> Self {
        Self {
            h: vec![0.0; PRED_HIDDEN],
            c: vec![0.0; PRED_HIDDEN],
        }
    }
}

/// `path` (the model's file `what`) opened as a graph with these inputs and outputs, its name in
/// the error.
fn open_named(
    path: &Path,
    what: &str,
    threads: usize,
    gpu: Option<u32>,
    counts: (usize, usize, usize),
) -> Result<Graph, OpenError> {
    Graph::open(path, threads, gpu, counts).map_err(|e| match e {
        OpenError::Model(m) => OpenError::Model(format!("{}: {m}", file_name(path, what))),
        runtime => runtime,
    })
}

impl RnntEncoder {
    /// Opens the encoder, on CUDA device `gpu` where one is given.
    pub fn open(path: &Path, threads: usize, gpu: Option<u32>) -> Result<Self, OpenError> {
        Ok(Self {
            encoder: open_named(path, "encoder", threads, gpu, (1, 1, 1))?,
        })
    }

    /// Runs the encoder over `frames` feature frames.
    pub fn encode(&mut self, features: &[f32], frames: usize) -> Result<Encoded, Error> {
        let inputs = feature_inputs(&self.encoder, features, frames)?;
        let name = self.encoder.float_out[0].clone();
        let outputs = self
            .encoder
            .session
            .run(inputs)
            .map_err(|e| run_error("encoder", e))?;
        let (shape, data) = outputs[name.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(|e| run_error("encoder", e))?;
        if shape.len() != 3 || shape[0] != 1 {
            return Err(run_error(
                "encoder",
                format!("an output of shape {shape:?}"),
            ));
        }
        Ok(Encoded {
            data: data.to_vec(),
            dim: shape[1] as usize,
            frames: shape[2] as usize,
        })
    }
}

impl RnntHeads {
    /// Opens the prediction network and the joint, on one CPU thread even where the encoder
    /// runs on a GPU: they run once per token and frame on a few hundred values, where threads
    /// (or copies to a device and back) only add waiting.
    pub fn open(decoder: &Path, joint: &Path) -> Result<Self, OpenError> {
        Ok(Self {
            decoder: open_named(decoder, "decoder", 1, None, (2, 1, 3))?,
            joint: open_named(joint, "joint", 1, None, (2, 0, 1))?,
        })
    }
    /// The prediction network after `token` from `state`: its output and the next state.
    pub fn predict(
        &mut self,
        token: usize,
        state: &DecoderState,
    ) -> Result<(Vec<f32>, DecoderState), Error> {
        let what = "prediction network";
        let x = Tensor::from_array(([1usize, 1], vec![token as i64]))
            .map_err(|e| run_error(what, e))?;
        let h = Tensor::from_array(([1usize, 1, PRED_HIDDEN], state.h.clone()))
            .map_err(|e| run_error(what, e))?;
        let c = Tensor::from_array(([1usize, 1, PRED_HIDDEN], state.c.clone()))
            .map_err(|e| run_error(what, e))?;
        let d = &self.decoder;
        let inputs: Vec<(String, ort::session::SessionInputValue<'static>)> = vec![
            (d.int_in[0].clone(), x.into()),
            (d.float_in[0].clone(), h.into()),
            (d.float_in[1].clone(), c.into()),
        ];
        let names = [
            d.float_out[0].clone(),
            d.float_out[1].clone(),
            d.float_out[2].clone(),
        ];
        let outputs = self
            .decoder
            .session
            .run(inputs)
            .map_err(|e| run_error(what, e))?;
        let take = |name: &str| -> Result<Vec<f32>, Error> {
            let (_, data) = outputs[name]
                .try_extract_tensor::<f32>()
                .map_err(|e| run_error(what, e))?;
            Ok(data.to_vec())
        };
        let out = take(&names[0])?;
        let next = DecoderState {
            h: take(&names[1])?,
            c: take(&names[2])?,
        };
        if out.len() != PRED_HIDDEN || next.h.len() != PRED_HIDDEN || next.c.len() != PRED_HIDDEN {
            return Err(run_error(what, "outputs of the wrong size"));
        }
        Ok((out, next))
    }

    /// The joint's log-probabilities for one encoder frame (`dim` values) and one prediction.
    pub fn join(&mut self, frame: &[f32], prediction: &[f32]) -> Result<Vec<f32>, Error> {
        let what = "joint";
        let enc = Tensor::from_array(([1usize, frame.len(), 1], frame.to_vec()))
            .map_err(|e| run_error(what, e))?;
        let dec = Tensor::from_array(([1usize, PRED_HIDDEN, 1], prediction.to_vec()))
            .map_err(|e| run_error(what, e))?;
        let j = &self.joint;
        let inputs: Vec<(String, ort::session::SessionInputValue<'static>)> = vec![
            (j.float_in[0].clone(), enc.into()),
            (j.float_in[1].clone(), dec.into()),
        ];
        let name = j.float_out[0].clone();
        let outputs = self
            .joint
            .session
            .run(inputs)
            .map_err(|e| run_error(what, e))?;
        let (_, data) = outputs[name.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(|e| run_error(what, e))?;
        Ok(data.to_vec())
    }
}

fn file_name(path: &Path, what: &str) -> String {
    path.file_name()
        .map_or_else(|| what.to_owned(), |n| n.to_string_lossy().into_owned())
}
