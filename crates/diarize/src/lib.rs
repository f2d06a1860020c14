//! Who spoke when in a recording that does not keep speakers apart by channel: the stages of
//! rech's neural speaker diarization, each held to a reference implementation on the same
//! input. Built so far: [`fbank`], the Kaldi-style log mel filterbank that speaker-embedding
//! models (WeSpeaker ResNet34, 3D-Speaker CAM++) are trained on, equal to kaldi-native-fbank's
//! within 1e-3 on real speech; and [`cluster`], agglomerative clustering of speaker
//! embeddings (centroid linkage, a distance threshold, a fixed or bounded number of speakers),
//! equal to scipy's on the same embeddings; and [`powerset`], segmentation-3.0's frame scores
//! read as local speakers. Speakers by channel, which need none of this, are
//! `rech::Diarize::Channels`.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod cluster;
pub mod fbank;
pub mod powerset;
