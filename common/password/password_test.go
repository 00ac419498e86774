package password

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// cheap runs the scheme's logic with a small work factor; the real one is
// exercised by TestRealSchemeRoundTrip and TestSchemeIsStable.
var cheap = scheme{iterations: 1000}

func TestVerifyCases(t *testing.T) {
	t.Parallel()
	salt, hash, err := cheap.hash("s3cret-pass")
	if err != nil {
		t.Fatalf("hash: %v", err)
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
			if got := cheap.verify(tc.password, tc.salt, tc.hash); got != tc.want {
				t.Fatalf("verify = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSaltIsFreshEachTime(t *testing.T) {
	t.Parallel()
	salt1, hash1, err := cheap.hash("same")
	if err != nil {
		t.Fatalf("hash: %v", err)
	}
	salt2, hash2, err := cheap.hash("same")
	if err != nil {
		t.Fatalf("hash: %v", err)
	}
	if bytes.Equal(salt1, salt2) || bytes.Equal(hash1, hash2) {
		t.Fatal("two hashes of one password share salt or hash")
	}
	if !cheap.verify("same", salt1, hash1) || !cheap.verify("same", salt2, hash2) {
		t.Fatal("a hash does not verify")
	}
}

func TestRealSchemeRoundTrip(t *testing.T) {
	t.Parallel()
	salt, hash, err := Hash("s3cret-pass")
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	if !Verify("s3cret-pass", salt, hash) {
		t.Fatal("Verify rejects the password Hash was given")
	}
	// A hash made with the cheap work factor must not verify under the
	// real one: the iteration count is part of the scheme.
	cheapSalt, cheapHash, err := cheap.hash("s3cret-pass")
	if err != nil {
		t.Fatalf("hash: %v", err)
	}
	if Verify("s3cret-pass", cheapSalt, cheapHash) {
		t.Fatal("Verify accepted a hash made with another iteration count")
	}
}

// TestSchemeIsStable pins the scheme to a known vector (PBKDF2-HMAC-SHA256,
// 600000 iterations, checked against an independent implementation): a
// stored hash must keep verifying across releases.
func TestSchemeIsStable(t *testing.T) {
	t.Parallel()
	want, err := hex.DecodeString("52e358488b5bf6337f8e1733f463f153bd214cfa86036d5db6a19ee2b502b44e")
	if err != nil {
		t.Fatal(err)
	}
	if !Verify("robustmq", []byte("0123456789abcdef"), want) {
		t.Fatal("Verify rejects the pinned PBKDF2-HMAC-SHA256/600000 vector")
	}
}

func TestEmptyPasswordRefused(t *testing.T) {
	t.Parallel()
	if _, _, err := Hash(""); err == nil {
		t.Fatal("Hash accepted an empty password")
	}
}
