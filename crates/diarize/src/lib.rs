//! Who spoke when in a recording that does not keep speakers apart by channel: the stages of
//! rech's neural speaker diarization, each held to a reference implementation on the same
//! input. Built so far:
//!
//! - [`fbank`]: the Kaldi-style log mel filterbank speaker-embedding models (WeSpeaker
//!   ResNet34, 3D-Speaker CAM++) are trained on; equal to kaldi-native-fbank's within 1e-3 on
//!   real speech, and to pyannote.audio's WeSpeaker front end within 2e-3.
//! - [`powerset`]: pyannote's segmentation-3.0 scores read as local speakers per frame.
//! - [`models`]: the segmentation and speaker-embedding networks, run on the ONNX Runtime rech
//!   loads for GigaAM, and the segmentation's windows slid over a recording; equal to the
//!   torch models they were exported from and to pyannote.audio's `Inference`.
//! - [`aggregate`]: overlapping windows' frame scores back on one timeline, and the number of
//!   people speaking at once; equal to pyannote.audio's `Inference.aggregate` and speaker
//!   count.
//! - [`cluster`]: agglomerative clustering of speaker embeddings (centroid linkage, a distance
//!   threshold, a fixed or bounded number of speakers); equal to scipy's.
//!
//! - [`pipeline`]: the whole of pyannote.audio's speaker-diarization-3.1 on those stages:
//!   every (window, local speaker)'s embedding of the frames it holds alone, pyannote's
//!   clustering and assignment, and the speakers of each frame as turns; equal to
//!   pyannote.audio's pipeline run on the same ONNX files, from the audio to the turns.
//!
//! The turns are `rech_asr::Turn`s, which `rech_asr::assign_speakers` gives to a transcript's
//! words. Speakers by channel, which need none of this, are `rech::Diarize::Channels`.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod aggregate;
pub mod cluster;
pub mod fbank;
pub mod models;
pub mod pipeline;
pub mod powerset;
