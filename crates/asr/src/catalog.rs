//! The Whisper and VAD models `rech` knows by name, with the exact size and sha256 of each
//! published file, so that a download can be verified before it is used and a user can say
//! `small` instead of hunting for a URL.
//!
//! # Where the figures come from
//!
//! The Whisper files are whisper.cpp's own conversions, published in the Hugging Face model
//! repository `ggerganov/whisper.cpp` (the host `models/download-ggml-model.sh` downloads from).
//! Hugging Face stores them with Git LFS, whose object id *is* the file's sha256 and whose
//! pointer records the exact byte size; both are what the repository's tree API
//! (`/api/models/ggerganov/whisper.cpp/tree/main`) and its file pages list. The model hub is not
//! reachable from the machines `rech` is built on, so every size and sha256 below was taken from
//! public source code that quotes that listing (model catalogues of whisper.cpp front ends, in
//! Rust, TypeScript, Java, Swift, Kotlin and shell), and each one was accepted only where at least
//! two independent projects agree on both the size and the full 64-digit hash. whisper.cpp's
//! `models/README.md` lists SHA-1 sums and rounded sizes only, so it was used for the list of
//! published files, not for the figures. If Hugging Face ever replaces a file, the checksum
//! check fails with the expected and actual values and nothing is installed.
//!
//! The Silero VAD file is the one whisper.cpp's `models/download-vad-model.sh` fetches from the
//! Hugging Face repository `ggml-org/whisper-vad`; its size and sha256 were checked against a
//! real copy of the file (also published in the whisper.cpp git repository as
//! `models/for-tests-silero-v6.2.0-ggml.bin`).
//!
//! The speaker-diarization files (pyannote's segmentation-3.0 as sherpa-onnx exports it, and
//! WeSpeaker's VoxCeleb ResNet34 in WeSpeaker's own ONNX export) were taken the same way: the
//! size and sha256 of each are quoted alike by at least two independent public projects that
//! download them (diarization front ends in Rust, Python, Kotlin, C++ and TypeScript).
//!
//! English-only `.en` models are left out on purpose: they cannot transcribe Russian.

use std::io;
use std::path::{Path, PathBuf};

/// What a catalogue model is for: the engine (or the detector) that runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// A Whisper speech-recognition model, run by the whisper.cpp engine (`rech-whisper`),
    /// in whisper.cpp's ggml format.
    Whisper,
    /// A Silero voice-activity-detection model (whisper.cpp ggml format), run by rech-asr's
    /// own VAD.
    Vad,
    /// A GigaAM-v3 model (ONNX graphs and a vocabulary), run by the GigaAM engine
    /// (`rech-gigaam`).
    Gigaam,
    /// Speaker diarization's two ONNX networks (a segmentation model, then a speaker-embedding
    /// model, in that order), run by `rech-diarize`.
    Speakers,
}

/// One published file of a catalogue model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogFile {
    /// The file name, upstream and in the model directory: `ggml-small.bin`.
    pub name: &'static str,
    /// Where the file is published (on [`UPSTREAM_HOST`]).
    pub url: &'static str,
    /// Exact size in bytes.
    pub size: u64,
    /// sha256 of the file, 64 lowercase hex digits.
    pub sha256: &'static str,
}

/// One downloadable model: a single file (every Whisper and VAD model), or a directory of
/// files that are downloaded and verified as one unit (an ONNX model with its vocabulary).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogEntry {
    /// The name users type: `small`, `large-v3-turbo-q5_0`, `silero-v6.2.0`.
    pub name: &'static str,
    /// The engine that runs it.
    pub kind: ModelKind,
    /// Its files; never empty.
    pub files: &'static [CatalogFile],
    /// One line on speed and quality for Russian.
    pub summary: &'static str,
}

/// The scheme and host every catalogue URL starts with; `RECH_MODEL_BASE_URL` replaces it.
pub const UPSTREAM_HOST: &str = "https://huggingface.co";

/// The Whisper model used when none is named and the language is not Russian: the best Russian quality that still transcribes
/// faster than real time on four laptop CPU cores (see the README for the measurements).
pub const DEFAULT_MODEL: &str = "medium-q8_0";

/// The model used for Russian when none is named (Russian is the default language): GigaAM-v3
/// e2e RNN-T in 8 bits, punctuated text at a quarter of medium-q8_0's download, and far more
/// accurate for Russian (see the README). [`DEFAULT_MODEL`] stays the default for other
/// languages, language detection and translation.
pub const DEFAULT_RUSSIAN_MODEL: &str = "gigaam-v3-e2e-rnnt-int8";

/// The VAD model used by default.
pub const DEFAULT_VAD_MODEL: &str = "silero-v6.2.0";

/// The speaker-diarization models used by default.
pub const DEFAULT_SPEAKER_MODEL: &str = "pyannote-wespeaker-resnet34";

macro_rules! whisper {
    ($name:literal, $size:literal, $sha:literal, $summary:literal) => {
        CatalogEntry {
            name: $name,
            kind: ModelKind::Whisper,
            files: &[CatalogFile {
                name: concat!("ggml-", $name, ".bin"),
                url: concat!(
                    "https://huggingface.co/ggerganov/whisper.cpp/resolve/main/ggml-",
                    $name,
                    ".bin"
                ),
                size: $size,
                sha256: $sha,
            }],
            summary: $summary,
        }
    };
}

/// A file of the Hugging Face repository `istupakov/gigaam-v3-onnx` (the layout onnx-asr reads)
/// at the revision the GigaAM entries pin, so that the bytes behind a URL cannot change.
macro_rules! gigaam_file {
    ($name:literal, $size:literal, $sha:literal) => {
        CatalogFile {
            name: $name,
            url: concat!(
                "https://huggingface.co/istupakov/gigaam-v3-onnx/resolve/322c3b29492673eb7d0b434bfa9dfb8653e34d02/",
                $name
            ),
            size: $size,
            sha256: $sha,
        }
    };
}

/// onnx-asr's `config.json` for v3 (135 bytes), shared by every variant.
const GIGAAM_CONFIG: CatalogFile = gigaam_file!(
    "config.json",
    135,
    "0641fcf73f4af791c73f05083e38a658ff5dcbee3534a0c61396c10f4b97f0fe"
);

/// Every model `rech` can download by name, smallest Whisper model first, the VAD model last.
///
/// Speeds refer to whisper.cpp's encoder on a 30 s window with 4 threads of a laptop CPU
/// (i7-11850H, AVX2; whisper.cpp issue #89): tiny 0.5 s, base 1.2 s, small 4.3 s, medium 15 s,
/// large 27 s, before decoding.
pub const CATALOG: &[CatalogEntry] = &[
    whisper!(
        "tiny",
        77_691_713,
        "be07e048e1e599ad46341c8d2a135645097a538221678b7acdd1b1919c6e1b21",
        "fastest; many mistakes in Russian, for trying things out"
    ),
    whisper!(
        "tiny-q5_1",
        32_152_673,
        "818710568da3ca15689e31a743197b520007872ff9576237bda97bd1b469c3d7",
        "tiny, 5-bit: smallest download, weakest Russian"
    ),
    whisper!(
        "tiny-q8_0",
        43_537_433,
        "c2085835d3f50733e2ff6e4b41ae8a2b8d8110461e18821b09a15c40c42d1cca",
        "tiny, 8-bit: as good as tiny, half the size"
    ),
    whisper!(
        "base",
        147_951_465,
        "60ed5bc3dd14eea856493d334349b405782ddcaf0028d4b5df4088345fba2efe",
        "very fast; rough Russian, fine for drafts and short commands"
    ),
    whisper!(
        "base-q5_1",
        59_707_625,
        "422f1ae452ade6f30a004d7e5c6a43195e4433bc370bf23fac9cc591f01a8898",
        "base, 5-bit: small and fast, slightly worse than base"
    ),
    whisper!(
        "base-q8_0",
        81_768_585,
        "c577b9a86e7e048a0b7eada054f4dd79a56bbfa911fbdacf900ac5b567cbb7d9",
        "base, 8-bit: as good as base, half the size"
    ),
    whisper!(
        "small",
        487_601_967,
        "1be3a9b2063867b937e64e2ec7483364a79917e157fa98c5d94b5c1fffea987b",
        "good Russian, about 5x faster than real time on 4 laptop cores"
    ),
    whisper!(
        "small-q5_1",
        190_085_487,
        "ae85e4a935d7a567bd102fe55afc16bb595bdb618e11b2fc7591bc08120411bb",
        "small, 5-bit: good for dictation on slow machines"
    ),
    whisper!(
        "small-q8_0",
        264_464_607,
        "49c8fb02b65e6049d5fa6c04f81f53b867b5ec9540406812c643f177317f779f",
        "small, 8-bit: as good as small, half the size"
    ),
    whisper!(
        "medium",
        1_533_763_059,
        "6c14d5adee5f86394037b4e4e8b59f1673b6cee10e3cf0b11bbdbee79c156208",
        "very good Russian, faster than real time on 4 laptop cores"
    ),
    whisper!(
        "medium-q5_0",
        539_212_467,
        "19fea4b380c3a618ec4723c3eef2eb785ffba0d0538cf43f8f235e7b3b34220f",
        "medium, 5-bit: a third of the size, slightly less accurate"
    ),
    whisper!(
        "medium-q8_0",
        823_369_779,
        "42a1ffcbe4167d224232443396968db4d02d4e8e87e213d3ee2e03095dea6502",
        "medium, 8-bit: medium's accuracy at half the size"
    ),
    whisper!(
        "large-v3",
        3_095_033_483,
        "64d182b440b98d5203c4f9bd541544d84c605196c4f7b845dfa11fb23594d1e2",
        "best Russian; slower than real time without a GPU"
    ),
    whisper!(
        "large-v3-q5_0",
        1_081_140_203,
        "d75795ecff3f83b5faa89d1900604ad8c780abd5739fae406de19f23ecd98ad1",
        "large-v3, 5-bit: a third of the size, nearly as accurate"
    ),
    whisper!(
        "large-v3-turbo",
        1_624_555_275,
        "1fc70f774d38eb169993ac391eea357ef47c88757ef72ee5943879b7e8e2bc69",
        "close to large-v3 with a 4-layer decoder; real time on 4 cores, fast on a GPU"
    ),
    whisper!(
        "large-v3-turbo-q5_0",
        574_041_195,
        "394221709cd5ad1f40c46e6031ca61bce88931e6e088c188294c6d5a55ffa7e2",
        "turbo, 5-bit: near-large Russian in a medium-sized download"
    ),
    whisper!(
        "large-v3-turbo-q8_0",
        874_188_075,
        "317eb69c11673c9de1e1f0d459b253999804ec71ac4c23c17ecf5fbe24e259a1",
        "turbo, 8-bit: turbo's accuracy at half the size"
    ),
    // GigaAM-v3 (Sber, MIT): the variants whose every file's size and sha256 two independent
    // public projects agree on, at the pinned revision. The letter-only `ctc` in fp32 (one
    // source) and `rnnt` in either precision (none) are left out; `-m` takes them from a
    // directory a user downloaded.
    CatalogEntry {
        name: "gigaam-v3-e2e-rnnt-int8",
        kind: ModelKind::Gigaam,
        files: &[
            gigaam_file!(
                "v3_e2e_rnnt_encoder.int8.onnx",
                224_570_477,
                "4e0e076a6076cd110277e529b8ac8f32cd5297f7fbebad5341ae8ddb7d00817b"
            ),
            gigaam_file!(
                "v3_e2e_rnnt_decoder.int8.onnx",
                1_159_170,
                "89014e134865615b91e037157e46e389b1271e6072460efc010ea08e61e23146"
            ),
            gigaam_file!(
                "v3_e2e_rnnt_joint.int8.onnx",
                687_791,
                "ade116563dbf66e503b0994efab6b5861412743e52bf31c39fc3fffa3783d5d1"
            ),
            gigaam_file!(
                "v3_e2e_rnnt_vocab.txt",
                13_354,
                "39abae20e692998290c574e606f11a9edef2902a1995463fcff63d1490cf22b7"
            ),
            GIGAAM_CONFIG,
        ],
        summary: "GigaAM-v3 RNN-T, 8-bit: the best Russian, punctuated and cased",
    },
    CatalogEntry {
        name: "gigaam-v3-e2e-rnnt",
        kind: ModelKind::Gigaam,
        files: &[
            gigaam_file!(
                "v3_e2e_rnnt_encoder.onnx",
                885_084_534,
                "cd60b3764a832e8560ae6d3ad0b10adc1a42ffae412b9476f25620aae4f4a508"
            ),
            gigaam_file!(
                "v3_e2e_rnnt_decoder.onnx",
                4_599_910,
                "7b0a16d67fd2cb37061decc93c69e364a9ab27afee3c57495d55b1c974cf7231"
            ),
            gigaam_file!(
                "v3_e2e_rnnt_joint.onnx",
                2_712_896,
                "602ff7017a93311aad34df1437c8d7f49911353c13d6eae7a6ee7b041339465c"
            ),
            gigaam_file!(
                "v3_e2e_rnnt_vocab.txt",
                13_354,
                "39abae20e692998290c574e606f11a9edef2902a1995463fcff63d1490cf22b7"
            ),
            GIGAAM_CONFIG,
        ],
        summary: "GigaAM-v3 RNN-T, full precision: as the 8-bit one, four times the download",
    },
    CatalogEntry {
        name: "gigaam-v3-e2e-ctc-int8",
        kind: ModelKind::Gigaam,
        files: &[
            gigaam_file!(
                "v3_e2e_ctc.int8.onnx",
                224_893_347,
                "2e3fcb7a7b66030336fd10c2fcfb033bd1dc7e1bf238fe5cfd83b1d0cfc9d28e"
            ),
            gigaam_file!(
                "v3_e2e_ctc_vocab.txt",
                2_007,
                "142de7570b3de5b3035ce111a89c228e80e6085273731d944093ddf24fa539cd"
            ),
            GIGAAM_CONFIG,
        ],
        summary: "GigaAM-v3 CTC, 8-bit: punctuated and cased, a little faster than RNN-T",
    },
    CatalogEntry {
        name: "gigaam-v3-e2e-ctc",
        kind: ModelKind::Gigaam,
        files: &[
            gigaam_file!(
                "v3_e2e_ctc.onnx",
                885_950_079,
                "377701bd33568f4733feec2db5b2dc12544fd09a5a5dfa69ccf55d161f84027a"
            ),
            gigaam_file!(
                "v3_e2e_ctc_vocab.txt",
                2_007,
                "142de7570b3de5b3035ce111a89c228e80e6085273731d944093ddf24fa539cd"
            ),
            GIGAAM_CONFIG,
        ],
        summary: "GigaAM-v3 CTC, full precision",
    },
    CatalogEntry {
        name: "gigaam-v3-ctc-int8",
        kind: ModelKind::Gigaam,
        files: &[
            gigaam_file!(
                "v3_ctc.int8.onnx",
                224_721_181,
                "ceb61454e2e1a2dec5872cbac1de0fe0a4271d1148f6b26b5bda53ff30a12acd"
            ),
            gigaam_file!(
                "v3_vocab.txt",
                198,
                "a9143c30844d3c0bee3e9e927e4084774eb1b9eeaafc473b2c4521e4911a7c07"
            ),
            GIGAAM_CONFIG,
        ],
        summary: "GigaAM-v3 CTC over letters, 8-bit: lowercase, no punctuation",
    },
    CatalogEntry {
        name: "silero-v6.2.0",
        kind: ModelKind::Vad,
        files: &[CatalogFile {
            name: "ggml-silero-v6.2.0.bin",
            url: "https://huggingface.co/ggml-org/whisper-vad/resolve/main/ggml-silero-v6.2.0.bin",
            size: 885_098,
            sha256: "2aa269b785eeb53a82983a20501ddf7c1d9c48e33ab63a41391ac6c9f7fb6987",
        }],
        summary: "Silero voice-activity detection: skips silence, keeps hallucinations out",
    },
    CatalogEntry {
        name: "pyannote-wespeaker-resnet34",
        kind: ModelKind::Speakers,
        files: &[
            // pyannote's segmentation-3.0 (MIT) as sherpa-onnx exports it, at a pinned revision.
            CatalogFile {
                name: "model.onnx",
                url: "https://huggingface.co/csukuangfj/sherpa-onnx-pyannote-segmentation-3-0/resolve/9403a6902bb58e3d5ae8c7e77c3422de279db2e0/model.onnx",
                size: 5_992_913,
                sha256: "220ad67ca923bef2fa91f2390c786097bf305bceb5e261d4af67b38e938e1079",
            },
            // WeSpeaker's ResNet34 trained on VoxCeleb (CC-BY-4.0), WeSpeaker's own export.
            CatalogFile {
                name: "voxceleb_resnet34.onnx",
                url: "https://huggingface.co/Wespeaker/wespeaker-voxceleb-resnet34/resolve/main/voxceleb_resnet34.onnx",
                size: 26_534_127,
                sha256: "9fea6516d7ad6bf0a76c7689f5a49b65d330fad6dde96c91bb4435ffbfe056a1",
            },
        ],
        summary: "speaker labels by voice: pyannote segmentation-3.0 + WeSpeaker ResNet34",
    },
];

impl CatalogEntry {
    /// Bytes to download, all files together.
    pub fn size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// Whether the model is one file (stored as that file, not as a directory).
    pub fn is_single_file(&self) -> bool {
        self.files.len() == 1
    }

    /// The model's first (for a single-file model, its only) file.
    pub fn file(&self) -> &'static CatalogFile {
        &self.files[0]
    }
}

impl CatalogFile {
    /// The download URL, with [`UPSTREAM_HOST`] replaced by `base` when one is given (a mirror,
    /// or a test server): `http://127.0.0.1:8080` turns
    /// `https://huggingface.co/ggerganov/whisper.cpp/resolve/main/ggml-small.bin` into
    /// `http://127.0.0.1:8080/ggerganov/whisper.cpp/resolve/main/ggml-small.bin`.
    pub fn url_with_base(&self, base: Option<&str>) -> String {
        match base {
            Some(base) => {
                let path = self.url.strip_prefix(UPSTREAM_HOST).unwrap_or(self.url);
                format!("{}{path}", base.trim_end_matches('/'))
            }
            None => self.url.to_owned(),
        }
    }
}

/// The catalogue entry called `name`, or the single-file entry whose file is called `name`
/// (`ggml-small.bin`).
pub fn find(name: &str) -> Option<&'static CatalogEntry> {
    CATALOG
        .iter()
        .find(|e| e.name == name || (e.is_single_file() && e.file().name == name))
}

/// For an English-only model name (`small.en`, `ggml-base.en.bin`), the multilingual catalogue
/// model to use instead; `None` for any other name.
pub fn multilingual_instead_of(name: &str) -> Option<&'static str> {
    let stem = name
        .strip_prefix("ggml-")
        .unwrap_or(name)
        .trim_end_matches(".bin");
    let (size, quant) = match stem.split_once(".en") {
        Some((size, rest)) if rest.is_empty() || rest.starts_with('-') => (size, rest),
        _ => return None,
    };
    let wanted = format!("{size}{quant}");
    find(&wanted)
        .or_else(|| find(size))
        .filter(|e| e.kind == ModelKind::Whisper)
        .map(|e| e.name)
}

/// The directory downloaded models live in, and the names they have there.
///
/// A catalogue model lives under its upstream file name (`ggml-small.bin`); a model downloaded
/// from elsewhere under `ggml-NAME.bin`, so either can be named on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelStore {
    /// The directory.
    pub dir: PathBuf,
}

/// A model file found in a [`ModelStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredModel {
    /// The name to use on the command line: the catalogue name, or `NAME` of `ggml-NAME.bin`.
    pub name: String,
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// The catalogue entry, for catalogue models.
    pub entry: Option<&'static CatalogEntry>,
}

impl ModelStore {
    /// A store in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// `RECH_MODELS_DIR` when set (and not empty), else the platform's cache directory:
    /// `~/.cache/rech/models` on Linux (`$XDG_CACHE_HOME/rech/models`),
    /// `~/Library/Caches/rech/models` on macOS, `%LOCALAPPDATA%\rech\models` on Windows.
    /// `None` only when no home directory can be found.
    pub fn from_env() -> Option<Self> {
        if let Some(dir) = std::env::var_os("RECH_MODELS_DIR").filter(|d| !d.is_empty()) {
            return Some(Self::new(dir));
        }
        directories::BaseDirs::new().map(|dirs| Self::new(dirs.cache_dir().join("rech/models")))
    }

    /// Where a catalogue model lives (whether or not it is there): its file for a single-file
    /// model, its directory (named after the model) otherwise.
    pub fn entry_path(&self, entry: &CatalogEntry) -> PathBuf {
        if entry.is_single_file() {
            self.dir.join(entry.file().name)
        } else {
            self.dir.join(entry.name)
        }
    }

    /// Where one file of a catalogue model lives.
    pub fn file_path(&self, entry: &CatalogEntry, file: &CatalogFile) -> PathBuf {
        if entry.is_single_file() {
            self.dir.join(file.name)
        } else {
            self.dir.join(entry.name).join(file.name)
        }
    }

    /// Where a model downloaded under `name` from outside the catalogue lives.
    pub fn custom_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("ggml-{name}.bin"))
    }

    /// The installed model called `name` (catalogue name, custom name or file name), if its
    /// file is there.
    pub fn find_installed(&self, name: &str) -> Option<StoredModel> {
        let (path, entry) = match find(name) {
            Some(entry) => (self.entry_path(entry), Some(entry)),
            None if is_valid_custom_name(name) => (self.custom_path(name), None),
            None => return None,
        };
        let size = match entry {
            Some(e) if !e.is_single_file() => self.stored_size(e)?,
            _ => std::fs::metadata(&path).ok().filter(|m| m.is_file())?.len(),
        };
        Some(StoredModel {
            name: entry.map_or_else(|| name.to_owned(), |e| e.name.to_owned()),
            path,
            size,
            entry,
        })
    }

    /// The bytes of a multi-file model's files that are in its directory, if the directory is
    /// there.
    fn stored_size(&self, entry: &CatalogEntry) -> Option<u64> {
        let dir = self.entry_path(entry);
        if !dir.is_dir() {
            return None;
        }
        Some(
            entry
                .files
                .iter()
                .filter_map(|f| std::fs::metadata(self.file_path(entry, f)).ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum(),
        )
    }

    /// Every model in the directory (`*.bin` files, and the directories of multi-file
    /// catalogue models; partial downloads and lock files are not models), sorted by name. An
    /// absent directory holds no models.
    pub fn list(&self) -> io::Result<Vec<StoredModel>> {
        let read = match std::fs::read_dir(&self.dir) {
            Ok(read) => read,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for item in read {
            let item = item?;
            let file_name = item.file_name().to_string_lossy().into_owned();
            if !file_name.ends_with(".bin") {
                continue;
            }
            let Ok(meta) = item.metadata() else { continue };
            if !meta.is_file() {
                continue;
            }
            let entry = find(&file_name);
            let name = match entry {
                Some(e) => e.name.to_owned(),
                None => file_name
                    .strip_prefix("ggml-")
                    .unwrap_or(&file_name)
                    .trim_end_matches(".bin")
                    .to_owned(),
            };
            out.push(StoredModel {
                name,
                path: item.path(),
                size: meta.len(),
                entry,
            });
        }
        for entry in CATALOG.iter().filter(|e| !e.is_single_file()) {
            if let Some(size) = self.stored_size(entry) {
                out.push(StoredModel {
                    name: entry.name.to_owned(),
                    path: self.entry_path(entry),
                    size,
                    entry: Some(entry),
                });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }
}

/// A size as the catalogue and the CLI show it: `785 MiB`, `1.4 GiB`, `864 KiB`.
pub fn human_size(bytes: u64) -> String {
    const KIB: f64 = 1024.0;
    let b = bytes as f64;
    if b >= KIB * KIB * KIB {
        format!("{:.1} GiB", b / (KIB * KIB * KIB))
    } else if b >= KIB * KIB {
        format!("{:.0} MiB", b / (KIB * KIB))
    } else if b >= KIB {
        format!("{:.0} KiB", b / KIB)
    } else {
        format!("{bytes} B")
    }
}

/// Whether `name` can name a model downloaded from outside the catalogue: 1 to 64 ASCII
/// letters, digits, `.`, `_` or `-`, not starting with `.` or `-` (it becomes part of a file
/// name, so nothing that could leave the model directory).
pub fn is_valid_custom_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with(['.', '-'])
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// The lowercase hex sha256 text, if `text` is one (64 hex digits, either case).
pub fn normalize_sha256(text: &str) -> Option<String> {
    let text = text.trim();
    (text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit()))
        .then(|| text.to_ascii_lowercase())
}

/// Whether `path` names a file in the catalogue's upstream layout that rech could download
/// again: the catalogue entry whose file name matches the path's file name.
pub fn entry_for_path(path: &Path) -> Option<&'static CatalogEntry> {
    path.file_name().and_then(|n| n.to_str()).and_then(|n| {
        CATALOG
            .iter()
            .find(|e| e.is_single_file() && e.file().name == n)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const WHISPER_CPP: &str = "https://huggingface.co/ggerganov/whisper.cpp/resolve/main/";
    const GIGAAM: &str =
        "https://huggingface.co/istupakov/gigaam-v3-onnx/resolve/322c3b29492673eb7d0b434bfa9dfb8653e34d02/";

    #[test]
    fn every_entry_is_well_formed() {
        for e in CATALOG {
            assert!(!e.files.is_empty(), "{}", e.name);
            for f in e.files {
                assert!(
                    f.url.starts_with(UPSTREAM_HOST) && f.url.ends_with(f.name),
                    "{}: {}",
                    e.name,
                    f.url
                );
                assert!(!f.url.contains(char::is_whitespace), "{}", f.url);
                let weights = f.name.ends_with(".bin") || f.name.ends_with(".onnx");
                assert!(
                    f.size > if weights { 100_000 } else { 100 },
                    "{} is {} bytes",
                    f.name,
                    f.size
                );
                assert_eq!(normalize_sha256(f.sha256).as_deref(), Some(f.sha256));
            }
            assert!(!e.summary.is_empty() && e.summary.len() <= 90, "{}", e.name);
            assert!(!e.name.contains(".en"), "{} is English-only", e.name);
        }
        let files: Vec<&CatalogFile> = CATALOG.iter().flat_map(|e| e.files).collect();
        for (i, a) in CATALOG.iter().enumerate() {
            for b in &CATALOG[i + 1..] {
                assert_ne!(a.name, b.name);
            }
        }
        for (i, a) in files.iter().enumerate() {
            for b in &files[i + 1..] {
                // A file shared by several models (a vocabulary, config.json) is one file.
                assert_eq!(
                    a.url == b.url,
                    a.sha256 == b.sha256,
                    "{} and {}",
                    a.url,
                    b.url
                );
            }
        }
        for e in CATALOG {
            let host = match e.kind {
                ModelKind::Whisper => WHISPER_CPP,
                ModelKind::Gigaam => GIGAAM,
                ModelKind::Vad | ModelKind::Speakers => UPSTREAM_HOST,
            };
            assert!(
                e.files.iter().all(|f| f.url.starts_with(host)),
                "{}",
                e.name
            );
            if e.kind == ModelKind::Gigaam {
                let names: Vec<&str> = e.files.iter().map(|f| f.name).collect();
                assert!(names.contains(&"config.json"), "{}", e.name);
                assert!(names.iter().any(|n| n.ends_with("vocab.txt")), "{}", e.name);
                // Every file the GigaAM engine needs, named as it looks for them.
                assert!(names.iter().any(|n| n.ends_with(".onnx")), "{}", e.name);
            }
        }
    }

    #[test]
    fn sizes_read_like_the_catalogue() {
        assert_eq!(human_size(823_369_779), "785 MiB");
        assert_eq!(human_size(1_624_555_275), "1.5 GiB");
        assert_eq!(human_size(885_098), "864 KiB");
        assert_eq!(human_size(12), "12 B");
    }

    #[test]
    fn defaults_are_in_the_catalogue() {
        assert_eq!(
            find(DEFAULT_MODEL).map(|e| e.kind),
            Some(ModelKind::Whisper)
        );
        assert_eq!(
            find(DEFAULT_VAD_MODEL).map(|e| e.kind),
            Some(ModelKind::Vad)
        );
        assert_eq!(
            find(DEFAULT_RUSSIAN_MODEL).map(|e| e.kind),
            Some(ModelKind::Gigaam)
        );
        // Two files, segmentation first (what `rech::fetch` relies on).
        let speakers = find(DEFAULT_SPEAKER_MODEL).expect("the speaker models");
        assert_eq!(speakers.kind, ModelKind::Speakers);
        assert_eq!(speakers.files.len(), 2);
        assert!(speakers.files[0].url.contains("segmentation"));
    }

    #[test]
    fn names_and_file_names_both_find_an_entry() {
        assert_eq!(find("small").map(|e| e.file().name), Some("ggml-small.bin"));
        assert_eq!(find("ggml-small.bin").map(|e| e.name), Some("small"));
        assert!(find("small.en").is_none());
        assert!(find("").is_none());
    }

    #[test]
    fn english_only_names_point_to_the_multilingual_model() {
        assert_eq!(multilingual_instead_of("small.en"), Some("small"));
        assert_eq!(multilingual_instead_of("ggml-base.en.bin"), Some("base"));
        assert_eq!(multilingual_instead_of("tiny.en-q5_1"), Some("tiny-q5_1"));
        assert_eq!(
            multilingual_instead_of("medium.en-q8_0"),
            Some("medium-q8_0")
        );
        assert_eq!(multilingual_instead_of("small"), None);
        assert_eq!(multilingual_instead_of("encoder"), None);
    }

    #[test]
    fn the_base_url_replaces_only_the_host() {
        let e = find("small").unwrap().file();
        assert_eq!(e.url_with_base(None), e.url);
        assert_eq!(
            e.url_with_base(Some("http://127.0.0.1:8080/")),
            "http://127.0.0.1:8080/ggerganov/whisper.cpp/resolve/main/ggml-small.bin"
        );
        assert_eq!(
            find("silero-v6.2.0")
                .unwrap()
                .file()
                .url_with_base(Some("https://mirror.example/hf")),
            "https://mirror.example/hf/ggml-org/whisper-vad/resolve/main/ggml-silero-v6.2.0.bin"
        );
    }

    #[test]
    fn custom_names_cannot_leave_the_directory() {
        for good in ["ru-finetune", "whisper_ru.v2", "a"] {
            assert!(is_valid_custom_name(good), "{good}");
        }
        for bad in [
            "",
            "../x",
            "a/b",
            "a\\b",
            ".hidden",
            "-flag",
            "имя",
            &"x".repeat(65),
        ] {
            assert!(!is_valid_custom_name(bad), "{bad}");
        }
    }

    #[test]
    fn the_store_lists_models_and_skips_partial_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = ModelStore::new(dir.path());
        assert!(store.list().unwrap().is_empty());
        std::fs::write(dir.path().join("ggml-small.bin"), b"x").unwrap();
        std::fs::write(dir.path().join("ggml-ru.bin"), b"xy").unwrap();
        std::fs::write(dir.path().join("ggml-base.bin.part"), b"x").unwrap();
        std::fs::write(dir.path().join("ggml-base.bin.lock"), b"").unwrap();
        let names: Vec<_> = store.list().unwrap().into_iter().map(|m| m.name).collect();
        assert_eq!(names, ["ru", "small"]);
        assert_eq!(store.find_installed("ru").map(|m| m.size), Some(2));
        assert!(store.find_installed("small").unwrap().entry.is_some());
        assert!(store.find_installed("base").is_none());
        assert!(store.find_installed("../etc").is_none());
        let gone = ModelStore::new(dir.path().join("missing"));
        assert!(gone.list().unwrap().is_empty());
    }
}
