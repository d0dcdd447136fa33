package cloudapi

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/reading"
)

// Key identifies a diagnosis across the fleet: the cloud stores at most
// one diagnosis per key.
type Key struct {
	AgentID string
	Seq     uint64
}

// String returns "agent_id/seq".
func (k Key) String() string { return fmt.Sprintf("%s/%d", k.AgentID, k.Seq) }

// KeyOf returns the key of a diagnosis.
func KeyOf(d *diag.Diagnosis) Key { return Key{AgentID: d.AgentID, Seq: d.Seq} }

// Fingerprint returns the hex SHA-256 of the diagnosis' JSON encoding (as
// encoding/json writes diag.Diagnosis). The cloud stores it with each key
// to tell a replay (same fingerprint: ItemDuplicate) from a different
// diagnosis under a reused key (ItemConflict). Both sides compute it on
// the decoded value, so formatting of the request does not matter.
func Fingerprint(d *diag.Diagnosis) (string, error) {
	sum, err := fingerprint(d)
	if err != nil {
		return "", fmt.Errorf("fingerprint of diagnosis %s: %w", KeyOf(d), err)
	}
	return hex.EncodeToString(sum[:]), nil
}

// UploadFingerprint returns the SHA-256 of an upload part's JSON encoding
// (as encoding/json writes Upload) with its readings' times in UTC, so
// that the same instant written with another offset is the same part. The
// cloud stores it with each part (request, agent, part) to tell a replay
// (same fingerprint: ItemDuplicate) from a part sent again with other
// content (ItemConflict), like Fingerprint for diagnoses. It covers Last
// and every reading as sent, those the cloud does not keep (outside the
// request's range or sensors) included.
func UploadFingerprint(u *Upload) ([sha256.Size]byte, error) {
	c := *u
	c.Readings = make([]reading.Reading, len(u.Readings))
	for i, r := range u.Readings {
		r.Time = r.Time.UTC()
		c.Readings[i] = r
	}
	sum, err := fingerprint(&c)
	if err != nil {
		return sum, fmt.Errorf("fingerprint of upload %s part %d: %w", u.RequestID, u.Part, err)
	}
	return sum, nil
}

// fingerprint is the one definition of a fingerprint: the SHA-256 of v's
// JSON encoding.
func fingerprint(v any) ([sha256.Size]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	return sha256.Sum256(b), nil
}

// BatchKey returns the Idempotency-Key header value of a request holding
// the given items: "d-" (diagnoses) or "u-" (upload parts) then the first
// 32 hex digits of the SHA-256 of the agent id, its enrollment generation
// (CheckinResponse.Generation; 0: not known) and the sequence numbers (or
// part numbers, after the request id) in request order. The same items in
// the same order from the same identity give the same key; a re-enrolled
// agent (a new generation, its sequence restarted) never repeats an
// earlier identity's keys. Servers may cache responses by it for logs and
// fast replays; item keys alone decide what is stored.
func BatchKey(agentID string, generation int, seqs []uint64) string {
	return batchKey("d-", agentID, generation, "", seqs)
}

// UploadKey returns the Idempotency-Key of an upload part (see BatchKey).
func UploadKey(agentID string, generation int, requestID string, part uint32) string {
	return batchKey("u-", agentID, generation, requestID, []uint64{uint64(part)})
}

func batchKey(prefix, agentID string, generation int, sub string, seqs []uint64) string {
	h := sha256.New()
	h.Write([]byte(agentID))
	h.Write([]byte{0})
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(generation))
	h.Write(b[:])
	h.Write([]byte(sub))
	h.Write([]byte{0})
	for _, s := range seqs {
		binary.BigEndian.PutUint64(b[:], s)
		h.Write(b[:])
	}
	return prefix + hex.EncodeToString(h.Sum(nil)[:16])
}
