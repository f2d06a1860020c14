//! What every input must satisfy before rech decodes it (a channel count and a rate the
//! resampler takes), and the read that fills a header buffer: shared by the decoders and by the
//! prescan that checks container lengths first.

use std::io::{self, Read};

use crate::error::AudioError;
use crate::resample::{UnsupportedRate, MAX_INPUT_RATE, MIN_INPUT_RATE};

/// Channel counts beyond this are not audio anyone records speech with; refusing them early
/// keeps a damaged header from making us allocate per-channel buffers for it.
const MAX_CHANNELS: u16 = 64;

/// Refuses channel counts and sample rates that no recording has: zero or more than
/// [`MAX_CHANNELS`] channels, a rate outside what the resampler takes.
pub(crate) fn check_stream(name: &str, channels: u16, sample_rate: u32) -> Result<(), AudioError> {
    if channels == 0 {
        return Err(unsupported(
            name,
            "the header declares zero channels".into(),
        ));
    }
    if channels > MAX_CHANNELS {
        return Err(unsupported(
            name,
            format!("{channels} channels (at most {MAX_CHANNELS} are supported)"),
        ));
    }
    if !(MIN_INPUT_RATE..=MAX_INPUT_RATE).contains(&sample_rate) {
        return Err(unsupported(name, UnsupportedRate(sample_rate).to_string()));
    }
    Ok(())
}

/// An input rech cannot decode, for reasons `detail` gives.
pub(crate) fn unsupported(name: &str, detail: String) -> AudioError {
    AudioError::Unsupported {
        path: name.to_owned(),
        detail,
    }
}

/// Reads until `buf` is full or the input ends; returns how many bytes were read.
pub(crate) fn read_up_to(input: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
