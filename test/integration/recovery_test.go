package integration

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/idp"
	"github.com/keyward/keyward/internal/app"
	"github.com/keyward/keyward/internal/passkeyclient"
	"github.com/keyward/keyward/internal/testenv"
	"github.com/keyward/keyward/store"
)

// Takeover scenarios of issue 5, end to end over HTTP with a real SMTP server (SECURITY SA-01,
// SA-02, SA-05, SA-07, RT-01).

func recoveryEnv(t *testing.T) (*testenv.Env, *mailbox) {
	t.Helper()
	mb := startMailbox(t)
	env := testenv.Start(t, testenv.Options{Configure: func(c *app.Config) { mb.configure(c) }})
	return env, mb
}

// startRecovery asks for a recovery link for email from a fresh page, as anyone can.
func startRecovery(t *testing.T, b *passkeyclient.Client, email string) (int, string) {
	t.Helper()
	csrf, err := b.CSRF(context.Background(), "/recovery")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, b.Base+"/recovery/start",
		strings.NewReader(url.Values{"csrf_token": {csrf}, "email": {email}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.Base)
	resp, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body := new(strings.Builder)
	_, _ = ioCopy(body, resp)
	return resp.StatusCode, body.String()
}

type recoveryOutcome struct {
	Status     string `json:"status"`
	DueAt      string `json:"due_at"`
	RedirectTo string `json:"redirect_to"`
}

// recoverWith opens the mailed link and enrolls a new passkey in b's authenticator, with code
// (may be empty).
func recoverWith(t *testing.T, b *passkeyclient.Client, link, code string) (*recoveryOutcome, error) {
	t.Helper()
	ctx := context.Background()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	csrf, err := b.CSRF(ctx, link)
	if err != nil {
		return nil, err
	}
	begin, _ := json.Marshal(map[string]string{"token": u.Query().Get("token"), "code": code})
	var opts json.RawMessage
	if err := b.PostJSON(ctx, "/webauthn/recovery/begin", csrf, begin, &opts); err != nil {
		return nil, err
	}
	cred, err := b.Auth.Create(opts)
	if err != nil {
		t.Fatalf("authenticator: %v", err)
	}
	var out recoveryOutcome
	if err := b.PostJSON(ctx, "/webauthn/recovery/finish", csrf, cred, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func wantHTTP(t *testing.T, err error, status int, code string) {
	t.Helper()
	var pe *passkeyclient.Error
	if !errors.As(err, &pe) || pe.Status != status || (code != "" && pe.Code != code) {
		t.Fatalf("got %v, want %d %s", err, status, code)
	}
}

func credentialCount(t *testing.T, env *testenv.Env, accountID string) int {
	t.Helper()
	creds, err := env.Store.ListCredentials(context.Background(), accountID)
	if err != nil {
		t.Fatal(err)
	}
	return len(creds)
}

func accountOf(t *testing.T, env *testenv.Env, email string) *store.Account {
	t.Helper()
	a, err := env.Store.GetAccountByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func auditCount(t *testing.T, env *testenv.Env, accountID, event string) int {
	t.Helper()
	evs, err := env.Store.ListAudit(context.Background(), store.AuditQuery{AccountID: accountID, Event: event})
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

var csrfMetaRE = regexp.MustCompile(`<meta name="csrf-token" content="[^"]*"|nonce="[^"]*"`)

// TestSA05_RecoveryStartDoesNotEnumerate: an unknown address gets the very same answer, and
// only a real account's address gets mail.
func TestSA05_RecoveryStartDoesNotEnumerate(t *testing.T) {
	env, mb := recoveryEnv(t)
	env.SignedUp("victim@example.test")
	st1, known := startRecovery(t, env.NewBrowser(), "victim@example.test")
	st2, unknown := startRecovery(t, env.NewBrowser(), "nobody@example.test")
	if st1 != http.StatusOK || st2 != http.StatusOK || csrfMetaRE.ReplaceAllString(known, "") != csrfMetaRE.ReplaceAllString(unknown, "") {
		t.Fatalf("answers differ: %d vs %d", st1, st2)
	}
	if len(mb.to("nobody@example.test")) != 0 {
		t.Fatal("mail sent to an address without an account")
	}
	mb.last(t, "victim@example.test", "Recover your")
}

// TestSA02_InboxOnlyAttackerGetsPendingPasskeyOwnerCancels: the attacker holds only the
// victim's inbox. The passkey they enroll is pending and cannot sign in; the owner is mailed a
// one-click cancel link (GET changes nothing, POST cancels) and the passkey never activates.
func TestSA02_InboxOnlyAttackerGetsPendingPasskeyOwnerCancels(t *testing.T) {
	env, mb := recoveryEnv(t)
	owner := env.SignedUp("victim@example.test")
	victim := accountOf(t, env, "victim@example.test")
	attacker := env.NewBrowser()

	startRecovery(t, attacker, "victim@example.test")
	link := mb.last(t, "victim@example.test", "Recover your").link(t)
	out, err := recoverWith(t, attacker, link, "")
	if err != nil {
		t.Fatalf("recovery: %v", err)
	}
	if out.Status != "pending" || out.DueAt == "" {
		t.Fatalf("recovery by email alone: %+v, want pending", out)
	}
	if n := credentialCount(t, env, victim.ID); n != 1 {
		t.Fatalf("the account has %d passkeys during the cooling-off, want 1", n)
	}
	if _, err := attacker.SignIn(context.Background(), "", ""); err == nil {
		t.Fatal("the pending passkey signed in")
	}
	// The link is single use.
	if _, err := recoverWith(t, env.NewBrowser(), link, ""); err == nil {
		t.Fatal("the recovery link worked twice")
	}

	notice := mb.last(t, "victim@example.test", "Account recovery started")
	cancel := notice.link(t)
	resp, body, err := owner.Get(context.Background(), cancel)
	if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `id="cancel-confirm"`) {
		t.Fatalf("cancel page: %v %d", err, resp.StatusCode)
	}
	pending, _ := env.Store.ListPendingActions(context.Background(), victim.ID, store.PendingStatusPending)
	if len(pending) != 1 {
		t.Fatalf("GET on the cancel link changed state: %d pending", len(pending))
	}
	csrf := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(string(body))[1]
	u, _ := url.Parse(cancel)
	if r := postForm(t, owner, "/recovery/cancel", url.Values{"csrf_token": {csrf}, "token": {u.Query().Get("token")}}.Encode()); r.StatusCode != http.StatusOK {
		t.Fatalf("cancel: %d", r.StatusCode)
	}
	if r := postForm(t, owner, "/recovery/cancel", url.Values{"csrf_token": {csrf}, "token": {u.Query().Get("token")}}.Encode()); r.StatusCode != http.StatusNotFound {
		t.Fatalf("second cancel: %d, want 404", r.StatusCode)
	}
	mb.last(t, "victim@example.test", "was cancelled")

	env.Clock.Advance(idp.DefaultRecoveryCoolingOff + time.Hour)
	if n, err := env.App.IDP.RunDuePendingActions(context.Background()); err != nil || n != 0 {
		t.Fatalf("scheduler after cancel: %d %v", n, err)
	}
	if n := credentialCount(t, env, victim.ID); n != 1 {
		t.Fatalf("a cancelled recovery added a passkey: %d", n)
	}
	if _, err := attacker.SignIn(context.Background(), "", ""); err == nil {
		t.Fatal("the cancelled passkey signed in")
	}
	if auditCount(t, env, victim.ID, idp.EventPendingCreated) != 1 || auditCount(t, env, victim.ID, idp.EventPendingCancelled) != 1 {
		t.Fatal("pending.created / pending.cancelled not audited")
	}
}

// TestSA02_RecoveryPasskeyActivatesOnlyAfterCoolingOffAcrossRestart: without a cancel the
// passkey activates at the end of the period, not a second before, and the pending action
// survives a restart (a new app.App on the same database file).
func TestSA02_RecoveryPasskeyActivatesOnlyAfterCoolingOffAcrossRestart(t *testing.T) {
	env, mb := recoveryEnv(t)
	env.SignedUp("victim@example.test")
	victim := accountOf(t, env, "victim@example.test")
	attacker := env.NewBrowser()
	startRecovery(t, attacker, "victim@example.test")
	if _, err := recoverWith(t, attacker, mb.last(t, "victim@example.test", "Recover your").link(t), ""); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	env.Clock.Advance(idp.DefaultRecoveryCoolingOff - time.Second)
	if n, err := env.App.IDP.RunDuePendingActions(ctx); err != nil || n != 0 {
		t.Fatalf("executed %d (%v) before the period ended", n, err)
	}
	if _, err := attacker.SignIn(ctx, "", ""); err == nil {
		t.Fatal("signed in before the period ended")
	}

	env.Restart()
	env.Clock.Advance(2 * time.Second)
	if n, err := env.App.IDP.RunDuePendingActions(ctx); err != nil || n != 1 {
		t.Fatalf("after the period and a restart: executed %d (%v), want 1", n, err)
	}
	if n, err := env.App.IDP.RunDuePendingActions(ctx); err != nil || n != 0 {
		t.Fatalf("second run executed %d (%v)", n, err)
	}
	if n := credentialCount(t, env, victim.ID); n != 2 {
		t.Fatalf("passkeys after activation: %d, want 2", n)
	}
	if _, err := attacker.SignIn(ctx, "", ""); err != nil {
		t.Fatalf("the activated passkey cannot sign in: %v", err)
	}
	mb.last(t, "victim@example.test", "took effect")
	if auditCount(t, env, victim.ID, idp.EventPendingExecuted) != 1 {
		t.Fatal("pending.executed not audited once")
	}
}

// TestSA02_TwoSchedulersExecuteOnce: several scheduler loops (two app instances on one store,
// each with two goroutines) race on a due action; it executes once.
func TestSA02_TwoSchedulersExecuteOnce(t *testing.T) {
	env, mb := recoveryEnv(t)
	env.SignedUp("victim@example.test")
	victim := accountOf(t, env, "victim@example.test")
	attacker := env.NewBrowser()
	startRecovery(t, attacker, "victim@example.test")
	if _, err := recoverWith(t, attacker, mb.last(t, "victim@example.test", "Recover your").link(t), ""); err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(idp.DefaultRecoveryCoolingOff + time.Second)
	other, err := idp.New(idp.Config{RPID: "localhost", RPOrigins: []string{env.Issuer}, EnumerationKey: make([]byte, 32)}, env.Store, nil, env.Clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	schedulers := []*idp.Service{env.App.IDP, other, env.App.IDP, other}
	var mu sync.Mutex
	total := 0
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, s := range schedulers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			n, err := s.RunDuePendingActions(context.Background())
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			total += n
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	if total != 1 || credentialCount(t, env, victim.ID) != 2 || auditCount(t, env, victim.ID, idp.EventPendingExecuted) != 1 {
		t.Fatalf("executed %d times, %d passkeys", total, credentialCount(t, env, victim.ID))
	}
}

// regenerateCodes asks for new recovery codes with b's session (step-up must be fresh).
func regenerateCodes(t *testing.T, b *passkeyclient.Client) ([]string, error) {
	t.Helper()
	csrf, err := b.CSRF(context.Background(), "/account/security")
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Codes []string `json:"codes"`
	}
	err = b.PostJSON(context.Background(), "/account/recovery-codes", csrf, []byte(`{}`), &out)
	return out.Codes, err
}

// TestSA05_RecoveryCodeWorksOnceAndSkipsCoolingOff: link + code activates at once (owner
// notified), the code then fails, and no code is stored in plain text.
func TestSA05_RecoveryCodeWorksOnceAndSkipsCoolingOff(t *testing.T) {
	env, mb := recoveryEnv(t)
	owner := env.SignedUp("victim@example.test")
	victim := accountOf(t, env, "victim@example.test")
	codes, err := regenerateCodes(t, owner)
	if err != nil || len(codes) != idp.RecoveryCodeCount {
		t.Fatalf("codes: %v %d", err, len(codes))
	}
	format := regexp.MustCompile(`^[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}$`)
	for _, c := range codes {
		if !format.MatchString(c) {
			t.Fatalf("code %q is not 16 base32 characters (80 bits)", c)
		}
	}
	mb.last(t, "victim@example.test", "New recovery codes")
	assertNotInDatabase(t, env, codes)

	b := env.NewBrowser()
	startRecovery(t, b, "victim@example.test")
	out, err := recoverWith(t, b, mb.last(t, "victim@example.test", "Recover your").link(t), strings.ToLower(codes[3]))
	if err != nil || out.Status != "active" {
		t.Fatalf("recovery with a code: %+v %v", out, err)
	}
	if credentialCount(t, env, victim.ID) != 2 {
		t.Fatal("the passkey is not active at once")
	}
	if _, err := b.SignIn(context.Background(), "", ""); err != nil {
		t.Fatalf("sign-in with the recovered passkey: %v", err)
	}
	mb.last(t, "victim@example.test", "A passkey was added")

	env.Clock.Advance(2 * time.Minute) // past the one-link-per-minute gap
	b2 := env.NewBrowser()
	startRecovery(t, b2, "victim@example.test")
	_, err = recoverWith(t, b2, mb.last(t, "victim@example.test", "Recover your").link(t), codes[3])
	wantHTTP(t, err, http.StatusBadRequest, idp.CodeRecoveryCodeInvalid)
	// SA-05e: the used code's set was replaced by a new one (TestSA05_RecoveryReplacesTheCodes).
	if n, _ := env.App.IDP.UnusedRecoveryCodes(context.Background(), victim.ID); n != idp.RecoveryCodeCount {
		t.Fatalf("unused codes: %d", n)
	}
}

// assertNotInDatabase greps the SQLite files' bytes for every code, as typed and normalised.
func assertNotInDatabase(t *testing.T, env *testenv.Env, codes []string) {
	t.Helper()
	var db []byte
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(env.DBPath + suffix)
		if err == nil {
			db = append(db, b...)
		}
	}
	if len(db) == 0 {
		t.Fatal("database file is empty")
	}
	if !strings.Contains(string(db), "$argon2id$") {
		t.Fatal("no argon2id hash in the database: the grep would prove nothing")
	}
	for _, c := range codes {
		for _, form := range []string{c, strings.ReplaceAll(c, "-", ""), strings.ToLower(strings.ReplaceAll(c, "-", ""))} {
			if strings.Contains(string(db), form) {
				t.Fatalf("recovery code %q is stored in plain text", form)
			}
		}
	}
}

// TestRT01_RecoveryCodeGuessingIsThrottled: wrong codes are refused, then 429 with
// Retry-After even for the right code; the owner's passkey sign-in is never locked out.
func TestRT01_RecoveryCodeGuessingIsThrottled(t *testing.T) {
	env, mb := recoveryEnv(t)
	owner := env.SignedUp("victim@example.test")
	attacker := env.NewBrowser()
	startRecovery(t, attacker, "victim@example.test")
	link := mb.last(t, "victim@example.test", "Recover your").link(t)
	// The guesses run before the account has codes, so each costs no argon2id work; the limiter
	// counts attempts, not hashes.
	limited := false
	for i := range 10 {
		_, err := recoverWith(t, attacker, link, "AAAA-AAAA-AAAA-AAA"+string(rune('A'+i)))
		var pe *passkeyclient.Error
		if !errors.As(err, &pe) {
			t.Fatalf("attempt %d: %v", i, err)
		}
		if pe.Status == http.StatusTooManyRequests {
			limited = i >= 3
			break
		}
		if pe.Status != http.StatusBadRequest || pe.Code != idp.CodeRecoveryCodeInvalid {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	if !limited {
		t.Fatal("guessing was not throttled within 10 attempts")
	}
	codes, err := regenerateCodes(t, owner)
	if err != nil {
		t.Fatal(err)
	}
	_, err = recoverWith(t, attacker, link, codes[0])
	wantHTTP(t, err, http.StatusTooManyRequests, "rate_limited")
	ownerElsewhere := passkeyclient.New(env.Issuer, nil, owner.Auth)
	if _, err := ownerElsewhere.SignIn(context.Background(), "", ""); err != nil {
		t.Fatalf("the owner's passkey sign-in is locked out: %v", err)
	}
	// Retry-After is present on the 429.
	u, _ := url.Parse(link)
	csrf, _ := attacker.CSRF(context.Background(), link)
	req, _ := http.NewRequest(http.MethodPost, env.Issuer+"/webauthn/recovery/begin",
		strings.NewReader(`{"token":"`+u.Query().Get("token")+`","code":"`+codes[0]+`"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", csrf)
	req.Header.Set("Origin", env.Issuer)
	resp, err := attacker.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("429 without Retry-After: %d %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// TestSA05_AdminAssistedRecoveryLink: an administrator with a fresh step-up has the link
// mailed to the account, audited with performed_by; it still goes through the cooling-off.
// A non-admin is refused.
func TestSA05_AdminAssistedRecoveryLink(t *testing.T) {
	env, mb := recoveryEnv(t)
	other := env.SignedUp("other@example.test")
	env.SignedUp("victim@example.test")
	victim := accountOf(t, env, "victim@example.test")
	admin := accountOf(t, env, "admin@example.test")
	issue := func(b *passkeyclient.Client) error {
		csrf, err := b.CSRF(context.Background(), "/account/security")
		if err != nil {
			t.Fatal(err)
		}
		resp := postForm(t, b, "/recovery/admin-link", url.Values{"csrf_token": {csrf}, "account_id": {victim.ID}}.Encode())
		if resp.StatusCode != http.StatusOK {
			return &passkeyclient.Error{Status: resp.StatusCode}
		}
		return nil
	}
	wantHTTP(t, issue(other), http.StatusForbidden, "")
	if err := issue(env.Admin); err != nil {
		t.Fatalf("admin: %v", err)
	}
	evs, _ := env.Store.ListAudit(context.Background(), store.AuditQuery{AccountID: victim.ID, Event: idp.EventRecoveryLinkSent})
	if len(evs) != 1 || evs[0].ActorID != admin.ID {
		t.Fatalf("audit: %+v", evs)
	}
	out, err := recoverWith(t, env.NewBrowser(), mb.last(t, "victim@example.test", "Recover your").link(t), "")
	if err != nil || out.Status != "pending" {
		t.Fatalf("admin-assisted recovery skipped the cooling-off: %+v %v", out, err)
	}
}

func ioCopy(dst *strings.Builder, resp *http.Response) (int64, error) {
	buf := make([]byte, 32<<10)
	var n int64
	for {
		k, err := resp.Body.Read(buf)
		dst.Write(buf[:k])
		n += int64(k)
		if err != nil {
			return n, nil
		}
	}
}
