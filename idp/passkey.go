package idp

import (
	"context"

	"github.com/keyward/keyward/store"
)

// Passkey is a stored credential with what account pages show about it.
type Passkey struct {
	Credential store.Credential
	// Provider names the passkey provider from its AAGUID ("iCloud Keychain", "Google Password
	// Manager"), or "Passkey" when unknown.
	Provider string
	// Synced is true for a backup-eligible (syncable) passkey, false for a device-bound one.
	Synced bool
}

// Passkeys lists an account's passkeys, oldest first.
func (s *Service) Passkeys(ctx context.Context, accountID string) ([]Passkey, error) {
	creds, err := s.st.ListCredentials(ctx, accountID)
	if err != nil {
		return nil, storeError("list credentials", err)
	}
	out := make([]Passkey, 0, len(creds))
	for _, c := range creds {
		out = append(out, Passkey{Credential: c, Provider: s.label(c.AAGUID), Synced: c.BackupEligible})
	}
	return out, nil
}
