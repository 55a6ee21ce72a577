// Package accounts owns who may use Treu and how far: API tokens for shops
// with a scope, shop or admin (table api_tokens); UI users with a role, owner,
// admin, editor or viewer, and their invitations (table users); signed-in
// browsers (table sessions); and failed sign-ins per address and client IP
// (table signin_failures).
//
// Only hashes are stored: a token or session secret is 256 random bits, so a
// fast SHA-256 is enough; passwords are bcrypt. Invitation links are signed
// (HMAC with a key derived from the installation's secret) and carry no
// state of their own.
package accounts
