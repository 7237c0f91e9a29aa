package conformance

import (
	"net/url"
	"testing"

	"golang.org/x/oauth2"

	"github.com/keyward/keyward/internal/testenv"
)

// OC-04: an id_token_hint must be an ID token Keyward issued: a foreign signature, alg none,
// a changed claim or another issuer's token is invalid_request; a valid hint for someone
// other than the signed-in person is login_required under prompt=none, and a new sign-in
// otherwise — never tokens for the wrong person. (An expired hint is accepted: see
// oidc.TestOC04_ExpiredHintAccepted, which needs a token signed in the past.)
func TestOC04_IDTokenHintValidated(t *testing.T) {
	o := start(t, firstParty())
	_, tok, me := o.login()
	hint := idToken(t, tok)
	_, claims := jwtParts(t, hint)
	otherIssuer := map[string]any{}
	for k, v := range claims {
		otherIssuer[k] = v
	}
	otherIssuer["iss"] = "https://other-op.test"
	for name, bad := range map[string]string{
		"foreign key":   foreignSigned(t, claims, publishedKID(t, o, "ES256")),
		"alg none":      algNone(t, hint),
		"changed sub":   tampered(t, hint, "sub", "someone-else"),
		"other issuer":  foreignSigned(t, otherIssuer, "other-kid"),
		"not a JWT":     "garbage",
		"unsigned body": unsignedJWT(claims),
	} {
		f := testenv.NewFlow()
		_, loc, _ := o.redirectOf(o.rp.AuthURL(f, oauth2.SetAuthURLParam("prompt", "none"), oauth2.SetAuthURLParam("id_token_hint", bad)))
		t.Run(name, func(t *testing.T) { o.t = t; o.wantErrorRedirect(loc, f, "invalid_request") })
	}
	o.t = t

	// Another person's genuine ID token as the hint.
	stranger := o.env.SignedUp("stranger-" + o.email)
	f := testenv.NewFlow()
	cb, err := stranger.Authorize(o.ctx, o.rp.AuthURL(f), true)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := o.rp.Callback(cb, f)
	theirs, theirIDT, err := o.rp.Exchange(o.ctx, code, f)
	if err != nil || theirIDT.Subject == me.Subject {
		t.Fatalf("stranger's token: %v", err)
	}
	f = testenv.NewFlow()
	_, loc, _ := o.redirectOf(o.rp.AuthURL(f, oauth2.SetAuthURLParam("prompt", "none"), oauth2.SetAuthURLParam("id_token_hint", idToken(t, theirs))))
	o.wantErrorRedirect(loc, f, "login_required")
	// Without prompt=none the person is asked to sign in; signing in as themselves (not the
	// hinted stranger) still yields no code.
	f = testenv.NewFlow()
	_, loc, _ = o.redirectOf(o.rp.AuthURL(f, oauth2.SetAuthURLParam("id_token_hint", idToken(t, theirs))))
	if loc == nil || loc.Path != "/login" {
		t.Fatalf("sent to %v, want the sign-in page", loc)
	}
	cb, err = o.b.Authorize(o.ctx, loc.String(), true)
	if err != nil {
		t.Fatal(err)
	}
	o.wantErrorRedirect(cb, f, "login_required")
}

// OC-12: subjects are opaque, stable per person, distinct between people, and never reused:
// an account deleted and created again with the same email gets a new subject.
func TestOC12_SubjectIdentifiers(t *testing.T) {
	o := start(t, firstParty())
	_, _, first := o.login()
	_, _, again := o.login()
	if first.Subject != again.Subject {
		t.Fatal("sub changed between two sign-ins")
	}
	acc, err := o.env.Store.GetAccountByEmail(o.ctx, o.email)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.env.Store.DeleteAccount(o.ctx, acc.ID); err != nil {
		t.Fatal(err)
	}
	o.b = o.env.SignedUp(o.email)
	_, _, reborn := o.login()
	if reborn.Subject == first.Subject {
		t.Fatal("a new account got the deleted account's sub")
	}
	for _, s := range []string{first.Subject, reborn.Subject} {
		if len(s) > 255 || url.QueryEscape(s) != s {
			t.Fatalf("sub %q is not a short opaque ASCII string", s)
		}
	}
}
