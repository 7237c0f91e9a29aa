package metrics

import (
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward/idp"
	"github.com/keyward/keyward/store"
)

func TestSignInRoute(t *testing.T) {
	cases := []struct {
		detail string
		want   string
	}{
		{`{"mode":"email","synced":true}`, RouteEmailFirst},
		{`{"mode":"unknown"}`, RouteEmailFirst},
		{`{"mode":"discoverable","mediation":"conditional"}`, RouteAutofill},
		{`{"mode":"discoverable","conditional":true}`, RouteAutofill},
		{`{"mode":"discoverable","attachment":"cross-platform"}`, RouteCrossDevice},
		{`{"mode":"discoverable","attachment":"platform"}`, RouteSameDevice},
		// What idp writes today for a discoverable sign-in: neither mediation nor attachment.
		{`{"mode":"discoverable","synced":true}`, RouteUnknown},
		{``, RouteUnknown},
		{`not json`, RouteUnknown},
	}
	for _, c := range cases {
		e := store.AuditEvent{Event: idp.EventLoginSucceeded, Detail: []byte(c.detail)}
		if got := SignInRoute(e); got != c.want {
			t.Errorf("SignInRoute(%s) = %s, want %s", c.detail, got, c.want)
		}
	}
}

func TestLabelsAreBounded(t *testing.T) {
	if got := Code("drop table; " + strings.Repeat("x", 500)); got != Other {
		t.Errorf("unknown code → %q", got)
	}
	for _, c := range []string{"", "ok"} {
		if Code(c) != "ok" {
			t.Errorf("Code(%q) = %q", c, Code(c))
		}
	}
	if Code(idp.CodeVerificationFailed) != idp.CodeVerificationFailed {
		t.Error("known code not kept")
	}
	os, browser := Platform("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36")
	if os != "macOS" || browser != "Chrome" {
		t.Errorf("Chrome on macOS → %s %s", browser, os)
	}
	os, browser = Platform(strings.Repeat("\x00evil", 10000))
	if os != Other || browser != Other {
		t.Errorf("garbage → %s %s", browser, os)
	}
	b := newBoundedSet(2)
	for _, v := range []string{"a", "b", "c", "a", strings.Repeat("y", 65)} {
		_ = b.label(v)
	}
	if b.label("a") != "a" || b.label("b") != "b" || b.label("c") != Other || len(b.seen) != 2 {
		t.Errorf("bounded set admitted %v", b.seen)
	}
}

func TestFunnelAndChanges(t *testing.T) {
	stages := func(ev string) string { return strings.Join(FunnelStages(store.AuditEvent{Event: ev}), ",") }
	if stages(idp.EventSignupBegun) != "begun" || stages(idp.EventSignupFailed) != "passkey_created" ||
		stages(idp.EventSignupCompleted) != "passkey_created,completed" || stages(idp.EventLoginSucceeded) != "" {
		t.Error("funnel stages wrong")
	}
	kind, outcome, ok := AccountChange(store.AuditEvent{Event: "pending.cancelled", Detail: []byte(`{"kind":"email_change"}`)})
	if !ok || kind != "email_change" || outcome != "cancelled" {
		t.Errorf("pending action → %s %s %v", kind, outcome, ok)
	}
	kind, _, _ = AccountChange(store.AuditEvent{Event: "pending.created", Detail: []byte(`{"kind":"anything else"}`)})
	if kind != Other {
		t.Errorf("unknown pending kind → %q", kind)
	}
	if _, _, ok := AccountChange(store.AuditEvent{Event: "passkey.revoked", Result: "passkey_not_found"}); ok {
		t.Error("a refused revocation is not a change")
	}
}

// The pending kinds of account changes count under their change kind, never as "other", and a
// last-passkey removal counts once when it executes (its passkey.revoked event does).
func TestPendingAccountChangeKinds(t *testing.T) {
	cases := []struct {
		event, kind   string
		want, outcome string
		ok            bool
	}{
		{idp.EventPendingCreated, idp.PendingChangeEmail, "email_change", "requested", true},
		{idp.EventPendingExecuted, idp.PendingChangeEmail, "email_change", "done", true},
		{idp.EventPendingCancelled, idp.PendingChangeEmail, "email_change", "cancelled", true},
		{idp.EventPendingCreated, idp.PendingDeleteAccount, "account_deletion", "requested", true},
		{idp.EventPendingExecuted, idp.PendingDeleteAccount, "account_deletion", "done", true},
		{idp.EventPendingCancelled, idp.PendingDeleteAccount, "account_deletion", "cancelled", true},
		{idp.EventPendingCreated, idp.PendingRemovePasskey, "passkey_removed", "requested", true},
		{idp.EventPendingCancelled, idp.PendingRemovePasskey, "passkey_removed", "cancelled", true},
		{idp.EventPendingExecuted, idp.PendingRemovePasskey, "", "", false},
		{idp.EventPendingExecuted, idp.PendingActivateRecoveryPasskey, "new_device_after_recovery", "done", true},
	}
	for _, c := range cases {
		e := store.AuditEvent{Event: c.event, Detail: []byte(`{"kind":"` + c.kind + `"}`)}
		kind, outcome, ok := AccountChange(e)
		if kind != c.want || outcome != c.outcome || ok != c.ok {
			t.Errorf("%s %s → %q %q %v, want %q %q %v", c.event, c.kind, kind, outcome, ok, c.want, c.outcome, c.ok)
		}
		if ok && !slices.Contains(ChangeKinds, kind) {
			t.Errorf("%s is not a listed change kind", kind)
		}
	}
	removal := store.AuditEvent{Event: idp.EventPasskeyRevoked, Detail: []byte(`{"pending_action":"x"}`)}
	if kind, outcome, ok := AccountChange(removal); kind != "passkey_removed" || outcome != "done" || !ok {
		t.Errorf("the executed removal's passkey.revoked → %q %q %v", kind, outcome, ok)
	}
}
