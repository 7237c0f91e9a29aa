package browser

import (
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/keyward/keyward/internal/app"
)

// mailbox is a real SMTP server on loopback keeping the text part of every message, so a
// browser test can follow a link Keyward mailed, as the person would.
type mailbox struct {
	mu    sync.Mutex
	texts map[string][]string // recipient → text parts, oldest first
	port  int
}

func startMailbox(t *testing.T) *mailbox {
	t.Helper()
	mb := &mailbox{texts: map[string][]string{}}
	srv := smtp.NewServer(mb)
	srv.Domain = "localhost"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mb.port = ln.Addr().(*net.TCPAddr).Port
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	t.Cleanup(func() { srv.Close() })
	return mb
}

func (mb *mailbox) configure(c *app.Config) {
	c.Mail.Host, c.Mail.Port, c.Mail.TLS, c.Mail.From = "127.0.0.1", mb.port, "none", "keyward@example.test"
}

var mailLinkRE = regexp.MustCompile(`https?://[^\s"<>]+token=[A-Za-z0-9_-]+`)

// link returns the action link of the newest message to addr that has one.
func (mb *mailbox) link(t *testing.T, addr string) string {
	t.Helper()
	mb.mu.Lock()
	defer mb.mu.Unlock()
	texts := mb.texts[addr]
	for i := len(texts) - 1; i >= 0; i-- {
		if l := mailLinkRE.FindString(texts[i]); l != "" {
			return l
		}
	}
	t.Fatalf("no mail with a link to %s (%d messages)", addr, len(texts))
	return ""
}

func (mb *mailbox) NewSession(*smtp.Conn) (smtp.Session, error) { return &mailSession{mb: mb}, nil }

type mailSession struct {
	mb *mailbox
	to string
}

func (s *mailSession) Reset()                                    {}
func (s *mailSession) Logout() error                             { return nil }
func (s *mailSession) Mail(string, *smtp.MailOptions) error      { return nil }
func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error { s.to = to; return nil }

func (s *mailSession) Data(r io.Reader) error {
	msg, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	text := textPart(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
	s.mb.mu.Lock()
	s.mb.texts[s.to] = append(s.mb.texts[s.to], text)
	s.mb.mu.Unlock()
	return nil
}

// textPart decodes the text/plain part of a message (quoted-printable would split the link).
func textPart(ctype, cte string, body io.Reader) string {
	mt, params, _ := mime.ParseMediaType(ctype)
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err != nil {
				return ""
			}
			if text := textPart(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p); text != "" {
				return text
			}
		}
	}
	if mt != "text/plain" {
		return ""
	}
	switch strings.ToLower(cte) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	}
	b, _ := io.ReadAll(body)
	return string(b)
}
