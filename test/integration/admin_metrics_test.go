package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/metrics"
	"github.com/keyward/keyward/internal/passkeyclient"
	"github.com/keyward/keyward/internal/softauthn"
	"github.com/keyward/keyward/internal/testenv"
)

const (
	uaChromeMac  = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
	uaSafariIOS  = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
	uaFirefoxWin = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0"
	uaEdgeWin    = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0"
)

// series parses the Prometheus text format into "name{k=v,…}" (labels sorted) → value.
func series(t *testing.T, body string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, line := range strings.Split(body, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q", line)
		}
		name, labels := line[:i], ""
		if j := strings.IndexByte(name, '{'); j >= 0 {
			parts := strings.Split(strings.TrimSuffix(name[j+1:], "}"), ",")
			sort.Strings(parts)
			name, labels = name[:j], strings.Join(parts, ",")
		}
		out[name+"{"+labels+"}"] = v
	}
	return out
}

func key(name string, kv ...string) string {
	var parts []string
	for i := 0; i < len(kv); i += 2 {
		parts = append(parts, kv[i]+`="`+kv[i+1]+`"`)
	}
	sort.Strings(parts)
	return name + "{" + strings.Join(parts, ",") + "}"
}

// TestFunnelNumbersMatchWhatHappened scripts sign-ups (completed, abandoned, refused),
// sign-ins of every route (succeeded, failed with several codes) and an account recovery
// (link mailed, new passkey left waiting, cancelled by the administrator), then checks
// /metrics on the management listener and the dashboard's data against the script, exactly.
//
// Routes come from what sign-in events record (mode, mediation, the assertion's authenticator
// attachment, see metrics.SignInRoute): the software authenticator answers as a platform
// authenticator, so the hybrid sign-ins rewrite the attachment as a browser reaching a phone does.
func TestFunnelNumbersMatchWhatHappened(t *testing.T) {
	mb := startMailbox(t)
	env := testenv.Start(t, testenv.Options{NoAdmin: true, Configure: mb.configure})
	ctx := context.Background()
	m := metrics.New(metrics.Options{Store: env.Store, Now: env.Clock.Now})
	env.App.IDP.ObserveAudit(m.Observe)
	mgmt := httptest.NewServer(metrics.ManagementHandler(m, func(ctx context.Context) error { return env.Store.Ping(ctx) }, nil))
	defer mgmt.Close()

	// The first administrator, through the setup link, after the observer is attached.
	token, _, err := env.App.IDP.EnsureSetupInvite(ctx)
	if err != nil {
		t.Fatal(err)
	}
	admin := env.NewBrowser()
	if _, err := admin.SignUp(ctx, "admin@example.test", "Admin", token, ""); err != nil {
		t.Fatal(err)
	}
	browser := func(ua string, auth *softauthn.Authenticator) *passkeyclient.Client {
		b := env.NewBrowser()
		if auth != nil {
			b.Auth = auth
		}
		b.UserAgent = ua
		return b
	}
	signUp := func(email, ua string, forges ...softauthn.Forge) (*passkeyclient.Client, error) {
		b := browser(ua, nil)
		_, err := b.SignUp(ctx, email, "P", "", "", forges...)
		return b, err
	}
	p1, err := signUp("p1@example.test", uaChromeMac)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := signUp("p2@example.test", uaSafariIOS)
	if err != nil {
		t.Fatal(err)
	}
	p3, err := signUp("p3@example.test", uaFirefoxWin)
	if err != nil {
		t.Fatal(err)
	}
	// Refused at finish (wrong origin): the browser made a passkey, the sign-up failed.
	if _, err := signUp("p4@example.test", uaEdgeWin, softauthn.Origin("https://evil.example")); err == nil {
		t.Fatal("forged origin accepted")
	}
	// Abandoned: begun, the passkey prompt never answered.
	ab := browser(uaChromeMac, nil)
	csrf := csrfOf(t, ab, "/signup")
	begin, _ := json.Marshal(map[string]string{"email": "p5@example.test", "display_name": "P"})
	if err := ab.PostJSON(ctx, "/webauthn/signup/begin", csrf, begin, nil); err != nil {
		t.Fatal(err)
	}

	// Sign-ins, each in a new browser holding the person's passkeys.
	in := func(p *passkeyclient.Client, email string, forges ...softauthn.Forge) error {
		_, err := browser(p.UserAgent, p.Auth).SignIn(ctx, email, "", forges...)
		return err
	}
	autofill := func(p *passkeyclient.Client) error {
		b := browser(p.UserAgent, p.Auth)
		csrf := csrfOf(t, b, "/login")
		var opts json.RawMessage
		if err := b.PostJSON(ctx, "/webauthn/login/begin", csrf, []byte(`{"conditional":true}`), &opts); err != nil {
			return err
		}
		cred, err := b.Auth.Get(opts)
		if err != nil {
			return err
		}
		return b.PostJSON(ctx, "/webauthn/login/finish", csrf, cred, nil)
	}
	// A phone over hybrid: the browser reports the assertion's attachment as cross-platform.
	crossDevice := func(p *passkeyclient.Client, forges ...softauthn.Forge) error {
		b := browser(p.UserAgent, p.Auth)
		csrf := csrfOf(t, b, "/login")
		var opts json.RawMessage
		if err := b.PostJSON(ctx, "/webauthn/login/begin", csrf, []byte(`{}`), &opts); err != nil {
			return err
		}
		cred, err := b.Auth.Get(opts, forges...)
		if err != nil {
			return err
		}
		hybrid := bytes.Replace(cred, []byte(`"authenticatorAttachment":"platform"`), []byte(`"authenticatorAttachment":"cross-platform"`), 1)
		if bytes.Equal(hybrid, cred) {
			t.Fatal("the assertion carries no platform attachment to change")
		}
		return b.PostJSON(ctx, "/webauthn/login/finish", csrf, hybrid, nil)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	mustFail := func(err error) {
		t.Helper()
		if err == nil {
			t.Fatal("sign-in should have failed")
		}
	}
	must(in(p1, ""))                                              // discoverable
	must(in(p1, ""))                                              // discoverable
	must(in(p1, "p1@example.test"))                               // email-first
	must(in(p2, "p2@example.test"))                               // email-first
	must(autofill(p1))                                            // conditional
	must(crossDevice(p2))                                         // hybrid
	mustFail(crossDevice(p2, softauthn.BadSignature()))           // hybrid, verification_failed
	mustFail(in(p1, "", softauthn.BadSignature()))                // discoverable, verification_failed
	mustFail(in(p2, "p2@example.test", softauthn.BadSignature())) // email-first, verification_failed

	// The admin disables p3 (an audited admin action), whose next sign-in fails.
	p3acct, _ := env.Store.GetAccountByEmail(ctx, "p3@example.test")
	acsrf := csrfOf(t, admin, "/admin")
	if resp, _ := adminPost(t, admin, "/admin/users/"+p3acct.ID+"/disable", acsrf, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("disable: %d", resp.StatusCode)
	}
	mustFail(in(p3, "")) // account_disabled

	// p2 lost their phone: a recovery link by mail, a new passkey without a recovery code
	// (so it waits), which the administrator then cancels from the console.
	if code, _ := startRecovery(t, browser(uaSafariIOS, nil), "p2@example.test"); code != http.StatusOK {
		t.Fatalf("start recovery: %d", code)
	}
	out, err := recoverWith(t, browser(uaSafariIOS, nil), mb.last(t, "p2@example.test", "Recover your").link(t), "")
	if err != nil || out.Status != "pending" {
		t.Fatalf("recovery: %+v %v", out, err)
	}
	pending, _ := env.Store.ListPendingActions(ctx, "", "pending")
	if len(pending) != 1 {
		t.Fatalf("%d pending actions", len(pending))
	}
	if resp, _ := adminPost(t, admin, "/admin/pending/"+pending[0].ID+"/cancel", acsrf, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("cancel the recovery passkey: %d", resp.StatusCode)
	}

	body := get(t, mgmt.URL+"/metrics")
	got := series(t, body)
	want := map[string]float64{
		key("keyward_signup_funnel_total", "stage", "begun", "os", "other", "browser", "other"):            1, // admin (test client UA)
		key("keyward_signup_funnel_total", "stage", "begun", "os", "macOS", "browser", "Chrome"):           2, // p1 + abandoned
		key("keyward_signup_funnel_total", "stage", "begun", "os", "iOS", "browser", "Safari"):             1,
		key("keyward_signup_funnel_total", "stage", "begun", "os", "Windows", "browser", "Firefox"):        1,
		key("keyward_signup_funnel_total", "stage", "begun", "os", "Windows", "browser", "Edge"):           1,
		key("keyward_signup_funnel_total", "stage", "passkey_created", "os", "macOS", "browser", "Chrome"): 1,
		key("keyward_signup_funnel_total", "stage", "passkey_created", "os", "Windows", "browser", "Edge"): 1,
		key("keyward_signup_funnel_total", "stage", "completed", "os", "macOS", "browser", "Chrome"):       1,
		key("keyward_signup_funnel_total", "stage", "completed", "os", "Windows", "browser", "Edge"):       0,
		key("keyward_signup_failures_total", "code", "verification_failed"):                                1,
		// The route comes from the ceremony (email-first, autofill) and the authenticator's
		// attachment: the software authenticator reports "platform", i.e. same device.
		key("keyward_signins_total", "route", "email_first", "result", "ok"):                              2,
		key("keyward_signins_total", "route", "same_device", "result", "ok"):                              2,
		key("keyward_signins_total", "route", "autofill", "result", "ok"):                                 1,
		key("keyward_signins_total", "route", "unknown", "result", "ok"):                                  0,
		key("keyward_signins_total", "route", "cross_device", "result", "ok"):                             1,
		key("keyward_signins_total", "route", "cross_device", "result", "verification_failed"):            1,
		key("keyward_signins_total", "route", "same_device", "result", "verification_failed"):             1,
		key("keyward_signins_total", "route", "email_first", "result", "verification_failed"):             1,
		key("keyward_signins_total", "route", "same_device", "result", "account_disabled"):                1,
		key("keyward_recovery_total", "stage", "started"):                                                 1,
		key("keyward_recovery_total", "stage", "completed"):                                               1,
		key("keyward_recovery_total", "stage", "cancelled"):                                               1,
		key("keyward_account_changes_total", "kind", "new_device_after_recovery", "outcome", "requested"): 1,
		key("keyward_account_changes_total", "kind", "new_device_after_recovery", "outcome", "cancelled"): 1,
		key("keyward_account_changes_total", "kind", "new_device_after_recovery", "outcome", "done"):      0,
		key("keyward_admin_actions_total", "action", "account.disabled"):                                  1,
		key("keyward_audit_events_total", "event", "signup.begun", "outcome", "ok"):                       6,
		key("keyward_audit_events_total", "event", "login.failed", "outcome", "failure"):                  4,
		key("keyward_accounts_active"):                                                                    3,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	total := func(prefix string) (n float64) {
		for k, v := range got {
			if strings.HasPrefix(k, prefix) {
				n += v
			}
		}
		return n
	}
	for name, w := range map[string]float64{`keyward_signup_funnel_total{browser=`: 6 + 5 + 4, `keyward_signins_total{`: 10} {
		if n := total(name); n != w {
			t.Errorf("sum of %s… = %v, want %v", name, n, w)
		}
	}

	// The dashboard's data, from the audit table, says the same.
	_, raw, err := admin.Get(ctx, "/admin/dashboard.json?range=24h")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Summary struct {
			Funnel  map[string]int `json:"funnel"`
			SignIns []struct {
				Route    string         `json:"route"`
				OK       int            `json:"ok"`
				Failures map[string]int `json:"failures"`
			} `json:"signins"`
			SignupFailures map[string]int            `json:"signup_failures"`
			AdminActions   map[string]int            `json:"admin_actions"`
			Recovery       map[string]int            `json:"recovery"`
			AccountChanges map[string]map[string]int `json:"account_changes"`
		} `json:"summary"`
		Coverage struct {
			ActiveAccounts int `json:"active_accounts"`
			OnePasskey     int `json:"one_passkey"`
		} `json:"coverage"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard data: %v\n%s", err, raw)
	}
	s := dash.Summary
	if s.Funnel["begun"] != 6 || s.Funnel["passkey_created"] != 5 || s.Funnel["completed"] != 4 || s.SignupFailures["verification_failed"] != 1 {
		t.Errorf("dashboard funnel %v failures %v", s.Funnel, s.SignupFailures)
	}
	for _, st := range metrics.Stages {
		var n float64
		for k, v := range got {
			if strings.HasPrefix(k, "keyward_signup_funnel_total{") && strings.Contains(k, `stage="`+st+`"`) {
				n += v
			}
		}
		if float64(s.Funnel[st]) != n {
			t.Errorf("stage %s: dashboard %d, metrics %v", st, s.Funnel[st], n)
		}
	}
	for _, rc := range s.SignIns {
		if float64(rc.OK) != got[key("keyward_signins_total", "route", rc.Route, "result", "ok")] {
			t.Errorf("route %s ok: dashboard %d, metrics %v", rc.Route, rc.OK, got[key("keyward_signins_total", "route", rc.Route, "result", "ok")])
		}
		for code, n := range rc.Failures {
			if float64(n) != got[key("keyward_signins_total", "route", rc.Route, "result", code)] {
				t.Errorf("route %s %s: dashboard %d, metrics differ", rc.Route, code, n)
			}
		}
	}
	if s.AdminActions["account.disabled"] != 1 || dash.Coverage.ActiveAccounts != 3 || dash.Coverage.OnePasskey != 3 {
		t.Errorf("dashboard admin %v coverage %+v", s.AdminActions, dash.Coverage)
	}
	for _, st := range metrics.RecoveryStages {
		if float64(s.Recovery[st]) != got[key("keyward_recovery_total", "stage", st)] || s.Recovery[st] != 1 {
			t.Errorf("recovery %s: dashboard %d, metrics %v, want 1", st, s.Recovery[st], got[key("keyward_recovery_total", "stage", st)])
		}
	}
	if c := s.AccountChanges["new_device_after_recovery"]; c["requested"] != 1 || c["cancelled"] != 1 || c["done"] != 0 {
		t.Errorf("dashboard account changes %v", s.AccountChanges)
	}
	page := adminGet(t, admin, "/admin?range=7d", http.StatusOK)
	for _, want := range []string{"<svg", `data-route="email_first"`, "Chrome on macOS", "0 of 3 active accounts"} {
		if !strings.Contains(page, want) {
			t.Errorf("dashboard page lacks %q", want)
		}
	}

	// The public listener serves no metrics (SECURITY RL-14).
	if resp, _, _ := admin.Get(ctx, "/metrics"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("public /metrics answered %d", resp.StatusCode)
	}
	get(t, mgmt.URL+"/readyz")
}

func get(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", u, resp.StatusCode)
	}
	return sb.String()
}
