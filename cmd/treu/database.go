package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"sort"
	"strings"

	"github.com/treu-mail/treu/store"
)

// usesDatabase is every package that runs SQL (it imports store), and
// portedToPostgres those of them whose SQL has been made to run on
// PostgreSQL too, with tests on both (issue 13). database_test.go keeps the
// first list true; whoever ports a package adds it to the second. serve and
// the admin commands refuse --database postgres://... until the two agree;
// `treu migrate` already works there.
var (
	usesDatabase = []string{"accounts", "audit", "campaigns", "contact", "coupons", "events", "feedback", "flows",
		"imports", "loyalty", "mailer", "retention", "segments", "subscribers", "tracking", "txmail", "webhooks"}
	portedToPostgres = map[string]bool{"accounts": true, "audit": true, "coupons": true}
)

// notPorted is the packages that do not run on PostgreSQL yet.
func notPorted() []string {
	var out []string
	for _, p := range usesDatabase {
		if !portedToPostgres[p] {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// requirePorted refuses a PostgreSQL --database while packages are missing,
// naming them: a half-ported Treu would fail request by request instead.
func requirePorted(cfg *config) error {
	if !store.IsPostgresURL(cfg.Database) {
		return nil
	}
	missing := notPorted()
	if len(missing) == 0 {
		return nil
	}
	ported := []string{"store"}
	for p := range portedToPostgres {
		ported = append(ported, p)
	}
	sort.Strings(ported[1:])
	return fmt.Errorf("--database %s: PostgreSQL support is not finished (issue 13): %s run on it, %s do not yet. "+
		"`treu migrate --database ...` creates the schema; until then leave --database empty (SQLite in --data)",
		redactURL(cfg.Database), strings.Join(ported, ", "), strings.Join(missing, ", "))
}

// databaseFlags declares --database and --secret-file (serve, import, and
// --database alone for the admin commands).
func databaseFlags(fs *flag.FlagSet, cfg *config) {
	fs.StringVar(&cfg.Database, "database", "", "empty: SQLite in --data (the default); postgres://user:pass@host/db: PostgreSQL, shared by several instances (not finished: see README)")
	fs.StringVar(&cfg.SecretFile, "secret-file", "", "file with the key (32+ bytes) that signs links in mails; the same file for every instance on one PostgreSQL; empty: secret.key in --data, created on first start")
}

// checkDatabase validates --database and, for commands that sign links
// (withSecret), --secret-file with it.
func (c *config) checkDatabase(withSecret bool) error {
	if c.Database != "" && !store.IsPostgresURL(c.Database) {
		return fmt.Errorf("--database must be empty (SQLite in --data) or a postgres:// URL, not %q", redactURL(c.Database))
	}
	if c.Database != "" {
		if _, err := url.Parse(c.Database); err != nil {
			return fmt.Errorf("--database: %v", errors.Unwrap(err))
		}
		// Every instance must sign links with the same key, or a link made by
		// one is refused by the next: a key per data folder cannot be that.
		if withSecret && c.SecretFile == "" {
			return errors.New("--secret-file is required with a postgres:// --database: every instance must sign links with the same key (make one with: head -c 32 /dev/urandom > secret.key)")
		}
	}
	return nil
}

// secretFor is the key that signs customer links: --secret-file when given
// (shared by every instance; never created here, so a wrong path cannot
// silently give one instance a key of its own), else the data folder's.
func secretFor(cfg *config) ([]byte, error) {
	if cfg.SecretFile == "" {
		return loadSecret(cfg.Data)
	}
	b, err := os.ReadFile(cfg.SecretFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("--secret-file %s does not exist (make one with: head -c 32 /dev/urandom > %s)", cfg.SecretFile, cfg.SecretFile)
	}
	if err != nil {
		return nil, fmt.Errorf("--secret-file: %w", err)
	}
	if len(b) < 32 {
		return nil, fmt.Errorf("--secret-file %s holds %d bytes; it needs at least 32", cfg.SecretFile, len(b))
	}
	return b, nil
}

// redactURL is u without its password, for messages and logs.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	return p.Redacted()
}
