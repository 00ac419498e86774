package password

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
)

const (
	// Iterations is the PBKDF2 work factor, OWASP's 2023 recommendation
	// for HMAC-SHA256. One hash costs on the order of 150ms of CPU, so
	// callers that verify on every connection should cache successes.
	Iterations = 600_000
	// SaltBytes is the length of the random salt (128 bits).
	SaltBytes = 16
	// KeyBytes is the length of the derived hash (256 bits).
	KeyBytes = 32
)

// Hash returns a fresh random salt and the PBKDF2 hash of password under
// it. An empty password is refused.
func Hash(password string) (salt, hash []byte, err error) {
	return scheme{iterations: Iterations}.hash(password)
}

// Verify reports whether password matches the stored salt and hash. The
// comparison takes the same time wherever the first difference is, so
// timing reveals nothing about the stored hash.
func Verify(password string, salt, hash []byte) bool {
	return scheme{iterations: Iterations}.verify(password, salt, hash)
}

// scheme carries the work factor so tests can exercise the logic with a
// cheap one; the exported functions always use Iterations.
type scheme struct {
	iterations int
}

func (s scheme) hash(password string) (salt, hash []byte, err error) {
	if password == "" {
		return nil, nil, errors.New("password: empty password")
	}
	salt = make([]byte, SaltBytes)
	if _, err := rand.Read(salt); err != nil {
		return nil, nil, fmt.Errorf("password: read random salt: %w", err)
	}
	hash, err = s.derive(password, salt)
	if err != nil {
		return nil, nil, err
	}
	return salt, hash, nil
}

func (s scheme) verify(password string, salt, hash []byte) bool {
	if password == "" || len(salt) == 0 || len(hash) != KeyBytes {
		return false
	}
	got, err := s.derive(password, salt)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(got, hash) == 1
}

func (s scheme) derive(password string, salt []byte) ([]byte, error) {
	key, err := pbkdf2.Key(sha256.New, password, salt, s.iterations, KeyBytes)
	if err != nil {
		return nil, fmt.Errorf("password: derive: %w", err)
	}
	return key, nil
}
