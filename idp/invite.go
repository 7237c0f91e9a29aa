package idp

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/keyward/keyward/store"
)

// setupInviteCreator marks the invite EnsureSetupInvite creates. Such an invite is honoured only
// while the store holds no account: setup links printed at earlier starts must not mint more
// admins once the first one exists. Account ids are 26 base32 characters, so it cannot clash.
const setupInviteCreator = "setup"

// inviteTokenLen is the number of random bytes in an invite token (256 bits).
const inviteTokenLen = 32

// newInviteToken returns the token handed out once and the hash the store keeps.
func newInviteToken() (token, hash string) {
	raw := randomBytes(inviteTokenLen)
	sum := sha256.Sum256(raw)
	return base64.RawURLEncoding.EncodeToString(raw), hex.EncodeToString(sum[:])
}

// inviteHash returns the stored form of a presented token; ok is false when the token cannot be
// one of ours, which spares the database a lookup.
func inviteHash(token string) (hash string, ok bool) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) != inviteTokenLen {
		return "", false
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:]), true
}

// CreateInvite creates an invite and returns its token, which is shown once and stored only as
// a SHA-256 hash. email, when set, binds the invite to that address (and sign-up through it
// marks the email verified). createdBy is the issuing account, empty for the CLI; only an admin
// (or the CLI) may issue an admin invite.
func (s *Service) CreateInvite(ctx context.Context, email string, admin bool, createdBy string) (string, error) {
	if email != "" {
		e, err := normalizeEmail(email)
		if err != nil {
			return "", err
		}
		email = e
	}
	if createdBy == setupInviteCreator {
		return "", ErrInvalidRequest.WithMessage("This creator name is reserved.")
	}
	var token string
	audit := &txAudit{s: s}
	err := store.WithTx(ctx, s.st, func(q store.Queries) error {
		audit.reset()
		if createdBy != "" {
			creator, err := q.GetAccount(ctx, createdBy)
			if errors.Is(err, store.ErrNotFound) {
				return ErrInvalidRequest.WithMessage("The issuing account does not exist.").Wrap(err)
			}
			if err != nil {
				return err
			}
			if creator.Disabled || (admin && !creator.Admin) {
				return ErrForbidden
			}
		}
		if email != "" {
			if _, err := q.GetAccountByEmail(ctx, email); err == nil {
				return ErrEmailTaken
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		var err error
		token, err = s.createInvite(ctx, q, audit, email, admin, createdBy)
		return err
	})
	if err != nil {
		return "", txError("create invite", err)
	}
	audit.flush(ctx)
	return token, nil
}

// EnsureSetupInvite creates an admin invite when the store holds no account, so the operator
// can create the first (admin) account from the link printed at start-up; ok is false once an
// account exists. Every call while the store is empty makes a new invite; all of them stop
// working when the first account is created.
func (s *Service) EnsureSetupInvite(ctx context.Context) (token string, ok bool, err error) {
	audit := &txAudit{s: s}
	err = store.WithTx(ctx, s.st, func(q store.Queries) error {
		audit.reset()
		token, ok = "", false
		n, err := q.CountAccounts(ctx)
		if err != nil || n > 0 {
			return err
		}
		token, err = s.createInvite(ctx, q, audit, "", true, setupInviteCreator)
		ok = err == nil
		return err
	})
	if err != nil {
		return "", false, txError("setup invite", err)
	}
	audit.flush(ctx)
	return token, ok, nil
}

func (s *Service) createInvite(ctx context.Context, q store.Queries, audit *txAudit, email string, admin bool, createdBy string) (string, error) {
	token, hash := newInviteToken()
	now := s.now().UTC()
	inv := &store.Invite{
		TokenHash: hash,
		Email:     email,
		Admin:     admin,
		CreatedBy: createdBy,
		CreatedAt: now,
		ExpiresAt: now.Add(s.cfg.InviteTTL),
	}
	if err := q.CreateInvite(ctx, inv); err != nil {
		return "", err
	}
	actor := createdBy
	if actor == setupInviteCreator {
		actor = ""
	}
	err := audit.append(ctx, q, store.AuditEvent{
		Event:   EventInviteCreated,
		ActorID: actor,
		Detail: detail(map[string]any{
			"admin":       admin,
			"email_bound": email != "",
			"setup":       createdBy == setupInviteCreator,
			"expires_at":  inv.ExpiresAt.Format(time.RFC3339),
		}),
	})
	return token, err
}

// CheckInvite returns the invite behind token if sign-up may use it now, for rendering the
// sign-up page (a bound email can be pre-filled). invite_invalid otherwise.
func (s *Service) CheckInvite(ctx context.Context, token string) (*store.Invite, error) {
	hash, ok := inviteHash(token)
	if !ok {
		return nil, ErrInviteInvalid
	}
	now := s.now().UTC()
	inv, err := s.st.GetInvite(ctx, hash, now)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrInviteInvalid.Wrap(err)
	}
	if err != nil {
		return nil, storeError("get invite", err)
	}
	n, err := s.st.CountAccounts(ctx)
	if err != nil {
		return nil, storeError("count accounts", err)
	}
	if err := s.inviteUsable(ctx, s.st, inv, n); err != nil {
		return nil, txError("check invite", err)
	}
	return inv, nil
}

// inviteUsable applies the rules beyond existence and expiry: a setup invite only while there
// is no account; the issuing account must still exist and be enabled; under closed
// registration only administrators' invites count. Errors that are not *Error are store
// failures.
func (s *Service) inviteUsable(ctx context.Context, q store.Queries, inv *store.Invite, accounts int) error {
	switch inv.CreatedBy {
	case setupInviteCreator:
		if accounts > 0 {
			return ErrInviteInvalid.Wrap(errors.New("setup invite after the first account"))
		}
		return nil
	case "":
		return nil // the CLI: an operator
	}
	creator, err := q.GetAccount(ctx, inv.CreatedBy)
	if errors.Is(err, store.ErrNotFound) {
		return ErrInviteInvalid.Wrap(fmt.Errorf("issuer gone: %w", err))
	}
	if err != nil {
		return err
	}
	if creator.Disabled {
		return ErrInviteInvalid.Wrap(errors.New("issuer disabled"))
	}
	if s.cfg.Registration == RegistrationClosed && !creator.Admin {
		return ErrRegistrationClosed.Wrap(errors.New("closed registration accepts only administrators' invites"))
	}
	return nil
}

// txError returns the *Error in err's chain unchanged and translates anything else as a store
// failure.
func txError(op string, err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return storeError(op, err)
}
