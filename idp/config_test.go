package idp

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/store"
)

// WA-17: a relying-party configuration that would accept the wrong origins refuses to start.
func TestWA17_ConfigFailsClosed(t *testing.T) {
	key := bytes.Repeat([]byte{1}, 32)
	ok := []Config{
		{RPID: "localhost", RPOrigins: []string{"http://localhost:8080"}, EnumerationKey: key},
		{RPID: "example.com", RPOrigins: []string{"https://login.example.com", "https://example.com:8443/"}, EnumerationKey: key},
		{RPID: "idp.example.co.uk", RPOrigins: []string{"https://idp.example.co.uk"}, EnumerationKey: key, Registration: "closed"},
	}
	for _, c := range ok {
		if err := c.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v", c, err)
		}
	}
	for _, tc := range []struct {
		cfg  Config
		want []string
	}{
		{Config{RPID: "idp.test", EnumerationKey: key}, []string{"RPOrigins is empty"}},
		{Config{RPID: "evil.test", RPOrigins: []string{"https://idp.test"}, EnumerationKey: key}, []string{"neither the host"}},
		{Config{RPID: "co.uk", RPOrigins: []string{"https://example.co.uk"}, EnumerationKey: key}, []string{"neither the host"}},
		{Config{RPID: "idp.test", RPOrigins: []string{"http://idp.test"}, EnumerationKey: key}, []string{"uses http"}},
		{Config{RPID: "idp.test", RPOrigins: []string{"https://idp.test/login"}, EnumerationKey: key}, []string{"scheme://host[:port] only"}},
		{Config{RPID: "127.0.0.1", RPOrigins: []string{"https://127.0.0.1"}, EnumerationKey: key}, []string{"RPID \"127.0.0.1\" is an IP", "has an IP address"}},
		// Every problem at once.
		{Config{RPOrigins: []string{"ftp://x.test"}, Registration: "sometimes", CeremonyTimeout: time.Hour, InviteTTL: -time.Second},
			[]string{"RPID is empty", "must start with https://", "Registration \"sometimes\"", "CeremonyTimeout", "InviteTTL", "EnumerationKey"}},
	} {
		err := tc.cfg.Validate()
		if err == nil {
			t.Errorf("Validate(%+v) = nil", tc.cfg)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Validate(%+v) = %q, missing %q", tc.cfg, err, w)
			}
		}
		if n := strings.Count(err.Error(), "\n") + 1; n != len(tc.want) {
			t.Errorf("Validate(%+v) reported %d problems, want %d: %v", tc.cfg, n, len(tc.want), err)
		}
		if _, nerr := New(tc.cfg, store.Store(nil), nil, nil); nerr == nil || !strings.Contains(nerr.Error(), "idp config") {
			t.Errorf("New accepted %+v", tc.cfg)
		}
	}
}

func TestErrors(t *testing.T) {
	err := ErrCeremonyExpired.Wrap(store.ErrNotFound)
	if !errors.Is(err, ErrCeremonyExpired) || !errors.Is(err, store.ErrNotFound) || errors.Is(err, ErrVerificationFailed) {
		t.Fatal("errors.Is by code and cause")
	}
	if ErrCeremonyExpired.Err != nil || err.Message != ErrCeremonyExpired.Message {
		t.Fatal("Wrap changed the sentinel or the message")
	}
	if CodeOf(err) != CodeCeremonyExpired || CodeOf(errors.New("x")) != "" {
		t.Fatal("CodeOf")
	}
	for _, e := range []*Error{ErrInvalidRequest, ErrCeremonyExpired, ErrVerificationFailed, ErrCloneSuspected} {
		if e.Status != 400 {
			t.Errorf("%s status %d", e.Code, e.Status)
		}
	}
	for e, s := range map[*Error]int{ErrRegistrationClosed: 403, ErrInviteInvalid: 403, ErrAccountDisabled: 403,
		ErrEmailTaken: 409, ErrCredentialExists: 409, ErrUnavailable: 503} {
		if e.Status != s {
			t.Errorf("%s status %d, want %d", e.Code, e.Status, s)
		}
	}
	if se := storeError("op", store.ErrConflict); CodeOf(se) != CodeUnavailable {
		t.Fatalf("ErrConflict → %v", se)
	}
	if se := storeError("op", errors.New("disk on fire")); CodeOf(se) != "" {
		t.Fatalf("plain store error → %v, want internal", se)
	}
}
