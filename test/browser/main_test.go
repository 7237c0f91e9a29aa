package browser

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
)

const chromiumPath = "/usr/bin/chromium"

// shared is the package's one Chromium: a start costs most of a second, a tab almost
// nothing. It is started on first use so a run that skips every test starts nothing, and
// TestMain closes it.
var shared sharedBrowser

type sharedBrowser struct {
	once   sync.Once
	ctx    context.Context
	cancel func()
	dir    string
	err    error
}

func TestMain(m *testing.M) {
	code := m.Run()
	shared.close()
	os.Exit(code)
}

// needChromium skips the test, or fails it under KEYWARD_TEST_BROWSER=1, when Chromium is
// missing. Tests call it first so a skip costs nothing.
func needChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("KEYWARD_TEST_BROWSER") == "1" {
			t.Fatalf("chromium not installed (%v) and KEYWARD_TEST_BROWSER=1: browser tests must run here (apt-get install -y chromium)", err)
		}
		t.Skip("chromium not installed: browser tests skipped; the README's test command installs it")
	}
}

// browserContext returns the shared browser, starting it on first use.
func browserContext(t *testing.T) context.Context {
	t.Helper()
	needChromium(t)
	shared.once.Do(shared.start)
	if shared.err != nil {
		t.Fatalf("start Chromium: %v", shared.err)
	}
	return shared.ctx
}

func (s *sharedBrowser) start() {
	dir, err := os.MkdirTemp("", "keyward-chromium-")
	if err != nil {
		s.err = err
		return
	}
	s.dir = dir
	// The flags of TESTING.md: nothing in the background may reach the network or slow the
	// start, and a fresh profile holds no earlier passkeys or cookies.
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.UserDataDir(dir),
		chromedp.Headless,
		chromedp.NoFirstRun,
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelBrowser := chromedp.NewContext(allocCtx)
	s.ctx = ctx
	s.cancel = func() { cancelBrowser(); cancelAlloc() }
	if err := chromedp.Do(ctx); err != nil {
		s.err = fmt.Errorf("%s: %w", chromiumPath, err)
	}
}

func (s *sharedBrowser) close() {
	if s.cancel != nil {
		s.cancel()
	}
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
}
