package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUpdateOnCloud(t *testing.T) {
	for _, tc := range []struct {
		cloud, update string
		want          bool
	}{
		{"https://cloud.example.com", "https://cloud.example.com/tuf", true},
		{"https://cloud.example.com/", "https://CLOUD.example.com:443/tuf/", true},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080/tuf", true},
		{"https://cloud.example.com", "https://cdn.example.com/tuf", false},
		{"https://cloud.example.com", "https://cloud.example.com:8443/tuf", false},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8081/tuf", false},
		{"", "https://cloud.example.com/tuf", false},
		{"https://cloud.example.com", "", false},
	} {
		c := &Config{Cloud: Cloud{URL: tc.cloud}, Update: Update{URL: tc.update}}
		if got := c.UpdateOnCloud(); got != tc.want {
			t.Errorf("cloud %q, update %q: %v, want %v", tc.cloud, tc.update, got, tc.want)
		}
	}
}

func TestCloudCredential(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content, want, err string
	}{
		{"one line", "rga_abc\n", "rga_abc", ""},
		{"no newline", "rga_abc", "rga_abc", ""},
		{"empty", "\n", "", "want one line"},
		{"two lines", "a\nb\n", "", "want one line"},
		{"missing", "", "", "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name)
			if tc.name != "missing" {
				if err := os.WriteFile(p, []byte(tc.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			got, err := Cloud{CredentialFile: p}.Credential()
			if tc.err == "" && (err != nil || got != tc.want) {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
			if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || strings.Contains(err.Error(), "a\nb")) {
				t.Fatalf("got %q, %v; want an error with %q, without the file's content", got, err, tc.err)
			}
		})
	}
}

// The enrollment generation is read for the credential it was saved
// with: none saved (an agent enrolled by an older rig-agent) or another
// credential is 0; an unreadable file is an error naming it.
func TestGeneration(t *testing.T) {
	dir := t.TempDir()
	c := Cloud{CredentialFile: filepath.Join(dir, "credential")}
	if err := os.WriteFile(c.CredentialFile, []byte("rga_one\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	want := func(gen int) {
		t.Helper()
		got, err := c.Generation()
		if err != nil || got != gen {
			t.Fatalf("Generation() = %d, %v; want %d", got, err, gen)
		}
	}
	want(0)
	if err := c.SaveEnrollment(Enrollment{AgentID: "rig-001", Generation: 4, CredentialSHA256: CredentialDigest("rga_one")}, nil); err != nil {
		t.Fatal(err)
	}
	want(4)
	if err := os.WriteFile(c.CredentialFile, []byte("rga_two\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	want(0)
	if err := os.WriteFile(c.EnrollmentFile(), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Generation(); err == nil || !strings.Contains(err.Error(), c.EnrollmentFile()) {
		t.Fatalf("Generation() of a broken file: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Fatalf("files left: %v", entries)
	}
}
