// Package httpapi is rig-cloud's REST API on Gin: the agent API of
// shared/cloudapi (enrollment, check-in, diagnosis batches, uploads) and
// the fleet API of people and scripts (organisations, tokens, sites, rigs,
// agents, diagnoses, alerts), with health, readiness and Prometheus
// metrics. docs/cloud.md lists the routes.
//
// # Every request
//
// Middleware, in order: a request id (X-Request-Id, echoed; the problem
// documents' instance), panic recovery, one slog line and Prometheus
// metrics per request (labelled by route template, never by raw path), a
// deadline on the request's context (Options.RequestTimeout), a cap on
// the memory of the request bodies in flight (Options.MaxBodyInflightBytes:
// each body reserves what it may buffer; past the cap, after up to
// BodyWait, 503 with Retry-After; bodybudget.go), then on /v1
// routes authentication (Authorization: Bearer <token>; failures are
// limited per client address, an IPv6 one by its /64 and its /48, without
// locking out credentials that authenticated before: Options.AuthFailLimit;
// bad enrollment tokens count too) and
// a per-credential rate limit. Bodies are read through cloudapi.ReadBody (media
// type, gzip, Options.MaxBodyBytes) and decoded strictly (unknown fields
// and trailing data refused).
//
// Every error, including unknown routes and methods, is an RFC 9457
// problem document (cloudapi.Problem, application/problem+json).
//
// # Authorization
//
// An API token (rgt_...) carries an organisation and a role: viewer
// (reads), operator (also writes fleet objects, enrolls agents,
// acknowledges alerts), admin (also manages the organisation's tokens).
// A system token (no organisation) creates organisations and their
// tokens, nothing else. An agent credential (rga_...) may call the agent
// routes only, and only for its own agent id and rig. Every fleet query
// is scoped to the caller's organisation, so another organisation's
// objects answer 404, exactly like missing ones.
package httpapi
