package password

import (
	"bytes"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

func TestHashThenVerify(t *testing.T) {
	salt, hash, err := Hash("s3cret-pass")
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	if len(salt) != SaltBytes || len(hash) != KeyBytes {
		t.Fatalf("salt %d bytes, hash %d bytes; want %d, %d", len(salt), len(hash), SaltBytes, KeyBytes)
	}
	flipped := bytes.Clone(hash)
	flipped[KeyBytes-1] ^= 1
	otherSalt := bytes.Clone(salt)
	otherSalt[0] ^= 1
	cases := []struct {
		name     string
		password string
		salt     []byte
		hash     []byte
		want     bool
	}{
		{"right password", "s3cret-pass", salt, hash, true},
		{"wrong password", "s3cret-pasS", salt, hash, false},
		{"prefix of password", "s3cret", salt, hash, false},
		{"empty password", "", salt, hash, false},
		{"other salt", "s3cret-pass", otherSalt, hash, false},
		{"hash changed in last byte", "s3cret-pass", salt, flipped, false},
		{"truncated hash", "s3cret-pass", salt, hash[:KeyBytes-1], false},
		{"no salt", "s3cret-pass", nil, hash, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Verify(tc.password, tc.salt, tc.hash); got != tc.want {
				t.Fatalf("Verify = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSaltIsFreshEachTime(t *testing.T) {
	salt1, hash1, err := Hash("same")
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	salt2, hash2, err := Hash("same")
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	if bytes.Equal(salt1, salt2) || bytes.Equal(hash1, hash2) {
		t.Fatal("two hashes of one password share salt or hash")
	}
	if !Verify("same", salt1, hash1) || !Verify("same", salt2, hash2) {
		t.Fatal("a hash does not verify")
	}
}

// TestSchemeIsStable pins the scheme: a stored hash must keep verifying
// across releases, so Iterations and the PRF must not drift.
func TestSchemeIsStable(t *testing.T) {
	salt := []byte("0123456789abcdef")
	want, err := pbkdf2.Key(sha256.New, "robustmq", salt, 600_000, 32)
	if err != nil {
		t.Fatalf("pbkdf2: %v", err)
	}
	if !Verify("robustmq", salt, want) {
		t.Fatalf("Verify rejects PBKDF2-HMAC-SHA256/600000 hash %s", hex.EncodeToString(want))
	}
}

func TestEmptyPasswordRefused(t *testing.T) {
	if _, _, err := Hash(""); err == nil {
		t.Fatal("Hash accepted an empty password")
	}
}
