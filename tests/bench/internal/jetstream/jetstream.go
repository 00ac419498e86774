package jetstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/robustmq/robustmq-go/tests/bench/internal/cluster"
	"github.com/robustmq/robustmq-go/tests/bench/internal/procs"
	"github.com/robustmq/robustmq-go/tests/bench/internal/window"
)

// Members is the cluster size.
const Members = 3

// Options configure one JetStream cluster.
type Options struct {
	Binary     string // nats-server
	Name       string // cluster name, also the prefix of process and dir names
	WorkDir    string
	SyncAlways bool
	// ReadyTimeout bounds the start: routes up, a meta leader, and a
	// replicas-3 stream created.
	ReadyTimeout time.Duration
}

// Cluster is a running JetStream cluster.
type Cluster struct {
	Name       string
	SyncAlways bool
	URLs       []string          // nats://127.0.0.1:PORT
	byName     map[string]string // server name -> client URL
	members    []*procs.Proc
	group      *procs.Group
}

// config is one member's configuration file.
func config(name, cluster, clientAddr, httpAddr, clusterAddr, storeDir string, routes []string, syncAlways bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "server_name: %q\nlisten: %q\nhttp: %q\n", name, clientAddr, httpAddr)
	fmt.Fprintf(&b, "jetstream {\n  store_dir: %q\n", storeDir)
	if syncAlways {
		b.WriteString("  sync_interval: \"always\"\n")
	}
	b.WriteString("}\n")
	fmt.Fprintf(&b, "cluster {\n  name: %q\n  listen: %q\n  routes: [\n", cluster, clusterAddr)
	for _, r := range routes {
		fmt.Fprintf(&b, "    %q\n", r)
	}
	b.WriteString("  ]\n}\n")
	return b.String()
}

// Start writes the members' configs, starts them, and waits until a
// replicas-3 file stream can be created.
func Start(ctx context.Context, g *procs.Group, o Options) (*Cluster, error) {
	ports, err := cluster.FreePorts(3 * Members)
	if err != nil {
		return nil, err
	}
	c := &Cluster{Name: o.Name, SyncAlways: o.SyncAlways, byName: map[string]string{}, group: g}
	var routes []string
	for i := range Members {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", ports[3*i+2]))
	}
	for i := range Members {
		name := fmt.Sprintf("%s-n%d", o.Name, i+1)
		client := fmt.Sprintf("127.0.0.1:%d", ports[3*i])
		dir := filepath.Join(o.WorkDir, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("jetstream: %w", err)
		}
		cfgPath := filepath.Join(dir, "nats.conf")
		cfg := config(name, o.Name, client, fmt.Sprintf("127.0.0.1:%d", ports[3*i+1]),
			fmt.Sprintf("127.0.0.1:%d", ports[3*i+2]), filepath.Join(dir, "store"), routes, o.SyncAlways)
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
			return nil, fmt.Errorf("jetstream: %w", err)
		}
		p, err := g.Start(procs.Spec{Name: name, Path: o.Binary, Args: []string{"-c", cfgPath}})
		if err != nil {
			return nil, err
		}
		c.members = append(c.members, p)
		c.URLs = append(c.URLs, "nats://"+client)
		c.byName[name] = "nats://" + client
	}
	rctx, cancel := context.WithTimeout(ctx, o.ReadyTimeout)
	defer cancel()
	if err := c.poll(rctx, func(ctx context.Context) error {
		s, err := c.OpenStream(ctx, "ready", 1, time.Second)
		if err != nil {
			return err
		}
		defer s.Close()
		done := make(chan error, 1)
		if err := s.Submit(func(err error) { done <- err }); err != nil {
			return err
		}
		select {
		case err := <-done:
			if err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
		return s.Delete(ctx)
	}); err != nil {
		if errors.Is(rctx.Err(), context.Canceled) {
			return nil, fmt.Errorf("jetstream %s: interrupted while waiting for it: %w", o.Name, err)
		}
		return nil, fmt.Errorf("jetstream %s: not ready within %v: %w\nmember logs:\n%s", o.Name, o.ReadyTimeout, err, g.LogTails(15))
	}
	return c, nil
}

func (c *Cluster) poll(ctx context.Context, probe func(context.Context) error) error {
	var last error
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, m := range c.members {
			select {
			case <-m.Exited():
				return fmt.Errorf("%s exited: %v", m.Name, m.ExitErr())
			default:
			}
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := probe(pctx)
		cancel()
		if err == nil {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last probe: %v)", ctx.Err(), last)
		case <-tick.C:
		}
	}
}

// Stream is a replicas-3 file stream and a publisher connected to the
// stream leader's server.
type Stream struct {
	Name    string
	Leader  string // server name
	subject string
	value   []byte
	timeout time.Duration

	admin jetstream.JetStream
	anc   *nats.Conn
	nc    *nats.Conn
	js    jetstream.JetStream

	mu      sync.Mutex
	pending map[*nats.Msg]func(error)
}

// OpenStream creates stream name (replicas 3, file storage, one subject)
// and connects a publisher to its leader's server with at most window
// publishes pending an ack (the benchmark's concurrency).
func (c *Cluster) OpenStream(ctx context.Context, name string, window int, timeout time.Duration) (*Stream, error) {
	anc, err := nats.Connect(strings.Join(c.URLs, ","), nats.Name("robustmq-bench-admin"), nats.MaxReconnects(5))
	if err != nil {
		return nil, fmt.Errorf("jetstream: connect: %w", err)
	}
	admin, err := jetstream.New(anc)
	if err != nil {
		anc.Close()
		return nil, err
	}
	s := &Stream{Name: name, subject: "bench." + name, timeout: timeout, admin: admin, anc: anc, pending: map[*nats.Msg]func(error){}}
	st, err := admin.CreateStream(ctx, jetstream.StreamConfig{
		Name:     name,
		Subjects: []string{s.subject},
		Storage:  jetstream.FileStorage,
		Replicas: Members,
	})
	if err != nil {
		anc.Close()
		return nil, fmt.Errorf("jetstream: create stream %s: %w", name, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("jetstream: stream info %s: %w", name, err)
	}
	if info.Cluster == nil || info.Cluster.Leader == "" {
		s.Close()
		return nil, fmt.Errorf("jetstream: stream %s has no leader yet", name)
	}
	if n := len(info.Cluster.Replicas) + 1; n != Members {
		s.Close()
		return nil, fmt.Errorf("jetstream: stream %s has %d replicas, want %d", name, n, Members)
	}
	s.Leader = info.Cluster.Leader
	url, ok := c.byName[s.Leader]
	if !ok {
		s.Close()
		return nil, fmt.Errorf("jetstream: stream %s leader %q is not a member", name, s.Leader)
	}
	// The publisher dials the leader only (no randomised server list), as
	// the journal producer writes to the segment leader directly.
	s.nc, err = nats.Connect(url, nats.Name("robustmq-bench"), nats.DontRandomize(), nats.MaxReconnects(5))
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("jetstream: connect %s: %w", url, err)
	}
	s.js, err = jetstream.New(s.nc,
		jetstream.WithPublishAsyncMaxPending(window),
		jetstream.WithPublishAsyncTimeout(timeout),
		jetstream.WithPublishAsyncAckHandler(func(_ jetstream.JetStream, m *nats.Msg, _ *jetstream.PubAck) { s.complete(m, nil) }),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, m *nats.Msg, err error) { s.complete(m, err) }),
	)
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// SetValue sets the record every publish carries.
func (s *Stream) SetValue(v []byte) { s.value = v }

func (s *Stream) complete(m *nats.Msg, err error) {
	s.mu.Lock()
	done, ok := s.pending[m]
	delete(s.pending, m)
	s.mu.Unlock()
	if ok {
		done(err)
	}
}

// Submit is the window.Submit of one publish.
func (s *Stream) Submit(done func(error)) error {
	m := &nats.Msg{Subject: s.subject, Data: s.value}
	if m.Data == nil {
		m.Data = []byte("ready")
	}
	s.mu.Lock()
	s.pending[m] = done
	s.mu.Unlock()
	if _, err := s.js.PublishMsgAsync(m); err != nil {
		s.mu.Lock()
		_, still := s.pending[m]
		delete(s.pending, m)
		s.mu.Unlock()
		if !still {
			// A handler already reported it; done was called.
			return nil
		}
		return err
	}
	return nil
}

var _ window.Submit = (*Stream)(nil).Submit

// Delete removes the stream (and its data).
func (s *Stream) Delete(ctx context.Context) error {
	return s.admin.DeleteStream(ctx, s.Name)
}

// Close closes the connections.
func (s *Stream) Close() {
	if s.nc != nil {
		s.nc.Close()
	}
	s.anc.Close()
}

// Version asks the nats-server binary for its version, for the record.
func Version(bin string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--version").Output()
	if err != nil {
		return "unknown version"
	}
	return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(out)), "nats-server:"))
}

// OpenStreams opens a fresh R3 stream name on each cluster, with at most
// inflight publishes in flight, each publishing value. closeAll deletes
// and closes them; a failed delete is only reported on stderr. On an
// error the streams already open are closed.
func OpenStreams(ctx context.Context, clusters []*Cluster, name string, inflight int, value []byte, readyTimeout, publishTimeout time.Duration,
	stderr io.Writer) (streams []*Stream, closeAll func(), err error) {
	closeAll = func() {
		for _, s := range streams {
			dctx, cancel := context.WithTimeout(ctx, readyTimeout)
			if err := s.Delete(dctx); err != nil {
				fmt.Fprintf(stderr, "jetstream: delete stream %s: %v\n", name, err)
			}
			cancel()
			s.Close()
		}
	}
	for _, c := range clusters {
		octx, cancel := context.WithTimeout(ctx, readyTimeout)
		s, err := c.OpenStream(octx, name, inflight, publishTimeout)
		cancel()
		if err != nil {
			closeAll()
			return nil, func() {}, err
		}
		s.SetValue(value)
		streams = append(streams, s)
	}
	return streams, closeAll, nil
}
