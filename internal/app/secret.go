package app

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// SecretPath is where the master secret lives: secret_file, or beside a SQLite database.
func SecretPath(cfg Config) (string, error) {
	if cfg.SecretFile != "" {
		return cfg.SecretFile, nil
	}
	if strings.HasPrefix(cfg.Database, "sqlite:") {
		return filepath.Join(filepath.Dir(strings.TrimPrefix(cfg.Database, "sqlite:")), "keyward.secret"), nil
	}
	return "", errors.New("config: secret_file: required with PostgreSQL (every replica must share one secret)")
}

// LoadOrCreateSecret reads the master secret, creating it (32 random bytes, hex, mode 0600)
// on first start. O_EXCL makes two processes starting together agree on one secret.
func LoadOrCreateSecret(path string) ([]byte, bool, error) {
	if s, err := readSecretFile(path); err == nil {
		b, err := hex.DecodeString(s)
		if err != nil || len(b) < 32 {
			return nil, false, fmt.Errorf("secret file %s: must hold at least 64 hex characters", path)
		}
		return b, false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, false, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		b, _, err := LoadOrCreateSecret(path)
		return b, false, err
	}
	if err != nil {
		return nil, false, fmt.Errorf("secret file %s: %w", path, err)
	}
	if _, err := f.WriteString(hex.EncodeToString(b) + "\n"); err != nil {
		f.Close()
		return nil, false, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, false, err
	}
	return b, true, f.Close()
}

// readSecretFile reads a secret and refuses one readable by group or others.
func readSecretFile(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("%s: permissions %v are too open (chmod 600)", path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}
