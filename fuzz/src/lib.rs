//! What the fuzz targets share: the decode loop with the checks every decoded input must pass,
//! and small valid model files that the model-file targets damage with patches (a valid file
//! reaches the deep checks far sooner than random bytes do).

use std::io::Cursor;
use std::sync::OnceLock;

// rech-ggml holds the model-file validators and needs only std and thiserror, so fuzzing them
// does not build whisper.cpp.
use rech_ggml::model_file;
use model_file::{expected_tensors, expected_vad_tensors, GgmlType, Hparams};

/// Output (16 kHz samples) after which a decode stops: 3 s. Decoding and resampling take
/// time in proportion to the audio, so a 4 KB FLAC of constant frames that expands to hours
/// would make each run slow without exercising anything new; the parsers run long before.
pub const MAX_OUTPUT_SAMPLES: usize = 48_000;

/// Decodes `data` as rech would, named `name` (its extension is a format hint), streaming and
/// discarding the output, and checks what comes out.
pub fn decode(data: &[u8], name: &str) {
    check_stream(rech_audio::open_bytes(data.to_vec(), Some(name)), name);
}

/// A reader that cannot seek, as standard input is.
struct Pipe(Cursor<Vec<u8>>);

impl std::io::Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

/// Decodes `data` as rech decodes standard input (`rech_audio::open_reader`: a WAV streams
/// through a reader that cannot seek), with the same checks as [`decode`].
pub fn decode_piped(data: &[u8], name: &str) {
    let pipe = Pipe(Cursor::new(data.to_vec()));
    check_stream(rech_audio::open_reader(pipe, name), name);
}

fn check_stream(opened: Result<rech_audio::AudioStream, rech_audio::AudioError>, name: &str) {
    let mut stream = match opened {
        Ok(stream) => stream,
        Err(err) => return check_audio_error(&err.to_string(), name),
    };
    let info = stream.info().clone();
    assert!(info.channels >= 1 && info.channels <= 64, "{info:?}");
    assert!((1_000..=768_000).contains(&info.sample_rate), "{info:?}");
    let mut out = Vec::new();
    let mut total = 0usize;
    loop {
        out.clear();
        match stream.next_chunk(&mut out) {
            Ok(more) => {
                if let Some(bad) = out.iter().find(|s| !s.is_finite()) {
                    panic!("non-finite output sample {bad} from {info:?}");
                }
                total += out.len();
                if !more || total > MAX_OUTPUT_SAMPLES {
                    return;
                }
            }
            Err(err) => return check_audio_error(&err.to_string(), name),
        }
    }
}

/// Every audio error is one line that starts with the input's name.
fn check_audio_error(message: &str, name: &str) {
    assert!(message.starts_with(&format!("{name}: ")), "{message:?}");
    check_line(message);
}

/// One non-empty line, as rech prints it after `rech: error: `.
fn check_line(message: &str) {
    assert!(!message.trim().is_empty(), "empty message");
    assert!(
        !message.contains('\n') && !message.contains('\r'),
        "{message:?}"
    );
}

/// A valid file to damage, and offsets inside it worth aiming at: the start of each part
/// (header, vocabulary, each tensor header).
pub struct Base {
    /// The whole file.
    pub bytes: Vec<u8>,
    /// Offsets of the parts, in file order; the first is 0.
    pub marks: Vec<usize>,
}

/// Values that mean something to the validators (limits, magic, real dimensions).
const INTERESTING: [i32; 36] = [
    0,
    1,
    -1,
    2,
    3,
    4,
    5,
    -2,
    16,
    30,
    32,
    64,
    80,
    128,
    129,
    201,
    256,
    258,
    448,
    512,
    1000,
    1024,
    1500,
    2007,
    8192,
    8193,
    51864,
    51865,
    51866,
    65535,
    0x6767_6d6c,
    0x7369_6c65, // "elis": the start of "silero" read as a number
    i32::MAX,
    i32::MIN,
    i32::MAX / 2,
    -1000,
];

/// Applies edits, 8 bytes each (`op, a, b, c, v0..v3`), to a copy of `base`:
/// overwrite a `u32` or a byte near a mark, truncate, insert or delete bytes. The value is
/// `v0..v3` as a little-endian `u32`, or with the op's top bit set, an [`INTERESTING`] one.
pub fn patch(base: &Base, ops: &[u8]) -> Vec<u8> {
    let mut b = base.bytes.clone();
    for op in ops.chunks_exact(8) {
        let (kind, a, c) = (op[0], usize::from(op[1]), op[3]);
        let near = usize::from(op[2]) | usize::from(c) << 8;
        let value = if kind & 0x80 != 0 {
            INTERESTING[usize::from(op[4]) % INTERESTING.len()] as u32
        } else {
            u32::from_le_bytes([op[4], op[5], op[6], op[7]])
        };
        let at = (base.marks[a % base.marks.len()] + near % 512).min(b.len());
        match kind % 5 {
            0 => {
                let end = (at + 4).min(b.len());
                b[at..end].copy_from_slice(&value.to_le_bytes()[..end - at]);
            }
            1 => {
                if at < b.len() {
                    b[at] = op[4];
                }
            }
            2 => b.truncate(at),
            3 => {
                b.splice(at..at, value.to_le_bytes());
            }
            _ => {
                let end = (at + 1 + usize::from(op[4] % 16)).min(b.len());
                b.drain(at..end);
            }
        }
    }
    b
}

fn put(b: &mut Vec<u8>, v: i32) {
    b.extend_from_slice(&v.to_le_bytes());
}

/// Writes each tensor of `specs` (header and zero data) and returns the headers' offsets.
fn put_tensors(b: &mut Vec<u8>, specs: &[model_file::TensorSpec], weights: GgmlType) -> Vec<usize> {
    let mut marks = Vec::new();
    for spec in specs {
        marks.push(b.len());
        let ty = spec.kind.ggml_type(weights);
        put(b, spec.shape.len() as i32);
        put(b, spec.name.len() as i32);
        put(b, ty.id());
        for &d in &spec.shape {
            put(b, d as i32);
        }
        b.extend_from_slice(spec.name.as_bytes());
        let bytes = spec.n_elements() / ty.block_size() * ty.block_bytes();
        b.resize(b.len() + bytes as usize, 0);
    }
    marks
}

/// The smallest Whisper model the validator accepts: width 1, one layer each, 256 one-byte
/// tokens, f16 (about 170 KB, nearly all of it the 51865-row token embedding).
pub fn whisper_base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let h = Hparams {
            n_vocab: 51865,
            n_audio_ctx: 2,
            n_audio_state: 1,
            n_audio_head: 1,
            n_audio_layer: 1,
            n_text_ctx: 16,
            n_text_state: 1,
            n_text_head: 1,
            n_text_layer: 1,
            n_mels: 80,
            ftype: 1,
        };
        let mut b = model_file::GGML_MAGIC.to_le_bytes().to_vec();
        let mut marks = vec![0];
        for v in [
            h.n_vocab,
            h.n_audio_ctx,
            h.n_audio_state,
            h.n_audio_head,
            h.n_audio_layer,
            h.n_text_ctx,
            h.n_text_state,
            h.n_text_head,
            h.n_text_layer,
            h.n_mels,
            h.ftype,
        ] {
            put(&mut b, v);
        }
        marks.push(b.len());
        put(&mut b, 80);
        put(&mut b, 201);
        b.resize(b.len() + 80 * 201 * 4, 0);
        marks.push(b.len());
        put(&mut b, 256);
        for byte in 0..=255u8 {
            put(&mut b, 1);
            b.push(byte);
        }
        marks.extend(put_tensors(&mut b, &expected_tensors(&h), GgmlType::F16));
        marks.push(b.len());
        // A base the validator refuses would make every patch pointless: stop at once.
        model_file::inspect_reader(Cursor::new(&b), b.len() as u64)
            .expect("the patch base is a valid Whisper model");
        Base { bytes: b, marks }
    })
}

/// A Silero VAD model file with the real architecture and zero weights (885,098 bytes, the
/// size of the real `ggml-silero-v6.2.0.bin`).
pub fn vad_base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let mut b = model_file::GGML_MAGIC.to_le_bytes().to_vec();
        let mut marks = vec![0];
        put(&mut b, 10);
        b.extend_from_slice(b"silero-16k");
        marks.push(b.len());
        for v in [
            6, 2, 0, 512, 64, 4, 129, 128, 3, 128, 64, 3, 64, 64, 3, 64, 128, 3,
        ] {
            put(&mut b, v);
        }
        for v in [128, 128, 128, 1] {
            put(&mut b, v);
        }
        marks.extend(put_tensors(&mut b, &expected_vad_tensors(), GgmlType::F16));
        marks.push(b.len());
        model_file::inspect_vad_reader(Cursor::new(&b), b.len() as u64)
            .expect("the patch base is a valid VAD model");
        Base { bytes: b, marks }
    })
}

/// Splits a fuzz input into the file to check: the first byte chooses raw bytes (even) or a
/// patched valid file (odd).
fn file_from<'a>(data: &'a [u8], base: &Base) -> Option<std::borrow::Cow<'a, [u8]>> {
    let (&mode, rest) = data.split_first()?;
    Some(if mode & 1 == 0 {
        rest.into()
    } else {
        patch(base, rest).into()
    })
}

/// Runs the Whisper model-file validator and checks what it says.
pub fn model_file(data: &[u8]) {
    let Some(file) = file_from(data, whisper_base()) else {
        return;
    };
    match model_file::inspect_reader(Cursor::new(&file[..]), file.len() as u64) {
        Ok(info) => {
            info.hparams
                .check()
                .expect("accepted hyperparameters pass check()");
            assert_eq!(info.tensor_count, expected_tensors(&info.hparams).len());
            assert!(info.weights_bytes < info.file_len);
            assert_eq!(info.file_len, file.len() as u64);
        }
        Err(err) => check_line(&err.to_string()),
    }
}

/// Runs the Silero VAD model-file validator and checks what it says.
pub fn vad_file(data: &[u8]) {
    let Some(file) = file_from(data, vad_base()) else {
        return;
    };
    // Reading the weights checks the file first, as inspecting does, then reads every tensor.
    match model_file::read_vad_reader(Cursor::new(&file[..]), file.len() as u64) {
        Ok(read) => {
            let info = &read.info;
            assert!(info.model_type.starts_with("silero"));
            assert_eq!(info.tensor_count, expected_vad_tensors().len());
            assert!(info.weights_bytes < info.file_len);
            for (spec, values) in expected_vad_tensors().iter().zip(&read.tensors) {
                assert_eq!(values.len() as u64, spec.n_elements(), "{}", spec.name);
            }
        }
        Err(err) => check_line(&err.to_string()),
    }
}

/// Where the form target's uploads go while a form is read (each is deleted with its form).
fn upload_dir() -> &'static std::path::Path {
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("rech-fuzz-uploads-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the upload directory");
        dir
    })
}

/// Reads `data` as a transcription request's multipart form (boundary
/// `rech_server::fuzzing::BOUNDARY`) and checks its fields.
pub fn serve_form(data: &[u8]) {
    rech_server::fuzzing::form(data, upload_dir());
}

/// The lines of `data` as a WebSocket control message, a `/v1/listen` query, a Host and an
/// Origin, each checked as the server checks them.
pub fn serve_control(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let message = lines.next().unwrap_or_default();
    let query = lines.next().unwrap_or_default();
    let host = lines.next().unwrap_or_default();
    let origin = lines.next().unwrap_or_default();
    let allowed: Vec<String> = lines.map(str::to_owned).collect();
    rech_server::fuzzing::control(message, query);
    rech_server::fuzzing::host_and_origin(host, origin, &allowed);
}
