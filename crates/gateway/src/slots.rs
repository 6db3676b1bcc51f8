//! CPU slots for scans, given to the oldest message first.
//!
//! A message's scan has two CPU-bound halves with a DNS wait between them. With a plain FIFO
//! semaphore per half, a message back from DNS queues behind messages that arrived after it,
//! and its sender's wait grows with every stage it queues at. Here every waiter carries the
//! moment its message's data ended, and a freed slot goes to the earliest: the oldest message
//! in the gateway is always the next to get the CPU, which keeps the slowest replies close
//! to the typical one.
//!
//! The steps run on the slots' own threads, one per slot: a step that holds a slot never waits
//! for a thread, and every scan allocates in the same few thread heaps. (On tokio's blocking
//! pool, shared with stores waiting for a group commit, dozens of threads came and went, each
//! warming its own heap: the kernel zeroing their fresh pages was a fifth of the milter path's
//! CPU, and the process grew by tens of megabytes per thousand messages.)

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::panic::AssertUnwindSafe;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Instant;

use tokio::sync::oneshot;

/// A fixed number of slots, handed out oldest-first, and their threads.
pub struct Slots {
    inner: Arc<Mutex<State>>,
    /// Work for the slots' threads; they end when this is dropped.
    jobs: mpsc::Sender<Job>,
}

type Job = Box<dyn FnOnce() + Send>;

/// Scan steps recurse through hostile structure (bounded at parse time): the stack of a
/// thread of tokio's blocking pool and more.
const STEP_STACK_BYTES: usize = 8 << 20;

struct State {
    free: usize,
    /// By arrival (earliest first), then by order of asking.
    waiting: BinaryHeap<Reverse<Waiter>>,
    asked: u64,
}

struct Waiter {
    arrived: Instant,
    order: u64,
    give: oneshot::Sender<Slot>,
}

impl PartialEq for Waiter {
    fn eq(&self, other: &Self) -> bool {
        (self.arrived, self.order) == (other.arrived, other.order)
    }
}
impl Eq for Waiter {}
impl PartialOrd for Waiter {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Waiter {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.arrived, self.order).cmp(&(other.arrived, other.order))
    }
}

/// A held slot; dropping it passes it to the oldest waiter, or frees it.
pub struct Slot {
    inner: Option<Arc<Mutex<State>>>,
}

impl Slots {
    pub fn new(count: usize) -> Slots {
        let count = count.max(1);
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..count {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("mailmoat-scan-{i}"))
                .stack_size(STEP_STACK_BYTES)
                .spawn(move || loop {
                    // The lock is held only while taking a job, never while running one.
                    let job = queue.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    match job {
                        Ok(job) => job(),
                        Err(mpsc::RecvError) => return,
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a scan thread");
            }
        }
        Slots {
            inner: Arc::new(Mutex::new(State {
                free: count,
                waiting: BinaryHeap::new(),
                asked: 0,
            })),
            jobs,
        }
    }

    /// Runs one CPU-bound step on the slots' threads. A step that panics is an error here;
    /// the thread lives on.
    pub async fn run<T: Send + 'static>(
        &self,
        step: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, String> {
        let (give, outcome) = oneshot::channel();
        let job: Job = Box::new(move || {
            let result = std::panic::catch_unwind(AssertUnwindSafe(step)).map_err(|panic| {
                let text = mailmoat_core::panic_text(panic.as_ref()).unwrap_or("a panic");
                format!("scan step panicked: {text}")
            });
            let _ = give.send(result);
        });
        self.jobs
            .send(job)
            .map_err(|_| "no scan thread is running".to_string())?;
        outcome
            .await
            .map_err(|_| "the scan thread ended before answering".to_string())?
    }

    /// Waits for a slot for a message whose data ended at `arrived`.
    pub async fn acquire(&self, arrived: Instant) -> Slot {
        let receiver = {
            let mut state = self.lock();
            if state.free > 0 && state.waiting.is_empty() {
                state.free -= 1;
                return Slot {
                    inner: Some(self.inner.clone()),
                };
            }
            let (give, receiver) = oneshot::channel();
            let order = state.asked;
            state.asked += 1;
            state.waiting.push(Reverse(Waiter {
                arrived,
                order,
                give,
            }));
            receiver
        };
        match receiver.await {
            Ok(slot) => slot,
            // The sender lives in the heap until it is given a slot, and `Slots` outlives
            // every waiter; should it ever go, run without a slot rather than never.
            Err(_) => Slot { inner: None },
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Slots free now.
    #[cfg(test)]
    fn free(&self) -> usize {
        self.lock().free
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let Some(inner) = self.inner.take() else {
            return;
        };
        let mut state = inner.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(Reverse(waiter)) = state.waiting.pop() {
            let slot = Slot {
                inner: Some(inner.clone()),
            };
            match waiter.give.send(slot) {
                Ok(()) => return,
                // That waiter gave up (its connection closed): the slot comes back here
                // through `returned`, which must not re-enter this lock.
                Err(mut returned) => returned.inner = None,
            }
        }
        state.free += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_freed_slot_goes_to_the_oldest_waiter_not_the_first_to_ask() {
        let slots = Arc::new(Slots::new(1));
        let base = Instant::now();
        let held = slots.acquire(base).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        // Ask in the order 30, 10, 20 (ms after base): served 10, 20, 30.
        for ms in [30u64, 10, 20] {
            let (slots, order) = (slots.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let _slot = slots.acquire(base + Duration::from_millis(ms)).await;
                order.lock().unwrap().push(ms);
            }));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        drop(held);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec![10, 20, 30]);
        assert_eq!(slots.free(), 1);
    }

    #[tokio::test]
    async fn a_waiter_that_gives_up_does_not_take_the_slot_with_it() {
        let slots = Arc::new(Slots::new(1));
        let now = Instant::now();
        let held = slots.acquire(now).await;
        // The oldest waiter gives up before the slot is freed.
        let gone = {
            let slots = slots.clone();
            tokio::spawn(async move {
                let _ = slots.acquire(now - Duration::from_secs(1)).await;
            })
        };
        tokio::time::sleep(Duration::from_millis(5)).await;
        gone.abort();
        let _ = gone.await;
        let next = {
            let slots = slots.clone();
            tokio::spawn(async move {
                let _slot = slots.acquire(now).await;
            })
        };
        tokio::time::sleep(Duration::from_millis(5)).await;
        drop(held);
        tokio::time::timeout(Duration::from_secs(2), next)
            .await
            .expect("the slot reached the remaining waiter")
            .unwrap();
        assert_eq!(slots.free(), 1);
    }

    #[tokio::test]
    async fn free_slots_are_taken_at_once_and_counted() {
        let slots = Slots::new(2);
        let a = slots.acquire(Instant::now()).await;
        let b = slots.acquire(Instant::now()).await;
        assert_eq!(slots.free(), 0);
        drop(a);
        assert_eq!(slots.free(), 1);
        drop(b);
        assert_eq!(slots.free(), 2);
    }

    #[tokio::test]
    async fn steps_run_on_the_slots_threads_and_a_panic_leaves_them_serving() {
        let slots = Slots::new(2);
        let name = slots
            .run(|| std::thread::current().name().map(str::to_string))
            .await
            .unwrap();
        assert!(name.unwrap().starts_with("mailmoat-scan-"));
        let panicked = slots.run(|| -> u32 { panic!("hostile input") }).await;
        assert_eq!(panicked.unwrap_err(), "scan step panicked: hostile input");
        // Both threads still take work, more steps than threads included.
        let mut answers = Vec::new();
        for i in 0..8u32 {
            answers.push(slots.run(move || i * 2));
        }
        let mut got = Vec::new();
        for a in answers {
            got.push(a.await.unwrap());
        }
        assert_eq!(got, (0..8).map(|i| i * 2).collect::<Vec<_>>());
    }
}
