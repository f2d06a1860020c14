//! Silero VAD v6 in plain Rust: the network whisper.cpp runs (`whisper_vad_build_graph` in
//! whisper.cpp 1.8.3), on the weights of the same ggml file, with the same numbers to rounding,
//! at about a sixth of its cost.
//!
//! whisper.cpp computes one 512-sample chunk per graph run: 3,200 runs for 100 s of audio, each
//! paying a graph's fixed costs for a few hundred thousand multiply-adds. Here only the LSTM
//! step is sequential; the STFT and the four encoder convolutions of a block of chunks (each
//! chunk needs nothing but its own samples) run as a few large matrix products.
//!
//! The network, per 512-sample chunk (the last one zero-padded), as whisper.cpp runs it:
//! 1. reflection padding by 64 samples on each side (640 samples; whisper.cpp does not prepend
//!    the previous chunk's last 64 samples as the ONNX Silero does, and neither do we);
//! 2. an STFT as a convolution with a fixed 258 × 256 basis, stride 128: 4 frames, whose first
//!    129 output channels are real parts and last 129 imaginary parts; their magnitudes;
//! 3. four convolutions (kernel 3, padding 1; strides 1, 2, 2, 1; 129 → 128 → 64 → 64 → 128
//!    channels), each followed by its bias and ReLU, leaving one position;
//! 4. an LSTM cell (128 → 128, gates in PyTorch's order i, f, g, o) whose state runs from chunk
//!    to chunk and starts at zero on every call;
//! 5. ReLU, a 128 → 1 projection, its bias, and a sigmoid: the chunk's speech probability.
//!
//! Where the numbers come from:
//! - ggml's `conv_1d` converts its input to f16 (`im2col` into f16) before multiplying it with
//!   the f16 kernel, so every convolution input here (samples, magnitudes, encoder outputs, the
//!   LSTM output before the last projection) is rounded to f16 the same way, to nearest, ties to
//!   even. On one chunk the probability then agrees with whisper.cpp's exactly; without it, it
//!   is 4e-4 off. The LSTM's weights and products are f32, as in ggml.
//! - Sums run in f32 but in another order than ggml's, so an f32 value now and then lands on the
//!   other side of an f16 rounding step. The LSTM carries such a difference a few chunks: on
//!   real speech the probabilities differ from whisper.cpp's by up to about 6e-4 (the largest
//!   difference per recording is typically below 1e-4), which moved no speech boundary in the
//!   tests (`tests/vad_reference.rs`).
//! - `exp` (in the sigmoids and `tanh`) is a vectorisable polynomial within 2 ulp of the C
//!   library's, which ggml calls: 640 per chunk, and glibc's `tanhf` alone cost about as much
//!   as all the matrix products.
//!
//! Where the time goes (100 s of speech, one thread, about 0.06 s against whisper.cpp's 0.36 s):
//! 60 % in the matrix products (`matrixmultiply`, at its kernel's peak; a fifth of that is its
//! packing), 15 % in the sequential LSTM step (which streams its 256 KB matrix from L2 each
//! chunk), the rest in rounding, activations and the STFT's folding. The STFT uses the basis'
//! exact symmetries ([`FoldedStft`]) for a quarter of the multiplications; each convolution
//! reads its input in place, one product per output position over just the taps inside the
//! chunk; and `simd::run_with_avx2` compiles the loops a second time for AVX2.

use rech_ggml::model_file::VadTensors;

use crate::error::VadModelError;
use crate::simd::{matmul_bt, run_with_avx2, Kernel, MatrixView};

/// Samples per chunk (32 ms at 16 kHz).
pub(crate) const CHUNK: usize = 512;
/// Reflection padding on each side of a chunk.
const PAD: usize = 64;
/// A padded chunk.
const PADDED: usize = CHUNK + 2 * PAD;
/// STFT window and hop.
const WINDOW: usize = 256;
const HOP: usize = 128;
/// STFT frames per chunk: (640 - 256) / 128 + 1.
const FRAMES: usize = (PADDED - WINDOW) / HOP + 1;
/// STFT output channels (real and imaginary parts) and frequency bins.
const STFT_OUT: usize = 258;
const BINS: usize = STFT_OUT / 2;
/// Bins 0..=64: each gives its mirror bin 128 - c too (see [`FoldedStft`]).
const HALF_BINS: usize = WINDOW / 4 + 1;
/// Window positions 1..=127 in even and odd ones.
const EVEN: usize = WINDOW / 4 - 1;
const ODD: usize = WINDOW / 4;
/// LSTM width and its four gates.
const HIDDEN: usize = 128;
const GATES: usize = 4 * HIDDEN;
/// Kernel width of every encoder convolution.
const KERNEL: usize = 3;
/// Chunks whose STFT and encoder run as one batch (8 s of audio): large enough for efficient
/// matrix products, small enough that the scratch buffers (about 4 MB) stay near the caches and
/// memory does not grow with the audio.
const BLOCK: usize = 256;

/// One encoder convolution (kernel 3, padding 1) with its bias.
#[derive(Debug, Clone)]
struct Conv {
    /// `[out][KERNEL][in]`: a row per output channel, tap-major (the file has `[out][in][KERNEL]`),
    /// so that the taps a position can use are one contiguous column range.
    weight: Vec<f32>,
    bias: Vec<f32>,
    inputs: usize,
    outputs: usize,
    stride: usize,
}

/// The STFT basis split by its symmetries, which every Silero basis has exactly (it is a
/// windowed DFT, rounded to f16 value by value, and rounding keeps signs and equal values).
/// With `R` the real rows and `I` the imaginary ones, for c in 0..=128 and k in 1..=127:
/// `R[c][k] = R[c][256-k]`, `I[c][k] = -I[c][256-k]`, `R[128-c][k] = (-1)^k R[c][k]`,
/// `I[128-c][k] = -(-1)^k I[c][k]`, and column 0 and `I`'s column 128 are zero. So with
/// `s_k = x_k + x_(256-k)` and `d_k = x_k - x_(256-k)`, the products over even and odd k of the
/// first 65 rows give all 258 outputs: a quarter of the multiplications, and the same products
/// of the same f16 values, summed in another order.
#[derive(Debug, Clone)]
struct FoldedStft {
    /// `[HALF_BINS][EVEN]`: `R[c][k]` for k = 2, 4, ..., 126.
    re_even: Vec<f32>,
    /// `[HALF_BINS][ODD]`: `R[c][k]` for k = 1, 3, ..., 127.
    re_odd: Vec<f32>,
    /// `[HALF_BINS][EVEN]`, `[HALF_BINS][ODD]`: the same for `I`.
    im_even: Vec<f32>,
    im_odd: Vec<f32>,
    /// `R[c][128]` for every bin.
    re_mid: Vec<f32>,
}

/// Columns of a folded frame row: s at even k, s at odd k, d at even k, d at odd k, x_128.
const FOLD_S_EVEN: usize = 0;
const FOLD_S_ODD: usize = FOLD_S_EVEN + EVEN;
const FOLD_D_EVEN: usize = FOLD_S_ODD + ODD;
const FOLD_D_ODD: usize = FOLD_D_EVEN + EVEN;
const FOLD_MID: usize = FOLD_D_ODD + ODD;
/// Row width of the frame buffer (a plain frame, or a folded one and a spare column).
const FRAME_ROW: usize = WINDOW;

impl FoldedStft {
    /// Splits `basis` (`[STFT_OUT][WINDOW]`) if it has the symmetries, `None` if not.
    fn new(basis: &[f32]) -> Option<Self> {
        let re = |c: usize, k: usize| basis[c * WINDOW + k];
        let im = |c: usize, k: usize| basis[(BINS + c) * WINDOW + k];
        for c in 0..BINS {
            if re(c, 0) != 0.0 || im(c, 0) != 0.0 || im(c, WINDOW / 2) != 0.0 {
                return None;
            }
            for k in 1..WINDOW / 2 {
                let sign = if k % 2 == 0 { 1.0 } else { -1.0 };
                let mirrored_bin = BINS - 1 - c;
                if re(c, k) != re(c, WINDOW - k)
                    || im(c, k) != -im(c, WINDOW - k)
                    || re(mirrored_bin, k) != sign * re(c, k)
                    || im(mirrored_bin, k) != -sign * im(c, k)
                {
                    return None;
                }
            }
        }
        let pick = |part: &dyn Fn(usize, usize) -> f32, first: usize| -> Vec<f32> {
            (0..HALF_BINS)
                .flat_map(|c| (first..WINDOW / 2).step_by(2).map(move |k| (c, k)))
                .map(|(c, k)| part(c, k))
                .collect()
        };
        Some(Self {
            re_even: pick(&re, 2),
            re_odd: pick(&re, 1),
            im_even: pick(&im, 2),
            im_odd: pick(&im, 1),
            re_mid: (0..BINS).map(|c| re(c, WINDOW / 2)).collect(),
        })
    }
}

/// How the STFT is computed.
#[derive(Debug, Clone)]
enum Stft {
    /// Through the basis' symmetries (every real Silero model).
    Folded(FoldedStft),
    /// The plain product with the `[STFT_OUT][WINDOW]` basis, for a basis without them.
    Plain(Vec<f32>),
}

impl Stft {
    /// The STFT magnitudes of every chunk, rounded to f16 for the first convolution:
    /// `[chunks][FRAMES][BINS]` into `magnitudes`.
    #[inline(always)]
    fn magnitudes(
        &self,
        samples: &[f32],
        chunks: usize,
        frames: &mut Vec<f32>,
        spectrum: &mut Vec<f32>,
        magnitudes: &mut Vec<f32>,
    ) {
        let rows = chunks * FRAMES;
        // One row per frame, from the padded chunk rounded to f16 as ggml's im2col rounds it.
        frames.resize(rows * FRAME_ROW, 0.0);
        let mut padded = [0.0f32; PADDED];
        for (i, chunk_rows) in frames.chunks_exact_mut(FRAMES * FRAME_ROW).enumerate() {
            let chunk = &samples[i * CHUNK..samples.len().min((i + 1) * CHUNK)];
            reflect_pad(chunk, &mut padded);
            for v in padded.iter_mut() {
                *v = round_to_f16(*v);
            }
            for (f, row) in chunk_rows.chunks_exact_mut(FRAME_ROW).enumerate() {
                let x = &padded[f * HOP..f * HOP + WINDOW];
                match self {
                    Stft::Plain(_) => row.copy_from_slice(x),
                    Stft::Folded(_) => fold_frame(x, row),
                }
            }
        }
        magnitudes.resize(rows * BINS, 0.0);
        match self {
            Stft::Plain(basis) => {
                spectrum.resize(rows * STFT_OUT, 0.0);
                matmul_bt(
                    frames,
                    dense(0, rows, WINDOW),
                    basis,
                    dense(0, STFT_OUT, WINDOW),
                    spectrum,
                    dense(0, rows, STFT_OUT),
                );
                for (m, row) in magnitudes
                    .chunks_exact_mut(BINS)
                    .zip(spectrum.chunks_exact(STFT_OUT))
                {
                    let (re, im) = row.split_at(BINS);
                    for ((m, &r), &i) in m.iter_mut().zip(re).zip(im) {
                        *m = magnitude(r, i);
                    }
                }
            }
            Stft::Folded(folded) => {
                // Four products into [rows][4][HALF_BINS]: re over even k, re over odd k, im over
                // even k, im over odd k.
                const WIDE: usize = 4 * HALF_BINS;
                spectrum.resize(rows * WIDE, 0.0);
                let parts: [(&[f32], usize, usize); 4] = [
                    (&folded.re_even, FOLD_S_EVEN, EVEN),
                    (&folded.re_odd, FOLD_S_ODD, ODD),
                    (&folded.im_even, FOLD_D_EVEN, EVEN),
                    (&folded.im_odd, FOLD_D_ODD, ODD),
                ];
                for (part, (weights, column, width)) in parts.into_iter().enumerate() {
                    matmul_bt(
                        frames,
                        MatrixView {
                            offset: column,
                            rows,
                            cols: width,
                            row_stride: FRAME_ROW,
                        },
                        weights,
                        dense(0, HALF_BINS, width),
                        spectrum,
                        MatrixView {
                            offset: part * HALF_BINS,
                            rows,
                            cols: HALF_BINS,
                            row_stride: WIDE,
                        },
                    );
                }
                for ((m, row), frame) in magnitudes
                    .chunks_exact_mut(BINS)
                    .zip(spectrum.chunks_exact(WIDE))
                    .zip(frames.chunks_exact(FRAME_ROW))
                {
                    let mid = frame[FOLD_MID];
                    let (re_even, rest) = row.split_at(HALF_BINS);
                    let (re_odd, rest) = rest.split_at(HALF_BINS);
                    let (im_even, im_odd) = rest.split_at(HALF_BINS);
                    // Bins 0..=64, then their mirrors 128..=64 (bin 64 is its own mirror: both
                    // give it the same value, its odd-k products being zero).
                    for ((((m, &e), &o), &ie), (&io, &w)) in m[..HALF_BINS]
                        .iter_mut()
                        .zip(re_even)
                        .zip(re_odd)
                        .zip(im_even)
                        .zip(im_odd.iter().zip(&folded.re_mid[..HALF_BINS]))
                    {
                        *m = magnitude(e + o + w * mid, ie + io);
                    }
                    for ((((m, &e), &o), &ie), (&io, &w)) in m[HALF_BINS - 1..]
                        .iter_mut()
                        .rev()
                        .zip(re_even)
                        .zip(re_odd)
                        .zip(im_even)
                        .zip(
                            im_odd
                                .iter()
                                .zip(folded.re_mid[HALF_BINS - 1..].iter().rev()),
                        )
                    {
                        *m = magnitude(e - o + w * mid, io - ie);
                    }
                }
            }
        }
    }
}

/// Silero VAD v6's weights, ready to run.
#[derive(Debug, Clone)]
pub(crate) struct Silero {
    stft: Stft,
    encoder: [Conv; 4],
    /// `[GATES][HIDDEN]`.
    w_ih: Vec<f32>,
    b_ih: Vec<f32>,
    /// `[GATES / LANES][HIDDEN][LANES]`: for each block of [`LANES`] gates, the transposed
    /// block, so that the sequential step reads the matrix straight through.
    w_hh_blocked: Vec<f32>,
    b_hh: Vec<f32>,
    out_w: Vec<f32>,
    out_b: f32,
}

/// The LSTM's state between chunks.
#[derive(Debug, Clone)]
pub(crate) struct LstmState {
    h: [f32; HIDDEN],
    c: [f32; HIDDEN],
}

impl Default for LstmState {
    fn default() -> Self {
        Self {
            h: [0.0; HIDDEN],
            c: [0.0; HIDDEN],
        }
    }
}

/// Buffers reused from block to block and call to call; each holds at most one block.
#[derive(Debug, Default, Clone)]
pub(crate) struct Scratch {
    frames: Vec<f32>,
    spectrum: Vec<f32>,
    /// The encoder's input and each layer's output.
    layers: [Vec<f32>; 5],
    gates: Vec<f32>,
}

/// One block of [`Silero::run`], as a [`Kernel`] for [`run_with_avx2`].
struct Block<'a> {
    model: &'a Silero,
    samples: &'a [f32],
    state: &'a mut LstmState,
    scratch: &'a mut Scratch,
    out: &'a mut Vec<f32>,
}

impl Kernel for Block<'_> {
    #[inline(always)]
    fn run(&mut self) {
        self.model
            .run_block_inline(self.samples, self.state, self.scratch, self.out);
    }
}

impl Silero {
    /// Takes the weights read from a model file that [`rech_ggml::model_file::read_vad`]
    /// accepted (so every tensor is there with its shape); `Err` names a missing tensor.
    pub(crate) fn new(tensors: &VadTensors) -> Result<Self, VadModelError> {
        let get = |name: &str, len: usize| -> Result<Vec<f32>, VadModelError> {
            match tensors.get(name) {
                Some(v) if v.len() == len => Ok(v.to_vec()),
                found => Err(VadModelError::Tensor {
                    name: name.to_owned(),
                    expected: len,
                    found: found.map(<[f32]>::len),
                }),
            }
        };
        let conv = |i: usize, inputs: usize, outputs: usize, stride: usize| {
            let file = get(
                &format!("_model.encoder.{i}.reparam_conv.weight"),
                outputs * inputs * KERNEL,
            )?;
            let mut weight = vec![0.0; file.len()];
            for o in 0..outputs {
                for c in 0..inputs {
                    for k in 0..KERNEL {
                        weight[(o * KERNEL + k) * inputs + c] = file[(o * inputs + c) * KERNEL + k];
                    }
                }
            }
            Ok::<_, VadModelError>(Conv {
                weight,
                bias: get(&format!("_model.encoder.{i}.reparam_conv.bias"), outputs)?,
                inputs,
                outputs,
                stride,
            })
        };
        let basis = get("_model.stft.forward_basis_buffer", STFT_OUT * WINDOW)?;
        Ok(Self {
            stft: match FoldedStft::new(&basis) {
                Some(folded) => Stft::Folded(folded),
                None => Stft::Plain(basis),
            },
            encoder: [
                conv(0, BINS, 128, 1)?,
                conv(1, 128, 64, 2)?,
                conv(2, 64, 64, 2)?,
                conv(3, 64, HIDDEN, 1)?,
            ],
            w_ih: get("_model.decoder.rnn.weight_ih", GATES * HIDDEN)?,
            b_ih: get("_model.decoder.rnn.bias_ih", GATES)?,
            w_hh_blocked: blocked(&get("_model.decoder.rnn.weight_hh", GATES * HIDDEN)?),
            b_hh: get("_model.decoder.rnn.bias_hh", GATES)?,
            out_w: get("_model.decoder.decoder.2.weight", HIDDEN)?,
            out_b: get("_model.decoder.decoder.2.bias", 1)?[0],
        })
    }

    /// Appends the speech probability of each [`CHUNK`]-sample chunk of `samples` (the last one
    /// zero-padded) to `out`, carrying the LSTM `state` from chunk to chunk.
    pub(crate) fn run(
        &self,
        samples: &[f32],
        state: &mut LstmState,
        scratch: &mut Scratch,
        out: &mut Vec<f32>,
    ) {
        out.reserve(samples.len().div_ceil(CHUNK));
        for block in samples.chunks(BLOCK * CHUNK) {
            run_with_avx2(&mut Block {
                model: self,
                samples: block,
                state,
                scratch,
                out,
            });
        }
    }

    /// [`Self::run`] over at most [`BLOCK`] chunks, compiled without special CPU features
    /// (tests compare it with the AVX2 build).
    #[cfg(test)]
    pub(crate) fn run_block(
        &self,
        samples: &[f32],
        state: &mut LstmState,
        scratch: &mut Scratch,
        out: &mut Vec<f32>,
    ) {
        self.run_block_inline(samples, state, scratch, out);
    }

    /// [`Self::run_block`]'s body, and that of every helper it calls with a loop worth
    /// vectorising, are `#[inline(always)]`: `simd::run_with_avx2` compiles them a second time
    /// with AVX2 enabled. Lanes are independent in every such loop, so both builds compute the
    /// same numbers.
    #[inline(always)]
    pub(crate) fn run_block_inline(
        &self,
        samples: &[f32],
        state: &mut LstmState,
        scratch: &mut Scratch,
        out: &mut Vec<f32>,
    ) {
        let chunks = samples.len().div_ceil(CHUNK);
        let Scratch {
            frames,
            spectrum,
            layers,
            gates,
        } = scratch;
        self.stft
            .magnitudes(samples, chunks, frames, spectrum, &mut layers[0]);
        // The encoder: [chunks][positions][channels], each layer's output rounded to f16 where a
        // convolution reads it next. 4 -> 4 -> 2 -> 1 -> 1 positions; whisper.cpp keeps the first
        // (and only) one of the last layer.
        let mut len = FRAMES;
        for (i, conv) in self.encoder.iter().enumerate() {
            let (done, rest) = layers.split_at_mut(i + 1);
            let round = i + 1 < self.encoder.len();
            len = conv_layer(conv, &done[i], chunks, len, &mut rest[0], round);
        }
        debug_assert_eq!(len, 1);
        let features = &layers[4];

        // The LSTM's input projection for all chunks at once: [chunks][GATES].
        gates.resize(chunks * GATES, 0.0);
        matmul_bt(
            features,
            dense(0, chunks, HIDDEN),
            &self.w_ih,
            dense(0, GATES, HIDDEN),
            gates,
            dense(0, chunks, GATES),
        );
        for row in gates.chunks_exact_mut(GATES) {
            for (g, &bias) in row.iter_mut().zip(&self.b_ih) {
                *g += bias;
            }
        }
        for input_gates in gates.chunks_exact(GATES) {
            out.push(self.step(input_gates, state));
        }
    }

    /// One LSTM step and the output head: the speech probability of one chunk.
    #[inline(always)]
    fn step(&self, input_gates: &[f32], state: &mut LstmState) -> f32 {
        // W_hh h, 32 gates at a time held in registers while the whole of h streams past.
        let mut gates = [0.0f32; GATES];
        for (block, weights) in gates
            .chunks_exact_mut(LANES)
            .zip(self.w_hh_blocked.chunks_exact(HIDDEN * LANES))
        {
            let mut acc = [0.0f32; LANES];
            for (&h, w) in state.h.iter().zip(weights.chunks_exact(LANES)) {
                for (a, &w) in acc.iter_mut().zip(w) {
                    *a += w * h;
                }
            }
            block.copy_from_slice(&acc);
        }
        // (W_ih x + b_ih) + (W_hh h + b_hh), in ggml's order.
        for ((g, &b), &x) in gates.iter_mut().zip(&self.b_hh).zip(input_gates) {
            *g = x + (*g + b);
        }
        // The activations, each a loop over one gate so that it vectorises.
        let (i, rest) = gates.split_at_mut(HIDDEN);
        let (f, rest) = rest.split_at_mut(HIDDEN);
        let (g, o) = rest.split_at_mut(HIDDEN);
        for v in i.iter_mut() {
            *v = sigmoid(*v);
        }
        for v in f.iter_mut() {
            *v = sigmoid(*v);
        }
        for v in o.iter_mut() {
            *v = sigmoid(*v);
        }
        for v in g.iter_mut() {
            *v = tanh(*v);
        }
        for (((c, &f), &i), &g) in state.c.iter_mut().zip(&*f).zip(&*i).zip(&*g) {
            *c = f * *c + i * g;
        }
        for ((h, &o), &c) in state.h.iter_mut().zip(&*o).zip(&state.c) {
            *h = o * tanh(c);
        }
        // The output head is a ggml conv_1d too: its input goes through f16. Eight partial sums.
        let mut lanes = [0.0f32; 8];
        for (h8, w8) in state.h.chunks_exact(8).zip(self.out_w.chunks_exact(8)) {
            for ((lane, &h), &w) in lanes.iter_mut().zip(h8).zip(w8) {
                *lane += round_to_f16(h.max(0.0)) * w;
            }
        }
        sigmoid(lanes.iter().sum::<f32>() + self.out_b)
    }
}

/// A dense row-major `rows` × `cols` matrix at `offset`.
#[inline(always)]
fn dense(offset: usize, rows: usize, cols: usize) -> MatrixView {
    MatrixView {
        offset,
        rows,
        cols,
        row_stride: cols,
    }
}

/// `sqrt(re² + im²)` rounded to f16, as ggml computes it (separate multiplications, no fused
/// multiply-add) and as the first convolution then reads it.
#[inline(always)]
fn magnitude(re: f32, im: f32) -> f32 {
    round_to_f16((re * re + im * im).sqrt())
}

/// Writes the folded form of a 256-sample frame (see [`FoldedStft`]) into `row`.
#[inline(always)]
fn fold_frame(x: &[f32], row: &mut [f32]) {
    for j in 0..ODD {
        // Odd k = 2j + 1, and for j < EVEN even k = 2j + 2.
        let k = 2 * j + 1;
        row[FOLD_S_ODD + j] = x[k] + x[WINDOW - k];
        row[FOLD_D_ODD + j] = x[k] - x[WINDOW - k];
        if j < EVEN {
            let k = 2 * j + 2;
            row[FOLD_S_EVEN + j] = x[k] + x[WINDOW - k];
            row[FOLD_D_EVEN + j] = x[k] - x[WINDOW - k];
        }
    }
    row[FOLD_MID] = x[WINDOW / 2];
}

/// Gates computed together in the LSTM step: 8 SSE registers' worth.
const LANES: usize = 32;

/// `[GATES][HIDDEN]` into `[GATES / LANES][HIDDEN][LANES]` (see `Silero::w_hh_blocked`).
fn blocked(w: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0; w.len()];
    for (gate, row) in w.chunks_exact(HIDDEN).enumerate() {
        let (block, lane) = (gate / LANES, gate % LANES);
        for (k, &v) in row.iter().enumerate() {
            out[(block * HIDDEN + k) * LANES + lane] = v;
        }
    }
    out
}

/// One encoder layer over a block: `input` is `[chunks][input_len][conv.inputs]`, the result
/// `[chunks][output_len][conv.outputs]` goes to `output` (after bias and ReLU, and rounded to
/// f16 when `round`); returns `output_len`.
///
/// There is no im2col copy: with the weights tap-major, the input of output position p is the
/// contiguous run of input positions p·stride - 1 ..= p·stride + 1, so one matrix product per
/// output position reads the input in place, using only the taps that fall inside the chunk
/// (the others would multiply ggml's zero padding).
#[inline(always)]
fn conv_layer(
    conv: &Conv,
    input: &[f32],
    chunks: usize,
    input_len: usize,
    output: &mut Vec<f32>,
    round: bool,
) -> usize {
    let output_len = (input_len + 2 - KERNEL) / conv.stride + 1;
    let (ic, oc) = (conv.inputs, conv.outputs);
    output.resize(chunks * output_len * oc, 0.0);
    for position in 0..output_len {
        // Taps k read input position position * stride + k - 1.
        let first = position * conv.stride;
        let k_from = usize::from(first == 0);
        let k_to = KERNEL.min(input_len + 1 - first);
        let taps = k_to - k_from;
        matmul_bt(
            input,
            MatrixView {
                offset: (first + k_from - 1) * ic,
                rows: chunks,
                cols: taps * ic,
                row_stride: input_len * ic,
            },
            &conv.weight,
            MatrixView {
                offset: k_from * ic,
                rows: oc,
                cols: taps * ic,
                row_stride: KERNEL * ic,
            },
            output,
            MatrixView {
                offset: position * oc,
                rows: chunks,
                cols: oc,
                row_stride: output_len * oc,
            },
        );
    }
    for row in output.chunks_exact_mut(oc) {
        for (v, &b) in row.iter_mut().zip(&conv.bias) {
            let x = (*v + b).max(0.0);
            *v = if round { round_to_f16(x) } else { x };
        }
    }
    output_len
}

/// Copies a chunk of at most [`CHUNK`] samples into `padded` with zeros after it up to
/// [`CHUNK`], and the reflection of its first and last 64 samples (not repeating the edge
/// sample, as ggml's `pad_reflect_1d` and PyTorch's `reflect` do) on either side.
#[inline(always)]
fn reflect_pad(chunk: &[f32], padded: &mut [f32; PADDED]) {
    let body = &mut padded[PAD..PAD + CHUNK];
    body[..chunk.len()].copy_from_slice(chunk);
    body[chunk.len()..].fill(0.0);
    for i in 1..=PAD {
        padded[PAD - i] = padded[PAD + i];
        padded[PAD + CHUNK - 1 + i] = padded[PAD + CHUNK - 1 - i];
    }
}

/// ggml's sigmoid, `1 / (1 + e^-x)`, with [`exp`].
#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// `tanh` from one [`exp`].
#[inline(always)]
fn tanh(x: f32) -> f32 {
    let e = exp(-2.0 * x.abs());
    ((1.0 - e) / (1.0 + e)).copysign(x)
}

/// `e^x` within 2 ulp of the C library's `expf` (which ggml calls), but without branches or
/// calls, so that loops over it vectorise: the LSTM needs 640 per chunk. Below -87.3 the result
/// is about 1e-38 instead of a subnormal or zero, above 88.7 about 3e38 instead of infinity;
/// NaN stays NaN. (Cephes' `expf`: x = n ln 2 + r, |r| ≤ ln 2 / 2, e^r by a degree-6
/// polynomial, 2^n through the exponent bits.)
#[inline(always)]
fn exp(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    /// ln 2 in two parts: the first has few mantissa bits, so n · LN2_HI is exact.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    /// Adding and subtracting 1.5 · 2^23 rounds to the nearest integer.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.3, 88.7);
    let shifted = x * LOG2_E + ROUND;
    let n = shifted - ROUND;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let p = 1.987_569_1e-4;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let p = p * r * r + r + 1.0;
    // n is an integer in -126..=128 here, and the low bits of `shifted` hold it plus those of
    // ROUND: an integer conversion the compiler vectorises (`as i32` saturates, which does
    // not). 2^n through the exponent bits, as 2^(n/2) · 2^(n - n/2) so that 2^128 fits.
    let n = shifted.to_bits().wrapping_sub(ROUND.to_bits()) as i32;
    let half = f32::from_bits((((n >> 1) + 127) as u32) << 23);
    let rest = f32::from_bits((((n - (n >> 1)) + 127) as u32) << 23);
    p * half * rest
}

/// Rounds `x` to the nearest IEEE half-precision value (ties to even), as an `f32`: what ggml's
/// f32 → f16 conversion followed by f16 → f32 gives. Beyond the f16 range the result is an
/// infinity; NaN stays NaN. Branch-free, so that loops over it vectorise.
#[inline(always)]
pub(crate) fn round_to_f16(x: f32) -> f32 {
    /// The smallest normal f16, 2^-14; below it f16 values are multiples of 2^-24.
    const MIN_NORMAL: f32 = 6.103_515_6e-5;
    /// Halfway between the largest f16 (65504) and 65536: from here on, round to infinity.
    const OVERFLOW: f32 = 65_520.0;
    let magnitude = x.abs();
    // Normal range: keep 10 of the 23 mantissa bits, rounding to nearest even; a carry moves
    // into the exponent, which is the right answer.
    let bits = x.to_bits();
    let normal = f32::from_bits((bits.wrapping_add(0x0fff + ((bits >> 13) & 1))) & !0x1fff);
    // Subnormal range: adding 0.5 (whose f32 spacing is 2^-24) rounds to a multiple of 2^-24,
    // to nearest even; taking it away again is exact.
    let subnormal = ((magnitude + 0.5) - 0.5).copysign(x);
    let huge = if x.is_nan() {
        x
    } else {
        f32::INFINITY.copysign(x)
    };
    let rounded = if magnitude < MIN_NORMAL {
        subnormal
    } else {
        normal
    };
    if magnitude >= OVERFLOW || x.is_nan() {
        huge
    } else {
        rounded
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rech_ggml::model_file::f16_to_f32;

    /// The nearest f16 to `x` by search over all finite f16 values (ties to the even one): an
    /// independent reference for [`round_to_f16`].
    fn nearest_f16(x: f32) -> f32 {
        if x.is_nan() {
            return x;
        }
        let target = f64::from(x.abs());
        // Positive finite f16 bit patterns are ordered like their values.
        let (mut lo, mut hi) = (0u16, 0x7bff_u16);
        if target >= 65_520.0 {
            return f32::INFINITY.copysign(x);
        }
        if target >= 65_504.0 {
            return 65_504.0f32.copysign(x);
        }
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if f64::from(f16_to_f32(mid)) <= target {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let (a, b) = (f64::from(f16_to_f32(lo)), f64::from(f16_to_f32(hi)));
        let pick = if target - a < b - target {
            lo
        } else if target - a > b - target {
            hi
        } else if lo % 2 == 0 {
            lo
        } else {
            hi
        };
        f16_to_f32(pick).copysign(x)
    }

    #[test]
    fn f16_widening_is_exact() {
        assert_eq!(f16_to_f32(0x0000), 0.0);
        assert!(f16_to_f32(0x8000).is_sign_negative());
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x7bff), 65_504.0);
        assert_eq!(f16_to_f32(0x0400), 2f32.powi(-14));
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x03ff), 1023.0 * 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95);
        assert_eq!(f16_to_f32(0x7c00), f32::INFINITY);
        assert_eq!(f16_to_f32(0xfc00), f32::NEG_INFINITY);
        assert!(f16_to_f32(0x7e00).is_nan());
        // Every finite f16 survives the round trip, and the order is kept.
        let mut previous = f32::NEG_INFINITY;
        for bits in (0x8000..=0xfbff_u16).rev().chain(0..=0x7bff) {
            let v = f16_to_f32(bits);
            assert!(v.is_finite());
            assert_eq!(round_to_f16(v).to_bits(), v.to_bits(), "{bits:#06x}");
            assert!(v >= previous, "{bits:#06x}");
            previous = v;
        }
    }

    #[test]
    fn f16_rounding_matches_the_nearest_value() {
        // Ties go to the even mantissa: 1 + 2^-11 is halfway between 1 and 1 + 2^-10.
        assert_eq!(round_to_f16(1.0 + 2f32.powi(-11)), 1.0);
        assert_eq!(
            round_to_f16(1.0 + 3.0 * 2f32.powi(-11)),
            1.0 + 2.0 * 2f32.powi(-10)
        );
        assert_eq!(round_to_f16(65_519.0), 65_504.0);
        assert_eq!(round_to_f16(65_520.0), f32::INFINITY);
        assert_eq!(round_to_f16(-1e9), f32::NEG_INFINITY);
        assert_eq!(round_to_f16(2f32.powi(-26)), 0.0);
        assert_eq!(round_to_f16(3.0 * 2f32.powi(-26)), 2f32.powi(-24));
        assert!(round_to_f16(f32::NAN).is_nan());
        // A spread of f32 bit patterns over every exponent, both signs.
        let mut bits = 0u32;
        while let Some(next) = bits.checked_add(0x0001_0c35) {
            let x = f32::from_bits(bits);
            let (got, want) = (round_to_f16(x), nearest_f16(x));
            assert!(
                got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                "{x:e} ({bits:#010x}): {got:e} != {want:e}"
            );
            bits = next;
        }
    }

    #[test]
    fn exp_is_within_2_ulp_of_the_c_library() {
        let ulp = |v: f32| f32::from_bits(v.to_bits() + 1) - v;
        let mut worst = 0.0f32;
        let mut x = -87.3f32;
        while x < 88.7 {
            let (got, want) = (exp(x), x.exp());
            worst = worst.max((got - want).abs() / ulp(want));
            x += 0.001_3;
        }
        assert!(worst <= 2.0, "{worst} ulp");
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(f32::NAN).is_nan());
        assert!(exp(-1000.0) < 1e-37 && exp(-1000.0) >= 0.0);
        assert!(exp(1000.0) > 3e38);
        // And so the activations are within a hair of ggml's.
        let mut worst = 0.0f32;
        for i in -200_000..=200_000 {
            let x = i as f32 * 1e-3;
            worst = worst.max((sigmoid(x) - 1.0 / (1.0 + (-x).exp())).abs());
        }
        assert!(worst <= 2e-7, "sigmoid off by {worst:e}");
        assert!(sigmoid(-1000.0) < 1e-37 && sigmoid(1000.0) == 1.0);
    }

    #[test]
    fn tanh_is_within_2e7_of_the_c_library() {
        let mut worst = 0.0f32;
        for i in -200_000..=200_000 {
            let x = i as f32 * 1e-4;
            worst = worst.max((tanh(x) - x.tanh()).abs());
        }
        for x in [
            1e-30f32,
            -1e-10,
            1e-6,
            30.0,
            -100.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
        ] {
            worst = worst.max((tanh(x) - x.tanh()).abs());
        }
        assert!(worst <= 2e-7, "{worst:e}");
        assert!(tanh(f32::NAN).is_nan());
        assert_eq!(tanh(0.0), 0.0);
    }

    /// A Hann-windowed DFT basis rounded to f16, laid out like Silero's
    /// (`[258][256]`: 129 real rows, then 129 imaginary ones).
    fn dft_basis() -> Vec<f32> {
        let mut basis = vec![0.0f32; STFT_OUT * WINDOW];
        for c in 0..BINS {
            for k in 0..WINDOW {
                let n = WINDOW as f64;
                let window = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * k as f64 / n).cos();
                let angle = 2.0 * std::f64::consts::PI * (c * k % WINDOW) as f64 / n;
                basis[c * WINDOW + k] = round_to_f16((window * angle.cos()) as f32);
                basis[(BINS + c) * WINDOW + k] = round_to_f16((-window * angle.sin()) as f32);
            }
        }
        basis
    }

    fn magnitudes(stft: &Stft, samples: &[f32]) -> Vec<f32> {
        let chunks = samples.len().div_ceil(CHUNK);
        let (mut frames, mut spectrum, mut out) = (Vec::new(), Vec::new(), Vec::new());
        stft.magnitudes(samples, chunks, &mut frames, &mut spectrum, &mut out);
        out
    }

    #[test]
    fn the_folded_stft_gives_the_plain_one() {
        let basis = dft_basis();
        let folded = Stft::Folded(FoldedStft::new(&basis).expect("a DFT basis is symmetric"));
        let plain = Stft::Plain(basis.clone());
        let mut state = 12_345u32;
        let samples: Vec<f32> = (0..CHUNK * 7 + 100)
            .map(|i| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let noise = (state >> 8) as f32 / (1 << 24) as f32 - 0.5;
                0.3 * (i as f32 * 0.05).sin() + 0.1 * noise
            })
            .collect();
        let (a, b) = (magnitudes(&folded, &samples), magnitudes(&plain, &samples));
        assert_eq!(a.len(), 8 * FRAMES * BINS);
        // Same products, summed in another order; both rounded to f16 (2^-11 relative) at the
        // end, so a value may land one f16 step apart.
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert!((x - y).abs() <= 1e-3 * y.abs() + 1e-6, "{i}: {x} vs {y}");
        }
        let same = a.iter().zip(&b).filter(|(x, y)| x == y).count();
        assert!(same * 10 >= a.len() * 9, "only {same} of {} equal", a.len());
        // A basis without the symmetries takes the plain path.
        let mut broken = basis;
        broken[3 * WINDOW + 5] += 0.5;
        assert!(FoldedStft::new(&broken).is_none());
    }

    fn real_model() -> Option<Silero> {
        let dir = std::env::var_os("RECH_SHARED_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
            });
        let path = dir.join("models/ggml-silero-v6.2.0.bin");
        if !path.is_file() {
            let msg = format!("{} is missing (set RECH_SHARED_DIR)", path.display());
            if std::env::var_os("CI").is_some() {
                panic!("{msg}");
            }
            eprintln!("SKIPPED: {msg}");
            return None;
        }
        let tensors = rech_ggml::model_file::read_vad(&path).unwrap();
        let model = Silero::new(&tensors).unwrap();
        assert!(
            matches!(model.stft, Stft::Folded(_)),
            "the real basis folds"
        );
        Some(model)
    }

    /// The build of the loops for AVX2 (taken on this machine when it has AVX2) and the plain
    /// one give the same bits, over several blocks.
    #[test]
    fn every_build_gives_the_same_numbers() {
        let Some(model) = real_model() else { return };
        let mut state = 99u32;
        let samples: Vec<f32> = (0..CHUNK * (BLOCK + 40) + 7)
            .map(|i| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let noise = (state >> 8) as f32 / (1 << 24) as f32 - 0.5;
                let burst = if (i / 8_000) % 3 == 0 { 0.4 } else { 0.0 };
                burst * (i as f32 * 0.07).sin() * (i as f32 * 0.001).sin() + 0.01 * noise
            })
            .collect();
        let mut dispatched = Vec::new();
        model.run(
            &samples,
            &mut LstmState::default(),
            &mut Scratch::default(),
            &mut dispatched,
        );
        let mut plain = Vec::new();
        let (mut state, mut scratch) = (LstmState::default(), Scratch::default());
        for block in samples.chunks(BLOCK * CHUNK) {
            model.run_block(block, &mut state, &mut scratch, &mut plain);
        }
        assert_eq!(dispatched.len(), BLOCK + 41);
        let bits = |v: &[f32]| v.iter().map(|p| p.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&dispatched), bits(&plain));
        assert!(dispatched.iter().all(|p| (0.0..=1.0).contains(p)));
    }

    #[test]
    fn reflection_padding() {
        let chunk: Vec<f32> = (0..CHUNK).map(|i| i as f32).collect();
        let mut padded = [f32::NAN; PADDED];
        reflect_pad(&chunk, &mut padded);
        // [64, 63, ..., 1] | 0 .. 511 | [510, ..., 447]
        assert_eq!(&padded[..3], &[64.0, 63.0, 62.0]);
        assert_eq!(padded[PAD - 1], 1.0);
        assert_eq!(padded[PAD], 0.0);
        assert_eq!(padded[PAD + CHUNK - 1], 511.0);
        assert_eq!(padded[PAD + CHUNK], 510.0);
        assert_eq!(padded[PADDED - 1], 447.0);
        // A short last chunk is zero-filled first; the reflection is of the zeros.
        let mut padded = [f32::NAN; PADDED];
        reflect_pad(&[5.0, 6.0, 7.0], &mut padded);
        assert_eq!(&padded[PAD - 2..PAD + 4], &[7.0, 6.0, 5.0, 6.0, 7.0, 0.0]);
        assert!(padded[PAD + 4..].iter().all(|&v| v == 0.0));
        assert!(padded[..PAD - 2].iter().all(|&v| v == 0.0));
    }
}
