package fuzzcorpus

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// WriteEnv is the environment variable that turns on regeneration.
const WriteEnv = "KEYWARD_WRITE_FUZZ_CORPUS"

// Seed is one corpus entry. Args are the fuzz function's arguments after *testing.T, each a
// []byte, a string or a bool.
type Seed struct {
	Name string
	Args []any
}

// Encode renders args in the `go test fuzz v1` format that `go test` reads from testdata.
func Encode(args ...any) ([]byte, error) {
	var b strings.Builder
	b.WriteString("go test fuzz v1\n")
	for _, a := range args {
		switch v := a.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		case string:
			fmt.Fprintf(&b, "string(%q)\n", v)
		case bool:
			fmt.Fprintf(&b, "bool(%t)\n", v)
		default:
			return nil, fmt.Errorf("fuzzcorpus: unsupported argument type %T", a)
		}
	}
	return []byte(b.String()), nil
}

// Sync writes the seeds of target into testdata/fuzz/<target>/ when WriteEnv is set (files
// named seed-<name>; other files, such as crashers the fuzzer saved, are kept). Otherwise it
// fails tb unless that directory holds at least one file. seeds is called only when writing.
func Sync(tb testing.TB, target string, seeds func() []Seed) {
	tb.Helper()
	dir := filepath.Join("testdata", "fuzz", target)
	if os.Getenv(WriteEnv) == "" {
		entries, err := os.ReadDir(dir)
		if err != nil || len(entries) == 0 {
			tb.Fatalf("%s has no committed seed corpus in %s (regenerate with %s=1): %v", target, dir, WriteEnv, err)
		}
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	old, _ := filepath.Glob(filepath.Join(dir, "seed-*"))
	for _, p := range old {
		if err := os.Remove(p); err != nil {
			tb.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for _, s := range seeds() {
		if s.Name == "" || seen[s.Name] || strings.ContainsAny(s.Name, `/\ `) {
			tb.Fatalf("fuzzcorpus: bad or duplicate seed name %q", s.Name)
		}
		seen[s.Name] = true
		data, err := Encode(s.Args...)
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "seed-"+s.Name), data, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}
