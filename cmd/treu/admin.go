package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/treu-mail/treu/accounts"
	"github.com/treu-mail/treu/audit"
	"github.com/treu-mail/treu/mailer"
	"github.com/treu-mail/treu/store"
)

// openData opens (creating) the data folder's database, or the --database
// PostgreSQL: for serve and migrate.
func openData(ctx context.Context, cfg *config) (*store.DB, error) {
	if store.IsPostgresURL(cfg.Database) {
		return store.Open(ctx, cfg.Database)
	}
	dir := cfg.Data
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data folder: %w", err)
	}
	return store.Open(ctx, filepath.Join(dir, "treu.db"))
}

// openExisting opens the data folder's database for an admin command, which
// must not create one: a mistyped --data would otherwise get a fresh, empty
// database, and the token or user made there would silently not work.
// A PostgreSQL --database is opened (and migrated) as it is: its URL was
// typed on purpose, and an admin command refuses it while unported.
func openExisting(ctx context.Context, cfg *config) (*store.DB, error) {
	if store.IsPostgresURL(cfg.Database) {
		if err := requirePorted(cfg); err != nil {
			return nil, err
		}
		return store.Open(ctx, cfg.Database)
	}
	dir := cfg.Data
	path := filepath.Join(dir, "treu.db")
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		abs, _ := filepath.Abs(dir)
		return nil, fmt.Errorf("--data %s holds no database (%s is missing): pass the folder treu serve uses, or run treu migrate --data %s to create a new one", abs, "treu.db", dir)
	} else if err != nil {
		return nil, fmt.Errorf("--data: %w", err)
	}
	return store.Open(ctx, path)
}

// adminFlags is the flag set of the admin commands: just --data, plus theirs.
func adminFlags(name string) (*flag.FlagSet, *config) {
	cfg := &config{}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.StringVar(&cfg.Data, "data", "./treu-data", "data folder")
	fs.StringVar(&cfg.Database, "database", "", "empty: SQLite in --data; or a postgres:// URL")
	return fs, cfg
}

func migrate(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs, cfg := adminFlags("migrate")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if err := cfg.checkDatabase(false); err != nil {
		return err
	}
	db, err := openData(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	where := db.Path()
	if db.Dialect() == store.Postgres {
		where = redactURL(cfg.Database)
	}
	fmt.Fprintln(stdout, "database is up to date:", where)
	return nil
}

func backup(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs, cfg := adminFlags("backup")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: treu backup [--data DIR] FILE")
	}
	out := fs.Arg(0)
	db, err := openExisting(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	// The copy holds personal data: create it readable by the owner only
	// (VACUUM INTO takes an empty existing file).
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	f.Close()
	if err := db.Backup(ctx, out); err != nil {
		os.Remove(out)
		return err
	}
	fmt.Fprintln(stdout, "backup written to", out)
	fmt.Fprintln(stdout, "keep", filepath.Join(cfg.Data, "secret.key"), "with it: the links in mails already sent need that key")
	return nil
}

func token(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 || (args[0] != "create" && args[0] != "list") {
		return errors.New("usage: treu token create --name NAME [--scope admin|shop] | treu token list")
	}
	sub := args[0]
	fs, cfg := adminFlags("token " + sub)
	name := fs.String("name", "", "what the token is for, e.g. the shop's name")
	// admin by default, as every token was before scopes: scripts that
	// create a token and then read campaigns keep working. A shop should
	// get --scope shop.
	scope := fs.String("scope", string(accounts.ScopeAdmin), "shop (enroll, events, tx, read a subscriber) or admin (everything)")
	if err := parseFlags(fs, args[1:], getenv); err != nil {
		return err
	}
	db, err := openExisting(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	acc := accounts.New(db)
	if sub == "list" {
		ts, err := acc.Tokens(ctx)
		if err != nil {
			return err
		}
		for _, t := range ts {
			state := "active"
			if t.RevokedAt != nil {
				state = "revoked"
			}
			fmt.Fprintf(stdout, "%d\t%s…\t%s\t%s\t%s\n", t.ID, t.Prefix, t.Name, t.Scope, state)
		}
		return nil
	}
	sc, err := accounts.ParseScope(*scope)
	if err != nil {
		return fmt.Errorf("--scope: %w", err)
	}
	tok, secret, err := acc.CreateToken(ctx, *name, sc)
	if err != nil {
		return err
	}
	if err := cliAudit(ctx, db, getenv, "token.create", fmt.Sprintf("token %d", tok.ID), tok.Name+" ("+string(tok.Scope)+")"); err != nil {
		return err
	}
	fmt.Fprintln(stdout, secret)
	return nil
}

func user(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "add" {
		return errors.New("usage: treu user add --email EMAIL [--role owner|admin|editor|viewer] (password from stdin)")
	}
	fs, cfg := adminFlags("user add")
	email := fs.String("email", "", "the user's email address")
	// owner by default: the first user must be able to manage the others,
	// and users made before roles existed were owners too.
	role := fs.String("role", string(accounts.RoleOwner), "owner, admin, editor (campaigns, segments, flows, layouts) or viewer (read only)")
	if err := parseFlags(fs, args[1:], getenv); err != nil {
		return err
	}
	db, err := openExisting(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	if f, ok := stdin.(*os.File); ok && isTerminal(f) {
		fmt.Fprint(stdout, "Password (at least 10 characters): ")
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read password: %w", err)
	}
	password := strings.TrimRight(line, "\r\n")
	r, err := accounts.ParseRole(*role)
	if err != nil {
		return fmt.Errorf("--role: %w", err)
	}
	u, err := accounts.New(db).AddUser(ctx, *email, password, r)
	if err != nil {
		return err
	}
	if err := cliAudit(ctx, db, getenv, "user.add", fmt.Sprintf("user %d", u.ID), u.Email+" as "+string(u.Role)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "user %s added as %s (id %d)\n", u.Email, u.Role, u.ID)
	return nil
}

// cliAudit records an admin command in the audit log.
func cliAudit(ctx context.Context, db *store.DB, getenv func(string) string, action, target, detail string) error {
	name := "command line"
	if u := getenv("USER"); u != "" {
		name += " (" + u + ")"
	}
	return audit.New(db).Record(audit.WithActor(ctx, audit.Actor{Kind: audit.KindCLI, Name: name}), action, target, detail)
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// dkim generate prints a new private key (to keep, for --dkim-key) and the
// DNS TXT record to publish.
func dkim(args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "generate" {
		return errors.New("usage: treu dkim generate --domain D [--selector S] [--algo ed25519|rsa]")
	}
	fs := flag.NewFlagSet("dkim generate", flag.ContinueOnError)
	domain := fs.String("domain", "", "the domain mail is sent from")
	selector := fs.String("selector", "treu", "the DKIM selector")
	algo := fs.String("algo", "rsa", "rsa (2048 bits, verified everywhere) or ed25519 (smaller, not yet verified by every receiver)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	key, record, err := mailer.GenerateDKIM(*selector, *domain, *algo)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\n; Publish this TXT record, then start treu with --dkim-key FILE --dkim-selector %s:\n%s\n", key, *selector, record)
	return nil
}
