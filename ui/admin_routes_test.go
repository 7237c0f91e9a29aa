package ui

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// adminPatternRE matches a mux pattern (with or without its method) under /admin.
var adminPatternRE = regexp.MustCompile(`^([A-Z]+ )?/admin(/|$)`)

// TestAdminRoutesAllGoThroughTheConsoleTable: the console's 403 and CSRF tests enumerate
// AdminRoutes, which is the table mountAdmin registers through adminOnly. A route under /admin
// registered anywhere else would escape both the checks and those tests, so no other function
// of the package may register one: neither a literal pattern passed to Handle/HandleFunc nor
// a pattern literal in a function that registers routes from variables.
func TestAdminRoutesAllGoThroughTheConsoleTable(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil || fn.Name.Name == "mountAdmin" {
				continue
			}
			var registers bool
			var patterns []ast.Node
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.CallExpr:
					if sel, ok := n.Fun.(*ast.SelectorExpr); ok && (sel.Sel.Name == "Handle" || sel.Sel.Name == "HandleFunc") && len(n.Args) == 2 {
						registers = true
						checked++
					}
				case *ast.BasicLit:
					if s, err := strconv.Unquote(n.Value); err == nil && n.Kind == token.STRING && adminPatternRE.MatchString(s) {
						patterns = append(patterns, n)
					}
				}
				return true
			})
			if registers {
				for _, p := range patterns {
					t.Errorf("%s: %s registers routes and names the console path %s: add it to adminRoutes instead",
						fset.Position(p.Pos()), fn.Name.Name, p.(*ast.BasicLit).Value)
				}
			}
		}
	}
	if checked < 20 {
		t.Fatalf("found only %d route registrations: the scan is broken", checked)
	}
}
