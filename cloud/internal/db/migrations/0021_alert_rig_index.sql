-- The alert list of one rig (GET /v1/alerts?rig=, store.FilteredAlerts)
-- pages that rig's alerts by id: without this index it scanned all of
-- its organisation's alerts (alerts_org_id) for them.
CREATE INDEX alerts_rig_id ON alerts (rig_id, id);
