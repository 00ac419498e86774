package server

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/robustmq/robustmq-go/broker-server/internal/auth"
	"github.com/robustmq/robustmq-go/broker-server/internal/config"
	"github.com/robustmq/robustmq-go/broker-server/internal/core"
	pk "github.com/robustmq/robustmq-go/broker-server/internal/mqtt/packets"
	"github.com/robustmq/robustmq-go/broker-server/internal/transport"
)

// Config are the protocol limits of the front end.
type Config struct {
	// ConnectTimeout bounds the wait for CONNECT.
	ConnectTimeout time.Duration
	// MaxPacketSize is the largest packet accepted, fixed header included.
	MaxPacketSize int
	// ReceiveMaximum is the QoS 2 publishes a client may have awaiting
	// PUBREL (MQTT 5; more is DISCONNECT 0x93).
	ReceiveMaximum int
	// TopicAliasMaximum is the highest inbound topic alias (0: none).
	TopicAliasMaximum int
	// ServerKeepAlive caps an MQTT 5 client's keep alive (0: no cap).
	ServerKeepAlive time.Duration
	// MaxTopicLevels bounds the levels of topic names and filters.
	MaxTopicLevels int
	// MaxInflight bounds the outbound QoS 1/2 messages not yet
	// acknowledged per client (further bounded by its Receive Maximum).
	MaxInflight int
	// WriteTimeout bounds one write to a client.
	WriteTimeout time.Duration
	// OutboundTopicAliasMaximum caps the topic aliases the server assigns
	// on its PUBLISH packets to one MQTT 5 client (further bounded by the
	// client's Topic Alias Maximum; 0: the server sends none).
	OutboundTopicAliasMaximum int
	// ResponseInformation is the prefix of the Response Information
	// returned in CONNACK to an MQTT 5 client that asks for it: the client
	// gets prefix + its client id ("": never returned).
	ResponseInformation string
	// ObserveDelivery, when set, is told for each PUBLISH written to a
	// subscriber how long ago the broker read the message from its
	// publisher. Only messages routed in memory from a publisher on this
	// broker carry that time: messages forwarded by another broker or read
	// from the log, retained messages and redeliveries are not observed.
	// It must be quick; it is called on the connection's write loop.
	ObserveDelivery func(time.Duration)
}

// ConfigFrom takes the front end's limits from the broker configuration.
func ConfigFrom(l config.LimitsConfig) Config {
	return Config{
		ConnectTimeout:    l.ConnectTimeout,
		MaxPacketSize:     l.MaxPacketSize,
		ReceiveMaximum:    l.ReceiveMaximum,
		TopicAliasMaximum: l.TopicAliasMaximum,
		ServerKeepAlive:   l.ServerKeepAlive,
		MaxTopicLevels:    l.MaxTopicLevels,
		MaxInflight:       l.MaxInflight,
	}
}

// ConfigFor takes the front end's limits and protocol options ([limits]
// and [mqtt]) from the broker configuration.
func ConfigFor(cfg config.Config) Config {
	c := ConfigFrom(cfg.Limits)
	c.OutboundTopicAliasMaximum = cfg.MQTT.OutboundTopicAliasMaximum
	c.ResponseInformation = cfg.MQTT.ResponseInformation
	return c
}

func (c *Config) defaults() {
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 10 * time.Second
	}
	if c.MaxPacketSize <= 0 || c.MaxPacketSize > pk.MaxPacketSize {
		c.MaxPacketSize = pk.MaxPacketSize
	}
	if c.ReceiveMaximum <= 0 || c.ReceiveMaximum > 65535 {
		c.ReceiveMaximum = 65535
	}
	if c.TopicAliasMaximum < 0 || c.TopicAliasMaximum > 65535 {
		c.TopicAliasMaximum = 0
	}
	if c.MaxTopicLevels <= 0 {
		c.MaxTopicLevels = 128
	}
	if c.MaxInflight <= 0 || c.MaxInflight > 65535 {
		c.MaxInflight = 65535
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 30 * time.Second
	}
	if c.OutboundTopicAliasMaximum < 0 || c.OutboundTopicAliasMaximum > 65535 {
		c.OutboundTopicAliasMaximum = 0
	}
}

// Server serves MQTT connections against a broker core.
type Server struct {
	core *core.Broker
	cfg  Config
	log  zerolog.Logger

	conns atomic.Int64
	stats counters

	mu   sync.Mutex
	live map[*conn]struct{} // connected clients (CONNACK sent)
	// auth checks clients and their topics; nil lets everyone do anything.
	auth Authorizer
	// draining is set while the broker sends its clients elsewhere;
	// reference is the Server Reference given to MQTT 5 clients.
	draining  bool
	reference string
}

var _ transport.Handler = (*Server)(nil)

// New returns an MQTT front end over b.
func New(b *core.Broker, cfg Config, log zerolog.Logger) *Server {
	cfg.defaults()
	return &Server{core: b, cfg: cfg, log: log, live: map[*conn]struct{}{}}
}

// Authorizer authenticates clients and authorises their topics
// (implemented by package auth over the placement center's users and ACL
// rules).
type Authorizer interface {
	Authenticate(username string, hasUsername bool, password []byte) (auth.Principal, error)
	Allowed(p auth.Principal, action auth.Action, topic string) bool
}

// SetAuthorizer turns authentication and authorisation on; call it before
// serving.
func (s *Server) SetAuthorizer(a Authorizer) { s.auth = a }

// Connections is the number of connections being served.
func (s *Server) Connections() int64 { return s.conns.Load() }

// conn is one client connection.
type conn struct {
	// ctx ends when the server shuts down; it bounds calls into the core.
	ctx  context.Context
	srv  *Server
	nc   net.Conn
	r    *bufio.Reader
	v    pk.Version
	log  zerolog.Logger
	id   string
	sess *core.Session

	keepAlive     time.Duration
	window        int
	maxOut        int // the client's Maximum Packet Size (0: none)
	aliases       map[uint16]string
	outAliases    map[string]uint16 // aliases we assigned (writeLoop only)
	accepted      []time.Time       // reused by writeLoop: accept times of the messages being written
	outAliasMax   int
	problemInfo   bool // MQTT 5 Request Problem Information (default 1)
	will          *core.Message
	willDelay     uint32
	connectExpiry uint32
	principal     auth.Principal

	wmu  sync.Mutex
	wbuf []byte

	notify   chan struct{}
	done     chan struct{}
	kicked   atomic.Bool
	shutdown atomic.Bool

	// acks holds the client's publishes in the order they arrived while
	// the core stores them; the acker goroutine completes them in that
	// order (routing, then PUBACK/PUBREC), so a client's publishes are
	// stored concurrently but acknowledged and delivered in order.
	acks chan inbound
}

// inbound is one client publish being stored.
type inbound struct {
	pub      *core.Publishing
	qos      byte
	packetID uint16
	topic    string
}

// Notify implements core.Client.
func (c *conn) Notify() {
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// Kick implements core.Client: another connection took the session over.
func (c *conn) Kick() {
	if c.kicked.Swap(true) {
		return
	}
	go func() {
		c.sendDisconnect(pk.ReasonSessionTakenOver, "another connection took the session over")
		_ = c.nc.Close()
	}()
}

// ServeConn implements transport.Handler.
func (s *Server) ServeConn(ctx context.Context, nc net.Conn, info transport.ConnInfo) {
	s.conns.Add(1)
	defer s.conns.Add(-1)
	c := &conn{ctx: ctx, srv: s, nc: nc, r: bufio.NewReaderSize(countingReader{nc, &s.stats.bytesIn}, 4096),
		notify: make(chan struct{}, 1), done: make(chan struct{}), aliases: map[uint16]string{}, problemInfo: true,
		log: s.log.With().Str("remote", info.Remote.String()).Str("listener", info.Listener).Logger()}
	stop := context.AfterFunc(ctx, func() {
		c.shutdown.Store(true)
		_ = nc.SetReadDeadline(time.Now())
	})
	defer stop()
	if !c.connect() {
		return
	}
	s.track(c, true)
	defer s.track(c, false)
	if draining, ref := s.drainState(); draining {
		// Drain began between the CONNACK and the tracking above: it did
		// not see this client, so send it away here.
		c.useAnotherServer(ref)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		c.writeLoop()
	}()
	c.acks = make(chan inbound, c.srv.cfg.ReceiveMaximum+64)
	ackerDone := make(chan struct{})
	go func() {
		defer wg.Done()
		defer close(ackerDone)
		c.acker()
	}()
	abnormal := c.readLoop()
	// Publishes read before the end are completed (stored ones routed)
	// before the session is let go.
	close(c.acks)
	<-ackerDone
	close(c.done)
	wg.Wait()
	will := c.will
	if !abnormal {
		will = nil
	}
	s.core.Disconnect(c.sess, c, will, c.willDelay)
	c.log.Debug().Bool("abnormal", abnormal).Bool("taken_over", c.kicked.Load()).Msg("client disconnected")
}

// v5 reports whether the connection speaks MQTT 5.
func (c *conn) v5() bool { return c.v == pk.V5 }

// write encodes and sends packets in one write.
func (c *conn) write(ps ...pk.Packet) error { return c.writeWithin(c.srv.cfg.WriteTimeout, ps...) }

// writeWithin is write with its own time limit.
func (c *conn) writeWithin(d time.Duration, ps ...pk.Packet) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	buf := c.wbuf[:0]
	for _, p := range ps {
		var err error
		if buf, err = pk.Append(buf, p, c.v); err != nil {
			c.log.Error().Err(err).Str("packet", p.Type().String()).Msg("cannot encode packet")
			return err
		}
	}
	if cap(buf) <= 64<<10 {
		c.wbuf = buf
	}
	if len(buf) == 0 {
		return nil
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(d))
	n, err := c.nc.Write(buf)
	c.srv.stats.bytesOut.Add(uint64(n))
	if err != nil {
		_ = c.nc.Close()
	}
	return err
}

// sendDisconnect sends an MQTT 5 DISCONNECT (nothing for 3.x) with a
// reason string (allowed on DISCONNECT whatever the client's Request
// Problem Information, MQTT 5.0 section 3.1.2.11.7).
func (c *conn) sendDisconnect(r pk.ReasonCode, why string) {
	if !c.v5() {
		return
	}
	d := &pk.Disconnect{ReasonCode: r}
	if why != "" {
		d.Props.ReasonString = pk.Some(why)
	}
	c.fit(d, &d.Props)
	_ = c.writeWithin(2*time.Second, d)
}

// problem puts a reason string on an error ack when the client allows it
// (MQTT 5 Request Problem Information, section 3.1.2.11.7: with 0, only
// PUBLISH, CONNACK and DISCONNECT may carry one).
func (c *conn) problem(p pk.Packet, props *pk.Properties, why string) {
	if !c.v5() || !c.problemInfo || why == "" {
		return
	}
	props.ReasonString = pk.Some(why)
	c.fit(p, props)
}

// fit drops the reason string and user properties of p when they would
// make it larger than the client's Maximum Packet Size (MQTT 5.0 section
// 3.1.2.11.4; the Reason String property of every ack says the same).
func (c *conn) fit(p pk.Packet, props *pk.Properties) {
	if c.maxOut <= 0 || (!props.ReasonString.Set && len(props.User) == 0) {
		return
	}
	if n, err := pk.Size(p, c.v); err == nil && n <= c.maxOut {
		return
	}
	props.ReasonString = pk.Option[string]{}
	props.User = nil
}

func randomID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "rmq-" + hex.EncodeToString(b[:])
}

// isSys reports whether topic is one of the broker's $SYS topics, which
// clients may read but not publish to.
func isSys(topic string) bool { return topic == "$SYS" || strings.HasPrefix(topic, "$SYS/") }

func topicLevels(t string) int { return strings.Count(t, "/") + 1 }

// connect reads CONNECT and answers it; it reports whether the client is
// connected.
func (c *conn) connect() bool {
	cfg := c.srv.cfg
	_ = c.nc.SetReadDeadline(time.Now().Add(cfg.ConnectTimeout))
	p, err := pk.ReadPacket(c.r, 0, pk.Limits{MaxPacketSize: cfg.MaxPacketSize})
	if err != nil {
		var pe *pk.ProtocolError
		if errors.As(err, &pe) && pe.Packet == pk.TypeConnect {
			c.log.Debug().Err(err).Msg("bad CONNECT")
			switch {
			case pe.Reason == pk.ReasonUnsupportedProtocolVersion && pe.Version == pk.V5:
				c.v = pk.V5
				_ = c.write(&pk.Connack{ReasonCode: pk.ReasonUnsupportedProtocolVersion})
			case pe.Reason == pk.ReasonUnsupportedProtocolVersion:
				c.v = pk.V311
				_ = c.write(&pk.Connack{ReasonCode: pk.V3UnacceptableProtocolVersion})
			case pe.Version == pk.V5:
				c.v = pk.V5
				r := pe.Reason
				if r != pk.ReasonMalformedPacket && r != pk.ReasonTopicNameInvalid && r != pk.ReasonPacketTooLarge {
					r = pk.ReasonProtocolError
				}
				_ = c.write(&pk.Connack{ReasonCode: r, Props: pk.Properties{ReasonString: pk.Some(pe.Msg)}})
			}
		} else if !errors.Is(err, io.EOF) {
			c.log.Debug().Err(err).Msg("no CONNECT")
		}
		return false
	}
	cp, ok := p.(*pk.Connect)
	if !ok {
		c.log.Debug().Str("packet", p.Type().String()).Msg("first packet is not CONNECT")
		return false
	}
	c.v = cp.Level
	c.maxOut = int(cp.Props.MaximumPacketSize.Or(0))
	refuse := func(r pk.ReasonCode, why string) bool {
		ca := &pk.Connack{ReasonCode: r}
		if c.v5() {
			ca.Props.ReasonString = pk.Some(why)
			c.fit(ca, &ca.Props)
		} else {
			r = pk.V3ConnackCode(r)
			ca.ReasonCode = r
		}
		_ = c.write(ca)
		c.log.Debug().Str("reason", r.String()).Str("client_id", cp.ClientID).Msg("connection refused")
		return false
	}
	if draining, ref := c.srv.drainState(); draining {
		ca := &pk.Connack{ReasonCode: pk.V3ServerUnavailable}
		if c.v5() {
			ca.ReasonCode = pk.ReasonUseAnotherServer
			ca.Props.ReasonString = pk.Some("this broker is being drained")
			if ref != "" {
				ca.Props.ServerReference = pk.Some(ref)
			}
			c.fit(ca, &ca.Props)
		}
		_ = c.write(ca)
		return false
	}
	if c.v5() && cp.Props.AuthenticationMethod.Set {
		return refuse(pk.ReasonBadAuthenticationMethod, "no enhanced authentication method is configured")
	}
	if a := c.srv.auth; a != nil {
		p, err := a.Authenticate(cp.Username.Val, cp.Username.Set, cp.Password.Val)
		switch {
		case errors.Is(err, auth.ErrNotReady):
			return refuse(pk.ReasonServerUnavailable, "users not loaded yet, try again")
		case errors.Is(err, auth.ErrAnonymous):
			return refuse(pk.ReasonNotAuthorized, "a user name and password are required")
		case err != nil:
			return refuse(pk.ReasonBadUserNameOrPassword, "bad user name or password")
		}
		c.principal = p
		if cp.Will != nil && !a.Allowed(p, auth.Publish, cp.Will.Topic) {
			return refuse(pk.ReasonNotAuthorized, "not allowed to publish to the will topic")
		}
	}
	if cp.Will != nil && isSys(cp.Will.Topic) {
		return refuse(pk.ReasonNotAuthorized, "$SYS topics are the broker's")
	}
	if cp.Will != nil && topicLevels(cp.Will.Topic) > cfg.MaxTopicLevels {
		return refuse(pk.ReasonTopicNameInvalid, "will topic has too many levels")
	}
	var connack pk.Connack
	id := cp.ClientID
	if id == "" {
		switch {
		case c.v5():
			id = randomID()
			connack.Props.AssignedClientIdentifier = pk.Some(id)
		case c.v == pk.V311 && cp.CleanStart:
			id = randomID()
		default:
			return refuse(pk.ReasonClientIdentifierNotValid, "empty client identifier")
		}
	}
	c.id = id
	c.log = c.log.With().Str("client_id", id).Logger()

	ka := time.Duration(cp.KeepAlive) * time.Second
	if c.v5() && cfg.ServerKeepAlive > 0 && (ka == 0 || ka > cfg.ServerKeepAlive) {
		ka = cfg.ServerKeepAlive
		connack.Props.ServerKeepAlive = pk.Some(uint16(ka / time.Second))
	}
	c.keepAlive = ka

	expiry := uint32(0)
	if c.v5() {
		expiry = cp.Props.SessionExpiryInterval.Or(0)
	} else if !cp.CleanStart {
		expiry = core.NeverExpire
	}
	c.connectExpiry = expiry
	c.window = min(int(cp.Props.ReceiveMaximum.Or(65535)), cfg.MaxInflight)
	if c.v5() {
		c.problemInfo = cp.Props.RequestProblemInformation.Or(1) == 1
		c.outAliasMax = min(int(cp.Props.TopicAliasMaximum.Or(0)), cfg.OutboundTopicAliasMaximum)
		if c.outAliasMax > 0 {
			c.outAliases = make(map[string]uint16)
		}
	}
	if w := cp.Will; w != nil {
		c.will = c.message(w.Topic, w.Payload, w.QoS, w.Retain, &w.Props)
		c.willDelay = w.Props.WillDelayInterval.Or(0)
	}

	sess, present, err := c.srv.core.Connect(c.ctx, core.Claim{ClientID: id, Clean: cp.CleanStart, Expiry: expiry,
		Will: c.will, WillDelay: c.willDelay}, c)
	if err != nil {
		c.log.Warn().Err(err).Msg("session unavailable")
		return refuse(pk.ReasonServerUnavailable, "session unavailable, try again")
	}
	c.sess = sess
	if c.v != pk.V31 {
		connack.SessionPresent = present
	}
	if c.v5() {
		connack.Props.ReceiveMaximum = pk.Some(uint16(cfg.ReceiveMaximum))
		if cfg.MaxPacketSize < pk.MaxPacketSize {
			connack.Props.MaximumPacketSize = pk.Some(uint32(cfg.MaxPacketSize))
		}
		if cfg.TopicAliasMaximum > 0 {
			connack.Props.TopicAliasMaximum = pk.Some(uint16(cfg.TopicAliasMaximum))
		}
		// Request/response (section 4.10): the basis of the client's
		// response topics, when it asks and the result is a valid topic.
		if cp.Props.RequestResponseInformation.Or(0) == 1 && cfg.ResponseInformation != "" {
			if ri := cfg.ResponseInformation + id; pk.ValidateTopicName(ri) == nil {
				connack.Props.ResponseInformation = pk.Some(ri)
			}
		}
	}
	if err := c.write(&connack); err != nil {
		c.srv.core.Disconnect(sess, c, nil, 0)
		return false
	}
	c.log.Debug().Str("version", c.v.String()).Bool("clean_start", cp.CleanStart).Bool("session_present", present).
		Dur("keep_alive", ka).Msg("client connected")
	return true
}

// message builds a core message from a PUBLISH or a will.
func (c *conn) message(topic string, payload []byte, qos byte, retain bool, props *pk.Properties) *core.Message {
	m := &core.Message{Topic: topic, Payload: payload, QoS: qos, Retain: retain, From: c.id}
	if !c.v5() {
		return m
	}
	if e, ok := props.MessageExpiryInterval.Get(); ok {
		m.Expires = c.srv.core.Now().Add(time.Duration(e) * time.Second)
	}
	m.PayloadFormat, m.HasPayloadFormat = props.PayloadFormatIndicator.Get()
	m.ContentType = props.ContentType.Val
	m.ResponseTopic = props.ResponseTopic.Val
	m.CorrelationData = props.CorrelationData.Val
	for _, u := range props.User {
		m.User = append(m.User, core.UserProperty{Key: u.Key, Value: u.Value})
	}
	return m
}

// writeLoop sends what the session has for the client whenever notified.
func (c *conn) writeLoop() {
	for {
		select {
		case <-c.done:
			return
		case <-c.notify:
		}
		for range 1000 { // bounded: a busy session yields to the next notify
			outs := c.sess.Pull(c, c.window, c.srv.core.Now())
			if len(outs) == 0 {
				break
			}
			ps := make([]pk.Packet, 0, len(outs))
			var pubs uint64
			accepted := c.accepted[:0]
			for _, o := range outs {
				if p := c.outbound(o); p != nil {
					ps = append(ps, p)
					if !o.Pubrel {
						pubs++
						if observed(o) {
							accepted = append(accepted, o.Msg.Accepted)
						}
					}
				}
			}
			if err := c.write(ps...); err != nil {
				return
			}
			c.srv.stats.msgsOut.Add(pubs)
			if obs := c.srv.cfg.ObserveDelivery; obs != nil && len(accepted) > 0 {
				now := time.Now()
				for _, at := range accepted {
					obs(now.Sub(at))
				}
			}
			c.accepted = accepted
		}
	}
}

// observed reports whether o's delivery latency is measured: a first
// delivery, not a retained message, of a message read from a publisher of
// this broker (see Config.ObserveDelivery).
func observed(o core.Outbound) bool {
	return !o.Dup && !o.Retain && o.Msg != nil && !o.Msg.Accepted.IsZero()
}

// outbound turns an Outbound into a packet, or nil when the client cannot
// take it (larger than its Maximum Packet Size: dropped for this client).
func (c *conn) outbound(o core.Outbound) pk.Packet {
	if o.Pubrel {
		return &pk.Pubrel{PacketID: o.PacketID}
	}
	m := o.Msg
	p := &pk.Publish{Topic: m.Topic, Payload: m.Payload, QoS: o.QoS, Retain: o.Retain, Dup: o.Dup && o.QoS > 0,
		PacketID: o.PacketID}
	if c.v5() {
		pr := &p.Props
		if m.HasPayloadFormat {
			pr.PayloadFormatIndicator = pk.Some(m.PayloadFormat)
		}
		if e, ok := m.RemainingExpiry(c.srv.core.Now()); ok {
			pr.MessageExpiryInterval = pk.Some(max(e, 1))
		}
		if m.ContentType != "" {
			pr.ContentType = pk.Some(m.ContentType)
		}
		if m.ResponseTopic != "" {
			pr.ResponseTopic = pk.Some(m.ResponseTopic)
		}
		if m.CorrelationData != nil {
			pr.CorrelationData = pk.Some(m.CorrelationData)
		}
		for _, u := range m.User {
			pr.User = append(pr.User, pk.UserProperty{Key: u.Key, Value: u.Value})
		}
		pr.SubscriptionIdentifiers = o.SubIDs
	}
	// Outbound topic aliases (MQTT 5.0 section 3.3.2.3.4): a topic seen
	// before on this connection goes as its alias and an empty topic name;
	// a new topic takes the next free alias while the client's Topic Alias
	// Maximum (and ours) allows, and goes with its name once to set it.
	// Aliases are never reassigned: topics beyond the maximum go by name.
	newAlias := false
	if c.outAliasMax > 0 {
		if a, ok := c.outAliases[m.Topic]; ok {
			p.Props.TopicAlias = pk.Some(a)
			p.Topic = ""
		} else if len(c.outAliases) < c.outAliasMax {
			p.Props.TopicAlias = pk.Some(uint16(len(c.outAliases) + 1))
			newAlias = true
		}
	}
	if c.maxOut > 0 {
		if n, err := pk.Size(p, c.v); err != nil || n > c.maxOut {
			if o.QoS > 0 {
				c.sess.Drop(o.PacketID)
			}
			c.srv.stats.tooLarge.Add(1)
			c.log.Debug().Int("size", n).Int("max", c.maxOut).Msg("message larger than the client's maximum packet size dropped")
			return nil
		}
	}
	if newAlias {
		c.outAliases[m.Topic] = p.Props.TopicAlias.Val
	}
	return p
}

// errDisconnect ends the read loop after a DISCONNECT from the client.
var errDisconnect = errors.New("client disconnected")

// readLoop reads and handles packets until the connection ends. It
// reports whether the end was abnormal (the will is published).
func (c *conn) readLoop() bool {
	lim := pk.Limits{MaxPacketSize: c.srv.cfg.MaxPacketSize}
	for {
		if c.shutdown.Load() {
			c.sendDisconnect(pk.ReasonServerShuttingDown, "")
			return true
		}
		if c.keepAlive > 0 {
			_ = c.nc.SetReadDeadline(time.Now().Add(c.keepAlive * 3 / 2))
		} else {
			_ = c.nc.SetReadDeadline(time.Time{})
		}
		p, err := pk.ReadPacket(c.r, c.v, lim)
		if err == nil {
			err = c.handle(p)
			if err == errDisconnect {
				return false
			}
		}
		if err == nil {
			continue
		}
		switch {
		case c.kicked.Load():
			c.log.Debug().Msg("session taken over")
		case c.shutdown.Load():
			c.sendDisconnect(pk.ReasonServerShuttingDown, "")
		case isTimeout(err):
			c.log.Debug().Dur("keep_alive", c.keepAlive).Msg("keep alive expired")
			c.sendDisconnect(pk.ReasonKeepAliveTimeout, "no packet within 1.5 times the keep alive")
		default:
			var pe *pk.ProtocolError
			if errors.As(err, &pe) {
				c.log.Debug().Err(err).Msg("protocol error")
				c.sendDisconnect(disconnectReason(pe.Reason), pe.Msg)
			} else if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				c.log.Debug().Err(err).Msg("connection lost")
			}
		}
		return true
	}
}

func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// disconnectReason maps a protocol error's reason to one DISCONNECT allows.
func disconnectReason(r pk.ReasonCode) pk.ReasonCode {
	switch r {
	case pk.ReasonMalformedPacket, pk.ReasonProtocolError, pk.ReasonTopicFilterInvalid, pk.ReasonTopicNameInvalid,
		pk.ReasonReceiveMaximumExceeded, pk.ReasonTopicAliasInvalid, pk.ReasonPacketTooLarge,
		pk.ReasonPayloadFormatInvalid, pk.ReasonQoSNotSupported, pk.ReasonImplementationSpecificError:
		return r
	}
	return pk.ReasonProtocolError
}

func protoErr(r pk.ReasonCode, msg string) error { return &pk.ProtocolError{Reason: r, Msg: msg} }

// handle handles one packet after CONNECT.
func (c *conn) handle(p pk.Packet) error {
	switch p := p.(type) {
	case *pk.Publish:
		return c.onPublish(p)
	case *pk.Puback:
		if c.sess.Acked(p.PacketID, false) {
			c.Notify()
		}
	case *pk.Pubrec:
		if p.ReasonCode.IsError() {
			// The client refused the message: it leaves the window.
			c.sess.Drop(p.PacketID)
			c.Notify()
			return nil
		}
		if c.sess.Received(p.PacketID) {
			return c.write(&pk.Pubrel{PacketID: p.PacketID})
		}
		rel := &pk.Pubrel{PacketID: p.PacketID}
		if c.v5() {
			rel.ReasonCode = pk.ReasonPacketIdentifierNotFound
			c.problem(rel, &rel.Props, "no QoS 2 message in flight with this packet identifier")
		}
		return c.write(rel)
	case *pk.Pubcomp:
		if c.sess.Acked(p.PacketID, true) {
			c.Notify()
		}
	case *pk.Pubrel:
		comp := &pk.Pubcomp{PacketID: p.PacketID}
		if !c.sess.Release(p.PacketID) && c.v5() {
			comp.ReasonCode = pk.ReasonPacketIdentifierNotFound
			c.problem(comp, &comp.Props, "no QoS 2 message awaiting release with this packet identifier")
		}
		return c.write(comp)
	case *pk.Subscribe:
		return c.onSubscribe(p)
	case *pk.Unsubscribe:
		return c.onUnsubscribe(p)
	case *pk.Pingreq:
		return c.write(&pk.Pingresp{})
	case *pk.Disconnect:
		if c.v5() {
			if e, ok := p.Props.SessionExpiryInterval.Get(); ok {
				if c.connectExpiry == 0 && e != 0 {
					return protoErr(pk.ReasonProtocolError, "session expiry set on DISCONNECT after 0 on CONNECT")
				}
				c.sess.SetExpiry(e)
			}
			if p.ReasonCode == pk.ReasonDisconnectWithWillMessage {
				return io.EOF // abnormal for the will: it is published
			}
		}
		return errDisconnect
	case *pk.Connect:
		return protoErr(pk.ReasonProtocolError, "second CONNECT")
	case *pk.Auth:
		return protoErr(pk.ReasonProtocolError, "AUTH without an authentication method")
	default:
		return protoErr(pk.ReasonProtocolError, "unexpected "+p.Type().String()+" from a client")
	}
	return nil
}

func (c *conn) onPublish(p *pk.Publish) error {
	c.srv.stats.msgsIn.Add(1)
	cfg := c.srv.cfg
	topic := p.Topic
	if c.v5() {
		if a, ok := p.Props.TopicAlias.Get(); ok {
			if a == 0 || int(a) > cfg.TopicAliasMaximum {
				return protoErr(pk.ReasonTopicAliasInvalid, "topic alias out of range")
			}
			if topic != "" {
				c.aliases[a] = topic
			} else if topic = c.aliases[a]; topic == "" {
				return protoErr(pk.ReasonProtocolError, "unknown topic alias")
			}
		}
	}
	if topicLevels(topic) > cfg.MaxTopicLevels {
		return protoErr(pk.ReasonTopicNameInvalid, "too many topic levels")
	}
	if isSys(topic) {
		return c.refusePublish(p, "$SYS topics are the broker's")
	}
	if a := c.srv.auth; a != nil && !a.Allowed(c.principal, auth.Publish, topic) {
		// MQTT 3 has no negative acknowledgement: the message is
		// acknowledged and dropped (MQTT 3.1.1 section 3.3.5).
		return c.refusePublish(p, "not allowed to publish to this topic")
	}
	m := c.message(topic, p.Payload, p.QoS, p.Retain, &p.Props)
	m.Accepted = time.Now()
	in := inbound{qos: p.QoS, packetID: p.PacketID, topic: topic}
	if p.QoS == 2 {
		isNew, pending := c.sess.InboundQoS2(p.PacketID)
		if !isNew {
			// A resend of a message not released yet: stored already,
			// answered (in order) without storing it again.
			return c.enqueueAck(in)
		}
		if c.v5() && pending > cfg.ReceiveMaximum {
			return protoErr(pk.ReasonReceiveMaximumExceeded, "receive maximum exceeded")
		}
	}
	in.pub = c.srv.core.BeginPublish(c.ctx, m)
	return c.enqueueAck(in)
}

// enqueueAck hands a publish to the acker, waiting while the client has
// as many publishes being stored as the queue holds.
func (c *conn) enqueueAck(in inbound) error {
	select {
	case c.acks <- in:
		return nil
	case <-c.ctx.Done():
		return c.ctx.Err()
	}
}

// acker completes the client's publishes in the order they arrived: waits
// for each to be stored and routed, then acknowledges it. A publish that
// could not be stored gets a negative acknowledgement in MQTT 5 and closes
// the connection in MQTT 3 (which has none).
func (c *conn) acker() {
	broken := false
	for in := range c.acks {
		if broken {
			continue // drain: the connection is closing
		}
		var err error
		if in.pub != nil {
			_, err = in.pub.Wait(c.ctx)
		}
		var ack pk.Packet
		switch {
		case in.qos == 0:
			if err != nil {
				c.log.Warn().Err(err).Str("topic", in.topic).Msg("QoS 0 publish not routed")
			}
			continue
		case err != nil:
			if in.qos == 2 {
				c.sess.Release(in.packetID)
			}
			ack, err = c.notStored(err, in.topic, in.qos, in.packetID)
			if err != nil {
				broken = true
				_ = c.nc.Close()
				continue
			}
		case in.qos == 1:
			ack = &pk.Puback{PacketID: in.packetID}
		default:
			ack = &pk.Pubrec{PacketID: in.packetID}
		}
		if c.write(ack) != nil {
			broken = true
		}
	}
}

// notStored answers a QoS 1/2 PUBLISH the broker could not make durable:
// MQTT 5 gets the acknowledgement with reason 0x80 (the client may send
// it again), MQTT 3 has no negative acknowledgement, so the connection is
// closed and the client resends the unacknowledged message when it
// reconnects.
func (c *conn) notStored(err error, topic string, qos byte, packetID uint16) (pk.Packet, error) {
	c.log.Warn().Err(err).Str("topic", topic).Msg("publish not stored")
	if !c.v5() {
		return nil, fmt.Errorf("publish to %q not stored: %w", topic, err)
	}
	const why = "message not stored, send it again"
	if qos == 1 {
		a := &pk.Puback{PacketID: packetID, ReasonCode: pk.ReasonUnspecifiedError}
		c.problem(a, &a.Props, why)
		return a, nil
	}
	a := &pk.Pubrec{PacketID: packetID, ReasonCode: pk.ReasonUnspecifiedError}
	c.problem(a, &a.Props, why)
	return a, nil
}

// filterError checks one filter of a SUBSCRIBE or UNSUBSCRIBE against the
// topic filter rules and our limits; a failure fails that filter only.
func (c *conn) filterError(filter string) (group, tf string, err error) {
	if err := pk.ValidateTopicFilter(filter); err != nil {
		return "", "", err
	}
	group, tf, err = pk.ParseShared(filter)
	if err == nil && topicLevels(tf) > c.srv.cfg.MaxTopicLevels {
		err = protoErr(pk.ReasonTopicFilterInvalid, fmt.Sprintf("more than %d levels in %q", c.srv.cfg.MaxTopicLevels, filter))
	}
	return group, tf, err
}

// onSubscribe answers a SUBSCRIBE as a sequence of one-filter SUBSCRIBEs
// (MQTT 5.0 section 3.8.4): a filter that breaks the topic filter rules or
// our limits fails alone, with 0x8F Topic Filter invalid (0x80 Failure in
// 3.x), and the others are granted.
// refusePublish drops a client's PUBLISH the broker does not accept and
// acknowledges it: QoS 1 and 2 with 0x87 Not authorized in MQTT 5 (3.x has
// no reason codes: a plain PUBACK or PUBREC, MQTT 3.1.1 section 3.3.5).
func (c *conn) refusePublish(p *pk.Publish, why string) error {
	c.log.Debug().Str("topic", p.Topic).Str("why", why).Msg("publish refused")
	var ack pk.Packet
	switch p.QoS {
	case 0:
		return nil
	case 1:
		a := &pk.Puback{PacketID: p.PacketID}
		if c.v5() {
			a.ReasonCode = pk.ReasonNotAuthorized
			c.problem(a, &a.Props, why)
		}
		ack = a
	default:
		a := &pk.Pubrec{PacketID: p.PacketID}
		if c.v5() {
			// An error PUBREC ends the exchange: no PUBREL follows.
			a.ReasonCode = pk.ReasonNotAuthorized
			c.problem(a, &a.Props, why)
		}
		ack = a
	}
	return c.write(ack)
}

func (c *conn) onSubscribe(p *pk.Subscribe) error {
	ack := &pk.Suback{PacketID: p.PacketID}
	var subID uint32
	if len(p.Props.SubscriptionIdentifiers) > 0 {
		subID = p.Props.SubscriptionIdentifiers[0]
	}
	type retained struct {
		msgs []*core.Message
		qos  byte
	}
	var rets []retained
	var problems []string
	for i, s := range p.Subscriptions {
		group, tf, err := c.filterError(s.Filter)
		if err != nil {
			if c.v5() {
				ack.ReasonCodes = append(ack.ReasonCodes, pk.ReasonTopicFilterInvalid)
			} else {
				ack.ReasonCodes = append(ack.ReasonCodes, pk.V3SubackFailure)
			}
			problems = append(problems, fmt.Sprintf("filter %d: %s", i+1, reasonMsg(err)))
			continue
		}
		if group != "" && s.NoLocal {
			return protoErr(pk.ReasonProtocolError, "no local on a shared subscription")
		}
		if a := c.srv.auth; a != nil && !a.Allowed(c.principal, auth.Subscribe, tf) {
			if c.v5() {
				ack.ReasonCodes = append(ack.ReasonCodes, pk.ReasonNotAuthorized)
			} else {
				ack.ReasonCodes = append(ack.ReasonCodes, pk.V3SubackFailure)
			}
			problems = append(problems, fmt.Sprintf("filter %d: not allowed to subscribe", i+1))
			continue
		}
		existed := c.srv.core.Subscribe(c.sess, core.Subscription{Filter: s.Filter, Group: group, TopicFilter: tf,
			QoS: s.QoS, NoLocal: s.NoLocal, RetainAsPublished: s.RetainAsPublished, RetainHandling: s.RetainHandling,
			ID: subID})
		ack.ReasonCodes = append(ack.ReasonCodes, pk.ReasonCode(s.QoS))
		if group == "" && (s.RetainHandling == 0 || (s.RetainHandling == 1 && !existed)) {
			rets = append(rets, retained{c.srv.core.Retained(tf), s.QoS})
		}
	}
	if len(problems) > 0 {
		c.log.Debug().Strs("problems", problems).Msg("subscriptions refused")
		c.problem(ack, &ack.Props, strings.Join(problems, "; "))
	}
	if err := c.write(ack); err != nil {
		return err
	}
	for _, r := range rets {
		c.srv.core.QueueRetained(c.sess, r.msgs, r.qos, subID)
	}
	return nil
}

// onUnsubscribe answers an UNSUBSCRIBE filter by filter: 0x00, 0x11 No
// subscription existed, or 0x8F for a filter that breaks the rules (MQTT 5;
// a 3.x UNSUBACK carries no codes).
func (c *conn) onUnsubscribe(p *pk.Unsubscribe) error {
	ack := &pk.Unsuback{PacketID: p.PacketID}
	var problems []string
	for i, f := range p.Filters {
		r := pk.ReasonSuccess
		if _, _, err := c.filterError(f); err != nil {
			r = pk.ReasonTopicFilterInvalid
			problems = append(problems, fmt.Sprintf("filter %d: %s", i+1, reasonMsg(err)))
		} else if !c.srv.core.Unsubscribe(c.sess, f) {
			r = pk.ReasonNoSubscriptionExisted
		}
		if c.v5() {
			ack.ReasonCodes = append(ack.ReasonCodes, r)
		}
	}
	if len(problems) > 0 {
		c.problem(ack, &ack.Props, strings.Join(problems, "; "))
	}
	return c.write(ack)
}

// reasonMsg is the message of a protocol error without its prefix.
func reasonMsg(err error) string {
	var pe *pk.ProtocolError
	if errors.As(err, &pe) {
		return pe.Msg
	}
	return err.Error()
}
