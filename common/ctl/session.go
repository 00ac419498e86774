package ctl

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/robustmq/robustmq-go/proto/gen/brokerpb"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// The brokers keep MQTT state in the placement center's KV (see
// proto/robustmq/broker/v1/broker.proto); these are its key prefixes.
func sessionPrefix(tenant string) string  { return "mqtt/" + tenant + "/sessions/" }
func retainedPrefix(tenant string) string { return "mqtt/" + tenant + "/retained/" }

// expiryNever is the MQTT session expiry interval that never expires.
const expiryNever = 0xFFFFFFFF

// expiry renders a session expiry interval in seconds.
func expiry(s uint32) string {
	if s == expiryNever {
		return "never"
	}
	return (time.Duration(s) * time.Second).String()
}

// decodeRecords decodes the values of kvs as T. A value that does not decode is reported on warn and
// left out, so one bad record does not hide the others.
func decodeRecords[T proto.Message](kvs []*placementpb.KeyValue, newT func() T, warn func(string)) []T {
	var out []T
	for _, kv := range kvs {
		m := newT()
		if err := proto.Unmarshal(kv.GetValue(), m); err != nil {
			warn(fmt.Sprintf("key %q: not a %s record: %v", kv.GetKey(), m.ProtoReflect().Descriptor().Name(), err))
			continue
		}
		out = append(out, m)
	}
	return out
}

func sessionHeader() []string {
	return []string{"CLIENT-ID", "OWNER", "CONNECTED", "EXPIRY", "DISCONNECTED", "SUBSCRIPTIONS", "POSITIONS"}
}

func sessionRow(s *brokerpb.MqttSession) []string {
	owner := "-"
	if s.GetOwner() != 0 {
		owner = u64(s.GetOwner())
	}
	return []string{cell([]byte(s.GetClientId())), owner, strconv.FormatBool(s.GetConnected()), expiry(s.GetExpiryInterval()),
		ms(s.GetDisconnectedMs()), strconv.Itoa(len(s.GetSubscriptions())), strconv.Itoa(len(s.GetPositions()))}
}

// sessionDetail prints one session: its fields, then a table of its
// subscriptions and one of its log positions.
func sessionDetail(e *env, tenant string, version uint64, s *brokerpb.MqttSession) error {
	owner := "none (waiting for its client)"
	if s.GetOwner() != 0 {
		owner = fmt.Sprintf("broker %d (incarnation %d)", s.GetOwner(), s.GetOwnerIncarnation())
	}
	will := "-"
	if w := s.GetWill(); w != nil {
		will = fmt.Sprintf("%s qos %d retain %t, %d bytes, delay %ds", cell([]byte(w.GetTopic())), w.GetQos(), w.GetRetain(),
			len(w.GetPayload()), s.GetWillDelay())
	}
	rows := [][]string{
		{"client id", cell([]byte(s.GetClientId()))},
		{"tenant", tenant},
		{"owner", owner},
		{"connected", strconv.FormatBool(s.GetConnected())},
		{"expiry interval", expiry(s.GetExpiryInterval())},
		{"disconnected at", ms(s.GetDisconnectedMs())},
		{"will", will},
		{"record version", u64(version)},
	}
	for _, r := range rows {
		if _, err := fmt.Fprintf(e.out, "%-16s %s\n", r[0]+":", r[1]); err != nil {
			return err
		}
	}
	fmt.Fprintln(e.out)
	subs := make([][]string, 0, len(s.GetSubscriptions()))
	for _, sub := range s.GetSubscriptions() {
		id := "-"
		if sub.GetId() != 0 {
			id = u32(sub.GetId())
		}
		subs = append(subs, []string{cell([]byte(sub.GetFilter())), u32(sub.GetQos()), strconv.FormatBool(sub.GetNoLocal()),
			strconv.FormatBool(sub.GetRetainAsPublished()), u32(sub.GetRetainHandling()), id})
	}
	if err := table(e.out, []string{"FILTER", "QOS", "NO-LOCAL", "RETAIN-AS-PUBLISHED", "RETAIN-HANDLING", "SUBSCRIPTION-ID"}, subs); err != nil {
		return err
	}
	fmt.Fprintln(e.out)
	var pos [][]string
	for _, p := range slices.Sorted(maps.Keys(s.GetPositions())) {
		pos = append(pos, []string{u32(p), u64(s.GetPositions()[p])})
	}
	return table(e.out, []string{"PARTITION", "NEXT-OFFSET"}, pos)
}

func sessionCmd(e *env) *cobra.Command {
	c := group("session", "MQTT sessions as the brokers record them in the placement center",
		"  robustctl session list\n  robustctl session show sensor-17")
	var limit uint32
	list := &cobra.Command{
		Use:   "list",
		Short: "List a tenant's MQTT sessions: owner broker, connected, expiry, subscription count",
		Long: `List a tenant's MQTT session records (placement KV mqtt/<tenant>/sessions/).
OWNER is the broker node holding the session ("-": none, the session waits
for its client), EXPIRY the session expiry interval, DISCONNECTED when the
client went away, POSITIONS the number of message-stream partitions the
session has a read position in. A record that does not decode is reported
on stderr and skipped.`,
		Example: "  robustctl session list\n  robustctl session list --tenant acme -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			api, err := e.api()
			if err != nil {
				return err
			}
			ctx, cancel := e.ctx(cmd)
			defer cancel()
			prefix := sessionPrefix(tenantOf(cmd))
			resp, err := api.ListKV(ctx, &placementpb.ListKVRequest{Prefix: prefix, Limit: limit})
			if err != nil {
				return err
			}
			sessions := decodeRecords(resp.GetKvs(), func() *brokerpb.MqttSession { return &brokerpb.MqttSession{} },
				func(w string) { fmt.Fprintln(e.errOut, "warning:", w) })
			return show(e, sessions, false, sessionHeader(), sessionRow)
		},
	}
	list.Flags().Uint32Var(&limit, "limit", 0, "at most this many sessions (0: all)")
	showCmd := &cobra.Command{
		Use:   "show CLIENT_ID",
		Short: "Show one MQTT session: owner, state, subscriptions and message-stream positions",
		Long: `Show the session record of CLIENT_ID: the owner broker and its incarnation,
connected or since when not, the expiry interval, the will message, every
subscription with its options, and per message-stream partition the first
offset the session has not finished with.`,
		Example: "  robustctl session show sensor-17\n  robustctl session show sensor-17 --tenant acme -o json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := e.api()
			if err != nil {
				return err
			}
			ctx, cancel := e.ctx(cmd)
			defer cancel()
			tenant := tenantOf(cmd)
			resp, err := api.GetKV(ctx, &placementpb.GetKVRequest{Key: sessionPrefix(tenant) + args[0]})
			if err != nil {
				return err
			}
			s := &brokerpb.MqttSession{}
			if err := proto.Unmarshal(resp.GetKv().GetValue(), s); err != nil {
				return fmt.Errorf("session %q: the record does not decode: %w", args[0], err)
			}
			if e.output == outputJSON {
				return printJSON(e.out, []*brokerpb.MqttSession{s}, true)
			}
			return sessionDetail(e, tenant, resp.GetKv().GetVersion(), s)
		},
	}
	for _, sub := range []*cobra.Command{list, showCmd} {
		addTenantFlag(sub, "default", "the sessions' tenant")
		c.AddCommand(sub)
	}
	return c
}

// payloadLimit is how many payload bytes a table cell shows.
const payloadLimit = 32

func payloadCell(p []byte) string {
	if len(p) == 0 {
		return "-"
	}
	if len(p) > payloadLimit {
		return cell(p[:payloadLimit]) + "..."
	}
	return cell(p)
}

func retainedCmd(e *env) *cobra.Command {
	c := group("retained", "MQTT retained messages as the brokers record them in the placement center",
		"  robustctl retained list")
	var limit uint32
	list := &cobra.Command{
		Use:   "list",
		Short: "List a tenant's retained MQTT messages",
		Long: `List a tenant's retained messages (placement KV mqtt/<tenant>/retained/):
topic, QoS, payload size and its first bytes, the publishing client and the
expiry time. JSON output carries the whole messages (payloads in base64).`,
		Example: "  robustctl retained list\n  robustctl retained list --tenant acme -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			api, err := e.api()
			if err != nil {
				return err
			}
			ctx, cancel := e.ctx(cmd)
			defer cancel()
			prefix := retainedPrefix(tenantOf(cmd))
			resp, err := api.ListKV(ctx, &placementpb.ListKVRequest{Prefix: prefix, Limit: limit})
			if err != nil {
				return err
			}
			msgs := decodeRecords(resp.GetKvs(), func() *brokerpb.MqttMessage { return &brokerpb.MqttMessage{} },
				func(w string) { fmt.Fprintln(e.errOut, "warning:", w) })
			return show(e, msgs, false, []string{"TOPIC", "QOS", "BYTES", "PAYLOAD", "FROM", "EXPIRES"}, func(m *brokerpb.MqttMessage) []string {
				from := m.GetFrom()
				if from == "" {
					from = "-"
				}
				return []string{cell([]byte(m.GetTopic())), u32(m.GetQos()), strconv.Itoa(len(m.GetPayload())), payloadCell(m.GetPayload()),
					cell([]byte(from)), ms(m.GetExpiresMs())}
			})
		},
	}
	list.Flags().Uint32Var(&limit, "limit", 0, "at most this many messages (0: all)")
	addTenantFlag(list, "default", "the messages' tenant")
	c.AddCommand(list)
	return c
}
