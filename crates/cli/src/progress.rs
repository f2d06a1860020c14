//! The one factory for progress bars: a real bar on a terminal's stderr, a hidden one when
//! stderr is not a terminal or `--quiet` is set, so stdout only ever carries results.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How `rech transcribe` shows its progress (`--progress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    /// Bars on a terminal, nothing otherwise.
    Auto,
    /// Bars (on a terminal; where stderr is not one, the same as plain).
    Bar,
    /// A line on stderr every few seconds and one per finished file: for logs and CI.
    Plain,
    /// Nothing.
    None,
}

/// Seconds between two plain progress lines of one file.
const PLAIN_EVERY_SECONDS: f64 = 5.0;

/// Progress of `rech transcribe`: one bar per file being transcribed (audio done in whole
/// seconds, speed, time left) and, with several files, an overall bar above them (files done,
/// audio done, a live timer); or plain lines for logs.
pub struct Progress {
    /// `None` when no bars are drawn.
    multi: Option<MultiProgress>,
    overall: Option<ProgressBar>,
    plain: bool,
    /// Seconds of audio finished in files already done (for the overall bar).
    audio_done_ms: AtomicU64,
}

impl Progress {
    /// Progress for a run over `files` inputs.
    pub fn new(mode: ProgressMode, quiet: bool, files: usize) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let (bars, plain) = match mode {
            _ if quiet => (false, false),
            ProgressMode::Auto => (terminal, false),
            ProgressMode::Bar => (terminal, !terminal),
            ProgressMode::Plain => (false, true),
            ProgressMode::None => (false, false),
        };
        let mut progress = Self {
            multi: None,
            overall: None,
            plain,
            audio_done_ms: AtomicU64::new(0),
        };
        if !bars {
            return progress;
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        progress.overall = (files > 1).then(|| {
            let bar = multi.add(ProgressBar::new(files as u64));
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix:.bold} [{elapsed_precise}] {wide_bar:.green/blue} {pos}/{len} files{msg}, ETA {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("█▉▊▋▌▍▎▏ "),
            );
            bar.set_prefix("all");
            // The timer runs between files too.
            bar.enable_steady_tick(Duration::from_secs(1));
            bar
        });
        progress.multi = Some(multi);
        progress
    }

    /// A bar for one file; `seconds` is the audio's length when the header tells it.
    pub fn file_bar(&self, label: &str, seconds: Option<f64>) -> FileBar {
        let plain = self.plain.then(|| PlainLines {
            label: label.to_owned(),
            total: seconds,
            last: Mutex::new(None),
        });
        let Some(multi) = &self.multi else {
            return FileBar {
                bar: ProgressBar::hidden(),
                plain,
                started: Instant::now(),
            };
        };
        let length = seconds.map(|s| s.round().max(1.0) as u64);
        let bar = multi.add(ProgressBar::with_draw_target(
            length,
            ProgressDrawTarget::hidden(),
        ));
        let template = if length.is_some() {
            "{prefix:.bold} [{elapsed_precise}] {wide_bar:.cyan/blue} {msg} ETA {eta}"
        } else {
            "{prefix:.bold} {spinner} [{elapsed_precise}] {msg}"
        };
        bar.set_style(
            ProgressStyle::with_template(template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("█▉▊▋▌▍▎▏ "),
        );
        bar.set_prefix(label.to_owned());
        bar.set_message(match seconds {
            Some(total) => format!("{} of {}, decoding", clock(0.0), clock(total)),
            None => "decoding".to_owned(),
        });
        // Whisper reports progress once per 30 s window: the timer shows it is working.
        bar.enable_steady_tick(Duration::from_millis(250));
        FileBar {
            bar,
            plain,
            started: Instant::now(),
        }
    }

    /// Counts one more file, of `seconds` of audio, as done on the overall bar.
    pub fn file_done(&self, seconds: f64) {
        let ms = (seconds.max(0.0) * 1000.0) as u64;
        let total = self.audio_done_ms.fetch_add(ms, Ordering::Relaxed) + ms;
        if let Some(overall) = &self.overall {
            overall.set_message(format!(", {} of audio", clock(total as f64 / 1000.0)));
            overall.inc(1);
        }
    }

    /// Prints a line on stderr above the bars.
    pub fn println(&self, line: &str) {
        match &self.multi {
            Some(multi) => {
                let _ = multi.println(line);
            }
            None => eprintln!("{line}"),
        }
    }

    /// Removes the bars.
    pub fn finish(&self) {
        if let Some(overall) = &self.overall {
            overall.finish_and_clear();
        }
        if let Some(multi) = &self.multi {
            let _ = multi.clear();
        }
    }
}

/// Whole seconds as `M:SS` (or `H:MM:SS`).
pub fn clock(seconds: f64) -> String {
    let whole = seconds.max(0.0) as u64;
    match whole / 3600 {
        0 => format!("{}:{:02}", whole / 60, whole % 60),
        hours => format!("{hours}:{:02}:{:02}", whole / 60 % 60, whole % 60),
    }
}

/// The plain lines of one file.
struct PlainLines {
    label: String,
    total: Option<f64>,
    /// When the last line was printed.
    last: Mutex<Option<Instant>>,
}

/// A real-time factor in words that say which way it goes: `0.31× real time (3.2× faster)`,
/// `3.27× real time (3.3× slower)`.
pub fn speed(real_time_factor: f64) -> String {
    if !real_time_factor.is_finite() || real_time_factor <= 0.0 {
        return "speed unknown".into();
    }
    let way = if real_time_factor <= 1.0 {
        format!("{:.1}× faster", 1.0 / real_time_factor)
    } else {
        format!("{real_time_factor:.1}× slower")
    };
    format!("{real_time_factor:.2}× real time ({way})")
}

/// One file's progress: a bar counting whole seconds of audio, or plain lines.
pub struct FileBar {
    bar: ProgressBar,
    plain: Option<PlainLines>,
    started: Instant,
}

impl FileBar {
    /// `seconds` of audio are done after `elapsed` seconds of work.
    pub fn audio_done(&self, seconds: f64, elapsed: f64) {
        let message = self.describe(seconds, elapsed);
        self.bar.set_position(seconds.max(0.0) as u64);
        self.bar.set_message(message.clone());
        if let Some(plain) = &self.plain {
            let mut last = plain.last.lock().unwrap_or_else(|p| p.into_inner());
            let due = last.is_none_or(|at| at.elapsed().as_secs_f64() >= PLAIN_EVERY_SECONDS);
            if due && seconds > 0.0 {
                *last = Some(Instant::now());
                eprintln!("rech: {}: {message}", plain.label);
            }
        }
    }

    fn describe(&self, seconds: f64, elapsed: f64) -> String {
        let total = self
            .plain
            .as_ref()
            .and_then(|p| p.total)
            .or_else(|| self.bar.length().map(|l| l as f64));
        let done = match total {
            Some(total) => format!("{} of {}", clock(seconds), clock(total)),
            None => format!("{} done", clock(seconds)),
        };
        if seconds > 0.0 {
            format!("{done}, {}", speed(elapsed / seconds))
        } else {
            format!("{done}, decoding")
        }
    }

    /// Removes the bar; in plain mode, prints the file's last line (`seconds` of audio).
    pub fn finish(&self, seconds: Option<f64>) {
        self.bar.finish_and_clear();
        if let (Some(plain), Some(seconds)) = (&self.plain, seconds) {
            let elapsed = self.started.elapsed().as_secs_f64();
            eprintln!(
                "rech: {}: done, {} of audio in {}, {}",
                plain.label,
                clock(seconds),
                clock(elapsed),
                speed(elapsed / seconds.max(1e-9))
            );
        }
    }
}

/// A bar for a model download: bytes, speed and time left; a spinner with bytes and speed when
/// the size is unknown.
pub fn download_bar(quiet: bool, label: &str, total: Option<u64>) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let (bar, template) = match total {
        Some(total) => (
            ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()),
            "{prefix:.bold} {wide_bar:.cyan/blue} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta}",
        ),
        None => (
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
            "{prefix:.bold} {spinner} {binary_bytes} {binary_bytes_per_sec} [{elapsed_precise}]",
        ),
    };
    let style = ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("█▉▊▋▌▍▎▏ ");
    bar.set_style(style);
    bar.set_prefix(label.to_owned());
    bar
}

#[cfg(test)]
mod tests {
    use super::{clock, speed};

    #[test]
    fn clock_times_are_whole_seconds() {
        assert_eq!(clock(0.4), "0:00");
        assert_eq!(clock(106.9), "1:46");
        assert_eq!(clock(3725.0), "1:02:05");
    }

    #[test]
    fn the_speed_says_which_way_it_goes() {
        assert_eq!(speed(0.31), "0.31× real time (3.2× faster)");
        assert_eq!(speed(3.27), "3.27× real time (3.3× slower)");
        assert_eq!(speed(1.0), "1.00× real time (1.0× faster)");
        assert_eq!(speed(f64::NAN), "speed unknown");
    }
}
