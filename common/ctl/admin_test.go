package ctl

import (
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/robustmq/robustmq-go/proto/gen/brokerpb"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

func TestBrokerListShowsListenersAndStatus(t *testing.T) {
	f := newFakeCenter()
	addr := serve(t, f)

	r := runAt(t, addr, "broker", "list")
	mustSucceed(t, r)
	want := [][]string{
		{"ID", "STATUS", "GRPC", "LISTENERS", "INCARNATION", "REGISTERED"},
		{"7", "alive", "127.0.0.1:1230", "mqtt=127.0.0.1:1883,mqtt-ws=127.0.0.1:8083", "1", "2023-11-14T22:13:20Z"},
		{"9", "dead", "127.0.0.1:1231", "-", "3", "-"},
	}
	if got := tableLines(r.out); !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("broker list\n%s\nwant fields %q", r.out, want)
	}
	if f.lastNodeReq().GetKind() != placementpb.NodeKind_NODE_KIND_BROKER {
		t.Fatalf("broker list asked for kind %v", f.lastNodeReq().GetKind())
	}

	r = runAt(t, addr, "broker", "list", "-o", "json")
	mustSucceed(t, r)
	got := protoList(t, r.out, func() *placementpb.ClusterNode { return &placementpb.ClusterNode{} })
	if len(got) != 2 || !proto.Equal(got[0], f.nodes[7]) || got[1].GetNodeId() != 9 {
		t.Fatalf("broker list json:\n%s", r.out)
	}
}

func TestBrokerDrainAndUndrain(t *testing.T) {
	f := newFakeCenter()
	addr := serve(t, f)

	r := runAt(t, addr, "broker", "drain", "7")
	mustSucceed(t, r)
	want := [][]string{
		{"ID", "KIND", "STATUS", "GRPC", "LISTENERS", "INCARNATION"},
		{"7", "broker", "draining", "127.0.0.1:1230", "mqtt=127.0.0.1:1883,mqtt-ws=127.0.0.1:8083", "1"},
	}
	if got := tableLines(r.out); !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("broker drain\n%s\nwant fields %q", r.out, want)
	}
	if lines := tableLines(runAt(t, addr, "broker", "list").out); lines[1][1] != "draining" {
		t.Fatalf("broker list after drain: %q", lines)
	}

	r = runAt(t, addr, "broker", "undrain", "7", "-o", "json")
	mustSucceed(t, r)
	var n placementpb.ClusterNode
	oneJSON(t, r.out, &map[string]any{})
	if err := protojson.Unmarshal([]byte(r.out), &n); err != nil || n.GetStatus() != placementpb.NodeStatus_NODE_STATUS_ALIVE {
		t.Fatalf("undrain json %q: %v", r.out, err)
	}
	if f.statusChanges() != 2 {
		t.Fatalf("%d status changes sent, want 2", f.statusChanges())
	}

	// node drain takes any kind; broker drain refuses a journal node
	// without changing anything.
	r = runAt(t, addr, "node", "drain", "4")
	mustSucceed(t, r)
	if lines := tableLines(r.out); len(lines) != 2 || lines[1][1] != "journal" || lines[1][2] != "draining" {
		t.Fatalf("node drain: %q", lines)
	}
	mustSucceed(t, runAt(t, addr, "node", "undrain", "4"))
	before := f.statusChanges()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"broker", "drain", "4"}, "node 4 is a journal node, not a broker: use robustctl node drain 4"},
		{[]string{"broker", "undrain", "4"}, "use robustctl node undrain 4"},
		{[]string{"broker", "drain", "99"}, "no node with id 99 is registered"},
		{[]string{"broker", "drain", "x"}, `node id "x": must be a positive integer`},
		{[]string{"node", "drain", "0"}, `node id "0": must be a positive integer`},
		{[]string{"broker", "drain"}, "accepts 1 arg(s)"},
	} {
		r := runAt(t, addr, tc.args...)
		if r.code != 1 || r.out != "" || !strings.Contains(r.errOut, tc.want) {
			t.Errorf("%q: exit %d stdout %q stderr %q, want %q", tc.args, r.code, r.out, r.errOut, tc.want)
		}
	}
	if f.statusChanges() != before {
		t.Fatalf("refused invocations sent %d status changes", f.statusChanges()-before)
	}
	// The server's refusal (a dead node) is shown as any typed error.
	r = runAt(t, addr, "broker", "drain", "9")
	if r.code != 1 || !strings.Contains(r.errOut, "(FailedPrecondition)") {
		t.Fatalf("drain of a dead broker: exit %d stderr %q", r.code, r.errOut)
	}
}

// session17 is a session record as a broker writes it.
func session17() *brokerpb.MqttSession {
	return &brokerpb.MqttSession{ClientId: "sensor-17", Owner: 7, OwnerIncarnation: 1, Connected: true, ExpiryInterval: 3600,
		Subscriptions: []*brokerpb.Subscription{
			{Filter: "sensors/+/temp", Qos: 1, Id: 4},
			{Filter: "$share/g/alerts/#", Qos: 2, NoLocal: true, RetainAsPublished: true, RetainHandling: 2},
		},
		Positions: map[uint32]uint64{1: 99, 0: 42},
		Will:      &brokerpb.MqttMessage{Topic: "sensors/17/status", Payload: []byte("offline"), Qos: 1, Retain: true},
		WillDelay: 5,
	}
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSessionListAndShow(t *testing.T) {
	f := newFakeCenter()
	addr := serve(t, f)
	waiting := &brokerpb.MqttSession{ClientId: "old", ExpiryInterval: 0xFFFFFFFF, DisconnectedMs: 1_700_000_000_000}
	f.putRaw("mqtt/default/sessions/sensor-17", mustMarshal(t, session17()))
	f.putRaw("mqtt/default/sessions/old", mustMarshal(t, waiting))
	f.putRaw("mqtt/default/sessions/broken", []byte{0xff})
	f.putRaw("mqtt/acme/sessions/other", mustMarshal(t, &brokerpb.MqttSession{ClientId: "other"}))
	f.putRaw("mqtt/default/retained/a", mustMarshal(t, &brokerpb.MqttMessage{Topic: "a", Retain: true}))

	r := runAt(t, addr, "session", "list")
	if r.code != 0 || !strings.Contains(r.errOut, `warning: key "mqtt/default/sessions/broken": not a MqttSession record`) {
		t.Fatalf("exit %d stderr %q", r.code, r.errOut)
	}
	want := [][]string{
		{"CLIENT-ID", "OWNER", "CONNECTED", "EXPIRY", "DISCONNECTED", "SUBSCRIPTIONS", "POSITIONS"},
		{"old", "-", "false", "never", "2023-11-14T22:13:20Z", "0", "0"},
		{"sensor-17", "7", "true", "1h0m0s", "-", "2", "2"},
	}
	if got := tableLines(r.out); !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("session list\n%s\nwant fields %q", r.out, want)
	}

	r = runAt(t, addr, "session", "list", "-o", "json")
	got := protoList(t, r.out, func() *brokerpb.MqttSession { return &brokerpb.MqttSession{} })
	if len(got) != 2 || !proto.Equal(got[0], waiting) || !proto.Equal(got[1], session17()) {
		t.Fatalf("session list json:\n%s", r.out)
	}
	r = runAt(t, addr, "session", "list", "--tenant", "acme", "-o", "json")
	if got := protoList(t, r.out, func() *brokerpb.MqttSession { return &brokerpb.MqttSession{} }); len(got) != 1 || got[0].GetClientId() != "other" {
		t.Fatalf("session list --tenant acme:\n%s", r.out)
	}

	r = runAt(t, addr, "session", "show", "sensor-17")
	mustSucceed(t, r)
	for _, line := range []string{
		"client id:       sensor-17",
		"owner:           broker 7 (incarnation 1)",
		"connected:       true",
		"expiry interval: 1h0m0s",
		"will:            sensors/17/status qos 1 retain true, 7 bytes, delay 5s",
		"record version:  5",
	} {
		if !strings.Contains(r.out, line+"\n") {
			t.Errorf("session show lacks %q:\n%s", line, r.out)
		}
	}
	lines := tableLines(r.out)
	for _, row := range [][]string{
		{"FILTER", "QOS", "NO-LOCAL", "RETAIN-AS-PUBLISHED", "RETAIN-HANDLING", "SUBSCRIPTION-ID"},
		{"sensors/+/temp", "1", "false", "false", "0", "4"},
		{"$share/g/alerts/#", "2", "true", "true", "2", "-"},
		{"PARTITION", "NEXT-OFFSET"}, {"0", "42"}, {"1", "99"},
	} {
		if !slices.ContainsFunc(lines, func(l []string) bool { return slices.Equal(l, row) }) {
			t.Errorf("session show lacks row %q:\n%s", row, r.out)
		}
	}

	r = runAt(t, addr, "session", "show", "sensor-17", "-o", "json")
	var s brokerpb.MqttSession
	oneJSON(t, r.out, &map[string]any{})
	if err := protojson.Unmarshal([]byte(r.out), &s); err != nil || !proto.Equal(&s, session17()) {
		t.Fatalf("session show json: %v\n%s", err, r.out)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"session", "show", "nobody"}, `not found: kv "mqtt/default/sessions/nobody"`},
		{[]string{"session", "show", "broken"}, `session "broken": the record does not decode`},
		{[]string{"session", "show", "sensor-17", "--tenant", "acme"}, `not found: kv "mqtt/acme/sessions/sensor-17"`},
	} {
		r := runAt(t, addr, tc.args...)
		if r.code != 1 || r.out != "" || !strings.Contains(r.errOut, tc.want) {
			t.Errorf("%q: exit %d stdout %q stderr %q, want %q", tc.args, r.code, r.out, r.errOut, tc.want)
		}
	}
}

func TestRetainedList(t *testing.T) {
	f := newFakeCenter()
	addr := serve(t, f)
	long := &brokerpb.MqttMessage{Topic: "status/b", Payload: []byte(strings.Repeat("x", 40)), Qos: 1, Retain: true, From: "dev-2",
		ExpiresMs: 1_700_000_000_000}
	short := &brokerpb.MqttMessage{Topic: "status/a", Payload: []byte("on"), Retain: true}
	f.putRaw("mqtt/default/retained/status/b", mustMarshal(t, long))
	f.putRaw("mqtt/default/retained/status/a", mustMarshal(t, short))
	f.putRaw("mqtt/default/sessions/x", mustMarshal(t, &brokerpb.MqttSession{ClientId: "x"}))

	r := runAt(t, addr, "retained", "list")
	mustSucceed(t, r)
	want := [][]string{
		{"TOPIC", "QOS", "BYTES", "PAYLOAD", "FROM", "EXPIRES"},
		{"status/a", "0", "2", "on", "-", "-"},
		{"status/b", "1", "40", strings.Repeat("x", 32) + "...", "dev-2", "2023-11-14T22:13:20Z"},
	}
	if got := tableLines(r.out); !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("retained list\n%s\nwant fields %q", r.out, want)
	}
	r = runAt(t, addr, "retained", "list", "-o", "json", "--limit", "1")
	if got := protoList(t, r.out, func() *brokerpb.MqttMessage { return &brokerpb.MqttMessage{} }); len(got) != 1 || !proto.Equal(got[0], short) {
		t.Fatalf("retained list json:\n%s", r.out)
	}
}

func TestWriteReferenceCoversEveryCommand(t *testing.T) {
	var a, b strings.Builder
	if err := WriteReference(&a); err != nil {
		t.Fatal(err)
	}
	if err := WriteReference(&b); err != nil || a.String() != b.String() {
		t.Fatalf("second reference differs (%v)", err)
	}
	doc := a.String()
	root := newRoot(&env{out: io.Discard, errOut: io.Discard}, DefaultPlacement)
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			heading := "`" + sub.CommandPath() + "`\n\n"
			if !strings.Contains(doc, "## "+heading) {
				t.Errorf("no section for %s", sub.CommandPath())
			}
			if sub.Example != "" && !strings.Contains(doc, "```sh\n"+sub.Example+"\n```") {
				t.Errorf("%s: examples missing", sub.CommandPath())
			}
			walk(sub)
		}
	}
	walk(root)
	for _, want := range []string{"Also called: `topic`.", "--tenant string", "&lt;message&gt;"} {
		if !strings.Contains(doc, want) {
			t.Errorf("reference lacks %q", want)
		}
	}
	if strings.Contains(doc, "-h, --help") {
		t.Error("the help flag is listed among a command's flags")
	}
}
