package faults

import (
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

// mailbox is a real SMTP server on loopback keeping the text part of every message, so the
// recovery links Keyward mails arrive as a person would get them.
type mailbox struct {
	mu   sync.Mutex
	msgs []message
	port int
}

type message struct{ to, subject, text string }

func startMailbox(t *testing.T) *mailbox {
	t.Helper()
	mb := &mailbox{}
	srv := smtp.NewServer(mb)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
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

func (mb *mailbox) NewSession(*smtp.Conn) (smtp.Session, error) { return &mboxSession{mb: mb}, nil }

type mboxSession struct {
	mb *mailbox
	to string
}

func (s *mboxSession) Reset()                                    {}
func (s *mboxSession) Logout() error                             { return nil }
func (s *mboxSession) Mail(string, *smtp.MailOptions) error      { return nil }
func (s *mboxSession) Rcpt(to string, _ *smtp.RcptOptions) error { s.to = to; return nil }

func (s *mboxSession) Data(r io.Reader) error {
	msg, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	subject, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	m := message{to: s.to, subject: subject, text: textPart(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body)}
	s.mb.mu.Lock()
	s.mb.msgs = append(s.mb.msgs, m)
	s.mb.mu.Unlock()
	return nil
}

func textPart(ctype, cte string, body io.Reader) string {
	mt, params, _ := mime.ParseMediaType(ctype)
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err != nil {
				return ""
			}
			if s := textPart(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p); s != "" {
				return s
			}
		}
	}
	if mt != "text/plain" {
		return ""
	}
	if strings.EqualFold(cte, "quoted-printable") {
		body = quotedprintable.NewReader(body)
	}
	b, _ := io.ReadAll(body)
	return string(b)
}

var linkRE = regexp.MustCompile(`https?://[^\s"<>]+token=[A-Za-z0-9_-]+`)

// link returns the action link of the newest message to addr whose subject contains subj.
func (mb *mailbox) link(t *testing.T, addr, subj string) string {
	t.Helper()
	mb.mu.Lock()
	defer mb.mu.Unlock()
	for i := len(mb.msgs) - 1; i >= 0; i-- {
		m := mb.msgs[i]
		if m.to == addr && strings.Contains(m.subject, subj) {
			if l := linkRE.FindString(m.text); l != "" {
				return l
			}
			t.Fatalf("no link in mail %q:\n%s", m.subject, m.text)
		}
	}
	t.Fatalf("no mail to %s with subject containing %q", addr, subj)
	return ""
}
