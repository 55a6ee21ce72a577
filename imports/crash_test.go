package imports

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/treu-mail/treu/store"
)

// TestImportChild is the process TestKill9Resume kills: it runs the import
// TREU_IMPORT_JOB in TREU_IMPORT_DB and prints each checkpoint.
func TestImportChild(t *testing.T) {
	path, id := os.Getenv("TREU_IMPORT_DB"), os.Getenv("TREU_IMPORT_JOB")
	if path == "" {
		t.Skip("run by TestKill9Resume")
	}
	db, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(db, newSubs(t, db), Config{Dir: os.Getenv("TREU_IMPORT_DIR"), Owner: "child", BatchRows: 200}, testLog())
	if err != nil {
		t.Fatal(err)
	}
	svc.cfg.OnCheckpoint = func(_ string, n int) { fmt.Printf("checkpoint %d\n", n) }
	if err := svc.Run(context.Background(), id); err != nil { // until SIGKILL
		t.Fatal(err)
	}
}

// kill -9 in the middle of an import; a resumed run finishes it with every
// row imported exactly once.
func TestKill9Resume(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process")
	}
	const n = 20000
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "treu.db")
	db, err := store.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := newEnvAt(t, db, Config{Dir: filepath.Join(dir, "imports"), Owner: "parent", BatchRows: 200})
	j := e.upload("people.csv", people(n, ";"))
	j, err = e.svc.Check(e.ctx, j.ID, 1, settingsFor(j))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Start(e.ctx, j.ID, 1); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestImportChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "TREU_IMPORT_DB="+dbPath, "TREU_IMPORT_JOB="+j.ID, "TREU_IMPORT_DIR="+e.dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	seen := 0
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "checkpoint ") {
			if seen++; seen == 5 {
				cmd.Process.Kill() // SIGKILL: mid-batch, no cleanup
				break
			}
		}
	}
	cmd.Wait()
	if seen < 5 {
		t.Fatalf("the child ended after %d checkpoints", seen)
	}

	// The checkpoint and the data agree at the kill.
	j, _ = e.svc.Get(e.ctx, j.ID, 0)
	if j.Status != StatusRunning || j.RowsRead < 1000 || j.RowsRead >= n {
		t.Fatalf("after the kill: %+v", j)
	}
	if got := e.count(`SELECT count(*) FROM subscribers`); got != j.RowsRead || j.Created != got {
		t.Fatalf("%d subscribers at checkpoint %d (created %d)", got, j.RowsRead, j.Created)
	}
	// The dead child's lease holds it until it lapses.
	if ids, _ := e.svc.Lapsed(e.ctx); len(ids) != 0 {
		t.Fatalf("lapsed before the lease ran out: %q", ids)
	}
	if err := e.svc.Run(e.ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	if j2, _ := e.svc.Get(e.ctx, j.ID, 0); j2.RowsRead != j.RowsRead {
		t.Fatal("took over a job under another's lease")
	}
	e.clock.t = time.Now().Add(time.Minute) // the child's lease was stamped with the real clock
	ids, _ := e.svc.Lapsed(e.ctx)
	if !slices.Equal(ids, []string{j.ID}) {
		t.Fatalf("lapsed %q", ids)
	}
	if err := e.svc.Run(e.ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	assertImportedOnce(t, e, j.ID, n)
}
