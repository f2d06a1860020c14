//! `--gpu`, `--no-gpu` and `--gpu-device`, the same for every command that loads a model:
//! GigaAM on ONNX Runtime's CUDA build, Whisper on whisper.cpp's GPU back end.

use rech_whisper::WhisperOptions;

/// Where the model runs.
#[derive(Debug, Clone, clap::Args)]
pub struct GpuArgs {
    /// Run the model on the GPU: GigaAM through ONNX Runtime's CUDA build (onnxruntime-gpu,
    /// fetched on first use; it needs an NVIDIA driver, CUDA 13 and cuDNN 9), Whisper in a
    /// build with a GPU back end (see `rech --version`). For GigaAM a GPU that cannot be used
    /// is an error, never a quiet fallback [default: GigaAM on the CPU; Whisper on the GPU in
    /// GPU builds].
    #[arg(help_heading = "Performance", long, conflicts_with = "no_gpu")]
    pub gpu: bool,

    /// Run Whisper on the CPU even in a GPU build.
    #[arg(help_heading = "Performance", long)]
    pub no_gpu: bool,

    /// Which GPU, counting from 0 (implies --gpu).
    #[arg(
        help_heading = "Performance",
        long,
        value_name = "N",
        conflicts_with = "no_gpu"
    )]
    pub gpu_device: Option<u32>,
}

impl GpuArgs {
    /// Whether the GPU was asked for.
    pub fn wanted(&self) -> bool {
        self.gpu || self.gpu_device.is_some()
    }

    /// `whisper` with the GPU settings given (on by default in a GPU build).
    pub fn whisper(&self, whisper: WhisperOptions) -> WhisperOptions {
        WhisperOptions {
            gpu: !self.no_gpu,
            gpu_device: self.gpu_device.unwrap_or(0),
            ..whisper
        }
    }

    /// The CUDA device GigaAM runs on, where the GPU was asked for.
    pub fn device(&self) -> Option<u32> {
        self.wanted().then(|| self.gpu_device.unwrap_or(0))
    }
}
