package hardening

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// pinned are the libraries whose security behaviour Keyward relies on in detail (SECURITY.md §6:
// fosite's storage contracts, go-webauthn's fixes, gorilla's cookie defaults) and the tests
// that must be re-read and pass before any of them moves.
var pinned = map[string]struct {
	version string
	guards  []string // test-name prefixes that prove the library's behaviour Keyward relies on
}{
	"github.com/go-webauthn/webauthn": {"v0.18.2", []string{"TestWA09_", "TestWA11_", "TestWA13_", "FuzzWA13_"}},
	"github.com/ory/fosite":           {"v0.49.0", []string{"TestOA05_", "TestOA07_", "TestOA04_", "TestOA09_"}},
	"github.com/gorilla/sessions":     {"v1.4.0", []string{"TestSE01_", "TestSE02_"}},
	"github.com/gorilla/securecookie": {"v1.1.2", []string{"TestSE01_"}},
}

// TestRL13_SecurityLibrariesPinned: go.mod requires exactly the versions the regression tests
// were written against, and those tests exist. Moving one of these modules makes this test
// fail until the pin is updated here, which is the moment to re-run and re-read the guards
// (the libraries' own changelogs against SECURITY.md §3.1 and §6).
func TestRL13_SecurityLibrariesPinned(t *testing.T) {
	gomod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	testFunc := regexp.MustCompile(`(?m)^func ((?:Test|Fuzz)[A-Za-z0-9_]+)\(`)
	err = filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if strings.HasSuffix(path, "_test.go") {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range testFunc.FindAllSubmatch(b, -1) {
				names[string(m[1])] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for mod, p := range pinned {
		re := regexp.MustCompile(`(?m)^\s*(?:require\s+)?` + regexp.QuoteMeta(mod) + `\s+(\S+)`)
		m := re.FindSubmatch(gomod)
		if m == nil {
			t.Errorf("%s is not in go.mod", mod)
			continue
		}
		if got := string(m[1]); got != p.version {
			t.Errorf("%s moved from %s to %s: run and re-read %v, then update the pin", mod, p.version, got, p.guards)
		}
		for _, g := range p.guards {
			found := false
			for n := range names {
				if strings.HasPrefix(n, g) {
					found = true
					break
				}
			}
			if !found {
				t.Errorf("%s: no %s* test guards it", mod, g)
			}
		}
	}
}
