//! Which singleton tasks this process holds the lease of, and until when
//! (`replicas::singletons` claims them). Below the state: `AppState` holds the [`Leases`].

use std::sync::Mutex;
use std::time::Instant;

/// A task one replica runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Singleton {
    Scheduler,
    Dispatcher,
    SnapshotCollector,
    AuditDigests,
    AuditStream,
    AuditAlerts,
}

impl Singleton {
    pub const ALL: [Singleton; 6] = [
        Singleton::Scheduler,
        Singleton::Dispatcher,
        Singleton::SnapshotCollector,
        Singleton::AuditDigests,
        Singleton::AuditStream,
        Singleton::AuditAlerts,
    ];

    /// The lease's name in the store.
    pub fn name(self) -> &'static str {
        match self {
            Singleton::Scheduler => "scheduler",
            Singleton::Dispatcher => "notification-dispatcher",
            Singleton::SnapshotCollector => "snapshot-collector",
            Singleton::AuditDigests => "audit-digests",
            Singleton::AuditStream => "audit-stream",
            Singleton::AuditAlerts => "audit-alerts",
        }
    }
}

/// This process's leases: who it is, and until when it holds each task.
#[derive(Debug)]
pub struct Leases {
    holder: String,
    held_until: Mutex<[Option<Instant>; Singleton::ALL.len()]>,
}

impl Default for Leases {
    fn default() -> Self {
        Leases::new()
    }
}

impl Leases {
    pub fn new() -> Leases {
        Leases {
            holder: format!("replica-{}", uuid::Uuid::now_v7()),
            held_until: Mutex::new([None; Singleton::ALL.len()]),
        }
    }

    /// The name this process holds leases under (in the logs and the store).
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Whether this process may run a round of `task` now.
    pub fn holds(&self, task: Singleton) -> bool {
        self.held_until
            .lock()
            .ok()
            .and_then(|h| h[task as usize])
            .is_some_and(|until| Instant::now() < until)
    }

    /// Records until when this process holds `task` (`None`: not at all).
    pub(crate) fn set_held(&self, task: Singleton, until: Option<Instant>) {
        if let Ok(mut h) = self.held_until.lock() {
            h[task as usize] = until;
        }
    }
}
