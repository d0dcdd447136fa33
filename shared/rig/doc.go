// Package rig defines the rig description: a firmware config file that names
// a rig type's components (the graph's nodes), hydraulic connections (its
// edges), sensors and diagnosis targets. It is the single source of truth for
// these concepts: the edge agent, the trainer, the simulator and the cloud
// all read rig descriptions through this package.
//
// Load a file with Load (or bytes with Parse). Decoding is strict: an unknown
// key, a wrong type, or an invalid value is an error that names the file, the
// line and column, the key path and the bad value, for example
//
//	zema.yaml:42:11: sensors[3].unit: "psi" is not a unit of temperature (want one of C, K, F)
//
// All problems of a file are reported together as Errors. Validation checks
// unique ids, dangling references, units per sensor kind, numeric ranges, MQTT
// bindings, target classes, graph connectivity and, where a rig type forbids
// them, directed cycles.
//
// Order is significant: the order of Components is the node order and the
// order of Sensors the feature order of models trained for a rig, and
// Config.Digest binds a model bundle to one exact description.
package rig
