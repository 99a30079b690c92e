//! How far the change feed (`replicas::feed`) has followed the audit log, and reading what is
//! new past it. Below the state: `AppState` holds a [`Feed`], which knows only the store.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use meshgate_core::model::AuditEvent;
use meshgate_store::Store;
use tokio::sync::{Mutex, MutexGuard};

use crate::error::ApiResult;

/// How long after an event the log before it is taken as complete. On PostgreSQL a
/// transaction can commit after one that took a later sequence number, so the events after
/// the settled point are read again on every pass until they are this old.
const SETTLE_AFTER: Duration = Duration::from_secs(10);

/// Events read per page.
const PAGE: u32 = 1000;

/// The feed's cursor. Every event up to `settled` has been given to the followers; the later
/// ones already given are in `seen`, with when they were first read.
#[derive(Debug, Default)]
pub struct Feed {
    cursor: Mutex<Cursor>,
}

#[derive(Debug, Default)]
struct Cursor {
    settled: i64,
    seen: BTreeMap<i64, Instant>,
}

/// One pass of the feed: the events read past the cursor, which stays locked (passes run one
/// at a time) until [`Pass::done`] marks the new ones seen.
pub struct Pass<'a> {
    cursor: MutexGuard<'a, Cursor>,
    events: Vec<AuditEvent>,
    now: Instant,
}

impl Feed {
    pub fn new() -> Feed {
        Feed::default()
    }

    /// Starts following from the log's current end: called before the first full build of
    /// what the followers keep (the index, the revocation list), so that nothing committed
    /// between the two is missed.
    pub async fn follow_from_now(&self, store: &dyn Store) -> ApiResult<()> {
        let end = store.last_audit_seq().await?;
        *self.cursor.lock().await = Cursor {
            settled: end,
            seen: BTreeMap::new(),
        };
        Ok(())
    }

    /// Starts a pass: reads the events of the `kinds` of object after the settled point.
    pub async fn next(&self, store: &dyn Store, kinds: &[&str]) -> ApiResult<Pass<'_>> {
        let cursor = self.cursor.lock().await;
        let now = Instant::now();
        let mut events = Vec::new();
        let mut at = cursor.settled;
        loop {
            let page = store.audit_of_types(at, kinds, PAGE).await?;
            let Some(last) = page.last() else { break };
            at = last.seq;
            let full = page.len() == PAGE as usize;
            events.extend(page);
            if !full {
                break;
            }
        }
        Ok(Pass {
            cursor,
            events,
            now,
        })
    }
}

impl Pass<'_> {
    /// The events not given to the followers before, in order.
    pub fn fresh(&self) -> Vec<&AuditEvent> {
        self.events
            .iter()
            .filter(|e| !self.cursor.seen.contains_key(&e.seq))
            .collect()
    }

    /// Marks this pass's events seen and moves the settled point past those old enough. A
    /// pass dropped without this (a follower failed) leaves them to be given again.
    pub fn done(mut self) {
        let now = self.now;
        for event in &self.events {
            self.cursor.seen.entry(event.seq).or_insert(now);
        }
        while let Some((&seq, &first)) = self.cursor.seen.first_key_value() {
            if now.duration_since(first) < SETTLE_AFTER {
                break;
            }
            self.cursor.settled = seq;
            self.cursor.seen.pop_first();
        }
    }
}
