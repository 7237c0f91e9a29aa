package integration

import (
	"bytes"
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

// mailbox is a real SMTP server on loopback that keeps every message it receives, so tests see
// exactly what Keyward's SMTP mailer (go-mail) put on the wire.
type mailbox struct {
	mu   sync.Mutex
	msgs []received
	port int
}

type received struct {
	From, To string
	Subject  string
	Text     string // the decoded text/plain part
	HTML     string // the decoded text/html part
}

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

// configure points Keyward's mail: section at the mailbox.
func (mb *mailbox) configure(c *app.Config) {
	c.Mail.Host, c.Mail.Port, c.Mail.TLS, c.Mail.From = "127.0.0.1", mb.port, "none", "keyward@example.test"
}

func (mb *mailbox) NewSession(*smtp.Conn) (smtp.Session, error) { return &mboxSession{mb: mb}, nil }

type mboxSession struct {
	mb       *mailbox
	from, to string
}

func (s *mboxSession) Reset()        {}
func (s *mboxSession) Logout() error { return nil }
func (s *mboxSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}
func (s *mboxSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = to
	return nil
}
func (s *mboxSession) Data(r io.Reader) error {
	msg, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	dec := new(mime.WordDecoder)
	subject, _ := dec.DecodeHeader(msg.Header.Get("Subject"))
	rec := received{From: s.from, To: s.to, Subject: subject}
	readParts(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body, &rec)
	s.mb.mu.Lock()
	s.mb.msgs = append(s.mb.msgs, rec)
	s.mb.mu.Unlock()
	return nil
}

func readParts(ctype, cte string, body io.Reader, rec *received) {
	mt, params, _ := mime.ParseMediaType(ctype)
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err != nil {
				return
			}
			readParts(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p, rec)
		}
	}
	var r io.Reader = body
	switch strings.ToLower(cte) {
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, body)
	}
	b, _ := io.ReadAll(r)
	switch mt {
	case "text/plain":
		rec.Text = string(b)
	case "text/html":
		rec.HTML = string(b)
	}
}

// to returns the messages sent to addr, oldest first.
func (mb *mailbox) to(addr string) []received {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	var out []received
	for _, m := range mb.msgs {
		if m.To == addr {
			out = append(out, m)
		}
	}
	return out
}

// last returns the newest message to addr whose subject contains subj, failing the test if none.
func (mb *mailbox) last(t *testing.T, addr, subj string) received {
	t.Helper()
	msgs := mb.to(addr)
	for i := len(msgs) - 1; i >= 0; i-- {
		if strings.Contains(msgs[i].Subject, subj) {
			return msgs[i]
		}
	}
	t.Fatalf("no mail to %s with subject containing %q; got %d messages", addr, subj, len(msgs))
	return received{}
}

var linkRE = regexp.MustCompile(`https?://[^\s"<>]+token=[A-Za-z0-9_-]+`)

// link extracts the one action link of a message, checking the HTML part carries it too.
func (m received) link(t *testing.T) string {
	t.Helper()
	l := linkRE.FindString(m.Text)
	if l == "" {
		t.Fatalf("no link in mail %q:\n%s", m.Subject, m.Text)
	}
	if !bytes.Contains([]byte(m.HTML), []byte(strings.ReplaceAll(l, "&", "&amp;"))) {
		t.Fatalf("the HTML part of %q does not carry the link", m.Subject)
	}
	return l
}
