package cloudapi

import (
	"os"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every JSON example in docs/agent-cloud-api.md decodes strictly into the
// type its marker names, and is valid.
func TestDocExamples(t *testing.T) {
	data, err := os.ReadFile("../../docs/agent-cloud-api.md")
	require.NoError(t, err)
	re := regexp.MustCompile("(?s)<!-- example: (\\w+) -->\n```json\n(.*?)\n```")
	ms := re.FindAllSubmatch(data, -1)
	require.NotEmpty(t, ms)
	seen := map[string]bool{}
	for _, m := range ms {
		typ, body := string(m[1]), m[2]
		seen[typ] = true
		t.Run(typ, func(t *testing.T) {
			switch typ {
			case "EnrollRequest":
				_, err := DecodeEnroll(body)
				require.NoError(t, err)
			case "EnrollResponse":
				var r EnrollResponse
				require.NoError(t, decodeStrict(body, &r))
				assert.True(t, ValidID(r.AgentID))
				assert.NotEmpty(t, r.Credential)
				assert.GreaterOrEqual(t, r.Generation, 1)
			case "CheckinRequest":
				_, err := DecodeCheckin(body)
				require.NoError(t, err)
			case "CheckinResponse":
				var r CheckinResponse
				require.NoError(t, decodeStrict(body, &r))
				require.NotEmpty(t, r.UploadRequests)
				for _, u := range r.UploadRequests {
					assert.NoError(t, ValidateUploadRequest(&u))
				}
				assert.Equal(t, r.Limits, r.Limits.WithDefaults())
				require.NotNil(t, r.Offer)
				assert.NoError(t, ValidateOffer(r.Offer))
				d, err := DecodeCheckinResponse(body)
				require.NoError(t, err)
				assert.Equal(t, r.Offer, d.Offer)
			case "DiagnosisBatch":
				b, err := DecodeDiagnosisBatch(body, Limits{})
				require.NoError(t, err)
				for _, it := range b.Items {
					assert.Nil(t, it.Problem, "seq %d", it.Seq)
				}
			case "BatchResponse":
				var r BatchResponse
				require.NoError(t, decodeStrict(body, &r))
				require.NoError(t, CheckBatchResponse([]uint64{4812, 4790}, &r))
				c := r
				c.Count()
				assert.Equal(t, c, r, "counts match the results")
			case "ItemResult":
				var r ItemResult
				require.NoError(t, decodeStrict(body, &r))
				require.NotNil(t, r.Problem)
				assert.Equal(t, ProblemTitle(r.Problem.Type), r.Problem.Title)
			case "Upload":
				_, err := DecodeUpload(body, Limits{})
				require.NoError(t, err)
			case "UploadResponse":
				var r UploadResponse
				require.NoError(t, decodeStrict(body, &r))
				switch r.Status {
				case ItemAccepted:
					assert.Nil(t, r.Problem)
				case ItemConflict:
					require.NotNil(t, r.Problem)
					assert.Equal(t, ProblemConflict, r.Problem.Type)
					assert.Equal(t, ProblemTitle(ProblemConflict), r.Problem.Title)
				default:
					t.Errorf("status %q: the examples show accepted and conflict", r.Status)
				}
			case "Problem":
				var p Problem
				require.NoError(t, decodeStrict(body, &p))
				assert.Equal(t, ProblemTitle(p.Type), p.Title)
				assert.True(t, Retryable(p.Status))
			default:
				t.Fatalf("example of unknown type %s", typ)
			}
		})
	}
	for _, typ := range []string{"EnrollRequest", "EnrollResponse", "CheckinRequest", "CheckinResponse", "DiagnosisBatch", "BatchResponse", "Upload", "UploadResponse", "Problem"} {
		assert.True(t, seen[typ], "docs show an example of %s", typ)
	}
}
