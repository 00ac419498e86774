package server

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robustmq/robustmq-go/broker-server/internal/kafka/wire"
	"github.com/robustmq/robustmq-go/common/password"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// SASL mechanisms offered when authentication is on. SCRAM-SHA-256 works
// from the stored credential because the placement center keeps
// PBKDF2-HMAC-SHA256(password, salt, password.Iterations): that is SCRAM's
// SaltedPassword. (SCRAM-SHA-512 would need a SHA-512 one.)
const (
	mechPlain  = "PLAIN"
	mechScram  = "SCRAM-SHA-256"
	scramNonce = 18
)

// saslState is one connection's authentication progress; it is touched
// only by the connection's reading goroutine.
type saslState struct {
	mechanism string
	user      string
	done      bool
	// raw: a SaslHandshake v0 was accepted, so the tokens that follow
	// are bare size-prefixed frames, not SaslAuthenticate requests.
	raw bool
	// SCRAM between its two rounds.
	clientFirstBare, serverFirst, nonce string
	saltedPassword                      []byte
}

var errAuth = errors.New("authentication failed")

// lookupUser reads a user of the tenant from the placement center.
func (s *Server) lookupUser(ctx context.Context, name string) (*placementpb.User, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := s.deps.Placement.ListUsers(ctx, &placementpb.ListUsersRequest{Tenant: s.deps.Streams.Tenant()})
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	for _, u := range resp.GetUsers() {
		if u.GetUsername() == name {
			return u, nil
		}
	}
	return nil, errAuth
}

func (c *conn) saslHandshake(req *wire.SaslHandshakeRequest) wire.Message {
	mechs := []string{mechPlain, mechScram}
	if !c.s.cfg.SASL {
		return &wire.SaslHandshakeResponse{ErrorCode: wire.ErrUnsupportedSaslMechanism, SupportedMechanisms: []string{}}
	}
	if c.sasl.done || c.sasl.mechanism != "" {
		return &wire.SaslHandshakeResponse{ErrorCode: wire.ErrIllegalSaslState, SupportedMechanisms: mechs}
	}
	if req.Mechanism != mechPlain && req.Mechanism != mechScram {
		return &wire.SaslHandshakeResponse{ErrorCode: wire.ErrUnsupportedSaslMechanism, SupportedMechanisms: mechs}
	}
	c.sasl.mechanism = req.Mechanism
	return &wire.SaslHandshakeResponse{SupportedMechanisms: mechs}
}

// saslAuthenticate runs one SaslAuthenticate round; close says the
// connection ends after the answer (a failed authentication).
func (c *conn) saslAuthenticate(ctx context.Context, req *wire.SaslAuthenticateRequest) (resp *wire.SaslAuthenticateResponse, close bool) {
	fail := func(code int16, msg string) (*wire.SaslAuthenticateResponse, bool) {
		return &wire.SaslAuthenticateResponse{ErrorCode: code, ErrorMessage: &msg, AuthBytes: []byte{}}, true
	}
	switch {
	case !c.s.cfg.SASL:
		return fail(wire.ErrIllegalSaslState, "SASL authentication is not enabled on this listener")
	case c.sasl.done || c.sasl.mechanism == "":
		return fail(wire.ErrIllegalSaslState, "SaslAuthenticate without a SaslHandshake")
	case c.sasl.mechanism == mechPlain:
		parts := bytes.Split(req.AuthBytes, []byte{0})
		if len(parts) != 3 {
			return fail(wire.ErrSaslAuthenticationFailed, "malformed PLAIN message")
		}
		user, pass := string(parts[1]), string(parts[2])
		if !c.s.checkPassword(ctx, user, pass) {
			return fail(wire.ErrSaslAuthenticationFailed, "invalid user name or password")
		}
		c.sasl.done, c.sasl.user = true, user
		return &wire.SaslAuthenticateResponse{AuthBytes: []byte{}}, false
	}
	// SCRAM-SHA-256 (RFC 5802, 7677).
	if c.sasl.serverFirst == "" {
		msg := string(req.AuthBytes)
		bare, ok := strings.CutPrefix(msg, "n,,")
		if !ok {
			return fail(wire.ErrSaslAuthenticationFailed, "unsupported SCRAM gs2 header (channel binding or authzid)")
		}
		attrs := scramAttrs(bare)
		user := strings.NewReplacer("=2C", ",", "=3D", "=").Replace(attrs["n"])
		if user == "" || attrs["r"] == "" {
			return fail(wire.ErrSaslAuthenticationFailed, "malformed SCRAM client-first message")
		}
		u, err := c.s.lookupUser(ctx, user)
		if err != nil || len(u.GetPasswordHash()) != password.KeyBytes {
			return fail(wire.ErrSaslAuthenticationFailed, "invalid user name or password")
		}
		var nb [scramNonce]byte
		_, _ = rand.Read(nb[:])
		c.sasl.nonce = attrs["r"] + base64.RawStdEncoding.EncodeToString(nb[:])
		c.sasl.clientFirstBare = bare
		c.sasl.serverFirst = fmt.Sprintf("r=%s,s=%s,i=%d", c.sasl.nonce, base64.StdEncoding.EncodeToString(u.GetSalt()), password.Iterations)
		c.sasl.saltedPassword = u.GetPasswordHash()
		c.sasl.user = user
		return &wire.SaslAuthenticateResponse{AuthBytes: []byte(c.sasl.serverFirst)}, false
	}
	final := string(req.AuthBytes)
	i := strings.LastIndex(final, ",p=")
	if i < 0 {
		return fail(wire.ErrSaslAuthenticationFailed, "malformed SCRAM client-final message")
	}
	withoutProof := final[:i]
	attrs := scramAttrs(final)
	proof, err := base64.StdEncoding.DecodeString(attrs["p"])
	// The nonce must end with ours: librdkafka repeats its client nonce in
	// front of the combined one, and Kafka brokers accept that too.
	if err != nil || !strings.HasSuffix(attrs["r"], c.sasl.nonce) || len(proof) != sha256.Size {
		return fail(wire.ErrSaslAuthenticationFailed, "SCRAM nonce or proof mismatch")
	}
	authMessage := c.sasl.clientFirstBare + "," + c.sasl.serverFirst + "," + withoutProof
	clientKey := hmacSHA256(c.sasl.saltedPassword, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	sig := hmacSHA256(storedKey[:], authMessage)
	recovered := make([]byte, len(proof))
	for j := range proof {
		recovered[j] = proof[j] ^ sig[j]
	}
	check := sha256.Sum256(recovered)
	if subtle.ConstantTimeCompare(check[:], storedKey[:]) != 1 {
		return fail(wire.ErrSaslAuthenticationFailed, "invalid user name or password")
	}
	serverSig := hmacSHA256(hmacSHA256(c.sasl.saltedPassword, "Server Key"), authMessage)
	c.sasl.done = true
	return &wire.SaslAuthenticateResponse{AuthBytes: []byte("v=" + base64.StdEncoding.EncodeToString(serverSig))}, false
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// scramAttrs splits "a=1,b=2" (values may contain '=').
func scramAttrs(s string) map[string]string {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok && len(k) == 1 {
			out[k] = v
		}
	}
	return out
}

// checkPassword verifies a PLAIN password against the stored PBKDF2
// hash; successes are cached for a minute (a hash costs ~150 ms of CPU).
func (s *Server) checkPassword(ctx context.Context, user, pass string) bool {
	key := sha256.Sum256([]byte(user + "\x00" + pass))
	s.mu.Lock()
	at, ok := s.authCache[key]
	s.mu.Unlock()
	if ok && time.Since(at) < time.Minute {
		return true
	}
	u, err := s.lookupUser(ctx, user)
	if err != nil || !password.Verify(pass, u.GetSalt(), u.GetPasswordHash()) {
		return false
	}
	s.mu.Lock()
	if len(s.authCache) > 10000 {
		clear(s.authCache)
	}
	s.authCache[key] = time.Now()
	s.mu.Unlock()
	return true
}
