package confyaml

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// seeds are the package's test files and the configs the project ships.
func seeds(f *testing.F) {
	for _, pat := range []string{"testdata/*.yaml", "../rig/testdata/*.yaml", "../../deploy/*.yaml", "../../firmware-configs/*.yaml"} {
		files, _ := filepath.Glob(pat)
		for _, p := range files {
			if data, err := os.ReadFile(p); err == nil {
				f.Add(data)
			}
		}
	}
	f.Add([]byte("server: {max_body: !!binary AAAA}"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("- &a [*a, *a]\n"))
}

// FuzzParse: arbitrary bytes never panic; every key path Parse indexes
// is found again, and every error of Parse and Decode words as a
// FieldError naming the file.
func FuzzParse(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := Parse(data)
		if err != nil {
			if fe := doc.Error("f.yaml", err, "hint"); fe.File != "f.yaml" || fe.Msg == "" || fe.Path != "" {
				t.Fatalf("parse error worded as %#v", fe)
			}
			return
		}
		for path, p := range doc.pos {
			if line, col, ok := doc.Lookup(path); !ok || line != p.Line || col != p.Column {
				t.Fatalf("Lookup(%q) = %d:%d %v, want %d:%d", path, line, col, ok, p.Line, p.Column)
			}
		}
		doc.Alias()
		var cfg testConfig
		if err := doc.Decode(&cfg); err != nil {
			if fe := doc.Error("f.yaml", err, "hint"); fe.File != "f.yaml" || fe.Msg == "" {
				t.Fatalf("decode error worded as %#v", fe)
			}
		}
	})
}

// FuzzSpecDecode: arbitrary bytes never panic, every failure is a list of
// FieldErrors naming the file, and a config that decodes keeps its
// defaults where the file is silent.
func FuzzSpecDecode(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := parse("f.yaml", data, []string{"TEST_DATABASE_URL=u"})
		if err != nil {
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("error is %T, not Errors: %v", err, err)
			}
			for _, e := range es {
				if e.File != "f.yaml" {
					t.Fatalf("error does not name the file: %v", e)
				}
			}
			return
		}
		if es := cfg.validate(); es != nil {
			t.Fatalf("a config that decoded fails validation: %v", Errors(es))
		}
	})
}
