//! What `GET /metrics` reports, in Prometheus's text format: requests by endpoint and status,
//! errors, queue depth, busy workers, live streams, audio seconds and the real-time factor.
//! Kept by hand (a few counters behind one lock) rather than through a metrics framework: the
//! format is a dozen lines.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// Counters since the server started.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    inner: Mutex<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    /// Requests answered, by (endpoint, HTTP status).
    requests: BTreeMap<(String, u16), u64>,
    /// Seconds of audio transcribed (files and streams).
    audio_seconds: f64,
    /// Seconds the workers spent transcribing files.
    processing_seconds: f64,
    /// Seconds of audio in those files (for the real-time factor).
    file_audio_seconds: f64,
    /// Transcriptions whose worker panicked.
    panics: u64,
}

/// Gauges read when the metrics are rendered.
pub(crate) struct Gauges {
    pub workers: usize,
    pub workers_busy: usize,
    pub queue_depth: usize,
    pub queue_capacity: usize,
    pub streams: usize,
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Counters> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn request(&self, endpoint: &str, status: u16) {
        *self
            .lock()
            .requests
            .entry((endpoint.to_owned(), status))
            .or_default() += 1;
    }

    pub fn transcribed(&self, audio_seconds: f64, processing_seconds: f64) {
        let mut c = self.lock();
        c.audio_seconds += audio_seconds;
        c.file_audio_seconds += audio_seconds;
        c.processing_seconds += processing_seconds;
    }

    pub fn streamed(&self, audio_seconds: f64) {
        self.lock().audio_seconds += audio_seconds;
    }

    pub fn panicked(&self) {
        self.lock().panics += 1;
    }

    /// Mean seconds a file transcription took (for `Retry-After`), or `None` before the first.
    pub fn mean_processing_seconds(&self) -> Option<f64> {
        let c = self.lock();
        let files: u64 = c
            .requests
            .iter()
            .filter(|((endpoint, status), _)| {
                endpoint.ends_with("transcriptions") && *status == 200
            })
            .map(|(_, n)| n)
            .sum();
        (files > 0).then(|| c.processing_seconds / files as f64)
    }

    pub fn render(&self, gauges: &Gauges) -> String {
        let c = self.lock();
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        family(
            "rech_requests_total",
            "counter",
            "Requests answered, by endpoint and HTTP status.",
        );
        let mut lines = String::new();
        for ((endpoint, status), n) in &c.requests {
            let _ = writeln!(
                lines,
                "rech_requests_total{{endpoint=\"{endpoint}\",status=\"{status}\"}} {n}"
            );
        }
        out.push_str(&lines);
        let errors: u64 = c
            .requests
            .iter()
            .filter(|((_, status), _)| *status >= 400)
            .map(|(_, n)| n)
            .sum();
        let rtf = if c.file_audio_seconds > 0.0 {
            c.processing_seconds / c.file_audio_seconds
        } else {
            0.0
        };
        // (name, type, help, value): one sample each.
        let single: [(&str, &str, &str, String); 10] = [
            ("rech_errors_total", "counter",
             "Requests answered with an HTTP status of 400 or more.", errors.to_string()),
            ("rech_panics_total", "counter",
             "Transcriptions whose worker panicked (answered 500; the worker was replaced).",
             c.panics.to_string()),
            ("rech_workers", "gauge", "Recognizers (one per worker).", gauges.workers.to_string()),
            ("rech_workers_busy", "gauge", "Workers transcribing or streaming now.",
             gauges.workers_busy.to_string()),
            ("rech_queue_depth", "gauge",
             "Admitted requests waiting for a worker (uploading or queued).",
             gauges.queue_depth.to_string()),
            ("rech_queue_capacity", "gauge",
             "Requests that may wait for a worker before new ones get 429.",
             gauges.queue_capacity.to_string()),
            ("rech_streams_active", "gauge", "WebSocket dictation streams open now.",
             gauges.streams.to_string()),
            ("rech_audio_seconds_total", "counter",
             "Seconds of audio transcribed (files and streams).", format!("{:.3}", c.audio_seconds)),
            ("rech_processing_seconds_total", "counter", "Seconds workers spent transcribing files.",
             format!("{:.3}", c.processing_seconds)),
            ("rech_real_time_factor", "gauge",
             "Processing seconds per second of file audio since start (below 1: faster than real time).",
             format!("{rtf:.4}")),
        ];
        for (name, kind, help, value) in single {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.request("/v1/audio/transcriptions", 200);
        m.request("/v1/audio/transcriptions", 200);
        m.request("/v1/audio/transcriptions", 429);
        m.transcribed(10.0, 2.5);
        let text = m.render(&Gauges {
            workers: 2,
            workers_busy: 1,
            queue_depth: 3,
            queue_capacity: 16,
            streams: 0,
        });
        assert!(text.contains(
            "rech_requests_total{endpoint=\"/v1/audio/transcriptions\",status=\"200\"} 2\n"
        ));
        assert!(text.contains("rech_errors_total 1\n"));
        assert!(text.contains("rech_queue_depth 3\n"));
        assert!(text.contains("rech_audio_seconds_total 10.000\n"));
        assert!(text.contains("rech_real_time_factor 0.2500\n"));
        assert_eq!(m.mean_processing_seconds(), Some(1.25));
        // Every sample line belongs to a family declared before it.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            assert!(text.contains(&format!("# TYPE {name} ")), "{line}");
        }
    }
}
