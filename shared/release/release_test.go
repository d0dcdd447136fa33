package release_test

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/release"
)

func shipped(t testing.TB) *bundle.Manifest {
	t.Helper()
	m, err := bundle.Load(filepath.Join("..", "..", "models", "bundles", "skab-testbed"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestFromManifestRoundTrip(t *testing.T) {
	m := shipped(t)
	r, err := release.FromManifest(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.RigType != m.RigType || r.ConfigDigest != m.ConfigDigest || r.Version != m.Version || r.ManifestDigest != m.Digest() {
		t.Errorf("FromManifest: %+v", r)
	}
	if len(r.Precisions) != 2 || r.ExecutionProviders[0] != "cpu" || len(r.Hardware) != 2 {
		t.Errorf("FromManifest: precisions %v, providers %v, hardware %v", r.Precisions, r.ExecutionProviders, r.Hardware)
	}
	if want := m.RigType + "/" + m.Name + "-" + m.Version + ".tar.gz"; r.Path() != want {
		t.Errorf("Path %q, want %q", r.Path(), want)
	}
	tf := metadata.TargetFile()
	tf.Path = r.Path()
	if err := r.Apply(tf); err != nil {
		t.Fatal(err)
	}
	back, err := release.FromTargetFile(tf)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(r)
	b, _ := json.Marshal(back)
	if string(a) != string(b) {
		t.Errorf("round trip:\n%s\n%s", a, b)
	}
	tf.Path = "other/x-1.0.0.tar.gz"
	if _, err := release.FromTargetFile(tf); !errors.Is(err, release.ErrInvalid) || !strings.Contains(err.Error(), "describes") {
		t.Errorf("path mismatch: %v", err)
	}
	if _, err := release.FromTargetFile(metadata.TargetFile()); !errors.Is(err, release.ErrInvalid) {
		t.Errorf("no custom: %v", err)
	}
}

func valid(t testing.TB) map[string]any {
	t.Helper()
	r, err := release.FromManifest(shipped(t), []string{"amd64"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(r)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestDecodeRefuses(t *testing.T) {
	tests := []struct {
		name string
		edit func(m map[string]any)
		raw  string
		want string
	}{
		{name: "unknown field", edit: func(m map[string]any) { m["signed_by"] = "me" }, want: `unknown field "signed_by"`},
		{name: "format", edit: func(m map[string]any) { m["format_version"] = 2 }, want: "format_version: 2 is not supported"},
		{name: "version", edit: func(m map[string]any) { m["version"] = "latest" }, want: `version: "latest" is not a semantic version`},
		{name: "rig type", edit: func(m map[string]any) { m["rig_type"] = "../etc" }, want: `rig_type: "../etc"`},
		{name: "config digest", edit: func(m map[string]any) { m["config_digest"] = "md5:00" }, want: `config_digest: "md5:00"`},
		{name: "manifest digest", edit: func(m map[string]any) { delete(m, "manifest_digest") }, want: "manifest_digest"},
		{name: "provider", edit: func(m map[string]any) { m["execution_providers"] = []string{"cpu", "rocm"} }, want: `execution_providers[1]: "rocm" is not one of cpu, cuda, tensorrt`},
		{name: "duplicate", edit: func(m map[string]any) { m["hardware"] = []string{"arm64", "arm64"} }, want: `hardware[1]: "arm64" is listed twice`},
		{name: "no hardware", edit: func(m map[string]any) { m["hardware"] = []string{} }, want: "hardware: at least one is required"},
		{name: "min agent", edit: func(m map[string]any) { m["min_agent_version"] = "new" }, want: `min_agent_version: "new"`},
		{name: "precision", edit: func(m map[string]any) { m["precisions"] = []string{"fp16"} }, want: `precisions[0]: "fp16" is not fp32 or int8`},
		{name: "type", edit: func(m map[string]any) { m["hardware"] = "amd64" }, want: "cannot unmarshal string"},
		{name: "trailing", raw: `{"format_version":1}}`, want: "trailing data"},
		{name: "not json", raw: `[`, want: "unexpected EOF"},
		{name: "too large", raw: strings.Repeat(" ", release.MaxCustomSize+1), want: "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte(tt.raw)
			if tt.edit != nil {
				m := valid(t)
				tt.edit(m)
				data, _ = json.Marshal(m)
			}
			_, err := release.Decode(data)
			if !errors.Is(err, release.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Decode: %v, want ErrInvalid with %q", err, tt.want)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	b, _ := json.Marshal(valid(f))
	f.Add(b)
	f.Add([]byte(`{"format_version":1}`))
	f.Add([]byte(`{"format_version":1,"hardware":["a","a"]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := release.Decode(data)
		if err != nil {
			if !errors.Is(err, release.ErrInvalid) {
				t.Fatalf("error not wrapping ErrInvalid: %v", err)
			}
			return
		}
		// What decodes must validate, encode and decode to the same.
		enc, err := r.Encode()
		if err != nil {
			t.Fatalf("decoded metadata does not encode: %v", err)
		}
		again, err := release.Decode(enc)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		enc2, _ := again.Encode()
		if string(enc) != string(enc2) {
			t.Fatalf("not stable:\n%s\n%s", enc, enc2)
		}
	})
}
