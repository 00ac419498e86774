package mqtt

import (
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/robustmq/robustmq-go/tests/harness"
)

// With [auth] enabled, clients log in as users of the tenant (robustctl
// user create) and their topics are checked against the ACL rules
// (robustctl acl create), with "deny" when no rule matches.
func TestIntegrationAuthAndACL(t *testing.T) {
	pc := harness.StartPlacement(t, harness.PlacementOptions{Members: 1})
	harness.StartJournal(t, harness.JournalOptions{Nodes: 1, Placement: pc.Addrs()})
	addrs := pc.Addrs()
	harness.Robustctl(t, addrs, "user", "create", "alice", "--password", "s3cret")
	harness.Robustctl(t, addrs, "user", "create", "root", "--password", "r00t", "--superuser")
	harness.Robustctl(t, addrs, "acl", "create", "--principal", "alice", "--resource-type", "topic", "--resource", "sensors/#",
		"--action", "all", "--permission", "allow")
	harness.Robustctl(t, addrs, "acl", "create", "--principal", "alice", "--resource-type", "topic", "--resource", "sensors/secret/#",
		"--action", "publish", "--permission", "deny")
	bc := harness.StartBroker(t, harness.BrokerOptions{Placement: addrs,
		Env: []string{"ROBUSTMQ_BROKER_AUTH_ENABLED=true", "ROBUSTMQ_BROKER_AUTH_ACL_DEFAULT=deny"}})
	b := bc.Broker(0)

	connack := func(cp *paho.Connect) *paho.Connack {
		t.Helper()
		nc, err := net.DialTimeout("tcp", b.MQTT, wait)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		c := paho.NewClient(paho.ClientConfig{ClientID: cp.ClientID, Conn: nc, PacketTimeout: wait})
		ca, err := c.Connect(ctxT(t), cp)
		if err == nil {
			_ = c.Disconnect(&paho.Disconnect{})
		}
		if ca == nil {
			t.Fatalf("no CONNACK: %v", err)
		}
		return ca
	}
	t.Run("Authentication", func(t *testing.T) {
		if ca := connack(&paho.Connect{ClientID: "anon", CleanStart: true}); ca.ReasonCode != 0x87 {
			t.Errorf("anonymous: CONNACK 0x%02x, want 0x87", ca.ReasonCode)
		}
		if ca := connack(&paho.Connect{ClientID: "bad", CleanStart: true, UsernameFlag: true, Username: "alice",
			PasswordFlag: true, Password: []byte("wrong")}); ca.ReasonCode != 0x86 {
			t.Errorf("wrong password: CONNACK 0x%02x, want 0x86", ca.ReasonCode)
		}
		if ca := connack(&paho.Connect{ClientID: "ok", CleanStart: true, UsernameFlag: true, Username: "alice",
			PasswordFlag: true, Password: []byte("s3cret")}); ca.ReasonCode != 0 {
			t.Errorf("right password: CONNACK 0x%02x", ca.ReasonCode)
		}
		// MQTT 3.1.1: return code 4 (bad user name or password).
		o := mqtt3.NewClientOptions().AddBroker("tcp://" + b.MQTT).SetClientID("v3bad").SetUsername("alice").
			SetPassword("wrong").SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(wait)
		k := mqtt3.NewClient(o).Connect()
		if !k.WaitTimeout(wait) || k.Error() == nil {
			t.Fatal("3.1.1 client with a wrong password connected")
		}
	})

	t.Run("ACL", func(t *testing.T) {
		// root (superuser) watches everything.
		s := newSink()
		root := connect3(t, "tcp://"+b.MQTT, "root", true, s, func(o *mqtt3.ClientOptions) { o.SetUsername("root").SetPassword("r00t") })
		tok(t, root.Subscribe("#", 1, nil))

		alice := connect5(t, b.MQTT, &paho.Connect{ClientID: "alice", CleanStart: true, KeepAlive: 30, UsernameFlag: true,
			Username: "alice", PasswordFlag: true, Password: []byte("s3cret")})
		sa, err := alice.Subscribe(ctxT(t), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
			{Topic: "sensors/#", QoS: 1}, {Topic: "other/#", QoS: 1}}})
		if err != nil && sa == nil {
			t.Fatal(err)
		}
		if len(sa.Reasons) != 2 || sa.Reasons[0] != 1 || sa.Reasons[1] != 0x87 {
			t.Fatalf("SUBACK %v, want [1 0x87]", sa.Reasons)
		}
		for topic, want := range map[string]byte{"sensors/a": 0, "other/x": 0x87, "sensors/secret/k": 0x87} {
			pr, err := alice.Publish(ctxT(t), &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(topic)})
			if pr == nil {
				t.Fatalf("publish %s: %v", topic, err)
			}
			if pr.ReasonCode != want {
				t.Errorf("publish %s: PUBACK 0x%02x, want 0x%02x", topic, pr.ReasonCode, want)
			}
		}
		// Only the allowed publish reached root.
		m := s.next(t)
		if m.topic != "sensors/a" {
			t.Fatalf("root got %+v", m)
		}
		s.none(t, 500*time.Millisecond)

		// MQTT 3.1.1 has no negative PUBACK: a refused publish is
		// acknowledged and dropped.
		a3 := connect3(t, "tcp://"+b.MQTT, "alice3", true, nil, func(o *mqtt3.ClientOptions) { o.SetUsername("alice").SetPassword("s3cret") })
		tok(t, a3.Publish("other/y", 1, false, "dropped"))
		s.none(t, 500*time.Millisecond)
	})
}
