// Package cloudapi is the wire contract between the edge agent (rig-agent)
// and the cloud (rig-cloud): the endpoints the agent calls, their request
// and response bodies, authentication, idempotency, errors, size limits and
// which failures are worth retrying. The agent's forwarder
// (agent/internal/forward) is the client; the cloud implements the server
// with the decoding and validation functions here, so both sides refuse the
// same things. docs/agent-cloud-api.md describes the contract with examples
// (a test decodes every one of them).
//
// # Endpoints
//
// All under the version prefix /v1; every request is a POST with a JSON
// body (Content-Type: application/json, optionally Content-Encoding: gzip)
// and the agent's credential as "Authorization: Bearer <credential>":
//
//   - PathCheckin (POST /v1/agent/checkin): CheckinRequest ->
//     CheckinResponse. The agent reports its state; the cloud answers with
//     its limits, the next check-in interval and the readings it wants
//     uploaded (UploadRequest).
//   - PathDiagnoses (POST /v1/agent/diagnoses): DiagnosisBatch ->
//     BatchResponse, one ItemResult per diagnosis.
//   - PathUploads (POST /v1/agent/uploads): Upload (one part of the
//     readings an UploadRequest asked for) -> UploadResponse.
//
// # Idempotency
//
// A diagnosis is identified across the fleet by its Key: agent id and the
// diagnosis' sequence number (diag.Diagnosis.Seq). The cloud stores a
// diagnosis at most once per key, with its Fingerprint. Sending a key again
// changes nothing: its result is ItemDuplicate when the fingerprint matches
// and ItemConflict when it does not (the agent's sequence restarted: a bug
// or a wiped data directory, never silently merged). A replayed batch
// therefore returns all duplicates, and a batch that partly overlaps an
// earlier one returns duplicates for the overlap and accepted for the rest,
// always with status 200. An upload part is identified by agent id,
// request id and part number in the same way, with its UploadFingerprint:
// an UploadResponse of ItemDuplicate or ItemConflict. The Idempotency-Key header
// (BatchKey) names the whole request for logs and response caching;
// correctness never depends on it.
//
// # Errors
//
// Failures of a whole request are RFC 9457 problem documents
// (application/problem+json, the Problem type) with the status codes listed
// at Retryable. Failures of single diagnoses in a batch are not request
// failures: the batch answers 200 and the item's result is ItemRejected
// with its Problem. Retryable says which statuses the agent retries (with
// jittered exponential backoff, honouring Retry-After).
//
// # Versioning
//
// The path carries the major version. Within v1 changes are additive only:
// servers decode requests strictly (unknown fields are refused) and clients
// decode responses leniently (unknown fields are ignored), so the cloud is
// upgraded before the agents when a request gains a field.
package cloudapi
