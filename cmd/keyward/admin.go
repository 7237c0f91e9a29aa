package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/keyward/keyward/internal/app"
	"github.com/keyward/keyward/store"
)

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func clientsCmd(ctx context.Context, args []string, stdout io.Writer, environ []string) error {
	if len(args) == 0 {
		return errors.New("usage: keyward clients add|update|show|list|remove")
	}
	switch args[0] {
	case "add":
		return clientsAdd(ctx, args[1:], stdout, environ)
	case "update":
		return clientsUpdate(ctx, args[1:], stdout, environ)
	case "show":
		return clientsShow(ctx, args[1:], stdout, environ)
	case "list":
		return withStore(ctx, "clients list", args[1:], environ, func(ctx context.Context, _ app.Config, st store.Store, _ []string) error {
			cs, err := st.ListClients(ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tTYPE\tSOURCE\tREDIRECT URIS")
			for _, c := range cs {
				kind := "confidential"
				if c.Public {
					kind = "public"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.ID, c.Name, kind, c.Source, strings.Join(c.RedirectURIs, " "))
			}
			return tw.Flush()
		})
	case "remove":
		return withStore(ctx, "clients remove", args[1:], environ, func(ctx context.Context, _ app.Config, st store.Store, pos []string) error {
			if len(pos) != 1 {
				return errors.New("usage: keyward clients remove CLIENT_ID")
			}
			c, err := st.GetClient(ctx, pos[0])
			if err != nil {
				if errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("no client %q", pos[0])
				}
				return err
			}
			if c.Source == "config" {
				return fmt.Errorf("client %q comes from the configuration file: remove it there", c.ID)
			}
			if err := st.DeleteClient(ctx, c.ID); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "removed client %s\n", c.ID)
			return nil
		})
	}
	return fmt.Errorf("unknown clients command %q", args[0])
}

func usersCmd(ctx context.Context, args []string, stdout io.Writer, environ []string) error {
	if len(args) == 0 || args[0] != "invite" {
		return errors.New("usage: keyward users invite EMAIL [--admin]")
	}
	var admin bool
	path, pos, err := parseFlags("users invite", args[1:], func(fs *flag.FlagSet) {
		fs.BoolVar(&admin, "admin", false, "the new account is an administrator")
	})
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("usage: keyward users invite EMAIL [--admin]")
	}
	cfg, st, err := prepare(ctx, path, environ)
	if err != nil {
		return err
	}
	defer st.Close()
	a, err := app.New(ctx, cfg, st, slog.New(slog.DiscardHandler), time.Now)
	if err != nil {
		return err
	}
	token, err := a.IDP.CreateInvite(ctx, pos[0], admin, "")
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s/signup?invite=%s\n(one-time link for %s; it expires in 7 days)\n", cfg.Issuer, token, pos[0])
	return nil
}

func keysCmd(ctx context.Context, args []string, stdout io.Writer, environ []string) error {
	if len(args) == 0 || args[0] != "rotate" {
		return errors.New("usage: keyward keys rotate")
	}
	return withStore(ctx, "keys rotate", args[1:], environ, func(ctx context.Context, cfg app.Config, st store.Store, _ []string) error {
		a, err := app.New(ctx, cfg, st, slog.New(slog.DiscardHandler), time.Now)
		if err != nil {
			return err
		}
		rot, err := a.Provider.RotateKeys(ctx)
		if err != nil {
			return err
		}
		// Other replicas publish the new keys at their next reload, within a minute; they sign
		// only from the printed time, so apps have fetched them by then.
		fmt.Fprintf(stdout, "rotated: new keys %s (RS256) and %s (ES256) published, sign from %s; the current keys sign until then and stay published for %s after\n",
			rot.KIDs[0], rot.KIDs[1], rot.SignsFrom.Local().Format("15:04 MST (2 Jan 2006)"), cfg.Tokens.KeyRetention)
		return nil
	})
}
