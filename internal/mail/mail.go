package mail

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/keyward/keyward/idp"
)

// TLS modes of Config.TLS.
const (
	TLSStartTLS = "starttls" // STARTTLS required (port 587); the default
	TLSImplicit = "tls"      // TLS from the first byte (port 465)
	TLSNone     = "none"     // plain text: only for a relay on the same host or in tests
)

// Config is the SMTP configuration. An empty Host means "log instead of sending".
type Config struct {
	Host     string
	Port     int // default 587, or 465 with TLS "tls", or 25 with "none"
	Username string
	Password string // from password_file, read by cmd
	From     string // the sender address, required with a host
	TLS      string // "starttls" (default), "tls", "none"
	Timeout  time.Duration
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	if c.Host == "" {
		return nil
	}
	var errs []error
	if c.From == "" || !strings.Contains(c.From, "@") {
		errs = append(errs, errors.New("mail: from must be an email address when host is set"))
	}
	switch c.TLS {
	case "", TLSStartTLS, TLSImplicit, TLSNone:
	default:
		errs = append(errs, fmt.Errorf("mail: tls must be starttls, tls or none, got %q", c.TLS))
	}
	if c.Port < 0 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("mail: port %d is out of range", c.Port))
	}
	if c.Username != "" && c.Password == "" {
		errs = append(errs, errors.New("mail: username needs password_file"))
	}
	return errors.Join(errs...)
}

// New returns the SMTP mailer for cfg, or the log mailer when cfg.Host is empty.
func New(cfg Config, log *slog.Logger) (idp.Mailer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Host == "" {
		return LogMailer{Log: log}, nil
	}
	if cfg.TLS == "" {
		cfg.TLS = TLSStartTLS
	}
	if cfg.Port == 0 {
		cfg.Port = map[string]int{TLSStartTLS: 587, TLSImplicit: 465, TLSNone: 25}[cfg.TLS]
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 15 * time.Second
	}
	return &SMTP{cfg: cfg, log: log}, nil
}

// SMTP sends each message over a new connection: notifications are rare, and a pooled
// connection would need a keep-alive for no benefit.
type SMTP struct {
	cfg Config
	log *slog.Logger
}

func (s *SMTP) client() (*gomail.Client, error) {
	opts := []gomail.Option{gomail.WithPort(s.cfg.Port), gomail.WithTimeout(s.cfg.Timeout)}
	switch s.cfg.TLS {
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if s.cfg.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(s.cfg.Username), gomail.WithPassword(s.cfg.Password))
	}
	return gomail.NewClient(s.cfg.Host, opts...)
}

// Send delivers m with a text body and an HTML alternative.
func (s *SMTP) Send(ctx context.Context, m idp.Mail) error {
	msg := gomail.NewMsg()
	if err := msg.From(s.cfg.From); err != nil {
		return fmt.Errorf("mail: from: %w", err)
	}
	if err := msg.To(m.To); err != nil {
		return fmt.Errorf("mail: to: %w", err)
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	msg.SetMessageID()
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	html, err := renderHTML(m)
	if err != nil {
		return err
	}
	msg.AddAlternativeString(gomail.TypeTextHTML, html)
	c, err := s.client()
	if err != nil {
		return fmt.Errorf("mail: client: %w", err)
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("mail: send %s: %w", m.Kind, err)
	}
	s.log.InfoContext(ctx, "mail sent", slog.String("mail_kind", m.Kind), slog.String("to", m.To))
	return nil
}

// LogMailer stands in for SMTP when no host is configured: it logs that a message was sent and
// to whom at info level, and the link only at debug level (run with log.level: debug to follow
// links locally; never in production, the link is a bearer secret).
type LogMailer struct {
	Log *slog.Logger
}

// Send logs m.
func (l LogMailer) Send(ctx context.Context, m idp.Mail) error {
	l.Log.InfoContext(ctx, "mail not delivered (no SMTP host configured): logged instead",
		slog.String("mail_kind", m.Kind), slog.String("to", m.To), slog.String("subject", m.Subject))
	if m.Link != "" {
		l.Log.DebugContext(ctx, "mail link", slog.String("mail_kind", m.Kind), slog.String("to", m.To), slog.String("link", m.Link))
	}
	return nil
}

var htmlBody = template.Must(template.New("mail").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Subject}}</title></head>
<body style="font-family: system-ui, sans-serif; line-height: 1.5; max-width: 36em;">
{{range .Paragraphs}}<p>{{.}}</p>
{{end}}{{if .Link}}<p><a href="{{.Link}}" style="display:inline-block;padding:.6em 1.2em;background:#1d4ed8;color:#fff;text-decoration:none;border-radius:6px;">{{.Button}}</a></p>
{{end}}</body></html>
`))

// renderHTML builds the HTML alternative from the text: paragraphs escaped by html/template,
// the link (if any) as a button and never as a bare paragraph.
func renderHTML(m idp.Mail) (string, error) {
	var paras []string
	for _, p := range strings.Split(m.Text, "\n\n") {
		p = strings.TrimSpace(p)
		if p == "" || (m.Link != "" && p == m.Link) {
			continue
		}
		paras = append(paras, p)
	}
	button := "Open"
	switch {
	case strings.Contains(m.Kind, "pending"):
		button = "Cancel this change"
	case strings.Contains(m.Kind, "recovery_link"):
		button = "Recover my account"
	case strings.Contains(m.Kind, "verification"):
		button = "Confirm my address"
	}
	var b strings.Builder
	err := htmlBody.Execute(&b, map[string]any{"Subject": m.Subject, "Paragraphs": paras, "Link": m.Link, "Button": button})
	if err != nil {
		return "", fmt.Errorf("mail: html body: %w", err)
	}
	return b.String(), nil
}
