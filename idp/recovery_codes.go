package idp

import (
	"context"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"

	"github.com/keyward/keyward/store"
)

// Saved recovery codes (NIST SP 800-63B-4 §4.2.1.1, SA-05, SA-07): ten one-time codes of 80
// random bits each, shown once, stored only as argon2id hashes with a per-code salt (ASVS 6.5.2:
// under 112 bits needs a salted slow hash). Regenerating replaces every code.

const (
	RecoveryCodeCount = 10
	recoveryCodeBytes = 10 // 80 bits, 16 base32 characters
	// OWASP's argon2id minimum (m=19 MiB, t=2, p=1): ~20 ms per code on a server core, so an
	// attempt against ten codes stays well under a second while an offline guess stays costly.
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
)

// Audit events of recovery codes.
const (
	EventRecoveryCodesGenerated = "recovery_codes.generated"
	EventRecoveryCodeUsed       = "recovery_code.used"
	EventRecoveryCodeFailed     = "recovery_code.failed"
)

// CodeRecoveryCodeInvalid answers a recovery code that matches none of the account's unused codes.
const CodeRecoveryCodeInvalid = "recovery_code_invalid"

var ErrRecoveryCodeInvalid = &Error{Code: CodeRecoveryCodeInvalid, Status: 400,
	Message: "This recovery code is not valid or was already used."}

var codeEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newRecoveryCode returns a code as shown to the person: XXXX-XXXX-XXXX-XXXX.
func newRecoveryCode() string {
	raw := codeEncoding.EncodeToString(randomBytes(recoveryCodeBytes))
	return raw[0:4] + "-" + raw[4:8] + "-" + raw[8:12] + "-" + raw[12:16]
}

// normalizeRecoveryCode accepts what a person types: any case, spaces or dashes, and the
// digits people confuse with base32 letters.
func normalizeRecoveryCode(s string) (string, bool) {
	r := strings.NewReplacer("-", "", " ", "", "0", "O", "1", "I", "8", "B").Replace(strings.ToUpper(strings.TrimSpace(s)))
	if len(r) != 16 {
		return "", false
	}
	if _, err := codeEncoding.DecodeString(r); err != nil {
		return "", false
	}
	return r, true
}

func hashRecoveryCode(normalized string, salt []byte) string {
	key := argon2.IDKey([]byte(normalized), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// recoveryCodeMatches recomputes the hash with the stored parameters and salt.
func recoveryCodeMatches(normalized, encoded string) bool {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m > 256*1024 || t > 10 {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(normalized), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// RegenerateRecoveryCodes replaces the account's codes with ten new ones and returns them: the
// only time they exist in plain text. The caller has checked step-up. The account is notified.
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, m RequestMeta, accountID string) ([]string, error) {
	acct, err := s.activeAccount(ctx, s.st, accountID)
	if err != nil {
		return nil, txError("regenerate recovery codes", err)
	}
	plain, err := s.replaceRecoveryCodes(ctx, m, acct.ID, "regenerated")
	if err != nil {
		return nil, err
	}
	s.notify(ctx, acct, "recovery_codes_generated", "New recovery codes for your "+s.cfg.RPDisplayName+" account",
		"New recovery codes were just created for your account. The old ones no longer work.\n\n"+
			"If this was not you, sign in with your passkey now, create new codes and remove any passkey you do not recognise.", "")
	return plain, nil
}

// UnusedRecoveryCodes counts the account's codes that can still be used.
func (s *Service) UnusedRecoveryCodes(ctx context.Context, accountID string) (int, error) {
	codes, err := s.st.ListRecoveryCodes(ctx, accountID)
	if err != nil {
		return 0, storeError("list recovery codes", err)
	}
	n := 0
	for _, c := range codes {
		if c.UsedAt.IsZero() {
			n++
		}
	}
	return n, nil
}

// matchRecoveryCode returns the id of the account's unused code that code matches, or a
// recovery_code_invalid *Error. It costs one argon2id per unused code, so callers throttle it.
func matchRecoveryCode(ctx context.Context, q store.Queries, accountID, code string) (string, error) {
	n, ok := normalizeRecoveryCode(code)
	if !ok {
		return "", ErrRecoveryCodeInvalid
	}
	codes, err := q.ListRecoveryCodes(ctx, accountID)
	if err != nil {
		return "", err
	}
	for _, c := range codes {
		if c.UsedAt.IsZero() && recoveryCodeMatches(n, c.Hash) {
			return c.ID, nil
		}
	}
	return "", ErrRecoveryCodeInvalid.Wrap(errors.New("no unused code matches"))
}

// replaceRecoveryCodes stores a new set of codes for accountID, replacing every old one, with
// the audit event, and returns them in plain text. The hashing (about 20 ms a code) happens
// before the transaction, so the writer is not held for it.
func (s *Service) replaceRecoveryCodes(ctx context.Context, m RequestMeta, accountID, reason string) ([]string, error) {
	now := s.now().UTC()
	plain := make([]string, RecoveryCodeCount)
	rows := make([]store.RecoveryCode, RecoveryCodeCount)
	for i := range plain {
		plain[i] = newRecoveryCode()
		n, _ := normalizeRecoveryCode(plain[i])
		rows[i] = store.RecoveryCode{AccountID: accountID, ID: strings.ToLower(codeEncoding.EncodeToString(randomBytes(10))),
			Hash: hashRecoveryCode(n, randomBytes(16)), CreatedAt: now}
	}
	audit := &txAudit{s: s}
	err := store.WithTx(ctx, s.st, func(q store.Queries) error {
		audit.reset()
		if err := q.ReplaceRecoveryCodes(ctx, accountID, rows); err != nil {
			return err
		}
		e := metaEvent(EventRecoveryCodesGenerated, m)
		e.AccountID, e.ActorID = accountID, accountID
		e.Detail = detail(map[string]any{"count": RecoveryCodeCount, "reason": reason})
		return audit.append(ctx, q, e)
	})
	if err != nil {
		return nil, txError("replace recovery codes", err)
	}
	audit.flush(ctx)
	return plain, nil
}
