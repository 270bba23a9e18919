//! Live views of the local API (WatchPeers, WatchPolicyHits, WatchSas, WatchEvents, Ping):
//! one task per stream, and that task ends with its client.
//!
//! [`LiveViews::spawn`] runs a view's work until the work is done, the client goes away (its
//! end of the stream is dropped), or the daemon stops — whichever comes first. Items pass
//! through a small bounded queue; a client that leaves it full for [`SLOW_CLIENT`] is dropped
//! (its stream ends with RESOURCE_EXHAUSTED) and counted, so a client that stops reading costs
//! a few queued items and no work. Every daemon's `Status` reports the counters.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use cvlan_proto::local::BoxStream;
use tokio::sync::{mpsc, watch};
use tokio_stream::Stream;
use tonic::Status;

/// Items a live view queues for its client before it waits for the client to read.
pub const LIVE_QUEUE: usize = 8;
/// How long a live view waits for a client with a full queue before dropping it.
pub const SLOW_CLIENT: Duration = Duration::from_secs(5);

/// How long after the last live view ends its memory is given back (its connection's
/// buffers go a moment after the view).
const RELEASE_AFTER_LAST_VIEW: Duration = Duration::from_millis(500);

/// The live views a daemon serves, counted.
#[derive(Debug, Default)]
pub struct LiveViews {
    open: AtomicU64,
    opened: AtomicU64,
    slow_dropped: AtomicU64,
}

/// The counters of [`LiveViews`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiveCounts {
    /// Streams whose work runs now.
    pub open: u64,
    /// Streams started since the daemon started.
    pub opened: u64,
    /// Streams ended because their client did not read.
    pub slow_dropped: u64,
}

/// Why a live view's item was not delivered: the view must end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Gone {
    /// The client went away.
    #[error("the client went away")]
    Left,
    /// The client did not read for [`SLOW_CLIENT`]; it is being dropped.
    #[error("the client did not read its live view")]
    TooSlow,
}

impl LiveViews {
    /// The counters now.
    pub fn counts(&self) -> LiveCounts {
        LiveCounts {
            open: self.open.load(Ordering::Relaxed),
            opened: self.opened.load(Ordering::Relaxed),
            slow_dropped: self.slow_dropped.load(Ordering::Relaxed),
        }
    }

    /// Starts a live view: `work` sends items through the [`LiveSender`] it is given and runs
    /// until it returns, the client drops the returned stream, or `stopping` turns true.
    pub fn spawn<T, F, Fut>(
        self: &Arc<Self>,
        mut stopping: watch::Receiver<bool>,
        work: F,
    ) -> BoxStream<T>
    where
        T: Send + 'static,
        F: FnOnce(LiveSender<T>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(LIVE_QUEUE);
        let too_slow = Arc::new(AtomicBool::new(false));
        let open = OpenView::new(self.clone());
        let sender = LiveSender {
            tx: tx.clone(),
            too_slow: too_slow.clone(),
            views: self.clone(),
        };
        let work = work(sender);
        tokio::spawn(async move {
            let _open = open;
            tokio::select! {
                () = work => {}
                () = tx.closed() => {}
                _ = stopping.wait_for(|s| *s) => {}
            }
        });
        Box::pin(LiveStream {
            rx,
            too_slow,
            ended: false,
        })
    }
}

/// Counts a view as open from its start to the end of its task.
struct OpenView(Arc<LiveViews>);

impl OpenView {
    fn new(views: Arc<LiveViews>) -> Self {
        views.open.fetch_add(1, Ordering::Relaxed);
        views.opened.fetch_add(1, Ordering::Relaxed);
        Self(views)
    }
}

impl Drop for OpenView {
    fn drop(&mut self) {
        // The last view out gives back what the views' snapshots took (100 clients of a
        // 100,000-peer table are ~500 MB at their peak), once the connections have closed too.
        if self.0.open.fetch_sub(1, Ordering::Relaxed) == 1 {
            crate::memory::release_free_memory_soon(RELEASE_AFTER_LAST_VIEW);
        }
    }
}

/// Where a live view's work sends its items.
pub struct LiveSender<T> {
    tx: mpsc::Sender<Result<T, Status>>,
    too_slow: Arc<AtomicBool>,
    views: Arc<LiveViews>,
}

impl<T> LiveSender<T> {
    /// Queues `item` for the client, waiting at most [`SLOW_CLIENT`] for room.
    pub async fn send(&self, item: Result<T, Status>) -> Result<(), Gone> {
        match self.tx.send_timeout(item, SLOW_CLIENT).await {
            Ok(()) => Ok(()),
            Err(mpsc::error::SendTimeoutError::Closed(_)) => Err(Gone::Left),
            Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
                self.too_slow.store(true, Ordering::Relaxed);
                self.views.slow_dropped.fetch_add(1, Ordering::Relaxed);
                Err(Gone::TooSlow)
            }
        }
    }
}

/// The client's end: the queued items, then RESOURCE_EXHAUSTED if it was dropped for not
/// reading.
struct LiveStream<T> {
    rx: mpsc::Receiver<Result<T, Status>>,
    too_slow: Arc<AtomicBool>,
    ended: bool,
}

impl<T> Stream for LiveStream<T> {
    type Item = Result<T, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        match self.rx.poll_recv(cx) {
            Poll::Ready(None) => {
                self.ended = true;
                Poll::Ready(
                    self.too_slow
                        .load(Ordering::Relaxed)
                        .then(|| Err(slow_client_status())),
                )
            }
            other => other,
        }
    }
}

fn slow_client_status() -> Status {
    Status::resource_exhausted(format!(
        "this client did not read its live view for {} s and was dropped; reconnect",
        SLOW_CLIENT.as_secs()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_stream::StreamExt;

    /// Waits (in virtual time) until no view is open, or gives up after a minute.
    async fn all_closed(views: &LiveViews) -> bool {
        for _ in 0..600 {
            if views.counts().open == 0 {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// A view that ticks forever and sends only when something changed — here, never.
    fn quiet_view(views: &Arc<LiveViews>, stopping: watch::Receiver<bool>) -> BoxStream<u32> {
        views.spawn(stopping, |_tx: LiveSender<u32>| async move {
            let mut ticks = tokio::time::interval(Duration::from_millis(100));
            loop {
                ticks.tick().await;
            }
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_view_ends_when_its_client_drops_it() {
        let views = Arc::new(LiveViews::default());
        let (_stop, stopping) = watch::channel(false);
        let streams: Vec<_> = (0..100)
            .map(|_| quiet_view(&views, stopping.clone()))
            .collect();
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(views.counts().open, 100);
        drop(streams);
        assert!(all_closed(&views).await, "{:?}", views.counts());
        assert_eq!(views.counts().opened, 100);
    }

    #[tokio::test(start_paused = true)]
    async fn every_view_ends_when_the_daemon_stops() {
        let views = Arc::new(LiveViews::default());
        let (stop, stopping) = watch::channel(false);
        let _streams: Vec<_> = (0..10)
            .map(|_| quiet_view(&views, stopping.clone()))
            .collect();
        tokio::time::sleep(Duration::from_secs(1)).await;
        stop.send_replace(true);
        assert!(all_closed(&views).await, "{:?}", views.counts());
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_stops_reading_is_dropped_and_told() {
        let views = Arc::new(LiveViews::default());
        let (_stop, stopping) = watch::channel(false);
        let mut stream = views.spawn(stopping, |tx: LiveSender<u64>| async move {
            for n in 0.. {
                if tx.send(Ok(n)).await.is_err() {
                    return;
                }
            }
        });
        // Never read: the queue fills, the sender waits SLOW_CLIENT, then gives up.
        tokio::time::sleep(SLOW_CLIENT * 2).await;
        assert!(all_closed(&views).await, "{:?}", views.counts());
        assert_eq!(views.counts().slow_dropped, 1);
        let mut items = Vec::new();
        while let Some(item) = stream.next().await {
            items.push(item);
        }
        assert_eq!(items.len(), LIVE_QUEUE + 1, "the queue, then the error");
        let last = items.pop().and_then(Result::err).map(|s| s.code());
        assert_eq!(last, Some(tonic::Code::ResourceExhausted));
        assert!(items.iter().all(Result::is_ok));
    }

    #[tokio::test(start_paused = true)]
    async fn finished_work_ends_the_stream_cleanly() {
        let views = Arc::new(LiveViews::default());
        let (_stop, stopping) = watch::channel(false);
        let stream = views.spawn(stopping, |tx: LiveSender<u8>| async move {
            for n in 0..3 {
                let _ = tx.send(Ok(n)).await;
            }
        });
        let items: Vec<u8> = stream
            .map(|r| r.expect("no error"))
            .collect::<Vec<_>>()
            .await;
        assert_eq!(items, vec![0, 1, 2]);
        assert!(all_closed(&views).await);
        assert_eq!(views.counts().slow_dropped, 0);
    }
}
