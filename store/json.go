package store

import (
	"encoding/json"
	"strconv"
)

// JSONInts is ids as a JSON array, the parameter of `IN (SELECT value FROM
// json_each(?))`: one statement for any number of ids, so its plan is cached.
func JSONInts(ids []int64) string {
	b := make([]byte, 0, len(ids)*8+2)
	b = append(b, '[')
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, id, 10)
	}
	return string(append(b, ']'))
}

// JSONStrings is ss as a JSON array, for a json_each(?) parameter.
func JSONStrings(ss []string) string {
	if len(ss) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(ss) // strings always marshal
	return string(b)
}
