package mqtt

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/robustmq/robustmq-go/tests/harness"
)

// Elastic scaling while clients publish (issue 6): a fourth journal node
// joins and new segments land on it; a third broker joins and serves new
// connections; a broker is drained (its MQTT 5 subscriber is sent to
// another broker, where its session resumes) and removed. Every QoS 1
// message acknowledged to the publisher reaches the subscriber.
func TestIntegrationElasticScaling(t *testing.T) {
	pc := harness.StartPlacement(t, harness.PlacementOptions{Members: 1})
	jc := harness.StartJournal(t, harness.JournalOptions{Nodes: 3, Placement: pc.Addrs()})
	bc := harness.StartBroker(t, harness.BrokerOptions{Brokers: 2, Placement: pc.Addrs(),
		Env: []string{"ROBUSTMQ_BROKER_CLUSTER_COMMIT_INTERVAL=100ms"}})
	c := &cluster{placement: pc, journal: jc, brokers: bc}
	b2 := bc.Broker(1)

	// A persistent MQTT 5 subscriber on broker 2, a publisher on broker 1
	// publishing QoS 1 until told to stop; acked counts what it was
	// acknowledged.
	expiry := uint32(600)
	cp := &paho.Connect{ClientID: "elastic-sub", CleanStart: true, KeepAlive: 30,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}}
	sub := connect5(t, b2.MQTT, cp)
	if _, err := sub.Subscribe(ctxT(t), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "el/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	pub := connect3(t, c.url(0), "elastic-pub", true, nil, nil)
	var acked atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 100000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			k := pub.Publish(fmt.Sprintf("el/%d", i%7), 1, false, fmt.Sprint("e-", i))
			if !k.WaitTimeout(wait) || k.Error() != nil {
				t.Errorf("publish %d: %v", i, k.Error())
				return
			}
			acked.Store(int64(i + 1))
			time.Sleep(2 * time.Millisecond)
		}
	}()
	got := map[string]int{}
	var gotMu sync.Mutex
	collect := func(cl *client5, d time.Duration) {
		deadline := time.After(d)
		for {
			select {
			case m := <-cl.msgs:
				gotMu.Lock()
				got[string(m.Payload)]++
				gotMu.Unlock()
			case <-deadline:
				return
			}
		}
	}
	collect(sub, 300*time.Millisecond)

	// A fourth journal node: a stream created now places replicas on it.
	t.Logf("acked %d before the journal node joins", acked.Load())
	j4 := jc.Add(100)
	t.Logf("acked %d after the journal node joined", acked.Load())
	harness.Robustctl(t, pc.Addrs(), "stream", "create", "after-scale", "--partitions", "4", "--replicas", "3")
	var view struct {
		Parts []struct {
			Segments []struct {
				Replicas []uint64 `json:"replicas"`
			} `json:"segments"`
		} `json:"partitionList"`
	}
	if err := json.Unmarshal([]byte(harness.Robustctl(t, pc.Addrs(), "stream", "describe", "after-scale", "-o", "json")), &view); err != nil {
		t.Fatal(err)
	}
	on4 := 0
	for _, p := range view.Parts {
		for _, s := range p.Segments {
			if slices.Contains(s.Replicas, j4.ID) {
				on4++
			}
		}
	}
	if on4 == 0 {
		t.Fatalf("no segment of a new stream on the new journal node %d: %+v", j4.ID, view)
	}
	t.Logf("journal node %d holds %d of 4 new segments", j4.ID, on4)
	collect(sub, 200*time.Millisecond)

	// A third broker serves new connections, across the cluster.
	t.Logf("acked %d before broker 3", acked.Load())
	b3 := bc.Add()
	t.Logf("acked %d after broker 3", acked.Load())
	s3 := newSink()
	on3 := connect3(t, "tcp://"+b3.MQTT, "on-broker-3", true, s3, nil)
	tok(t, on3.Subscribe("el/#", 0, nil))
	if m := s3.next(t); m.topic == "" {
		t.Fatal("broker 3 client got nothing")
	}

	// Drain broker 2: the subscriber is sent away and resumes elsewhere.
	id2 := brokerID(t, c, b2.GRPC)
	t.Logf("acked %d before the drain", acked.Load())
	harness.Robustctl(t, pc.Addrs(), "broker", "drain", fmt.Sprint(id2))
	var ref string
	deadline := time.After(wait)
	for ref == "" {
		select {
		case d := <-sub.disconnects:
			if d.ReasonCode != 0x9C || d.Properties == nil || d.Properties.ServerReference == "" {
				t.Fatalf("DISCONNECT %+v", d)
			}
			ref = d.Properties.ServerReference
		case m := <-sub.msgs:
			got[string(m.Payload)]++
		case <-deadline:
			t.Fatal("the drained broker's client was not sent away")
		}
	}
	if ref == b2.MQTT {
		t.Fatalf("Server Reference names the drained broker")
	}
	// What the first connection received (and acknowledged) before it was
	// sent away counts too.
	for drained := false; !drained; {
		select {
		case m := <-sub.msgs:
			got[string(m.Payload)]++
		default:
			drained = true
		}
	}
	cp.CleanStart = false
	t.Logf("acked %d before the move", acked.Load())
	moved := connect5(t, ref, cp)
	if !moved.connack.SessionPresent {
		t.Fatal("session not present after the move")
	}
	if err := b2.Stop(); err != nil {
		t.Fatalf("stopping the drained broker: %v", err)
	}
	collect(moved, 500*time.Millisecond)

	close(stop)
	wg.Wait()
	n := int(acked.Load())
	want := map[string]bool{}
	for i := range n {
		want[fmt.Sprint("e-", i)] = true
	}
	for end := time.Now().Add(wait); time.Now().Before(end); {
		gotMu.Lock()
		missingN := 0
		for p := range want {
			if got[p] == 0 {
				missingN++
			}
		}
		gotMu.Unlock()
		if missingN == 0 {
			break
		}
		collect(moved, 200*time.Millisecond)
	}
	var miss []string
	for p := range want {
		if got[p] == 0 {
			miss = append(miss, p)
		}
	}
	if len(miss) > 0 {
		slices.Sort(miss)
		t.Fatalf("%d of %d acknowledged messages never arrived: %v", len(miss), n, miss[:min(len(miss), 20)])
	}
	dups := 0
	for p, k := range got {
		if want[p] {
			dups += k - 1
		}
	}
	t.Logf("%d messages acknowledged while scaling; all received, %d twice", n, dups)
}
