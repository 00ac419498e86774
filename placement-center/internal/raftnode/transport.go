package raftnode

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

const (
	// peerQueueLen bounds the messages waiting for one peer; beyond it
	// messages are dropped and the peer reported unreachable, which raft
	// recovers from by probing.
	peerQueueLen = 4096
	backoffMin   = 50 * time.Millisecond
	backoffMax   = time.Second
	// maxSnapshotMsgBytes lets a MsgSnap carrying a large state through the
	// gRPC client; the receiving server must allow it too.
	maxSnapshotMsgBytes = 1 << 30
)

// peerReporter is how senders give raft feedback about delivery.
type peerReporter interface {
	reportUnreachable(id uint64)
	reportSnapshot(id uint64, st raft.SnapshotStatus)
}

type outbound struct {
	data []byte
	snap bool
}

// transport owns one sender goroutine per peer. It is created by Run and
// stopped before Run returns.
type transport struct {
	selfAddr string
	log      zerolog.Logger
	report   peerReporter
	ctx      context.Context // parent of every sender

	mu      sync.Mutex
	stopped bool
	peers   map[uint64]*peerSender
	wg      sync.WaitGroup
}

type peerSender struct {
	id     uint64
	addr   string
	queue  chan outbound
	cancel context.CancelFunc
}

func newTransport(ctx context.Context, selfAddr string, report peerReporter, log zerolog.Logger) *transport {
	return &transport{selfAddr: selfAddr, log: log, report: report, ctx: ctx, peers: make(map[uint64]*peerSender)}
}

// setPeers makes the senders match addrs: new peers get a sender, peers
// whose address changed get a new one, absent peers are stopped.
func (t *transport) setPeers(addrs map[uint64]string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	for id, p := range t.peers {
		if addr, ok := addrs[id]; !ok || addr != p.addr {
			p.cancel()
			delete(t.peers, id)
			t.log.Info().Uint64("peer", id).Str("addr", p.addr).Msg("raft peer sender stopped")
		}
	}
	for id, addr := range addrs {
		if _, ok := t.peers[id]; ok || addr == "" {
			continue
		}
		ctx, cancel := context.WithCancel(t.ctx)
		p := &peerSender{id: id, addr: addr, queue: make(chan outbound, peerQueueLen), cancel: cancel}
		t.peers[id] = p
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			t.runPeer(ctx, p)
		}()
		t.log.Info().Uint64("peer", id).Str("addr", addr).Msg("raft peer sender started")
	}
}

// send queues data for peer to; false means it was not queued (unknown
// peer or full queue) and the caller must report the failure to raft.
func (t *transport) send(to uint64, m outbound) bool {
	t.mu.Lock()
	p, ok := t.peers[to]
	t.mu.Unlock()
	if !ok {
		return false
	}
	select {
	case p.queue <- m:
		return true
	default:
		return false
	}
}

// stop stops every sender and waits for them.
func (t *transport) stop() {
	t.mu.Lock()
	t.stopped = true
	for id, p := range t.peers {
		p.cancel()
		delete(t.peers, id)
	}
	t.mu.Unlock()
	t.wg.Wait()
}

// runPeer streams p's queue until ctx is done, reconnecting with backoff.
func (t *transport) runPeer(ctx context.Context, p *peerSender) {
	defer t.dropQueued(p)
	backoff := backoffMin
	for ctx.Err() == nil {
		delivered, err := t.stream(ctx, p)
		if ctx.Err() != nil {
			return
		}
		if delivered {
			backoff = backoffMin
		}
		t.log.Debug().Err(err).Uint64("peer", p.id).Str("addr", p.addr).Msg("raft stream to peer failed")
		t.report.reportUnreachable(p.id)
		// What was queued while the stream was failing is stale; raft
		// resends what matters once it probes the peer again.
		t.dropQueued(p)
		timer := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		backoff = min(2*backoff, backoffMax)
	}
}

// stream opens one client stream to p and sends queued messages on it
// until an error; delivered reports whether any message went out.
func (t *transport) stream(ctx context.Context, p *peerSender) (delivered bool, err error) {
	conn, err := grpc.NewClient(p.addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(maxSnapshotMsgBytes)))
	if err != nil {
		return false, err
	}
	defer func() { _ = conn.Close() }()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := placementpb.NewRaftTransportClient(conn).Send(sctx)
	if err != nil {
		return false, err
	}
	// The sender's address rides only on the stream's first envelope: the
	// receiver learns it from that one (a stream has one sender), and
	// later envelopes stay small.
	fromAddr := t.selfAddr
	for {
		select {
		case <-ctx.Done():
			return delivered, ctx.Err()
		case m := <-p.queue:
			err := st.Send(&placementpb.RaftEnvelope{Message: m.data, FromAddr: fromAddr})
			if errors.Is(err, io.EOF) {
				// The real error is in the stream's status.
				_, err = st.CloseAndRecv()
				if err == nil {
					err = io.EOF
				}
			}
			if err != nil {
				if m.snap {
					t.report.reportSnapshot(p.id, raft.SnapshotFailure)
				}
				return delivered, err
			}
			delivered = true
			fromAddr = ""
			if m.snap {
				// Handed to the stream: raft moves the follower to probing
				// and resends a snapshot if it did not arrive.
				t.report.reportSnapshot(p.id, raft.SnapshotFinish)
			}
		}
	}
}

// dropQueued empties p's queue, failing any snapshot in it.
func (t *transport) dropQueued(p *peerSender) {
	for {
		select {
		case m := <-p.queue:
			if m.snap {
				t.report.reportSnapshot(p.id, raft.SnapshotFailure)
			}
		default:
			return
		}
	}
}

// transportServer receives peers' streams and steps their messages into
// the node.
type transportServer struct {
	placementpb.UnimplementedRaftTransportServer
	n *Node
}

func (s transportServer) Send(stream placementpb.RaftTransport_SendServer) error {
	// Messages are received and stepped into the node by a goroutine of
	// their own, so the handler can return as soon as the node stops: a
	// peer's idle stream would otherwise hold a graceful gRPC shutdown until
	// its timeout. That goroutine ends when Recv fails, which it does once
	// this handler has returned and the stream is gone; a message it steps
	// after the node stopped is refused by receive. done carries nil for the
	// peer's clean end of stream, else why receiving stopped.
	done := make(chan error, 1)
	go func() {
		for {
			env, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				done <- nil
				return
			}
			if err != nil {
				done <- err
				return
			}
			m := &raftpb.Message{}
			if err := proto.Unmarshal(env.GetMessage(), m); err != nil {
				done <- rpcerr.InvalidArgument("message", err.Error())
				return
			}
			if err := s.n.receive(m, env.GetFromAddr()); err != nil {
				done <- err
				return
			}
		}
	}()
	select {
	case <-s.n.stopping:
		return errNotRunning
	case <-stream.Context().Done():
		return stream.Context().Err()
	case err := <-done:
		if err != nil {
			return err
		}
		return stream.SendAndClose(&placementpb.RaftAck{})
	}
}

// errNotRunning is returned to peers while this member does not run.
var errNotRunning = status.Error(codes.Unavailable, "raft member not running")
