//! Which files make a GigaAM-v3 model, in the layout users download (Hugging Face
//! `istupakov/gigaam-v3-onnx`, which onnx-asr reads): `v3_ctc.onnx`,
//! `v3_rnnt_{encoder,decoder,joint}.onnx`, `v3_e2e_ctc.onnx`,
//! `v3_e2e_rnnt_{encoder,decoder,joint}.onnx`, each also as `*.int8.onnx`, with
//! `v3_vocab.txt`, `v3_e2e_ctc_vocab.txt`, `v3_e2e_rnnt_vocab.txt` and `config.json`. A path to
//! any one `.onnx` file of a model finds the rest beside it by prefix and precision, so the
//! directory holding every variant works as it is; so does a directory holding one variant.

use std::path::{Path, PathBuf};

/// The four GigaAM-v3 recognisers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    /// CTC head over Cyrillic letters: lowercase, no punctuation.
    Ctc,
    /// RNN-T head over Cyrillic letters: lowercase, no punctuation.
    Rnnt,
    /// CTC head over SentencePiece pieces: punctuated and cased text.
    E2eCtc,
    /// RNN-T head over SentencePiece pieces: punctuated and cased text.
    E2eRnnt,
}

impl Variant {
    /// Every variant.
    pub const ALL: [Variant; 4] = [
        Variant::Ctc,
        Variant::Rnnt,
        Variant::E2eCtc,
        Variant::E2eRnnt,
    ];

    /// The name in file names and in onnx-asr (`ctc`, `e2e_rnnt`).
    pub fn stem(self) -> &'static str {
        match self {
            Variant::Ctc => "ctc",
            Variant::Rnnt => "rnnt",
            Variant::E2eCtc => "e2e_ctc",
            Variant::E2eRnnt => "e2e_rnnt",
        }
    }

    /// Whether the head is a transducer (encoder, decoder and joint files).
    pub fn is_rnnt(self) -> bool {
        matches!(self, Variant::Rnnt | Variant::E2eRnnt)
    }

    /// Whether the text comes punctuated and cased.
    pub fn is_e2e(self) -> bool {
        matches!(self, Variant::E2eCtc | Variant::E2eRnnt)
    }

    /// Classes of the head, the blank included.
    pub fn classes(self) -> usize {
        match self {
            Variant::Ctc | Variant::Rnnt => 34,
            Variant::E2eCtc => 257,
            Variant::E2eRnnt => 1025,
        }
    }

    fn vocab_file(self) -> &'static str {
        match self {
            Variant::Ctc | Variant::Rnnt => "v3_vocab.txt",
            Variant::E2eCtc => "v3_e2e_ctc_vocab.txt",
            Variant::E2eRnnt => "v3_e2e_rnnt_vocab.txt",
        }
    }

    fn parts(self) -> &'static [&'static str] {
        if self.is_rnnt() {
            &["_encoder", "_decoder", "_joint"]
        } else {
            &[""]
        }
    }
}

/// The files of one model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFiles {
    /// Which recogniser.
    pub variant: Variant,
    /// Whether the int8 files are used.
    pub int8: bool,
    /// The graphs: the CTC model, or the RNN-T encoder, decoder and joint, in that order.
    pub graphs: Vec<PathBuf>,
    /// The vocabulary.
    pub vocab: PathBuf,
    /// onnx-asr's `config.json`, where there is one.
    pub config: Option<PathBuf>,
}

/// Why no model could be put together from a path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilesError {
    /// The file name is not one of a GigaAM-v3 model's.
    #[error("{name} is not a GigaAM-v3 file name (v3_ctc.onnx, v3_e2e_rnnt_encoder.int8.onnx, …)")]
    UnknownName {
        /// The file name.
        name: String,
    },
    /// A file the model needs is not beside the one given.
    #[error("{missing} is missing beside it")]
    Missing {
        /// The missing file's name.
        missing: String,
    },
    /// A directory with no model in it.
    #[error("it holds no GigaAM-v3 model (v3_*.onnx with its vocabulary)")]
    Empty,
    /// A directory with several models: which one is meant?
    #[error("it holds {count} GigaAM-v3 models ({names}); pass the .onnx file of the one to use")]
    Several {
        /// How many.
        count: usize,
        /// Their first files.
        names: String,
    },
}

/// The variant and precision a GigaAM-v3 file name belongs to:
/// `v3_<variant>[_encoder|_decoder|_joint][.int8].onnx`.
pub fn parse_name(name: &str) -> Option<(Variant, bool)> {
    let stem = name.strip_prefix("v3_")?.strip_suffix(".onnx")?;
    let (stem, int8) = match stem.strip_suffix(".int8") {
        Some(s) => (s, true),
        None => (stem, false),
    };
    Variant::ALL.into_iter().find_map(|v| {
        let part = stem.strip_prefix(v.stem())?;
        v.parts().contains(&part).then_some((v, int8))
    })
}

/// The model whose file `file` is (any of its graphs).
pub fn from_file(file: &Path) -> Result<ModelFiles, FilesError> {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (variant, int8) = parse_name(&name).ok_or(FilesError::UnknownName { name })?;
    let dir = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    assemble(&dir, variant, int8)
}

/// The one model in `dir`; fp32 when both precisions of it are there.
pub fn from_dir(dir: &Path) -> Result<ModelFiles, FilesError> {
    let mut found = Vec::new();
    for variant in Variant::ALL {
        for int8 in [false, true] {
            if let Ok(files) = assemble(dir, variant, int8) {
                found.push(files);
            }
        }
    }
    // Two precisions of one variant are one model.
    let variants: Vec<Variant> = {
        let mut v: Vec<Variant> = found.iter().map(|f| f.variant).collect();
        v.dedup();
        v
    };
    match variants.len() {
        0 => Err(FilesError::Empty),
        1 => Ok(found.swap_remove(0)),
        count => Err(FilesError::Several {
            count,
            names: variants
                .iter()
                .map(|v| format!("v3_{}", v.stem()))
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

fn assemble(dir: &Path, variant: Variant, int8: bool) -> Result<ModelFiles, FilesError> {
    let precision = if int8 { ".int8" } else { "" };
    let mut graphs = Vec::new();
    for part in variant.parts() {
        let name = format!("v3_{}{part}{precision}.onnx", variant.stem());
        let path = dir.join(&name);
        if !path.is_file() {
            return Err(FilesError::Missing { missing: name });
        }
        graphs.push(path);
    }
    let vocab = dir.join(variant.vocab_file());
    if !vocab.is_file() {
        return Err(FilesError::Missing {
            missing: variant.vocab_file().to_owned(),
        });
    }
    let config = Some(dir.join("config.json")).filter(|c| c.is_file());
    Ok(ModelFiles {
        variant,
        int8,
        graphs,
        vocab,
        config,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_give_variant_and_precision() {
        assert_eq!(parse_name("v3_ctc.onnx"), Some((Variant::Ctc, false)));
        assert_eq!(
            parse_name("v3_e2e_rnnt_encoder.int8.onnx"),
            Some((Variant::E2eRnnt, true))
        );
        assert_eq!(
            parse_name("v3_rnnt_joint.onnx"),
            Some((Variant::Rnnt, false))
        );
        assert_eq!(parse_name("v3_rnnt.onnx"), None);
        assert_eq!(parse_name("v3_ctc_encoder.onnx"), None);
        assert_eq!(parse_name("v2_ctc.onnx"), None);
        assert_eq!(parse_name("ggml-small.bin"), None);
    }

    fn touch(dir: &Path, names: &[&str]) {
        for n in names {
            std::fs::write(dir.join(n), b"x").unwrap();
        }
    }

    #[test]
    fn a_file_finds_its_siblings_and_a_directory_its_one_model() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        touch(
            d,
            &["v3_rnnt_encoder.int8.onnx", "v3_rnnt_decoder.int8.onnx"],
        );
        let err = from_file(&d.join("v3_rnnt_encoder.int8.onnx")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "v3_rnnt_joint.int8.onnx is missing beside it"
        );
        touch(d, &["v3_rnnt_joint.int8.onnx"]);
        assert_eq!(
            from_file(&d.join("v3_rnnt_decoder.int8.onnx")).unwrap_err(),
            FilesError::Missing {
                missing: "v3_vocab.txt".into()
            }
        );
        touch(d, &["v3_vocab.txt", "config.json"]);
        let files = from_file(&d.join("v3_rnnt_decoder.int8.onnx")).unwrap();
        assert_eq!((files.variant, files.int8), (Variant::Rnnt, true));
        assert_eq!(files.graphs[0], d.join("v3_rnnt_encoder.int8.onnx"));
        assert_eq!(files.config, Some(d.join("config.json")));
        assert_eq!(from_dir(d).unwrap(), files);
        touch(d, &["v3_ctc.onnx"]);
        assert!(matches!(
            from_dir(d),
            Err(FilesError::Several { count: 2, .. })
        ));
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(from_dir(empty.path()), Err(FilesError::Empty));
    }

    /// Every GigaAM entry of rech's catalogue downloads exactly the files this module looks for.
    #[test]
    fn catalogue_entries_make_whole_models() {
        use rech_asr::catalog::{ModelKind, CATALOG};
        let mut seen = 0;
        for entry in CATALOG.iter().filter(|e| e.kind == ModelKind::Gigaam) {
            let dir = tempfile::tempdir().unwrap();
            let names: Vec<&str> = entry.files.iter().map(|f| f.name).collect();
            touch(dir.path(), &names);
            let files = from_dir(dir.path()).unwrap_or_else(|e| panic!("{}: {e}", entry.name));
            assert_eq!(
                entry.name.replace('-', "_"),
                format!(
                    "gigaam_v3_{}{}",
                    files.variant.stem(),
                    if files.int8 { "_int8" } else { "" }
                )
            );
            assert_eq!(files.graphs.len() + 2, entry.files.len(), "{}", entry.name);
            seen += 1;
        }
        assert!(seen >= 4);
    }
}
