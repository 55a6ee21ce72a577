// Package pgtest runs a throwaway PostgreSQL cluster for a package's tests:
// Debian's postgresql binaries, a data folder and a Unix socket in a temp
// folder, no TCP port, fsync off. TestMain starts it (Main); each test gets a
// database of its own, copied from a migrated template (Open), so a test
// costs a CREATE DATABASE, not the migrations.
//
// Missing binaries fail the package's tests: CI must run against PostgreSQL
// (scripts/deps.sh installs it). TREU_PG_BIN names the folder of initdb and
// postgres where they are not Debian's. TREU_PG=off, set on purpose, runs the tests
// without it (storetest.Each then runs SQLite only).
//
// initdb refuses to run as root; as root the cluster runs as the postgres
// user the Debian package creates. An initialised cluster is cached in the
// temp folder (treu-pgtest-*), so later runs copy it (well under a second)
// instead of running initdb (seconds).
package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver

	"github.com/treu-mail/treu/store"
)

// Off reports whether TREU_PG=off asks for tests without PostgreSQL.
func Off() bool { return os.Getenv("TREU_PG") == "off" }

// cluster is the running server of this test binary, nil when off.
var cluster *Cluster

// Main starts a cluster, runs the tests and stops it:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// (storetest.Main does the same.) Without the binaries it exits with an error
// unless TREU_PG=off.
func Main(m *testing.M) {
	flag.Parse()
	if Off() || fuzzing() {
		os.Exit(m.Run())
	}
	c, err := Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		fmt.Fprintln(os.Stderr, "pgtest: install PostgreSQL (scripts/deps.sh) or set TREU_PG=off to test SQLite only")
		os.Exit(1)
	}
	cluster = c
	code := m.Run()
	if err := c.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
	}
	os.Exit(code)
}

// fuzzing: a fuzz run (scripts/fuzz.sh runs no tests, -run='^$') and each
// of its workers would otherwise start a cluster of its own for nothing.
func fuzzing() bool {
	for _, name := range []string{"test.fuzz", "test.fuzzworker"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" && f.Value.String() != "false" {
			return true
		}
	}
	return false
}

// Running reports whether Main started a cluster for this test binary.
func Running() bool { return cluster != nil }

// Open returns a migrated PostgreSQL database of the test's own, closed and
// dropped when the test ends.
func Open(tb testing.TB) *store.DB {
	tb.Helper()
	db, err := store.Open(context.Background(), NewDatabase(tb, true))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// NewDatabase creates a database for the test and returns its URL: a copy of
// the migrated template, or empty (for tests of the migrations themselves).
// It is dropped when the test ends.
func NewDatabase(tb testing.TB, migrated bool) string {
	tb.Helper()
	if cluster == nil {
		tb.Fatal("pgtest: no cluster: the package needs func TestMain(m *testing.M) { storetest.Main(m) }")
	}
	u, err := cluster.Create(migrated)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := cluster.Drop(u); err != nil {
			tb.Error(err)
		}
	})
	return u
}

// Cluster is a running throwaway PostgreSQL server.
type Cluster struct {
	dir   string // temp folder: data/, the socket, the log
	cmd   *exec.Cmd
	admin *sql.DB // to the postgres database, for CREATE/DROP DATABASE
	n     atomic.Int64
	exit  chan error
}

// Start initialises (or copies a cached) cluster and starts the server.
func Start() (*Cluster, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	cred, uid, gid, err := runAs()
	if err != nil {
		return nil, err
	}
	// A short path: a Unix socket's path must fit in 107 bytes.
	tmp := os.TempDir()
	if len(tmp) > 60 {
		tmp = "/tmp"
	}
	sweep(tmp)
	dir, err := os.MkdirTemp(tmp, "treupg-")
	if err != nil {
		return nil, err
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	c := &Cluster{dir: dir, exit: make(chan error, 1)}
	if err := c.start(bin, cred, uid, gid); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) start(bin string, cred *syscall.Credential, uid, gid int) error {
	data := filepath.Join(c.dir, "data")
	if err := copyCached(bin, data, cred, uid, gid); err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(c.dir, "postgres.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	c.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-k", c.dir,
		"-c", "listen_addresses=", "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=300", "-c", "shared_buffers=32MB")
	c.cmd.Dir = c.dir
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	// Pdeathsig: a test binary killed without running Stop takes the server
	// with it (SIGQUIT is the immediate shutdown).
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
	if err := c.cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	go func() { c.exit <- c.cmd.Wait() }()
	c.admin, err = sql.Open("pgx", c.url("postgres"))
	if err != nil {
		return err
	}
	// The server takes a moment to accept connections; poll (no test time is
	// involved: this is the fixture starting).
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err = c.admin.PingContext(ctx)
		cancel()
		if err == nil {
			break
		}
		select {
		case werr := <-c.exit:
			c.exit <- werr
			log, _ := os.ReadFile(filepath.Join(c.dir, "postgres.log"))
			return fmt.Errorf("postgres exited (%v): %s", werr, tail(log))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres did not accept connections in 60s: %w", err)
		}
	}
	ctx := context.Background()
	if _, err := c.admin.ExecContext(ctx, `CREATE DATABASE treu_template`); err != nil {
		return fmt.Errorf("create template: %w", err)
	}
	db, err := store.Open(ctx, c.url("treu_template"))
	if err != nil {
		return fmt.Errorf("migrate template: %w", err)
	}
	return db.Close()
}

// url is the URL of database name over the cluster's socket.
func (c *Cluster) url(name string) string {
	return "postgres://postgres@/" + name + "?host=" + url.QueryEscape(c.dir) + "&sslmode=disable"
}

// Create makes a new database, a copy of the migrated template or empty.
func (c *Cluster) Create(migrated bool) (string, error) {
	name := "t" + strconv.FormatInt(c.n.Add(1), 10)
	q := `CREATE DATABASE ` + name
	if migrated {
		q += ` TEMPLATE treu_template`
	}
	if _, err := c.admin.ExecContext(context.Background(), q); err != nil {
		return "", fmt.Errorf("pgtest: %s: %w", q, err)
	}
	return c.url(name), nil
}

// Drop drops the database at u (connections still open are ended).
func (c *Cluster) Drop(u string) error {
	p, err := url.Parse(u)
	if err != nil {
		return err
	}
	name := strings.TrimPrefix(p.Path, "/")
	if _, err := c.admin.ExecContext(context.Background(), `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
		return fmt.Errorf("pgtest: drop %s: %w", name, err)
	}
	return nil
}

// Stop shuts the server down (fast: SIGINT) and removes its folder.
func (c *Cluster) Stop() error {
	if c.admin != nil {
		c.admin.Close()
	}
	var err error
	if c.cmd != nil && c.cmd.Process != nil {
		c.cmd.Process.Signal(syscall.SIGINT)
		select {
		case err = <-c.exit:
		case <-time.After(30 * time.Second):
			c.cmd.Process.Kill()
			err = errors.New("postgres did not stop in 30s; killed")
		}
		if err != nil && strings.Contains(err.Error(), "signal") {
			err = nil
		}
	}
	return errors.Join(err, os.RemoveAll(c.dir))
}

// sweep removes clusters left by test binaries killed before Stop (their
// server went with them, Pdeathsig): folders older than a day.
func sweep(tmp string) {
	old, _ := filepath.Glob(filepath.Join(tmp, "treupg-*"))
	for _, d := range old {
		if st, err := os.Stat(d); err == nil && time.Since(st.ModTime()) > 24*time.Hour {
			os.RemoveAll(d)
		}
	}
}

// binDir finds the PostgreSQL binaries: TREU_PG_BIN if set (another
// system's layout), else the newest Debian one (/usr/lib/postgresql/N/bin),
// else initdb on PATH.
func binDir() (string, error) {
	if dir := os.Getenv("TREU_PG_BIN"); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "initdb")); err != nil {
			return "", fmt.Errorf("TREU_PG_BIN=%s: no initdb there", dir)
		}
		return dir, nil
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(found, func(i, j int) bool { return version(found[i]) > version(found[j]) })
	if len(found) > 0 {
		return filepath.Dir(found[0]), nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("PostgreSQL binaries not found (no /usr/lib/postgresql/*/bin/initdb, no initdb on PATH)")
}

func version(initdb string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return n
}

// runAs is the user the server runs as: the caller, or as root (which
// PostgreSQL refuses) the postgres user.
func runAs() (*syscall.Credential, int, int, error) {
	if os.Geteuid() != 0 {
		return nil, os.Geteuid(), os.Getegid(), nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, 0, 0, fmt.Errorf("running as root, and PostgreSQL refuses root: no postgres user to run it as (%w)", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, uid, gid, nil
}

// copyCached puts an initialised cluster at data: a copy of the cached one,
// made by initdb first if there is none for these binaries and this user.
func copyCached(bin string, data string, cred *syscall.Credential, uid, gid int) error {
	cache := filepath.Join(os.TempDir(), fmt.Sprintf("treu-pgtest-v1-%s-%d", strings.ReplaceAll(strings.Trim(bin, "/"), "/", "_"), uid))
	if _, err := os.Stat(filepath.Join(cache, "PG_VERSION")); err != nil {
		tmp, err := os.MkdirTemp("", "treupg-init-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		if err := os.Chown(tmp, uid, gid); err != nil {
			return err
		}
		cmd := exec.Command(filepath.Join(bin, "initdb"), "-D", filepath.Join(tmp, "data"), "-U", "postgres",
			"-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C")
		cmd.Dir = tmp
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("initdb: %w: %s", err, tail(out))
		}
		// Another test binary may have cached one meanwhile: either is good.
		if err := os.Rename(filepath.Join(tmp, "data"), cache); err != nil {
			if _, serr := os.Stat(filepath.Join(cache, "PG_VERSION")); serr != nil {
				return fmt.Errorf("cache cluster: %w", err)
			}
		}
	}
	// cp -a keeps the owner and the 0700 modes PostgreSQL insists on.
	if out, err := exec.Command("cp", "-a", cache, data).CombinedOutput(); err != nil {
		return fmt.Errorf("copy cached cluster: %w: %s", err, tail(out))
	}
	return nil
}

func tail(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 2000 {
		s = "..." + s[len(s)-2000:]
	}
	return s
}
