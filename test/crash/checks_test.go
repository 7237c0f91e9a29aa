package crash

import (
	"bytes"
	"context"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/softauthn"
)

// verify checks the database the kill left, before anything starts on it again.
func (w *world) verify(ctx context.Context, t *testing.T, in *installation, d *db, kill int) {
	t.Helper()
	problems, err := in.check(ctx)
	if err != nil {
		t.Fatalf("kill %d: store check: %v", kill, err)
	}
	if len(problems) > 0 {
		t.Fatalf("kill %d: the store is damaged:\n%s", kill, strings.Join(problems, "\n"))
	}

	// Every sign-up answered with a 200: the account and the passkey it was answered for.
	owner := map[string]string{} // credential id → email
	rows, err := d.QueryContext(ctx, `SELECT c.id, a.email FROM credentials c JOIN accounts a ON a.id = c.account_id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id []byte
		var email string
		if err := rows.Scan(&id, &email); err != nil {
			t.Fatal(err)
		}
		owner[string(id)] = email
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	noPasskey, err := d.count(ctx, `SELECT count(*) FROM accounts a WHERE NOT EXISTS (SELECT 1 FROM credentials c WHERE c.account_id = a.id)`)
	if err != nil {
		t.Fatal(err)
	}
	if noPasskey != 0 {
		t.Fatalf("kill %d: %d accounts without a passkey: a sign-up was committed halfway", kill, noPasskey)
	}

	// Every token row, for the code and refresh checks.
	type row struct {
		request string
		active  bool
	}
	tokens := map[string]row{} // kind + " " + signature
	liveRT := map[string]int{} // request id → active refresh tokens
	rows, err = d.QueryContext(ctx, `SELECT kind, signature, request_id, active FROM oauth_tokens WHERE kind IN ('authorize_code', 'refresh_token')`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var kind, sig, req string
		var active bool
		if err := rows.Scan(&kind, &sig, &req, &active); err != nil {
			t.Fatal(err)
		}
		tokens[kind+" "+sig] = row{req, active}
		if kind == "refresh_token" && active {
			liveRT[req]++
		}
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range w.people {
		if got := owner[string(p.credID)]; got != p.email {
			t.Fatalf("kill %d: %s signed up with a 200, but their passkey belongs to %q", kill, p.email, got)
		}
	}
	for _, r := range w.redeemed {
		c, ok := tokens["authorize_code "+signature(r.code)]
		if !ok || c.active {
			t.Fatalf("kill %d: a code redeemed with a 200 is %s", kill, map[bool]string{true: "redeemable again", false: "gone"}[ok])
		}
	}
	for _, f := range w.families {
		if f.gone {
			continue
		}
		for _, old := range f.rotated {
			if r, ok := tokens["refresh_token "+signature(old)]; !ok || r.active {
				t.Fatalf("kill %d: a refresh token rotated with a 200 is live again (row kept: %v)", kill, ok)
			}
		}
		cur, ok := tokens["refresh_token "+signature(f.rt)]
		if !ok {
			t.Fatalf("kill %d: a refresh token answered with a 200 is gone", kill)
		}
		if n := liveRT[cur.request]; n != 1 {
			t.Fatalf("kill %d: a token family has %d live refresh tokens, want 1", kill, n)
		}
	}
}

// retry sends again what the kill cut off, as a client would after the restart: each must
// get a clean success, or a clean 4xx where the first attempt was committed.
func (w *world) retry(ctx context.Context, t *testing.T, in *installation, a *app, tr http.RoundTripper, d *db) {
	t.Helper()
	w.mu.Lock()
	signUps, signIns, exchanges, refreshes := w.lostSignUps, w.lostSignIns, w.lostExchanges, w.lostRefreshes
	w.lostSignUps, w.lostSignIns, w.lostExchanges, w.lostRefreshes = nil, nil, nil, nil
	w.mu.Unlock()

	for _, p := range signUps {
		var stored []byte
		err := d.QueryRowContext(ctx, d.q(`SELECT c.id FROM credentials c JOIN accounts a ON a.id = c.account_id WHERE a.email = ?`), p.email).Scan(&stored)
		committed := err == nil
		if err != nil && !strings.Contains(err.Error(), "no rows") {
			t.Fatal(err)
		}
		again := &person{email: p.email, auth: newAuthenticator(t, in.issuer)}
		err = signUp(ctx, in.issuer, tr, again, "")
		switch {
		case err != nil && serverError(err):
			t.Fatalf("sign-up retried after the kill: %v", err)
		case committed && err == nil:
			t.Fatalf("sign-up retried for %s, whose account the kill had committed, made a second one", p.email)
		case committed:
			if _, ok := p.auth.Credential(stored); !ok {
				t.Fatalf("the account committed for %s holds a passkey its authenticator never made", p.email)
			}
			p.credID = stored
			w.people = append(w.people, p)
		case err != nil:
			t.Fatalf("sign-up retried after the kill, nothing committed before: %v", err)
		default:
			w.people = append(w.people, again)
		}
	}
	for _, p := range signIns {
		g, err := signIn(ctx, a, tr, p)
		if err != nil {
			t.Fatalf("sign-in retried after the kill: %v", err)
		}
		w.exchangeNow(ctx, t, a, g)
	}
	for _, x := range exchanges {
		reply, err := a.exchange(ctx, x.code, x.verifier, x.nonce)
		switch {
		case err != nil:
			t.Fatalf("code exchange retried after the kill: %v", err)
		case reply.status == http.StatusOK:
			fam := &family{rt: reply.RefreshToken}
			w.families = append(w.families, fam)
			w.redeemed = append(w.redeemed, redeemed{grant: x.grant, fam: fam})
		case reply.status != http.StatusBadRequest || reply.Error != "invalid_grant":
			t.Fatalf("code exchange retried after the kill: %d %s, want 200 or 400 invalid_grant", reply.status, reply.Error)
		}
	}
	for _, r := range refreshes {
		reply, err := a.refresh(ctx, r.rt)
		switch {
		case err != nil:
			t.Fatalf("refresh retried after the kill: %v", err)
		case reply.status == http.StatusOK:
			r.fam.rotated = append(r.fam.rotated, r.rt)
			r.fam.rt = reply.RefreshToken
		case reply.status == http.StatusBadRequest:
			// The rotation was committed before the kill: this is a reuse, which must end
			// the family.
			w.mustBeRevoked(ctx, t, d, r.fam, r.rt)
		default:
			t.Fatalf("refresh retried after the kill: %d %s, want 200 or 400", reply.status, reply.Error)
		}
	}
}

func (w *world) exchangeNow(ctx context.Context, t *testing.T, a *app, g grant) {
	t.Helper()
	reply, err := a.exchange(ctx, g.code, g.verifier, g.nonce)
	if err != nil || reply.status != http.StatusOK {
		t.Fatalf("code exchange after the restart: %d %s %v", reply.status, reply.Error, err)
	}
	fam := &family{rt: reply.RefreshToken}
	w.families = append(w.families, fam)
	w.redeemed = append(w.redeemed, redeemed{grant: g, fam: fam})
}

// replay presents a spent code and a spent refresh token, picked at random, to the restarted
// Keyward: both are refused, and the reuse revokes what was issued from them.
func (w *world) replay(ctx context.Context, t *testing.T, a *app, d *db) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	var codes []redeemed
	for _, r := range w.redeemed {
		if !r.fam.gone {
			codes = append(codes, r)
		}
	}
	if len(codes) > 0 {
		r := codes[mrand.IntN(len(codes))]
		reply, err := a.exchange(ctx, r.code, r.verifier, r.nonce)
		if err != nil || reply.status != http.StatusBadRequest || reply.Error != "invalid_grant" {
			t.Fatalf("a redeemed code replayed after a restart: %d %s %v, want 400 invalid_grant", reply.status, reply.Error, err)
		}
		w.mustBeRevoked(ctx, t, d, r.fam, r.fam.rt)
	}
	var spent []*family
	for _, f := range w.families {
		if !f.gone && len(f.rotated) > 0 {
			spent = append(spent, f)
		}
	}
	if len(spent) > 0 {
		f := spent[mrand.IntN(len(spent))]
		old := f.rotated[mrand.IntN(len(f.rotated))]
		reply, err := a.refresh(ctx, old)
		if err != nil || reply.status != http.StatusBadRequest {
			t.Fatalf("a rotated refresh token replayed after a restart: %d %s %v, want 400", reply.status, reply.Error, err)
		}
		w.mustBeRevoked(ctx, t, d, f, old)
	}
}

// mustBeRevoked checks that the family of rt has no live refresh token left, and stops
// using it.
func (w *world) mustBeRevoked(ctx context.Context, t *testing.T, d *db, f *family, rt string) {
	t.Helper()
	n, err := d.count(ctx, `SELECT count(*) FROM oauth_tokens WHERE kind = 'refresh_token' AND active
		AND request_id = (SELECT request_id FROM oauth_tokens WHERE kind = 'refresh_token' AND signature = ?)`, signature(rt))
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("after a reuse the family still has %d live refresh tokens", n)
	}
	f.gone = true
}

func newAuthenticator(t *testing.T, origin string) *softauthn.Authenticator {
	t.Helper()
	a, err := softauthn.New(softauthn.Options{Origin: origin})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func cutLine(s string) (string, string, bool) { return strings.Cut(s, "\n") }

// inviteToken takes the token out of a link printed by `keyward users invite`.
func inviteToken(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(strings.TrimSpace(link))
	if err != nil || u.Query().Get("invite") == "" {
		t.Fatalf("users invite printed %q", link)
	}
	return u.Query().Get("invite")
}

// loadAverage is /proc/loadavg's first three fields, for the figures the test logs.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := bytes.Fields(b)
	if len(f) < 3 {
		return "unknown"
	}
	return string(bytes.Join(f[:3], []byte(" ")))
}
