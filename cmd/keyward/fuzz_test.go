package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/fuzzcorpus"
)

// FuzzLoadConfig: any YAML file and any KEYWARD_* environment give loadConfig an answer within
// a bounded time and never a panic, and whatever it accepts passes Validate (the server would
// start on it).
func FuzzLoadConfig(f *testing.F) {
	fuzzcorpus.Sync(f, "FuzzLoadConfig", loadConfigSeeds)
	// Each fuzzing process runs its inputs one at a time, so one file per process will do.
	path := filepath.Join(f.TempDir(), "keyward.yaml")
	f.Fuzz(func(t *testing.T, yaml, env string) {
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		cfg, err := loadConfig(path, strings.Split(env, "\n"))
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("loadConfig took %v", d)
		}
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an error without a message")
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("loadConfig accepted a configuration Validate refuses: %v", err)
		}
	})
}

func loadConfigSeeds() []fuzzcorpus.Seed {
	example, err := os.ReadFile("../../config.example.yaml")
	if err != nil {
		panic(err)
	}
	laughs := "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n" +
		"d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n" +
		"g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\nissuer: *g\n"
	seeds := map[string][2]string{
		"example":             {string(example), ""},
		"empty":               {"", ""},
		"env-only":            {"", "KEYWARD_ISSUER=https://id.example.com\nKEYWARD_SESSION_IDLE_TIMEOUT=30m\nKEYWARD_TRUSTED_PROXIES=10.0.0.1, 10.1.0.0/16"},
		"env-bad-duration":    {"", "KEYWARD_SESSION_IDLE_TIMEOUT=soon"},
		"env-bad-bool":        {"", "KEYWARD_LOG_LEVEL=\nKEYWARD_TOKENS_ACCESS_TOKEN_TTL=-1s"},
		"env-no-equals":       {"", "KEYWARD_ISSUER\n=\nKEYWARD_=x"},
		"https-issuer":        {"issuer: https://id.example.com\n", ""},
		"http-non-localhost":  {"issuer: http://example.com\n", ""},
		"issuer-path":         {"issuer: https://example.com/a/\n", ""},
		"unknown-key":         {"unknown_key: 1\n", ""},
		"wrong-type":          {"session: 5\ntokens: [1,2]\n", ""},
		"duration-overflow":   {"tokens:\n  access_token_ttl: 9999999999999h\n", ""},
		"negative-duration":   {"ceremony_timeout: -5m\n", ""},
		"billion-laughs":      {laughs, ""},
		"deep-nesting":        {strings.Repeat("- ", 5000) + "x\n", ""},
		"deep-flow":           {strings.Repeat("[", 5000) + strings.Repeat("]", 5000), ""},
		"duplicate-keys":      {"issuer: https://a.example\nissuer: https://b.example\n", ""},
		"multi-document":      {"issuer: https://a.example\n---\nissuer: http://evil\n", ""},
		"tabs":                {"issuer:\thttps://a.example\n\tlisten: x\n", ""},
		"invalid-utf8":        {"rp_name: \"\xff\xfe\"\n", ""},
		"bom":                 {"\xef\xbb\xbfissuer: https://a.example\n", ""},
		"nul":                 {"issuer: \"a\x00b\"\n", ""},
		"tags":                {"issuer: !!binary aGVsbG8=\nlisten: !!int 5\n", ""},
		"merge-key":           {"base: &b {id: a}\nclients:\n  - <<: *b\n", ""},
		"client-bad-redirect": {"clients:\n  - id: a\n    public: true\n    redirect_uris: [javascript:alert(1)]\n", ""},
		"client-short-secret": {"clients:\n  - id: a\n    secret: short\n    redirect_uris: [https://a.example/cb]\n", ""},
		"client-duplicate":    {"clients:\n  - {id: a, public: true, redirect_uris: [https://a.example/cb]}\n  - {id: a, public: true, redirect_uris: [https://a.example/cb]}\n", ""},
		"client-secret-file":  {"clients:\n  - {id: a, secret_file: /nonexistent, redirect_uris: [https://a.example/cb]}\n", ""},
		"trusted-proxies":     {"trusted_proxies: [10.0.0.1, 'fe80::1%eth0', 300.1.1.1, '10.0.0.0/33']\n", ""},
		"huge-scalar":         {"rp_name: " + strings.Repeat("x", 60000) + "\n", ""},
		"anchor-cycle":        {"a: &a [*a]\n", ""},
	}
	var out []fuzzcorpus.Seed
	for name, s := range seeds {
		out = append(out, fuzzcorpus.Seed{Name: name, Args: []any{s[0], s[1]}})
	}
	return out
}
