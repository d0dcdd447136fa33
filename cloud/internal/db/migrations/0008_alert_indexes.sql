-- Indexes of the alert queries (cloud/internal/store/alerts.go, ingest.go).
--
-- alerts_org_id: the unfiltered alert list (GET /v1/alerts without state)
-- pages an organisation's alerts by id; alerts_org_state only serves the
-- list of one state.
CREATE INDEX alerts_org_id ON alerts (org_id, id);

-- alerts_resolved: ingest looks up the newest resolved alert of each
-- (rig, component, fault) a batch raises, so that diagnoses of windows that
-- ended before an operator resolved it do not open it again.
CREATE INDEX alerts_resolved ON alerts (rig_id, component, fault, resolved_at) WHERE state = 'resolved';
