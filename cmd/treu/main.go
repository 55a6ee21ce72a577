// Command treu is the Treu server and its admin tools.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	// The zone database inside the binary: --timezone works on hosts and
	// containers without /usr/share/zoneinfo (about 400 KB).
	_ "time/tzdata"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "treu:", err)
		os.Exit(1)
	}
}

const usage = `Treu: newsletters and retention mail for shops.

Usage:
  treu serve                      run the server (default)
  treu migrate                    apply database migrations and exit
  treu backup FILE                write a consistent copy of the database
  treu token create --name NAME [--scope admin|shop]
                                  create an API token (printed once); default admin,
                                  shop may only enroll, send events and tx mail, read a subscriber
  treu token list                 list tokens with their scope
  treu user add --email EMAIL [--role owner|admin|editor|viewer]
                                  create a UI user (password from stdin); default owner
  treu import FILE.csv[.gz|.zip] --consent-source S --consent-text T [--list SLUG]...
                                  import subscribers with proven consent
  treu dkim generate --domain D --selector S [--algo ed25519|rsa]
  treu version

Every command takes --data DIR (TREU_DATA); token, user, import and backup refuse a folder
without treu.db (serve and migrate create it). Run "treu serve -h" for all settings.
`

// run is main without globals, so tests start whole instances in-process.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	} else if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		cmd = "help"
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, getenv, stdout, stderr, nil)
	case "migrate":
		return migrate(ctx, args, getenv, stdout)
	case "backup":
		return backup(ctx, args, getenv, stdout)
	case "token":
		return token(ctx, args, getenv, stdout)
	case "user":
		return user(ctx, args, getenv, stdin, stdout)
	case "import":
		return importCmd(ctx, args, getenv, stdout, stderr)
	case "dkim":
		return dkim(args, stdout)
	case "version":
		fmt.Fprintln(stdout, "treu", version)
		return nil
	case "help":
		fmt.Fprint(stdout, usage)
		fmt.Fprintln(stdout, "\nSettings of treu serve (flag, or the TREU_* variable of the same name):")
		var cfg config
		fs := newFlagSet("serve", &cfg)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return nil
	}
	return fmt.Errorf("unknown command %q\n\n%s", cmd, usage)
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"
