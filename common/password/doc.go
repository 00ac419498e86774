// Package password hashes and verifies user passwords: a random salt per
// password and PBKDF2-HMAC-SHA256 with a fixed iteration count, compared
// in constant time.
//
// It owns only the hashing scheme. It must never log, return or store a
// plain-text password, and never change Iterations, SaltBytes or KeyBytes:
// hashes already stored were made with them and would stop verifying.
package password
