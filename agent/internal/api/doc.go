// Package api is the rig agent's local HTTP API: status, diagnoses (latest
// and history by time range), the model bundle in use, liveness and
// readiness probes, and Prometheus metrics. It listens on api.listen
// (default 127.0.0.1:8080, loopback only) and is read-only but for one
// route: every route is GET (HEAD works too) except POST
// /detector/recalibrate.
//
// # Routes
//
//	GET /status                       agent, rig, model, broker, ingest, buffer, windowing, history, publisher, cloud link
//	GET /diagnoses/latest             the newest diagnosis (404 before the first)
//	GET /diagnoses?from=&to=&limit=&order=&cursor=
//	                                  diagnoses whose window starts in [from, to) (RFC 3339), oldest first
//	                                  (order=desc: newest first), at most limit (default 100, at most
//	                                  api.max_history_items); "next" links the following page
//	GET /bundle                       the model bundle's manifest summary and the session's info
//	GET /health/live                  200 while every loop beats (Options.Liveness); 503 naming the stalled ones
//	GET /health/ready                 200 when the buffer is open, the broker connected and the model
//	                                  loaded; 503 with the reasons otherwise
//	GET /metrics                      Prometheus text format (see docs/agent.md for the names)
//	POST /detector/recalibrate        restart the anomaly detector's calibration from the next
//	                                  windows (202 with its state; 409 when the bundle has none)
//
// # Paging
//
// A page with more after it has "next": the same query (from, to, limit,
// order) with cursor, the history key (window start and Seq) of the
// page's last diagnosis, which the next page resumes strictly after (or
// before, newest first). A window start alone would not do: several
// diagnoses may share one (a model update diagnosing a window again), and
// those not on the page would be skipped. Following the next links
// returns every diagnosis of the range exactly once. The cursor's form
// ("<window start in Unix ns>_<seq>") is the API's own: clients pass it
// back as given.
//
// Errors are JSON: {"error": "...", "status": 400}. A bad parameter names
// itself and the value; unknown parameters are refused, so a typo does not
// silently return everything. POST /detector/recalibrate answers errors
// as RFC 9457 problem documents (application/problem+json: type, title,
// status, detail, and error repeating detail) and needs Content-Type
// application/json, which a web page cannot send cross-origin without a
// preflight the API never grants.
//
// # Access
//
// On a loopback address the Host header must name localhost, a loopback
// address, the listen host or Options.AllowedHosts (403 otherwise), so a
// DNS-rebinding web page cannot read the API through a local browser.
// With Options.Token every route but /health/live and /health/ready
// needs Authorization: Bearer TOKEN (401 otherwise; compared in constant
// time). POST /detector/recalibrate is limited per client address
// (Options.RecalibrateBurst, RecalibrateEvery; 429 with Retry-After).
// Refusals are counted in rig_agent_api_requests_refused_total{reason}.
// config refuses an api.listen beyond loopback without a token.
//
// # Limits
//
// Every limit of the server is an option: header timeout, write timeout,
// idle timeout, header bytes, concurrent connections (further connections
// wait in the listen backlog), and the most diagnoses per history page.
//
// # Metrics from the forwarder
//
// The cloud link's state, bytes sent and backlog come from Link: either a
// source function reading the forwarder's statistics (SetSource, as the
// agent wires it) or the setters (SetConnected, AddBytesSent,
// SetBacklog); without a cloud link they stay 0.
package api
