package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"

	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// result is what one robustctl run printed and returned.
type result struct {
	out, errOut string
	code        int
}

// runEnv runs robustctl in-process with args and the given environment.
// Every run is bounded: commands carry --timeout, and the context here is a
// backstop so a hung command fails the test instead of stalling it.
func runEnv(t *testing.T, environ map[string]string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	code := Execute(ctx, args, func(k string) string { return environ[k] }, &out, &errOut)
	return result{out: out.String(), errOut: errOut.String(), code: code}
}

// runAt runs robustctl against the placement center at addr.
func runAt(t *testing.T, addr string, args ...string) result {
	t.Helper()
	return runEnv(t, nil, append([]string{"--placement", addr, "--timeout", "5s"}, args...)...)
}

// mustSucceed fails the test unless r is a clean success.
func mustSucceed(t *testing.T, r result) {
	t.Helper()
	if r.code != 0 || r.errOut != "" {
		t.Fatalf("exit %d, stderr %q, stdout %q", r.code, r.errOut, r.out)
	}
}

// tableLines splits table output into lines of whitespace-separated fields.
func tableLines(out string) [][]string {
	var lines [][]string
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		lines = append(lines, strings.Fields(l))
	}
	return lines
}

// oneJSON decodes out as exactly one JSON document into v.
func oneJSON(t *testing.T, out string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		t.Fatalf("more than one JSON document (%v):\n%s", err, out)
	}
}

// protoList decodes a JSON array of T.
func protoList[T proto.Message](t *testing.T, out string, newT func() T) []T {
	t.Helper()
	var raws []json.RawMessage
	oneJSON(t, out, &raws)
	msgs := make([]T, 0, len(raws))
	for _, r := range raws {
		m := newT()
		if err := protojson.Unmarshal(r, m); err != nil {
			t.Fatalf("element %s: %v", r, err)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

func TestKVGetTableAndJSON(t *testing.T) {
	f := newFakeCenter()
	addr := serve(t, f)

	r := runAt(t, addr, "kv", "get", "greeting")
	mustSucceed(t, r)
	want := [][]string{{"KEY", "VALUE", "VERSION"}, {"greeting", "hello", "7"}}
	if got := tableLines(r.out); !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("table %q, want %q", got, want)
	}

	r = runAt(t, addr, "kv", "get", "greeting", "-o", "json")
	mustSucceed(t, r)
	var got placementpb.KeyValue
	var raw map[string]json.RawMessage
	oneJSON(t, r.out, &raw)
	if err := protojson.Unmarshal([]byte(r.out), &got); err != nil {
		t.Fatal(err)
	}
	wantKV := &placementpb.KeyValue{Key: "greeting", Value: []byte("hello"), Version: 7, CreateVersion: 3}
	if !proto.Equal(&got, wantKV) {
		t.Fatalf("json decodes to %v, want %v", &got, wantKV)
	}
	// The bytes are stable (protojson's own indentation is not), so
	// scripts and diffs can rely on them.
	if want := "{\n  \"key\": \"greeting\",\n  \"value\": \"aGVsbG8=\",\n  \"version\": \"7\",\n  \"createVersion\": \"3\"\n}\n"; r.out != want {
		t.Fatalf("json output %q, want %q", r.out, want)
	}
	if f.lastGetReq().GetConsistency() != placementpb.ReadConsistency_READ_CONSISTENCY_UNSPECIFIED {
		t.Fatalf("plain get sent consistency %v", f.lastGetReq().GetConsistency())
	}

	mustSucceed(t, runAt(t, addr, "kv", "get", "greeting", "--serializable"))
	if f.lastGetReq().GetConsistency() != placementpb.ReadConsistency_READ_CONSISTENCY_SERIALIZABLE {
		t.Fatalf("--serializable sent consistency %v", f.lastGetReq().GetConsistency())
	}
}

func TestKVPutExpectVersion(t *testing.T) {
	f := newFakeCenter()
	addr := serve(t, f)
	for _, tc := range []struct {
		name       string
		args       []string
		wantExpect *uint64 // nil: the request must not carry a version
		wantRow    []string
	}{
		{"unconditional", []string{"kv", "put", "a", "one"}, nil, []string{"a", "one", "1"}},
		{"must not exist", []string{"kv", "put", "b", "two", "--expect-version", "0"}, proto.Uint64(0), []string{"b", "two", "1"}},
		{"compare and set", []string{"kv", "put", "greeting", "hi there", "--expect-version", "7"}, proto.Uint64(7), []string{"greeting", "hi", "there", "8"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runAt(t, addr, tc.args...)
			mustSucceed(t, r)
			if got := f.lastPutReq().ExpectedVersion; (got == nil) != (tc.wantExpect == nil) || (got != nil && *got != *tc.wantExpect) {
				t.Fatalf("expected_version sent %v, want %v", got, tc.wantExpect)
			}
			if lines := tableLines(r.out); len(lines) != 2 || !slices.Equal(lines[1], tc.wantRow) {
				t.Fatalf("table %q, want row %q", lines, tc.wantRow)
			}
		})
	}
}

func TestShardDescribeTableAndJSON(t *testing.T) {
	addr := serve(t, newFakeCenter())

	r := runAt(t, addr, "shard", "describe", "orders-0")
	mustSucceed(t, r)
	lines := tableLines(r.out)
	want := [][]string{
		strings.Fields("shard default/orders-0 replicas 3 ack-quorum 2 status active active segment 1"),
		nil,
		{"SEQ", "STATUS", "REPLICAS", "LEADER", "EPOCH", "ACK-QUORUM", "START", "END"},
		{"0", "sealed", "1,2,3", "1", "1", "2", "0", "42"},
		{"1", "open", "2,3,4", "4", "2", "2", "42", "-"},
	}
	if !slices.EqualFunc(lines, want, slices.Equal) {
		t.Fatalf("describe table\n%s\nwant fields %q", r.out, want)
	}

	r = runAt(t, addr, "shard", "describe", "orders-0", "-o", "json")
	mustSucceed(t, r)
	var raw struct {
		Segments []map[string]json.RawMessage `json:"segments"`
	}
	oneJSON(t, r.out, &raw)
	var got placementpb.GetShardResponse
	if err := protojson.Unmarshal([]byte(r.out), &got); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(&got, shardOrders()) {
		t.Fatalf("json decodes to %v, want %v", &got, shardOrders())
	}
	// Unpopulated fields are left out: segment 0 has seq 0 and start 0.
	for _, k := range []string{"seq", "startOffset"} {
		if _, ok := raw.Segments[0][k]; ok {
			t.Fatalf("zero field %q emitted:\n%s", k, r.out)
		}
	}

	r = runAt(t, addr, "shard", "describe", "orders-9")
	if r.code != 1 || !strings.Contains(r.errOut, `not found: shard "default/orders-9"`) {
		t.Fatalf("missing shard: exit %d stderr %q", r.code, r.errOut)
	}
}

// threeMembers starts members 1 (leader) and 2 (follower) and returns them
// with a dead address for member 3; every member lists all three.
func threeMembers(t *testing.T) (a, b *fakeCenter, addrA, addrB, addrC string) {
	a, b = newFakeCenter(), newFakeCenter()
	addrA, addrB, addrC = serve(t, a), serve(t, b), deadAddr(t)
	members := []*placementpb.Member{{Id: 1, Addr: addrA}, {Id: 2, Addr: addrB}, {Id: 3, Addr: addrC}}
	a.status = &placementpb.StatusResponse{MemberId: 1, LeaderId: 1, LeaderAddr: addrA, Term: 5, CommitIndex: 100,
		AppliedIndex: 100, SnapshotIndex: 50, RaftState: "leader", Members: members}
	b.status = &placementpb.StatusResponse{MemberId: 2, LeaderId: 1, LeaderAddr: addrA, Term: 5, CommitIndex: 98,
		AppliedIndex: 97, SnapshotIndex: 50, RaftState: "follower", Members: members}
	return a, b, addrA, addrB, addrC
}

func TestClusterStatusTable(t *testing.T) {
	_, b, addrA, addrB, addrC := threeMembers(t)

	// Member 2 is not named: it is found through member 1's member list.
	r := runAt(t, addrA+","+addrC, "cluster", "status")
	if r.code != 0 {
		t.Fatalf("exit %d stderr %q", r.code, r.errOut)
	}
	want := [][]string{
		{"MEMBER", "ADDR", "STATE", "LEADER", "TERM", "COMMIT", "APPLIED", "SNAPSHOT"},
		{"1", addrA, "leader", "1", "5", "100", "100", "50"},
		{"2", addrB, "follower", "1", "5", "98", "97", "50"},
		{"3", addrC, "unreachable", "-", "-", "-", "-", "-"},
	}
	if got := tableLines(r.out); !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("status table\n%s\nwant fields %q", r.out, want)
	}
	if !strings.Contains(r.errOut, "warning: member at "+addrC+" unreachable") {
		t.Fatalf("stderr %q does not name the unreachable member", r.errOut)
	}
	if b.callCount() != 1 {
		t.Fatalf("discovered member asked %d times, want 1", b.callCount())
	}
}

func TestClusterStatusJSON(t *testing.T) {
	a, b, addrA, addrB, addrC := threeMembers(t)
	r := runAt(t, addrB+","+addrA+","+addrC, "cluster", "status", "-o", "json")
	if r.code != 0 {
		t.Fatalf("exit %d stderr %q", r.code, r.errOut)
	}
	got := protoList(t, r.out, func() *placementpb.StatusResponse { return &placementpb.StatusResponse{} })
	if len(got) != 2 || !proto.Equal(got[0], a.status) || !proto.Equal(got[1], b.status) {
		t.Fatalf("status json (want members 1 and 2 in id order):\n%s", r.out)
	}
	if !strings.Contains(r.errOut, addrC) {
		t.Fatalf("stderr %q does not name the unreachable member", r.errOut)
	}
}

func TestClusterStatusNobodyAnswers(t *testing.T) {
	r := runAt(t, deadAddr(t)+","+deadAddr(t), "cluster", "status")
	if r.code != 1 || r.out != "" || !strings.Contains(r.errOut, "error: no placement center member answered") {
		t.Fatalf("exit %d stdout %q stderr %q", r.code, r.out, r.errOut)
	}
}

func TestTypedErrorsPrintedWithDetail(t *testing.T) {
	f := newFakeCenter()
	addr := serve(t, f)
	for _, tc := range []struct {
		name string
		args []string
		want []string // substrings of stderr
	}{
		{"version mismatch", []string{"kv", "put", "greeting", "x", "--expect-version", "3"},
			[]string{"error: ", "(FailedPrecondition)", `version mismatch: kv "greeting" current version 7 (expected 3)`}},
		{"not found", []string{"kv", "get", "missing", "-o", "json"},
			[]string{"error: ", "(NotFound)", `not found: kv "missing"`}},
		{"already exists", []string{"tenant", "create", "default"},
			[]string{"error: ", "(AlreadyExists)", `already exists: tenant "default"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runAt(t, addr, tc.args...)
			if r.code != 1 || r.out != "" {
				t.Fatalf("exit %d stdout %q", r.code, r.out)
			}
			if !strings.HasPrefix(r.errOut, "error: ") {
				t.Fatalf("stderr %q does not start with error:", r.errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.errOut, w) {
					t.Fatalf("stderr %q lacks %q", r.errOut, w)
				}
			}
		})
	}
}

func TestNotLeaderDetailShownWhenNoMemberLeads(t *testing.T) {
	f := newFakeCenter()
	addr := serve(t, f)
	// The only member names itself as leader yet refuses: the client keeps
	// retrying until --timeout and then reports the last answer.
	f.setNotLeader(rpcerr.NotLeader(2, addr))
	r := runEnv(t, nil, "--placement", addr, "--timeout", "2s", "kv", "put", "k", "v")
	if r.code != 1 || r.out != "" {
		t.Fatalf("exit %d stdout %q", r.code, r.out)
	}
	if want := "not leader: leader is member 2 at " + addr; !strings.Contains(r.errOut, want) {
		t.Fatalf("stderr %q lacks %q", r.errOut, want)
	}
}

func TestFollowsNotLeaderToTheLeader(t *testing.T) {
	leader, follower := newFakeCenter(), newFakeCenter()
	leaderAddr, followerAddr := serve(t, leader), serve(t, follower)
	follower.setNotLeader(rpcerr.NotLeader(1, leaderAddr))
	r := runAt(t, followerAddr, "kv", "get", "greeting")
	mustSucceed(t, r)
	if leader.callCount() != 1 || follower.callCount() != 1 {
		t.Fatalf("leader got %d calls, follower %d; want 1 and 1", leader.callCount(), follower.callCount())
	}
}

func TestFlagValidation(t *testing.T) {
	f := newFakeCenter()
	addr := serve(t, f)
	acl := []string{"acl", "create", "--principal", "alice", "--resource", "t/#"}
	for _, tc := range []struct {
		name string
		args []string
		want string // substring of stderr
	}{
		{"bad output", []string{"kv", "get", "greeting", "-o", "yaml"}, `--output must be table or json, not "yaml"`},
		{"bad action", append(slices.Clone(acl), "--action", "fly", "--permission", "allow"), `--action must be publish, subscribe, read, write, admin or all, not "fly"`},
		{"unspecified action", append(slices.Clone(acl), "--action", "unspecified", "--permission", "allow"), "--action must be"},
		{"bad permission", append(slices.Clone(acl), "--action", "publish", "--permission", "maybe"), `--permission must be allow or deny, not "maybe"`},
		{"bad kind", []string{"node", "list", "--kind", "teapot"}, `--kind must be broker or journal, not "teapot"`},
		{"bad member id", []string{"cluster", "remove-member", "abc"}, `member id "abc"`},
		{"bad rule id", []string{"acl", "delete", "-1"}, "error: "},
		{"missing password", []string{"user", "create", "bob"}, `"password" not set`},
		{"zero timeout", []string{"--timeout", "0s", "kv", "get", "greeting"}, "--timeout must be positive"},
		{"too few args", []string{"kv", "put", "onlykey"}, "accepts 2 arg(s)"},
		{"unknown command", []string{"kv", "frobnicate"}, "error: "},
		{"unknown flag", []string{"kv", "get", "greeting", "--expect-version", "1"}, "unknown flag"},
		{"bad version", []string{"kv", "put", "k", "v", "--expect-version", "-1"}, "invalid argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runAt(t, addr, tc.args...)
			if r.code != 1 || r.out != "" || !strings.HasPrefix(r.errOut, "error: ") || !strings.Contains(r.errOut, tc.want) {
				t.Fatalf("exit %d stdout %q stderr %q; want exit 1 and stderr with %q", r.code, r.out, r.errOut, tc.want)
			}
		})
	}
	r := runEnv(t, nil, "--placement", " , ", "kv", "get", "greeting")
	if r.code != 1 || !strings.Contains(r.errOut, "--placement needs at least one host:port") {
		t.Fatalf("empty --placement: exit %d stderr %q", r.code, r.errOut)
	}
	if n := f.callCount(); n != 0 {
		t.Fatalf("invalid invocations made %d calls", n)
	}
}

func TestRequestsCarryTheFlags(t *testing.T) {
	f := newFakeCenter()
	addr := serve(t, f)

	r := runAt(t, addr, "acl", "create", "--tenant", "acme", "--principal", "alice", "--resource-type", "topic",
		"--resource", "sensors/#", "--action", "subscribe", "--permission", "deny")
	mustSucceed(t, r)
	wantRule := &placementpb.AclRule{Tenant: "acme", Principal: "alice", ResourceType: "topic", Resource: "sensors/#",
		Action: placementpb.AclAction_ACL_ACTION_SUBSCRIBE, Permission: placementpb.AclPermission_ACL_PERMISSION_DENY}
	if !proto.Equal(f.lastAclReq().GetRule(), wantRule) {
		t.Fatalf("rule sent %v, want %v", f.lastAclReq().GetRule(), wantRule)
	}
	if lines := tableLines(r.out); len(lines) != 2 || !slices.Equal(lines[1], []string{"12", "alice", "topic", "sensors/#", "subscribe", "deny"}) {
		t.Fatalf("acl table %q", lines)
	}

	r = runAt(t, addr, "node", "list", "--kind", "journal")
	mustSucceed(t, r)
	if f.lastNodeReq().GetKind() != placementpb.NodeKind_NODE_KIND_JOURNAL {
		t.Fatalf("kind sent %v", f.lastNodeReq().GetKind())
	}
	if lines := tableLines(r.out); len(lines) != 2 || !slices.Equal(lines[1], []string{"4", "journal", "127.0.0.1:2229", "alive", "2"}) {
		t.Fatalf("node table %q", lines)
	}
}

func TestTenantFlagReachesTheRequest(t *testing.T) {
	f := newFakeCenter()
	addr := serve(t, f)
	aclCreate := []string{"acl", "create", "--principal", "a", "--resource", "r", "--action", "all", "--permission", "allow"}
	for _, tc := range []struct {
		args          []string
		defaultTenant string // sent without --tenant
	}{
		{[]string{"shard", "create", "orders-0"}, "default"},
		{[]string{"shard", "describe", "orders-0"}, "default"},
		{[]string{"shard", "delete", "orders-0"}, "default"},
		{[]string{"shard", "list"}, ""},
		{[]string{"user", "create", "bob", "--password", "pw"}, "default"},
		{[]string{"user", "list"}, "default"},
		{[]string{"user", "delete", "bob"}, "default"},
		{aclCreate, "default"},
		{[]string{"acl", "list"}, "default"},
		{[]string{"acl", "delete", "12"}, "default"},
	} {
		t.Run(strings.Join(tc.args[:2], " "), func(t *testing.T) {
			// shard create warns on stderr; only the exit code matters here.
			if r := runAt(t, addr, tc.args...); r.code != 0 {
				t.Fatalf("exit %d stderr %q", r.code, r.errOut)
			}
			if got := f.lastTenant(); got != tc.defaultTenant {
				t.Fatalf("without --tenant sent tenant %q, want %q", got, tc.defaultTenant)
			}
			// describe answers NotFound for other tenants; the tenant was still sent.
			runAt(t, addr, append(slices.Clone(tc.args), "--tenant", "acme")...)
			if got := f.lastTenant(); got != "acme" {
				t.Fatalf("--tenant acme sent tenant %q", got)
			}
		})
	}
}

func TestShardCreatePrintsWarnings(t *testing.T) {
	addr := serve(t, newFakeCenter())
	r := runAt(t, addr, "shard", "create", "orders-1", "--replicas", "3")
	if r.code != 0 || r.errOut != "warning: replicas clamped from 3 to 1 (live journal nodes)\n" {
		t.Fatalf("exit %d stderr %q", r.code, r.errOut)
	}
	want := [][]string{
		strings.Fields("shard default/orders-1 replicas 1 ack-quorum 1 status active active segment 0"),
		nil,
		{"SEQ", "STATUS", "REPLICAS", "LEADER", "EPOCH", "ACK-QUORUM", "START", "END"},
		{"0", "open", "4", "4", "1", "1", "0", "-"},
	}
	if got := tableLines(r.out); !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("create table\n%s\nwant fields %q", r.out, want)
	}

	r = runAt(t, addr, "shard", "create", "orders-1", "-o", "json")
	var resp placementpb.CreateShardResponse
	var raw map[string]json.RawMessage
	oneJSON(t, r.out, &raw)
	if r.code != 0 || protojson.Unmarshal([]byte(r.out), &resp) != nil || len(resp.GetWarnings()) != 1 || resp.GetSegment().GetLeader() != 4 {
		t.Fatalf("create json: exit %d\n%s", r.code, r.out)
	}
}

func TestUserListNeverShowsSecrets(t *testing.T) {
	addr := serve(t, newFakeCenter())
	for _, args := range [][]string{
		{"user", "list", "-o", "table"}, {"user", "list", "-o", "json"},
		{"user", "create", "alice", "--password", "pw", "-o", "table"}, {"user", "create", "alice", "--password", "pw", "-o", "json"},
	} {
		output := strings.Join(args, " ")
		r := runAt(t, addr, args...)
		mustSucceed(t, r)
		if !strings.Contains(r.out, "alice") {
			t.Fatalf("%s: user missing:\n%s", output, r.out)
		}
		// The fake's salt and hash, raw and base64 (as protojson writes bytes).
		for _, secret := range []string{"SALT", "HASH", "U0FMVFNBTFQ", "SEFTSEhBU0hIQVNI", "salt", "passwordHash"} {
			if strings.Contains(r.out, secret) {
				t.Fatalf("%s output shows %q:\n%s", output, secret, r.out)
			}
		}
	}
}

func TestListsAreOneJSONArray(t *testing.T) {
	addr := serve(t, newFakeCenter())
	for _, tc := range []struct {
		prefix string
		want   int
	}{{"greet", 1}, {"nothing-here/", 0}} {
		r := runAt(t, addr, "kv", "list", tc.prefix, "-o", "json")
		mustSucceed(t, r)
		if got := protoList(t, r.out, func() *placementpb.KeyValue { return &placementpb.KeyValue{} }); len(got) != tc.want {
			t.Fatalf("prefix %q: %d elements, want %d:\n%s", tc.prefix, len(got), tc.want, r.out)
		}
		if tc.want == 0 && r.out != "[]\n" {
			t.Fatalf("empty list printed as %q, want []", r.out)
		}
	}
}

func TestPlacementFromEnvironment(t *testing.T) {
	addr := serve(t, newFakeCenter())
	env := map[string]string{PlacementEnv: addr}
	mustSucceed(t, runEnv(t, env, "--timeout", "5s", "kv", "get", "greeting"))

	// The flag wins over the environment.
	r := runEnv(t, env, "--timeout", "2s", "--placement", deadAddr(t), "kv", "get", "greeting")
	if r.code != 1 || !strings.Contains(r.errOut, "(Unavailable)") {
		t.Fatalf("--placement did not override the environment: exit %d stderr %q", r.code, r.errOut)
	}
}

func TestCompletionScripts(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		r := runEnv(t, nil, "completion", shell)
		mustSucceed(t, r)
		if !strings.Contains(r.out, "robustctl") || len(r.out) < 200 {
			t.Fatalf("%s completion script looks wrong:\n%.300s", shell, r.out)
		}
	}
}

func TestEveryCommandHasAnExample(t *testing.T) {
	root := newRoot(&env{out: io.Discard, errOut: io.Discard}, DefaultPlacement)
	var walk func(c *cobra.Command) int
	walk = func(c *cobra.Command) int {
		n := 1
		if strings.TrimSpace(c.Example) == "" {
			t.Errorf("%q has no example", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			n += walk(sub)
		}
		return n
	}
	// Root, help, completion + 4 shells, and the 7 groups with their
	// subcommands: far more than 20; fewer means commands went missing.
	if n := walk(root); n < 30 {
		t.Fatalf("only %d commands in the tree", n)
	}
	for _, path := range [][]string{
		{"cluster", "status"}, {"cluster", "add-member"}, {"cluster", "remove-member"}, {"node", "list"},
		{"kv", "put"}, {"kv", "get"}, {"kv", "delete"}, {"kv", "list"},
		{"tenant", "create"}, {"tenant", "list"}, {"tenant", "delete"},
		{"user", "create"}, {"user", "list"}, {"user", "delete"},
		{"acl", "create"}, {"acl", "list"}, {"acl", "delete"},
		{"shard", "create"}, {"shard", "describe"}, {"shard", "list"}, {"completion", "bash"}, {"completion", "zsh"}, {"completion", "fish"},
		{"node", "drain"}, {"node", "undrain"}, {"broker", "list"}, {"broker", "drain"}, {"broker", "undrain"},
		{"session", "list"}, {"session", "show"}, {"retained", "list"}, {"stream", "list"}, {"stream", "describe"},
	} {
		if c, _, err := root.Find(path); err != nil || c.Name() != path[len(path)-1] {
			t.Errorf("command %q not found (%v)", path, err)
		}
	}
	// topic is stream's alias: the same commands.
	for _, sub := range []string{"list", "describe", "create", "delete"} {
		viaTopic, _, err := root.Find([]string{"topic", sub})
		viaStream, _, _ := root.Find([]string{"stream", sub})
		if err != nil || viaTopic != viaStream {
			t.Errorf("topic %s is not stream %s (%v)", sub, sub, err)
		}
	}
}

func TestDescribe(t *testing.T) {
	notFound := rpcerr.NotFound("kv", "k")
	unknown, err := status.New(codes.Internal, "odd").WithDetails(protoadapt.MessageV1Of(&placementpb.Member{Id: 9, Addr: "x:1"}))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"plain", errors.New("boom"), "boom"},
		{"status", notFound, "kv \"k\" not found (NotFound)\n  not found: kv \"k\""},
		{"wrapped", fmt.Errorf("leaderclient: /x/Y: gave up after 2 attempts: %w", notFound),
			"leaderclient: /x/Y: gave up after 2 attempts: kv \"k\" not found (NotFound)\n  not found: kv \"k\""},
		{"no leader", rpcerr.NotLeader(0, ""), "not leader (leader 0 at \"\") (Unavailable)\n  not leader: no leader known"},
		{"unknown detail", unknown.Err(), "odd (Internal)\n  detail: robustmq.placement.v1.Member {\"id\":\"9\",\"addr\":\"x:1\"}"},
		{"no detail", status.Error(codes.DeadlineExceeded, "too slow"), "too slow (DeadlineExceeded)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// protojson may vary its spacing; compare without spaces.
			got, want := strings.ReplaceAll(describe(tc.err), " ", ""), strings.ReplaceAll(tc.want, " ", "")
			if got != want {
				t.Fatalf("describe = %q, want %q", describe(tc.err), tc.want)
			}
		})
	}
}

func TestCell(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		want string
	}{
		{[]byte("hello world"), "hello world"},
		{[]byte("a\tb"), `"a\tb"`},
		{[]byte("line\n"), `"line\n"`},
		{[]byte{0xff, 0x00}, `"\xff\x00"`},
		{nil, ""},
	} {
		if got := cell(tc.in); got != tc.want {
			t.Errorf("cell(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
