package idp

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/softauthn"
)

// RT-02: every ceremony outcome has a structured line, and no challenge or invite token ever
// reaches the log.
func TestRT02_AuditLinesWithoutSecrets(t *testing.T) {
	var buf bytes.Buffer
	e := newEnv(t)
	e.log = slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.svc = e.newService(e.st)

	var secrets []string
	token, _, err := e.svc.EnsureSetupInvite(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, token)
	a := newAuthenticator(t, softauthn.Options{})
	creation, err := e.svc.BeginSignup(e.ctx, meta("s"), SignupRequest{Email: "root@example.com", DisplayName: "Root", Invite: token})
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, creation.Response.Challenge.String())
	if _, err := e.svc.FinishSignup(e.ctx, meta("s"), createResponse(t, a, creation)); err != nil {
		t.Fatal(err)
	}
	for _, forges := range [][]softauthn.Forge{nil, {softauthn.Origin("https://evil.test")}, {softauthn.Counter(0)}} {
		assertion, err := e.svc.BeginLogin(e.ctx, meta("s"), LoginRequest{})
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, assertion.Response.Challenge.String())
		_, _ = e.svc.FinishLogin(e.ctx, meta("s"), getResponse(t, a, assertion, forges...))
	}

	out := buf.String()
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Fatalf("log contains a secret %q:\n%s", s, out)
		}
	}
	events := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not JSON: %s", line)
		}
		for k := range m {
			if k != strings.ToLower(k) || strings.Contains(k, "-") {
				t.Fatalf("key %q is not snake_case", k)
			}
		}
		if m["msg"] == "audit" {
			events[m["event"].(string)] = m["result"].(string)
			if m["ip"] != "192.0.2.1" && m["event"] != EventInviteCreated {
				t.Fatalf("audit line without ip: %s", line)
			}
		}
	}
	want := map[string]string{
		EventInviteCreated:   ResultOK,
		EventSignupCompleted: ResultOK,
		EventLoginSucceeded:  ResultOK,
		EventLoginFailed:     CodeCloneSuspected, // the last failure wins in the map
		EventCloneSuspected:  CodeCloneSuspected,
	}
	for ev, res := range want {
		if events[ev] != res {
			t.Errorf("audit line %s result %q, want %q (all: %v)", ev, events[ev], res, events)
		}
	}
}
