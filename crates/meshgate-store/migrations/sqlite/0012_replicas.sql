-- Several replicas on one store (docs/design/REPLICAS.md).

-- Singleton tasks (the scheduler, the notification dispatcher, the snapshot collector) run
-- on the one replica holding their lease; another takes it over when it runs out.
CREATE TABLE singleton_leases (
    name    TEXT NOT NULL PRIMARY KEY,
    holder  TEXT NOT NULL,
    until   BIGINT NOT NULL
);

-- Calls that wait for a job (approve, revoke, reapply) ask whether any job on their share
-- remains.
CREATE INDEX jobs_subject ON jobs (subject_id);
