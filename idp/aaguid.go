package idp

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/uuid"
)

// aaguidJSON maps AAGUIDs to passkey provider names, used only to label passkeys on account
// pages. It is a copy of /work/shared/data/passkey-aaguids.json, itself the community list
// aaguid.json of github.com/passkeydeveloper/passkey-authenticator-aaguids at commit 47b6f84
// (2026-08-07), names only (icons left out). It is not a trust list and says nothing about
// attestation. The list may be retired upstream (it then becomes "{}"): an unknown AAGUID, a
// zero AAGUID or an empty table is normal and falls back to genericPasskeyLabel.
//
//go:embed aaguids.json
var aaguidJSON []byte

// genericPasskeyLabel names a passkey whose provider is unknown.
const genericPasskeyLabel = "Passkey"

// loadAAGUIDLabels parses the embedded table once, at New, keyed by canonical lower-case UUID.
func loadAAGUIDLabels() (map[string]string, error) {
	var raw map[string]string
	if err := json.Unmarshal(aaguidJSON, &raw); err != nil {
		return nil, fmt.Errorf("idp: embedded aaguids.json: %w", err)
	}
	labels := make(map[string]string, len(raw))
	for k, v := range raw {
		id, err := uuid.Parse(k)
		name := strings.TrimSpace(v)
		if err != nil || name == "" {
			continue // one bad row must not cost us the rest of the table
		}
		labels[id.String()] = name
	}
	return labels, nil
}

// label names the provider of an authenticator model, or the generic label.
func (s *Service) label(aaguid []byte) string {
	id, err := uuid.FromBytes(aaguid)
	if err != nil || id == uuid.Nil {
		return genericPasskeyLabel
	}
	if name, ok := s.labels[id.String()]; ok {
		return name
	}
	return genericPasskeyLabel
}
