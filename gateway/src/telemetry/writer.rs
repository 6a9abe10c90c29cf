//! The log writer: every log line (access lines and the gateway's own events) is appended to a
//! shared in-memory buffer, and one dedicated thread writes that buffer to stderr in batches.
//!
//! Why: a `write(2)` per line on a Tokio worker cost about half of the plain-HTTP throughput
//! under load (a syscall, and a wake-up of whatever reads the pipe, per request). Here a worker
//! only copies its line into the buffer under a short lock; the writer thread takes the whole
//! buffer at once (swapping it with an empty one, so neither side allocates once both have
//! grown) and writes it with one `write_all`. After each write the thread waits a little
//! ([`LINGER`]) so that a busy gateway writes a few hundred lines per syscall and its workers
//! almost never have to wake the thread; an idle gateway's first line is written at once.
//!
//! Nothing is dropped: when the buffer holds [`CAPACITY`] bytes (stderr is slower than the
//! traffic, e.g. a stalled pipe), a worker that logs waits until the writer has taken the buffer,
//! the same backpressure a blocking `write` to that pipe gave before, only later. [`LogWriter::
//! shutdown`] (run when the telemetry guard is dropped, on every exit path of `switchboard run`)
//! writes everything buffered and stops the thread; a line logged after that is written directly.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// The most bytes the buffer holds before a logging thread waits for the writer (4 MiB: about
/// 15,000 access lines, a fraction of a second of a busy gateway's log).
pub const CAPACITY: usize = 4 << 20;

/// How long the writer lets lines gather after a write before it writes again.
pub const LINGER: Duration = Duration::from_millis(2);

/// What the buffer starts with (it grows as needed, up to about [`CAPACITY`]).
const INITIAL: usize = 64 << 10;

/// Where the writer thread writes; stderr in the binary, a shared byte vector in tests.
pub type Sink = Box<dyn Write + Send>;

/// A handle for appending lines; cheap to clone. Also a [`tracing_subscriber`] `MakeWriter`.
#[derive(Clone)]
pub struct LogWriter {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    /// The writer thread waits here for lines, a flush or shutdown.
    work: Condvar,
    /// Logging threads wait here for room, and flushers for their bytes to be written.
    done: Condvar,
    /// The thread, until shutdown joins it.
    thread: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Default)]
struct State {
    buf: Vec<u8>,
    /// The writer thread is waiting for lines: the next line must wake it.
    writer_idle: bool,
    /// Threads waiting in `append` for room or in `flush` for their bytes.
    waiters: usize,
    /// A flush is waiting: the writer skips its linger.
    flush_wanted: bool,
    /// Bytes appended and bytes handed to the sink since the start.
    appended: u64,
    written: u64,
    /// Shutdown began: the thread writes what is left and stops; appends go straight to the sink.
    closed: bool,
    /// The sink, back from the thread after shutdown (so late lines still reach it).
    sink_after_close: Option<Sink>,
}

impl LogWriter {
    /// Starts the writer thread on `sink`.
    pub fn start(sink: Sink) -> std::io::Result<LogWriter> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                buf: Vec::with_capacity(INITIAL),
                ..State::default()
            }),
            work: Condvar::new(),
            done: Condvar::new(),
            thread: Mutex::new(None),
        });
        let for_thread = shared.clone();
        let handle = std::thread::Builder::new()
            .name("switchboard-log".into())
            .spawn(move || write_loop(&for_thread, sink))?;
        *lock(&shared.thread) = Some(handle);
        Ok(LogWriter { shared })
    }

    /// Appends `bytes` (whole lines) to the buffer. Waits only when the buffer is full.
    pub fn append(&self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let sh = &*self.shared;
        let mut st = lock(&sh.state);
        while st.sink_after_close.is_none()
            && !st.buf.is_empty()
            && st.buf.len() + bytes.len() > CAPACITY
        {
            st.waiters += 1;
            sh.work.notify_one();
            st = sh.done.wait(st).unwrap_or_else(|e| e.into_inner());
            st.waiters -= 1;
        }
        if let Some(sink) = st.sink_after_close.as_mut() {
            // The thread has stopped: write directly (rare; only lines logged after shutdown).
            write_batch(sink, bytes);
            return;
        }
        // While shutdown drains, the thread still takes what is appended here.
        st.buf.extend_from_slice(bytes);
        st.appended += bytes.len() as u64;
        if st.writer_idle {
            // Only the first line after the thread went idle pays for a wake-up.
            st.writer_idle = false;
            sh.work.notify_one();
        }
    }

    /// Waits until every byte appended before this call has been written to the sink.
    pub fn flush(&self) {
        let sh = &*self.shared;
        let mut st = lock(&sh.state);
        let target = st.appended;
        while st.written < target && st.sink_after_close.is_none() {
            st.flush_wanted = true;
            st.waiters += 1;
            sh.work.notify_one();
            st = sh.done.wait(st).unwrap_or_else(|e| e.into_inner());
            st.waiters -= 1;
        }
    }

    /// Writes everything buffered and stops the thread; later lines are written directly to the
    /// sink by the thread that logs them. Idempotent.
    pub fn shutdown(&self) {
        let sh = &*self.shared;
        {
            let mut st = lock(&sh.state);
            st.closed = true;
            sh.work.notify_one();
        }
        let handle = lock(&sh.thread).take();
        if let Some(h) = handle {
            let _ = h.join();
        }
    }
}

/// The writer thread: take the buffer, write it, linger, repeat; at shutdown, write the rest and
/// hand the sink back for late lines.
fn write_loop(sh: &Shared, mut sink: Sink) {
    let mut batch: Vec<u8> = Vec::with_capacity(INITIAL);
    let mut st = lock(&sh.state);
    loop {
        while st.buf.is_empty() && !st.closed {
            st.writer_idle = true;
            st = sh.work.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        st.writer_idle = false;
        if st.buf.is_empty() {
            // Closed and drained.
            st.sink_after_close = Some(sink);
            if st.waiters > 0 {
                sh.done.notify_all();
            }
            return;
        }
        std::mem::swap(&mut st.buf, &mut batch);
        st.flush_wanted = false;
        if st.waiters > 0 {
            // Room again for threads waiting in `append`.
            sh.done.notify_all();
        }
        drop(st);
        write_batch(&mut sink, &batch);
        let n = batch.len() as u64;
        batch.clear();
        st = lock(&sh.state);
        st.written += n;
        if st.waiters > 0 {
            sh.done.notify_all();
        }
        if !st.closed && !st.flush_wanted {
            // Let lines gather. Not idle: appends do not wake the thread meanwhile, except a
            // full buffer, a flush or shutdown.
            st = sh
                .work
                .wait_timeout(st, LINGER)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// Writes one batch; retries a sink that would block (stderr opened non-blocking by whoever
/// started us). Any other error loses this batch only: the log has nowhere else to go.
fn write_batch(sink: &mut Sink, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        match sink.write(bytes) {
            Ok(0) => return,
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(_) => return,
        }
    }
    let _ = sink.flush();
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain bytes and counters: still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What `tracing_subscriber`'s formatter writes one event into: each `write` is appended as
/// is, and the formatter writes a whole line per call.
pub struct EventWriter<'a>(&'a LogWriter);

impl Write for EventWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.append(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = EventWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        EventWriter(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink that tests can read, optionally slow.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<(Vec<u8>, usize)>>);

    struct TestSink {
        out: Captured,
        delay: Duration,
    }

    impl Write for TestSink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            std::thread::sleep(self.delay);
            let mut g = self.out.0.lock().unwrap();
            g.0.extend_from_slice(buf);
            g.1 += 1;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn writer(delay: Duration) -> (LogWriter, Captured) {
        let out = Captured::default();
        let w = LogWriter::start(Box::new(TestSink {
            out: out.clone(),
            delay,
        }))
        .unwrap();
        (w, out)
    }

    #[test]
    fn lines_from_many_threads_arrive_whole_and_in_batches() {
        let (w, out) = writer(Duration::from_micros(200));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let w = w.clone();
                std::thread::spawn(move || {
                    for i in 0..2000 {
                        w.append(
                            format!("thread={t} line={i} padding=xxxxxxxxxxxxxxxx\n").as_bytes(),
                        );
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        w.shutdown();
        let (bytes, writes) = out.0.lock().unwrap().clone();
        let text = String::from_utf8(bytes).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 8000);
        for t in 0..4 {
            let mine: Vec<&str> = lines
                .iter()
                .copied()
                .filter(|l| l.starts_with(&format!("thread={t} ")))
                .collect();
            assert_eq!(mine.len(), 2000, "thread {t}");
            for (i, l) in mine.iter().enumerate() {
                assert_eq!(*l, format!("thread={t} line={i} padding=xxxxxxxxxxxxxxxx"));
            }
        }
        assert!(
            writes < 8000 / 4,
            "{writes} writes for 8000 lines: not batched"
        );
    }

    #[test]
    fn a_full_buffer_makes_loggers_wait_and_loses_nothing() {
        // A sink far slower than the loggers: the buffer fills, appends wait, all lines arrive.
        let (w, out) = writer(Duration::from_millis(20));
        let line = vec![b'x'; 64 << 10];
        let mut line = line;
        *line.last_mut().unwrap() = b'\n';
        let n = 2 * CAPACITY / line.len() + 3;
        for _ in 0..n {
            w.append(&line);
        }
        w.shutdown();
        let (bytes, _) = out.0.lock().unwrap().clone();
        assert_eq!(bytes.len(), n * line.len());
    }

    #[test]
    fn flush_waits_for_the_bytes_and_late_lines_still_arrive() {
        let (w, out) = writer(Duration::from_millis(5));
        w.append(b"one\n");
        w.flush();
        assert_eq!(out.0.lock().unwrap().0, b"one\n");
        w.append(b"two\n");
        w.shutdown();
        w.shutdown();
        w.append(b"three\n");
        w.flush();
        assert_eq!(out.0.lock().unwrap().0, b"one\ntwo\nthree\n");
    }
}
