// Package test holds repository-wide checks; the suites live in its subdirectories.
package test

import (
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/keyward/keyward"

// deps lists every package pkg depends on, directly or not (go list -deps).
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", mod+"/"+pkg).Output()
	if err != nil {
		t.Fatalf("go list %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

// TestDependencyRules keeps the layering of docs/architecture.md:
// cmd → internal/app → ui → {oidc, idp, templates, static} → store.
func TestDependencyRules(t *testing.T) {
	rules := map[string][]string{
		"store":     {mod + "/idp", mod + "/oidc", mod + "/ui", mod + "/templates", mod + "/internal/app", mod + "/store/"},
		"idp":       {"github.com/ory/fosite", mod + "/oidc", mod + "/ui", mod + "/templates", mod + "/store/sqlite", mod + "/store/postgres"},
		"oidc":      {mod + "/ui", mod + "/templates", mod + "/store/sqlite", mod + "/store/postgres", mod + "/internal/app"},
		"templates": {mod + "/store", mod + "/idp", mod + "/oidc", mod + "/ui", "database/sql"},
		"ui":        {mod + "/internal/app", mod + "/store/sqlite", mod + "/store/postgres", mod + "/cmd"},
	}
	for pkg, forbidden := range rules {
		for _, d := range deps(t, pkg) {
			for _, f := range forbidden {
				if d == f || (strings.HasSuffix(f, "/") && strings.HasPrefix(d, f)) || strings.HasPrefix(d, f+"/") {
					t.Errorf("%s must not depend on %s (found %s)", pkg, f, d)
				}
			}
		}
	}
	// Direct imports: only oidc imports fosite; the domain speaks no HTTP; templates are pure.
	direct := map[string][]string{
		"idp":          {"github.com/ory/fosite", "net/http", "github.com/a-h/templ"},
		"ui":           {"github.com/ory/fosite"},
		"store":        {"github.com/ory/fosite", "net/http"},
		"templates":    {"os", "database/sql"},
		"internal/app": {"github.com/ory/fosite"},
	}
	for pkg, forbidden := range direct {
		out, err := exec.Command("go", "list", "-f", `{{join .Imports " "}}`, mod+"/"+pkg).Output()
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range strings.Fields(string(out)) {
			for _, f := range forbidden {
				if imp == f || strings.HasPrefix(imp, f+"/") {
					t.Errorf("%s imports %s directly", pkg, imp)
				}
			}
		}
	}
}
