//! Any ONNX graph on the ONNX Runtime rech loads for GigaAM, with float tensors in and out:
//! what the other models that run on it (speaker segmentation and embeddings) use, so that one
//! copy of ONNX Runtime serves every model. No ort type leaves this file.

use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::value::Tensor;

use crate::runtime::{self, short};

/// Why a graph could not be opened or run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OnnxError {
    /// ONNX Runtime itself is missing or unusable.
    #[error("{0}")]
    Runtime(String),
    /// The file is not a graph ONNX Runtime opens.
    #[error("{}: {detail}", path.display())]
    Model {
        /// The file.
        path: PathBuf,
        /// What ONNX Runtime said.
        detail: String,
    },
    /// The graph did not take the inputs, or failed on them.
    #[error("running {}: {detail}", path.display())]
    Run {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
}

/// One float tensor: its shape and its values, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct FloatTensor {
    /// The shape.
    pub shape: Vec<usize>,
    /// The values.
    pub data: Vec<f32>,
}

/// An ONNX graph opened in ONNX Runtime.
pub struct OnnxModel {
    path: PathBuf,
    session: Session,
    inputs: Vec<String>,
    outputs: Vec<String>,
}

impl std::fmt::Debug for OnnxModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxModel")
            .field("path", &self.path)
            .field("inputs", &self.inputs)
            .field("outputs", &self.outputs)
            .finish_non_exhaustive()
    }
}

impl OnnxModel {
    /// Opens the graph in `path`, run on `threads` threads.
    pub fn open(path: &Path, threads: usize) -> Result<Self, OnnxError> {
        let env = runtime::environment().map_err(|e| OnnxError::Runtime(e.to_string()))?;
        let session = Session::builder(env)
            .and_then(|b| Ok(b.with_intra_threads(threads.max(1))?))
            .and_then(|b| Ok(b.with_inter_threads(1)?))
            .and_then(|mut b| b.commit_from_file(path))
            .map_err(|e| OnnxError::Model {
                path: path.to_owned(),
                detail: short(&e.to_string()),
            })?;
        Ok(Self {
            path: path.to_owned(),
            inputs: session
                .inputs()
                .iter()
                .map(|o| o.name().to_owned())
                .collect(),
            outputs: session
                .outputs()
                .iter()
                .map(|o| o.name().to_owned())
                .collect(),
            session,
        })
    }

    /// The graph's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The graph's input names, in declaration order.
    pub fn inputs(&self) -> &[String] {
        &self.inputs
    }

    /// The graph's output names, in declaration order.
    pub fn outputs(&self) -> &[String] {
        &self.outputs
    }

    /// A value of the model's own metadata (sherpa-onnx's exports keep their parameters there).
    pub fn metadata(&self, key: &str) -> Option<String> {
        self.session.metadata().ok()?.custom(key)
    }

    /// Runs the graph on `inputs` (by name) and returns every output, in declaration order.
    pub fn run(&mut self, inputs: &[(&str, &FloatTensor)]) -> Result<Vec<FloatTensor>, OnnxError> {
        let failed = |e: &dyn std::fmt::Display| OnnxError::Run {
            path: self.path.clone(),
            detail: short(&e.to_string()),
        };
        let mut values: Vec<(String, ort::session::SessionInputValue<'static>)> = Vec::new();
        for (name, tensor) in inputs {
            if tensor.data.len() != tensor.shape.iter().product::<usize>() {
                return Err(failed(&format!(
                    "{name}: {} values for the shape {:?}",
                    tensor.data.len(),
                    tensor.shape
                )));
            }
            let value = Tensor::from_array((tensor.shape.clone(), tensor.data.clone()))
                .map_err(|e| failed(&e))?;
            values.push(((*name).to_owned(), value.into()));
        }
        let outputs = self.session.run(values).map_err(|e| failed(&e))?;
        let mut out = Vec::with_capacity(self.outputs.len());
        for name in &self.outputs {
            let value = outputs
                .get(name)
                .ok_or_else(|| failed(&format!("no output {name}")))?;
            let (shape, data) = value.try_extract_tensor::<f32>().map_err(|e| failed(&e))?;
            out.push(FloatTensor {
                shape: shape.iter().map(|&d| d.max(0) as usize).collect(),
                data: data.to_vec(),
            });
        }
        Ok(out)
    }
}
