// Package store opens Treu's SQLite database and owns its schema.
//
// Writes go through one connection (DB.Tx), so concurrent requests queue in Go
// instead of failing with SQLITE_BUSY; reads use a separate read-only pool that
// WAL lets run beside the writer. The schema lives only in migrations/, applied
// in order at Open and recorded by name. Domain packages own their queries.
//
// What the owning packages share: the one statement cache (stmts.go:
// DB.Prepare, Tx.ExecCached, Tx.QueryRowCached) for statements run per row in
// write transactions, GroupCommit for writes arriving together, JSONInts and
// JSONStrings for json_each parameters, and CountBy for "label, count" reads.
// The writer runs with secure_delete, and DB.Checkpoint truncates the WAL, so
// an erasure leaves no copy in the files.
//
// The database and its -wal and -shm files are created (or tightened at Open)
// with mode 0600 whatever the folder's mode or umask: they hold personal data.
package store
