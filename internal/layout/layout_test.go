// Package layout holds the test that keeps the house's shape: which of
// Yihao's packages may import which. ARCHITECTURE.md draws the same picture;
// this test is where it is enforced, so an arrow running back up (the domain
// importing a door, one door importing another, a door reaching into a
// store) fails `make test` instead of creeping in.
package layout

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/yihao-city/yihao"

// allowed lists, for each of our packages (a path relative to the module;
// "x/..." means x and everything under it), the packages of ours it may
// import. A package's own subtree is always allowed. Packages ending in
// "test" are test support: only tests and other test support may import
// them. Tests themselves are not checked: a test may wire anything.
var allowed = []struct {
	pkg     string
	imports []string
}{
	// The domain: tickets, workflow, the ports the stores implement.
	{"ticketing", nil},
	{"ticketing/internal/groupcommit", nil},
	{"ticketing/internal/row", []string{"ticketing"}},
	{"ticketing/internal/sqlq", []string{"ticketing", "ticketing/internal/row", "ticketing/internal/groupcommit"}},
	{"ticketing/postgres", []string{"ticketing", "ticketing/internal/..."}},
	{"ticketing/sqlite", []string{"ticketing", "ticketing/internal/..."}},

	// Leaves: know nothing of ours.
	{"limit", nil},
	{"pubsub", nil},
	{"routing/classify", nil},
	{"routing/grid", nil},

	// Around the domain.
	{"routing", []string{"ticketing", "routing/classify", "routing/grid"}},
	{"routing/forward", []string{"ticketing"}},
	{"media", []string{"ticketing"}},
	{"internal/httpapi", []string{"ticketing"}},
	{"knowledge", []string{"ticketing"}},

	// The doors and the desks: the domain, its helpers, never each other.
	{"channels/webform", []string{"ticketing", "media", "limit", "internal/httpapi"}},
	{"channels/open311", []string{"ticketing", "media", "internal/httpapi"}},
	{"channels/field", []string{"ticketing", "media", "internal/httpapi"}},
	{"channels/wechat", []string{"ticketing", "media", "limit", "internal/httpapi"}},
	{"channels/sms", []string{"ticketing"}},
	{"channels/hotline/...", []string{"ticketing", "media", "limit", "internal/httpapi", "pubsub"}},
	{"desks", []string{"ticketing", "media", "limit", "internal/httpapi", "pubsub"}},

	// Adapters for shared state: they implement ports the doors own.
	{"redis", []string{"limit", "pubsub", "channels/hotline/acd", "channels/hotline/sipauth", "channels/wechat"}},

	// The demo city's data, embedded; suites that drive the built binary.
	{"configs", nil},
	{"attacks", nil},
	{"faults", nil},

	// Wiring and tools: anything but test support.
	{"cmd/...", []string{"..."}},
	{"internal/browsertest", nil},
	{"internal/loadgen", nil},
	{"internal/historygen", []string{"ticketing", "ticketing/postgres", "routing", "routing/grid"}},
}

func TestImportsRunDownhill(t *testing.T) {
	root := moduleRoot(t)
	imports := scan(t, root)
	if len(imports) < 20 {
		t.Fatalf("found only %d packages under %s; is the module root right?", len(imports), root)
	}
	for pkg, deps := range imports {
		rule, ok := ruleFor(pkg)
		if !ok {
			t.Errorf("package %s has no place in the layout table; add it to allowed in this file (and to ARCHITECTURE.md)", pkg)
			continue
		}
		for _, dep := range deps {
			switch {
			case isTestSupport(dep) && !isTestSupport(pkg):
				t.Errorf("%s imports test support %s", pkg, dep)
			case dep == pkg, within(dep, pkg+"/..."):
			case !slices.ContainsFunc(rule, func(p string) bool { return within(dep, p) }):
				t.Errorf("%s imports %s, which its place in the layout does not allow (allowed: %v)", pkg, dep, rule)
			}
		}
	}
}

// TestLayoutTableMatchesTheTree keeps the table honest: a rule for a
// package that no longer exists is a stale map.
func TestLayoutTableMatchesTheTree(t *testing.T) {
	imports := scan(t, moduleRoot(t))
	for _, r := range allowed {
		found := false
		for pkg := range imports {
			if within(pkg, r.pkg) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("the layout table names %s, but no such package exists", r.pkg)
		}
	}
}

func ruleFor(pkg string) ([]string, bool) {
	if isTestSupport(pkg) {
		return []string{"..."}, true
	}
	for _, r := range allowed {
		if within(pkg, r.pkg) {
			return r.imports, true
		}
	}
	return nil, false
}

// within reports whether pkg is pattern, or under it when pattern ends in
// "/..." ("..." alone matches everything).
func within(pkg, pattern string) bool {
	if pattern == "..." {
		return true
	}
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return pkg == base || strings.HasPrefix(pkg, base+"/")
	}
	return pkg == pattern
}

func isTestSupport(pkg string) bool { return strings.HasSuffix(path.Base(pkg), "test") }

// scan reads the imports of every non-test Go file under root and returns,
// per package of ours (relative path), the packages of ours it imports.
func scan(t *testing.T, root string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if p != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, filepath.Dir(p))
		if err != nil {
			return err
		}
		pkg := filepath.ToSlash(rel)
		if _, ok := out[pkg]; !ok {
			out[pkg] = nil
		}
		for _, imp := range f.Imports {
			ip, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				return err
			}
			dep, ok := strings.CutPrefix(ip, module+"/")
			if !ok || slices.Contains(out[pkg], dep) {
				continue
			}
			out[pkg] = append(out[pkg], dep)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}
