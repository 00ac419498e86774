package sys

import (
	"context"
	"fmt"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/robustmq/robustmq-go/broker-server/internal/core"
)

// Prefix starts every topic this package publishes: Prefix + node + "/...".
const Prefix = "$SYS/brokers/"

// Stats is one reading of the broker's numbers.
type Stats struct {
	// Clients is the connected clients.
	Clients int64
	// Sessions is the sessions the broker holds (connected or not).
	Sessions int64
	// Subscriptions is the subscriptions of the connected clients.
	Subscriptions int64
	// MessagesReceived and MessagesSent count PUBLISH packets from and to
	// clients since start; BytesReceived and BytesSent count every byte.
	MessagesReceived uint64
	MessagesSent     uint64
	BytesReceived    uint64
	BytesSent        uint64
}

// Source gives the current numbers (the MQTT front end implements it).
type Source interface {
	Stats() Stats
}

// Publisher takes a message for routing and retaining (the broker core);
// an error means it was not stored.
type Publisher interface {
	Publish(ctx context.Context, m *core.Message) error
}

// PublisherFunc adapts a function to Publisher.
type PublisherFunc func(ctx context.Context, m *core.Message) error

// Publish implements Publisher.
func (f PublisherFunc) Publish(ctx context.Context, m *core.Message) error { return f(ctx, m) }

// Options configure a Reporter.
type Options struct {
	// Interval between two publications (default 10s).
	Interval time.Duration
	// Node names the broker in the topics; "" until SetNode is called
	// (nothing is published without a node).
	Node string
	// Version is published under .../version (default: BuildVersion()).
	Version string
	// Now is the clock (default time.Now).
	Now    func() time.Time
	Logger zerolog.Logger
}

// Reporter publishes Stats periodically.
type Reporter struct {
	src   Source
	pub   Publisher
	opts  Options
	start time.Time

	mu   sync.Mutex
	node string
}

// New returns a Reporter that reads src and publishes through pub.
func New(src Source, pub Publisher, opts Options) *Reporter {
	if opts.Interval <= 0 {
		opts.Interval = 10 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Version == "" {
		opts.Version = BuildVersion()
	}
	return &Reporter{src: src, pub: pub, opts: opts, start: opts.Now(), node: opts.Node}
}

// SetNode sets the node name used in the topics (for a broker whose id is
// assigned at registration); the next tick publishes under it.
func (r *Reporter) SetNode(node string) {
	r.mu.Lock()
	r.node = node
	r.mu.Unlock()
}

// Run publishes at once and then every interval until ctx ends; it always
// returns nil (a reading that cannot be published is logged and the next
// one tried).
func (r *Reporter) Run(ctx context.Context) error {
	t := time.NewTicker(r.opts.Interval)
	defer t.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, r.opts.Interval)
		if _, err := r.PublishNow(rctx); err != nil && ctx.Err() == nil {
			r.opts.Logger.Warn().Err(err).Msg("$SYS statistics not published")
		}
		cancel()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// PublishNow publishes one reading; it reports whether it did (not
// without a node name) and the first error of the Publisher.
func (r *Reporter) PublishNow(ctx context.Context) (bool, error) {
	r.mu.Lock()
	node := r.node
	r.mu.Unlock()
	if node == "" {
		return false, nil
	}
	now := r.opts.Now()
	st := r.src.Stats()
	// Retained, and expiring after three missed intervals: a broker that
	// is gone (or got another node id) leaves no stale statistics behind.
	expires := now.Add(3 * r.opts.Interval)
	base := Prefix + node + "/"
	for _, kv := range []struct {
		topic, value string
	}{
		{"version", r.opts.Version},
		{"uptime", strconv.FormatInt(int64(now.Sub(r.start)/time.Second), 10)},
		{"clients/connected", strconv.FormatInt(st.Clients, 10)},
		{"sessions/count", strconv.FormatInt(st.Sessions, 10)},
		{"subscriptions/count", strconv.FormatInt(st.Subscriptions, 10)},
		{"messages/received", strconv.FormatUint(st.MessagesReceived, 10)},
		{"messages/sent", strconv.FormatUint(st.MessagesSent, 10)},
		{"bytes/received", strconv.FormatUint(st.BytesReceived, 10)},
		{"bytes/sent", strconv.FormatUint(st.BytesSent, 10)},
	} {
		if err := r.pub.Publish(ctx, &core.Message{Topic: base + kv.topic, Payload: []byte(kv.value), Retain: true,
			Expires: expires, PayloadFormat: 1, HasPayloadFormat: true}); err != nil {
			return true, fmt.Errorf("publish %s: %w", base+kv.topic, err)
		}
	}
	r.opts.Logger.Debug().Str("node", node).Msg("$SYS statistics published")
	return true, nil
}

// BuildVersion is the main module's version and VCS revision from the
// build information ("devel" when there is none).
func BuildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	v := bi.Main.Version
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += "+" + s.Value[:12]
		}
	}
	return v
}
