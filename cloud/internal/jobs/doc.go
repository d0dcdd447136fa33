// Package jobs runs rig-cloud's training jobs and builds of data sets
// from fleet uploads: Config is a job's training settings (checked when
// the job is created), Worker the loop of `rig-cloud worker`.
//
// A worker claims a queued job (store.Claim: SELECT ... FOR UPDATE SKIP
// LOCKED, so any number of workers on any machines share the queue; the
// organisations with queued jobs take turns, each in its jobs' order), holds it by a lease it renews every heartbeat (a worker that
// cannot renew it stops the job's work as the lease runs out by its own
// clock, before another worker may claim the job), and runs it:
// download the data set's archive from the blob store and extract it,
// train with models/pipeline (the code of `rigctl train`) on the
// configured backend, archive the bundle folder into the blob store, and
// register the model version with its metrics and lineage, in one
// transaction with the job's success. Progress (epoch, losses,
// validation metrics, ETA) is stored at each heartbeat; log lines with
// it, numbered per attempt by the worker so that a batch sent again
// (its answer lost) is stored once.
//
// Ends of an attempt: a data problem (bad archive, rig config, too few
// windows), a model the config cannot build on the data (gnn.ErrConfig,
// prep.ErrInvalidSpec) or a trainer that returns no error but no model
// fails the job at once; another error (a read of the data set's archive
// from the blob store that fails mid-way, say: tarball tells it from a
// malformed archive) re-queues it while attempts are left; a cancel
// request seen at a heartbeat stops training and ends the job cancelled; a lost lease (the job was re-queued after the
// worker went silent past its lease) stops the worker's work on it
// without writing anything more; stopping the worker (SIGTERM) re-queues
// a job that trains (the attempt counts), and lets one whose bundle is
// written store and register it first (FinishGrace); an attempt that
// runs past Options.MaxJobDuration (worker.max_job_duration) is stopped
// and fails the job at once, its error "exceeded
// worker.max_job_duration 24h0m0s". The trainer checks the attempt's
// context per step and batch; one that still has not returned
// Options.StopGrace (30 s) after the context ended is abandoned: the
// job's end is stored as for a trainer that stopped, the worker logs
// "trainer abandoned" and moves on (claiming nothing while MaxAbandoned
// such trainers run: Worker.Abandoned), and the trainer's work folder is
// removed when it returns; nothing it returns reaches the job. A worker
// that dies is noticed when its lease expires: the next
// claim of any worker re-queues the job, or fails it once max_attempts
// are spent.
//
// # Data set builds
//
// POST /v1/datasets/from-uploads records a data set building and queues a
// job of kind store.KindBuildDataset for it in the same queue: claimed,
// leased, heartbeated, re-queued and bounded in attempts like a training
// job. The worker reads each rig's uploaded readings of the range
// (store.RigReadings) into windows (cloud/internal/fleetset, at most
// Options.MaxWindows and Options.MaxExtractBytes of files), each written
// to the UCI folder in WorkDir as it is cut (memory does not grow with
// the data set), streams the folder's tar.gz into the blob store and marks the data set ready with the archive, in one
// transaction with the job's success (store.FinishBuild). Progress (rigs
// done, readings read, windows kept, per-rig stats) is stored in the data
// set's build at each heartbeat. A data problem (no complete window, too
// many windows, an archive over the blob store's cap, a rig gone) fails
// the data set with the reason in its error; another error re-queues the
// build while attempts are left (the data set stays building, error
// saying why the attempt ended). A cancel request (store.CancelBuild)
// seen at a heartbeat stops the build and ends the job cancelled, the
// data set failed with the cancel's error. SIGTERM re-queues a build that
// reads; one that has read every rig stores its archive first
// (FinishGrace). An archive stored by an attempt that lost its lease, was
// cancelled or could not finish is deleted.
package jobs
