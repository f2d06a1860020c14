//! rech-diarize's stages against pyannote.audio's own code on fixed inputs: the fixtures in
//! `tests/data`, written by scripts/make-diarize-models.py with torch and pyannote.audio (which
//! CI does not install) beside the random-weight models they came from.

use rech_asr::Turn;
use rech_diarize::aggregate::{aggregate, speaker_count, AggregateOptions, Grid, Windows};
use rech_diarize::cluster::ClusterOptions;
use rech_diarize::fbank::{subtract_mean, Fbank, FbankOptions};
use rech_diarize::models::{Embedder, Segmentation};
use rech_diarize::pipeline::{assign, reconstruct, turns, DiarizeOptions, Diarizer};
use rech_diarize::powerset::Powerset;
use rech_testkit::diarize::{data, fixtures};
use rech_testkit::{json_numbers, largest_difference, needs, shared_dir};

/// A fixture array: its values and its shape.
fn array(entry: &serde_json::Value) -> (Vec<f32>, Vec<usize>) {
    let bytes = std::fs::read(data().join(entry["file"].as_str().unwrap())).unwrap();
    let values: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let shape: Vec<usize> = entry["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    assert_eq!(values.len(), shape.iter().product::<usize>());
    (values, shape)
}

#[needs(shared)]
#[test]
fn the_fbank_is_pyannotes_wespeaker_front_end() {
    let fixtures = fixtures();
    let entry = &fixtures["fbank"];
    let wav = shared_dir()
        .join("audio/ru")
        .join(entry["recording"].as_str().unwrap());
    let mut reader = hound::WavReader::open(wav).unwrap();
    // pyannote.audio scales [-1, 1] audio by 2^15 before the fbank.
    let samples: Vec<f32> = reader
        .samples::<i16>()
        .map(|s| f32::from(s.unwrap()))
        .collect();
    let fbank = Fbank::new(FbankOptions::default()).unwrap();
    let mut ours = fbank.compute(&samples);
    subtract_mean(&mut ours, fbank.bins());
    let (theirs, shape) = array(entry);
    assert_eq!(shape, [ours.len() / 80, 80]);
    let worst = largest_difference(&ours, &theirs);
    assert!(worst < 2e-3, "largest difference {worst}");
}

#[test]
fn the_powerset_is_read_as_pyannote_reads_it() {
    let fixtures = fixtures();
    let powerset = Powerset::segmentation_3();
    let (scores, shape) = array(&fixtures["powerset"]["scores"]);
    assert_eq!(shape[1], powerset.classes());
    let (hard, _) = array(&fixtures["powerset"]["hard"]);
    let ours: Vec<f32> = powerset
        .hard(&scores)
        .iter()
        .map(|&v| f32::from(v))
        .collect();
    assert_eq!(ours, hard);
    let (soft, _) = array(&fixtures["powerset"]["soft"]);
    let worst = largest_difference(&powerset.soft(&scores), &soft);
    assert!(worst < 1e-5, "largest difference {worst}");
    // The random-weight model's own output reads the same way too.
    let (y, _) = array(&fixtures["segmentation"]);
    let (multilabel, _) = array(&fixtures["multilabel"]);
    let ours: Vec<f32> = powerset.hard(&y).iter().map(|&v| f32::from(v)).collect();
    assert_eq!(ours, multilabel);
}

/// 16 kHz samples in `[-1, 1]` of a shared recording.
fn recording(name: &str) -> Vec<f32> {
    let path = shared_dir().join("audio/ru").join(name);
    let mut reader = hound::WavReader::open(path).unwrap();
    reader
        .samples::<i16>()
        .map(|s| f32::from(s.unwrap()) / 32_768.0)
        .collect()
}

#[needs(shared, venv)]
#[test]
fn the_networks_compute_on_onnx_runtime_what_torch_computed() {
    rech_gigaam::runtime::use_library(&rech_testkit::ort_lib()).expect("load ONNX Runtime");
    let fixtures = fixtures();

    let mut segmentation = Segmentation::open(&data().join("segmentation-micro.onnx"), 1).unwrap();
    assert_eq!(segmentation.window(), Segmentation::WINDOW);
    let entry = &fixtures["segmentation"];
    let samples = recording(entry["recording"].as_str().unwrap());
    let ours = segmentation
        .scores(&samples[..Segmentation::WINDOW])
        .unwrap();
    let (theirs, shape) = array(entry);
    assert_eq!(shape, [589, 7]);
    // The calibrated last layer has large weights: float rounding shows at 1e-4.
    let worst = largest_difference(&ours, &theirs);
    assert!(worst < 1e-3, "segmentation: largest difference {worst}");
    let powerset = segmentation.powerset().clone();
    let (multilabel, _) = array(&fixtures["multilabel"]);
    let read: Vec<f32> = powerset.hard(&ours).iter().map(|&v| f32::from(v)).collect();
    assert_eq!(read, multilabel);
    assert!(
        multilabel.iter().any(|&v| v > 0.0),
        "the model heard nobody"
    );

    // pyannote.audio's sliding windows over a longer recording, the last one padded.
    let entry = &fixtures["sliding"];
    let long: Vec<f32> = entry["recordings"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|name| recording(name.as_str().unwrap()))
        .collect();
    assert_eq!(long.len() as u64, entry["samples"].as_u64().unwrap());
    let step = (entry["step"].as_f64().unwrap() * 16_000.0) as usize;
    let chunks = segmentation.slide(&long, step).unwrap();
    let (theirs, shape) = array(entry);
    assert_eq!(shape, [chunks.len(), 589, 7]);
    for (k, (chunk, expected)) in chunks.iter().zip(theirs.chunks(589 * 7)).enumerate() {
        assert_eq!(chunk.start, k * step);
        let worst = largest_difference(&chunk.scores, expected);
        assert!(worst < 1e-3, "chunk {k}: largest difference {worst}");
        assert_eq!(
            powerset.hard(&chunk.scores),
            powerset.hard(expected),
            "chunk {k}"
        );
    }

    let mut embedder = Embedder::open(&data().join("embedding-micro.onnx"), 1).unwrap();
    assert_eq!(embedder.dimension(), 256);
    let (fbank, _) = array(&fixtures["fbank"]);
    let (expected, _) = array(&fixtures["embedding"]);
    let worst = largest_difference(&embedder.embed_features(&fbank).unwrap(), &expected);
    assert!(worst < 1e-5, "embedding: largest difference {worst}");
    // From the audio, through rech's own fbank: the same voice.
    let audio = recording(fixtures["fbank"]["recording"].as_str().unwrap());
    let ours = embedder.embed(&audio).unwrap();
    let dot: f32 = ours.iter().zip(&expected).map(|(a, b)| a * b).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    let cosine = dot / (norm(&ours) * norm(&expected));
    assert!(cosine > 0.9999, "cosine similarity {cosine}");

    // Each file is refused as the other kind.
    let refused = Segmentation::open(&data().join("embedding-micro.onnx"), 1).unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("not a speaker segmentation model"),
        "{refused}"
    );
    let refused = Embedder::open(&data().join("segmentation-micro.onnx"), 1).unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("not a speaker embedding model"),
        "{refused}"
    );

    // A truncated or missing file is one line naming it.
    let dir = tempfile::tempdir().unwrap();
    let truncated = dir.path().join("segmentation.onnx");
    let bytes = std::fs::read(data().join("segmentation-micro.onnx")).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    for path in [truncated, dir.path().join("missing.onnx")] {
        let err = Segmentation::open(&path, 1).unwrap_err().to_string();
        assert!(err.starts_with(&path.display().to_string()), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

#[test]
fn windows_come_back_on_one_timeline_as_pyannote_aggregates_them() {
    let fixtures = fixtures();
    let powerset = Powerset::segmentation_3();
    let entry = &fixtures["sliding"];
    let (scores, shape) = array(entry);
    let binarized = Windows {
        chunks: Grid {
            start: entry["start"].as_f64().unwrap(),
            duration: 10.0,
            step: entry["chunk_step"].as_f64().unwrap(),
        },
        frames: shape[1],
        classes: 3,
        data: powerset
            .hard(&scores)
            .iter()
            .map(|&v| f32::from(v))
            .collect(),
    };
    let grid = json_numbers(&fixtures["aggregated"]["frames"]);
    assert_eq!(
        (grid[1], grid[2]),
        (
            Grid::SEGMENTATION_FRAMES.duration,
            Grid::SEGMENTATION_FRAMES.step
        )
    );
    let options = AggregateOptions {
        warm_up: (0.5, 0.5),
        hamming: true,
        ..AggregateOptions::default()
    };
    let (frames, ours) = aggregate(&binarized, &Grid::SEGMENTATION_FRAMES, &options);
    let (theirs, shape) = array(&fixtures["aggregated"]);
    assert_eq!(shape, [frames, 3]);
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        assert!(
            (a.is_nan() && b.is_nan()) || (a - b).abs() < 1e-6,
            "value {i}: {a} against {b}"
        );
    }
    assert!(
        theirs.iter().any(|v| *v > 0.2 && *v < 0.8),
        "nothing to average"
    );

    let count = speaker_count(&binarized, &Grid::SEGMENTATION_FRAMES, (0.1, 0.1));
    let (theirs, _) = array(&fixtures["count"]);
    let theirs: Vec<u8> = theirs.iter().map(|&v| v as u8).collect();
    assert_eq!(count, theirs);
    assert!(count.iter().any(|&c| c >= 2), "no overlap counted");
}

/// The pipeline fixtures' recording, 16 kHz samples in `[-1, 1]`.
fn pipeline_recording(fixtures: &serde_json::Value) -> Vec<f32> {
    rech_testkit::diarize::pipeline_samples(fixtures)
        .into_iter()
        .map(|s| f32::from(s) / 32_768.0)
        .collect()
}

/// The pipeline's windows' local speakers, as pyannote.audio found them.
fn pipeline_segmentations(fixtures: &serde_json::Value) -> Windows {
    let (data, shape) = array(&fixtures["pipeline"]["segmentations"]);
    Windows {
        chunks: Grid {
            start: 0.0,
            duration: 10.0,
            step: fixtures["pipeline"]["step"].as_f64().unwrap(),
        },
        frames: shape[1],
        classes: shape[2],
        data,
    }
}

/// The options of one of the pipeline's runs.
fn run_options(run: &serde_json::Value) -> DiarizeOptions {
    let bound = |key: &str| run["bounds"].get(key).map(|v| v.as_u64().unwrap() as usize);
    DiarizeOptions {
        clusters: ClusterOptions {
            threshold: run["threshold"].as_f64().unwrap(),
            speakers: bound("num_speakers"),
            min_speakers: bound("min_speakers"),
            max_speakers: bound("max_speakers"),
        },
        ..DiarizeOptions::default()
    }
}

/// Turns as (start, end, speaker) with speakers numbered as pyannote.audio labels them (in
/// the order of their numbers among those that speak), sorted.
fn labelled(turns: &[Turn]) -> Vec<(f64, f64, usize)> {
    let mut speakers: Vec<usize> = turns.iter().map(|t| t.speaker).collect();
    speakers.sort_unstable();
    speakers.dedup();
    let mut out: Vec<(f64, f64, usize)> = turns
        .iter()
        .map(|t| {
            let label = speakers.binary_search(&t.speaker).unwrap();
            (t.start, t.end, label)
        })
        .collect();
    out.sort_by(|a, b| a.partial_cmp(b).unwrap());
    out
}

fn fixture_turns(run: &serde_json::Value) -> Vec<(f64, f64, usize)> {
    let mut out: Vec<(f64, f64, usize)> = run["turns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t[0].as_f64().unwrap(),
                t[1].as_f64().unwrap(),
                t[2].as_u64().unwrap() as usize,
            )
        })
        .collect();
    out.sort_by(|a, b| a.partial_cmp(b).unwrap());
    out
}

fn assert_same_turns(ours: &[(f64, f64, usize)], theirs: &[(f64, f64, usize)], what: &str) {
    assert_eq!(ours.len(), theirs.len(), "{what}: number of turns");
    for (a, b) in ours.iter().zip(theirs) {
        assert!(
            (a.0 - b.0).abs() < 1e-9 && (a.1 - b.1).abs() < 1e-9 && a.2 == b.2,
            "{what}: {a:?} against pyannote.audio's {b:?}"
        );
    }
}

#[test]
fn clusters_frames_and_turns_are_pyannotes_for_every_bound() {
    let fixtures = fixtures();
    let pipeline = &fixtures["pipeline"];
    let segmentations = pipeline_segmentations(&fixtures);
    let (count, _) = array(&pipeline["count"]);
    let count: Vec<u8> = count.iter().map(|&c| c as u8).collect();
    // The count is pyannote.audio's speaker count without warm-up.
    assert_eq!(
        speaker_count(&segmentations, &Grid::SEGMENTATION_FRAMES, (0.0, 0.0)),
        count
    );
    let (embeddings, shape) = array(&pipeline["embeddings"]);
    let embeddings: Vec<Option<Vec<f32>>> = embeddings
        .chunks(shape[2])
        .map(|e| (!e[0].is_nan()).then(|| e.to_vec()))
        .collect();
    let runs = pipeline["runs"].as_object().unwrap();
    let mut speakers_seen = std::collections::BTreeSet::new();
    for (name, run) in runs {
        let options = run_options(run);
        let (clusters, _) = array(&run["clusters"]);
        let theirs: Vec<i32> = clusters.iter().map(|&c| c as i32).collect();
        let ours = if options.clusters.max_speakers == Some(1) {
            // pyannote.audio does not cluster for one speaker at most; neither does
            // Diarizer::diarize.
            theirs.clone()
        } else {
            assign(&embeddings, &segmentations, &options).unwrap()
        };
        assert_eq!(ours, theirs, "{name}: clusters");
        let max = options
            .clusters
            .speakers
            .or(options.clusters.max_speakers)
            .unwrap_or(usize::MAX);
        let clipped: Vec<u8> = count
            .iter()
            .map(|&c| usize::from(c).min(max) as u8)
            .collect();
        let frames = reconstruct(&segmentations, &theirs, &clipped);
        let (discrete, shape) = array(&run["discrete"]);
        assert_eq!(
            [frames.data.len() / frames.speakers, frames.speakers],
            [shape[0], shape[1]],
            "{name}"
        );
        assert_eq!(frames.grid.start, run["discrete_start"].as_f64().unwrap());
        assert_eq!(frames.data, discrete, "{name}: frames");
        assert_same_turns(&labelled(&turns(&frames)), &fixture_turns(run), name);
        speakers_seen.insert(frames.speakers);
    }
    // The runs are not all alike: one speaker and two were found.
    assert!(speakers_seen.len() > 1, "{speakers_seen:?}");
}

#[needs(shared, venv)]
#[test]
fn embeddings_and_whole_runs_are_pyannotes() {
    rech_gigaam::runtime::use_library(&rech_testkit::ort_lib()).expect("load ONNX Runtime");
    let fixtures = fixtures();
    let pipeline = &fixtures["pipeline"];
    let samples = pipeline_recording(&fixtures);
    let mut diarizer = Diarizer::open(
        &data().join("segmentation-micro.onnx"),
        &data().join("embedding-micro.onnx"),
        1,
    )
    .unwrap();
    assert_eq!(
        diarizer.min_samples() as u64,
        pipeline["min_num_samples"].as_u64().unwrap()
    );
    // The windows' local speakers.
    let segmentations = pipeline_segmentations(&fixtures);
    let ours = diarizer.segment(&samples, 16_000).unwrap();
    assert_eq!(
        (ours.chunks, ours.frames, ours.classes, ours.data.len()),
        (
            segmentations.chunks,
            segmentations.frames,
            segmentations.classes,
            segmentations.data.len()
        )
    );
    let differ: Vec<usize> = (0..ours.data.len())
        .filter(|&i| ours.data[i] != segmentations.data[i])
        .collect();
    assert!(
        differ.is_empty(),
        "{} values differ, first at {:?}",
        differ.len(),
        differ.first()
    );
    // Each local speaker's embedding: the same frames chosen, the same network.
    let embeddings = diarizer.embeddings(&samples, &segmentations).unwrap();
    let (theirs, shape) = array(&pipeline["embeddings"]);
    assert_eq!(embeddings.len(), shape[0] * shape[1]);
    for (i, (ours, theirs)) in embeddings.iter().zip(theirs.chunks(shape[2])).enumerate() {
        match ours {
            None => assert!(
                theirs[0].is_nan(),
                "embedding {i}: none where pyannote has one"
            ),
            Some(ours) => {
                let worst = largest_difference(ours, theirs);
                assert!(worst < 1e-4, "embedding {i}: largest difference {worst}");
            }
        }
    }
    assert!(embeddings.iter().filter(|e| e.is_some()).count() > 60);
    // Fed as a decoder feeds it, in pieces of any size: the same turns.
    let run = &pipeline["runs"]["threshold-0.2"];
    let mut stream = diarizer.stream(16_000);
    for piece in samples.chunks(7_777) {
        stream.push(piece).unwrap();
    }
    let streamed = stream.finish(&run_options(run)).unwrap();
    assert_same_turns(&labelled(&streamed.turns), &fixture_turns(run), "streamed");
    // Whole runs, audio to turns.
    for (name, run) in pipeline["runs"].as_object().unwrap() {
        let diarization = diarizer.diarize(&samples, &run_options(run)).unwrap();
        assert_same_turns(&labelled(&diarization.turns), &fixture_turns(run), name);
    }
}
