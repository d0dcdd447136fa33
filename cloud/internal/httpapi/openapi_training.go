package httpapi

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/hydrognn/hydrognn/cloud/internal/jobs"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/models/gnn"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
)

// exRigYAML is a small valid firmware config (shared/rig) for the
// examples: the example rig (exRigComponents, exRigTargets) as rig type
// mini-rig with one pressure sensor.
const exRigYAML = `api_version: hydrognn/v1
rig_type: mini-rig
topology_version: "1"
equipment: {id: mini-1}
` + exRigComponents + `sensors:
  - {id: P1, kind: pressure, unit: bar, rate_hz: 1, range: {min: 0, max: 250}, component: pump, port: out, mqtt: {topic: rig/p1, codec: json}}
` + exRigTargets

// exRigComponents and exRigTargets are the example rigs' components,
// connections and targets (a tank and a pump whose condition is judged),
// in firmware config YAML.
const (
	exRigComponents = `components:
  - {id: tank, type: reservoir}
  - {id: pump, type: pump, nominal: {displacement_cc: 10, speed_rpm: 1500}}
connections:
  - {from: tank, to: pump, line: suction}
  - {from: pump, to: tank, line: return}
`
	exRigTargets = `targets:
  - name: pump
    component: pump
    kind: condition
    classes:
      - {value: 0, label: no leakage, health: 1}
      - {value: 2, label: severe leakage, health: 0.3, fault: leakage}
`
)

var (
	exDigest  = "sha256:3d1f0c"
	exBytes   = int64(1_482_113)
	exDataset = fleetapi.Dataset{ID: 1, Name: "mini-sim-2025-03", Kind: "sim", Source: store.SourceImport,
		Description: "rigsim dataset --cycles 400 --random --seed 1", RigType: "mini-rig", ConfigDigest: "sha256:71aa",
		State: store.DatasetPending, CreatedAt: exT0}
	exJobConfig = jobs.Config{Epochs: 30, Patience: 10, Seed: 7, Sizes: gnn.Sizes{Hidden: 16, Layers: 1}}
	exJob       = fleetapi.Job{ID: 1, DatasetID: 1, RigType: "mini-rig", Config: json.RawMessage(`{"epochs":30,"patience":10,"seed":7,"sizes":{"hidden":16,"layers":1}}`),
		State: store.JobRunning, Attempts: 1, MaxAttempts: 3, Worker: ptr("gpu-3-4711-a1b2c3"), Backend: ptr("xla:cuda"),
		LeaseExpiresAt: ptr(exT0.Add(2 * time.Minute)), HeartbeatAt: ptr(exT0),
		Progress: &fleetapi.Progress{Phase: "training", Epoch: 12, Epochs: 30, TrainLoss: 0.412, ValLoss: 0.388,
			Metrics: map[string]float64{"pump.accuracy": 0.93, "pump.macro_f1": 0.91}, ETASeconds: 95, ElapsedSeconds: 70, UpdatedAt: exT0},
		CreatedAt: exT0.Add(-2 * time.Minute), StartedAt: ptr(exT0.Add(-70 * time.Second))}
	exModelV = fleetapi.ModelVersion{ID: 2, RigType: "mini-rig", Version: 2, BundleName: "mini-rig", BundleVersion: "1.0.2", JobID: 2,
		DatasetID: 1, DatasetDigest: "sha256:90be", ArchiveDigest: exDigest, CodeVersion: "v0.5.0", Backend: "xla:cuda",
		Config:   map[string]any{"epochs": 30, "hidden": 16, "lr": 0.003},
		Metrics:  map[string]float64{"pump.accuracy": 0.95, "pump.macro_f1": 0.94, "val.loss": 0.31, "best_epoch": 21},
		Artifact: fleetapi.Artifact{Bytes: 412_330, Digest: "sha256:c0ffee"}, CreatedAt: exT0}
)

// trainingOperations documents the training routes (training.go). Their
// examples run on the fresh database of Operations' story, where the data
// set has no archive (the archive is a binary body): so the job, model and
// bundle examples answer their documented errors.
func trainingOperations() []Operation {
	idParam := Param{Name: "id", In: "path", Type: "integer", Description: "id"}
	rigType := Param{Name: "rig_type", In: "path", Description: "the rig type (firmware config's rig_type)"}
	version := Param{Name: "version", In: "path", Type: "integer", Description: "the registry version (1, 2, ...)"}
	ready := exDataset
	ready.State, ready.Bytes, ready.Digest, ready.UploadedAt = store.DatasetReady, &exBytes, &exDigest, ptr(exT0.Add(time.Minute))
	queued := exJob
	queued.State, queued.Worker, queued.Backend, queued.LeaseExpiresAt, queued.HeartbeatAt, queued.Progress, queued.StartedAt, queued.Attempts =
		store.JobQueued, nil, nil, nil, nil, nil, nil, 0
	v1 := exModelV
	v1.ID, v1.Version, v1.BundleVersion, v1.JobID, v1.Backend = 1, 1, "1.0.1", 1, "go"
	v1.Config = map[string]any{"epochs": 60, "hidden": 16, "lr": 0.003}
	v1.Metrics = map[string]float64{"pump.accuracy": 0.9, "pump.macro_f1": 0.88, "val.loss": 0.4, "best_epoch": 40}
	withManifest := exModelV
	withManifest.Manifest = json.RawMessage(`{"format_version":1,"name":"mini-rig","version":"1.0.2","rig_type":"mini-rig"}`)
	return []Operation{
		{Method: "POST", Path: "/v1/datasets", ID: "createDataset", Tag: "training",
			Summary:     "Register a data set (UCI layout) with the firmware config it was recorded with",
			Description: "The data set is pending until its archive is uploaded with PUT /v1/datasets/{id}/archive (rigctl dataset import does both).",
			Auth:        AuthToken, Role: "operator",
			Body:   fleetapi.DatasetRequest{Name: exDataset.Name, Kind: "sim", RigConfig: exRigYAML, Description: exDataset.Description},
			Status: 201, Response: exDataset, Errors: []int{409}},
		{Method: "PUT", Path: "/v1/datasets/:id/archive", ID: "uploadDatasetArchive", Tag: "training",
			Summary: "Upload a pending data set's archive (body: a tar.gz of the folder, Content-Type application/gzip)",
			Description: "The body is streamed into the blob store, checked as a tar.gz of regular files and folders, and bounded by " +
				"blob.max_object_bytes (413) and blob.upload_timeout, not server.max_body_bytes. A data set's archive never changes: a second upload is 409.",
			Auth: AuthToken, Role: "operator", Params: []Param{idParam}, Status: 200, Response: ready,
			Errors: []int{400, 409, 413, 415, 503}, Example: Example{Path: "/v1/datasets/1/archive", Status: 415}},
		{Method: "GET", Path: "/v1/datasets", ID: "listDatasets", Tag: "training", Summary: "List data sets",
			Auth: AuthToken, Role: "viewer", Params: listParams(), Status: 200, Response: fleetapi.Page[fleetapi.Dataset]{Items: []fleetapi.Dataset{ready}}},
		{Method: "GET", Path: "/v1/datasets/:id", ID: "getDataset", Tag: "training", Summary: "A data set",
			Description: "A data set made from fleet uploads shows its build: what was asked and, while a worker assembles it " +
				"(state building), its progress; a failed one says why in error.",
			Auth: AuthToken, Role: "viewer", Params: []Param{idParam}, Status: 200, Response: exDataset,
			Example: Example{Path: "/v1/datasets/1"}},
		{Method: "POST", Path: "/v1/training/jobs", ID: "createJob", Tag: "training",
			Summary:     "Queue a training job on a ready data set",
			Description: "A `rig-cloud worker` claims it, trains with the config (omitted fields: the trainer's defaults) on its configured backend and registers the model. 409 when the data set is not ready: pending (no archive yet), building (a worker is assembling it from fleet uploads) or failed.",
			Auth:        AuthToken, Role: "operator", Body: JobRequest{DatasetID: 1, Config: &exJobConfig, MaxAttempts: 3},
			Status: 201, Response: queued, Errors: []int{409}, Example: Example{Status: 409}},
		{Method: "DELETE", Path: "/v1/datasets/:id", ID: "deleteDataset", Tag: "training",
			Summary: "Delete a pending data set (registered, its archive not stored): its name is free again (409 when not pending)",
			Description: "For an import given up before its archive was stored. An archive upload still streaming into it is refused " +
				"when it ends (404) and its blob deleted. A ready data set is never deleted (jobs and models name it); a building " +
				"one's build is cancelled with POST /v1/datasets/{id}/cancel.",
			Auth: AuthToken, Role: "operator", Params: []Param{idParam}, Status: 204, Errors: []int{409},
			Example: Example{Path: "/v1/datasets/1"}},
		{Method: "GET", Path: "/v1/training/jobs", ID: "listJobs", Tag: "training", Summary: "List training jobs, newest first",
			Auth: AuthToken, Role: "viewer",
			Params: listParams(Param{Name: "state", In: "query", Enum: store.JobStates, Description: "only jobs in this state"}),
			Status: 200, Response: fleetapi.Page[fleetapi.Job]{Items: []fleetapi.Job{exJob}}, Example: Example{Path: "/v1/training/jobs?state=running"}},
		{Method: "GET", Path: "/v1/training/jobs/:id", ID: "getJob", Tag: "training",
			Summary: "A training job: state, attempts, worker and lease, progress (epoch, losses, validation metrics, ETA), error, model version",
			Auth:    AuthToken, Role: "viewer", Params: []Param{idParam}, Status: 200, Response: exJob,
			Example: Example{Path: "/v1/training/jobs/1", Status: 404}},
		{Method: "POST", Path: "/v1/training/jobs/:id/cancel", ID: "cancelJob", Tag: "training",
			Summary: "Cancel a job: a queued one at once, a running one at its worker's next heartbeat (409 when finished)",
			Auth:    AuthToken, Role: "operator", Params: []Param{idParam}, Status: 200, Response: exJob, Errors: []int{409},
			Example: Example{Path: "/v1/training/jobs/1/cancel", Status: 404}},
		{Method: "GET", Path: "/v1/training/jobs/:id/logs", ID: "jobLogs", Tag: "training", Summary: "A job's log lines, in order",
			Auth: AuthToken, Role: "viewer", Params: listParams(idParam), Status: 200,
			Response: fleetapi.Page[fleetapi.LogLine]{Items: []fleetapi.LogLine{{Seq: 41, Attempt: 1, Number: 37, At: exT0,
				Line: "epoch 12/30 loss 0.4120 (ce 0.3800 health 0.0200 recon 0.0120) val loss 0.3880 pump 93.0% * 5.1s ETA 1m35s"}}},
			Example: Example{Path: "/v1/training/jobs/1/logs?limit=100", Status: 404}},
		{Method: "GET", Path: "/v1/models", ID: "listModels", Tag: "registry", Summary: "The model registry, newest first (without manifests)",
			Auth: AuthToken, Role: "viewer", Params: listParams(Param{Name: "rig_type", In: "query", Description: "only this rig type's versions"}),
			Status: 200, Response: fleetapi.Page[fleetapi.ModelVersion]{Items: []fleetapi.ModelVersion{exModelV}}, Example: Example{Path: "/v1/models?rig_type=mini-rig"}},
		{Method: "GET", Path: "/v1/models/:rig_type/versions/:version", ID: "getModel", Tag: "registry",
			Summary: "A model version: metrics, lineage (data set and its digests, code version, backend, training config, job) and manifest",
			Auth:    AuthToken, Role: "viewer", Params: []Param{rigType, version}, Status: 200, Response: withManifest,
			Example: Example{Path: "/v1/models/mini-rig/versions/2", Status: 404}},
		{Method: "GET", Path: "/v1/models/:rig_type/versions/:version/bundle", ID: "getModelBundle", Tag: "registry",
			Summary: "Download a version's bundle folder (model.fp32.onnx, model.int8.onnx, manifest.json) as application/gzip (tar.gz); X-Content-SHA256 is its digest",
			Auth:    AuthToken, Role: "viewer", Params: []Param{rigType, version}, Status: 200, Errors: []int{503},
			Example: Example{Path: "/v1/models/mini-rig/versions/2/bundle", Status: 404}},
		{Method: "GET", Path: "/v1/models/:rig_type/compare", ID: "compareModels", Tag: "registry",
			Summary: "Compare version b with version a: every metric with its delta (b - a), the training settings that differ, whether the data set content is the same",
			Auth:    AuthToken, Role: "viewer",
			Params: []Param{rigType, {Name: "a", In: "query", Type: "integer", Required: true, Description: "the base version"},
				{Name: "b", In: "query", Type: "integer", Required: true, Description: "the version compared with a"}},
			Status: 200, Response: store.CompareVersions(&v1, &exModelV),
			Example: Example{Path: "/v1/models/mini-rig/compare?a=1&b=2", Status: 404}},
	}
}

// withTraining inserts the training and release operations before the
// revocations that end Operations' story (their examples need the admin
// token and the agent's credential).
func withTraining(ops []Operation) []Operation {
	i := slices.IndexFunc(ops, func(o Operation) bool { return o.ID == "revokeAgent" })
	if i < 0 {
		i = len(ops)
	}
	return slices.Insert(ops, i, append(append(append(trainingOperations(), releaseOperations()...), rolloutOperations()...), rigTypeOperations()...)...)
}
