package mqttwire

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
)

// Packet types (high nibble of the fixed header, MQTT 3.1.1 section 2.2.1).
const (
	typeConnect    = 1
	typeConnack    = 2
	typePublish    = 3
	typePuback     = 4
	typeSubscribe  = 8
	typeSuback     = 9
	typePingresp   = 13
	typeDisconnect = 14
)

// maxPacket bounds a packet the reader accepts (the benchmark sends small ones).
const maxPacket = 16 << 20

// ErrClosed is returned (and given to pending publishes) once the
// connection is closed by Close.
var ErrClosed = errors.New("mqttwire: connection closed")

// Message is one PUBLISH received. Topic and Payload are only valid
// during the OnMessage call.
type Message struct {
	Topic    []byte
	Payload  []byte
	QoS      byte
	PacketID uint16
	Dup      bool
}

// Options configure a connection.
type Options struct {
	ClientID     string
	CleanSession bool
	// KeepAlive is sent in CONNECT, in whole seconds; 0 turns it off.
	// The client sends no PINGREQ: a benchmark connection is never idle
	// for long, so leave it 0 unless the broker insists.
	KeepAlive time.Duration
	// OnMessage is called from the reader goroutine, in arrival order, for
	// every PUBLISH the broker sends. It must not block for long.
	OnMessage func(Message)
	// ManualAck leaves the PUBACK of a received QoS 1 message to the
	// caller (Ack); otherwise it is sent as soon as OnMessage returns.
	ManualAck bool
	// MaxBuffered bounds the bytes waiting to be written; a publish beyond
	// it waits for the flusher (default 1 MiB).
	MaxBuffered int
}

// Conn is one MQTT 3.1.1 connection.
type Conn struct {
	nc   net.Conn
	opts Options

	mu      sync.Mutex
	space   *sync.Cond // out drained below MaxBuffered, or closed
	out     []byte
	writing bool // the flusher holds a batch not yet written
	closed  bool
	err     error
	pending map[uint16]func(error) // QoS 1 publishes awaiting PUBACK
	subacks map[uint16]chan []byte
	nextID  uint16

	kick        chan struct{} // capacity 1: out has bytes
	stop        chan struct{} // closed by shutdown
	readerDone  chan struct{}
	flusherDone chan struct{}
	closeOnce   sync.Once
}

// Dial connects to addr and completes the CONNECT/CONNACK exchange within
// ctx's deadline.
func Dial(ctx context.Context, addr string, o Options) (*Conn, error) {
	if o.MaxBuffered <= 0 {
		o.MaxBuffered = 1 << 20
	}
	if o.KeepAlive < 0 || o.KeepAlive > 65535*time.Second {
		return nil, fmt.Errorf("mqttwire: keep alive %v out of range", o.KeepAlive)
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("mqttwire: dial %s: %w", addr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	br := bufio.NewReaderSize(nc, 64<<10)
	if _, err := nc.Write(connectPacket(o)); err != nil {
		nc.Close()
		return nil, fmt.Errorf("mqttwire: %s: send CONNECT: %w", addr, err)
	}
	hdr, body, err := readPacket(br, nil)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("mqttwire: %s: no CONNACK: %w", addr, err)
	}
	if hdr>>4 != typeConnack || len(body) != 2 {
		nc.Close()
		return nil, fmt.Errorf("mqttwire: %s: expected CONNACK, got packet type %d (%d bytes)", addr, hdr>>4, len(body))
	}
	if body[1] != 0 {
		nc.Close()
		return nil, fmt.Errorf("mqttwire: %s: CONNACK return code %d", addr, body[1])
	}
	_ = nc.SetDeadline(time.Time{})
	c := &Conn{
		nc: nc, opts: o,
		pending: map[uint16]func(error){}, subacks: map[uint16]chan []byte{},
		kick: make(chan struct{}, 1), stop: make(chan struct{}),
		readerDone: make(chan struct{}), flusherDone: make(chan struct{}),
	}
	c.space = sync.NewCond(&c.mu)
	go c.readLoop(br)
	go c.flushLoop()
	return c, nil
}

func connectPacket(o Options) []byte {
	var flags byte
	if o.CleanSession {
		flags |= 0x02
	}
	body := make([]byte, 0, 12+len(o.ClientID))
	body = appendString(body, "MQTT")
	body = append(body, 4, flags)
	body = binary.BigEndian.AppendUint16(body, uint16(o.KeepAlive/time.Second))
	body = appendString(body, o.ClientID)
	return appendPacket(nil, typeConnect<<4, body)
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// appendPacket appends a fixed header for len(body) and body.
func appendPacket(b []byte, hdr byte, body []byte) []byte {
	b = appendHeader(b, hdr, len(body))
	return append(b, body...)
}

func appendHeader(b []byte, hdr byte, remaining int) []byte {
	b = append(b, hdr)
	for {
		d := byte(remaining % 128)
		remaining /= 128
		if remaining > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if remaining == 0 {
			return b
		}
	}
}

// readPacket reads one packet; body reuses buf when it is large enough.
func readPacket(br *bufio.Reader, buf []byte) (byte, []byte, error) {
	hdr, err := br.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	remaining, mult := 0, 1
	for i := 0; ; i++ {
		if i == 4 {
			return 0, nil, errors.New("mqttwire: malformed remaining length")
		}
		d, err := br.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		remaining += int(d&0x7f) * mult
		mult *= 128
		if d&0x80 == 0 {
			break
		}
	}
	if remaining > maxPacket {
		return 0, nil, fmt.Errorf("mqttwire: packet of %d bytes", remaining)
	}
	if cap(buf) < remaining {
		buf = make([]byte, remaining)
	}
	buf = buf[:remaining]
	if _, err := io.ReadFull(br, buf); err != nil {
		return 0, nil, err
	}
	return hdr, buf, nil
}

// Done is closed once the connection has failed or been closed.
func (c *Conn) Done() <-chan struct{} { return c.readerDone }

// Err is why the connection ended (nil while it is up).
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Pending is the number of QoS 1 publishes not acknowledged yet.
func (c *Conn) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending)
}

// waitSpace waits (c.mu held) until the write buffer has room.
func (c *Conn) waitSpace() error {
	for len(c.out) >= c.opts.MaxBuffered && !c.closed {
		c.space.Wait()
	}
	if c.closed {
		return c.err
	}
	return nil
}

func (c *Conn) signal() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// freeID returns an unused packet id (c.mu held).
func (c *Conn) freeID() (uint16, error) {
	for range 65535 {
		c.nextID++
		if c.nextID == 0 {
			c.nextID = 1
		}
		if _, ok := c.pending[c.nextID]; ok {
			continue
		}
		if _, ok := c.subacks[c.nextID]; ok {
			continue
		}
		return c.nextID, nil
	}
	return 0, errors.New("mqttwire: every packet id is in use")
}

func appendPublish(b []byte, topic string, payload []byte, qos byte, id uint16) []byte {
	n := 2 + len(topic) + len(payload)
	if qos > 0 {
		n += 2
	}
	b = appendHeader(b, typePublish<<4|qos<<1, n)
	b = appendString(b, topic)
	if qos > 0 {
		b = binary.BigEndian.AppendUint16(b, id)
	}
	return append(b, payload...)
}

// Publish0 queues a QoS 0 PUBLISH (it may wait for buffer room).
func (c *Conn) Publish0(topic string, payload []byte) error {
	c.mu.Lock()
	if err := c.waitSpace(); err != nil {
		c.mu.Unlock()
		return err
	}
	c.out = appendPublish(c.out, topic, payload, 0, 0)
	c.mu.Unlock()
	c.signal()
	return nil
}

// Publish1 queues a QoS 1 PUBLISH; done is called exactly once, from the
// reader goroutine, with nil at its PUBACK or with the connection's error,
// unless Publish1 itself returns an error.
func (c *Conn) Publish1(topic string, payload []byte, done func(error)) error {
	c.mu.Lock()
	if err := c.waitSpace(); err != nil {
		c.mu.Unlock()
		return err
	}
	id, err := c.freeID()
	if err != nil {
		c.mu.Unlock()
		return err
	}
	c.pending[id] = done
	c.out = appendPublish(c.out, topic, payload, 1, id)
	c.mu.Unlock()
	c.signal()
	return nil
}

// Ack sends the PUBACK of a QoS 1 message received with ManualAck.
func (c *Conn) Ack(id uint16) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return c.err
	}
	c.ackLocked(id)
	return nil
}

func (c *Conn) ackLocked(id uint16) {
	c.out = append(c.out, typePuback<<4, 2, byte(id>>8), byte(id))
	c.signal()
}

// Subscribe subscribes to filter at qos and returns the granted QoS.
func (c *Conn) Subscribe(ctx context.Context, filter string, qos byte) (byte, error) {
	ch := make(chan []byte, 1)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0, c.err
	}
	id, err := c.freeID()
	if err != nil {
		c.mu.Unlock()
		return 0, err
	}
	c.subacks[id] = ch
	body := binary.BigEndian.AppendUint16(nil, id)
	body = appendString(body, filter)
	body = append(body, qos)
	c.out = appendPacket(c.out, typeSubscribe<<4|0x02, body)
	c.mu.Unlock()
	c.signal()
	select {
	case codes := <-ch:
		if len(codes) != 1 || codes[0] > 2 {
			return 0, fmt.Errorf("mqttwire: SUBACK for %q: % x", filter, codes)
		}
		return codes[0], nil
	case <-c.readerDone:
		return 0, fmt.Errorf("mqttwire: subscribe %q: %w", filter, c.Err())
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.subacks, id)
		c.mu.Unlock()
		return 0, fmt.Errorf("mqttwire: subscribe %q: %w", filter, ctx.Err())
	}
}

func (c *Conn) readLoop(br *bufio.Reader) {
	defer close(c.readerDone)
	var buf []byte
	for {
		hdr, body, err := readPacket(br, buf)
		if err != nil {
			c.shutdown(fmt.Errorf("mqttwire: read: %w", err))
			return
		}
		buf = body
		if err := c.handle(hdr, body); err != nil {
			c.shutdown(err)
			return
		}
	}
}

func (c *Conn) handle(hdr byte, body []byte) error {
	switch hdr >> 4 {
	case typePublish:
		qos := (hdr >> 1) & 3
		if len(body) < 2 {
			return errors.New("mqttwire: short PUBLISH")
		}
		tl := int(binary.BigEndian.Uint16(body))
		if len(body) < 2+tl {
			return errors.New("mqttwire: short PUBLISH topic")
		}
		m := Message{Topic: body[2 : 2+tl], QoS: qos, Dup: hdr&0x08 != 0}
		rest := body[2+tl:]
		if qos > 0 {
			if len(rest) < 2 {
				return errors.New("mqttwire: PUBLISH without packet id")
			}
			m.PacketID = binary.BigEndian.Uint16(rest)
			rest = rest[2:]
		}
		if qos > 1 {
			return errors.New("mqttwire: QoS 2 PUBLISH received; the benchmark subscribes at QoS 0 or 1")
		}
		m.Payload = rest
		if c.opts.OnMessage != nil {
			c.opts.OnMessage(m)
		}
		if qos == 1 && !c.opts.ManualAck {
			c.mu.Lock()
			if !c.closed {
				c.ackLocked(m.PacketID)
			}
			c.mu.Unlock()
		}
	case typePuback:
		if len(body) != 2 {
			return errors.New("mqttwire: malformed PUBACK")
		}
		id := binary.BigEndian.Uint16(body)
		c.mu.Lock()
		done, ok := c.pending[id]
		delete(c.pending, id)
		c.mu.Unlock()
		if !ok {
			return fmt.Errorf("mqttwire: PUBACK for unknown packet id %d", id)
		}
		done(nil)
	case typeSuback:
		if len(body) < 3 {
			return errors.New("mqttwire: malformed SUBACK")
		}
		id := binary.BigEndian.Uint16(body)
		c.mu.Lock()
		ch, ok := c.subacks[id]
		delete(c.subacks, id)
		c.mu.Unlock()
		if ok {
			ch <- append([]byte(nil), body[2:]...)
		}
	case typePingresp:
	default:
		return fmt.Errorf("mqttwire: unexpected packet type %d", hdr>>4)
	}
	return nil
}

func (c *Conn) flushLoop() {
	defer close(c.flusherDone)
	var spare []byte
	for {
		select {
		case <-c.kick:
		case <-c.stop:
			return
		}
		c.mu.Lock()
		batch := c.out
		c.out = spare[:0]
		c.writing = len(batch) > 0
		c.space.Broadcast()
		c.mu.Unlock()
		if len(batch) > 0 {
			_, err := c.nc.Write(batch)
			c.mu.Lock()
			c.writing = false
			c.mu.Unlock()
			if err != nil {
				c.shutdown(fmt.Errorf("mqttwire: write: %w", err))
				return
			}
		}
		spare = batch
	}
}

// shutdown marks the connection failed with err (the first reason wins),
// fails every pending publish and closes the socket.
func (c *Conn) shutdown(err error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.err = err
	pending := c.pending
	c.pending = map[uint16]func(error){}
	c.space.Broadcast()
	c.mu.Unlock()
	close(c.stop)
	c.nc.Close()
	for _, done := range pending {
		done(err)
	}
}

// Close sends DISCONNECT after whatever is queued (waiting at most a
// second for it to be written), closes the connection and waits for both
// goroutines. Publishes still pending fail with ErrClosed.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		if !c.closed {
			c.out = append(c.out, typeDisconnect<<4, 0)
			c.signal()
		}
		c.mu.Unlock()
		deadline := time.Now().Add(time.Second)
		for time.Now().Before(deadline) {
			c.mu.Lock()
			flushed := (len(c.out) == 0 && !c.writing) || c.closed
			c.mu.Unlock()
			if flushed {
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		c.shutdown(ErrClosed)
	})
	<-c.readerDone
	<-c.flusherDone
	return nil
}

// WaitReady polls addr with a clean-session CONNECT until a CONNACK
// accepts it, timeout passes, or exited (the server process's) closes.
func WaitReady(ctx context.Context, addr string, timeout time.Duration, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-exited:
			return fmt.Errorf("mqttwire: server at %s exited before accepting a connection", addr)
		default:
		}
		dctx, dcancel := context.WithTimeout(ctx, 2*time.Second)
		c, err := Dial(dctx, addr, Options{ClientID: "bench-ready", CleanSession: true})
		dcancel()
		if err == nil {
			return c.Close()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("mqttwire: %s not accepting MQTT connections within %v: %w (last: %v)", addr, timeout, ctx.Err(), err)
		case <-tick.C:
		}
	}
}
