// Package enroll exchanges a one-time enrollment token for the agent's
// cloud credential and stores it: rig-agent enroll (docs/agent.md,
// "Enrolling the agent"; the contract is shared/cloudapi's
// EnrollRequest and EnrollResponse, docs/agent-cloud-api.md#enrollment).
//
// # Use
//
//	cfg, err := config.LoadForEnroll(path) // cloud.credential_file need not exist
//	res, err := enroll.Run(ctx, cfg, enroll.Options{Token: tok})
//
// Run sends POST /v1/agent/enroll to cloud.url with the agent's id
// (agent.id) and rig (the firmware config's equipment id), through the
// HTTP client of the agent's cloud link (forward.NewHTTPClient: TLS 1.2 or
// later, proxies from the environment) and within cloud.timeout. It
// checks the answer (the agent id and rig it asked for, and the rig type
// of the firmware config: a rig registered with another type would have
// every diagnosis rejected) and only then writes the credential to
// cloud.credential_file.
//
// # The credential file
//
// The file is written atomically: a temporary file in the same folder,
// mode 0600, synced, then linked (or, with Options.Force, renamed) into
// place, and the folder synced; a crash leaves the old file or the new
// one, never a part. An existing file is refused (ErrCredentialExists)
// before the token is sent, so a second run does not use up a token,
// and again at the link, so two runs at once cannot both write it. With
// Force it is replaced: a re-enrollment, whose new identity revokes the
// old credential on the server. The temporary file is made before the
// request, so a folder the agent cannot write fails before the token is
// used up. The folder is created (0700) when missing.
//
// Then the enrollment's generation is saved beside it, in
// config.Cloud.EnrollmentFile (cloud.credential_file +
// ".enrollment.json", 0600, written the same way), with the SHA-256 of
// the credential it belongs to: the forwarder starts with it in its
// Idempotency-Keys (cloudapi.BatchKey) before a check-in names it, and
// ignores it once the credential file holds another credential. A
// failure to write it does not fail the enrollment (Result.EnrollmentErr).
//
// # Errors
//
// No error and no log line holds the credential or the token. A refusal
// by the server is a *RefusedError that wraps its problem document
// (errors.As with *cloudapi.Problem) and says what to do, e.g. for an
// expired or used token (401) to ask an operator for a new one. Errors
// say whether the token may have been used: not when the request was
// never sent; maybe after a 5xx (a proxy's 502 or 504 can follow a
// done enrollment) or a failure once it was sent (run enroll again with
// the same token; when it is refused as used, an operator checks the
// agent and makes a new token); surely when the cloud answered 200 and
// the credential could not be saved. A --token-file over
// MaxTokenFileBytes is refused without reading it whole.
package enroll
