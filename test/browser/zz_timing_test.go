package browser

import (
	"testing"
	"time"

	"github.com/keyward/keyward/internal/testenv"
)

func TestZZTiming(t *testing.T) {
	st := time.Now()
	t.Cleanup(func() { t.Logf("TIMING cleanup-all-done %v", time.Since(st)) })
	tb := newTab(t)
	env := testenv.Start(t, testenv.Options{})
	t.Logf("TIMING start env %v", time.Since(st))
	t.Cleanup(func() { t.Logf("TIMING cleanup begins %v", time.Since(st)) })
	tb.navigate(env.Issuer + "/login")
	t.Logf("TIMING end body %v", time.Since(st))
}
