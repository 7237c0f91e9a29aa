package browser

import (
	"testing"

	"github.com/keyward/keyward/internal/app"
	"github.com/keyward/keyward/internal/testmail"
)

// mailbox is the loopback SMTP server of internal/testmail, so a browser test can follow a
// link Keyward mailed, as the person would.
type mailbox struct{ *testmail.Server }

func startMailbox(t *testing.T) *mailbox { return &mailbox{testmail.Start(t)} }

func (mb *mailbox) configure(c *app.Config) { mb.Configure(c) }

// link returns the action link of the newest message to addr that has one.
func (mb *mailbox) link(t *testing.T, addr string) string {
	t.Helper()
	return mb.LastLink(t, addr)
}
