package cloudapi

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/rig"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// docExampleFiles are the docs whose `<!-- example: TYPE -->` blocks
// TestDocExamples checks (tests/docs_test.go names them too).
var docExampleFiles = []string{"docs/agent-cloud-api.md", "docs/agent.md"}

// Every JSON example in docExampleFiles decodes strictly into the type its
// marker names, and is valid.
func TestDocExamples(t *testing.T) {
	re := regexp.MustCompile("(?s)<!-- example: (\\w+) -->\n```json\n(.*?)\n```")
	type example struct {
		file, typ string
		body      []byte
	}
	var examples []example
	for _, f := range docExampleFiles {
		data, err := os.ReadFile(filepath.Join("../..", f))
		require.NoError(t, err)
		ms := re.FindAllSubmatch(data, -1)
		require.NotEmpty(t, ms, "%s has no example", f)
		// A marked block the regexp misses (another fence, an indent, CRs)
		// would go unchecked.
		require.Equal(t, bytes.Count(data, []byte("<!-- example:")), len(ms),
			"%s: every `<!-- example: TYPE -->` marker is followed by a ```json block, unindented", f)
		for _, m := range ms {
			examples = append(examples, example{file: f, typ: string(m[1]), body: m[2]})
		}
	}
	seen := map[string]bool{}
	for _, ex := range examples {
		typ, body := ex.typ, ex.body
		seen[typ] = true
		t.Run(filepath.Base(ex.file)+"/"+typ, func(t *testing.T) {
			switch typ {
			case "Diagnosis":
				checkDiagnosisExample(t, body)
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
	for _, typ := range []string{"EnrollRequest", "EnrollResponse", "CheckinRequest", "CheckinResponse", "DiagnosisBatch", "BatchResponse", "Upload", "UploadResponse", "Problem", "Diagnosis"} {
		assert.True(t, seen[typ], "docs show an example of %s", typ)
	}
}

// checkDiagnosisExample holds a diagnosis example (docs/agent.md, the
// agent's GET /diagnoses/latest) to what the cloud accepts: it decodes
// strictly into diag.Diagnosis (an unknown or misspelt field fails) and
// passes ValidateDiagnosis, the check the cloud applies to every ingested
// diagnosis (DecodeDiagnosisBatch) and the agent before it queues one.
// Beyond that, its model digest has the form an agent writes, and its
// components, sensors and drivers are those of the shipped firmware config
// of its rig type, components and sensors in the config's order.
func checkDiagnosisExample(t *testing.T, body []byte) {
	var d diag.Diagnosis
	require.NoError(t, decodeStrict(body, &d), "the example is not a diag.Diagnosis")
	assert.Empty(t, ValidateDiagnosis("", &d), "the cloud would refuse the example")
	assert.True(t, ValidDigest(d.Model.Digest), "model.digest %q is not sha256:<64 hex digits>", d.Model.Digest)
	cfg, err := rig.Load(filepath.Join("../../firmware-configs", d.RigType+".yaml"))
	require.NoError(t, err, "rig_type %q: no shipped firmware config", d.RigType)
	var components, sensors []string
	for _, c := range cfg.Components {
		components = append(components, c.ID)
	}
	for _, s := range cfg.Sensors {
		sensors = append(sensors, s.ID)
	}
	inOrder := func(what string, ids, order []string) {
		t.Helper()
		last := -1
		for _, id := range ids {
			i := slices.Index(order, id)
			if !assert.GreaterOrEqual(t, i, 0, "%s %q is not in firmware-configs/%s.yaml", what, id, d.RigType) {
				continue
			}
			assert.Greater(t, i, last, "%s %q is out of the config's order", what, id)
			last = i
		}
	}
	var ids, drivers []string
	for _, c := range d.Components {
		ids = append(ids, c.ID)
		for _, dr := range c.Drivers {
			drivers = append(drivers, dr.Sensor)
		}
	}
	inOrder("component", ids, components)
	ids = nil
	for _, s := range d.Sensors {
		ids = append(ids, s.ID)
	}
	inOrder("sensor", ids, sensors)
	for _, s := range drivers {
		assert.Contains(t, sensors, s, "driver sensor %q is not in firmware-configs/%s.yaml", s, d.RigType)
	}
	for _, a := range d.Anomalies {
		for _, c := range a.Components {
			assert.Contains(t, components, c, "anomaly component %q", c)
		}
		for _, s := range a.Sensors {
			assert.Contains(t, sensors, s, "anomaly sensor %q", s)
		}
	}
	for _, r := range d.Recommendations {
		if r.Component != "" {
			assert.Contains(t, components, r.Component, "recommendation component %q", r.Component)
		}
	}
}
