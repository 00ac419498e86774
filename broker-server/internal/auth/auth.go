package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/robustmq/robustmq-go/broker-server/internal/mqtt/packets"
	"github.com/robustmq/robustmq-go/common/lifecycle"
	"github.com/robustmq/robustmq-go/common/password"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// Errors of Authenticate.
var (
	// ErrBadCredentials: no such user, or the password does not match.
	ErrBadCredentials = errors.New("bad user name or password")
	// ErrAnonymous: no user name, and anonymous clients are not allowed.
	ErrAnonymous = errors.New("anonymous clients are not allowed")
	// ErrNotReady: the users are not loaded yet.
	ErrNotReady = errors.New("users not loaded yet")
)

// Action is what a client wants to do with a topic or a stream.
type Action int

// Actions. On a stream (a Kafka topic) Publish is a write and Subscribe a
// read.
const (
	Publish Action = iota + 1
	Subscribe
	// Admin creates, deletes or repartitions a stream.
	Admin
)

// Principal is an authenticated client.
type Principal struct {
	Username  string
	Superuser bool
	Anonymous bool
}

// Options configure a Store.
type Options struct {
	Tenant string
	// AllowAnonymous lets clients without a user name in (as Anonymous).
	AllowAnonymous bool
	// DefaultAllow decides when no ACL rule matches.
	DefaultAllow bool
	Placement    placementpb.PlacementServiceClient
	Logger       zerolog.Logger
}

// Store holds the tenant's users and ACL rules as the placement center
// last told it, and answers authentication and authorisation from them.
type Store struct {
	opts Options
	key  []byte // keys the cache of verified passwords

	mu       sync.RWMutex
	users    map[string]*placementpb.User
	rules    []*placementpb.AclRule
	verified map[string][]byte // user → HMAC of the last password that verified
	ready    chan struct{}
	once     sync.Once
}

// New returns a store; Run loads and follows the users and rules.
func New(opts Options) *Store {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return &Store{opts: opts, key: key, users: map[string]*placementpb.User{}, verified: map[string][]byte{},
		ready: make(chan struct{})}
}

// Run lists the tenant's users and ACL rules and then watches them, listing
// again after a broken watch, until ctx ends.
func (s *Store) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		rev, err := s.load(ctx)
		if err == nil {
			err = s.watch(ctx, rev+1)
		}
		if ctx.Err() != nil {
			return nil
		}
		s.opts.Logger.Debug().Err(err).Msg("reloading users and ACL rules")
		if !lifecycle.Sleep(ctx, 500*time.Millisecond) {
			return nil
		}
	}
	return nil
}

// Ready waits until the users are loaded once.
func (s *Store) Ready(ctx context.Context) error {
	select {
	case <-s.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Store) load(ctx context.Context) (uint64, error) {
	lin := placementpb.ReadConsistency_READ_CONSISTENCY_LINEARIZABLE
	users, err := s.opts.Placement.ListUsers(ctx, &placementpb.ListUsersRequest{Tenant: s.opts.Tenant, Consistency: lin})
	if err != nil && status.Code(err) != codes.NotFound {
		return 0, fmt.Errorf("list users: %w", err)
	}
	acls, err := s.opts.Placement.ListAcls(ctx, &placementpb.ListAclsRequest{Tenant: s.opts.Tenant, Consistency: lin})
	if err != nil && status.Code(err) != codes.NotFound {
		return 0, fmt.Errorf("list ACL rules: %w", err)
	}
	m := map[string]*placementpb.User{}
	for _, u := range users.GetUsers() {
		m[u.GetUsername()] = u
	}
	s.mu.Lock()
	s.users, s.rules = m, acls.GetRules()
	s.verified = map[string][]byte{}
	s.mu.Unlock()
	s.once.Do(func() { close(s.ready) })
	return min(users.GetRevision(), acls.GetRevision()), nil
}

func (s *Store) watch(ctx context.Context, from uint64) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := s.opts.Placement.Watch(ctx, &placementpb.WatchRequest{StartRevision: from,
		Kinds: []placementpb.ResourceKind{placementpb.ResourceKind_RESOURCE_KIND_USER, placementpb.ResourceKind_RESOURCE_KIND_ACL}})
	if err != nil {
		return err
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		if resp.GetResync() {
			return errors.New("watch resync")
		}
		for _, ev := range resp.GetEvents() {
			s.apply(ev)
		}
	}
}

func (s *Store) apply(ev *placementpb.WatchEvent) {
	del := ev.GetType() == placementpb.EventType_EVENT_TYPE_DELETE
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := ev.GetUser(); u != nil && u.GetTenant() == s.opts.Tenant {
		delete(s.verified, u.GetUsername())
		if del {
			delete(s.users, u.GetUsername())
		} else {
			s.users[u.GetUsername()] = u
		}
	}
	if r := ev.GetAcl(); r != nil && r.GetTenant() == s.opts.Tenant {
		kept := s.rules[:0:0]
		for _, old := range s.rules {
			if old.GetId() != r.GetId() {
				kept = append(kept, old)
			}
		}
		if !del {
			kept = append(kept, r)
		}
		s.rules = kept
	}
}

func (s *Store) mac(username string, pw []byte) []byte {
	h := hmac.New(sha256.New, s.key)
	h.Write([]byte(username))
	h.Write([]byte{0})
	h.Write(pw)
	return h.Sum(nil)
}

// Authenticate checks a user name and password against the tenant's users.
// A password that verified once is remembered (keyed, in memory) so that
// reconnects do not pay the password hash's work factor again.
func (s *Store) Authenticate(username string, hasUsername bool, pw []byte) (Principal, error) {
	select {
	case <-s.ready:
	default:
		return Principal{}, ErrNotReady
	}
	if !hasUsername || username == "" {
		if s.opts.AllowAnonymous {
			return Principal{Anonymous: true}, nil
		}
		return Principal{}, ErrAnonymous
	}
	s.mu.RLock()
	u := s.users[username]
	cached := s.verified[username]
	s.mu.RUnlock()
	if u == nil {
		return Principal{}, ErrBadCredentials
	}
	m := s.mac(username, pw)
	if cached == nil || !hmac.Equal(cached, m) {
		if !password.Verify(string(pw), u.GetSalt(), u.GetPasswordHash()) {
			return Principal{}, ErrBadCredentials
		}
		s.mu.Lock()
		if s.users[username] == u {
			s.verified[username] = m
		}
		s.mu.Unlock()
	}
	return Principal{Username: username, Superuser: u.GetSuperuser()}, nil
}

// Allowed reports whether p may do action on topic (a topic name for
// Publish, a topic filter for Subscribe). Superusers may do everything.
// Rules of resource type "topic" whose principal is p's user name or "*"
// and whose action is the action or ALL apply; their resource is an MQTT
// topic filter the topic must match (for a subscription, the filter must
// be the rule's or fall within it). A matching DENY wins over a matching
// ALLOW; with no matching rule the store's default decides.
func (s *Store) Allowed(p Principal, action Action, topic string) bool {
	return s.decide(p, "topic", action, func(resource string) bool { return covers(resource, topic) })
}

// AllowedStream reports whether p may do action on a stream (a Kafka
// topic): Publish writes, Subscribe reads, Admin creates, deletes or
// repartitions it. Rules of resource type "stream" apply, with the
// principal, DENY-wins and default logic of Allowed; their resource is a
// stream name, a prefix ending in '*' ("orders-*"), or "*" (Kafka's
// literal and prefixed patterns). PUBLISH and WRITE rules allow writes,
// SUBSCRIBE and READ reads, ADMIN the admin actions, ALL everything.
func (s *Store) AllowedStream(p Principal, action Action, stream string) bool {
	return s.allowedNamed(p, "stream", action, stream)
}

// AllowedGroup is AllowedStream for a Kafka consumer group id (rules of
// resource type "group"): Subscribe joins the group and commits and
// fetches its offsets, Admin deletes it.
func (s *Store) AllowedGroup(p Principal, action Action, group string) bool {
	return s.allowedNamed(p, "group", action, group)
}

// allowedNamed decides for resources named literally, by a prefix ending
// in '*', or by "*".
func (s *Store) allowedNamed(p Principal, resourceType string, action Action, name string) bool {
	return s.decide(p, resourceType, action, func(resource string) bool {
		if prefix, ok := strings.CutSuffix(resource, "*"); ok {
			return strings.HasPrefix(name, prefix)
		}
		return resource == name
	})
}

// Principal is the principal of a user name authenticated elsewhere (the
// Kafka front end's SASL exchange), with the user's superuser flag.
func (s *Store) Principal(username string) Principal {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return Principal{Username: username, Superuser: s.users[username].GetSuperuser()}
}

// decide applies the rules of resourceType to p and action; matches says
// whether a rule's resource covers the request's.
func (s *Store) decide(p Principal, resourceType string, action Action, matches func(resource string) bool) bool {
	if p.Superuser {
		return true
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	allowed, matched := false, false
	for _, r := range s.rules {
		if r.GetResourceType() != resourceType || (r.GetPrincipal() != "*" && (p.Anonymous || r.GetPrincipal() != p.Username)) {
			continue
		}
		switch r.GetAction() {
		case placementpb.AclAction_ACL_ACTION_ALL:
		case placementpb.AclAction_ACL_ACTION_PUBLISH, placementpb.AclAction_ACL_ACTION_WRITE:
			if action != Publish {
				continue
			}
		case placementpb.AclAction_ACL_ACTION_SUBSCRIBE, placementpb.AclAction_ACL_ACTION_READ:
			if action != Subscribe {
				continue
			}
		case placementpb.AclAction_ACL_ACTION_ADMIN:
			if action != Admin {
				continue
			}
		default:
			continue
		}
		if !matches(r.GetResource()) {
			continue
		}
		matched = true
		switch r.GetPermission() {
		case placementpb.AclPermission_ACL_PERMISSION_DENY:
			return false
		case placementpb.AclPermission_ACL_PERMISSION_ALLOW:
			allowed = true
		}
	}
	if !matched {
		return s.opts.DefaultAllow
	}
	return allowed
}

// covers reports whether the rule's filter covers topic: a topic name
// matching it, or a subscription filter no wider than it.
func covers(ruleFilter, topic string) bool {
	if ruleFilter == topic {
		return true
	}
	if !strings.ContainsAny(topic, "+#") {
		return packets.MatchTopic(ruleFilter, topic)
	}
	// A subscription filter: every level must be matched by the rule's
	// level, a rule '+' covers a filter '+' or a name, a rule '#' covers
	// the rest.
	rl, tl := strings.Split(ruleFilter, "/"), strings.Split(topic, "/")
	for i, r := range rl {
		if r == "#" {
			return true
		}
		if i >= len(tl) {
			return false
		}
		if r == "+" {
			if tl[i] == "#" {
				return false
			}
			continue
		}
		if r != tl[i] {
			return false
		}
	}
	return len(rl) == len(tl)
}
