package leaderclient

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/robustmq/robustmq-go/common/lifecycle"
	"github.com/robustmq/robustmq-go/common/rpcerr"
)

// Defaults applied by Dial to zero Options fields.
const (
	DefaultCallTimeout    = 5 * time.Second
	DefaultAttemptTimeout = 2 * time.Second
	DefaultInitialBackoff = 50 * time.Millisecond
	DefaultMaxBackoff     = time.Second
)

// Options tunes a Client. Zero fields take the Default* values.
type Options struct {
	// CallTimeout bounds a unary call (all of its attempts) when the
	// caller's context has no deadline, and bounds the opening of a stream.
	CallTimeout time.Duration
	// AttemptTimeout bounds one attempt against one member, so a member
	// that hangs (partitioned, overloaded) costs one attempt and the
	// client moves on instead of spending the whole call on it. It is
	// capped by the caller's remaining deadline.
	AttemptTimeout time.Duration
	// InitialBackoff is the pause after the first full sweep of the
	// members that found no leader; it doubles up to MaxBackoff.
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// DialOptions are appended after the client's own (insecure transport
	// credentials), so they may override them.
	DialOptions []grpc.DialOption
	Logger      zerolog.Logger
}

func (o Options) withDefaults() Options {
	if o.CallTimeout <= 0 {
		o.CallTimeout = DefaultCallTimeout
	}
	if o.AttemptTimeout <= 0 {
		o.AttemptTimeout = DefaultAttemptTimeout
	}
	if o.InitialBackoff <= 0 {
		o.InitialBackoff = DefaultInitialBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.MaxBackoff < o.InitialBackoff {
		o.MaxBackoff = o.InitialBackoff
	}
	return o
}

// Client sends calls to the current leader of a replicated service. It is
// safe for concurrent use.
type Client struct {
	addrs []string // configured members, in sweep order
	opts  Options

	mu     sync.Mutex
	leader string                      // where the next call goes first
	conns  map[string]*grpc.ClientConn // one per address talked to
	closed bool
}

var _ grpc.ClientConnInterface = (*Client)(nil)

// errClosed is returned by calls on a closed Client; it carries
// codes.Canceled like grpc's own closed-connection error.
var errClosed = status.Error(codes.Canceled, "leaderclient: client is closed")

// Dial returns a Client over the given member addresses ("host:port").
// It connects to nothing yet: connections are made on first use.
func Dial(addrs []string, opts Options) (*Client, error) {
	var members []string
	for _, a := range addrs {
		if a == "" {
			return nil, errors.New("leaderclient: empty address")
		}
		if !slices.Contains(members, a) {
			members = append(members, a)
		}
	}
	if len(members) == 0 {
		return nil, errors.New("leaderclient: no addresses")
	}
	return &Client{
		addrs:  members,
		opts:   opts.withDefaults(),
		leader: members[0],
		conns:  make(map[string]*grpc.ClientConn),
	}, nil
}

// Leader returns the address calls currently go to first: the last member
// that answered, the last hint received, or the next member of a sweep.
func (c *Client) Leader() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.leader
}

// Close closes every connection. Calls in flight fail; later calls return
// a codes.Canceled error.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	conns := c.conns
	c.conns = nil
	c.mu.Unlock()

	var errs []error
	for addr, cc := range conns {
		if err := cc.Close(); err != nil {
			errs = append(errs, fmt.Errorf("leaderclient: close %s: %w", addr, err))
		}
	}
	return errors.Join(errs...)
}

// conn returns the connection to addr, creating it on first use.
func (c *Client) conn(addr string) (*grpc.ClientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errClosed
	}
	if cc, ok := c.conns[addr]; ok {
		return cc, nil
	}
	dialOpts := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, c.opts.DialOptions...)
	cc, err := grpc.NewClient(addr, dialOpts...)
	if err != nil {
		// A target grpc cannot even parse will never work; report it as
		// Unavailable so the sweep moves on to the other members.
		return nil, status.Errorf(codes.Unavailable, "leaderclient: dial %s: %v", addr, err)
	}
	c.conns[addr] = cc
	return cc, nil
}

// setLeader records addr as the place to send the next call.
func (c *Client) setLeader(addr, why string) {
	c.mu.Lock()
	prev := c.leader
	c.leader = addr
	c.mu.Unlock()
	if prev != addr {
		c.opts.Logger.Debug().Str("from", prev).Str("to", addr).Str("reason", why).Msg("leaderclient: switching member")
	}
}

// sweepFrom moves the cached leader from failed to the configured member
// after it, unless another call already moved it; it returns where the
// next attempt should go.
func (c *Client) sweepFrom(failed string) string {
	c.mu.Lock()
	if c.leader != failed {
		next := c.leader
		c.mu.Unlock()
		return next
	}
	next := c.addrs[0]
	if i := slices.Index(c.addrs, failed); i >= 0 {
		next = c.addrs[(i+1)%len(c.addrs)]
	}
	c.leader = next
	c.mu.Unlock()
	c.opts.Logger.Debug().Str("from", failed).Str("to", next).Msg("leaderclient: sweeping to next member")
	return next
}

// verdict is what one failed attempt tells the retry loop to do.
type verdict int

const (
	giveUp     verdict = iota // the server answered; return its error
	followHint                // go to the leader named in the error
	sweep                     // try the next configured member
)

// classify decides what to do after an attempt against addr failed with
// err while the caller's context was still alive.
func classify(err error, addr string) (verdict, string) {
	if nl, ok := rpcerr.AsNotLeader(err); ok {
		if hint := nl.GetLeaderAddr(); hint != "" && hint != addr {
			return followHint, hint
		}
		return sweep, ""
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		// Unavailable: connection refused/reset, member shutting down,
		// or no leader known. DeadlineExceeded here is the attempt's own
		// bound (the caller's context is checked before classify).
		return sweep, ""
	default:
		return giveUp, ""
	}
}

// retryState walks the members for one call: it counts attempts since
// the last pause and grows the pause after each round without a leader.
type retryState struct {
	opts      Options
	members   int
	sinceRest int
	backoff   time.Duration
}

// afterFailure records a failed attempt and returns how long to pause
// before the next one (zero: go at once). A round is one attempt per
// configured member plus one hint hop, so a healthy cluster (follower,
// then hinted leader) never pauses, while members that keep pointing at
// each other or all refuse are paced by the backoff.
func (r *retryState) afterFailure() time.Duration {
	r.sinceRest++
	if r.sinceRest < r.members+1 {
		return 0
	}
	r.sinceRest = 0
	if r.backoff == 0 {
		r.backoff = r.opts.InitialBackoff
	} else {
		r.backoff = min(2*r.backoff, r.opts.MaxBackoff)
	}
	// Jitter by up to a quarter so many clients do not sweep in step.
	return r.backoff - time.Duration(rand.Int64N(int64(r.backoff)/4+1))
}

// Invoke implements grpc.ClientConnInterface. It sends the call to the
// cached leader, follows NotLeader hints at once, sweeps the configured
// members on Unavailable or an attempt timeout, and pauses with
// exponential backoff between fruitless rounds. Any other error is the
// server's answer and is returned as is. When the caller's deadline (or
// CallTimeout, if the context has none) passes, Invoke returns the error
// of the last attempt that completed, wrapped so that status.Code and
// rpcerr's extractors still see it.
//
// A call that timed out may still have been applied by the member that
// timed out; writes retried this way must be safe to repeat.
func (c *Client) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opts.CallTimeout)
		defer cancel()
	}
	rs := retryState{opts: c.opts, members: len(c.addrs)}
	addr := c.Leader()
	var lastErr error
	for attempt := 1; ; attempt++ {
		err := c.invokeOnce(ctx, addr, method, args, reply, opts)
		if err == nil {
			c.setLeader(addr, "answered")
			return nil
		}
		if errors.Is(err, errClosed) {
			return err
		}
		if timeIsUp(ctx) {
			// The attempt ended because the caller's time ran out; an
			// earlier complete answer says more about why than this does.
			if lastErr == nil {
				cause := ctx.Err()
				if cause == nil { // the deadline passed, its timer not yet fired
					cause = context.DeadlineExceeded
				}
				lastErr = status.FromContextError(cause).Err()
			}
			return fmt.Errorf("leaderclient: %s: gave up after %d attempts: %w", method, attempt, lastErr)
		}
		lastErr = err
		v, hint := classify(err, addr)
		switch v {
		case giveUp:
			return err
		case followHint:
			c.setLeader(hint, "not leader hint")
			addr = hint
		case sweep:
			addr = c.sweepFrom(addr)
		}
		if !lifecycle.Sleep(ctx, rs.afterFailure()) {
			return fmt.Errorf("leaderclient: %s: gave up after %d attempts: %w", method, attempt, lastErr)
		}
	}
}

// timeIsUp reports whether ctx has ended or its deadline has passed. The
// second can come first: the member's own deadline (from the grpc-timeout
// header, counted from when the request arrived) may answer
// DeadlineExceeded before ctx's timer has fired here, and that answer
// says nothing about the member that an earlier one did not.
func timeIsUp(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}

// invokeOnce makes one attempt against addr, bounded by AttemptTimeout.
func (c *Client) invokeOnce(ctx context.Context, addr, method string, args, reply any, opts []grpc.CallOption) error {
	cc, err := c.conn(addr)
	if err != nil {
		return err
	}
	attemptCtx, cancel := context.WithTimeout(ctx, c.opts.AttemptTimeout)
	defer cancel()
	return cc.Invoke(attemptCtx, method, args, reply, opts...)
}

// NewStream implements grpc.ClientConnInterface. It opens the stream on
// the cached leader and, if opening fails with a retryable error, on the
// next members, until the caller's context ends or CallTimeout passes.
// Once open, the stream belongs to the caller: errors that arrive on it
// (including a NotLeader answer from the handler) are not retried.
func (c *Client) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	// The stream lives as long as ctx, so the open bound cannot be put on
	// ctx itself; it is a separate context used only for pauses and checks.
	openCtx, cancel := context.WithTimeout(ctx, c.opts.CallTimeout)
	defer cancel()
	rs := retryState{opts: c.opts, members: len(c.addrs)}
	addr := c.Leader()
	var lastErr error
	for attempt := 1; ; attempt++ {
		stream, err := c.openOnce(ctx, addr, desc, method, opts)
		if err == nil {
			c.setLeader(addr, "stream opened")
			return stream, nil
		}
		if errors.Is(err, errClosed) {
			return nil, err
		}
		if timeIsUp(openCtx) {
			if lastErr == nil {
				lastErr = err
			}
			return nil, fmt.Errorf("leaderclient: open %s: gave up after %d attempts: %w", method, attempt, lastErr)
		}
		lastErr = err
		v, hint := classify(err, addr)
		switch v {
		case giveUp:
			return nil, err
		case followHint:
			c.setLeader(hint, "not leader hint")
			addr = hint
		case sweep:
			addr = c.sweepFrom(addr)
		}
		if !lifecycle.Sleep(openCtx, rs.afterFailure()) {
			return nil, fmt.Errorf("leaderclient: open %s: gave up after %d attempts: %w", method, attempt, lastErr)
		}
	}
}

// openOnce opens a stream on addr. Opening is bounded by AttemptTimeout
// (a member whose connection hangs must not hold the caller), but the
// bound cannot be a deadline on the stream's context, which must live as
// long as the caller's: a timer cancels the context only if the open has
// not returned in time.
func (c *Client) openOnce(ctx context.Context, addr string, desc *grpc.StreamDesc, method string, opts []grpc.CallOption) (grpc.ClientStream, error) {
	cc, err := c.conn(addr)
	if err != nil {
		return nil, err
	}
	streamCtx, cancel := context.WithCancel(ctx)
	timer := time.AfterFunc(c.opts.AttemptTimeout, cancel)
	stream, err := cc.NewStream(streamCtx, desc, method, opts...)
	inTime := timer.Stop()
	if err != nil {
		cancel()
		if !inTime && ctx.Err() == nil {
			return nil, status.Errorf(codes.DeadlineExceeded, "leaderclient: opening stream on %s took over %v", addr, c.opts.AttemptTimeout)
		}
		return nil, err
	}
	return &ownedStream{ClientStream: stream, serverStreams: desc.ServerStreams, cancel: cancel}, nil
}

// ownedStream releases the stream's context when the stream ends, which
// grpc signals to the caller as a non-nil RecvMsg error, or, when the
// server sends a single response, as that response's RecvMsg. That is the
// same duty grpc already puts on callers (receive until the end, or
// cancel).
type ownedStream struct {
	grpc.ClientStream
	serverStreams bool
	cancel        context.CancelFunc
}

func (s *ownedStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if err != nil || !s.serverStreams {
		s.cancel()
	}
	return err
}
