//! Opening an input and pulling it through a decoder, a downmix and the resampler, one block at
//! a time, so callers can stream a recording of any length or collect a short one whole.

use std::fs::File;
use std::io::{self, BufReader, Cursor, Read, Seek};
use std::path::Path;

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{
    CodecType, Decoder, DecoderOptions, CODEC_TYPE_NULL, CODEC_TYPE_OPUS,
};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use crate::error::{lowercase_first, AudioError};
use crate::forward::{unsized_data_chunk, ForwardInput};
use crate::gapless::{Container, ContainerNotes, Trimmer};
use crate::limits::{check_stream, read_up_to, unsupported};
use crate::opus::{OpusDecoder, OpusHead, OPUS_RATE};
use crate::resample::StreamResampler;
use crate::source::{downmix_into, BlockSource, Mix, SourceInfo};
use crate::w64::{is_w64, W64Source};
use crate::SAMPLE_RATE;
use crate::{ffmpeg, guard, prescan};

/// Frames read from a WAV file per block.
const WAV_BLOCK_FRAMES: usize = 4096;
/// Decoded samples are clipped to ± this (full scale is 1).
const MAX_SAMPLE_MAGNITUDE: f32 = 1000.0;

/// A whole input, converted: 16 kHz mono samples in `[-1, 1]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Audio {
    /// 16 kHz mono samples.
    pub samples: Vec<f32>,
    /// What the input was.
    pub source: SourceInfo,
}

impl Audio {
    /// Length in seconds.
    pub fn duration(&self) -> f64 {
        self.samples.len() as f64 / f64::from(SAMPLE_RATE)
    }
}

/// Reads a whole input (a path, or `-` for standard input) into 16 kHz mono samples.
pub fn decode_file(path: &Path) -> Result<Audio, AudioError> {
    collect(open(path)?)
}

/// Reads a whole input that is already in memory into 16 kHz mono samples.
///
/// `name` is how messages name the input (`<memory>` when `None`); its extension, if any, is a
/// hint for the format, as a file's is. Standard input goes through the same path.
pub fn decode_bytes(bytes: Vec<u8>, name: Option<&str>) -> Result<Audio, AudioError> {
    collect(open_bytes(bytes, name)?)
}

/// Opens an input for streaming: a path, or `-` for standard input.
///
/// The format is recognised from the content (the extension is only a hint), and the header
/// is checked here, so that a bad file fails before any work is done. A file in a format rech
/// does not decode itself is decoded through ffmpeg where [`crate::ffmpeg_program`] finds one
/// (streamed through a pipe; [`SourceInfo::format`] then ends in `via ffmpeg`).
pub fn open(path: &Path) -> Result<AudioStream, AudioError> {
    if path == Path::new("-") {
        return open_reader(io::stdin(), STDIN_NAME);
    }
    let name = path.display().to_string();
    open_file(path, true, Mix::Average)?.ok_or(AudioError::UnknownFormat { path: name })
}

/// [`open`] for one channel of a file alone, counting from 0 (a call recorded with one
/// speaker per channel): the same stream, but that channel's samples instead of the average
/// of all. A channel the file does not have is [`AudioError::NoSuchChannel`]. Standard input
/// cannot be read once per channel: `-` is refused.
pub fn open_channel(path: &Path, channel: u16) -> Result<AudioStream, AudioError> {
    let name = path.display().to_string();
    if path == Path::new("-") {
        return Err(unsupported(
            &name,
            "standard input cannot be read once per channel; save it to a file first".to_owned(),
        ));
    }
    open_file(path, true, Mix::Channel(channel))?.ok_or(AudioError::UnknownFormat { path: name })
}

/// Checks, cheaply and before any model is loaded, that `path` is a readable, non-empty file
/// that rech (or ffmpeg, for the formats only it decodes) can open: the header is read as
/// [`open`] reads it, but ffmpeg is not started. `-` (stdin) is not read.
pub fn check(path: &Path) -> Result<(), AudioError> {
    if path == Path::new("-") {
        return Ok(());
    }
    open_file(path, false, Mix::Average).map(drop)
}

/// [`open`] for a file; without `ffmpeg`, a file that only ffmpeg could decode is accepted
/// unopened (`None`).
fn open_file(path: &Path, ffmpeg: bool, mix: Mix) -> Result<Option<AudioStream>, AudioError> {
    let name = path.display().to_string();
    let io_err = |source| AudioError::Io {
        path: name.clone(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io_err)?;
    if meta.is_dir() {
        return Err(io_err(io::Error::from(io::ErrorKind::IsADirectory)));
    }
    let file = File::open(path).map_err(io_err)?;
    let native = open_source(
        Box::new(file),
        Some(meta.len()),
        name.clone(),
        extension_of(path),
        false,
        mix,
    );
    // ffmpeg makes audio of almost anything (a text file comes out as GSM noise): it is asked
    // only about real media rech cannot decode (a container rech recognised, a format known by
    // its first bytes) and about files whose name says they are in one of ffmpeg's formats.
    let ffmpeg_named =
        extension_of(path).is_some_and(|e| crate::FFMPEG_EXTENSIONS.contains(&e.as_str()));
    match native {
        Err(e @ AudioError::UnknownFormat { .. }) if !ffmpeg_named => Err(e),
        Err(e @ (AudioError::Unsupported { .. } | AudioError::UnknownFormat { .. })) => {
            match ffmpeg::ffmpeg_program() {
                Some(_) if !ffmpeg => Ok(None),
                Some(program) => {
                    through_ffmpeg(&program, path, &name, e, sniff_foreign(path), mix).map(Some)
                }
                None => Err(match e {
                    AudioError::Unsupported { path, detail } => AudioError::Unsupported {
                        path,
                        detail: format!("{detail}; {}", ffmpeg::FFMPEG_HINT),
                    },
                    other => other,
                }),
            }
        }
        other => other.map(Some),
    }
}

/// `path` decoded by ffmpeg (`program`): its WAV output read as a stream, bounded by what the
/// input's size allows; when ffmpeg cannot either, the error says so (or, for a file rech did
/// not recognise, is `native`, rech's own).
fn through_ffmpeg(
    program: &Path,
    path: &Path,
    name: &str,
    native: AudioError,
    label: Option<&str>,
    mix: Mix,
) -> Result<AudioStream, AudioError> {
    let (pipe, len) = ffmpeg::spawn(program, path, name, label)?;
    match read_forward(pipe, name, mix) {
        Ok(mut stream) => {
            // What `-v` shows as the input's format.
            stream.set_format(format!("{} via ffmpeg", label.unwrap_or("decoded")));
            stream.limit_seconds(len.max(1) as f64 / ffmpeg::MIN_BYTES_PER_SECOND as f64, len);
            Ok(stream)
        }
        Err(failed) => match label {
            Some(label) => Err(AudioError::Unsupported {
                path: name.to_owned(),
                detail: format!(
                    "{label}: rech does not decode it itself, and ffmpeg could not: {}",
                    ffmpeg::reason(&failed)
                ),
            }),
            None => Err(native),
        },
    }
}

/// The format of a file rech leaves to ffmpeg, if it is one rech knows by name.
fn sniff_foreign(path: &Path) -> Option<&'static str> {
    let mut magic = [0u8; ffmpeg::SNIFF_LEN];
    let got = read_up_to(&mut File::open(path).ok()?, &mut magic).ok()?;
    ffmpeg::foreign_format(&magic[..got])
}

/// Opens a forward-only input (standard input, a pipe, a socket) for streaming; `name` is how
/// messages name it.
///
/// A WAV (what `ffmpeg -f wav -` and `sox -t wav -` write) is decoded as it arrives, in bounded
/// memory, however long it is. Other formats are read whole first: their decoders need to seek.
pub fn open_reader<R: Read + Send + Sync + 'static>(
    reader: R,
    name: &str,
) -> Result<AudioStream, AudioError> {
    read_forward(reader, name, Mix::Average)
}

/// [`open_reader`] with the channels mixed as `mix` says.
fn read_forward<R: Read + Send + Sync + 'static>(
    reader: R,
    name: &str,
    mix: Mix,
) -> Result<AudioStream, AudioError> {
    let name = name.to_owned();
    let io_err = |source| AudioError::Io {
        path: name.clone(),
        source,
    };
    let mut input = ForwardInput::new(reader);
    let mut magic = [0u8; 12];
    let got = read_up_to(&mut input, &mut magic).map_err(io_err)?;
    input.rewind().map_err(io_err)?;
    if got == 0 {
        return Err(AudioError::Empty { path: name });
    }
    if is_riff_wave(&magic[..got]) {
        // A placeholder data length (0xFFFFFFFF, arecord's ~2 GB) means "until the stream
        // ends"; hound refuses one that is not a whole number of frames, so it becomes the
        // largest whole number of frames, and the end of the stream ends the audio.
        let sizeless = unsized_data_chunk(&mut input).unwrap_or(None);
        input.rewind().map_err(io_err)?;
        let open_ended = match sizeless {
            Some((offset, align)) => {
                let frames_len = u32::MAX - u32::MAX % u32::from(align);
                input.patch(offset, &frames_len.to_le_bytes())
            }
            None => false,
        };
        return open_source(Box::new(input), None, name, None, open_ended, mix);
    }
    let mut bytes = Vec::new();
    input.read_to_end(&mut bytes).map_err(io_err)?;
    open_memory(bytes, name, None, mix)
}

fn is_riff_wave(magic: &[u8]) -> bool {
    magic.len() == 12 && &magic[..4] == b"RIFF" && &magic[8..12] == b"WAVE"
}

/// Opens an input that is already in memory for streaming; `name` as in [`decode_bytes`].
pub fn open_bytes(bytes: Vec<u8>, name: Option<&str>) -> Result<AudioStream, AudioError> {
    let extension = name.and_then(|n| extension_of(Path::new(n)));
    open_memory(
        bytes,
        name.unwrap_or(MEMORY_NAME).to_owned(),
        extension,
        Mix::Average,
    )
}

/// How messages name standard input.
const STDIN_NAME: &str = "<stdin>";
/// How messages name an unnamed in-memory input.
const MEMORY_NAME: &str = "<memory>";

fn open_memory(
    bytes: Vec<u8>,
    name: String,
    extension: Option<String>,
    mix: Mix,
) -> Result<AudioStream, AudioError> {
    let len = bytes.len() as u64;
    open_source(
        Box::new(Cursor::new(bytes)),
        Some(len),
        name,
        extension,
        false,
        mix,
    )
}

fn extension_of(path: &Path) -> Option<String> {
    path.extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
}

/// Pulls a whole stream into memory.
fn collect(mut stream: AudioStream) -> Result<Audio, AudioError> {
    let mut samples = Vec::new();
    if let Some(seconds) = stream.info().duration() {
        // A hint only: a header can claim anything. Never reserve more than ten minutes, nor
        // more samples than the input has bytes (uncompressed audio has at least one byte per
        // sample; compressed audio just grows the vector as it decodes).
        let hinted = (seconds * f64::from(SAMPLE_RATE)) as usize;
        let bytes = stream
            .input_len
            .map_or(usize::MAX, |len| usize::try_from(len).unwrap_or(usize::MAX));
        samples.reserve(hinted.min(bytes).min(SAMPLE_RATE as usize * 600));
    }
    while stream.next_chunk(&mut samples)? {}
    Ok(Audio {
        samples,
        source: stream.info().clone(),
    })
}

/// Recognises the format of `input` (`len` bytes long; `None` for a forward-only stream, which
/// is read whole if it turns out not to be a WAV hound reads), reads its header and checks that
/// the stream is one we can convert. `open_ended`: a WAV whose audio lasts until the stream
/// ends, whatever its header says. `mix`: how its channels become one.
fn open_source(
    mut input: Box<dyn MediaSource>,
    len: Option<u64>,
    name: String,
    extension: Option<String>,
    open_ended: bool,
    mix: Mix,
) -> Result<AudioStream, AudioError> {
    let io_err = |source| AudioError::Io {
        path: name.clone(),
        source,
    };
    if len == Some(0) {
        return Err(AudioError::Empty { path: name });
    }
    let mut magic = [0u8; ffmpeg::SNIFF_LEN];
    let got = read_up_to(&mut input, &mut magic).map_err(io_err)?;
    input.rewind().map_err(io_err)?;
    let magic = &magic[..got];
    if let Some(label) = ffmpeg::foreign_format(magic) {
        return Err(unsupported(
            &name,
            format!("{label} is not a format rech decodes itself"),
        ));
    }
    let is_riff_wave = is_riff_wave(&magic[..got.min(12)]);
    let is_w64 = is_w64(magic);

    let mut source = contain(&name, "", || -> Result<Box<dyn BlockSource>, AudioError> {
        Ok(if is_w64 {
            let (input, len) = match len {
                Some(len) => (input, len),
                None => whole(input, &name)?,
            };
            Box::new(W64Source::new(input, len, &name)?)
        } else if is_riff_wave {
            match WavSource::new(input, &name, open_ended)? {
                Ok(wav) => Box::new(wav),
                // A WAV encoding hound does not read (A-law, µ-law, ADPCM): symphonia may,
                // once its chunks, rate and channel count are known to be sane.
                Err((input, complaint)) => {
                    let symphonia = prescanned(input, len, &name).and_then(|(input, notes)| {
                        SymphoniaSource::new(input, Some("wav"), &name, notes)
                    });
                    match (symphonia, complaint) {
                        (Ok(source), _) => Box::new(source),
                        // "unsupported" says more than hound's view of a compressed encoding.
                        (Err(e @ AudioError::Unsupported { .. }), _) | (Err(e), None) => {
                            return Err(e)
                        }
                        (Err(_), Some(complaint)) => return Err(complaint),
                    }
                }
            }
        } else {
            let (input, notes) = prescanned(input, len, &name)?;
            Box::new(SymphoniaSource::new(
                input,
                extension.as_deref(),
                &name,
                notes,
            )?)
        })
    })?;
    source.set_mix(mix);
    contain(&name, "", || source.prime())?;
    let info = source.info().clone();
    check_stream(&name, info.channels, info.sample_rate)?;
    if let Mix::Channel(channel) = mix {
        if channel >= info.channels {
            return Err(AudioError::NoSuchChannel {
                path: name,
                channel,
                channels: info.channels,
            });
        }
    }
    let resampler =
        StreamResampler::new(info.sample_rate).map_err(|e| unsupported(&name, e.to_string()))?;
    Ok(AudioStream {
        name,
        source,
        resampler,
        info,
        input_len: len,
        block: Vec::new(),
        native_frames: 0,
        finished: false,
        frame_limit: None,
    })
}

/// A decoding, downmixing, resampling pipeline over one input.
pub struct AudioStream {
    name: String,
    source: Box<dyn BlockSource>,
    resampler: StreamResampler,
    info: SourceInfo,
    /// Length of the input in bytes, when known (not for a stream).
    input_len: Option<u64>,
    block: Vec<f32>,
    native_frames: u64,
    finished: bool,
    /// The most input frames the stream may decode, and the input's size that set it (see
    /// [`AudioStream::limit_seconds`]).
    frame_limit: Option<(u64, u64)>,
}

impl AudioStream {
    /// Refuses, as a malformed input, audio longer than `seconds`: what an input of
    /// `input_bytes` can hold (ffmpeg's output: an input that decodes to more is not a
    /// recording).
    pub(crate) fn limit_seconds(&mut self, seconds: f64, input_bytes: u64) {
        let frames = (seconds * f64::from(self.info.sample_rate)).ceil() as u64;
        self.frame_limit = Some((frames, input_bytes));
    }

    /// What the input is.
    pub fn info(&self) -> &SourceInfo {
        &self.info
    }

    /// Says what decoded the input, for [`SourceInfo::format`].
    pub(crate) fn set_format(&mut self, format: String) {
        self.info.format = format;
    }

    /// The input's name as shown in messages (`<stdin>` for `-`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Seconds of input decoded so far, at the input's own rate.
    pub fn position(&self) -> f64 {
        self.native_frames as f64 / f64::from(self.info.sample_rate)
    }

    /// Decodes the next block and appends its 16 kHz mono samples to `out`.
    ///
    /// Returns `Ok(false)` once the input is exhausted (nothing more will be appended).
    pub fn next_chunk(&mut self, out: &mut Vec<f32>) -> Result<bool, AudioError> {
        if self.finished {
            return Ok(false);
        }
        self.block.clear();
        let (source, block) = (&mut self.source, &mut self.block);
        let more = contain(&self.name, &self.info.format, || source.next_block(block))
            .inspect_err(|_| self.finished = true)?;
        if let Some(bad) = self.block.iter().position(|s| !s.is_finite()) {
            return Err(AudioError::NonFiniteSamples {
                path: self.name.clone(),
                seconds: (self.native_frames + bad as u64) as f64
                    / f64::from(self.info.sample_rate),
            });
        }
        // Float formats can hold any finite value; the resampler's filter overshoots, so values
        // near f32::MAX would come out infinite. No recording is 60 dB over full scale.
        for s in &mut self.block {
            *s = s.clamp(-MAX_SAMPLE_MAGNITUDE, MAX_SAMPLE_MAGNITUDE);
        }
        self.native_frames += self.block.len() as u64;
        if let Some((limit, bytes)) = self.frame_limit {
            if self.native_frames > limit {
                self.finished = true;
                return Err(AudioError::Malformed {
                    path: self.name.clone(),
                    detail: format!(
                        "it decodes to more than {:.0} s of audio, more than {bytes} bytes hold \
                         in any speech codec",
                        limit as f64 / f64::from(self.info.sample_rate)
                    ),
                });
            }
        }
        self.resampler.push(&self.block, out);
        if !more {
            self.finished = true;
            if self.native_frames == 0 {
                return Err(AudioError::NoSamples {
                    path: self.name.clone(),
                });
            }
            self.resampler.finish(out);
        }
        Ok(true)
    }
}

/// Checks the lengths in `input` that symphonia would allocate from (see `prescan`); hands
/// the input back rewound, with what the container says about gapless playback.
fn prescanned(
    input: Box<dyn MediaSource>,
    len: Option<u64>,
    name: &str,
) -> Result<(Box<dyn MediaSource>, ContainerNotes), AudioError> {
    let (mut input, len) = match len {
        Some(len) => (input, len),
        None => whole(input, name)?,
    };
    let notes = prescan::check(&mut *input, len, name)?;
    Ok((rewound(input, name)?, notes))
}

/// Reads a forward-only input, from its start, into memory: symphonia's demuxers seek.
fn whole(
    input: Box<dyn MediaSource>,
    name: &str,
) -> Result<(Box<dyn MediaSource>, u64), AudioError> {
    let mut input = rewound(input, name)?;
    let mut bytes = Vec::new();
    input
        .read_to_end(&mut bytes)
        .map_err(|source| AudioError::Io {
            path: name.to_owned(),
            source,
        })?;
    let len = bytes.len() as u64;
    Ok((Box::new(Cursor::new(bytes)), len))
}

/// Runs decoder code (hound's, symphonia's, and ours around them) so that a panic inside it
/// becomes an error naming the input instead of a crash; see `guard`. `codec` names the
/// decoder in the message, when known.
fn contain<T>(
    name: &str,
    codec: &str,
    f: impl FnOnce() -> Result<T, AudioError>,
) -> Result<T, AudioError> {
    guard::contain(f).unwrap_or_else(|()| {
        let decoder = if codec.is_empty() {
            "the decoder".to_owned()
        } else {
            format!("the {codec} decoder")
        };
        Err(AudioError::Malformed {
            path: name.to_owned(),
            detail: format!("{decoder} failed on it"),
        })
    })
}

/// A [`WavSource`], or the input handed back for symphonia (see [`WavSource::new`]).
type WavOrNot = Result<WavSource, (Box<dyn MediaSource>, Option<AudioError>)>;

fn rewound(
    mut input: Box<dyn MediaSource>,
    name: &str,
) -> Result<Box<dyn MediaSource>, AudioError> {
    input.rewind().map_err(|source| AudioError::Io {
        path: name.to_owned(),
        source,
    })?;
    Ok(input)
}

struct WavSource {
    reader: hound::WavReader<BufReader<Box<dyn MediaSource>>>,
    info: SourceInfo,
    name: String,
    float: bool,
    scale: f32,
    interleaved: Vec<f32>,
    read: u64,
    /// The audio lasts until the input ends (a piped WAV without sizes): running out of data
    /// is the end, not a truncation.
    open_ended: bool,
    mix: Mix,
}

impl WavSource {
    /// `Ok(Err((input, complaint)))` hands the input back, rewound, when hound does not read
    /// its encoding, with hound's error when it thought the file damaged.
    fn new(
        input: Box<dyn MediaSource>,
        name: &str,
        open_ended: bool,
    ) -> Result<WavOrNot, AudioError> {
        let mut buffered = BufReader::new(input);
        let reader = match hound::WavReader::new(&mut buffered) {
            Ok(_) => {
                // Parsing succeeded; parse again on the owned reader (cheap: a header).
                buffered.rewind().map_err(|source| AudioError::Io {
                    path: name.to_owned(),
                    source,
                })?;
                hound::WavReader::new(buffered).map_err(|e| wav_error(name, e))?
            }
            Err(hound::Error::Unsupported) => {
                return Ok(Err((rewound(buffered.into_inner(), name)?, None)));
            }
            // hound checks that the byte rate matches uncompressed samples, which compressed
            // encodings (ADPCM) fail: let symphonia have a look, keeping hound's complaint.
            Err(e @ hound::Error::FormatError(_)) => {
                let input = rewound(buffered.into_inner(), name)?;
                return Ok(Err((input, Some(wav_error(name, e)))));
            }
            Err(e) => return Err(wav_error(name, e)),
        };
        let spec = reader.spec();
        let float = spec.sample_format == hound::SampleFormat::Float;
        let hound_reads = if float {
            spec.bits_per_sample == 32
        } else {
            (8..=32).contains(&spec.bits_per_sample)
        };
        if !hound_reads {
            // 64-bit float, for one: symphonia reads it.
            let input = rewound(reader.into_inner().into_inner(), name)?;
            return Ok(Err((input, None)));
        }
        let scale = if float {
            1.0
        } else {
            1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32
        };
        let info = SourceInfo {
            format: "wav".to_owned(),
            sample_rate: spec.sample_rate,
            channels: spec.channels,
            frames: (!open_ended).then(|| u64::from(reader.duration())),
        };
        Ok(Ok(Self {
            reader,
            info,
            name: name.to_owned(),
            float,
            scale,
            interleaved: Vec::new(),
            read: 0,
            open_ended,
            mix: Mix::Average,
        }))
    }
}

impl BlockSource for WavSource {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn next_block(&mut self, mono: &mut Vec<f32>) -> Result<bool, AudioError> {
        let channels = usize::from(self.info.channels.max(1));
        let wanted = WAV_BLOCK_FRAMES * channels;
        self.interleaved.clear();
        let total = u64::from(self.reader.len());
        let result: Result<(), hound::Error> = if self.float {
            let mut samples = self.reader.samples::<f32>().take(wanted);
            samples.try_for_each(|s| s.map(|s| self.interleaved.push(s)))
        } else {
            let scale = self.scale;
            let mut samples = self.reader.samples::<i32>().take(wanted);
            samples.try_for_each(|s| s.map(|s| self.interleaved.push(s as f32 * scale)))
        };
        self.read += self.interleaved.len() as u64;
        let mut ended = false;
        match result {
            Ok(()) => {}
            Err(hound::Error::IoError(e)) if self.open_ended && is_short_read(&e) => ended = true,
            Err(hound::Error::IoError(e)) if is_short_read(&e) => {
                return Err(AudioError::Truncated {
                    path: self.name.clone(),
                    detail: format!(
                        "the header promises {} frames, the data ends after {}",
                        total / channels as u64,
                        self.read / channels as u64
                    ),
                });
            }
            Err(e) => return Err(wav_error(&self.name, e)),
        }
        // A trailing partial frame is dropped: it has no partner samples to average with.
        let whole = self.interleaved.len() / channels * channels;
        downmix_into(&self.interleaved[..whole], channels, self.mix, mono);
        Ok(!ended && self.read < total && !self.interleaved.is_empty())
    }

    fn set_mix(&mut self, mix: Mix) {
        self.mix = mix;
    }
}

/// hound reports data that ends early either as `UnexpectedEof` or as its own "failed to read
/// enough bytes" error.
fn is_short_read(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::UnexpectedEof
        || err
            .to_string()
            .to_ascii_lowercase()
            .contains("read enough bytes")
}

fn wav_error(name: &str, err: hound::Error) -> AudioError {
    match err {
        hound::Error::IoError(e) if is_short_read(&e) => AudioError::Truncated {
            path: name.to_owned(),
            detail: "the WAV header is incomplete".to_owned(),
        },
        hound::Error::IoError(source) => AudioError::Io {
            path: name.to_owned(),
            source,
        },
        hound::Error::FormatError(what) => AudioError::Malformed {
            path: name.to_owned(),
            detail: lowercase_first(what),
        },
        other => AudioError::Unsupported {
            path: name.to_owned(),
            detail: lowercase_first(&other.to_string()),
        },
    }
}

struct SymphoniaSource {
    format: Box<dyn FormatReader>,
    decoder: PacketDecoder,
    track_id: u32,
    info: SourceInfo,
    name: String,
    buffer: Option<SampleBuffer<f32>>,
    /// Encoder delay and padding the container records but symphonia does not trim.
    trimmer: Trimmer,
    /// One packet's mono samples, before trimming.
    untrimmed: Vec<f32>,
    decoded_packets: u64,
    failed_packets: u64,
    first_failure: Option<String>,
    /// A block decoded ahead of time while learning the channel count, with its "more" flag.
    primed: Option<(Vec<f32>, bool)>,
    mix: Mix,
}

/// symphonia's own decoders, or libopus for Opus, which symphonia 0.5 lacks.
enum PacketDecoder {
    Symphonia(Box<dyn Decoder>),
    Opus(OpusDecoder),
}

impl SymphoniaSource {
    fn new(
        input: Box<dyn MediaSource>,
        extension: Option<&str>,
        name: &str,
        notes: ContainerNotes,
    ) -> Result<Self, AudioError> {
        let stream = MediaSourceStream::new(input, Default::default());
        let mut hint = Hint::new();
        if let Some(ext) = extension {
            hint.with_extension(ext);
        }
        let probed = symphonia::default::get_probe()
            .format(
                &hint,
                stream,
                &FormatOptions {
                    // Trim encoder delay and padding where the container records them, so
                    // timestamps line up with the original recording.
                    enable_gapless: true,
                    ..Default::default()
                },
                &MetadataOptions::default(),
            )
            .map_err(|e| match e {
                SymphoniaError::IoError(e) if e.kind() != io::ErrorKind::UnexpectedEof => {
                    AudioError::Io {
                        path: name.to_owned(),
                        source: e,
                    }
                }
                SymphoniaError::Unsupported(_) | SymphoniaError::IoError(_) => {
                    AudioError::UnknownFormat {
                        path: name.to_owned(),
                    }
                }
                other => symphonia_error(name, other),
            })?;
        let format = probed.format;
        let container = notes.container;
        let track = format
            .tracks()
            .iter()
            .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
            .ok_or_else(|| AudioError::NoSamples {
                path: name.to_owned(),
            })?;
        let params = &track.codec_params;
        let mut sample_rate = params
            .sample_rate
            .ok_or_else(|| unsupported(name, "the stream does not declare a sample rate".into()))?;
        if params.codec == CODEC_TYPE_OPUS {
            // Whatever the container says (Matroska writers put the original rate there).
            sample_rate = OPUS_RATE;
        }
        // Lengths count in the track's time base, which is not always one tick per frame
        // (Matroska counts in milliseconds).
        let mut frames = match (params.n_frames, params.time_base) {
            (Some(n), Some(tb)) if tb.denom != 0 => Some(
                (u128::from(n) * u128::from(tb.numer) * u128::from(sample_rate)
                    / u128::from(tb.denom))
                .try_into()
                .unwrap_or(u64::MAX),
            ),
            (n, _) => n,
        };
        let (decoder, codec, channels, trimmer) = if params.codec == CODEC_TYPE_OPUS {
            let head = match params.extra_data.as_deref() {
                Some(extra) => OpusHead::parse(extra),
                None => params
                    .channels
                    .and_then(|c| u8::try_from(c.count()).ok())
                    .and_then(OpusHead::default_for),
            }
            .ok_or_else(|| {
                unsupported(name, "an Opus stream without a usable OpusHead".to_owned())
            })?;
            let decoder = OpusDecoder::new(&head).map_err(|e| unsupported(name, e))?;
            // MP4 presents Opus through its edit list. Elsewhere the pre-skip is the reader's
            // to drop; Ogg's end padding reaches the packets (`trim_end`), Matroska's is its
            // last block's `DiscardPadding`.
            let mp4 = match container {
                Container::Mp4 => mp4_trimmer(&notes, sample_rate, &mut frames),
                _ => None,
            };
            let trimmer = mp4.unwrap_or_else(|| {
                let skip = u64::from(head.pre_skip);
                let tail = notes
                    .mkv_end_padding_ns
                    .map_or(0, |ns| ns * u64::from(OPUS_RATE) / 1_000_000_000);
                // Ogg's and Matroska's announced lengths leave the end padding out already.
                if let Some(f) = frames.as_mut() {
                    *f = f.saturating_sub(skip);
                }
                Trimmer::new(skip, None, tail)
            });
            (
                PacketDecoder::Opus(decoder),
                "opus".to_owned(),
                u16::from(head.channels),
                trimmer,
            )
        } else {
            let Some(codec) = symphonia::default::get_codecs().get_codec(params.codec) else {
                return Err(unsupported(
                    name,
                    format!(
                        "{} is not supported (rech decodes PCM, A-law and µ-law WAV, AIFF, CAF \
                         and W64, MP3, FLAC, Vorbis, Opus and AAC)",
                        codec_label(params.codec)
                    ),
                ));
            };
            let codec = codec.short_name.to_owned();
            let mut decoder = symphonia::default::get_codecs()
                .make(params, &DecoderOptions::default())
                .map_err(|e| match e {
                    SymphoniaError::Unsupported(what) => {
                        unsupported(name, format!("codec {codec}: {what}"))
                    }
                    other => symphonia_error(name, other),
                })?;
            // MP4 leaves the channel layout to the AAC decoder's own configuration.
            let channels = params
                .channels
                .or(decoder.codec_params().channels)
                .map_or(0, |c| c.count());
            decoder.reset();
            let trimmer = match container {
                Container::Mp4 => mp4_trimmer(&notes, sample_rate, &mut frames),
                _ => None,
            };
            (
                PacketDecoder::Symphonia(decoder),
                codec,
                u16::try_from(channels).unwrap_or(u16::MAX),
                trimmer.unwrap_or_default(),
            )
        };
        let source = Self {
            track_id: track.id,
            info: SourceInfo {
                format: codec,
                sample_rate,
                channels,
                frames,
            },
            format,
            decoder,
            name: name.to_owned(),
            buffer: None,
            trimmer,
            untrimmed: Vec::new(),
            decoded_packets: 0,
            failed_packets: 0,
            first_failure: None,
            primed: None,
            mix: Mix::Average,
        };
        Ok(source)
    }
}

/// The MP4 edit list's trimming at `rate`, with the announced length set to what it keeps.
fn mp4_trimmer(notes: &ContainerNotes, rate: u32, frames: &mut Option<u64>) -> Option<Trimmer> {
    let (skip, keep) = notes.mp4_edit?.frames(rate);
    // A fragmented file may not know its length: zero there means "to the end".
    let keep = (keep > 0).then_some(keep);
    if let Some(keep) = keep {
        *frames = Some(frames.map_or(keep, |f| f.saturating_sub(skip).min(keep)));
    } else if let Some(f) = frames.as_mut() {
        *f = f.saturating_sub(skip);
    }
    Some(Trimmer::new(skip, keep, 0))
}

impl BlockSource for SymphoniaSource {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn next_block(&mut self, mono: &mut Vec<f32>) -> Result<bool, AudioError> {
        if let Some((block, more)) = self.primed.take() {
            mono.extend_from_slice(&block);
            return Ok(more);
        }
        loop {
            let packet = match self.format.next_packet() {
                Ok(packet) => packet,
                // symphonia reports the end of a stream as an unexpected EOF.
                Err(SymphoniaError::IoError(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return self.end();
                }
                Err(SymphoniaError::ResetRequired) => return self.end(),
                Err(e) => return Err(symphonia_error(&self.name, e)),
            };
            if packet.track_id() != self.track_id {
                continue;
            }
            let out = if self.trimmer.is_identity() {
                &mut *mono
            } else {
                self.untrimmed.clear();
                &mut self.untrimmed
            };
            let decoded = match &mut self.decoder {
                PacketDecoder::Opus(opus) => match opus.decode(&packet.data) {
                    Ok(interleaved) => {
                        let channels = usize::from(self.info.channels);
                        let frames = interleaved.len() / channels;
                        // Ogg's gapless trimming arrives on the packets.
                        let start = (packet.trim_start as usize).min(frames);
                        let end = frames - (packet.trim_end as usize).min(frames - start);
                        downmix_into(
                            &interleaved[start * channels..end * channels],
                            channels,
                            self.mix,
                            out,
                        );
                        Ok(())
                    }
                    Err(what) => {
                        // A damaged frame, as below.
                        self.failed_packets += 1;
                        self.first_failure.get_or_insert(what);
                        continue;
                    }
                },
                PacketDecoder::Symphonia(decoder) => match decoder.decode(&packet) {
                    Ok(decoded) => {
                        let spec = *decoded.spec();
                        if spec.rate != self.info.sample_rate {
                            return Err(unsupported(
                                &self.name,
                                format!(
                                    "the sample rate changes from {} Hz to {} Hz mid-stream",
                                    self.info.sample_rate, spec.rate
                                ),
                            ));
                        }
                        let channels = spec.channels.count();
                        if self.info.channels == 0 {
                            self.info.channels = u16::try_from(channels).unwrap_or(u16::MAX);
                        }
                        if channels != usize::from(self.info.channels) {
                            return Err(unsupported(
                                &self.name,
                                "the channel count changes mid-stream".to_owned(),
                            ));
                        }
                        let needed = decoded.capacity();
                        let buffer = match &mut self.buffer {
                            Some(b) if b.capacity() >= needed * channels => b,
                            slot => slot.insert(SampleBuffer::new(needed as u64, spec)),
                        };
                        buffer.copy_interleaved_ref(decoded);
                        downmix_into(buffer.samples(), channels, self.mix, out);
                        Ok(())
                    }
                    Err(e) => Err(e),
                },
            };
            match decoded {
                Ok(()) => {
                    if !self.trimmer.is_identity() {
                        self.trimmer.push(&self.untrimmed, mono);
                    }
                    self.decoded_packets += 1;
                    return Ok(true);
                }
                // A damaged frame: skip it, as players do, but remember it in case every
                // frame is damaged.
                Err(SymphoniaError::DecodeError(what)) => {
                    self.failed_packets += 1;
                    self.first_failure.get_or_insert_with(|| what.to_owned());
                }
                Err(SymphoniaError::IoError(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return self.end();
                }
                Err(e) => return Err(symphonia_error(&self.name, e)),
            }
        }
    }

    fn set_mix(&mut self, mix: Mix) {
        self.mix = mix;
    }

    fn prime(&mut self) -> Result<(), AudioError> {
        if self.info.channels == 0 && self.primed.is_none() {
            // Some decoders only learn the layout from the first frame: decode it now, so that
            // the stream's info is complete before anyone relies on it.
            let mut first = Vec::new();
            let more = self.next_block(&mut first)?;
            self.primed = Some((first, more));
        }
        Ok(())
    }
}

impl SymphoniaSource {
    fn end(&mut self) -> Result<bool, AudioError> {
        if self.decoded_packets == 0 && self.failed_packets > 0 {
            return Err(AudioError::Malformed {
                path: self.name.clone(),
                detail: format!(
                    "none of {} frames could be decoded ({})",
                    self.failed_packets,
                    self.first_failure.as_deref().unwrap_or("unknown error")
                ),
            });
        }
        Ok(false)
    }
}

/// A name for a codec symphonia recognises in a container but rech has no decoder for.
fn codec_label(codec: CodecType) -> &'static str {
    use symphonia::core::codecs as c;
    match codec {
        c::CODEC_TYPE_ADPCM_MS => "Microsoft ADPCM",
        c::CODEC_TYPE_ADPCM_IMA_WAV | c::CODEC_TYPE_ADPCM_IMA_QT => "IMA ADPCM",
        c::CODEC_TYPE_ADPCM_G722 | c::CODEC_TYPE_ADPCM_G726 | c::CODEC_TYPE_ADPCM_G726LE => {
            "G.72x ADPCM"
        }
        c::CODEC_TYPE_MP1 | c::CODEC_TYPE_MP2 => "MPEG layer 1/2 audio",
        c::CODEC_TYPE_OPUS => "Opus",
        c::CODEC_TYPE_ALAC => "ALAC",
        c::CODEC_TYPE_WAVPACK => "WavPack",
        _ => "this codec",
    }
}

fn symphonia_error(name: &str, err: SymphoniaError) -> AudioError {
    let path = name.to_owned();
    match err {
        SymphoniaError::IoError(source) => AudioError::Io { path, source },
        SymphoniaError::Unsupported(what) => AudioError::Unsupported {
            path,
            detail: lowercase_first(what),
        },
        SymphoniaError::DecodeError(what) | SymphoniaError::LimitError(what) => {
            AudioError::Malformed {
                path,
                detail: lowercase_first(what),
            }
        }
        other => AudioError::Malformed {
            path,
            detail: lowercase_first(&other.to_string()),
        },
    }
}
