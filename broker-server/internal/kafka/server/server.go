package server

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/robustmq/robustmq-go/broker-server/internal/auth"
	"github.com/robustmq/robustmq-go/broker-server/internal/kafka/group"
	"github.com/robustmq/robustmq-go/broker-server/internal/kafka/wire"
	"github.com/robustmq/robustmq-go/broker-server/internal/transport"
	"github.com/robustmq/robustmq-go/common/metacache"
	"github.com/robustmq/robustmq-go/common/recordbatch"
	"github.com/robustmq/robustmq-go/common/streamclient"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// ListenerName is the key of the Kafka address in a broker's registered
// extra_addrs.
const ListenerName = "kafka"

// Config tunes the Kafka front end.
type Config struct {
	// AutoCreateTopics creates a topic a Metadata request names (when the
	// client allows it) with DefaultPartitions partitions.
	AutoCreateTopics  bool
	DefaultPartitions int
	// DefaultReplicas is the replica count of auto-created topics (0: the
	// placement center's default).
	DefaultReplicas uint32
	// MaxRequestBytes bounds a request frame; a larger one closes the
	// connection.
	MaxRequestBytes int
	// MaxMessageBytes bounds one produced record batch (MESSAGE_TOO_LARGE).
	MaxMessageBytes int
	// MaxInFlight bounds the requests of one connection being handled.
	MaxInFlight int
	// ClusterID is returned in Metadata.
	ClusterID string
	// GroupInitialRebalanceDelay: see group.Options.
	GroupInitialRebalanceDelay time.Duration
	// SASL requires every connection to authenticate (PLAIN or
	// SCRAM-SHA-256) against the tenant's users before any request but
	// ApiVersions, SaslHandshake and SaslAuthenticate.
	SASL bool
	// InternalTopics are streams the broker itself writes (the MQTT
	// message log): Metadata marks them internal, and Produce, DeleteTopics
	// and CreatePartitions on them get INVALID_TOPIC_EXCEPTION, as Kafka
	// treats its own internal topics. Fetching them stays allowed.
	InternalTopics []string
}

func (c Config) withDefaults() Config {
	if c.DefaultPartitions <= 0 {
		c.DefaultPartitions = 1
	}
	if c.MaxRequestBytes <= 0 {
		c.MaxRequestBytes = 100 << 20
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = 1 << 20
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 64
	}
	if c.ClusterID == "" {
		c.ClusterID = "robustmq"
	}
	return c
}

// Deps are the cluster services the front end uses.
type Deps struct {
	Streams   *streamclient.Client
	Placement placementpb.PlacementServiceClient
	Cache     *metacache.Cache
	// Self returns this broker's node id once it is registered.
	Self func() (uint64, bool)
	// Advertised is this broker's Kafka address (host:port).
	Advertised func() string
	// Produced, if set, is told of every batch appended to a topic, in
	// order per partition, before the producer is answered (stream
	// mappings hand the records of mapped streams to MQTT subscribers).
	// An error fails that partition's answer (the records are in the
	// stream; the producer may retry, and its idempotence drops the
	// duplicate).
	Produced func(ctx context.Context, topic string, recs []recordbatch.Record) error
	// ACL, if set, authorises every topic access of a SASL-authenticated
	// user with its stream rules (auth.Store.AllowedStream): reads need
	// Subscribe (READ), produces Publish (WRITE), creating, deleting and
	// repartitioning topics Admin. Refusals are TOPIC_AUTHORIZATION_FAILED.
	ACL *auth.Store
}

// userKey carries a request's SASL-authenticated user name in its context.
type userKey struct{}

// allowed reports whether the request's user may do action on topic:
// always without an ACL store; never for a request without an
// authenticated user while there is one.
func (s *Server) allowed(ctx context.Context, action auth.Action, topic string) bool {
	return s.authorize(ctx, func(p auth.Principal) bool { return s.deps.ACL.AllowedStream(p, action, topic) })
}

// allowedGroup is allowed for a consumer group id.
func (s *Server) allowedGroup(ctx context.Context, action auth.Action, group string) bool {
	return s.authorize(ctx, func(p auth.Principal) bool { return s.deps.ACL.AllowedGroup(p, action, group) })
}

// groupVisible: Kafka lets a user see a group it may use or manage.
func (s *Server) groupVisible(ctx context.Context, group string) bool {
	return s.allowedGroup(ctx, auth.Subscribe, group) || s.allowedGroup(ctx, auth.Admin, group)
}

func (s *Server) authorize(ctx context.Context, check func(auth.Principal) bool) bool {
	if s.deps.ACL == nil {
		return true
	}
	user, ok := ctx.Value(userKey{}).(string)
	if !ok {
		return false
	}
	return check(s.deps.ACL.Principal(user))
}

// describable: Kafka lets a user see a topic it may read, write or manage.
func (s *Server) describable(ctx context.Context, topic string) bool {
	return s.allowed(ctx, auth.Subscribe, topic) || s.allowed(ctx, auth.Publish, topic) || s.allowed(ctx, auth.Admin, topic)
}

// Server is the Kafka front end; it implements transport.Handler.
type Server struct {
	cfg    Config
	deps   Deps
	log    zerolog.Logger
	groups *group.Coordinator

	mu        sync.Mutex
	producers map[string]*streamclient.Producer
	ends      map[tp]endEntry // committed ends for fetch high watermarks
	authCache map[[32]byte]time.Time
	idem      *idempotence
	closed    bool
}

// New returns a front end; Run drives its background work.
func New(cfg Config, deps Deps, log zerolog.Logger) *Server {
	cfg = cfg.withDefaults()
	return &Server{
		cfg:  cfg,
		deps: deps,
		log:  log,
		groups: group.New(group.Options{
			Offsets:               group.KVOffsets{Placement: deps.Placement, Tenant: deps.Streams.Tenant()},
			InitialRebalanceDelay: cfg.GroupInitialRebalanceDelay,
			Logger:                log.With().Str("component", "kafka-groups").Logger(),
		}),
		producers: map[string]*streamclient.Producer{},
		ends:      map[tp]endEntry{},
		authCache: map[[32]byte]time.Time{},
		idem:      newIdempotence(),
	}
}

// Run drives the group coordinator until ctx ends, then closes the
// producers.
func (s *Server) Run(ctx context.Context) error {
	err := s.groups.Run(ctx)
	s.mu.Lock()
	s.closed = true
	ps := s.producers
	s.producers = map[string]*streamclient.Producer{}
	s.mu.Unlock()
	cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, p := range ps {
		_ = p.Close(cctx)
	}
	return err
}

// response is one request's answer slot, filled by its handler; the
// writer sends the slots in request order. A nil frame sends nothing
// (acks=0 produce); closeAfter ends the connection after the frame.
// finish, when set (a produce), is run by the writer itself to get the
// frame: it waits for the request's appends, and as the writer must wait
// for them anyway before it writes anything later, running it there saves
// a goroutine and a hand-off per produce request.
type response struct {
	done       chan struct{}
	frame      []byte
	closeAfter bool
	finish     func(context.Context) []byte
}

func (r *response) set(frame []byte, closeAfter bool) {
	r.frame, r.closeAfter = frame, closeAfter
	close(r.done)
}

// setFinish makes the writer build the frame with finish (see response).
func (r *response) setFinish(finish func(context.Context) []byte) {
	r.finish = finish
	close(r.done)
}

// conn is one client connection's state.
type conn struct {
	s        *Server
	info     transport.ConnInfo
	clientID string
	fetch    *fetchState
	sasl     saslState
}

// ServeConn serves one client connection until it closes or ctx ends.
func (s *Server) ServeConn(ctx context.Context, nc net.Conn, info transport.ConnInfo) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c := &conn{s: s, info: info, fetch: newFetchState(s)}
	defer c.fetch.close()
	// Shutdown (or the writer failing) ends the blocked read.
	stopRead := context.AfterFunc(ctx, func() { _ = nc.SetReadDeadline(time.Now()) })
	defer stopRead()
	out := make(chan *response, s.cfg.MaxInFlight)
	var handlers sync.WaitGroup
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		s.writeLoop(ctx, nc, out)
		cancel()
	}()
	r := bufio.NewReaderSize(nc, 64<<10)
	for {
		if c.sasl.raw && !c.sasl.done {
			// After a SaslHandshake v0 the tokens come unframed by the
			// request header: one size-prefixed token per round.
			token, err := s.readToken(r)
			if err != nil {
				cancel()
				break
			}
			resp := &response{done: make(chan struct{})}
			ar, closeAfter := c.saslAuthenticate(ctx, &wire.SaslAuthenticateRequest{AuthBytes: token})
			raw := binary.BigEndian.AppendUint32(nil, uint32(len(ar.AuthBytes)))
			if ar.ErrorCode != wire.ErrNone {
				raw = nil
			}
			resp.set(append(raw, ar.AuthBytes...), closeAfter)
			select {
			case out <- resp:
			case <-ctx.Done():
			}
			if closeAfter || ctx.Err() != nil {
				break
			}
			continue
		}
		frame, err := s.readFrame(r)
		if err != nil {
			if !errors.Is(err, io.EOF) && ctx.Err() == nil {
				s.log.Debug().Err(err).Str("remote", info.Remote.String()).Msg("kafka connection read ended")
			}
			cancel()
			break
		}
		resp := &response{done: make(chan struct{})}
		stop := c.handle(ctx, frame, resp, &handlers)
		select {
		case out <- resp:
		case <-ctx.Done():
		}
		if stop || ctx.Err() != nil {
			break
		}
	}
	close(out)
	// Answers still being computed for a closing client are abandoned;
	// those already computed are flushed for a bounded time.
	select {
	case <-writerDone:
	case <-time.After(5 * time.Second):
	}
	cancel()
	handlers.Wait()
	<-writerDone
}

func (s *Server) readFrame(r *bufio.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := int32(binary.BigEndian.Uint32(hdr[:]))
	if n < 8 || int(n) > s.cfg.MaxRequestBytes {
		return nil, fmt.Errorf("request size %d outside [8, %d]", n, s.cfg.MaxRequestBytes)
	}
	frame := make([]byte, n)
	if _, err := io.ReadFull(r, frame); err != nil {
		return nil, err
	}
	return frame, nil
}

// readToken reads one size-prefixed SASL token (SaslHandshake v0).
func (s *Server) readToken(r *bufio.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := int32(binary.BigEndian.Uint32(hdr[:]))
	if n < 0 || n > 64<<10 {
		return nil, fmt.Errorf("SASL token size %d", n)
	}
	tok := make([]byte, n)
	_, err := io.ReadFull(r, tok)
	return tok, err
}

func (s *Server) writeLoop(ctx context.Context, nc net.Conn, out <-chan *response) {
	w := bufio.NewWriterSize(nc, 64<<10)
	for resp := range out {
		// Answers already written leave before a wait for this one.
		select {
		case <-resp.done:
		default:
			if w.Flush() != nil {
				return
			}
			select {
			case <-resp.done:
			case <-ctx.Done():
				return
			}
		}
		if resp.finish != nil {
			if w.Buffered() > 0 && w.Flush() != nil {
				return
			}
			resp.frame = resp.finish(ctx)
		}
		if resp.frame != nil {
			_ = nc.SetWriteDeadline(time.Now().Add(30 * time.Second))
			if _, err := w.Write(resp.frame); err != nil {
				return
			}
		}
		if len(out) == 0 || resp.closeAfter {
			if err := w.Flush(); err != nil {
				return
			}
		}
		if resp.closeAfter {
			return
		}
	}
	_ = w.Flush()
}

// frame encodes a response with its size prefix.
func frame(a wire.API, version int16, correlationID int32, m wire.Message) []byte {
	b := wire.EncodeResponse(make([]byte, 4, 256), a, version, correlationID, m)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// handle decodes one request and starts its handler; it reports whether
// the connection must stop reading.
func (c *conn) handle(ctx context.Context, raw []byte, resp *response, handlers *sync.WaitGroup) bool {
	s := c.s
	h, m, err := wire.DecodeRequest(raw)
	if h.ClientID != nil {
		c.clientID = *h.ClientID
	}
	if err != nil {
		var ue *wire.UnsupportedError
		if errors.As(err, &ue) && h.APIKey == wire.KeyApiVersions {
			// KIP-511: an ApiVersions version we do not know gets a v0
			// body with UNSUPPORTED_VERSION and our ranges.
			a, _ := wire.Lookup(wire.KeyApiVersions)
			r := apiVersions()
			r.ErrorCode = wire.ErrUnsupportedVersionCode
			resp.set(frame(a, 0, h.CorrelationID, r), false)
			return false
		}
		s.log.Debug().Err(err).Int16("api", h.APIKey).Int16("version", h.APIVersion).Msg("kafka request refused")
		if a, ok := wire.Lookup(h.APIKey); ok && !errors.As(err, &ue) {
			if r := errorResponse(h.APIKey, h.APIVersion, wire.ErrInvalidRequest); r != nil {
				resp.set(frame(a, h.APIVersion, h.CorrelationID, r), false)
				return false
			}
		}
		resp.set(nil, true)
		return true
	}
	a, _ := wire.Lookup(h.APIKey)
	reply := func(r wire.Message) {
		if r == nil {
			resp.set(nil, false)
			return
		}
		resp.set(frame(a, h.APIVersion, h.CorrelationID, r), false)
	}
	switch req := m.(type) {
	case *wire.ApiVersionsRequest:
		reply(apiVersions())
		return false
	case *wire.SaslHandshakeRequest:
		r := c.saslHandshake(req)
		if h.APIVersion == 0 && r.(*wire.SaslHandshakeResponse).ErrorCode == wire.ErrNone {
			c.sasl.raw = true
		}
		reply(r)
		return false
	case *wire.SaslAuthenticateRequest:
		r, closeAfter := c.saslAuthenticate(ctx, req)
		resp.set(frame(a, h.APIVersion, h.CorrelationID, r), closeAfter)
		return closeAfter
	}
	if s.cfg.SASL && !c.sasl.done {
		// As Kafka does: a request before authentication ends the
		// connection.
		s.log.Debug().Int16("api", h.APIKey).Msg("kafka request before SASL authentication; closing")
		resp.set(nil, true)
		return true
	}
	if c.sasl.done {
		ctx = context.WithValue(ctx, userKey{}, c.sasl.user)
	}
	switch req := m.(type) {
	case *wire.ProduceRequest:
		// Appends are queued here, in request order; their outcomes are
		// awaited by the writer, in order (response.finish).
		wait := s.produce(ctx, req)
		resp.setFinish(func(ctx context.Context) []byte {
			r := wait(ctx)
			if req.Acks == 0 {
				return nil
			}
			return frame(a, h.APIVersion, h.CorrelationID, r)
		})
		return false
	}
	handlers.Add(1)
	go func() {
		defer handlers.Done()
		reply(c.dispatch(ctx, h, m))
	}()
	return false
}

func (c *conn) dispatch(ctx context.Context, h wire.RequestHeader, m wire.Message) wire.Message {
	s := c.s
	v := h.APIVersion
	switch req := m.(type) {
	case *wire.MetadataRequest:
		return s.metadata(ctx, req, v)
	case *wire.FetchRequest:
		return c.fetch.fetch(ctx, req, v)
	case *wire.ListOffsetsRequest:
		return s.listOffsets(ctx, req)
	case *wire.FindCoordinatorRequest:
		if req.CoordinatorType == 0 && !s.groupVisible(ctx, req.CoordinatorKey) {
			return &wire.FindCoordinatorResponse{ErrorCode: wire.ErrGroupAuthorizationFailed, NodeID: -1}
		}
		return s.findCoordinator(req)
	case *wire.JoinGroupRequest:
		return s.joinGroup(ctx, req, v, c)
	case *wire.SyncGroupRequest:
		return s.syncGroup(ctx, req)
	case *wire.HeartbeatRequest:
		if !s.allowedGroup(ctx, auth.Subscribe, req.Group) {
			return &wire.HeartbeatResponse{ErrorCode: wire.ErrGroupAuthorizationFailed}
		}
		return s.heartbeat(req)
	case *wire.LeaveGroupRequest:
		if !s.allowedGroup(ctx, auth.Subscribe, req.Group) {
			return &wire.LeaveGroupResponse{ErrorCode: wire.ErrGroupAuthorizationFailed}
		}
		return s.leaveGroup(req, v)
	case *wire.OffsetCommitRequest:
		return s.offsetCommit(ctx, req)
	case *wire.OffsetFetchRequest:
		return s.offsetFetch(ctx, req, v)
	case *wire.DescribeGroupsRequest:
		return s.describeGroups(ctx, req)
	case *wire.ListGroupsRequest:
		return s.listGroups(ctx, req)
	case *wire.DeleteGroupsRequest:
		return s.deleteGroups(ctx, req)
	case *wire.CreateTopicsRequest:
		return s.createTopics(ctx, req)
	case *wire.DeleteTopicsRequest:
		return s.deleteTopics(ctx, req)
	case *wire.CreatePartitionsRequest:
		return s.createPartitions(ctx, req)
	case *wire.DescribeConfigsRequest:
		return s.describeConfigs(ctx, req)
	case *wire.InitProducerIDRequest:
		return s.initProducerID(req)
	}
	return errorResponse(h.APIKey, v, wire.ErrUnknownServerError)
}

// errorResponse is a response carrying code in its top-level error field,
// for the APIs that have one at that version (nil otherwise).
func errorResponse(key, v int16, code int16) wire.Message {
	switch key {
	case wire.KeyApiVersions:
		return &wire.ApiVersionsResponse{ErrorCode: code}
	case wire.KeyFetch:
		if v >= 7 {
			return &wire.FetchResponse{ErrorCode: code}
		}
	case wire.KeyFindCoordinator:
		return &wire.FindCoordinatorResponse{ErrorCode: code, NodeID: -1}
	case wire.KeyJoinGroup:
		return &wire.JoinGroupResponse{ErrorCode: code, Generation: -1}
	case wire.KeyHeartbeat:
		return &wire.HeartbeatResponse{ErrorCode: code}
	case wire.KeyLeaveGroup:
		return &wire.LeaveGroupResponse{ErrorCode: code}
	case wire.KeySyncGroup:
		return &wire.SyncGroupResponse{ErrorCode: code, MemberAssignment: []byte{}}
	case wire.KeyListGroups:
		return &wire.ListGroupsResponse{ErrorCode: code}
	case wire.KeyOffsetFetch:
		if v >= 2 {
			return &wire.OffsetFetchResponse{ErrorCode: code}
		}
	case wire.KeyInitProducerID:
		return &wire.InitProducerIDResponse{ErrorCode: code, ProducerID: -1, ProducerEpoch: -1}
	case wire.KeySaslHandshake:
		return &wire.SaslHandshakeResponse{ErrorCode: code}
	case wire.KeySaslAuthenticate:
		return &wire.SaslAuthenticateResponse{ErrorCode: code, AuthBytes: []byte{}}
	}
	return nil
}

func apiVersions() *wire.ApiVersionsResponse {
	r := &wire.ApiVersionsResponse{}
	for _, a := range wire.APIs() {
		r.ApiKeys = append(r.ApiKeys, wire.ApiVersionsKey{ApiKey: a.Key, MinVersion: a.Min, MaxVersion: a.Max})
	}
	return r
}
