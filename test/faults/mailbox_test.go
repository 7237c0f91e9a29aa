package faults

import (
	"testing"

	"github.com/keyward/keyward/internal/app"
	"github.com/keyward/keyward/internal/testmail"
)

// mailbox is the loopback SMTP server of internal/testmail, so the recovery links Keyward
// mails arrive as a person would get them.
type mailbox struct{ *testmail.Server }

func startMailbox(t *testing.T) *mailbox { return &mailbox{testmail.Start(t)} }

func (mb *mailbox) configure(c *app.Config) { mb.Configure(c) }

// link returns the action link of the newest message to addr whose subject contains subj.
func (mb *mailbox) link(t *testing.T, addr, subj string) string {
	t.Helper()
	return mb.Last(t, addr, subj).Link(t)
}
