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

-- The change signal: every committed audit event (every change writes one) and every
-- job enqueued, leased, retried or finished wakes the replicas listening on the schema's channel, which then read what
-- changed from the store. The payload is empty: identical notifications of one transaction
-- are delivered once, and a lost one is made up by the replicas' polling.
CREATE FUNCTION meshgate_signal_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('meshgate:' || current_schema(), '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER audit_events_signal AFTER INSERT ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION meshgate_signal_change();
CREATE TRIGGER jobs_signal AFTER INSERT OR UPDATE OR DELETE ON jobs
    FOR EACH STATEMENT EXECUTE FUNCTION meshgate_signal_change();
