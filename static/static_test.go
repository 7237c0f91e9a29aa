package static_test

import (
	"io/fs"
	"regexp"
	"testing"

	"github.com/keyward/keyward/static"
)

// TestFS_HoldsAssetsWithNothingExternal: the pages link exactly these paths,
// and the CSP (default-src 'none', self only) would block anything fetched
// from elsewhere.
func TestFS_HoldsAssetsWithNothingExternal(t *testing.T) {
	external := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}|@import|eval\(|new Function|innerHTML`)
	for _, name := range []string{"keyward.css", "keyward.js", "favicon.svg"} {
		b, err := fs.ReadFile(static.FS, name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(b) == 0 {
			t.Errorf("%s is empty", name)
		}
		if name == "favicon.svg" {
			continue // its xmlns is a name, not a fetch
		}
		if m := external.Find(b); m != nil {
			t.Errorf("%s contains %q: nothing external, no eval, no HTML injection", name, m)
		}
	}
}
