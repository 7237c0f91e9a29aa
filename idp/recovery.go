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

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/keyward/keyward/store"
)

// Account recovery when every passkey is lost (SA-05). Email is one factor, never the whole
// lock: the mailed link alone enrolls a new passkey only as a pending action that activates
// after the cooling-off period, while the owner is notified and can cancel; the link plus a
// saved recovery code activates it at once (still notified). There is no SMS, no security
// question and no other path.

const (
	kindRecoveryLink = "recovery_link" // store.OAuthToken kind: the mailed link, hashed
	purposeRecovery  = "recovery"
	// RecoveryPath is the page the mailed link opens; the token is its "token" parameter.
	RecoveryPath = "/recovery"
	// RecoveryCancelPath is the one-click cancel page of a pending action.
	RecoveryCancelPath = "/recovery/cancel"
	recoveryTokenLen   = 32
	// recoveryResendGap: one link per account per minute, whoever asks (mail is not free and an
	// inbox must not be flooded); the answer to the asker does not change.
	recoveryResendGap = time.Minute
)

// Defaults of RecoveryConfig.
const (
	DefaultRecoveryCoolingOff = 72 * time.Hour
	DefaultRecoveryLinkTTL    = 24 * time.Hour
)

// Audit events of recovery.
const (
	EventRecoveryLinkSent  = "recovery.link_sent"
	EventRecoveryCompleted = "recovery.completed"
	EventRecoveryPending   = "recovery.pending"
	EventRecoveryFailed    = "recovery.failed"
)

// ErrRecoveryLinkInvalid answers an unknown, used or expired recovery link.
var ErrRecoveryLinkInvalid = &Error{Code: CodeLinkInvalid, Status: 400,
	Message: "This recovery link is not valid, was already used, or has expired. Start recovery again to get a new one."}

// RecoveryConfig is the recovery policy.
type RecoveryConfig struct {
	// CoolingOff delays a passkey enrolled with the email link alone; default 72h, at least 1h.
	CoolingOff time.Duration
	// LinkTTL bounds a recovery link; default and maximum 24h (NIST 63B-4 §4.2.1.2).
	LinkTTL time.Duration
}

func (c RecoveryConfig) withDefaults() RecoveryConfig {
	if c.CoolingOff == 0 {
		c.CoolingOff = DefaultRecoveryCoolingOff
	}
	if c.LinkTTL == 0 {
		c.LinkTTL = DefaultRecoveryLinkTTL
	}
	return c
}

// Validate reports every problem at once.
func (c RecoveryConfig) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.CoolingOff < time.Hour {
		errs = append(errs, fmt.Errorf("recovery config: CoolingOff %s is shorter than 1h", c.CoolingOff))
	}
	if c.LinkTTL < 5*time.Minute || c.LinkTTL > DefaultRecoveryLinkTTL {
		errs = append(errs, fmt.Errorf("recovery config: LinkTTL %s is outside 5m..24h", c.LinkTTL))
	}
	return errors.Join(errs...)
}

// Recovery runs account recovery and the pending actions it creates. It holds no state of its
// own beyond its policy: every replica may build one.
type Recovery struct {
	s   *Service
	cfg RecoveryConfig
}

// NewRecovery builds the recovery service over s.
func NewRecovery(s *Service, cfg RecoveryConfig) (*Recovery, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Recovery{s: s, cfg: cfg.withDefaults()}, nil
}

// Config returns the effective policy.
func (r *Recovery) Config() RecoveryConfig { return r.cfg }

type recoveryLinkPayload struct {
	V       int    `json:"v"`
	Email   string `json:"email"`
	ActorID string `json:"actor_id,omitempty"`
}

type recoveryCeremony struct {
	V         int                  `json:"v"`
	Session   webauthn.SessionData `json:"session"`
	AccountID string               `json:"account_id"`
	TokenHash string               `json:"token_hash"`
	CodeID    string               `json:"code_id,omitempty"`
}

func tokenHash(raw []byte) string {
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// decodeToken turns a link's token into its stored hash; ok is false for anything malformed.
func decodeToken(token string) (string, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) != recoveryTokenLen {
		return "", false
	}
	return tokenHash(raw), true
}

// StartRecovery mails a recovery link when email names an active account, and does nothing
// visible otherwise: the caller answers the same either way (no enumeration). Only a store
// failure is returned.
func (r *Recovery) StartRecovery(ctx context.Context, m RequestMeta, email string) error {
	email, err := normalizeEmail(email)
	if err != nil {
		return nil // not an address: nothing to send, same answer
	}
	acct, err := r.s.st.GetAccountByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	} else if err != nil {
		return storeError("get account", err)
	}
	if acct.Disabled {
		return nil
	}
	return r.sendLink(ctx, m, acct, "")
}

// IssueRecoveryLink is admin-assisted recovery: an administrator (checked here, step-up checked
// by the caller) has the same link mailed to the account's address. It goes through the same
// cooling-off; the audit row names the administrator as actor.
func (r *Recovery) IssueRecoveryLink(ctx context.Context, m RequestMeta, adminID, accountID string) error {
	admin, err := r.s.activeAccount(ctx, r.s.st, adminID)
	if err != nil {
		return txError("issue recovery link", err)
	}
	if !admin.Admin {
		return ErrForbidden
	}
	acct, err := r.s.st.GetAccount(ctx, accountID)
	if errors.Is(err, store.ErrNotFound) {
		return ErrInvalidRequest.WithMessage("There is no such account.")
	} else if err != nil {
		return storeError("get account", err)
	}
	return r.sendLink(ctx, m, acct, admin.ID)
}

func (r *Recovery) sendLink(ctx context.Context, m RequestMeta, acct *store.Account, actorID string) error {
	now := r.s.now().UTC()
	if actorID == "" {
		recent, err := r.s.st.ListAudit(ctx, store.AuditQuery{AccountID: acct.ID, Event: EventRecoveryLinkSent, Since: now.Add(-recoveryResendGap), Limit: 1})
		if err != nil {
			return storeError("list audit", err)
		}
		if len(recent) > 0 {
			return nil // throttled silently: the asker learns nothing either way
		}
	}
	raw := randomBytes(recoveryTokenLen)
	payload, _ := json.Marshal(recoveryLinkPayload{V: 1, Email: acct.Email, ActorID: actorID})
	tok := &store.OAuthToken{Kind: kindRecoveryLink, Signature: tokenHash(raw), RequestID: acct.ID, Subject: acct.ID,
		Active: true, RequestedAt: now, ExpiresAt: now.Add(r.cfg.LinkTTL), Request: payload}
	audit := &txAudit{s: r.s}
	err := store.WithTx(ctx, r.s.st, func(q store.Queries) error {
		audit.reset()
		// At most one link works at a time: a new one replaces the older ones.
		if err := q.DeleteOAuthTokensByRequest(ctx, kindRecoveryLink, acct.ID); err != nil {
			return err
		}
		if err := q.CreateOAuthToken(ctx, tok); err != nil {
			return err
		}
		e := metaEvent(EventRecoveryLinkSent, m)
		e.AccountID, e.ActorID = acct.ID, actorID
		e.Detail = detail(map[string]any{"expires_at": tok.ExpiresAt.Format(time.RFC3339), "admin_assisted": actorID != ""})
		return audit.append(ctx, q, e)
	})
	if err != nil {
		return storeError("send recovery link", err)
	}
	audit.flush(ctx)
	link := r.s.cfg.PublicURL + RecoveryPath + "?" + url.Values{"token": {base64.RawURLEncoding.EncodeToString(raw)}}.Encode()
	intro := "Someone asked to recover your " + r.s.cfg.RPDisplayName + " account."
	if actorID != "" {
		intro = "An administrator of " + r.s.cfg.RPDisplayName + " sent you this account recovery link."
	}
	r.s.notify(ctx, acct, kindRecoveryLink, "Recover your "+r.s.cfg.RPDisplayName+" account",
		intro+" Open this link to create a new passkey:\n\n"+link+"\n\n"+
			"The link works once, within "+r.cfg.LinkTTL.String()+". Without one of your saved recovery codes the new passkey "+
			"starts working only after "+r.cfg.CoolingOff.String()+", and you will be told how to cancel it.\n"+
			"If you did not ask for this, ignore this message: nothing changes.", link)
	return nil
}

// CheckRecoveryLink returns the account a recovery link is for, or recovery link invalid. It
// consumes nothing (the page that shows the form calls it).
func (r *Recovery) CheckRecoveryLink(ctx context.Context, token string) (string, error) {
	hash, ok := decodeToken(token)
	if !ok {
		return "", ErrRecoveryLinkInvalid
	}
	acct, _, err := r.linkAccount(ctx, r.s.st, hash, r.s.now().UTC())
	if err != nil {
		return "", txError("check recovery link", err)
	}
	return acct.ID, nil
}

func (r *Recovery) linkAccount(ctx context.Context, q store.Queries, hash string, now time.Time) (*store.Account, *store.OAuthToken, error) {
	tok, err := q.GetOAuthToken(ctx, kindRecoveryLink, hash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, ErrRecoveryLinkInvalid.Wrap(err)
	} else if err != nil {
		return nil, nil, err
	}
	var p recoveryLinkPayload
	if !tok.Active || !now.Before(tok.ExpiresAt) || json.Unmarshal(tok.Request, &p) != nil {
		return nil, nil, ErrRecoveryLinkInvalid.Wrap(errors.New("used, expired or unreadable"))
	}
	acct, err := q.GetAccount(ctx, tok.Subject)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, ErrRecoveryLinkInvalid.Wrap(err)
	} else if err != nil {
		return nil, nil, err
	}
	if acct.Disabled || acct.Email != p.Email {
		return nil, nil, ErrRecoveryLinkInvalid.Wrap(errors.New("account disabled or its address changed"))
	}
	return acct, tok, nil
}

// BeginRecovery checks the link (and the recovery code, when one is given) and returns the
// creation options of the new passkey. A wrong code is refused and audited; the caller
// throttles attempts per account and per IP, since each costs the hash of every unused code.
func (r *Recovery) BeginRecovery(ctx context.Context, m RequestMeta, token, code string) (*protocol.CredentialCreation, error) {
	if err := requireSession(m); err != nil {
		return nil, err
	}
	hash, ok := decodeToken(token)
	if !ok {
		return nil, ErrRecoveryLinkInvalid
	}
	acct, _, err := r.linkAccount(ctx, r.s.st, hash, r.s.now().UTC())
	if err != nil {
		return nil, txError("begin recovery", err)
	}
	data := recoveryCeremony{V: ceremonyVersion, AccountID: acct.ID, TokenHash: hash}
	if code != "" {
		id, err := matchRecoveryCode(ctx, r.s.st, acct.ID, code)
		if err != nil {
			var de *Error
			if errors.As(err, &de) {
				e := metaEvent(EventRecoveryCodeFailed, m)
				e.AccountID, e.Result = acct.ID, de.Code
				r.s.Audit(ctx, e)
			}
			return nil, txError("match recovery code", err)
		}
		data.CodeID = id
	}
	creds, err := r.s.st.ListCredentials(ctx, acct.ID)
	if err != nil {
		return nil, storeError("list credentials", err)
	}
	if len(creds) >= maxPasskeys {
		return nil, ErrTooManyPasskeys
	}
	user := newWAUser(acct, creds)
	exclude := make([]protocol.CredentialDescriptor, 0, len(creds))
	for _, c := range user.creds {
		exclude = append(exclude, c.Descriptor())
	}
	creation, session, err := r.s.wa.BeginRegistration(user,
		webauthn.WithCredentialParameters(credentialParameters()), webauthn.WithExclusions(exclude))
	if err != nil {
		return nil, fmt.Errorf("idp: begin recovery registration: %w", err)
	}
	data.Session = *session
	if err := r.s.putCeremony(ctx, m, purposeRecovery, acct.ID, data); err != nil {
		return nil, err
	}
	return creation, nil
}

// RecoveryResult is what FinishRecovery did.
type RecoveryResult struct {
	AccountID string
	// Active: the passkey works now (a recovery code was given). Otherwise it is the payload of
	// a pending action that activates at DueAt unless cancelled.
	Active          bool
	PendingActionID string
	DueAt           time.Time
	// Codes are the account's new recovery codes when a code was used (the old set is dead); the
	// only time they exist in plain text.
	Codes []string
}

// FinishRecovery verifies the new passkey and, in one transaction: consumes the ceremony and
// the link (single use), consumes the recovery code when one was matched, and either stores
// the passkey (code given) or creates the pending action that will (link alone). The owner is
// mailed either way; the pending case carries the one-click cancel link. A refusal of the
// passkey itself consumes the ceremony but leaves the link usable.
func (r *Recovery) FinishRecovery(ctx context.Context, m RequestMeta, resp *protocol.ParsedCredentialCreationData) (*RecoveryResult, error) {
	if err := requireSession(m); err != nil {
		return nil, err
	}
	if resp == nil {
		return nil, ErrInvalidRequest
	}
	now := r.s.now().UTC()
	audit := &txAudit{s: r.s}
	var (
		out         *RecoveryResult
		fail        *Error
		acct        *store.Account
		cancelToken string
	)
	err := store.WithTx(ctx, r.s.st, func(q store.Queries) error {
		audit.reset()
		out, fail, acct, cancelToken = nil, nil, nil, ""
		var c recoveryCeremony
		res, a, tok, f, err := r.finishRecovery(ctx, q, audit, m, resp, now, &c)
		if err != nil {
			return err
		}
		if f != nil {
			fail = f
			e := metaEvent(EventRecoveryFailed, m)
			e.AccountID, e.Result, e.CredentialID = c.AccountID, f.Code, credentialRef(resp.RawID)
			return audit.append(ctx, q, e)
		}
		out, acct, cancelToken = res, a, tok
		return nil
	})
	if err != nil {
		return nil, txError("finish recovery", err)
	}
	audit.flush(ctx)
	if fail != nil {
		r.s.logRefusal(ctx, "recovery refused", fail)
		return nil, fail
	}
	if out.Active {
		codes, err := r.s.replaceRecoveryCodes(ctx, m, acct.ID, "recovery_completed")
		if err != nil {
			// The old codes are gone already; the person creates new ones from the Security page.
			r.s.log.ErrorContext(ctx, "new recovery codes after recovery", slog.String("account_id", acct.ID), slog.Any("error", err))
		}
		out.Codes = codes
		r.s.notify(ctx, acct, "recovery_completed", "A passkey was added to your "+r.s.cfg.RPDisplayName+" account",
			"A new passkey was added to your account through account recovery, with this email link and one of your saved recovery codes. "+
				"All your old recovery codes stopped working and new ones were shown to whoever completed the recovery.\n\n"+
				"If this was not you, your recovery codes and your mailbox are in someone else's hands: "+
				"contact your administrator now.", "")
	} else {
		link := r.s.cfg.PublicURL + RecoveryCancelPath + "?" + url.Values{"token": {cancelToken}}.Encode()
		r.s.notify(ctx, acct, "recovery_pending", "Account recovery started on your "+r.s.cfg.RPDisplayName+" account",
			"Someone used the recovery link sent to this address and created a new passkey for your account. "+
				"It starts working on "+out.DueAt.Format(time.RFC1123)+".\n\nIf this was not you, cancel it now with this link "+
				"(no sign-in needed):\n\n"+link+"\n\nYou can also cancel it from your account page while signed in with one of your passkeys.", link)
	}
	return out, nil
}

func (r *Recovery) finishRecovery(ctx context.Context, q store.Queries, audit *txAudit, m RequestMeta, resp *protocol.ParsedCredentialCreationData, now time.Time, c *recoveryCeremony) (*RecoveryResult, *store.Account, string, *Error, error) {
	fail := func(err error) (*RecoveryResult, *store.Account, string, *Error, error) {
		var e *Error
		if errors.As(err, &e) {
			return nil, nil, "", e, nil
		}
		return nil, nil, "", nil, err
	}
	if err := consumeCeremony(ctx, q, m, purposeRecovery, now, c); err != nil {
		return fail(err)
	}
	if !sameChallenge(c.Session, resp.Response.CollectedClientData) {
		return fail(ErrCeremonyExpired.Wrap(errors.New("response to another (superseded) challenge")))
	}
	acct, _, err := r.linkAccount(ctx, q, c.TokenHash, now)
	if err != nil {
		return fail(err)
	}
	if acct.ID != c.AccountID {
		return fail(ErrRecoveryLinkInvalid.Wrap(errors.New("link of another account")))
	}
	creds, err := q.ListCredentials(ctx, acct.ID)
	if err != nil {
		return nil, nil, "", nil, err
	}
	cred, f := r.s.verifyNewCredential(newWAUser(acct, creds), c.Session, resp)
	if f != nil {
		return nil, nil, "", f, nil
	}
	if _, err := q.GetCredential(ctx, cred.ID); err == nil {
		return fail(ErrCredentialExists)
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, nil, "", nil, err
	}
	// From here the link is spent: of two concurrent finishes with one link, one wins.
	if err := q.DeactivateOAuthToken(ctx, kindRecoveryLink, c.TokenHash); errors.Is(err, store.ErrNotFound) {
		return fail(ErrRecoveryLinkInvalid.Wrap(err))
	} else if err != nil {
		return nil, nil, "", nil, err
	}
	sc := r.s.newPasskeyRecord(cred, acct.ID, m, now)
	if c.CodeID != "" {
		if err := q.UseRecoveryCode(ctx, acct.ID, c.CodeID, now); errors.Is(err, store.ErrNotFound) {
			return fail(ErrRecoveryCodeInvalid.Wrap(errors.New("code used meanwhile")))
		} else if err != nil {
			return nil, nil, "", nil, err
		}
		// A used code is replaced, and with it the whole set (NIST 63B-4 §4.2.1.1, SA-05e): the
		// old codes die here, in the recovery's transaction; FinishRecovery issues new ones.
		if err := q.ReplaceRecoveryCodes(ctx, acct.ID, nil); err != nil {
			return nil, nil, "", nil, err
		}
		e := metaEvent(EventRecoveryCodeUsed, m)
		e.AccountID = acct.ID
		if err := audit.append(ctx, q, e); err != nil {
			return nil, nil, "", nil, err
		}
		if err := q.CreateCredential(ctx, sc); errors.Is(err, store.ErrAlreadyExists) {
			return nil, nil, "", nil, ErrCredentialExists.Wrap(err)
		} else if err != nil {
			return nil, nil, "", nil, err
		}
		e = metaEvent(EventRecoveryCompleted, m)
		e.AccountID, e.CredentialID = acct.ID, credentialRef(sc.ID)
		e.Detail = detail(map[string]any{"method": "email+recovery_code", "name": sc.Name})
		if err := audit.append(ctx, q, e); err != nil {
			return nil, nil, "", nil, err
		}
		return &RecoveryResult{AccountID: acct.ID, Active: true}, acct, "", nil, nil
	}
	pa, cancelToken, err := r.s.createPending(ctx, q, audit, m, acct.ID, "", PendingActivateRecoveryPasskey,
		recoveryPasskeyPayload{V: 1, Credential: *sc}, now, now.Add(r.cfg.CoolingOff))
	if err != nil {
		return nil, nil, "", nil, err
	}
	e := metaEvent(EventRecoveryPending, m)
	e.AccountID, e.CredentialID = acct.ID, credentialRef(sc.ID)
	e.Detail = detail(map[string]any{"method": "email", "pending_action": pa.ID, "due_at": pa.DueAt.Format(time.RFC3339)})
	if err := audit.append(ctx, q, e); err != nil {
		return nil, nil, "", nil, err
	}
	return &RecoveryResult{AccountID: acct.ID, PendingActionID: pa.ID, DueAt: pa.DueAt}, acct, cancelToken, nil, nil
}

// notify mails the account's address about a security event. Delivery failures are logged:
// the event already happened, and its audit row is the record.
func (s *Service) notify(ctx context.Context, acct *store.Account, kind, subject, text, link string) {
	s.notifyAddress(ctx, acct.Email, acct.ID, kind, subject, text, link)
}

// notifyAddress is notify to an address that may not be the account's current one (the old
// address after an email change, the address of a deleted account).
func (s *Service) notifyAddress(ctx context.Context, to, accountID, kind, subject, text, link string) {
	mail := Mail{Kind: kind, To: to, Subject: subject, Text: text, Link: link}
	if err := s.mailer.Send(ctx, mail); err != nil {
		s.log.ErrorContext(ctx, "mail delivery failed", slog.String("mail_kind", kind), slog.String("account_id", accountID), slog.Any("error", err))
	}
}
