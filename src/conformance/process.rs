//! An implementation under test as a child process speaking `offline-im/1`
//! on its stdin and stdout.
//!
//! Invariants it keeps:
//! - Nothing blocks without a bound. A writer thread feeds the child's
//!   stdin, a reader thread collects its stdout lines, and every answer is
//!   awaited with the timeout; a child that stops answering is a `Fault`,
//!   never a hang.
//! - The child runs in its own process group, and dropping a `Process`
//!   kills the whole group and reaps the child, so no implementation (nor
//!   anything it started) outlives the run.
//! - Requests are pipelined: a batch is written in one go and its answers
//!   are read in order, each checked for the id in flight.
//!
//! What it deliberately does not do: interpret results. It returns answers;
//! the runner compares them.

// One of the few files allowed unsafe code (`#![deny(unsafe_code)]` in
// lib.rs): every block says why it is sound.
#![allow(unsafe_code)]

use super::protocol::{
    Answer, Driver, Fault, Op, RawAnswer, decode_answer, decode_raw_answer, encode_request,
    raw_line_name, truncate,
};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// How many lines of the child's stderr a fault report shows.
const STDERR_LINES_KEPT: usize = 20;

/// A running implementation.
pub struct Process {
    child: Child,
    requests: Option<Sender<Vec<u8>>>,
    writer_errors: Receiver<String>,
    lines: Receiver<Vec<u8>>,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
    stderr_reader: thread::JoinHandle<()>,
    timeout: Duration,
    next_id: u64,
}

impl Process {
    /// Starts `command` with `sh -c`, so that the command line may carry
    /// arguments, quoting and environment assignments as a shell reads them.
    pub fn spawn(command: &str, timeout: Duration) -> Result<Process, Fault> {
        let spawn_fault = |e: std::io::Error| Fault::Spawn {
            command: command.to_string(),
            error: e.to_string(),
        };
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(spawn_fault)?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            kill_group(&mut child);
            return Err(spawn_fault(std::io::Error::other("no pipes to the child")));
        };
        let (requests, batches) = channel::<Vec<u8>>();
        let (writer_error_tx, writer_errors) = channel::<String>();
        thread::spawn(move || write_batches(stdin, &batches, &writer_error_tx));
        let (line_tx, lines) = channel::<Vec<u8>>();
        thread::spawn(move || read_lines(stdout, &line_tx));
        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        let tail = Arc::clone(&stderr_tail);
        let stderr_reader = thread::spawn(move || keep_tail(stderr, &tail));
        Ok(Process {
            child,
            requests: Some(requests),
            writer_errors,
            lines,
            stderr_tail,
            stderr_reader,
            timeout,
            next_id: 1,
        })
    }

    /// The last lines the child wrote to stderr, for fault reports. Waits
    /// up to 200 ms for the stderr reader to reach the end of the stream,
    /// so that the lines a dying child wrote last are included.
    pub fn stderr_tail(&self) -> Vec<String> {
        for _ in 0..100 {
            if self.stderr_reader.is_finished() {
                break;
            }
            thread::sleep(Duration::from_millis(2));
        }
        self.stderr_tail
            .lock()
            .map(|t| t.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The child's exit status if it has exited, waiting briefly for it.
    fn exit_status(&mut self) -> String {
        for _ in 0..50 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.to_string();
            }
            thread::sleep(Duration::from_millis(2));
        }
        "still running, with its stdout closed".to_string()
    }

    /// Sends `ops` in one batch and reads one answer per op, in order.
    /// With `lock_step`, each op waits for its answer before the next is
    /// written (for per-op latency measurements).
    pub fn exchange_timed(
        &mut self,
        ops: &[Op],
        lock_step: bool,
        mut latency: impl FnMut(Duration),
    ) -> Result<Vec<Answer>, Fault> {
        let first_id = self.next_id;
        self.next_id += ops.len() as u64;
        let mut answers = Vec::with_capacity(ops.len());
        let chunk = if lock_step { 1 } else { ops.len().max(1) };
        for (c, batch) in ops.chunks(chunk).enumerate() {
            let batch_first = first_id + (c * chunk) as u64;
            let mut bytes = Vec::new();
            for (i, op) in batch.iter().enumerate() {
                bytes.extend_from_slice(encode_request(batch_first + i as u64, op).as_bytes());
                bytes.push(b'\n');
            }
            let started = std::time::Instant::now();
            self.send_batch(bytes, batch_first, || batch[0].to_string())?;
            for (i, op) in batch.iter().enumerate() {
                let id = batch_first + i as u64;
                let line = self.read_line(id, || op.to_string())?;
                answers.push(decode_answer(&line, id, op)?);
            }
            latency(started.elapsed());
        }
        Ok(answers)
    }

    /// Writes `bytes` to the child; `id` and `op` name the batch's first
    /// request in the fault.
    fn send_batch(
        &mut self,
        bytes: Vec<u8>,
        id: u64,
        op: impl FnOnce() -> String,
    ) -> Result<(), Fault> {
        let sent = self
            .requests
            .as_ref()
            .is_some_and(|r| r.send(bytes).is_ok());
        if sent {
            Ok(())
        } else {
            Err(self.write_fault(id, op()))
        }
    }

    /// A failed write, reported as an exit when the child has exited (the
    /// usual cause of a broken pipe).
    fn write_fault(&mut self, id: u64, op: String) -> Fault {
        let error = self
            .writer_errors
            .recv_timeout(Duration::from_millis(100))
            .unwrap_or_else(|_| "the writer stopped".to_string());
        if let Ok(Some(status)) = self.child.try_wait() {
            return Fault::Exited {
                id,
                op,
                status: status.to_string(),
            };
        }
        Fault::Write { id, op, error }
    }

    /// The next answer line's content, awaited with the timeout; `id` and
    /// `op` name the request in flight in the fault.
    fn read_line(&mut self, id: u64, op: impl FnOnce() -> String) -> Result<String, Fault> {
        match self.lines.recv_timeout(self.timeout) {
            // The line's content is everything before its LF, exactly as
            // `serve` reads a request (CONF-001): a blank line is not JSON.
            Ok(line) => {
                Ok(String::from_utf8_lossy(line.strip_suffix(b"\n").unwrap_or(&line)).into_owned())
            }
            Err(RecvTimeoutError::Timeout) => Err(Fault::Timeout {
                id,
                op: op(),
                timeout_ms: self.timeout.as_millis() as u64,
            }),
            Err(RecvTimeoutError::Disconnected) => Err(Fault::Exited {
                id,
                op: op(),
                status: self.exit_status(),
            }),
        }
    }
}

impl Driver for Process {
    fn exchange(&mut self, ops: &[Op]) -> Result<Vec<Answer>, Fault> {
        self.exchange_timed(ops, false, |_| {})
    }

    fn exchange_lines(&mut self, lines: &[Vec<u8>]) -> Result<Vec<RawAnswer>, Fault> {
        if lines.is_empty() {
            return Ok(Vec::new());
        }
        let mut bytes = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
        for line in lines {
            bytes.extend_from_slice(line);
            bytes.push(b'\n');
        }
        self.send_batch(bytes, 0, || raw_line_name(0, &lines[0]))?;
        let mut answers = Vec::with_capacity(lines.len());
        for (i, line) in lines.iter().enumerate() {
            let name = || raw_line_name(i, line);
            let answer = self.read_line(i as u64, name)?;
            answers.push(decode_raw_answer(&answer, i as u64, &name())?);
        }
        Ok(answers)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // Closing stdin first lets a well-behaved child exit by itself;
        // the group kill then covers everything else it started.
        self.requests = None;
        kill_group(&mut self.child);
    }
}

/// Kills the child's process group and reaps the child.
fn kill_group(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: `killpg` only sends a signal; the group id is the child's
        // pid because it was spawned with `process_group(0)`.
        unsafe {
            libc::killpg(pid, libc::SIGKILL);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Feeds batches to the child's stdin until the channel closes or a write
/// fails (the failure is reported to the runner).
fn write_batches(mut stdin: ChildStdin, batches: &Receiver<Vec<u8>>, errors: &Sender<String>) {
    for bytes in batches {
        if let Err(e) = stdin.write_all(&bytes).and_then(|()| stdin.flush()) {
            let _ = errors.send(e.to_string());
            return;
        }
    }
}

/// Forwards the child's stdout line by line until it closes.
fn read_lines(stdout: impl Read, lines: &Sender<Vec<u8>>) {
    let mut reader = BufReader::new(stdout);
    loop {
        let mut line = Vec::new();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                if lines.send(line).is_err() {
                    return;
                }
            }
        }
    }
}

/// Keeps the last `STDERR_LINES_KEPT` lines of the child's stderr.
fn keep_tail(stderr: impl Read, tail: &Mutex<VecDeque<String>>) {
    let reader = BufReader::new(stderr);
    for line in reader.split(b'\n') {
        let Ok(line) = line else { return };
        if let Ok(mut t) = tail.lock() {
            if t.len() == STDERR_LINES_KEPT {
                t.pop_front();
            }
            t.push_back(truncate(&String::from_utf8_lossy(&line), 300));
        }
    }
}
