package cloudapi

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/hydrognn/hydrognn/shared/diag"
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
	b, err := json.Marshal(d)
	if err != nil {
		return "", fmt.Errorf("fingerprint of diagnosis %s: %w", KeyOf(d), err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
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
