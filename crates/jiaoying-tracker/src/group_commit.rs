//! Group commit (SQLite): many small write jobs (an answer with its event and confirmation SMS) share one
//! transaction, so that a burst of answers costs one commit — one fsync on SQLite — per batch
//! instead of one per answer. Each caller still gets its own result, and only after the batch
//! committed: durability is unchanged.
//!
//! A job is a function of the transaction that may run twice: when any job of a batch fails
//! (PostgreSQL aborts the whole transaction on an error), the batch is rolled back and every job
//! runs again in a transaction of its own, so one bad job cannot fail the others.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};

use jiaoying_store::{Backend, Store, StoreError, StoreTx};
use tokio::sync::{mpsc, oneshot};

/// The most jobs one transaction takes: enough to amortise the commit, few enough that the
/// first caller in a batch does not wait long for the last.
const MAX_BATCH: usize = 256;

type AnyResult = Result<Box<dyn Any + Send>, StoreError>;
type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
type Work = Arc<dyn for<'a> Fn(&'a mut dyn StoreTx) -> BoxFuture<'a, AnyResult> + Send + Sync>;

struct Job {
    work: Work,
    reply: Mutex<Option<oneshot::Sender<AnyResult>>>,
}

impl Job {
    fn answer(&self, result: AnyResult) {
        if let Some(tx) = self.reply.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = tx.send(result);
        }
    }
}

/// The handle callers submit jobs through. The writer task starts on first use (inside the
/// runtime) and ends when every handle is gone.
#[derive(Clone)]
pub(crate) struct GroupCommit {
    store: Arc<dyn Store>,
    sender: Arc<OnceLock<mpsc::UnboundedSender<Job>>>,
}

impl GroupCommit {
    pub(crate) fn new(store: Arc<dyn Store>) -> Self {
        GroupCommit { store, sender: Arc::new(OnceLock::new()) }
    }

    /// Runs `work` inside a shared transaction and returns its value once that transaction has
    /// committed.
    pub(crate) async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'a> Fn(&'a mut dyn StoreTx) -> BoxFuture<'a, Result<T, StoreError>> + Send + Sync + 'static,
    {
        let work = Arc::new(work);
        if self.store.backend() == Backend::Postgres {
            // PostgreSQL commits concurrent transactions together by itself, and each statement
            // is a network round trip: funnelling every answer through one connection would make
            // them wait in line. There each job runs in its own transaction, concurrently.
            let mut tx = self.store.begin().await?;
            let value = work(tx.as_mut()).await?;
            tx.commit().await?;
            return Ok(value);
        }
        let work: Work = Arc::new(move |tx| {
            let fut = work(tx);
            Box::pin(async move { fut.await.map(|v| Box::new(v) as Box<dyn Any + Send>) })
        });
        let (reply, answer) = oneshot::channel();
        let sender = self.sender.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(writer(self.store.clone(), rx));
            tx
        });
        if sender.send(Job { work, reply: Mutex::new(Some(reply)) }).is_err() {
            return Err(StoreError::WriterStopped);
        }
        let value = answer.await.map_err(|_| StoreError::WriterStopped)??;
        // The value was made by this very call's `work`, so it is a `T`.
        value.downcast::<T>().map(|b| *b).map_err(|_| StoreError::Corrupt("group commit: wrong result type".into()))
    }
}

async fn writer(store: Arc<dyn Store>, mut rx: mpsc::UnboundedReceiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        if let Err(e) = run_batch(store.as_ref(), &jobs).await {
            tracing::warn!(error = %e, jobs = jobs.len(), "group commit failed; running its jobs one by one");
            for job in &jobs {
                job.answer(run_alone(store.as_ref(), job).await);
            }
        }
    }
}

/// All jobs in one transaction; each is answered only after the commit.
async fn run_batch(store: &dyn Store, jobs: &[Job]) -> Result<(), StoreError> {
    let mut tx = store.begin().await?;
    let mut results = Vec::with_capacity(jobs.len());
    for job in jobs {
        results.push((job.work)(tx.as_mut()).await?);
    }
    tx.commit().await?;
    for (job, result) in jobs.iter().zip(results) {
        job.answer(Ok(result));
    }
    Ok(())
}

async fn run_alone(store: &dyn Store, job: &Job) -> AnyResult {
    let mut tx = store.begin().await?;
    let value = (job.work)(tx.as_mut()).await?;
    tx.commit().await?;
    Ok(value)
}
