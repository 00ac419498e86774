package mqttbench

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/robustmq/robustmq-go/tests/bench/internal/broker"
	"github.com/robustmq/robustmq-go/tests/bench/internal/mosquitto"
	"github.com/robustmq/robustmq-go/tests/bench/internal/mqttwire"
	"github.com/robustmq/robustmq-go/tests/bench/internal/window"
	"github.com/robustmq/robustmq-go/tests/bench/internal/workspace"
)

// system is one broker under test.
type system struct {
	name string
	addr string
}

// Run starts both systems, runs the scenarios and prints the tables and
// JSON lines to stdout (progress to stderr). Children never outlive it.
func Run(ctx context.Context, o Options, stdout, stderr io.Writer) (err error) {
	ws, err := workspace.Open([]string{o.PlacementBin, o.JournalBin, o.BrokerBin, o.MosquittoBin,
		filepath.Join(o.PlacementConfigDir, "node-1.toml"), filepath.Join(o.JournalConfigDir, "node-1.toml")},
		"run `make build`, install the Debian package mosquitto, or pass the --*-bin / --*-config-dir flags", o.WorkDir, "robustmq-bench-mqtt-")
	if err != nil {
		return err
	}
	workDir, group := ws.Dir, ws.Group
	var ours *broker.Cluster
	defer func() {
		if ours != nil {
			_ = ours.Close()
		}
		err = ws.Close(err, o.Keep, 2*time.Second, stderr)
	}()

	fmt.Fprintf(stderr, "starting placement center (%d), journal (%d), broker-server (1) and mosquitto under %s\n", o.Nodes, o.Nodes, workDir)
	ours, err = broker.Start(ctx, group, broker.Options{
		PlacementBin: o.PlacementBin, PlacementConfigDir: o.PlacementConfigDir,
		JournalBin: o.JournalBin, JournalConfigDir: o.JournalConfigDir, BrokerBin: o.BrokerBin,
		WorkDir: workDir, Nodes: o.Nodes, ReadyTimeout: o.ReadyTimeout,
	})
	if err != nil {
		return err
	}
	peer, err := mosquitto.Start(ctx, group, mosquitto.Options{Binary: o.MosquittoBin, WorkDir: workDir, ReadyTimeout: o.ReadyTimeout})
	if err != nil {
		return err
	}
	replicas := "replicas 1"
	if o.Nodes == 3 {
		replicas = "replicas 3, ack quorum 2"
	}
	fmt.Fprintf(stdout, "# robustmq broker-server (1) over placement-center (%d) and journal-server (%d), message stream %s, fsync before PUBACK"+
		" vs mosquitto %s with its defaults (persistence false: memory only, no fsync; max_inflight_messages 20, max_queued_messages 1000)\n",
		o.Nodes, o.Nodes, replicas, peer.Version)
	fmt.Fprintf(stdout, "# loopback, %d CPUs, %s; client: this binary's MQTT 3.1.1 client (mqttwire), one connection per publisher and subscriber;"+
		" %v measured per system per step after %v warmup; %d-byte payloads\n",
		runtime.NumCPU(), runtime.Version(), o.Duration, o.Warmup, o.PayloadBytes)

	systems := []system{{SystemOurs, ours.Addr}, {SystemPeer, peer.Addr}}
	idx := 0
	emit := func(s Step) error {
		s.finish()
		fmt.Fprintln(stdout)
		if err := s.WriteTable(stdout); err != nil {
			return err
		}
		line, err := s.JSONLine()
		if err != nil {
			return err
		}
		if _, err := stdout.Write(line); err != nil {
			return fmt.Errorf("write result: %w", err)
		}
		return nil
	}
	// both runs measure on each system, the order alternating by step so
	// whatever one leaves behind (write-back, GC) falls on each in turn.
	both := func(step *Step, measure func(system) (Result, error)) error {
		order := systems
		if idx%2 == 1 {
			order = []system{systems[1], systems[0]}
		}
		idx++
		step.LoadAvg = workspace.LoadAvg()
		step.Nodes = o.Nodes
		step.PayloadBytes = o.PayloadBytes
		for i, sys := range order {
			if i > 0 {
				if err := window.Settle(ctx, o.Settle); err != nil {
					return err
				}
			}
			r, err := measure(sys)
			if err != nil {
				return fmt.Errorf("%s %s: %w", step.Scenario, sys.name, err)
			}
			r.System = sys.name
			if sys.name == SystemOurs {
				step.Ours = r
			} else {
				step.Peer = r
			}
		}
		if err := emit(*step); err != nil {
			return err
		}
		return window.Settle(ctx, o.Settle)
	}

	for _, sc := range o.Scenarios {
		switch sc {
		case ScenarioQoS1:
			for _, p := range o.Publishers {
				step := Step{Scenario: ScenarioQoS1, Publishers: p, Window: o.Window}
				run := fmt.Sprintf("q1-%d", idx)
				if err := both(&step, func(sys system) (Result, error) { return measureQoS1(ctx, sys, run, p, o, stderr) }); err != nil {
					return err
				}
			}
		case ScenarioQoS0:
			step := Step{Scenario: ScenarioQoS0, Publishers: o.FaninPubs}
			run := fmt.Sprintf("q0-%d", idx)
			if err := both(&step, func(sys system) (Result, error) { return measureQoS0(ctx, sys, run, o, stderr) }); err != nil {
				return err
			}
		case ScenarioSlow:
			for _, session := range o.SlowSessions {
				step := Step{Scenario: ScenarioSlow, Publishers: o.SlowPubs, Window: o.Window, Session: session,
					AckDelayMs: round(float64(o.SlowAckDelay)*millisPerNano, 3)}
				run := fmt.Sprintf("slow-%d", idx)
				if err := both(&step, func(sys system) (Result, error) { return measureSlow(ctx, sys, run, session, o, stderr) }); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// conns is the connections of one measurement, closed together.
type conns struct {
	sub  *mqttwire.Conn
	pubs []*mqttwire.Conn
}

func (c *conns) close() {
	var wg sync.WaitGroup
	for _, p := range c.pubs {
		wg.Go(func() { p.Close() })
	}
	if c.sub != nil {
		wg.Go(func() { c.sub.Close() })
	}
	wg.Wait()
}

// open connects the subscriber (subscribed to prefix/# at qos) and n
// publishers (topics prefix/pI), then probes until a message from the
// first publisher reaches the subscriber.
// The subscriber's connection is sent on subReady (when not nil) as soon
// as it is up.
func open(ctx context.Context, sys system, prefix string, n int, qos byte, sub mqttwire.Options, col *collector, o Options, subReady chan<- *mqttwire.Conn) (*conns, []string, error) {
	c := &conns{}
	dctx, cancel := context.WithTimeout(ctx, o.ReadyTimeout)
	defer cancel()
	var err error
	sub.ClientID = strings.ReplaceAll(prefix, "/", "-") + "-sub"
	if c.sub, err = mqttwire.Dial(dctx, sys.addr, sub); err != nil {
		return nil, nil, err
	}
	if subReady != nil {
		subReady <- c.sub
	}
	if _, err := c.sub.Subscribe(dctx, prefix+"/#", qos); err != nil {
		c.close()
		return nil, nil, err
	}
	topics := make([]string, n)
	for i := range n {
		topics[i] = fmt.Sprintf("%s/p%d", prefix, i)
		p, err := mqttwire.Dial(dctx, sys.addr, mqttwire.Options{ClientID: fmt.Sprintf("%s-pub-%d", strings.ReplaceAll(prefix, "/", "-"), i), CleanSession: true})
		if err != nil {
			c.close()
			return nil, nil, err
		}
		c.pubs = append(c.pubs, p)
	}
	if err := probe(ctx, c.pubs[0], topics[0], col, o.PayloadBytes, o.ReadyTimeout); err != nil {
		c.close()
		return nil, nil, err
	}
	return c, topics, nil
}

func measureQoS1(ctx context.Context, sys system, run string, n int, o Options, stderr io.Writer) (Result, error) {
	col := newCollector(true)
	c, topics, err := open(ctx, sys, "bench/"+run+"/"+sys.name, n, 1, mqttwire.Options{CleanSession: true, OnMessage: col.onMessage}, col, o, nil)
	if err != nil {
		return Result{}, err
	}
	defer c.close()
	drain := o.RequestTimeout + 5*time.Second
	if o.Warmup > 0 {
		fmt.Fprintf(stderr, "%s qos1 publishers=%d: warmup %v\n", sys.name, n, o.Warmup)
		col.reset(phaseWarmup)
		w, err := publishQoS1(ctx, c.pubs, topics, phaseWarmup, o.Window, o.Warmup, o.MaxMessages, o.PayloadBytes, drain)
		if err != nil {
			return Result{}, fmt.Errorf("warmup: %w", err)
		}
		if _, err := col.waitFor(ctx, w.acked, min(time.Second, o.IdleTimeout), o.DrainTimeout); err != nil {
			return Result{}, err
		}
	}
	fmt.Fprintf(stderr, "%s qos1 publishers=%d: measuring %v\n", sys.name, n, o.Duration)
	col.reset(phaseMeasure)
	res, err := publishQoS1(ctx, c.pubs, topics, phaseMeasure, o.Window, o.Duration, o.MaxMessages, o.PayloadBytes, drain)
	if err != nil {
		return Result{}, err
	}
	if res.acked == 0 {
		return Result{}, fmt.Errorf("no publish acknowledged (%d errors, first: %v)", res.errors, res.firstErr)
	}
	if _, err := col.waitFor(ctx, res.acked, o.IdleTimeout, o.DrainTimeout); err != nil {
		return Result{}, err
	}
	r := Result{System: sys.name, Published: res.acked, PubErrors: res.errors, PubElapsedS: round(res.elapsed.Seconds(), 3)}
	r.PubPerS = round(float64(res.acked)/res.elapsed.Seconds(), 1)
	r.PubackP50Ms, r.PubackP99Ms = latencies(res.latencies)
	deliveredStats(&r, col, res.started, res.ended)
	if res.errors > 0 {
		r.Note = fmt.Sprintf("%d publishes failed, first: %v", res.errors, res.firstErr)
	}
	return r, nil
}

// deliveredStats fills the subscriber's side of r.
func deliveredStats(r *Result, col *collector, started, ended time.Time) {
	count, dups, last := col.snapshot()
	r.Delivered, r.Duplicates = count, dups
	if count > 0 && last.After(started) {
		r.DeliveredPerS = round(float64(count)/last.Sub(started).Seconds(), 1)
		r.DrainS = round(max(0, last.Sub(ended).Seconds()), 3)
	}
	r.E2EP50Ms, r.E2EP99Ms = latencies(col.latencies())
	r.finishLoss()
}

func measureQoS0(ctx context.Context, sys system, run string, o Options, stderr io.Writer) (Result, error) {
	col := newCollector(false)
	c, topics, err := open(ctx, sys, "bench/"+run+"/"+sys.name, o.FaninPubs, 0, mqttwire.Options{CleanSession: true, OnMessage: col.onMessage}, col, o, nil)
	if err != nil {
		return Result{}, err
	}
	defer c.close()
	if o.Warmup > 0 {
		fmt.Fprintf(stderr, "%s qos0-fanin publishers=%d: warmup %v\n", sys.name, o.FaninPubs, o.Warmup)
		col.reset(phaseWarmup)
		n, _, err := publishQoS0(ctx, c.pubs, topics, phaseWarmup, o.Warmup, o.MaxMessages, o.PayloadBytes)
		if err != nil {
			return Result{}, fmt.Errorf("warmup: %w", err)
		}
		if _, err := col.waitFor(ctx, n, min(time.Second, o.IdleTimeout), o.DrainTimeout); err != nil {
			return Result{}, err
		}
	}
	fmt.Fprintf(stderr, "%s qos0-fanin publishers=%d: measuring %v\n", sys.name, o.FaninPubs, o.Duration)
	col.reset(phaseMeasure)
	started := time.Now()
	n, elapsed, err := publishQoS0(ctx, c.pubs, topics, phaseMeasure, o.Duration, o.MaxMessages, o.PayloadBytes)
	if err != nil {
		return Result{}, err
	}
	ended := time.Now()
	if _, err := col.waitFor(ctx, n, o.IdleTimeout, o.DrainTimeout); err != nil {
		return Result{}, err
	}
	r := Result{System: sys.name, Published: n, PubElapsedS: round(elapsed.Seconds(), 3), PubPerS: round(float64(n)/elapsed.Seconds(), 1)}
	deliveredStats(&r, col, started, ended)
	r.Note = fmt.Sprintf("delivered msg/s = messages received / time from the first publish to the last delivery; %.1f s of it after the publishers stopped", r.DrainS)
	return r, nil
}

func measureSlow(ctx context.Context, sys system, run, session string, o Options, stderr io.Writer) (Result, error) {
	col := newCollector(true)
	ids := make(chan uint16, 1<<16)
	subOpts := mqttwire.Options{CleanSession: session == SessionClean, ManualAck: true, OnMessage: func(m mqttwire.Message) {
		col.onMessage(m)
		if m.QoS == 1 {
			ids <- m.PacketID
		}
	}}
	// The acker is started before the subscription exists so the probe's
	// messages are acknowledged too (once the connection is known); it
	// ends with this function.
	stop := make(chan struct{})
	ready := make(chan *mqttwire.Conn, 1)
	var acker sync.WaitGroup
	acker.Go(func() {
		var sub *mqttwire.Conn
		select {
		case sub = <-ready:
		case <-stop:
			return
		}
		for {
			select {
			case <-stop:
				return
			case id := <-ids:
				if o.SlowAckDelay > 0 {
					select {
					case <-time.After(o.SlowAckDelay):
					case <-stop:
						return
					}
				}
				_ = sub.Ack(id)
			}
		}
	})
	defer func() {
		close(stop)
		acker.Wait()
	}()
	c, topics, err := open(ctx, sys, "bench/"+run+"/"+sys.name+"/"+session, o.SlowPubs, 1, subOpts, col, o, ready)
	if err != nil {
		return Result{}, err
	}
	defer c.close()

	fmt.Fprintf(stderr, "%s slow-subscriber %s session: %d publishers x %d QoS 1 messages, one PUBACK per %v\n",
		sys.name, session, o.SlowPubs, o.SlowMessages, o.SlowAckDelay)
	col.reset(phaseMeasure)
	res, err := publishQoS1(ctx, c.pubs, topics, phaseMeasure, o.Window, o.DrainTimeout, o.SlowMessages, o.PayloadBytes, o.RequestTimeout+5*time.Second)
	if err != nil {
		return Result{}, err
	}
	if res.acked == 0 {
		return Result{}, fmt.Errorf("no publish acknowledged (%d errors, first: %v)", res.errors, res.firstErr)
	}
	if _, err := col.waitFor(ctx, res.acked, o.IdleTimeout, o.DrainTimeout); err != nil {
		return Result{}, err
	}
	r := Result{System: sys.name, Published: res.acked, PubErrors: res.errors, PubElapsedS: round(res.elapsed.Seconds(), 3)}
	r.PubPerS = round(float64(res.acked)/res.elapsed.Seconds(), 1)
	r.PubackP50Ms, r.PubackP99Ms = latencies(res.latencies)
	deliveredStats(&r, col, res.started, res.ended)
	r.Note = fmt.Sprintf("%d acknowledged to the publishers, %d distinct delivered (%d duplicates), waited %.1f s after the last PUBACK",
		r.Published, r.Delivered, r.Duplicates, r.DrainS)
	if res.errors > 0 {
		r.Note += fmt.Sprintf("; %d publishes failed, first: %v", res.errors, res.firstErr)
	}
	return r, nil
}
