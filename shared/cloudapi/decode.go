package cloudapi

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"

	"github.com/hydrognn/hydrognn/shared/diag"
)

// ReadBody reads a request's body for the server: it checks the media
// type (application/json) and encoding (none, identity or gzip), and
// refuses a body whose bytes on the wire, or after gzip decoding, exceed
// maxBytes (0: DefaultMaxBodyBytes). The error is a *Problem (400, 413 or
// 415).
func ReadBody(r *http.Request, maxBytes int64) ([]byte, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBodyBytes
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != MediaJSON {
		return nil, NewProblem(ProblemUnsupportedMedia, 415, "Content-Type %q is not %s", r.Header.Get("Content-Type"), MediaJSON)
	}
	if r.ContentLength > maxBytes {
		return nil, NewProblem(ProblemTooLarge, 413, "body of %d bytes is larger than %d", r.ContentLength, maxBytes)
	}
	wire, err := readAtMost(r.Body, maxBytes)
	if err != nil {
		return nil, err
	}
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
		return wire, nil
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(wire))
		if err != nil {
			return nil, NewProblem(ProblemInvalidBody, 400, "gzip body: %v", err)
		}
		body, err := readAtMost(zr, maxBytes)
		if err != nil {
			var p *Problem
			if errors.As(err, &p) {
				p.Detail = "decoded " + p.Detail
				return nil, p
			}
		}
		return body, err
	default:
		return nil, NewProblem(ProblemUnsupportedMedia, 415, "Content-Encoding %q is not gzip", enc)
	}
}

func readAtMost(r io.Reader, n int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, n+1))
	if err != nil {
		return nil, NewProblem(ProblemInvalidBody, 400, "reading body: %v", err)
	}
	if int64(len(data)) > n {
		return nil, NewProblem(ProblemTooLarge, 413, "body is larger than %d bytes", n)
	}
	return data, nil
}

// decodeStrict decodes one JSON value into v, refusing unknown fields and
// trailing data.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON value")
	}
	return nil
}

// UnknownFieldRefused reports whether p is a server's refusal (400,
// invalid-body) of a request because it holds the field named field,
// which the server does not know: the answer of a server older than an
// optional request field (decodeStrict's "json: unknown field" error, as
// every v1 server words it). A client sends the request again without
// the field.
func UnknownFieldRefused(p *Problem, field string) bool {
	return p != nil && p.Status == 400 && p.Type == ProblemInvalidBody &&
		strings.Contains(p.Detail, `unknown field "`+field+`"`)
}

func invalid(what string, err error) *Problem {
	return NewProblem(ProblemInvalidBody, 400, "%s: %v", what, err)
}

// DecodeEnroll decodes and validates an enrollment body (as ReadBody
// returns it). The error is a *Problem (400).
func DecodeEnroll(body []byte) (*EnrollRequest, error) {
	var r EnrollRequest
	if err := decodeStrict(body, &r); err != nil {
		return nil, invalid("enrollment request", err)
	}
	if err := ValidateEnroll(&r); err != nil {
		return nil, err
	}
	return &r, nil
}

// DecodeCheckin decodes and validates a check-in body (as ReadBody returns
// it). The error is a *Problem (400).
func DecodeCheckin(body []byte) (*CheckinRequest, error) {
	var r CheckinRequest
	if err := decodeStrict(body, &r); err != nil {
		return nil, invalid("check-in request", err)
	}
	if err := ValidateCheckin(&r); err != nil {
		return nil, err
	}
	return &r, nil
}

// ErrBadOffer is returned by DecodeCheckinResponse when the answer is
// valid but its offer is not: the agent keeps the rest of the answer and
// installs nothing.
var ErrBadOffer = errors.New("invalid offer")

// DecodeCheckinResponse decodes a check-in answer for the agent. The
// envelope follows the API's additive rule: unknown fields are ignored,
// wrong types and trailing data are errors. The offer, which permits an
// installation, is decoded strictly: an unknown field in it, or an
// invalid target or version (ValidateOffer), drops it. In that case the
// response is returned without the offer, together with an error wrapping
// ErrBadOffer (to log); the caller uses the rest of the answer.
func DecodeCheckinResponse(body []byte) (*CheckinResponse, error) {
	var env struct {
		CheckinResponse
		Offer json.RawMessage `json:"offer"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&env); err != nil {
		return nil, fmt.Errorf("check-in response: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("check-in response: data after the JSON value")
	}
	r := env.CheckinResponse
	r.Offer = nil
	if len(env.Offer) == 0 || string(env.Offer) == "null" {
		return &r, nil
	}
	var o Offer
	if err := decodeStrict(env.Offer, &o); err != nil {
		return &r, fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	if err := ValidateOffer(&o); err != nil {
		return &r, fmt.Errorf("%w: %w", ErrBadOffer, err)
	}
	r.Offer = &o
	return &r, nil
}

// DecodedBatch is a diagnosis batch as the server decoded it.
type DecodedBatch struct {
	AgentID string
	// Items are the batch's diagnoses in order. An item with a non-nil
	// Problem failed to decode or validate: the server answers it with
	// ItemRejected and that problem, and stores the others.
	Items []DecodedItem
}

// DecodedItem is one diagnosis of a DecodedBatch.
type DecodedItem struct {
	Seq       uint64
	Diagnosis diag.Diagnosis
	Problem   *Problem
}

// DecodeDiagnosisBatch decodes a DiagnosisBatch body (as ReadBody returns
// it) for the server. The envelope must be valid, hold 1 to
// l.MaxBatchItems diagnoses, each with a seq >= 1 unique in the batch and
// an agent_id that is the batch's (or absent: then it becomes the
// batch's); otherwise the error is a *Problem (400 or 413) and nothing of
// the batch may be stored. Each diagnosis is then decoded strictly and
// validated on its own: one that fails gets a Problem of type
// ProblemInvalidItem in its DecodedItem. The server must still check that
// AgentID is its credential's (403 otherwise).
func DecodeDiagnosisBatch(body []byte, l Limits) (*DecodedBatch, error) {
	l = l.WithDefaults()
	if b := decodeValidBatch(body, l); b != nil {
		return b, nil
	}
	return decodeBatchByItem(body, l)
}

// decodeBatchByItem is DecodeDiagnosisBatch item by item: the envelope,
// then each item strictly on its own, so that an invalid item is answered
// with what is wrong in it and the others are still stored.
func decodeBatchByItem(body []byte, l Limits) (*DecodedBatch, error) {
	var env struct {
		AgentID   *string           `json:"agent_id"`
		Diagnoses []json.RawMessage `json:"diagnoses"`
	}
	if err := decodeStrict(body, &env); err != nil {
		return nil, invalid("diagnosis batch", err)
	}
	switch {
	case env.AgentID == nil:
		return nil, NewProblem(ProblemInvalidBody, 400, "diagnosis batch: agent_id is required")
	case !ValidID(*env.AgentID):
		return nil, NewProblem(ProblemInvalidBody, 400, "diagnosis batch: agent_id %q is not 1-64 of [A-Za-z0-9_.-] starting with a letter or digit", *env.AgentID)
	case len(env.Diagnoses) == 0:
		return nil, NewProblem(ProblemInvalidBody, 400, "diagnosis batch: diagnoses is empty")
	case len(env.Diagnoses) > l.MaxBatchItems:
		return nil, NewProblem(ProblemTooLarge, 413, "diagnosis batch: %d diagnoses, more than %d", len(env.Diagnoses), l.MaxBatchItems)
	}
	b := &DecodedBatch{AgentID: *env.AgentID, Items: make([]DecodedItem, len(env.Diagnoses))}
	seen := make(map[uint64]int, len(env.Diagnoses))
	for i, raw := range env.Diagnoses {
		it := &b.Items[i]
		ptr := fmt.Sprintf("/diagnoses/%d", i)
		// The item, strictly; its key from it, or, when its content is
		// invalid, read leniently so that the item is still answered by
		// its seq. (One parse of a valid item, not two: decoding is most
		// of an ingest request's CPU.)
		derr := decodeStrict(raw, &it.Diagnosis)
		var key struct {
			AgentID string `json:"agent_id"`
			Seq     uint64 `json:"seq"`
		}
		if derr == nil {
			key.AgentID, key.Seq = it.Diagnosis.AgentID, it.Diagnosis.Seq
		} else if err := json.Unmarshal(raw, &key); err != nil {
			key.Seq = 0
		}
		if key.Seq == 0 {
			return nil, NewProblem(ProblemInvalidBody, 400, "diagnosis batch: /diagnoses/%d has no seq >= 1 (%s)", i, short(raw))
		}
		if j, dup := seen[key.Seq]; dup {
			return nil, NewProblem(ProblemInvalidBody, 400, "diagnosis batch: /diagnoses/%d and /diagnoses/%d both have seq %d", j, i, key.Seq)
		}
		seen[key.Seq] = i
		if key.AgentID != "" && key.AgentID != b.AgentID {
			return nil, NewProblem(ProblemInvalidBody, 400, "diagnosis batch: /diagnoses/%d has agent_id %q, not the batch's %q", i, key.AgentID, b.AgentID)
		}
		it.Seq = key.Seq
		if derr != nil {
			it.Problem = &Problem{Type: ProblemInvalidItem, Title: titles[ProblemInvalidItem], Detail: fmt.Sprintf("%s: %v", ptr, derr)}
			continue
		}
		it.Diagnosis.AgentID = b.AgentID
		if errs := ValidateDiagnosis(ptr, &it.Diagnosis); errs != nil {
			it.Problem = &Problem{Type: ProblemInvalidItem, Title: titles[ProblemInvalidItem],
				Detail: fmt.Sprintf("%s has %d invalid field(s)", ptr, len(errs)), Errors: errs}
		}
	}
	return b, nil
}

// decodeValidBatch is DecodeDiagnosisBatch's fast path for the common
// case, a batch whose every item is valid: the whole body in one strict
// decode, no per-item re-parse. It returns nil for anything else (an
// error anywhere, a bad envelope, an invalid or duplicate item), which
// DecodeDiagnosisBatch then decodes item by item to say what is wrong
// where; for a valid batch the result is the same either way.
//
// The decoder is github.com/go-json-experiment/json (the Go team's
// encoding/json/v2 candidate), about twice as fast here as encoding/json and
// stricter by default: names match exactly, a name twice and invalid
// UTF-8 are errors. Whatever it refuses that encoding/json would take goes
// down the item-by-item path (encoding/json), so what is accepted and how
// it decodes is encoding/json's; FuzzDecodeDiagnosisBatch checks that the
// two paths agree whenever this one accepts.
func decodeValidBatch(body []byte, l Limits) (b *DecodedBatch) {
	defer func() {
		if recover() != nil {
			b = nil // the item-by-item path decides (it has no panic to fear)
		}
	}()
	var env struct {
		AgentID   string           `json:"agent_id"`
		Diagnoses []diag.Diagnosis `json:"diagnoses"`
	}
	if jsonv2.Unmarshal(body, &env, jsonv2.RejectUnknownMembers(true)) != nil || !ValidID(env.AgentID) ||
		len(env.Diagnoses) == 0 || len(env.Diagnoses) > l.MaxBatchItems {
		return nil
	}
	b = &DecodedBatch{AgentID: env.AgentID, Items: make([]DecodedItem, len(env.Diagnoses))}
	seen := make(map[uint64]struct{}, len(env.Diagnoses))
	for i := range env.Diagnoses {
		d := &env.Diagnoses[i]
		if _, dup := seen[d.Seq]; dup || d.Seq == 0 || (d.AgentID != "" && d.AgentID != b.AgentID) {
			return nil
		}
		seen[d.Seq] = struct{}{}
		d.AgentID = b.AgentID
		if ValidateDiagnosis("", d) != nil {
			return nil
		}
		b.Items[i] = DecodedItem{Seq: d.Seq, Diagnosis: *d}
	}
	return b
}

func short(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "..."
	}
	return string(b)
}

// DecodeUpload decodes and validates an Upload body for the server; the
// error is a *Problem (400 or 413). The server must still check the agent
// id against the credential, and the request id against its requests (404
// unknown, 410 expired or cancelled).
func DecodeUpload(body []byte, l Limits) (*Upload, error) {
	var u Upload
	if err := decodeStrict(body, &u); err != nil {
		return nil, invalid("upload", err)
	}
	if err := ValidateUpload(&u, l); err != nil {
		return nil, err
	}
	return &u, nil
}

// CheckBatchResponse checks, for the agent, that a 200 answer to a batch
// with the given sequence numbers has exactly one result per sequence
// number with a known status.
func CheckBatchResponse(seqs []uint64, r *BatchResponse) error {
	if len(r.Results) != len(seqs) {
		return fmt.Errorf("batch response has %d results for %d diagnoses", len(r.Results), len(seqs))
	}
	want := make(map[uint64]bool, len(seqs))
	for _, s := range seqs {
		want[s] = true
	}
	for i, it := range r.Results {
		if !want[it.Seq] {
			return fmt.Errorf("batch response result %d: seq %d is not in the batch or repeated", i, it.Seq)
		}
		delete(want, it.Seq)
		switch it.Status {
		case ItemAccepted, ItemDuplicate, ItemConflict, ItemRejected:
		default:
			return fmt.Errorf("batch response result %d: status %q is unknown", i, it.Status)
		}
	}
	return nil
}
