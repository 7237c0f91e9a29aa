// Package testmail is for tests only: a real SMTP server (github.com/emersion/go-smtp) on
// loopback that keeps every message it receives, decoded, so a test sees exactly what
// Keyward's mailer put on the wire and can follow the links it mailed. Production code must
// not import it.
package testmail

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

// Server is an SMTP server on 127.0.0.1 that keeps the messages it receives. It stops when
// the test that started it ends.
type Server struct {
	mu   sync.Mutex
	msgs []Message
	port int
}

// Message is one received message.
type Message struct {
	From, To string
	Subject  string // decoded
	Text     string // the decoded text/plain part
	HTML     string // the decoded text/html part
}

// Start starts a server on a free loopback port, closed by t's cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{}
	srv := smtp.NewServer(s)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.port = ln.Addr().(*net.TCPAddr).Port
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	t.Cleanup(func() { srv.Close() })
	return s
}

// Port is the port the server listens on (at 127.0.0.1).
func (s *Server) Port() int { return s.port }

// Configure points Keyward's mail: section at the server.
func (s *Server) Configure(c *app.Config) {
	c.Mail.Host, c.Mail.Port, c.Mail.TLS, c.Mail.From = "127.0.0.1", s.port, "none", "keyward@example.test"
}

// To returns the messages sent to addr, oldest first.
func (s *Server) To(addr string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.msgs {
		if m.To == addr {
			out = append(out, m)
		}
	}
	return out
}

// Last returns the newest message to addr whose subject contains subj, failing the test if
// there is none.
func (s *Server) Last(t testing.TB, addr, subj string) Message {
	t.Helper()
	msgs := s.To(addr)
	for i := len(msgs) - 1; i >= 0; i-- {
		if strings.Contains(msgs[i].Subject, subj) {
			return msgs[i]
		}
	}
	t.Fatalf("no mail to %s with subject containing %q; got %d messages", addr, subj, len(msgs))
	return Message{}
}

// LastLink returns the action link of the newest message to addr that has one, failing the
// test if there is none.
func (s *Server) LastLink(t testing.TB, addr string) string {
	t.Helper()
	msgs := s.To(addr)
	for i := len(msgs) - 1; i >= 0; i-- {
		if l := FindLink(msgs[i].Text); l != "" {
			return l
		}
	}
	t.Fatalf("no mail with a link to %s (%d messages)", addr, len(msgs))
	return ""
}

var linkRE = regexp.MustCompile(`https?://[^\s"<>]+token=[A-Za-z0-9_-]+`)

// FindLink returns the first action link (a URL with a token= parameter) in text, or "".
func FindLink(text string) string { return linkRE.FindString(text) }

// Link returns the action link of the message, failing the test unless the text part has
// one and the HTML part carries it too.
func (m Message) Link(t testing.TB) string {
	t.Helper()
	l := FindLink(m.Text)
	if l == "" {
		t.Fatalf("no link in mail %q:\n%s", m.Subject, m.Text)
	}
	if !strings.Contains(m.HTML, strings.ReplaceAll(l, "&", "&amp;")) {
		t.Fatalf("the HTML part of %q does not carry the link", m.Subject)
	}
	return l
}

// NewSession implements smtp.Backend.
func (s *Server) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{s: s}, nil }

type session struct {
	s        *Server
	from, to string
}

func (c *session) Reset()        {}
func (c *session) Logout() error { return nil }

func (c *session) Mail(from string, _ *smtp.MailOptions) error {
	c.from = from
	return nil
}

func (c *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	c.to = to
	return nil
}

func (c *session) Data(r io.Reader) error {
	msg, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	subject, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	m := Message{From: c.from, To: c.to, Subject: subject}
	readParts(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body, &m)
	c.s.mu.Lock()
	c.s.msgs = append(c.s.msgs, m)
	c.s.mu.Unlock()
	return nil
}

// readParts decodes the text/plain and text/html parts of a message body into m (undoing
// quoted-printable, which would split a link, and base64).
func readParts(ctype, cte string, body io.Reader, m *Message) {
	mt, params, _ := mime.ParseMediaType(ctype)
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err != nil {
				return
			}
			readParts(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p, m)
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
		m.Text = string(b)
	case "text/html":
		m.HTML = string(b)
	}
}
