package idp

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/keyward/keyward/store"
)

// Mail is one message to one person. Link, when set, is the one action the message offers; it
// is a bearer secret and must be treated like a password by whatever delivers it.
type Mail struct {
	Kind    string // "email_verification"
	To      string
	Subject string
	Text    string
	Link    string
}

// Mailer delivers mail. Send is called after the transaction that made the message commits,
// outside it; an error is logged and reported to the person as "try again".
type Mailer interface {
	Send(ctx context.Context, m Mail) error
}

// LogMailer is the mailer until Keyward has a real one: it writes the message, link included,
// to the log at info level. The link is a secret, so this is for development and for operators
// who relay it by hand; a deployment with real users configures a mailer instead.
type LogMailer struct {
	Log *slog.Logger
}

// Send logs m.
func (l LogMailer) Send(ctx context.Context, m Mail) error {
	l.Log.LogAttrs(ctx, slog.LevelInfo, "mail not sent: no mailer is configured; this link must reach the person some other way",
		slog.String("mail_kind", m.Kind), slog.String("to", m.To), slog.String("subject", m.Subject), slog.String("link", m.Link))
	return nil
}

// Email verification: a one-time link, 256 random bits, stored only as a SHA-256 hash in the
// OAuth token table under its own kind (the store has no table of its own for it; the kind
// keeps it apart from every fosite family). RequestID is the account id, so sending a new link
// deletes the older ones of the account: at most one link works at a time.
const (
	kindEmailVerification = "email_verification"
	// VerifyEmailPath is the ui route the link points to; the token is its "token" parameter.
	VerifyEmailPath = "/account/verify-email"
	// verificationResendGap throttles sending: mail is not free, and a loop must not flood an
	// inbox.
	verificationResendGap = time.Minute
	verifyTokenLen        = 32
)

// Audit events of email verification.
const (
	EventEmailVerificationSent = "email.verification_sent"
	EventEmailVerified         = "email.verified"
)

// Error codes of email verification.
const (
	CodeLinkInvalid     = "link_invalid"
	CodeAlreadyVerified = "email_already_verified"
	CodeRateLimited     = "rate_limited"
)

var (
	ErrLinkInvalid     = &Error{Code: CodeLinkInvalid, Status: 400, Message: "This link is not valid, was already used, or has expired. Send yourself a new one from your account page."}
	ErrAlreadyVerified = &Error{Code: CodeAlreadyVerified, Status: 409, Message: "Your email address is already verified."}
	ErrRateLimited     = &Error{Code: CodeRateLimited, Status: 429, Message: "A link was sent a moment ago. Check your inbox, or try again in a minute."}
)

// verificationPayload is the Request JSON of the stored token: the address it verifies, so a
// link sent before an email change cannot verify the new address.
type verificationPayload struct {
	V     int    `json:"v"`
	Email string `json:"email"`
}

func verifyTokenHash(raw []byte) string {
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// SendEmailVerification mails the account a one-time link that verifies its current address.
func (s *Service) SendEmailVerification(ctx context.Context, m RequestMeta, accountID string) error {
	acct, err := s.Account(ctx, accountID)
	if err != nil {
		return err
	}
	if acct.EmailVerified {
		return ErrAlreadyVerified
	}
	now := s.now().UTC()
	recent, err := s.st.ListAudit(ctx, store.AuditQuery{AccountID: acct.ID, Event: EventEmailVerificationSent, Since: now.Add(-verificationResendGap), Limit: 1})
	if err != nil {
		return storeError("list audit", err)
	}
	if len(recent) > 0 {
		return ErrRateLimited
	}
	return s.sendVerification(ctx, m, acct, now)
}

func (s *Service) sendVerification(ctx context.Context, m RequestMeta, acct *store.Account, now time.Time) error {
	raw := randomBytes(verifyTokenLen)
	payload, _ := json.Marshal(verificationPayload{V: 1, Email: acct.Email})
	tok := &store.OAuthToken{
		Kind:        kindEmailVerification,
		Signature:   verifyTokenHash(raw),
		RequestID:   acct.ID,
		Subject:     acct.ID,
		Active:      true,
		RequestedAt: now,
		ExpiresAt:   now.Add(s.cfg.EmailVerificationTTL),
		Request:     payload,
	}
	audit := &txAudit{s: s}
	err := store.WithTx(ctx, s.st, func(q store.Queries) error {
		audit.reset()
		if err := q.DeleteOAuthTokensByRequest(ctx, kindEmailVerification, acct.ID); err != nil {
			return err
		}
		if err := q.CreateOAuthToken(ctx, tok); err != nil {
			return err
		}
		e := metaEvent(EventEmailVerificationSent, m)
		e.AccountID, e.ActorID = acct.ID, acct.ID
		e.Detail = detail(map[string]any{"expires_at": tok.ExpiresAt.Format(time.RFC3339)})
		return audit.append(ctx, q, e)
	})
	if err != nil {
		return storeError("send email verification", err)
	}
	audit.flush(ctx)
	link := s.cfg.PublicURL + VerifyEmailPath + "?" + url.Values{"token": {base64.RawURLEncoding.EncodeToString(raw)}}.Encode()
	mail := Mail{
		Kind:    kindEmailVerification,
		To:      acct.Email,
		Subject: "Confirm your email address for " + s.cfg.RPDisplayName,
		Text: "Open this link to confirm that this address belongs to your " + s.cfg.RPDisplayName + " account:\n\n" + link +
			"\n\nThe link works once, within " + s.cfg.EmailVerificationTTL.String() + ". If you did not ask for it, ignore this message.",
		Link: link,
	}
	if err := s.mailer.Send(ctx, mail); err != nil {
		s.log.ErrorContext(ctx, "mail delivery failed", slog.String("mail_kind", mail.Kind), slog.String("account_id", acct.ID), slog.Any("error", err))
		return ErrUnavailable.Wrap(fmt.Errorf("send mail: %w", err))
	}
	return nil
}

// afterSignup sends the first verification link when sign-up did not already verify the email
// (an invitation bound to the address does). It cannot fail the sign-up: the person can ask for
// another link from the account page.
func (s *Service) afterSignup(ctx context.Context, m RequestMeta, accountID string) {
	acct, err := s.st.GetAccount(ctx, accountID)
	if err != nil {
		s.log.WarnContext(ctx, "email verification after sign-up: account", slog.String("account_id", accountID), slog.Any("error", err))
		return
	}
	if acct.EmailVerified {
		return
	}
	if err := s.sendVerification(ctx, m, acct, s.now().UTC()); err != nil {
		s.log.WarnContext(ctx, "email verification after sign-up not sent", slog.String("account_id", accountID), slog.Any("error", err))
	}
}

// VerifyEmail consumes a verification link's token and marks the address verified. It needs no
// session: holding the link is the proof. The token works once (deleting its row is the single
// use check: of two concurrent clicks one wins), only before it expires, and only while the
// account still has the address it was sent to.
func (s *Service) VerifyEmail(ctx context.Context, m RequestMeta, token string) (*store.Account, error) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) != verifyTokenLen {
		return nil, ErrLinkInvalid
	}
	hash := verifyTokenHash(raw)
	now := s.now().UTC()
	audit := &txAudit{s: s}
	var acct *store.Account
	err = store.WithTx(ctx, s.st, func(q store.Queries) error {
		audit.reset()
		acct = nil
		tok, err := q.GetOAuthToken(ctx, kindEmailVerification, hash)
		if errors.Is(err, store.ErrNotFound) {
			return ErrLinkInvalid.Wrap(err)
		} else if err != nil {
			return err
		}
		if err := q.DeleteOAuthToken(ctx, kindEmailVerification, hash); errors.Is(err, store.ErrNotFound) {
			return ErrLinkInvalid.Wrap(err)
		} else if err != nil {
			return err
		}
		var p verificationPayload
		if !tok.Active || !now.Before(tok.ExpiresAt) || json.Unmarshal(tok.Request, &p) != nil {
			return ErrLinkInvalid.Wrap(errors.New("expired or unreadable"))
		}
		a, err := q.GetAccount(ctx, tok.Subject)
		if errors.Is(err, store.ErrNotFound) {
			return ErrLinkInvalid.Wrap(err)
		} else if err != nil {
			return err
		}
		if a.Email != p.Email {
			return ErrLinkInvalid.Wrap(errors.New("the account's address changed since the link was sent"))
		}
		if !a.EmailVerified {
			a.EmailVerified, a.UpdatedAt = true, now
			if err := q.UpdateAccount(ctx, a); err != nil {
				return err
			}
		}
		acct = a
		e := metaEvent(EventEmailVerified, m)
		e.AccountID = a.ID
		return audit.append(ctx, q, e)
	})
	if err != nil {
		return nil, txError("verify email", err)
	}
	audit.flush(ctx)
	return acct, nil
}
