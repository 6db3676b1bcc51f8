//! Group commit: many writers, one flush. A writer puts its file in place (written, renamed)
//! and then waits for a flush that started after that; whoever finds no flush running starts
//! one for everybody waiting. On Linux the flush is `syncfs` on the store's filesystem, which
//! makes file contents and directory entries durable together, so fifty messages arriving at
//! once cost one journal commit instead of a hundred fsyncs.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::{Condvar, Mutex};

pub struct GroupCommit {
    /// Any file or folder on the filesystem to flush.
    anchor: File,
    state: Mutex<State>,
    flushed: Condvar,
}

#[derive(Default)]
struct State {
    /// Writers that asked so far, and how many of them a finished flush covers.
    requested: u64,
    covered: u64,
    running: bool,
    flushes: u64,
}

impl GroupCommit {
    pub fn new(dir: &Path) -> io::Result<GroupCommit> {
        Ok(GroupCommit {
            anchor: File::open(dir)?,
            state: Mutex::new(State::default()),
            flushed: Condvar::new(),
        })
    }

    /// Returns once everything this thread wrote before the call is on disk.
    pub fn commit(&self) -> io::Result<()> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.requested += 1;
        let ticket = st.requested;
        loop {
            if st.covered >= ticket {
                return Ok(());
            }
            if !st.running {
                st.running = true;
                let target = st.requested;
                drop(st);
                let result = flush(&self.anchor);
                st = self.state.lock().unwrap_or_else(|e| e.into_inner());
                st.running = false;
                if result.is_ok() {
                    st.covered = st.covered.max(target);
                    st.flushes += 1;
                }
                self.flushed.notify_all();
                // On failure this writer reports it; the others retry with a flush of their own.
                result?;
                continue;
            }
            st = self.flushed.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Flushes done so far (for the health endpoint and tests).
    pub fn flushes(&self) -> u64 {
        self.state.lock().map(|s| s.flushes).unwrap_or(0)
    }
}

#[cfg(target_os = "linux")]
fn flush(anchor: &File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: syncfs only reads the descriptor, which `anchor` keeps open.
    if unsafe { libc::syncfs(anchor.as_raw_fd()) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn flush(_anchor: &File) -> io::Result<()> {
    // No syncfs: a full sync is the portable equivalent.
    // SAFETY: sync takes no arguments and cannot fail.
    unsafe { libc::sync() };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn concurrent_writers_share_flushes() {
        let dir = std::env::temp_dir();
        let gc = Arc::new(GroupCommit::new(&dir).unwrap());
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let gc = gc.clone();
                std::thread::spawn(move || {
                    for _ in 0..10 {
                        gc.commit().unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let flushes = gc.flushes();
        assert!((1..=160).contains(&flushes), "{flushes}");
    }
}
