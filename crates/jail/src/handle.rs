//! A running jail: wait for it (with its deadline), stream it, kill it,
//! freeze it, read its usage. Dropping a handle kills and cleans up.

use std::collections::VecDeque;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use paddock_egress::{EgressRecord, ProxySession};
use tokio::io::unix::AsyncFd;
use tokio::net::unix::pipe;
use tokio::sync::mpsc;

use crate::cgroup::{JailCgroup, JailStats};
use crate::error::{JailError, Result, SetupStep};
use crate::forward::Forwards;
use crate::ids::IdBlock;
use crate::ipc::Report;
use crate::output::{Capture, Output};
use crate::reaper::{self, Remains};
use crate::result::{ExitStatus, JailEvent, JailResult};
use crate::sys;
use crate::zygote;

/// After the jail's init exits, how long to wait without progress (no data
/// read, no event delivered) for the output pipes' end of file (every
/// holder is dead by then; this only bounds the wait).
const DRAIN_GRACE: Duration = Duration::from_millis(250);
/// After a kill, how long to wait for the init to be gone.
const KILL_GRACE: Duration = Duration::from_secs(5);
/// Bytes read from an output pipe at once (the pipes are enlarged to 1 MiB,
/// so a busy writer leaves much more than a page waiting).
const READ_CHUNK: usize = 256 * 1024;
/// A captured stream that has produced this much moves to a bulk reader.
const BULK_AFTER: u64 = 1 << 20;
/// Bytes read from an output pipe at once when streaming events.
const STREAM_READ_CHUNK: usize = 4096;
/// Events a stream keeps for a slow consumer before pausing the jail's
/// output (plus at most one read's worth).
const MAX_QUEUED_EVENTS: usize = 1024;

#[derive(Debug)]
struct SharedFd(Arc<OwnedFd>);

impl AsRawFd for SharedFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// Controls a jail from anywhere (cloneable): kill, freeze, thaw, stats.
#[derive(Debug, Clone)]
pub struct JailControl {
    pidfd: Arc<OwnedFd>,
    cgroup: Option<Arc<dyn JailCgroup>>,
    frozen: Arc<AtomicBool>,
}

impl JailControl {
    /// Kills every process of the jail (SIGKILL to its PID-namespace init,
    /// which takes the whole namespace with it). Idempotent.
    pub fn kill(&self) -> Result<()> {
        if let Some(cgroup) = &self.cgroup {
            // A frozen process cannot die; cgroup v2's kill handles frozen
            // groups, v1 needs the thaw.
            let _ = cgroup.kill_all();
            if self.frozen.swap(false, Ordering::SeqCst) {
                let _ = cgroup.thaw();
            }
        }
        match sys::pidfd_send_signal(&self.pidfd, libc::SIGKILL) {
            Ok(()) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
            Err(e) => Err(JailError::host("pidfd_send_signal", e)),
        }
    }

    /// Freezes every process of the jail (cgroup freezer, v1 or v2).
    pub fn freeze(&self) -> Result<()> {
        let cgroup = self.freezer()?;
        if let Err(err) = cgroup.freeze() {
            // A group left half frozen (v1's FREEZING) holds its processes
            // in the kernel, where not even SIGKILL reaches them: undo it,
            // so the jail runs on (and can be killed) as the error says.
            let _ = cgroup.thaw();
            return Err(JailError::host("freeze", err));
        }
        self.frozen.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Thaws a frozen jail.
    pub fn thaw(&self) -> Result<()> {
        let cgroup = self.freezer()?;
        cgroup.thaw().map_err(|e| JailError::host("thaw", e))?;
        self.frozen.store(false, Ordering::SeqCst);
        Ok(())
    }

    /// Whether the jail is frozen now.
    pub fn is_frozen(&self) -> bool {
        self.frozen.load(Ordering::SeqCst)
    }

    /// Current usage, if the jail has a cgroup.
    pub fn stats(&self) -> Option<JailStats> {
        self.cgroup.as_ref().map(|c| c.stats())
    }

    fn freezer(&self) -> Result<&Arc<dyn JailCgroup>> {
        self.cgroup
            .as_ref()
            .filter(|c| c.can_freeze())
            .ok_or(JailError::Unsupported("freezing"))
    }
}

/// Where a running jail's output goes while the handle waits for it.
pub(crate) trait OutputSink: Send {
    fn stdout(&mut self, chunk: &[u8]);
    fn stderr(&mut self, chunk: &[u8]);
    fn stats(&mut self, _stats: JailStats) {}
    fn egress(&mut self, _record: EgressRecord) {}
    /// Events waiting for a stream consumer (stream sinks only).
    fn queue(&mut self) -> Option<&mut EventQueue> {
        None
    }
    /// Called once both streams ended; returns the captured output.
    fn finish(&mut self) -> (Output, Output);
    /// Capture mode: hands over a stream's capture to a bulk reader (see
    /// `BulkRead`); `put_capture` gives it back.
    fn take_capture(&mut self, _stream: Stream) -> Option<Capture> {
        None
    }
    fn put_capture(&mut self, _stream: Stream, _capture: Capture) {}
}

/// One of the jail's output streams.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

/// Keeps up to the cap of each stream.
struct CaptureSink {
    stdout: Option<Capture>,
    stderr: Option<Capture>,
}

impl CaptureSink {
    fn new(cap: usize) -> Self {
        CaptureSink {
            stdout: Some(Capture::new(cap)),
            stderr: Some(Capture::new(cap)),
        }
    }
}

impl OutputSink for CaptureSink {
    fn stdout(&mut self, chunk: &[u8]) {
        if let Some(c) = &mut self.stdout {
            c.push(chunk);
        }
    }
    fn stderr(&mut self, chunk: &[u8]) {
        if let Some(c) = &mut self.stderr {
            c.push(chunk);
        }
    }
    fn finish(&mut self) -> (Output, Output) {
        (
            self.stdout.take().map(Capture::finish).unwrap_or_default(),
            self.stderr.take().map(Capture::finish).unwrap_or_default(),
        )
    }
    fn take_capture(&mut self, stream: Stream) -> Option<Capture> {
        match stream {
            Stream::Stdout => self.stdout.take(),
            Stream::Stderr => self.stderr.take(),
        }
    }
    fn put_capture(&mut self, stream: Stream, capture: Capture) {
        match stream {
            Stream::Stdout => self.stdout = Some(capture),
            Stream::Stderr => self.stderr = Some(capture),
        }
    }
}

/// Events a streamed jail produced that the consumer has not taken yet.
/// Bounded by `drive`, which stops reading the jail's pipes while it is
/// full (the jail then blocks on write: backpressure instead of memory).
#[derive(Default)]
pub(crate) struct EventQueue {
    events: VecDeque<JailEvent>,
    /// The consumer is gone: nothing is queued any more.
    closed: bool,
}

impl EventQueue {
    fn push(&mut self, event: JailEvent) {
        if !self.closed {
            self.events.push_back(event);
        }
    }

    fn len(&self) -> usize {
        self.events.len()
    }

    fn close(&mut self) {
        self.closed = true;
        self.events.clear();
    }
}

/// Emits output chunks as events, exactly as the jail wrote them, while
/// capturing them; bytes past the cap are neither kept nor emitted (the
/// capture says so).
struct EventSink {
    queue: EventQueue,
    capture: CaptureSink,
}

impl EventSink {
    fn emit(&mut self, is_stdout: bool, chunk: &[u8]) {
        let capture = if is_stdout {
            &mut self.capture.stdout
        } else {
            &mut self.capture.stderr
        };
        let Some(capture) = capture else { return };
        let kept = capture.push(chunk);
        if kept == 0 {
            return;
        }
        let bytes = chunk[..kept].to_vec();
        self.queue.push(if is_stdout {
            JailEvent::Stdout(bytes)
        } else {
            JailEvent::Stderr(bytes)
        });
    }
}

impl OutputSink for EventSink {
    fn stdout(&mut self, chunk: &[u8]) {
        self.emit(true, chunk);
    }
    fn stderr(&mut self, chunk: &[u8]) {
        self.emit(false, chunk);
    }
    fn stats(&mut self, stats: JailStats) {
        self.queue.push(JailEvent::Stats(stats));
    }
    fn egress(&mut self, record: EgressRecord) {
        self.queue.push(JailEvent::Egress(record));
    }
    fn queue(&mut self) -> Option<&mut EventQueue> {
        Some(&mut self.queue)
    }
    fn finish(&mut self) -> (Output, Output) {
        self.capture.finish()
    }
}

/// A running jail.
#[derive(Debug)]
pub struct JailHandle {
    pid: i32,
    control: JailControl,
    stdin: Option<pipe::Sender>,
    stdout: Option<pipe::Receiver>,
    stderr: Option<pipe::Receiver>,
    report: Option<OwnedFd>,
    /// The egress proxy serving this jail (allowlist mode).
    egress: Option<ProxySession>,
    /// Relays to host services; dropped (closed) when the jail ends.
    forwards: Option<Forwards>,
    mount_namespace: Option<OwnedFd>,
    /// Root mode: the jail's block of host ids, returned once the init is
    /// gone.
    ids: Option<IdBlock>,
    /// Counts the jail as running for the warm pool until it is gone.
    running: Option<zygote::Running>,
    /// The request socket (which may hold the init's copy of the host's
    /// tree, unread) and the copy if it was read: released like the mount
    /// namespace.
    tree_holders: Vec<OwnedFd>,
    command: String,
    started_at: Instant,
    deadline: Option<Instant>,
    output_cap: usize,
    /// Set once the jail is reaped and its cgroup removed.
    finished: bool,
}

/// Pieces the engine assembles a handle from.
pub(crate) struct HandleParts {
    pub pid: i32,
    pub pidfd: OwnedFd,
    pub mount_namespace: Option<OwnedFd>,
    pub requests: OwnedFd,
    pub host_tree: Vec<OwnedFd>,
    pub cgroup: Option<Arc<dyn JailCgroup>>,
    pub ids: Option<IdBlock>,
    pub running: Option<zygote::Running>,
    pub stdin: Option<pipe::Sender>,
    pub stdout: pipe::Receiver,
    pub stderr: pipe::Receiver,
    pub report: OwnedFd,
    pub egress: Option<ProxySession>,
    pub forwards: Option<Forwards>,
    pub command: String,
    pub started_at: Instant,
    pub timeout: Option<Duration>,
    pub output_cap: usize,
}

impl JailHandle {
    pub(crate) fn new(parts: HandleParts) -> Self {
        JailHandle {
            pid: parts.pid,
            control: JailControl {
                pidfd: Arc::new(parts.pidfd),
                cgroup: parts.cgroup,
                frozen: Arc::new(AtomicBool::new(false)),
            },
            stdin: parts.stdin,
            stdout: Some(parts.stdout),
            stderr: Some(parts.stderr),
            report: Some(parts.report),
            egress: parts.egress,
            forwards: parts.forwards,
            mount_namespace: parts.mount_namespace,
            ids: parts.ids,
            running: parts.running,
            tree_holders: std::iter::once(parts.requests).chain(parts.host_tree).collect(),
            command: parts.command,
            started_at: parts.started_at,
            deadline: parts.timeout.map(|t| parts.started_at + t),
            output_cap: parts.output_cap,
            finished: false,
        }
    }

    /// Takes the init's request socket (a runtime jail's executor talks on
    /// it).
    pub(crate) fn take_request_socket(&mut self) -> Option<OwnedFd> {
        (!self.tree_holders.is_empty()).then(|| self.tree_holders.remove(0))
    }

    /// The host pid of the jail's init (PID 1 inside the jail).
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// A cloneable controller (kill, freeze, thaw, stats).
    pub fn control(&self) -> JailControl {
        self.control.clone()
    }

    /// Kills the jail; `wait` then returns promptly.
    pub fn kill(&self) -> Result<()> {
        self.control.kill()
    }

    /// Freezes the jail.
    pub fn freeze(&self) -> Result<()> {
        self.control.freeze()
    }

    /// Thaws the jail.
    pub fn thaw(&self) -> Result<()> {
        self.control.thaw()
    }

    /// Current usage.
    pub fn stats(&self) -> Option<JailStats> {
        self.control.stats()
    }

    /// The write end of standard input (with `Stdin::Pipe`).
    pub fn take_stdin(&mut self) -> Option<pipe::Sender> {
        self.stdin.take()
    }

    /// The read end of standard output; `wait` then no longer captures it.
    pub fn take_stdout(&mut self) -> Option<pipe::Receiver> {
        self.stdout.take()
    }

    /// The read end of standard error; `wait` then no longer captures it.
    pub fn take_stderr(&mut self) -> Option<pipe::Receiver> {
        self.stderr.take()
    }

    /// Waits for the jail to end (or its deadline to pass), capturing the
    /// streams not taken, and cleans up.
    pub async fn wait(self) -> Result<JailResult> {
        let mut sink = CaptureSink::new(self.output_cap);
        self.drive(&mut sink, None, None).await
    }

    /// Streams the jail's events as [`crate::Engine::stream`] does, from a
    /// handle the caller already holds (so it keeps the jail's control to
    /// kill or freeze it meanwhile).
    pub fn into_events(self, stats_every: Duration) -> mpsc::Receiver<JailEvent> {
        let (events, receiver) = mpsc::channel(crate::engine::STREAM_CHANNEL);
        tokio::spawn(self.stream_into(events, stats_every));
        receiver
    }

    /// Streams the jail's events to `events` until it ends.
    pub(crate) async fn stream_into(self, events: mpsc::Sender<JailEvent>, stats_every: Duration) {
        let mut queue = EventQueue::default();
        if events.send(JailEvent::Started { pid: self.pid }).await.is_err() {
            // Nobody listens: the jail still runs to its end, unobserved.
            queue.close();
        }
        let mut sink = EventSink {
            queue,
            capture: CaptureSink::new(self.output_cap),
        };
        let event = match self.drive(&mut sink, Some(stats_every), Some(&events)).await {
            Ok(result) => JailEvent::Completed(result),
            Err(err) => JailEvent::Failed(err),
        };
        for pending in sink.queue.events.drain(..).chain([event]) {
            if events.send(pending).await.is_err() {
                return;
            }
        }
    }

    /// Reads the jail's output into `sink` until the jail ends or its
    /// deadline passes. A stream sink's queued events go to `events` as the
    /// consumer takes them; while the queue is full the pipes are not read,
    /// so a slow consumer slows the jail down instead of growing memory
    /// (the deadline and kills still apply).
    async fn drive(
        mut self,
        sink: &mut dyn OutputSink,
        stats_every: Option<Duration>,
        events: Option<&mpsc::Sender<JailEvent>>,
    ) -> Result<JailResult> {
        // Standard input not taken by the caller is closed, so that a command
        // reading it sees end of file.
        drop(self.stdin.take());
        // SAFETY: `SharedFd` keeps the pidfd alive (an Arc) for as long as
        // the registration exists.
        let pidfd = unsafe {
            AsyncFd::register_with_interest(SharedFd(self.control.pidfd.clone()), tokio::io::Interest::READABLE)
        }
        .map_err(|e| JailError::host("register pidfd", e.into_parts().1))?;
        let mut stdout = self.stdout.take();
        let mut stderr = self.stderr.take();
        // Streams read small chunks so that one read adds at most a few
        // thousand events to a full queue.
        let streaming = sink.queue().is_some();
        let chunk = if streaming { STREAM_READ_CHUNK } else { READ_CHUNK };
        // Allocated on the first output: most jails write little or nothing.
        let mut out_buf = Vec::new();
        let mut err_buf = Vec::new();
        let mut exited = false;
        // When the jail ended: its duration, however long a stalled
        // consumer then takes to read what it wrote.
        let mut ended_at: Option<std::time::Instant> = None;
        let mut timed_out = false;
        let mut give_up_at: Option<tokio::time::Instant> = None;
        let deadline = self.deadline.map(tokio::time::Instant::from_std);
        // Streams get each egress record as it is made.
        let mut egress_live = match (&mut self.egress, streaming) {
            (Some(session), true) => session.take_live(),
            _ => None,
        };
        let mut ticker = stats_every.map(|every| {
            let mut t = tokio::time::interval(every);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        });

        // Captured streams that turned out bulky, read on threads.
        let mut bulk_out: Option<BulkRead> = None;
        let mut bulk_err: Option<BulkRead> = None;
        let (mut out_read, mut err_read) = (0u64, 0u64);
        loop {
            if exited && stdout.is_none() && stderr.is_none() && bulk_out.is_none() && bulk_err.is_none() {
                break;
            }
            let backlog = sink.queue().map_or(0, |queue| queue.len());
            let room = backlog < MAX_QUEUED_EVENTS;
            // After the jail ended, waiting is bounded by lack of progress,
            // not by how long a consumer takes to read what is left.
            if exited {
                give_up_at = Some(tokio::time::Instant::now() + DRAIN_GRACE);
            }
            tokio::select! {
                read = read_some(&mut stdout, &mut out_buf, chunk), if room => match read {
                    Some(n) => {
                        sink.stdout(&out_buf[..n]);
                        if !streaming {
                            out_read += n as u64;
                            bulk_out = capture_rest(&mut stdout, &mut out_buf, &mut out_read, sink, Stream::Stdout);
                        }
                    }
                    None => stdout = None,
                },
                read = read_some(&mut stderr, &mut err_buf, chunk), if room => match read {
                    Some(n) => {
                        sink.stderr(&err_buf[..n]);
                        if !streaming {
                            err_read += n as u64;
                            bulk_err = capture_rest(&mut stderr, &mut err_buf, &mut err_read, sink, Stream::Stderr);
                        }
                    }
                    None => stderr = None,
                },
                capture = BulkRead::join(&mut bulk_out) => {
                    bulk_out = None;
                    sink.put_capture(Stream::Stdout, capture);
                },
                capture = BulkRead::join(&mut bulk_err) => {
                    bulk_err = None;
                    sink.put_capture(Stream::Stderr, capture);
                },
                permit = reserve(events), if backlog > 0 => match (permit, sink.queue()) {
                    (Some(permit), Some(queue)) => {
                        if let Some(event) = queue.events.pop_front() {
                            permit.send(event);
                        }
                    }
                    // The consumer went away: keep running the jail, queue nothing.
                    (None, Some(queue)) => queue.close(),
                    (_, None) => {}
                },
                ready = pidfd.readable(), if !exited => {
                    if ready.is_ok() {
                        exited = true;
                        ended_at = Some(std::time::Instant::now());
                        give_up_at = Some(tokio::time::Instant::now() + DRAIN_GRACE);
                    }
                },
                () = sleep_until_opt(deadline), if !timed_out && !exited => {
                    timed_out = true;
                    self.control.kill()?;
                    give_up_at = Some(tokio::time::Instant::now() + KILL_GRACE);
                },
                () = sleep_until_opt(give_up_at) => break,
                record = recv_opt(&mut egress_live), if room => match record {
                    Some(record) => sink.egress(record),
                    None => egress_live = None,
                },
                // Usage is sampled while the jail runs, and only while a
                // stream consumer keeps up.
                _ = tick_opt(&mut ticker), if !exited && room => {
                    if let Some(stats) = self.control.stats() {
                        sink.stats(stats);
                    }
                },
            }
        }
        // Gave up on streams still open: what the bulk readers have is kept.
        for (bulk, stream) in [(bulk_out, Stream::Stdout), (bulk_err, Stream::Stderr)] {
            if let Some(bulk) = bulk {
                sink.put_capture(stream, bulk.stop().await);
            }
        }
        if !exited {
            // Only reachable when the init ignored SIGKILL for KILL_GRACE
            // (stuck in the kernel); report what is known.
            tracing::warn!(pid = self.pid, "jail init still alive after kill grace");
        }
        // The jail is gone: close what is left of its connections, then
        // hand over the records not yet streamed.
        let egress = match self.egress.take() {
            Some(session) => Some(session.finish().await),
            None => None,
        };
        if let Some(live) = &mut egress_live {
            while let Ok(record) = live.try_recv() {
                sink.egress(record);
            }
        }
        let (stdout, stderr) = sink.finish();
        let reports = self.read_reports();
        let stats = self.control.stats();
        let oom_killed = self.control.cgroup.as_ref().is_some_and(|c| c.oom_killed());
        let duration = ended_at.map_or_else(|| self.started_at.elapsed(), |at| at - self.started_at);
        self.cleanup();

        let mut status = None;
        for report in reports {
            match report {
                Report::SetupFailed { step, errno, detail } => {
                    return Err(setup_error(step, errno, detail, &self.command));
                }
                Report::Exited { code } => status = Some(ExitStatus::Code(code)),
                Report::Signaled { signal } => status = Some(ExitStatus::Signal(signal)),
            }
        }
        // No report: the init itself was killed (deadline, kill, OOM).
        let status = status.unwrap_or(ExitStatus::Signal(libc::SIGKILL));
        Ok(JailResult {
            status,
            duration,
            timed_out,
            oom_killed,
            stdout,
            stderr,
            stats,
            egress,
        })
    }

    /// Reads the report lines the init and the command wrote.
    fn read_reports(&mut self) -> Vec<Report> {
        let Some(fd) = self.report.take() else {
            return Vec::new();
        };
        let _ = sys::set_nonblocking(fd.as_raw_fd(), true);
        let mut text = Vec::new();
        let _ = std::fs::File::from(fd).read_to_end(&mut text);
        text.split(|&b| b == b'\n')
            .filter(|line| !line.is_empty())
            .filter_map(|line| serde_json::from_slice(line).ok())
            .collect()
    }

    /// Kills whatever is left and waits for the init to be gone; the cgroup
    /// and the mount namespace are released in the background (`reaper`).
    /// Mounts and the root live in the jail's mount namespace and vanish
    /// with it.
    fn cleanup(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        drop(self.forwards.take());
        let _ = self.control.kill();
        sys::wait_for_exit(&self.control.pidfd, KILL_GRACE);
        if let Some(ids) = self.ids.take() {
            zygote::release_ids(ids, &self.control.pidfd);
        }
        // The pool may refill now that this jail no longer needs the CPU.
        drop(self.running.take());
        if let Some(cgroup) = self.control.cgroup.clone() {
            reaper::release_later(Remains::Cgroup(cgroup));
        }
        if let Some(namespace) = self.mount_namespace.take() {
            reaper::release_later(Remains::MountNamespace(namespace));
        }
        for holder in self.tree_holders.drain(..) {
            reaper::release_later(Remains::MountTree(holder));
        }
    }
}

impl Drop for JailHandle {
    fn drop(&mut self) {
        self.cleanup();
    }
}

pub(crate) fn setup_error(step: SetupStep, errno: i32, detail: String, command: &str) -> JailError {
    if step == SetupStep::Exec {
        let reason = std::io::Error::from_raw_os_error(errno).to_string();
        return JailError::Exec {
            command: command.to_owned(),
            detail: reason,
        };
    }
    JailError::Setup { step, detail }
}

/// Capture mode, after a read of `stream`: takes whatever else is waiting
/// (counted in `read`), and moves the stream to a bulk reader once it has
/// produced `BULK_AFTER` bytes (the reader is returned).
fn capture_rest(
    stream: &mut Option<pipe::Receiver>,
    buf: &mut [u8],
    read: &mut u64,
    sink: &mut dyn OutputSink,
    which: Stream,
) -> Option<BulkRead> {
    drain(stream, buf, |chunk| {
        *read += chunk.len() as u64;
        match which {
            Stream::Stdout => sink.stdout(chunk),
            Stream::Stderr => sink.stderr(chunk),
        }
    });
    if *read < BULK_AFTER {
        return None;
    }
    BulkRead::start(stream, sink, which)
}

/// A captured stream read to its end by a blocking thread, straight into
/// its capture. A fast writer and an async reader take turns on every
/// write (the reader drains the pipe, the next write wakes it through
/// epoll and the runtime), and that wake-up costs more than the copy; a
/// thread that blocks in `poll` wakes for a fraction of it. Only streams
/// that already produced `BULK_AFTER` bytes pay for the thread, which
/// sleeps in `poll` until the pipe or its stop signal wakes it.
struct BulkRead {
    task: tokio::task::JoinHandle<Capture>,
    /// An eventfd the thread polls next to the pipe: written to stop it.
    stop: Arc<OwnedFd>,
}

impl BulkRead {
    /// Moves `stream` and the sink's capture of it to a thread; `None`
    /// (nothing moved) when the sink does not capture.
    fn start(stream: &mut Option<pipe::Receiver>, sink: &mut dyn OutputSink, which: Stream) -> Option<Self> {
        let mut capture = sink.take_capture(which)?;
        let Ok(stop) = sys::eventfd().map(Arc::new) else {
            // Without a way to stop a thread, the stream stays here.
            sink.put_capture(which, capture);
            return None;
        };
        let Some(fd) = stream.take().and_then(|rx| rx.into_nonblocking_fd().ok()) else {
            // Lost on the way (deregistration failed): the stream ends here.
            sink.put_capture(which, capture);
            return None;
        };
        let stopped = stop.clone();
        let task = tokio::task::spawn_blocking(move || {
            let mut scratch = Vec::new();
            loop {
                match capture.read_from(fd.as_raw_fd(), &mut scratch) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        // An interrupted poll just reads and polls again.
                        let (data, stop) =
                            sys::poll_either(fd.as_raw_fd(), stopped.as_raw_fd()).unwrap_or((false, false));
                        // Stopped: what is waiting in the pipe was read above.
                        if stop && !data {
                            break;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            capture
        });
        Some(BulkRead { task, stop })
    }

    /// The capture once the stream ended (pending without a reader).
    async fn join(bulk: &mut Option<BulkRead>) -> Capture {
        match bulk {
            Some(bulk) => (&mut bulk.task).await.unwrap_or_else(|_| lost_capture()),
            None => std::future::pending().await,
        }
    }

    /// Stops reading once the pipe is empty and returns what was captured.
    async fn stop(mut self) -> Capture {
        self.signal_stop();
        (&mut self.task).await.unwrap_or_else(|_| lost_capture())
    }

    fn signal_stop(&self) {
        sys::eventfd_signal(&self.stop);
    }
}

impl Drop for BulkRead {
    /// A reader left behind (an error return) ends with the stream's
    /// current data instead of waiting for the jail.
    fn drop(&mut self) {
        self.signal_stop();
    }
}

/// What a bulk reader that panicked leaves: nothing it read can be trusted.
fn lost_capture() -> Capture {
    tracing::error!("a bulk output reader panicked; the stream's capture is lost");
    Capture::new(0)
}

/// Reads whatever else is waiting in the pipe without yielding: one wakeup
/// then moves everything a fast writer produced meanwhile.
fn drain(stream: &mut Option<pipe::Receiver>, buf: &mut [u8], mut sink: impl FnMut(&[u8])) {
    while let Some(rx) = stream {
        match rx.try_read(buf) {
            Ok(0) => *stream = None,
            Ok(n) => sink(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
            Err(_) => *stream = None,
        }
    }
}

/// Reads what is waiting in the pipe into `buf`, which gets `chunk` bytes
/// with the stream's first data (a stream that only ends needs none).
async fn read_some(stream: &mut Option<pipe::Receiver>, buf: &mut Vec<u8>, chunk: usize) -> Option<usize> {
    let Some(rx) = stream else {
        return std::future::pending().await;
    };
    loop {
        if rx.readable().await.is_err() {
            return None;
        }
        let read = if buf.is_empty() {
            let mut first = [0u8; 512];
            rx.try_read(&mut first).inspect(|&n| {
                if n > 0 {
                    buf.resize(chunk.max(n), 0);
                    buf[..n].copy_from_slice(&first[..n]);
                }
            })
        } else {
            rx.try_read(buf)
        };
        match read {
            Ok(0) => return None,
            Ok(n) => return Some(n),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => return None,
        }
    }
}

/// A slot in the stream channel, or `None` once the consumer is gone.
async fn reserve(events: Option<&mpsc::Sender<JailEvent>>) -> Option<mpsc::Permit<'_, JailEvent>> {
    match events {
        Some(events) => events.reserve().await.ok(),
        None => std::future::pending().await,
    }
}

async fn recv_opt(receiver: &mut Option<mpsc::UnboundedReceiver<EgressRecord>>) -> Option<EgressRecord> {
    match receiver {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn tick_opt(ticker: &mut Option<tokio::time::Interval>) {
    match ticker {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}
