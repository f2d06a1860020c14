//! Reads and checks a whisper.cpp ggml model file before whisper.cpp sees it.
//!
//! whisper.cpp's loader (`whisper_model_load` in whisper.cpp 1.8.3) trusts every number in the
//! file: it accepts a file with no tensors at all as an "empty model for testing" and then prints
//! nonsense, it accepts a file cut short inside its last tensor (short reads are ignored), it
//! aborts the whole process on an unknown `ftype`, and it sizes allocations from unchecked
//! header fields. So `rech` walks the whole file here first — header, mel filters, vocabulary and
//! every tensor header — and refuses anything whisper.cpp would misread, with a message that says
//! what is wrong. Tensor data is skipped with `seek`, so checking a 1.5 GB model costs a few
//! hundred small reads.
//!
//! whisper.cpp's Silero VAD loader (`whisper_vad_init_with_params`) is more trusting still: it
//! sizes arrays from the header's layer count, indexes four layers whatever the count says,
//! divides by the window size, and runs with uninitialised weights when the file holds none. So
//! [`inspect_vad`] walks a VAD model file the same way.
//!
//! Outside its tests this file uses only `std` and `thiserror`, so that the fuzz targets in
//! `fuzz/`, which depend on `rech-ggml`, never build whisper.cpp.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::ops::RangeInclusive;
use std::path::Path;

/// The little-endian `u32` every whisper.cpp ggml model file starts with (`"ggml"` read as a
/// number, `GGML_FILE_MAGIC`).
pub const GGML_MAGIC: u32 = 0x6767_6d6c;

/// `n_vocab` values whisper.cpp can serve: 51864 is English-only Whisper, 51865 multilingual
/// (99 languages), 51866 large-v3 (100 languages). whisper.cpp derives the special tokens and the
/// language count from `n_vocab`: below 51864 the 1501 timestamp tokens no longer fit, and above
/// 51866 it names a 101st language it has no code for (`whisper_lang_str` returns null, which the
/// loader turns into a `std::string`).
pub const N_VOCAB_RANGE: RangeInclusive<i32> = 51864..=51866;

/// Encoder positions: whisper.cpp feeds at most 30 s of audio, 3000 mel frames, which the
/// encoder's stride-2 convolution halves to 1500; every Whisper model has exactly 1500.
pub const N_AUDIO_CTX_RANGE: RangeInclusive<i32> = 1..=1500;

/// Decoder positions: every Whisper model has 448. whisper.cpp decodes at most
/// `n_text_ctx / 2 - 4` tokens per window, so fewer than 16 leave almost no room for text.
pub const N_TEXT_CTX_RANGE: RangeInclusive<i32> = 16..=448;

/// Model width (`n_audio_state`, `n_text_state`): the largest Whisper (large) has 1280; the bound
/// keeps tensor sizes computed from it far from overflow.
pub const N_STATE_RANGE: RangeInclusive<i32> = 1..=8192;

/// Attention heads per layer: large has 20; each must divide the width.
pub const N_HEAD_RANGE: RangeInclusive<i32> = 1..=128;

/// Transformer layers: large has 32.
pub const N_LAYER_RANGE: RangeInclusive<i32> = 1..=128;

/// Mel bands: 80 for every Whisper up to large-v2, 128 for large-v3.
pub const N_MELS_ALLOWED: [i32; 2] = [80, 128];

/// Frequency bins per mel filter: whisper.cpp's FFT is 400 samples wide (`WHISPER_N_FFT`) and
/// its spectrogram code assumes `1 + 400 / 2` bins.
pub const N_FFT_BINS: i32 = 201;

/// `ftype / 1000` is the quantisation format version (`GGML_QNT_VERSION_FACTOR`); whisper.cpp
/// 1.8.3 writes version 2 and ignores the version when loading, but a larger one comes from a
/// newer, incompatible quantiser or from garbage.
pub const MAX_QNT_VERSION: i32 = 2;

/// Fewest vocabulary tokens accepted: a byte-level BPE vocabulary starts with its 256
/// single-byte tokens, and anything shorter decodes to placeholders.
pub const MIN_VOCAB_TOKENS: i32 = 256;

/// Longest token accepted, in bytes: the longest real Whisper token is 33 bytes; the bound keeps
/// a damaged length field from being trusted.
pub const MAX_TOKEN_LEN: u32 = 1024;

/// Longest tensor name accepted, in bytes: the longest name whisper.cpp uses is 42 bytes
/// (`decoder.blocks.31.cross_attn.value.weight`).
pub const MAX_TENSOR_NAME_LEN: i32 = 256;

/// Why a file is not a whisper.cpp model that `rech` can load.
///
/// Messages say what is wrong with the file but not which file: the caller adds the path.
/// None of these is worth retrying except [`ModelFileError::Io`] on a transient I/O error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelFileError {
    /// Reading or seeking failed.
    #[error("cannot read the model file: {0}")]
    Io(#[from] io::Error),
    /// The file has zero bytes (typically an interrupted download).
    #[error("the model file is empty")]
    Empty,
    /// A well-formed file that the linked whisper.cpp cannot run.
    #[error(
        "its weights are f32, and the whisper.cpp built into rech aborts on f32 convolution \
         kernels in the encoder: convert it to f16 or a quantised type (whisper.cpp's \
         convert scripts write f16 by default)"
    )]
    F32Weights,
    /// The file does not start with the ggml magic number.
    #[error("not a whisper.cpp ggml model (magic 0x{found:08x}, expected 0x67676d6c)")]
    BadMagic {
        /// The first four bytes read as a little-endian `u32`.
        found: u32,
    },
    /// The file ends before a part that its header promises.
    #[error("file ends inside the {what} starting at byte {offset}: the file is truncated")]
    Truncated {
        /// The part that is cut short, e.g. `length of token 512` or `data of tensor "x"`.
        what: String,
        /// Byte offset where that part starts.
        offset: u64,
    },
    /// A hyperparameter in the header is outside what whisper.cpp can use.
    #[error("hyperparameter {name} is {value}, expected {expected}")]
    BadHparam {
        /// Field name as whisper.cpp spells it, e.g. `n_audio_head`.
        name: &'static str,
        /// Value found in the file.
        value: i32,
        /// What it should be, e.g. `a divisor of n_audio_state (64)`.
        expected: String,
    },
    /// The mel filter bank does not match the model's mel bands or whisper.cpp's FFT size.
    #[error("mel filter bank is {n_mel}x{n_fft}, expected {expected_mel}x201 (n_mels x FFT bins)")]
    BadMelFilters {
        /// Filter count in the file.
        n_mel: i32,
        /// Bins per filter in the file.
        n_fft: i32,
        /// `n_mels` from the header.
        expected_mel: i32,
    },
    /// The vocabulary's token count is impossible for this model.
    #[error("vocabulary has {count} tokens, expected 256 to n_vocab ({max})")]
    BadVocabSize {
        /// Token count in the file.
        count: i32,
        /// `n_vocab` from the header.
        max: i32,
    },
    /// One token's length is implausible (the length field is damaged).
    #[error("token {index} of the vocabulary is {len} bytes long, at most 1024 expected")]
    BadToken {
        /// Token id.
        index: usize,
        /// Claimed length in bytes.
        len: u32,
    },
    /// The file stops after the vocabulary: whisper.cpp's "for-tests" files look like this.
    #[error(
        "the file has no weights (0 of {expected} tensors): it is a vocabulary-only test file"
    )]
    NoWeights {
        /// How many tensors the header's dimensions call for.
        expected: usize,
    },
    /// Some tensors are present but not all.
    #[error("tensor {name:?} is missing ({missing} missing in all)")]
    MissingTensor {
        /// The first missing tensor, in whisper.cpp's order.
        name: String,
        /// How many are missing.
        missing: usize,
    },
    /// A tensor header is malformed (dimension count, name length, sizes).
    #[error("bad tensor header at byte {offset}: {reason}")]
    BadTensorHeader {
        /// Byte offset of the header.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// The file holds a tensor whisper.cpp does not expect for these dimensions.
    #[error(
        "unknown tensor {name:?}: whisper.cpp expects no tensor of that name for these dimensions"
    )]
    UnknownTensor {
        /// The name, with invalid UTF-8 replaced.
        name: String,
    },
    /// A tensor has the wrong shape for the header's dimensions.
    #[error("tensor {name:?} has shape {found:?}, expected {expected:?}")]
    TensorShape {
        /// Tensor name.
        name: String,
        /// Shape whisper.cpp allocates, in ggml order (`ne[0]` first).
        expected: Vec<i64>,
        /// Shape in the file.
        found: Vec<i64>,
    },
    /// A tensor is stored in a type whisper.cpp will not read it as.
    #[error("tensor {name:?} is stored as {found}, expected {expected}")]
    TensorType {
        /// Tensor name.
        name: String,
        /// Type whisper.cpp allocates for it under the header's ftype.
        expected: &'static str,
        /// Type in the file (`type 99` when it is not a ggml type at all).
        found: String,
    },
    /// The same tensor appears twice.
    #[error("tensor {name:?} appears twice")]
    DuplicateTensor {
        /// Tensor name.
        name: String,
    },
    /// A VAD model file stops after its header.
    #[error("the file has no weights (0 of {expected} tensors): only the header is there")]
    HeaderOnly {
        /// How many tensors a Silero VAD model has.
        expected: usize,
    },
    /// A Silero VAD model was given where a Whisper model belongs.
    #[error("it is a Silero VAD model, not a Whisper model")]
    IsVadModel,
    /// A ggml file that is not a Silero VAD model was given where one belongs.
    #[error("not a Silero VAD model: {reason}")]
    NotVadModel {
        /// What the file is instead, e.g. `it is a Whisper model (n_vocab 51865)`.
        reason: String,
    },
}

/// The 11 hyperparameters in a model file's header, in file order.
///
/// Field names follow whisper.cpp. `ftype` is stored as in the file: its remainder modulo 1000
/// is the ggml file type (0 = f32, 1 = f16, 2 = q4_0, ...), the quotient the quantisation version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hparams {
    /// Token count including special and timestamp tokens (51865 for multilingual Whisper).
    pub n_vocab: i32,
    /// Encoder positions (1500 = 30 s).
    pub n_audio_ctx: i32,
    /// Encoder width.
    pub n_audio_state: i32,
    /// Encoder attention heads.
    pub n_audio_head: i32,
    /// Encoder layers.
    pub n_audio_layer: i32,
    /// Decoder positions (448).
    pub n_text_ctx: i32,
    /// Decoder width; whisper.cpp requires it to equal `n_audio_state`.
    pub n_text_state: i32,
    /// Decoder attention heads.
    pub n_text_head: i32,
    /// Decoder layers.
    pub n_text_layer: i32,
    /// Mel bands (80, or 128 for large-v3).
    pub n_mels: i32,
    /// ggml file type plus 1000 × quantisation version; 1 = f16.
    pub ftype: i32,
}

impl Hparams {
    /// Whether whisper.cpp treats the model as multilingual (it decides from `n_vocab` alone).
    pub fn is_multilingual(&self) -> bool {
        self.n_vocab >= 51865
    }

    /// Made-up dimensions that whisper.cpp loads and runs in milliseconds, for tests: width 64,
    /// 2 heads, 1 encoder and 1 decoder layer, but the real vocabulary, 30 s window (1500
    /// encoder positions) and 448 decoder positions, so everything around the network behaves
    /// exactly as with a real model.
    pub fn micro() -> Self {
        Self::whisper(64, 2, 1)
    }

    /// Whisper tiny (39 M parameters), multilingual, f16.
    pub fn tiny() -> Self {
        Self::whisper(384, 6, 4)
    }

    /// Whisper base (74 M parameters), multilingual, f16.
    pub fn base() -> Self {
        Self::whisper(512, 8, 6)
    }

    /// Whisper small (244 M parameters), multilingual, f16.
    pub fn small() -> Self {
        Self::whisper(768, 12, 12)
    }

    /// Whisper medium (769 M parameters), multilingual, f16: the dimensions of rech's default
    /// model.
    pub fn medium() -> Self {
        Self::whisper(1024, 16, 24)
    }

    fn whisper(n_state: i32, n_head: i32, n_layer: i32) -> Self {
        Self {
            n_vocab: 51865,
            n_audio_ctx: 1500,
            n_audio_state: n_state,
            n_audio_head: n_head,
            n_audio_layer: n_layer,
            n_text_ctx: 448,
            n_text_state: n_state,
            n_text_head: n_head,
            n_text_layer: n_layer,
            n_mels: 80,
            ftype: 1,
        }
    }

    /// The type whisper.cpp stores weight matrices in for this `ftype`, or `None` when
    /// whisper.cpp cannot load it (it aborts the process on an unknown `ftype`).
    pub fn weight_type(&self) -> Option<GgmlType> {
        if self.ftype < 0 || self.ftype / 1000 > MAX_QNT_VERSION {
            return None;
        }
        // Mirrors ggml_ftype_to_ggml_type, restricted to the types whisper's quantiser writes.
        Some(match self.ftype % 1000 {
            0 => GgmlType::F32,
            1 => GgmlType::F16,
            2 => GgmlType::Q4_0,
            3 => GgmlType::Q4_1,
            7 => GgmlType::Q8_0,
            8 => GgmlType::Q5_0,
            9 => GgmlType::Q5_1,
            10 => GgmlType::Q2K,
            11 => GgmlType::Q3K,
            12 => GgmlType::Q4K,
            13 => GgmlType::Q5K,
            14 => GgmlType::Q6K,
            24 => GgmlType::Bf16,
            _ => return None,
        })
    }

    /// Checks every field against the ranges above (the consts of this module) and against
    /// each other, so that whisper.cpp never sees dimensions it would misbehave on.
    pub fn check(&self) -> Result<(), ModelFileError> {
        fn in_range(
            name: &'static str,
            value: i32,
            range: RangeInclusive<i32>,
        ) -> Result<(), ModelFileError> {
            if range.contains(&value) {
                Ok(())
            } else {
                Err(ModelFileError::BadHparam {
                    name,
                    value,
                    expected: format!("{} to {}", range.start(), range.end()),
                })
            }
        }
        fn divides(
            name: &'static str,
            heads: i32,
            state_name: &str,
            state: i32,
        ) -> Result<(), ModelFileError> {
            in_range(name, heads, N_HEAD_RANGE)?;
            if state % heads == 0 {
                Ok(())
            } else {
                Err(ModelFileError::BadHparam {
                    name,
                    value: heads,
                    expected: format!("a divisor of {state_name} ({state})"),
                })
            }
        }

        in_range("n_vocab", self.n_vocab, N_VOCAB_RANGE)?;
        in_range("n_audio_ctx", self.n_audio_ctx, N_AUDIO_CTX_RANGE)?;
        in_range("n_audio_state", self.n_audio_state, N_STATE_RANGE)?;
        divides(
            "n_audio_head",
            self.n_audio_head,
            "n_audio_state",
            self.n_audio_state,
        )?;
        in_range("n_audio_layer", self.n_audio_layer, N_LAYER_RANGE)?;
        in_range("n_text_ctx", self.n_text_ctx, N_TEXT_CTX_RANGE)?;
        // whisper.cpp only assert()s this, which release builds compile out; the cross
        // attention multiplies encoder output by decoder-sized matrices, so it must hold.
        if self.n_text_state != self.n_audio_state {
            return Err(ModelFileError::BadHparam {
                name: "n_text_state",
                value: self.n_text_state,
                expected: format!("n_audio_state ({})", self.n_audio_state),
            });
        }
        divides(
            "n_text_head",
            self.n_text_head,
            "n_text_state",
            self.n_text_state,
        )?;
        in_range("n_text_layer", self.n_text_layer, N_LAYER_RANGE)?;
        if !N_MELS_ALLOWED.contains(&self.n_mels) {
            return Err(ModelFileError::BadHparam {
                name: "n_mels",
                value: self.n_mels,
                expected: "80 or 128".to_owned(),
            });
        }
        if self.weight_type().is_none() {
            return Err(ModelFileError::BadHparam {
                name: "ftype",
                value: self.ftype,
                expected: "a whisper.cpp file type (0 f32, 1 f16, 2 q4_0, 3 q4_1, 7 q8_0, \
                           8 q5_0, 9 q5_1, 10-14 q2_k-q6_k, 24 bf16; plus 1000 per \
                           quantisation version up to 2)"
                    .to_owned(),
            });
        }
        Ok(())
    }
}

/// The ggml tensor types a whisper model file can hold, with their ids in the file.
///
/// Quantised types store blocks of [`GgmlType::block_size`] values in
/// [`GgmlType::block_bytes`] bytes each, so a row's length must be a multiple of the block size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GgmlType {
    /// 32-bit float (id 0).
    F32,
    /// IEEE half float (id 1).
    F16,
    /// 4-bit, 32 per block, one f16 scale (id 2).
    Q4_0,
    /// 4-bit, 32 per block, f16 scale and minimum (id 3).
    Q4_1,
    /// 5-bit, 32 per block, one f16 scale (id 6).
    Q5_0,
    /// 5-bit, 32 per block, f16 scale and minimum (id 7).
    Q5_1,
    /// 8-bit, 32 per block, one f16 scale (id 8).
    Q8_0,
    /// 2-bit k-quant, 256 per block (id 10).
    Q2K,
    /// 3-bit k-quant, 256 per block (id 11).
    Q3K,
    /// 4-bit k-quant, 256 per block (id 12).
    Q4K,
    /// 5-bit k-quant, 256 per block (id 13).
    Q5K,
    /// 6-bit k-quant, 256 per block (id 14).
    Q6K,
    /// bfloat16 (id 30).
    Bf16,
}

impl GgmlType {
    /// The type for an id in a tensor header, if it is one whisper files use.
    pub fn from_id(id: i32) -> Option<Self> {
        Some(match id {
            0 => Self::F32,
            1 => Self::F16,
            2 => Self::Q4_0,
            3 => Self::Q4_1,
            6 => Self::Q5_0,
            7 => Self::Q5_1,
            8 => Self::Q8_0,
            10 => Self::Q2K,
            11 => Self::Q3K,
            12 => Self::Q4K,
            13 => Self::Q5K,
            14 => Self::Q6K,
            30 => Self::Bf16,
            _ => return None,
        })
    }

    /// The id written in tensor headers (`enum ggml_type`).
    pub fn id(self) -> i32 {
        match self {
            Self::F32 => 0,
            Self::F16 => 1,
            Self::Q4_0 => 2,
            Self::Q4_1 => 3,
            Self::Q5_0 => 6,
            Self::Q5_1 => 7,
            Self::Q8_0 => 8,
            Self::Q2K => 10,
            Self::Q3K => 11,
            Self::Q4K => 12,
            Self::Q5K => 13,
            Self::Q6K => 14,
            Self::Bf16 => 30,
        }
    }

    /// ggml's name for the type (`f16`, `q4_0`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::F16 => "f16",
            Self::Q4_0 => "q4_0",
            Self::Q4_1 => "q4_1",
            Self::Q5_0 => "q5_0",
            Self::Q5_1 => "q5_1",
            Self::Q8_0 => "q8_0",
            Self::Q2K => "q2_k",
            Self::Q3K => "q3_k",
            Self::Q4K => "q4_k",
            Self::Q5K => "q5_k",
            Self::Q6K => "q6_k",
            Self::Bf16 => "bf16",
        }
    }

    /// Values per block (1 for the float types).
    pub fn block_size(self) -> u64 {
        match self {
            Self::F32 | Self::F16 | Self::Bf16 => 1,
            Self::Q4_0 | Self::Q4_1 | Self::Q5_0 | Self::Q5_1 | Self::Q8_0 => 32,
            Self::Q2K | Self::Q3K | Self::Q4K | Self::Q5K | Self::Q6K => 256,
        }
    }

    /// Bytes per block (`sizeof(block_...)` in ggml-common.h).
    pub fn block_bytes(self) -> u64 {
        match self {
            Self::F32 => 4,
            Self::F16 | Self::Bf16 => 2,
            Self::Q4_0 => 18,
            Self::Q4_1 => 20,
            Self::Q5_0 => 22,
            Self::Q5_1 => 24,
            Self::Q8_0 => 34,
            Self::Q2K => 84,
            Self::Q3K => 110,
            Self::Q4K => 144,
            Self::Q5K => 176,
            Self::Q6K => 210,
        }
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which type whisper.cpp stores a tensor in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TensorKind {
    /// A weight matrix (attention, MLP, token embedding): in the type the model's `ftype`
    /// names, quantised ones included.
    Matrix,
    /// One of the encoder's two convolution kernels: f32 when the `ftype` is f32, otherwise
    /// f16 (never quantised or bf16).
    Conv,
    /// Always f32: biases, layer norms and both positional embeddings.
    F32,
}

impl TensorKind {
    /// The type of a tensor of this kind in a model whose matrices are `weight_type`.
    pub fn ggml_type(self, weight_type: GgmlType) -> GgmlType {
        match self {
            Self::Matrix => weight_type,
            Self::Conv if weight_type == GgmlType::F32 => GgmlType::F32,
            Self::Conv => GgmlType::F16,
            Self::F32 => GgmlType::F32,
        }
    }
}

/// One tensor whisper.cpp requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    /// Name as in the file, e.g. `encoder.blocks.0.attn.query.weight`.
    pub name: String,
    /// Shape in ggml order as stored in the file: `ne[0]` (the contiguous dimension) first, so
    /// a PyTorch `(out, in)` matrix is `[in, out]`.
    pub shape: Vec<i64>,
    /// Which type it is stored in.
    pub kind: TensorKind,
}

impl TensorSpec {
    fn new(name: impl Into<String>, shape: &[i64], kind: TensorKind) -> Self {
        Self {
            name: name.into(),
            shape: shape.to_vec(),
            kind,
        }
    }

    /// Number of values.
    pub fn n_elements(&self) -> u64 {
        self.shape.iter().map(|&d| d.max(0) as u64).product()
    }
}

/// The tensors `whisper_model_load` creates for these dimensions, in its order.
///
/// whisper.cpp refuses a file that lacks one of them, holds another name, or stores one with a
/// different shape; it does not care about the order in the file. There is no output
/// projection: the decoder reuses the token embedding.
pub fn expected_tensors(h: &Hparams) -> Vec<TensorSpec> {
    use TensorKind::{Conv, Matrix, F32};

    let a = i64::from(h.n_audio_state);
    let t = i64::from(h.n_text_state);
    let capacity = 11 + 15 * h.n_audio_layer.max(0) as usize + 24 * h.n_text_layer.max(0) as usize;
    let mut v = Vec::with_capacity(capacity);

    v.push(TensorSpec::new(
        "encoder.positional_embedding",
        &[a, i64::from(h.n_audio_ctx)],
        F32,
    ));
    v.push(TensorSpec::new(
        "encoder.conv1.weight",
        &[3, i64::from(h.n_mels), a],
        Conv,
    ));
    // The conversion script stores conv biases as (n_state, 1) columns: ne = [1, n_state].
    v.push(TensorSpec::new("encoder.conv1.bias", &[1, a], F32));
    v.push(TensorSpec::new("encoder.conv2.weight", &[3, a, a], Conv));
    v.push(TensorSpec::new("encoder.conv2.bias", &[1, a], F32));
    v.push(TensorSpec::new("encoder.ln_post.weight", &[a], F32));
    v.push(TensorSpec::new("encoder.ln_post.bias", &[a], F32));
    for i in 0..h.n_audio_layer {
        push_block(&mut v, &format!("encoder.blocks.{i}"), a, false);
    }

    v.push(TensorSpec::new(
        "decoder.positional_embedding",
        &[t, i64::from(h.n_text_ctx)],
        F32,
    ));
    v.push(TensorSpec::new(
        "decoder.token_embedding.weight",
        &[t, i64::from(h.n_vocab)],
        Matrix,
    ));
    v.push(TensorSpec::new("decoder.ln.weight", &[t], F32));
    v.push(TensorSpec::new("decoder.ln.bias", &[t], F32));
    for i in 0..h.n_text_layer {
        push_block(&mut v, &format!("decoder.blocks.{i}"), t, true);
    }
    v
}

/// One transformer block: self-attention and MLP (15 tensors), plus cross-attention in the
/// decoder (9 more). The key projections have no bias, as in Whisper.
fn push_block(v: &mut Vec<TensorSpec>, prefix: &str, n: i64, cross: bool) {
    use TensorKind::{Matrix, F32};

    let mut push = |suffix: &str, shape: &[i64], kind| {
        v.push(TensorSpec::new(format!("{prefix}.{suffix}"), shape, kind));
    };
    push("mlp_ln.weight", &[n], F32);
    push("mlp_ln.bias", &[n], F32);
    push("mlp.0.weight", &[n, 4 * n], Matrix);
    push("mlp.0.bias", &[4 * n], F32);
    push("mlp.2.weight", &[4 * n, n], Matrix);
    push("mlp.2.bias", &[n], F32);
    push("attn_ln.weight", &[n], F32);
    push("attn_ln.bias", &[n], F32);
    push("attn.query.weight", &[n, n], Matrix);
    push("attn.query.bias", &[n], F32);
    push("attn.key.weight", &[n, n], Matrix);
    push("attn.value.weight", &[n, n], Matrix);
    push("attn.value.bias", &[n], F32);
    push("attn.out.weight", &[n, n], Matrix);
    push("attn.out.bias", &[n], F32);
    if cross {
        push("cross_attn_ln.weight", &[n], F32);
        push("cross_attn_ln.bias", &[n], F32);
        push("cross_attn.query.weight", &[n, n], Matrix);
        push("cross_attn.query.bias", &[n], F32);
        push("cross_attn.key.weight", &[n, n], Matrix);
        push("cross_attn.value.weight", &[n, n], Matrix);
        push("cross_attn.value.bias", &[n], F32);
        push("cross_attn.out.weight", &[n, n], Matrix);
        push("cross_attn.out.bias", &[n], F32);
    }
}

/// Bytes of data for `n_elements` values of type `ty` whose rows are `ne0` long, or `None` when
/// rows do not split into whole blocks.
fn data_bytes(ty: GgmlType, ne0: u64, n_elements: u64) -> Option<u64> {
    let block = ty.block_size();
    if ne0 % block != 0 {
        return None;
    }
    (n_elements / block).checked_mul(ty.block_bytes())
}

/// What [`inspect`] found in a model file that whisper.cpp can load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFileInfo {
    /// The header.
    pub hparams: Hparams,
    /// The mel filter bank's size: (filters, frequency bins).
    pub n_mel_filters: (i32, i32),
    /// Tokens in the file's vocabulary (whisper.cpp names the rest of `n_vocab` itself).
    pub vocab_len: usize,
    /// Tensors in the file.
    pub tensor_count: usize,
    /// Bytes of tensor data (what whisper.cpp allocates for the weights).
    pub weights_bytes: u64,
    /// Size of the file in bytes.
    pub file_len: u64,
}

/// Checks the model file at `path` the way [`inspect_reader`] does.
pub fn inspect(path: &Path) -> Result<ModelFileInfo, ModelFileError> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    inspect_reader(BufReader::new(file), len)
}

/// Walks a whole model file and checks everything whisper.cpp reads, without trusting any size
/// in it.
///
/// `file_len` is the length of the data; reading starts at offset 0 (the reader is rewound).
/// Nothing is allocated from a size in the file beyond a bounded tensor name, and tensor data
/// is skipped with `seek`.
pub fn inspect_reader<R: Read + Seek>(
    reader: R,
    file_len: u64,
) -> Result<ModelFileInfo, ModelFileError> {
    let mut c = Cursor::at_magic(reader, file_len)?;

    let hparams_at = c.pos;
    let mut raw = [0u8; 44];
    c.bytes(&mut raw, || "hyperparameters".to_owned())?;
    let field =
        |i: usize| i32::from_le_bytes([raw[4 * i], raw[4 * i + 1], raw[4 * i + 2], raw[4 * i + 3]]);
    let hparams = Hparams {
        n_vocab: field(0),
        n_audio_ctx: field(1),
        n_audio_state: field(2),
        n_audio_head: field(3),
        n_audio_layer: field(4),
        n_text_ctx: field(5),
        n_text_state: field(6),
        n_text_head: field(7),
        n_text_layer: field(8),
        n_mels: field(9),
        ftype: field(10),
    };
    debug_assert_eq!(hparams_at, 4);
    // A Silero VAD file has the same magic; where a Whisper file has n_vocab it has the length
    // of its model type, "silero-16k".
    if !N_VOCAB_RANGE.contains(&hparams.n_vocab) && raw[4..].starts_with(VAD_MODEL_TYPE_PREFIX) {
        return Err(ModelFileError::IsVadModel);
    }
    hparams.check()?;
    // check() guarantees a weight type.
    let weight_type = hparams.weight_type().unwrap_or(GgmlType::F16);

    // Mel filters: whisper.cpp builds the spectrogram with the file's filter count but sizes
    // the encoder's input from n_mels, so the two must agree.
    let mel_at = c.pos;
    let n_mel = c.i32_at(mel_at, || "mel filter header".to_owned())?;
    let n_fft = c.i32_at(mel_at, || "mel filter header".to_owned())?;
    if n_mel != hparams.n_mels || n_fft != N_FFT_BINS {
        return Err(ModelFileError::BadMelFilters {
            n_mel,
            n_fft,
            expected_mel: hparams.n_mels,
        });
    }
    // Both factors are checked small above, so this cannot overflow.
    let mel_bytes = n_mel as u64 * n_fft as u64 * 4;
    c.skip(mel_bytes, || "mel filter data".to_owned())?;

    let vocab_at = c.pos;
    let count = c.i32_at(vocab_at, || "vocabulary size".to_owned())?;
    if !(MIN_VOCAB_TOKENS..=hparams.n_vocab).contains(&count) {
        return Err(ModelFileError::BadVocabSize {
            count,
            max: hparams.n_vocab,
        });
    }
    // Each token's bytes are read into this buffer (the length is bounded first): for the
    // usual 2-10 byte tokens reading through a BufReader is far cheaper than a seek each.
    let mut token = [0u8; MAX_TOKEN_LEN as usize];
    for index in 0..count as usize {
        let len = c.u32(|| format!("length of token {index} of the vocabulary"))?;
        if len > MAX_TOKEN_LEN {
            return Err(ModelFileError::BadToken { index, len });
        }
        c.bytes(&mut token[..len as usize], || {
            format!("token {index} of the vocabulary")
        })?;
    }

    let specs = expected_tensors(&hparams);
    let tensors = walk_tensors(&mut c, &specs, weight_type, 1..=4)?;

    Ok(ModelFileInfo {
        hparams,
        n_mel_filters: (n_mel, n_fft),
        vocab_len: count as usize,
        tensor_count: tensors.count,
        weights_bytes: tensors.bytes,
        file_len,
    })
}

/// How many tensors [`walk_tensors`] found, their bytes of data, and where each one's data
/// starts (indexed like the specs).
struct TensorTally {
    count: usize,
    bytes: u64,
    data_at: Vec<u64>,
}

/// Reads tensor headers from the cursor's position to the end of the file, checking each
/// against `specs` (whisper.cpp reads until the end of the file too), and skipping its data.
///
/// Each tensor must be in `specs` exactly once with its shape and the type its kind takes under
/// `weight_type`; `dims` is the range of dimension counts the loader copes with.
fn walk_tensors<R: Read + Seek>(
    c: &mut Cursor<R>,
    specs: &[TensorSpec],
    weight_type: GgmlType,
    dims: RangeInclusive<i32>,
) -> Result<TensorTally, ModelFileError> {
    let by_name: HashMap<&str, usize> = specs
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    let mut seen = vec![false; specs.len()];
    let mut data_at = vec![0u64; specs.len()];
    let mut tensor_count = 0usize;
    let mut weights_bytes = 0u64;
    let mut name_buf = [0u8; MAX_TENSOR_NAME_LEN as usize];

    // A partial header at the end is a cut-off file, which whisper.cpp would silently accept.
    while c.pos < c.len {
        let at = c.pos;
        let header = || "tensor header".to_owned();
        let n_dims = c.i32_at(at, header)?;
        let name_len = c.i32_at(at, header)?;
        let type_id = c.i32_at(at, header)?;
        let bad = |reason: String| ModelFileError::BadTensorHeader { offset: at, reason };
        // whisper.cpp writes the dimensions into a 4-element array without checking.
        if !dims.contains(&n_dims) {
            return Err(bad(format!(
                "{n_dims} dimensions, expected {} to {}",
                dims.start(),
                dims.end()
            )));
        }
        if !(1..=MAX_TENSOR_NAME_LEN).contains(&name_len) {
            return Err(bad(format!(
                "name is {name_len} bytes long, expected 1 to {MAX_TENSOR_NAME_LEN}"
            )));
        }
        // At most 4 dimensions (checked above): a fixed array, whatever the file says.
        let mut shape_buf = [0i64; 4];
        for slot in shape_buf.iter_mut().take(n_dims as usize) {
            let d = c.i32_at(at, header)?;
            if d < 1 {
                return Err(bad(format!("dimension {d}, expected a positive size")));
            }
            *slot = i64::from(d);
        }
        let shape = shape_buf[..n_dims as usize].to_vec();
        let name_bytes = &mut name_buf[..name_len as usize];
        c.bytes(name_bytes, || "tensor name".to_owned())?;
        let name = String::from_utf8_lossy(name_bytes).into_owned();

        let Some(&index) = by_name.get(name.as_str()) else {
            return Err(ModelFileError::UnknownTensor { name });
        };
        if seen[index] {
            return Err(ModelFileError::DuplicateTensor { name });
        }
        seen[index] = true;
        let spec = &specs[index];
        // whisper.cpp pads shapes to 4 dimensions with 1s, so `[n]` and `[n, 1]` are the same.
        if padded(&shape) != padded(&spec.shape) {
            return Err(ModelFileError::TensorShape {
                name,
                expected: spec.shape.clone(),
                found: shape,
            });
        }
        let expected_type = spec.kind.ggml_type(weight_type);
        // whisper.cpp reads the bytes as the type it allocated, whatever the header says.
        if GgmlType::from_id(type_id) != Some(expected_type) {
            let found = match GgmlType::from_id(type_id) {
                Some(t) => t.name().to_owned(),
                None => format!("type {type_id}"),
            };
            return Err(ModelFileError::TensorType {
                name,
                expected: expected_type.name(),
                found,
            });
        }
        let n_elements = spec.n_elements();
        let ne0 = spec.shape.first().map_or(1, |&d| d as u64);
        let Some(bytes) = data_bytes(expected_type, ne0, n_elements) else {
            return Err(bad(format!(
                "rows of {ne0} values do not split into {expected_type} blocks of {}",
                expected_type.block_size()
            )));
        };
        data_at[index] = c.pos;
        c.skip(bytes, || format!("data of tensor {name:?}"))?;
        tensor_count += 1;
        weights_bytes += bytes;
    }

    if tensor_count == 0 {
        return Err(ModelFileError::NoWeights {
            expected: specs.len(),
        });
    }
    let missing = seen.iter().filter(|&&s| !s).count();
    if let Some(first) = seen.iter().position(|&s| !s) {
        return Err(ModelFileError::MissingTensor {
            name: specs[first].name.clone(),
            missing,
        });
    }
    Ok(TensorTally {
        count: tensor_count,
        bytes: weights_bytes,
        data_at,
    })
}

/// What every Silero VAD model's type name starts with (`silero-16k` in v5 and v6).
pub const VAD_MODEL_TYPE_PREFIX: &[u8] = b"silero";

/// Longest model type name accepted in a VAD file, in bytes.
pub const MAX_VAD_MODEL_TYPE_LEN: i32 = 64;

/// The architecture whisper.cpp's VAD graph is written for (`whisper_vad_build_graph` hard-codes
/// the window, the four encoder layers and their widths): (field name, required value), in file
/// order after the model type and version. `n_context` is read and never used by whisper.cpp:
/// any value will do.
const VAD_HPARAMS: [(&str, Option<i32>); 19] = [
    ("n_window", Some(512)),
    ("n_context", None),
    ("n_encoder_layers", Some(4)),
    ("encoder_in_channels[0]", Some(129)),
    ("encoder_out_channels[0]", Some(128)),
    ("kernel_sizes[0]", Some(3)),
    ("encoder_in_channels[1]", Some(128)),
    ("encoder_out_channels[1]", Some(64)),
    ("kernel_sizes[1]", Some(3)),
    ("encoder_in_channels[2]", Some(64)),
    ("encoder_out_channels[2]", Some(64)),
    ("kernel_sizes[2]", Some(3)),
    ("encoder_in_channels[3]", Some(64)),
    ("encoder_out_channels[3]", Some(128)),
    ("kernel_sizes[3]", Some(3)),
    ("lstm_input_size", Some(128)),
    ("lstm_hidden_size", Some(128)),
    ("final_conv_in", Some(128)),
    ("final_conv_out", Some(1)),
];

/// The 15 tensors whisper.cpp's Silero VAD loader creates, with their shapes in ggml order.
///
/// Convolution kernels and the STFT basis are f16 ([`TensorKind::Conv`] under an f16 model),
/// everything else f32.
pub fn expected_vad_tensors() -> Vec<TensorSpec> {
    use TensorKind::{Conv, F32};
    let mut v = vec![TensorSpec::new(
        "_model.stft.forward_basis_buffer",
        &[256, 1, 258],
        Conv,
    )];
    for (i, (inp, out)) in [(129, 128), (128, 64), (64, 64), (64, 128)]
        .into_iter()
        .enumerate()
    {
        v.push(TensorSpec::new(
            format!("_model.encoder.{i}.reparam_conv.weight"),
            &[3, inp, out],
            Conv,
        ));
        v.push(TensorSpec::new(
            format!("_model.encoder.{i}.reparam_conv.bias"),
            &[out],
            F32,
        ));
    }
    v.push(TensorSpec::new(
        "_model.decoder.rnn.weight_ih",
        &[128, 512],
        F32,
    ));
    v.push(TensorSpec::new(
        "_model.decoder.rnn.weight_hh",
        &[128, 512],
        F32,
    ));
    v.push(TensorSpec::new("_model.decoder.rnn.bias_ih", &[512], F32));
    v.push(TensorSpec::new("_model.decoder.rnn.bias_hh", &[512], F32));
    // whisper.cpp allocates [128, 1]; converters store [128], the same once padded.
    v.push(TensorSpec::new(
        "_model.decoder.decoder.2.weight",
        &[128],
        Conv,
    ));
    // Stored with zero dimensions: a scalar.
    v.push(TensorSpec::new("_model.decoder.decoder.2.bias", &[], F32));
    v
}

/// What [`inspect_vad`] found in a Silero VAD model file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VadFileInfo {
    /// The model type named in the file, e.g. `silero-16k`.
    pub model_type: String,
    /// The Silero version the file was converted from (major, minor, patch).
    pub version: (i32, i32, i32),
    /// Tensors in the file.
    pub tensor_count: usize,
    /// Bytes of tensor data.
    pub weights_bytes: u64,
    /// Size of the file in bytes.
    pub file_len: u64,
}

/// Checks the Silero VAD model file at `path` the way [`inspect_vad_reader`] does.
pub fn inspect_vad(path: &Path) -> Result<VadFileInfo, ModelFileError> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    inspect_vad_reader(BufReader::new(file), len)
}

/// Walks a whole Silero VAD model file in whisper.cpp's ggml format and checks everything its
/// loader reads: the magic, the model type, the architecture (which must be the one
/// whisper.cpp's VAD graph is written for) and every tensor, without trusting any size in it.
///
/// `file_len` is the length of the data; reading starts at offset 0 (the reader is rewound).
pub fn inspect_vad_reader<R: Read + Seek>(
    reader: R,
    file_len: u64,
) -> Result<VadFileInfo, ModelFileError> {
    walk_vad(reader, file_len).map(|(info, _, _)| info)
}

/// [`inspect_vad_reader`], handing back the reader and where each tensor's data starts
/// (indexed like [`expected_vad_tensors`]).
fn walk_vad<R: Read + Seek>(
    reader: R,
    file_len: u64,
) -> Result<(VadFileInfo, R, Vec<u64>), ModelFileError> {
    let mut c = Cursor::at_magic(reader, file_len)?;
    let type_len = c.i32_at(4, || "model type".to_owned())?;
    if N_VOCAB_RANGE.contains(&type_len) {
        return Err(ModelFileError::NotVadModel {
            reason: format!("it is a Whisper model (n_vocab {type_len})"),
        });
    }
    if !(1..=MAX_VAD_MODEL_TYPE_LEN).contains(&type_len) {
        return Err(ModelFileError::NotVadModel {
            reason: format!(
                "its model type is {type_len} bytes long, expected 1 to {MAX_VAD_MODEL_TYPE_LEN}"
            ),
        });
    }
    let mut type_buf = [0u8; MAX_VAD_MODEL_TYPE_LEN as usize];
    let type_bytes = &mut type_buf[..type_len as usize];
    c.bytes(type_bytes, || "model type".to_owned())?;
    let model_type = String::from_utf8_lossy(type_bytes).into_owned();
    if !type_bytes.starts_with(VAD_MODEL_TYPE_PREFIX) {
        return Err(ModelFileError::NotVadModel {
            reason: format!("its model type is {model_type:?}"),
        });
    }

    let header_at = c.pos;
    let mut next = || c.i32_at(header_at, || "VAD hyperparameters".to_owned());
    let version = (next()?, next()?, next()?);
    for (name, expected) in VAD_HPARAMS {
        let value = next()?;
        let Some(expected) = expected else { continue };
        if value != expected {
            return Err(ModelFileError::BadHparam {
                name,
                value,
                expected: format!("{expected} (the Silero VAD architecture whisper.cpp runs)"),
            });
        }
    }

    let specs = expected_vad_tensors();
    let tensors = match walk_tensors(&mut c, &specs, GgmlType::F16, 0..=4) {
        Err(ModelFileError::NoWeights { expected }) => {
            return Err(ModelFileError::HeaderOnly { expected })
        }
        other => other?,
    };
    let info = VadFileInfo {
        model_type,
        version,
        tensor_count: tensors.count,
        weights_bytes: tensors.bytes,
        file_len,
    };
    Ok((info, c.inner, tensors.data_at))
}

/// The weights of a Silero VAD model file, as f32.
#[derive(Debug, Clone, PartialEq)]
pub struct VadTensors {
    /// What [`inspect_vad`] reports about the file.
    pub info: VadFileInfo,
    /// Every tensor's values in file order (`ne[0]` fastest), f16 ones widened exactly, in the
    /// order and with the shapes of [`expected_vad_tensors`].
    pub tensors: Vec<Vec<f32>>,
}

impl VadTensors {
    /// The values of the tensor called `name` (a name from [`expected_vad_tensors`]).
    pub fn get(&self, name: &str) -> Option<&[f32]> {
        expected_vad_tensors()
            .iter()
            .position(|spec| spec.name == name)
            .and_then(|i| self.tensors.get(i))
            .map(Vec::as_slice)
    }
}

/// Reads the weights of the Silero VAD model file at `path`, after checking the whole file the
/// way [`inspect_vad`] does (same errors, from the same open file).
pub fn read_vad(path: &Path) -> Result<VadTensors, ModelFileError> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    read_vad_reader(BufReader::new(file), len)
}

/// [`read_vad`] over any reader of `file_len` bytes.
pub fn read_vad_reader<R: Read + Seek>(
    reader: R,
    file_len: u64,
) -> Result<VadTensors, ModelFileError> {
    let (info, mut reader, data_at) = walk_vad(reader, file_len)?;
    let mut tensors = Vec::with_capacity(data_at.len());
    let mut raw = Vec::new();
    for (spec, at) in expected_vad_tensors().iter().zip(data_at) {
        // The walk checked every tensor's type and that its data lies inside the file; the
        // sizes are the fixed Silero ones (at most 66,048 values).
        let n = spec.n_elements() as usize;
        let width = match spec.kind.ggml_type(GgmlType::F16) {
            GgmlType::F16 => 2,
            _ => 4,
        };
        raw.resize(n * width, 0);
        reader.seek(SeekFrom::Start(at))?;
        reader.read_exact(&mut raw)?;
        let values = if width == 2 {
            raw.chunks_exact(2)
                .map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]])))
                .collect()
        } else {
            raw.chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect()
        };
        tensors.push(values);
    }
    Ok(VadTensors { info, tensors })
}

/// Widens an IEEE 754 half-precision value (its bits) to `f32`, exactly: every f16 value,
/// subnormals, infinities and NaNs included, is an `f32` value.
pub fn f16_to_f32(bits: u16) -> f32 {
    let sign = u32::from(bits & 0x8000) << 16;
    let exponent = u32::from(bits >> 10) & 0x1f;
    let mantissa = u32::from(bits & 0x03ff);
    let magnitude = match (exponent, mantissa) {
        (0, 0) => 0,
        // Subnormal: mantissa × 2^-24, exact in f32 (and its sign is added below).
        (0, m) => (m as f32 * (1.0 / 16_777_216.0)).to_bits(),
        // Infinity, or NaN with its payload kept.
        (0x1f, m) => 0x7f80_0000 | (m << 13),
        // Normal: rebias the exponent from 15 to 127.
        (e, m) => ((e + 112) << 23) | (m << 13),
    };
    f32::from_bits(sign | magnitude)
}

/// A shape of at most 4 dimensions padded with 1s to 4, as ggml stores it; longer shapes are
/// refused before this is called.
fn padded(shape: &[i64]) -> [i64; 4] {
    let mut p = [1; 4];
    for (slot, &d) in p.iter_mut().zip(shape) {
        *slot = d;
    }
    p
}

/// A reader that knows its position and the file's length, so that every read is checked
/// against the end of the file before it happens.
struct Cursor<R> {
    inner: R,
    pos: u64,
    len: u64,
}

impl<R: Read + Seek> Cursor<R> {
    /// A cursor over a whole ggml file (Whisper or Silero: both start the same), rewound and
    /// past the magic number, which must be ggml's; an empty file is refused as such.
    fn at_magic(reader: R, file_len: u64) -> Result<Self, ModelFileError> {
        let mut c = Cursor {
            inner: reader,
            pos: 0,
            len: file_len,
        };
        c.inner.seek(SeekFrom::Start(0))?;
        if file_len == 0 {
            return Err(ModelFileError::Empty);
        }
        let magic = c.u32(|| "magic number".to_owned())?;
        if magic != GGML_MAGIC {
            return Err(ModelFileError::BadMagic { found: magic });
        }
        Ok(c)
    }

    /// Fails with `Truncated` (naming the part that starts at `start`) unless `n` more bytes
    /// exist.
    fn need(&self, n: u64, start: u64, what: impl Fn() -> String) -> Result<(), ModelFileError> {
        match self.pos.checked_add(n) {
            Some(end) if end <= self.len => Ok(()),
            _ => Err(ModelFileError::Truncated {
                what: what(),
                offset: start,
            }),
        }
    }

    fn bytes_at(
        &mut self,
        buf: &mut [u8],
        start: u64,
        what: impl Fn() -> String,
    ) -> Result<(), ModelFileError> {
        self.need(buf.len() as u64, start, &what)?;
        match self.inner.read_exact(buf) {
            Ok(()) => {
                self.pos += buf.len() as u64;
                Ok(())
            }
            // The caller's length was larger than the data: still a cut-off file.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(ModelFileError::Truncated {
                what: what(),
                offset: start,
            }),
            Err(e) => Err(e.into()),
        }
    }

    fn bytes(&mut self, buf: &mut [u8], what: impl Fn() -> String) -> Result<(), ModelFileError> {
        let start = self.pos;
        self.bytes_at(buf, start, what)
    }

    fn u32(&mut self, what: impl Fn() -> String) -> Result<u32, ModelFileError> {
        let mut b = [0u8; 4];
        self.bytes(&mut b, what)?;
        Ok(u32::from_le_bytes(b))
    }

    /// Reads an `i32` that belongs to a larger part starting at `start`.
    fn i32_at(&mut self, start: u64, what: impl Fn() -> String) -> Result<i32, ModelFileError> {
        let mut b = [0u8; 4];
        self.bytes_at(&mut b, start, what)?;
        Ok(i32::from_le_bytes(b))
    }

    fn skip(&mut self, n: u64, what: impl Fn() -> String) -> Result<(), ModelFileError> {
        self.need(n, self.pos, what)?;
        let step = i64::try_from(n).map_err(|_| io::Error::other("seek too large"))?;
        self.inner.seek(SeekFrom::Current(step))?;
        self.pos += n;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::{write_model, GenerateOptions};
    use std::io::Cursor as IoCursor;

    fn micro_bytes() -> Vec<u8> {
        let mut out = Vec::new();
        write_model(
            &mut out,
            &GenerateOptions {
                hparams: Hparams::micro(),
                seed: 7,
            },
        )
        .expect("writing to a Vec cannot fail");
        out
    }

    fn inspect_bytes(b: &[u8]) -> Result<ModelFileInfo, ModelFileError> {
        inspect_reader(IoCursor::new(b), b.len() as u64)
    }

    /// Offset of the first tensor header in a generated micro model.
    fn tensors_start(b: &[u8]) -> usize {
        let mel = 4 + 44 + 8 + 80 * 201 * 4;
        let count = i32::from_le_bytes(b[mel..mel + 4].try_into().unwrap()) as usize;
        let mut at = mel + 4;
        for _ in 0..count {
            let len = u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize;
            at += 4 + len;
        }
        at
    }

    /// Byte ranges (header start, data start, data end) of each tensor in a generated file.
    fn tensor_ranges(b: &[u8]) -> Vec<(usize, usize, usize, String)> {
        let mut at = tensors_start(b);
        let mut out = Vec::new();
        let rd = |o: usize| i32::from_le_bytes(b[o..o + 4].try_into().unwrap());
        while at < b.len() {
            let n_dims = rd(at) as usize;
            let name_len = rd(at + 4) as usize;
            let ty = GgmlType::from_id(rd(at + 8)).unwrap();
            let mut n = 1u64;
            for d in 0..n_dims {
                n *= rd(at + 12 + 4 * d) as u64;
            }
            let name_at = at + 12 + 4 * n_dims;
            let name = String::from_utf8(b[name_at..name_at + name_len].to_vec()).unwrap();
            let data = name_at + name_len;
            let end = data + (n * ty.block_bytes()) as usize;
            out.push((at, data, end, name));
            at = end;
        }
        out
    }

    #[test]
    fn micro_round_trip() {
        let b = micro_bytes();
        let info = inspect_bytes(&b).expect("generated micro model inspects clean");
        assert_eq!(info.hparams, Hparams::micro());
        assert_eq!(info.n_mel_filters, (80, 201));
        assert_eq!(info.vocab_len, 50257);
        assert_eq!(info.tensor_count, expected_tensors(&Hparams::micro()).len());
        assert_eq!(info.tensor_count, 11 + 15 + 24);
        assert_eq!(info.file_len, b.len() as u64);
        assert!(info.weights_bytes > 0 && info.weights_bytes < info.file_len);
    }

    #[test]
    fn tensor_counts_match_whisper_cpp() {
        // whisper_model_load sizes its context for 10 + 15 + 15*La + 24*Lt tensors and
        // creates 11 + 15*La + 24*Lt of them.
        for (h, n) in [
            (Hparams::tiny(), 167),
            (Hparams::base(), 245),
            (Hparams::small(), 479),
        ] {
            let specs = expected_tensors(&h);
            assert_eq!(specs.len(), n);
            let mut names: Vec<_> = specs.iter().map(|s| &s.name).collect();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), n, "names are unique");
            h.check().expect("presets are valid");
        }
    }

    #[test]
    fn presets_have_real_sizes() {
        // Parameter counts of OpenAI's models (tiny 39 M, base 74 M, small 244 M).
        let params =
            |h: &Hparams| -> u64 { expected_tensors(h).iter().map(TensorSpec::n_elements).sum() };
        let m = |h| params(&h) as f64 / 1e6;
        assert!(
            (37.0..39.5).contains(&m(Hparams::tiny())),
            "{}",
            m(Hparams::tiny())
        );
        assert!(
            (72.0..74.5).contains(&m(Hparams::base())),
            "{}",
            m(Hparams::base())
        );
        assert!(
            (240.0..245.0).contains(&m(Hparams::small())),
            "{}",
            m(Hparams::small())
        );
    }

    #[test]
    fn wrong_magic() {
        let mut b = micro_bytes();
        b[..4].copy_from_slice(b"GGUF");
        match inspect_bytes(&b) {
            Err(ModelFileError::BadMagic { found }) => assert_eq!(found, 0x4655_4747),
            other => panic!("expected BadMagic, got {other:?}"),
        }
        let msg = inspect_bytes(&b).unwrap_err().to_string();
        assert_eq!(
            msg,
            "not a whisper.cpp ggml model (magic 0x46554747, expected 0x67676d6c)"
        );
    }

    #[test]
    fn empty_file() {
        assert!(matches!(inspect_bytes(&[]), Err(ModelFileError::Empty)));
    }

    #[test]
    fn truncated_everywhere() {
        let b = micro_bytes();
        let t = tensors_start(&b);
        let ranges = tensor_ranges(&b);
        let (_, data, end, _) = &ranges[ranges.len() / 2];
        let last = ranges.last().unwrap();
        let cases = [
            (2, "magic number"),
            (10, "hyperparameters"),
            (4 + 44 + 4, "mel filter header"),
            (4 + 44 + 8 + 1000, "mel filter data"),
            (4 + 44 + 8 + 80 * 201 * 4 + 2, "vocabulary size"),
            (t - 1, "token 50256"),
            (t + 5, "tensor header"),
            ((data + end) / 2, "data of tensor"),
            // whisper.cpp itself accepts a file cut inside its last tensor.
            (last.2 - 1, "data of tensor"),
        ];
        for (cut, what) in cases {
            match inspect_bytes(&b[..cut]) {
                Err(ModelFileError::Truncated { what: w, offset }) => {
                    assert!(
                        w.contains(what),
                        "cut at {cut}: {w:?} should mention {what:?}"
                    );
                    assert!(offset <= cut as u64);
                }
                other => panic!("cut at {cut}: expected Truncated, got {other:?}"),
            }
        }
        // A reader shorter than the length it is said to have is truncated too, not an I/O
        // error.
        let short = &b[..data + 3];
        match inspect_reader(IoCursor::new(short), b.len() as u64) {
            Err(ModelFileError::Truncated { .. }) => {}
            other => panic!("expected Truncated, got {other:?}"),
        }
    }

    #[test]
    fn huge_vocab_count_is_refused_without_allocating() {
        let mut b = micro_bytes();
        let at = 4 + 44 + 8 + 80 * 201 * 4;
        b[at..at + 4].copy_from_slice(&i32::MAX.to_le_bytes());
        match inspect_bytes(&b) {
            Err(ModelFileError::BadVocabSize { count, max }) => {
                assert_eq!((count, max), (i32::MAX, 51865));
            }
            other => panic!("expected BadVocabSize, got {other:?}"),
        }
        // A token claiming 4 GB is refused before anything is read for it.
        let mut b = micro_bytes();
        b[at + 4..at + 8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            inspect_bytes(&b),
            Err(ModelFileError::BadToken {
                index: 0,
                len: u32::MAX
            })
        ));
    }

    #[test]
    fn bad_hparams() {
        let mut b = micro_bytes();
        // n_audio_head = 3 does not divide 64.
        b[4 + 12..4 + 16].copy_from_slice(&3i32.to_le_bytes());
        let e = inspect_bytes(&b).unwrap_err();
        assert!(matches!(
            e,
            ModelFileError::BadHparam {
                name: "n_audio_head",
                value: 3,
                ..
            }
        ));
        assert_eq!(
            e.to_string(),
            "hyperparameter n_audio_head is 3, expected a divisor of n_audio_state (64)"
        );
        // ftype 5 makes whisper.cpp abort the process.
        let mut b = micro_bytes();
        b[4 + 40..4 + 44].copy_from_slice(&5i32.to_le_bytes());
        assert!(matches!(
            inspect_bytes(&b),
            Err(ModelFileError::BadHparam {
                name: "ftype",
                value: 5,
                ..
            })
        ));
        let mut h = Hparams::micro();
        h.n_text_state = 32;
        assert!(matches!(
            h.check(),
            Err(ModelFileError::BadHparam {
                name: "n_text_state",
                ..
            })
        ));
        h = Hparams::micro();
        h.n_vocab = 60000;
        assert!(matches!(
            h.check(),
            Err(ModelFileError::BadHparam {
                name: "n_vocab",
                value: 60000,
                ..
            })
        ));
        h.n_vocab = 51866;
        h.ftype = 2007; // q8_0, quantisation version 2
        assert_eq!(h.weight_type(), Some(GgmlType::Q8_0));
        assert!(h.check().is_ok());
    }

    #[test]
    fn missing_tensor() {
        let b = micro_bytes();
        let ranges = tensor_ranges(&b);
        // Drop the third tensor (encoder.conv1.bias).
        let (start, _, end, name) = &ranges[2];
        let mut cut = b[..*start].to_vec();
        cut.extend_from_slice(&b[*end..]);
        match inspect_bytes(&cut) {
            Err(ModelFileError::MissingTensor { name: n, missing }) => {
                assert_eq!(&n, name);
                assert_eq!(missing, 1);
            }
            other => panic!("expected MissingTensor, got {other:?}"),
        }
    }

    #[test]
    fn duplicate_unknown_shape_and_type() {
        let b = micro_bytes();
        let ranges = tensor_ranges(&b);
        let (start, _, end, _) = &ranges[5];

        let mut dup = b.clone();
        dup.extend_from_slice(&b[*start..*end]);
        assert!(matches!(
            inspect_bytes(&dup),
            Err(ModelFileError::DuplicateTensor { .. })
        ));

        // Rename encoder.ln_post.weight's first letter: an unknown tensor.
        let mut unknown = b.clone();
        let name_at = start + 12 + 4; // one dimension
        unknown[name_at] = b'X';
        assert!(matches!(
            inspect_bytes(&unknown),
            Err(ModelFileError::UnknownTensor { name }) if name.starts_with("Xncoder")
        ));

        // encoder.positional_embedding [64, 1500] claimed as [1500, 64].
        let (pe, _, _, ref pe_name) = ranges[0];
        assert_eq!(pe_name, "encoder.positional_embedding");
        let mut shape = b.clone();
        shape[pe + 12..pe + 16].copy_from_slice(&1500i32.to_le_bytes());
        shape[pe + 16..pe + 20].copy_from_slice(&64i32.to_le_bytes());
        assert!(matches!(
            inspect_bytes(&shape),
            Err(ModelFileError::TensorShape { expected, found, .. })
                if expected == vec![64, 1500] && found == vec![1500, 64]
        ));

        // Positional embeddings are always f32.
        let mut ty = b.clone();
        ty[pe + 8..pe + 12].copy_from_slice(&1i32.to_le_bytes());
        let e = inspect_bytes(&ty).unwrap_err();
        assert_eq!(
            e.to_string(),
            "tensor \"encoder.positional_embedding\" is stored as f16, expected f32"
        );

        // Five dimensions would overflow whisper.cpp's ne[4].
        let mut dims = b.clone();
        dims[pe..pe + 4].copy_from_slice(&5i32.to_le_bytes());
        assert!(matches!(
            inspect_bytes(&dims),
            Err(ModelFileError::BadTensorHeader { .. })
        ));
    }

    #[test]
    fn expected_types_follow_whisper_cpp() {
        let h = Hparams::micro();
        let specs = expected_tensors(&h);
        let kind = |n: &str| specs.iter().find(|s| s.name == n).unwrap().kind;
        assert_eq!(kind("encoder.conv1.weight"), TensorKind::Conv);
        assert_eq!(kind("encoder.conv1.bias"), TensorKind::F32);
        assert_eq!(kind("encoder.positional_embedding"), TensorKind::F32);
        assert_eq!(kind("decoder.positional_embedding"), TensorKind::F32);
        assert_eq!(kind("decoder.token_embedding.weight"), TensorKind::Matrix);
        assert_eq!(
            kind("decoder.blocks.0.cross_attn.key.weight"),
            TensorKind::Matrix
        );
        assert_eq!(TensorKind::Conv.ggml_type(GgmlType::Q5_0), GgmlType::F16);
        assert_eq!(TensorKind::Conv.ggml_type(GgmlType::F32), GgmlType::F32);
        assert_eq!(TensorKind::Matrix.ggml_type(GgmlType::Q5_0), GgmlType::Q5_0);
        // q4_0: 32 values in 18 bytes.
        assert_eq!(data_bytes(GgmlType::Q4_0, 64, 64 * 256), Some(2 * 256 * 18));
        assert_eq!(data_bytes(GgmlType::Q4K, 384, 384), None);
    }

    fn vad_bytes() -> Vec<u8> {
        crate::generate::vad_model_bytes()
    }

    fn inspect_vad_bytes(b: &[u8]) -> Result<VadFileInfo, ModelFileError> {
        inspect_vad_reader(IoCursor::new(b), b.len() as u64)
    }

    /// Bytes from the magic to the first tensor header of [`vad_bytes`].
    const VAD_HEADER_LEN: usize = 4 + 4 + 10 + 4 * 22;

    #[test]
    fn vad_round_trip() {
        let b = vad_bytes();
        let info = inspect_vad_bytes(&b).expect("generated VAD file inspects clean");
        assert_eq!(info.model_type, "silero-16k");
        assert_eq!(info.version, (6, 2, 0));
        assert_eq!(info.tensor_count, 15);
        assert_eq!(info.file_len, b.len() as u64);
        // The real file has exactly this layout (885,098 bytes).
        assert_eq!(b.len(), 885_098);
    }

    #[test]
    fn vad_weights_are_read_as_f32() {
        let mut b = vad_bytes();
        // The first tensor is the f16 STFT basis: its first value becomes 1.0 (0x3c00) and its
        // second -2^-24 (the smallest negative subnormal); the last is the f32 scalar bias.
        let basis_name = "_model.stft.forward_basis_buffer";
        let data = VAD_HEADER_LEN + 12 + 3 * 4 + basis_name.len();
        b[data..data + 4].copy_from_slice(&[0x00, 0x3c, 0x01, 0x80]);
        let end = b.len();
        b[end - 4..].copy_from_slice(&2.5f32.to_le_bytes());
        let read = read_vad_reader(IoCursor::new(&b[..]), b.len() as u64).unwrap();
        assert_eq!(read.info, inspect_vad_bytes(&b).unwrap());
        for (spec, values) in expected_vad_tensors().iter().zip(&read.tensors) {
            assert_eq!(values.len() as u64, spec.n_elements(), "{}", spec.name);
        }
        let basis = read.get(basis_name).unwrap();
        assert_eq!(&basis[..3], &[1.0, -(2f32.powi(-24)), 0.0]);
        assert_eq!(
            read.get("_model.decoder.decoder.2.bias"),
            Some(&[2.5f32][..])
        );
        assert_eq!(read.get("no such tensor"), None);
        // The same checks as inspecting, first.
        assert!(matches!(
            read_vad_reader(IoCursor::new(&b[..b.len() - 1]), b.len() as u64 - 1),
            Err(ModelFileError::Truncated { .. })
        ));
    }

    #[test]
    fn vad_truncated_everywhere() {
        let b = vad_bytes();
        for cut in [
            1,
            6,
            12,
            30,
            60,
            VAD_HEADER_LEN - 1,
            VAD_HEADER_LEN + 7,
            1000,
            b.len() - 1,
        ] {
            match inspect_vad_bytes(&b[..cut]) {
                Err(ModelFileError::Truncated { .. }) => {}
                other => panic!("cut at {cut}: expected Truncated, got {other:?}"),
            }
        }
        assert!(matches!(
            inspect_vad_bytes(&b[..VAD_HEADER_LEN]),
            Err(ModelFileError::HeaderOnly { expected: 15 })
        ));
        assert!(matches!(inspect_vad_bytes(&[]), Err(ModelFileError::Empty)));
    }

    #[test]
    fn whisper_and_vad_models_are_told_apart() {
        let e = inspect_vad_bytes(&micro_bytes()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "not a Silero VAD model: it is a Whisper model (n_vocab 51865)"
        );
        let e = inspect_bytes(&vad_bytes()).unwrap_err();
        assert!(matches!(e, ModelFileError::IsVadModel), "{e:?}");
        assert_eq!(
            e.to_string(),
            "it is a Silero VAD model, not a Whisper model"
        );
        // Another ggml model type, and a length no model type has.
        let mut other = vad_bytes();
        other[8..14].copy_from_slice(b"resnet");
        assert!(matches!(
            inspect_vad_bytes(&other),
            Err(ModelFileError::NotVadModel { reason }) if reason.contains("\"resnet-16k\"")
        ));
        let mut long = vad_bytes();
        long[4..8].copy_from_slice(&(-1i32).to_le_bytes());
        assert!(matches!(
            inspect_vad_bytes(&long),
            Err(ModelFileError::NotVadModel { .. })
        ));
    }

    #[test]
    fn vad_architecture_is_checked_before_allocation() {
        // n_encoder_layers: whisper.cpp allocates three arrays of this size and then indexes
        // four entries, whatever it says.
        let at = 4 + 4 + 10 + 4 * 5;
        for value in [0, 1, -1, i32::MAX] {
            let mut b = vad_bytes();
            b[at..at + 4].copy_from_slice(&value.to_le_bytes());
            let e = inspect_vad_bytes(&b).unwrap_err();
            assert!(
                matches!(
                    e,
                    ModelFileError::BadHparam {
                        name: "n_encoder_layers",
                        ..
                    }
                ),
                "{value}: {e:?}"
            );
        }
        // n_window 0 would divide by zero.
        let mut b = vad_bytes();
        b[4 + 4 + 10 + 12..4 + 4 + 10 + 16].copy_from_slice(&0i32.to_le_bytes());
        assert_eq!(
            inspect_vad_bytes(&b).unwrap_err().to_string(),
            "hyperparameter n_window is 0, expected 512 (the Silero VAD architecture whisper.cpp runs)"
        );
        // n_context is not used: any value passes.
        let mut b = vad_bytes();
        b[4 + 4 + 10 + 16..4 + 4 + 10 + 20].copy_from_slice(&(-7i32).to_le_bytes());
        assert!(inspect_vad_bytes(&b).is_ok());
    }

    #[test]
    fn vad_tensor_headers() {
        let b = vad_bytes();
        let t = VAD_HEADER_LEN;
        // The first tensor is the STFT basis: 3 dimensions, f16.
        let mut dims = b.clone();
        dims[t..t + 4].copy_from_slice(&5i32.to_le_bytes());
        assert!(matches!(
            inspect_vad_bytes(&dims),
            Err(ModelFileError::BadTensorHeader { .. })
        ));
        let mut ty = b.clone();
        ty[t + 8..t + 12].copy_from_slice(&0i32.to_le_bytes());
        assert_eq!(
            inspect_vad_bytes(&ty).unwrap_err().to_string(),
            "tensor \"_model.stft.forward_basis_buffer\" is stored as f32, expected f16"
        );
        let mut bogus = b.clone();
        bogus[t + 8..t + 12].copy_from_slice(&1000i32.to_le_bytes());
        assert!(inspect_vad_bytes(&bogus)
            .unwrap_err()
            .to_string()
            .contains("stored as type 1000"));
        let mut shape = b.clone();
        shape[t + 12..t + 16].copy_from_slice(&i32::MAX.to_le_bytes());
        assert!(matches!(
            inspect_vad_bytes(&shape),
            Err(ModelFileError::TensorShape { .. })
        ));
        let mut name = b.clone();
        name[t + 24] = b'X';
        assert!(matches!(
            inspect_vad_bytes(&name),
            Err(ModelFileError::UnknownTensor { .. })
        ));
        // The last tensor (the scalar bias) twice.
        let mut dup = b.clone();
        dup.extend_from_slice(&b[b.len() - (12 + 29 + 4)..]);
        assert!(matches!(
            inspect_vad_bytes(&dup),
            Err(ModelFileError::DuplicateTensor { .. })
        ));
    }
}
