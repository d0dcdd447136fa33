-- Anomaly-head alerts (store ingest.go openAlertsSQL): a finding that
-- diag.NameAnomaly named (a suspected fault, which may change from window
-- to window while the anomaly persists) counts on the alert of its rig,
-- component and fault '' (the anomaly), not on one per name. suspected is
-- the name of the alert's latest window ('' when unnamed or a class head's
-- alert); suspected_faults counts its windows per name.
ALTER TABLE alerts
	ADD COLUMN suspected text NOT NULL DEFAULT '',
	ADD COLUMN suspected_faults jsonb NOT NULL DEFAULT '{}';
