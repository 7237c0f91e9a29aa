package testenv

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

// Shared is one Keyward started for a whole test binary, from TestMain. Starting Keyward
// generates its signing keys, which costs more than most single tests; tests that neither
// move the clock nor change process-wide state (signing keys, settings) can share one and
// stay independent by registering their own clients and people.
type Shared struct {
	env *Env
	tb  *mainTB
}

// StartShared starts Keyward outside any test; call Stop after m.Run. With opts.RealClock
// unset the clock stays where it started for the whole run, so shared tests should use
// RealClock.
func StartShared(opts Options) (s *Shared, err error) {
	tb := &mainTB{}
	defer func() {
		if v := recover(); v != nil {
			f, ok := v.(mainFatal)
			if !ok {
				panic(v)
			}
			tb.cleanup()
			s, err = nil, fmt.Errorf("testenv: start shared Keyward: %s", string(f))
		}
	}()
	env := Start(tb, opts)
	return &Shared{env: env, tb: tb}, nil
}

// For returns the shared Keyward reporting to t: helpers called on it fail t, and what they
// start (callback listeners) ends with t.
func (s *Shared) For(t testing.TB) *Env {
	c := *s.env
	c.T = t
	return &c
}

// Stop shuts the shared Keyward down and removes its files.
func (s *Shared) Stop() { s.tb.cleanup() }

// mainFatal carries a Fatal out of Start as a panic, since there is no test to fail.
type mainFatal string

// mainTB is the testing.TB Start needs, outside any test. The embedded interface is nil:
// Start uses only the methods defined here.
type mainTB struct {
	testing.TB
	mu       sync.Mutex
	cleanups []func()
	dirs     []string
}

func (m *mainTB) Helper()                   {}
func (m *mainTB) Name() string              { return "shared" }
func (m *mainTB) Log(args ...any)           {}
func (m *mainTB) Logf(string, ...any)       {}
func (m *mainTB) Error(args ...any)         { m.Fatal(args...) }
func (m *mainTB) Errorf(f string, a ...any) { m.Fatalf(f, a...) }
func (m *mainTB) Fatal(args ...any)         { panic(mainFatal(fmt.Sprint(args...))) }
func (m *mainTB) Fatalf(f string, a ...any) { panic(mainFatal(fmt.Sprintf(f, a...))) }

func (m *mainTB) Cleanup(f func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cleanups = append(m.cleanups, f)
}

func (m *mainTB) TempDir() string {
	d, err := os.MkdirTemp("", "keyward-shared-*")
	if err != nil {
		m.Fatal(err)
	}
	m.mu.Lock()
	m.dirs = append(m.dirs, d)
	m.mu.Unlock()
	return d
}

func (m *mainTB) cleanup() {
	m.mu.Lock()
	fns, dirs := m.cleanups, m.dirs
	m.cleanups, m.dirs = nil, nil
	m.mu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
	for _, d := range dirs {
		_ = os.RemoveAll(d)
	}
}
