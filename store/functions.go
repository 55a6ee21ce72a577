package store

import (
	"crypto/sha256"
	"database/sql/driver"
	"encoding/hex"
	"fmt"

	"modernc.org/sqlite"
)

// SHA256HexFunc is a SQL function: the hex sha256 of its text argument.
// SQLite has none, and the suppression check needs one (suppressions keep
// only the hash of an address). The driver registers functions process-wide
// for every connection opened later, so it is done once, here, beside Open.
const SHA256HexFunc = "treu_sha256_hex"

func init() {
	err := sqlite.RegisterDeterministicScalarFunction(SHA256HexFunc, 1, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		var b []byte
		switch v := args[0].(type) {
		case string:
			b = []byte(v)
		case []byte:
			b = v
		case nil:
			return nil, nil
		default:
			b = fmt.Append(nil, v)
		}
		sum := sha256.Sum256(b)
		return hex.EncodeToString(sum[:]), nil
	})
	if err != nil {
		panic(fmt.Sprintf("store: register %s: %v", SHA256HexFunc, err))
	}
}
