package integration

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/app"
	"github.com/keyward/keyward/internal/passkeyclient"
	"github.com/keyward/keyward/internal/testenv"
)

// TestRT01_SignInCeremoniesThrottledPerIP: past the burst, sign-in begin answers 429 with
// Retry-After; the bucket refills with time, so nobody is locked out.
func TestRT01_SignInCeremoniesThrottledPerIP(t *testing.T) {
	env := testenv.Start(t, testenv.Options{Configure: func(c *app.Config) {
		c.Recovery.SignInPerMinute, c.Recovery.SignInBurst = 60, 3
	}})
	ctx := context.Background()
	b := env.NewBrowser()
	csrf, err := b.CSRF(ctx, "/login")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := b.PostJSON(ctx, "/webauthn/login/begin", csrf, []byte(`{}`), nil); err != nil {
			t.Fatalf("begin %d within the burst: %v", i, err)
		}
	}
	err = b.PostJSON(ctx, "/webauthn/login/begin", csrf, []byte(`{}`), nil)
	var pe *passkeyclient.Error
	if !errors.As(err, &pe) || pe.Status != 429 {
		t.Fatalf("begin past the burst: %v, want 429", err)
	}
	env.Clock.Advance(time.Second)
	if err := b.PostJSON(ctx, "/webauthn/login/begin", csrf, []byte(`{}`), nil); err != nil {
		t.Fatalf("after the bucket refilled: %v", err)
	}
}
