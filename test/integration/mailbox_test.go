package integration

import (
	"testing"

	"github.com/keyward/keyward/internal/app"
	"github.com/keyward/keyward/internal/testmail"
)

// mailbox is the loopback SMTP server of internal/testmail under the names this package's
// tests use: it keeps every message, so tests see exactly what Keyward's mailer put on the wire.
type mailbox struct{ *testmail.Server }

// received is one message the mailbox kept.
type received struct{ testmail.Message }

func startMailbox(t *testing.T) *mailbox { return &mailbox{testmail.Start(t)} }

// configure points Keyward's mail: section at the mailbox.
func (mb *mailbox) configure(c *app.Config) { mb.Configure(c) }

// to returns the messages sent to addr, oldest first.
func (mb *mailbox) to(addr string) []testmail.Message { return mb.To(addr) }

// last returns the newest message to addr whose subject contains subj, failing the test if none.
func (mb *mailbox) last(t *testing.T, addr, subj string) received {
	t.Helper()
	return received{mb.Last(t, addr, subj)}
}

// link extracts the one action link of a message, checking the HTML part carries it too.
func (m received) link(t *testing.T) string {
	t.Helper()
	return m.Link(t)
}
