-- An upload request's max_bytes is never 0 again. Requests made before
-- the API gave a request without max_bytes the server's cap hold 0, which
-- the server read as no cap (only store.MaxUploadRequestReadings bounded
-- them) and check-in announced as none to the agent: they get the cap a
-- request naming none gets now (1 GiB, store.MaxUploadBytes), counted
-- from the bytes stored since migration 0012 (those stored before were
-- not counted: the readings cap still bounds them).
UPDATE upload_requests SET max_bytes = 1073741824 WHERE max_bytes = 0;
ALTER TABLE upload_requests ALTER COLUMN max_bytes SET DEFAULT 1073741824;
ALTER TABLE upload_requests DROP CONSTRAINT upload_requests_max_bytes_check;
ALTER TABLE upload_requests ADD CONSTRAINT upload_requests_max_bytes_check CHECK (max_bytes > 0);
