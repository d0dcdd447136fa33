package cloudapi

import (
	"encoding/json"

	"github.com/hydrognn/hydrognn/shared/reading"
)

// ReadingBytes is what a reading counts for against an upload request's
// MaxBytes: the length of its JSON encoding plus one (a separator), as
// the agent builds parts and the cloud enforces the cap. A reading that
// does not encode (NaN) counts 0: it is never sent.
func ReadingBytes(r *reading.Reading) int64 {
	b, err := json.Marshal(r)
	if err != nil {
		return 0
	}
	return int64(len(b)) + 1
}
