//! The workers: one loaded engine, N transcribers (one recognizer each), and the two limits
//! that keep the server's memory and waiting bounded — `admission` (workers + queue: a request
//! that finds it full gets 429 at once) and `workers` (transcriptions and streams running now).
//! Jobs run on tokio's blocking threads; a job whose client went away is cancelled through its
//! token, and a job that panics is answered 500 and its transcriber replaced, so that one bad
//! request never takes a worker, or the server, down.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rech_asr::{CancelToken, Engine, Transcriber, VadOptions, VoiceDetector};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

/// Why a job produced no result.
#[derive(Debug)]
pub(crate) enum JobFailure<E> {
    /// The job returned its own error.
    Failed(E),
    /// The job panicked; the message, when it had one.
    Panicked(String),
    /// No worker became free within the queue timeout; the job never started.
    QueueTimeout,
}

pub(crate) struct Pool {
    engine: Arc<dyn Engine>,
    threads: usize,
    vad_model: Option<PathBuf>,
    vad_options: VadOptions,
    idle: Mutex<Vec<Transcriber>>,
    workers: Arc<Semaphore>,
    worker_count: usize,
    admission: Arc<Semaphore>,
    admission_capacity: usize,
}

/// A request's place: held from its arrival to its answer.
pub(crate) struct Admitted {
    _permit: OwnedSemaphorePermit,
}

impl Pool {
    /// `workers` transcribers of `threads` threads each, built now so that a model or VAD that
    /// cannot make one fails before the server listens; `queue` more requests may wait.
    pub fn new(
        engine: Arc<dyn Engine>,
        workers: usize,
        threads: usize,
        queue: usize,
        vad_model: Option<PathBuf>,
        vad_options: VadOptions,
    ) -> Result<Self, rech_asr::Error> {
        let pool = Self {
            engine,
            threads,
            vad_model,
            vad_options,
            idle: Mutex::new(Vec::new()),
            workers: Arc::new(Semaphore::new(workers)),
            worker_count: workers,
            admission: Arc::new(Semaphore::new(workers + queue)),
            admission_capacity: workers + queue,
        };
        let mut idle = Vec::with_capacity(workers);
        for _ in 0..workers {
            idle.push(pool.new_transcriber()?);
        }
        *pool.idle.lock().unwrap_or_else(|p| p.into_inner()) = idle;
        Ok(pool)
    }

    pub fn engine(&self) -> &Arc<dyn Engine> {
        &self.engine
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Loads the Silero detector, when there is a model.
    pub fn voice_detector(&self) -> Result<Option<VoiceDetector>, rech_asr::Error> {
        self.vad_model
            .as_ref()
            .map(|path| VoiceDetector::load(path, self.vad_options.clone()))
            .transpose()
    }

    fn new_transcriber(&self) -> Result<Transcriber, rech_asr::Error> {
        let transcriber = Transcriber::new(self.engine.as_ref(), self.threads)?;
        Ok(match self.voice_detector()? {
            Some(detector) => transcriber.with_vad(detector),
            None => transcriber,
        })
    }

    /// A place for a new request, or `None` when every worker is busy and the queue is full.
    pub fn admit(&self) -> Option<Admitted> {
        match Arc::clone(&self.admission).try_acquire_owned() {
            Ok(permit) => Some(Admitted { _permit: permit }),
            Err(TryAcquireError::NoPermits | TryAcquireError::Closed) => None,
        }
    }

    /// A worker now, or `None` when all are busy (streams do not queue).
    pub fn try_worker(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.workers).try_acquire_owned().ok()
    }

    pub fn workers(&self) -> usize {
        self.worker_count
    }

    pub fn busy(&self) -> usize {
        self.worker_count - self.workers.available_permits()
    }

    /// Admitted requests not running yet (uploading or waiting for a worker).
    pub fn waiting(&self) -> usize {
        let admitted = self.admission_capacity - self.admission.available_permits();
        admitted.saturating_sub(self.busy())
    }

    pub fn queue_capacity(&self) -> usize {
        self.admission_capacity - self.worker_count
    }

    /// Whether a new request would be admitted.
    pub fn accepting(&self) -> bool {
        self.admission.available_permits() > 0
    }

    /// Runs `job` with a transcriber once a worker is free. The job keeps running (and gives
    /// its transcriber back) even when the caller stops waiting; `cancel` is what makes it
    /// stop early.
    pub async fn run<T, E>(
        self: &Arc<Self>,
        cancel: CancelToken,
        queue_timeout: Duration,
        job: impl FnOnce(&mut Transcriber) -> Result<T, E> + Send + 'static,
    ) -> Result<T, JobFailure<E>>
    where
        T: Send + 'static,
        E: Send + 'static,
    {
        let waited = tokio::time::timeout(queue_timeout, Arc::clone(&self.workers).acquire_owned());
        let permit = waited
            .await
            .map_err(|_| JobFailure::QueueTimeout)?
            .map_err(|_| JobFailure::Panicked("the worker pool is closed".into()))?;
        let pool = Arc::clone(self);
        let task = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let taken = pool.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let mut transcriber = match taken {
                Some(t) => t,
                None => pool
                    .new_transcriber()
                    .map_err(|e| JobFailure::Panicked(format!("no recognizer: {e}")))?,
            };
            transcriber.set_cancel_token(cancel);
            let outcome = catch_unwind(AssertUnwindSafe(|| job(&mut transcriber)));
            match outcome {
                Ok(result) => {
                    pool.give_back(transcriber);
                    result.map_err(JobFailure::Failed)
                }
                Err(panic) => {
                    // Its state may be half-updated: replace it rather than reuse it.
                    drop(transcriber);
                    match pool.new_transcriber() {
                        Ok(fresh) => pool.give_back(fresh),
                        Err(e) => log::error!("cannot replace a worker's recognizer: {e}"),
                    }
                    Err(JobFailure::Panicked(panic_message(&panic)))
                }
            }
        });
        match task.await {
            Ok(result) => result,
            Err(join) => Err(JobFailure::Panicked(join.to_string())),
        }
    }

    fn give_back(&self, mut transcriber: Transcriber) {
        transcriber.set_cancel_token(CancelToken::new());
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(transcriber);
    }
}

/// The text of a panic's payload.
pub(crate) fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

/// Cancels its token when dropped, unless disarmed: a request handler holds one while its job
/// runs, so that a client that disconnects (hyper drops the handler) stops the job.
pub(crate) struct CancelOnDrop {
    token: CancelToken,
    armed: bool,
}

impl CancelOnDrop {
    pub fn new(token: CancelToken) -> Self {
        Self { token, armed: true }
    }

    pub fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if self.armed {
            self.token.cancel();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rech_asr::{Capabilities, Recognition, Recognizer, Request};

    /// An engine whose every call either panics (audio starting with a positive sample) or
    /// recognises nothing.
    #[derive(Debug)]
    struct Touchy(Capabilities);

    struct TouchyRecognizer;

    impl Engine for Touchy {
        fn capabilities(&self) -> &Capabilities {
            &self.0
        }
        fn recognizer(&self, _threads: usize) -> Result<Box<dyn Recognizer>, rech_asr::Error> {
            Ok(Box::new(TouchyRecognizer))
        }
    }

    impl Recognizer for TouchyRecognizer {
        fn check(&self, _request: &Request) -> Result<(), rech_asr::Error> {
            Ok(())
        }
        fn recognize(
            &mut self,
            samples: &[f32],
            _request: &Request,
            cancel: &CancelToken,
            _progress: &mut dyn FnMut(f32),
        ) -> Result<Recognition, rech_asr::Error> {
            if cancel.is_cancelled() {
                return Err(rech_asr::Error::Cancelled);
            }
            assert!(samples[0] <= 0.0, "a positive first sample");
            Ok(Recognition::default())
        }
    }

    const LONG: Duration = Duration::from_secs(60);

    fn pool(workers: usize, queue: usize) -> Arc<Pool> {
        let engine = Touchy(Capabilities {
            engine: "touchy",
            languages: vec!["ru".into()],
            detects_language: false,
            min_samples: 1600,
            max_samples: None,
            takes_prompt: false,
            word_times: false,
            hallucinates_on_silence: false,
            split_at_removed_pauses: false,
            decoding_options: false,
        });
        Arc::new(
            Pool::new(
                Arc::new(engine),
                workers,
                1,
                queue,
                None,
                VadOptions::default(),
            )
            .unwrap(),
        )
    }

    fn transcribe(
        first: f32,
    ) -> impl FnOnce(&mut Transcriber) -> Result<usize, rech_asr::Error> + Send + 'static {
        move |t: &mut Transcriber| {
            let samples = vec![first; 16_000];
            t.transcribe(&samples, &rech_asr::TranscribeOptions::default())
                .map(|transcript| transcript.segments.len())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_job_is_answered_and_the_worker_lives_on() {
        let pool = pool(1, 0);
        let failed = pool.run(CancelToken::new(), LONG, transcribe(0.5)).await;
        match failed {
            Err(JobFailure::Panicked(message)) => {
                assert!(message.contains("positive"), "{message}")
            }
            other => panic!("expected a panic, got {other:?}"),
        }
        // The one worker still serves.
        assert_eq!(
            pool.run(CancelToken::new(), LONG, transcribe(-0.5))
                .await
                .unwrap(),
            0
        );
        assert_eq!(pool.busy(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cancelled_job_ends_and_frees_its_worker() {
        let pool = pool(1, 0);
        let token = CancelToken::new();
        drop(CancelOnDrop::new(token.clone()));
        let result = pool.run(token, LONG, transcribe(-0.5)).await;
        assert!(
            matches!(result, Err(JobFailure::Failed(rech_asr::Error::Cancelled))),
            "{result:?}"
        );
        assert_eq!(pool.busy(), 0);
        assert_eq!(pool.idle.lock().unwrap().len(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_job_that_waits_past_the_queue_timeout_never_runs() {
        let pool = pool(1, 1);
        let held = pool.try_worker().expect("the one worker");
        let result = pool
            .run(
                CancelToken::new(),
                Duration::from_millis(50),
                transcribe(-0.5),
            )
            .await;
        assert!(
            matches!(result, Err(JobFailure::QueueTimeout)),
            "{result:?}"
        );
        drop(held);
        assert_eq!(pool.busy(), 0);
    }

    #[test]
    fn admission_is_workers_plus_queue() {
        let pool = pool(2, 1);
        let held: Vec<_> = (0..3).map(|_| pool.admit().expect("a place")).collect();
        assert!(pool.admit().is_none());
        assert!(!pool.accepting());
        assert_eq!(pool.waiting(), 3);
        drop(held);
        assert!(pool.accepting());
        assert_eq!(pool.queue_capacity(), 1);
    }
}
