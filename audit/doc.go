// Package audit owns the audit log (table audit_log): who did what, when and
// from where — campaign starts and pauses, flow changes, erasures, imports,
// settings, users and tokens. Entries are appended, never changed.
//
// The actor travels in the request's context (WithActor, set once by the HTTP
// layer for a signed-in user or an API token), so a handler records an action
// with one call and cannot name someone else. Targets are ids, never a
// subscriber's address: the log must not keep what an erasure removed.
package audit
