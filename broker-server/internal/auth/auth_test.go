package auth

import (
	"errors"
	"testing"

	"github.com/robustmq/robustmq-go/common/password"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

func TestCovers(t *testing.T) {
	for _, c := range []struct {
		rule, topic string
		want        bool
	}{
		{"a/#", "a/b/c", true}, {"a/#", "a", true}, {"a/+", "a/b", true}, {"a/+", "a/b/c", false},
		{"a/b", "a/b", true}, {"a/b", "a/c", false},
		// Subscription filters: covered only when no wider than the rule.
		{"a/#", "a/+/c", true}, {"a/#", "a/#", true}, {"a/+", "a/+", true}, {"a/+", "a/#", false},
		{"a/b", "a/+", false}, {"#", "#", true}, {"+/x", "+/x", true}, {"a/+/c", "a/+/#", false},
	} {
		if got := covers(c.rule, c.topic); got != c.want {
			t.Errorf("covers(%q, %q) = %v, want %v", c.rule, c.topic, got, c.want)
		}
	}
}

func rule(id uint64, principal, resource string, action placementpb.AclAction, perm placementpb.AclPermission) *placementpb.WatchEvent {
	return &placementpb.WatchEvent{Type: placementpb.EventType_EVENT_TYPE_PUT, Kind: placementpb.ResourceKind_RESOURCE_KIND_ACL,
		Object: &placementpb.WatchEvent_Acl{Acl: &placementpb.AclRule{Tenant: "t", Id: id, Principal: principal,
			ResourceType: "topic", Resource: resource, Action: action, Permission: perm}}}
}

func TestAllowed(t *testing.T) {
	s := New(Options{Tenant: "t", DefaultAllow: false})
	const (
		all, pub, sub = placementpb.AclAction_ACL_ACTION_ALL, placementpb.AclAction_ACL_ACTION_PUBLISH, placementpb.AclAction_ACL_ACTION_SUBSCRIBE
		allow, deny   = placementpb.AclPermission_ACL_PERMISSION_ALLOW, placementpb.AclPermission_ACL_PERMISSION_DENY
	)
	s.apply(rule(1, "alice", "sensors/#", all, allow))
	s.apply(rule(2, "alice", "sensors/secret/#", pub, deny))
	s.apply(rule(3, "*", "public/#", sub, allow))
	alice, bob, anon := Principal{Username: "alice"}, Principal{Username: "bob"}, Principal{Anonymous: true}
	for _, c := range []struct {
		p      Principal
		a      Action
		topic  string
		expect bool
	}{
		{alice, Publish, "sensors/a", true}, {alice, Subscribe, "sensors/+", true},
		{alice, Publish, "sensors/secret/x", false}, {alice, Subscribe, "sensors/secret/x", true},
		{alice, Publish, "other", false}, {bob, Publish, "sensors/a", false},
		{bob, Subscribe, "public/news", true}, {anon, Subscribe, "public/#", true}, {anon, Publish, "public/x", false},
		{Principal{Username: "root", Superuser: true}, Publish, "anything", true},
	} {
		if got := s.Allowed(c.p, c.a, c.topic); got != c.expect {
			t.Errorf("%+v %v %q: %v, want %v", c.p, c.a, c.topic, got, c.expect)
		}
	}
	// A deleted rule stops applying; the default decides again.
	del := rule(1, "alice", "sensors/#", all, allow)
	del.Type = placementpb.EventType_EVENT_TYPE_DELETE
	s.apply(del)
	if s.Allowed(alice, Publish, "sensors/a") {
		t.Fatal("deleted rule still applies")
	}
	open := New(Options{Tenant: "t", DefaultAllow: true})
	if !open.Allowed(bob, Publish, "x") {
		t.Fatal("default allow")
	}
}

func TestAuthenticate(t *testing.T) {
	s := New(Options{Tenant: "t"})
	if _, err := s.Authenticate("alice", true, []byte("pw")); !errors.Is(err, ErrNotReady) {
		t.Fatalf("before load: %v", err)
	}
	salt, hash, err := password.Hash("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	s.once.Do(func() { close(s.ready) })
	s.apply(&placementpb.WatchEvent{Type: placementpb.EventType_EVENT_TYPE_PUT, Kind: placementpb.ResourceKind_RESOURCE_KIND_USER,
		Object: &placementpb.WatchEvent_User{User: &placementpb.User{Tenant: "t", Username: "alice", Salt: salt, PasswordHash: hash}}})
	for i := range 2 { // the second time from the cache
		p, err := s.Authenticate("alice", true, []byte("s3cret"))
		if err != nil || p.Username != "alice" || p.Anonymous {
			t.Fatalf("try %d: %+v %v", i, p, err)
		}
	}
	if _, err := s.Authenticate("alice", true, []byte("wrong")); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := s.Authenticate("mallory", true, []byte("s3cret")); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("unknown user: %v", err)
	}
	if _, err := s.Authenticate("", false, nil); !errors.Is(err, ErrAnonymous) {
		t.Fatalf("anonymous: %v", err)
	}
	// A user of another tenant is not ours.
	s.apply(&placementpb.WatchEvent{Type: placementpb.EventType_EVENT_TYPE_PUT, Kind: placementpb.ResourceKind_RESOURCE_KIND_USER,
		Object: &placementpb.WatchEvent_User{User: &placementpb.User{Tenant: "other", Username: "eve", Salt: salt, PasswordHash: hash}}})
	if _, err := s.Authenticate("eve", true, []byte("s3cret")); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("other tenant's user: %v", err)
	}
	// A deleted user is gone, cache included.
	s.apply(&placementpb.WatchEvent{Type: placementpb.EventType_EVENT_TYPE_DELETE, Kind: placementpb.ResourceKind_RESOURCE_KIND_USER,
		Object: &placementpb.WatchEvent_User{User: &placementpb.User{Tenant: "t", Username: "alice"}}})
	if _, err := s.Authenticate("alice", true, []byte("s3cret")); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("deleted user: %v", err)
	}
}

func streamRule(id uint64, principal, resource string, action placementpb.AclAction, perm placementpb.AclPermission) *placementpb.WatchEvent {
	ev := rule(id, principal, resource, action, perm)
	ev.GetAcl().ResourceType = "stream"
	return ev
}

// Stream (Kafka topic) rules: literal and prefixed names, reads, writes
// and admin actions apart, DENY wins, topic rules do not apply to streams
// (nor stream rules to topics), and a superuser's flag comes from the
// user record.
func TestAllowedStream(t *testing.T) {
	s := New(Options{Tenant: "t", DefaultAllow: false})
	const (
		all, write, read, admin = placementpb.AclAction_ACL_ACTION_ALL, placementpb.AclAction_ACL_ACTION_WRITE, placementpb.AclAction_ACL_ACTION_READ, placementpb.AclAction_ACL_ACTION_ADMIN
		allow, deny             = placementpb.AclPermission_ACL_PERMISSION_ALLOW, placementpb.AclPermission_ACL_PERMISSION_DENY
	)
	s.apply(streamRule(1, "alice", "orders-*", write, allow))
	s.apply(streamRule(2, "alice", "orders-eu", read, allow))
	s.apply(streamRule(3, "alice", "orders-secret", all, deny))
	s.apply(streamRule(4, "*", "public", read, allow))
	s.apply(streamRule(5, "ops", "*", admin, allow))
	s.apply(rule(6, "bob", "#", all, allow)) // an MQTT topic rule
	s.apply(&placementpb.WatchEvent{Type: placementpb.EventType_EVENT_TYPE_PUT, Kind: placementpb.ResourceKind_RESOURCE_KIND_USER,
		Object: &placementpb.WatchEvent_User{User: &placementpb.User{Tenant: "t", Username: "root", Superuser: true}}})
	alice, bob, ops := Principal{Username: "alice"}, Principal{Username: "bob"}, Principal{Username: "ops"}
	for _, c := range []struct {
		p      Principal
		a      Action
		stream string
		expect bool
	}{
		{alice, Publish, "orders-us", true}, {alice, Subscribe, "orders-us", false}, {alice, Subscribe, "orders-eu", true},
		{alice, Publish, "orders", false}, {alice, Publish, "orders-secret", false}, {alice, Admin, "orders-us", false},
		{bob, Publish, "orders-us", false}, {bob, Subscribe, "public", true}, {bob, Publish, "public", false},
		{ops, Admin, "anything", true}, {ops, Publish, "anything", false},
		{s.Principal("root"), Admin, "anything", true}, {s.Principal("alice"), Publish, "orders-x", true},
	} {
		if got := s.AllowedStream(c.p, c.a, c.stream); got != c.expect {
			t.Errorf("%+v %v %q: %v, want %v", c.p, c.a, c.stream, got, c.expect)
		}
	}
	if s.Allowed(alice, Publish, "orders-us") {
		t.Error("a stream rule allowed an MQTT publish")
	}
	// Group rules are their own resource type.
	grp := streamRule(7, "alice", "alice-*", read, allow)
	grp.GetAcl().ResourceType = "group"
	s.apply(grp)
	if !s.AllowedGroup(alice, Subscribe, "alice-g") || s.AllowedGroup(alice, Subscribe, "orders-us") || s.AllowedGroup(alice, Admin, "alice-g") {
		t.Error("group rules: want alice to join alice-* only, and not to delete it")
	}
	if s.AllowedStream(alice, Subscribe, "alice-g") {
		t.Error("a group rule allowed a stream read")
	}
}
