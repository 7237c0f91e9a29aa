package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/keyward/keyward/internal/app"
	"github.com/keyward/keyward/store"
)

// checker is what both backends offer for `keyward store check`; store.Store leaves it out
// because the server never needs it.
type checker interface {
	Check(ctx context.Context) ([]string, error)
}

// storeCmd runs `keyward store check`: the engine's integrity checks and the invariant
// queries, for operators after a crash, a full disk or a restore (SECURITY RL-02, RL-10,
// RL-12). Exit status 1 when anything is wrong.
func storeCmd(ctx context.Context, args []string, stdout io.Writer, environ []string) error {
	if len(args) > 0 && args[0] == "backup" {
		return storeBackup(ctx, args[1:], stdout, environ) // backup.go (RL-12)
	}
	if len(args) > 0 && args[0] == "after-restore" {
		return storeAfterRestore(ctx, args[1:], stdout, environ) // backup.go (RL-12)
	}
	if len(args) == 0 || args[0] != "check" {
		return errors.New("usage: keyward store check|backup PATH|after-restore [--config FILE]")
	}
	path, _, err := parseFlags("store check", args[1:], nil)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(path, environ)
	if err != nil {
		return err
	}
	// No master secret is read or created: the check looks at rows, never inside them.
	st, err := app.OpenConfiguredStore(ctx, cfg)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer st.Close()
	c, ok := st.(checker)
	if !ok {
		return fmt.Errorf("store check: the %s backend has no check", st.Backend())
	}
	problems, err := c.Check(ctx)
	if err != nil {
		return fmt.Errorf("store check: %w", err)
	}
	for _, p := range problems {
		fmt.Fprintln(stdout, "problem:", p)
	}
	if len(problems) > 0 {
		return fmt.Errorf("store check: %d problems in the %s database", len(problems), st.Backend())
	}
	fmt.Fprintf(stdout, "%s database is sound: engine checks and %d invariants pass\n", st.Backend(), len(store.Invariants))
	return nil
}
