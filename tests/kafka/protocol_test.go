package kafka

import (
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// roundTrip writes one raw frame and reads one response frame.
func roundTrip(t *testing.T, conn net.Conn, frame []byte) ([]byte, error) {
	t.Helper()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(frame); err != nil {
		return nil, err
	}
	var size [4]byte
	if _, err := io.ReadFull(conn, size[:]); err != nil {
		return nil, err
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	_, err := io.ReadFull(conn, body)
	return body, err
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// TestIntegrationKafkaProtocolErrors: an ApiVersions version the broker
// does not know gets UNSUPPORTED_VERSION (35) in a v0 body listing the
// supported ranges (KIP-511); a malformed Heartbeat gets INVALID_REQUEST
// on a connection that keeps serving; a malformed Metadata body or an
// oversized frame closes only that connection; the broker serves on.
func TestIntegrationKafkaProtocolErrors(t *testing.T) {
	c := startCluster(t, 1)
	addr := c.kafka(0)
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("raw"))

	conn := dial(t, addr)
	av := kmsg.NewPtrApiVersionsRequest()
	av.SetVersion(3)
	frame := f.AppendRequest(nil, av, 1)
	binary.BigEndian.PutUint16(frame[6:], 77) // version 77
	body, err := roundTrip(t, conn, frame)
	if err != nil {
		t.Fatal(err)
	}
	if binary.BigEndian.Uint32(body) != 1 {
		t.Fatalf("correlation id %d", binary.BigEndian.Uint32(body))
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(0)
	if err := resp.ReadFrom(body[4:]); err != nil {
		t.Fatalf("v0 body: %v", err)
	}
	if resp.ErrorCode != 35 || len(resp.ApiKeys) < 20 {
		t.Fatalf("error %d, %d api keys", resp.ErrorCode, len(resp.ApiKeys))
	}
	maxOf := map[int16]int16{}
	for _, k := range resp.ApiKeys {
		maxOf[k.ApiKey] = k.MaxVersion
	}
	if maxOf[18] != 3 || maxOf[1] < 11 || maxOf[0] < 7 {
		t.Fatalf("ranges %v", maxOf)
	}

	// Heartbeat v3 whose body stops half way.
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.SetVersion(3)
	hb.Group, hb.MemberID, hb.Generation = "g", "m", 1
	frame = f.AppendRequest(nil, hb, 2)
	frame = frame[:len(frame)-4]
	binary.BigEndian.PutUint32(frame, uint32(len(frame)-4))
	body, err = roundTrip(t, conn, frame)
	if err != nil {
		t.Fatal(err)
	}
	hr := kmsg.NewPtrHeartbeatResponse()
	hr.SetVersion(3)
	if err := hr.ReadFrom(body[4:]); err != nil || hr.ErrorCode != 42 {
		t.Fatalf("malformed heartbeat: error %d, %v", hr.ErrorCode, err)
	}
	// The same connection still answers a valid request.
	md := kmsg.NewPtrMetadataRequest()
	md.SetVersion(1)
	if _, err := roundTrip(t, conn, f.AppendRequest(nil, md, 3)); err != nil {
		t.Fatalf("metadata after a malformed request: %v", err)
	}

	// A Metadata body with an impossible topic count: the connection is
	// closed (Metadata has no error field to answer with).
	bad := dial(t, addr)
	frame = f.AppendRequest(nil, md, 4)
	frame = append(frame[:len(frame)-4], 0x7f, 0xff, 0xff, 0xff)
	if _, err := roundTrip(t, bad, frame); err == nil {
		t.Fatal("malformed metadata answered")
	}
	// An oversized frame: closed as well.
	big := dial(t, addr)
	if _, err := roundTrip(t, big, []byte{0x7f, 0xff, 0xff, 0xff, 0, 3, 0, 1}); err == nil {
		t.Fatal("oversized frame answered")
	}
	// The broker is fine.
	ok := dial(t, addr)
	body, err = roundTrip(t, ok, f.AppendRequest(nil, md, 5))
	if err != nil {
		t.Fatalf("broker after bad frames: %v", err)
	}
	mr := kmsg.NewPtrMetadataResponse()
	mr.SetVersion(1)
	if err := mr.ReadFrom(body[4:]); err != nil || len(mr.Brokers) != 1 {
		t.Fatalf("metadata: %v %+v", err, mr.Brokers)
	}
}
