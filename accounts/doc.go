// Package accounts owns who may use Treu: API tokens for shops (table api_tokens)
// and UI users for marketers (table users). Only hashes are stored: a token is
// 256 random bits, so a fast SHA-256 is enough; passwords are bcrypt.
package accounts
