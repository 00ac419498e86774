package rtt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/robustmq/robustmq-go/proto/gen/journalpb"
	"github.com/robustmq/robustmq-go/tests/bench/internal/stats"
)

// Options shape one measurement.
type Options struct {
	Count int           // round trips per transport
	Size  int           // request bytes (the append's batch)
	Pause time.Duration // idle time between two round trips, as between appends at C = 1
}

// Result is one transport's round trips.
type Result struct {
	Transport string  `json:"transport"`
	Count     int     `json:"count"`
	P50Ms     float64 `json:"p50_ms"`
	P90Ms     float64 `json:"p90_ms"`
	MeanMs    float64 `json:"mean_ms"`
}

// Run measures Count round trips over gRPC, then over plain TCP.
func Run(ctx context.Context, o Options) ([]Result, error) {
	if o.Count <= 0 || o.Size <= 0 || o.Pause < 0 {
		return nil, fmt.Errorf("rtt: count %d, size %d, pause %v", o.Count, o.Size, o.Pause)
	}
	g, err := overGRPC(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("rtt: grpc: %w", err)
	}
	t, err := overTCP(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("rtt: tcp: %w", err)
	}
	return []Result{summarize("grpc-stream", g), summarize("tcp", t)}, nil
}

func summarize(name string, d []time.Duration) Result {
	mean := stats.Mean(d)
	slices.Sort(d)
	ms := func(x time.Duration) float64 { return float64(x.Microseconds()) / 1000 }
	return Result{Transport: name, Count: len(d), P50Ms: ms(stats.Percentile(d, 50)), P90Ms: ms(stats.Percentile(d, 90)), MeanMs: ms(mean)}
}

// echo answers every Append request at once, as a leader whose write and
// replication took no time.
type echo struct {
	journalpb.UnimplementedJournalServiceServer
}

func (echo) Append(s journalpb.JournalService_AppendServer) error {
	for {
		req, err := s.Recv()
		if err != nil {
			return nil
		}
		if err := s.Send(&journalpb.AppendResponse{RequestId: req.GetRequestId(), FirstOffset: req.GetRequestId(), NextOffset: req.GetRequestId() + 1}); err != nil {
			return err
		}
	}
}

func overGRPC(ctx context.Context, o Options) ([]time.Duration, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := grpc.NewServer()
	journalpb.RegisterJournalServiceServer(srv, echo{})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	defer func() {
		srv.Stop()
		<-served
	}()
	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	defer cc.Close()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := journalpb.NewJournalServiceClient(cc).Append(sctx)
	if err != nil {
		return nil, err
	}
	batch := make([]byte, o.Size)
	return loop(ctx, o, func(i int) error {
		if err := stream.Send(&journalpb.AppendRequest{RequestId: uint64(i), Batch: batch}); err != nil {
			return err
		}
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		if resp.GetRequestId() != uint64(i) {
			return fmt.Errorf("answer to request %d, want %d", resp.GetRequestId(), i)
		}
		return nil
	})
}

// answerBytes is what the TCP echo sends back: about an AppendResponse.
const answerBytes = 32

func overTCP(ctx context.Context, o Options) ([]time.Duration, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer lis.Close()
	served := make(chan error, 1)
	go func() {
		c, err := lis.Accept()
		if err != nil {
			served <- err
			return
		}
		defer c.Close()
		buf := make([]byte, o.Size)
		for {
			if _, err := io.ReadFull(c, buf); err != nil {
				served <- nil
				return
			}
			if _, err := c.Write(buf[:min(answerBytes, o.Size)]); err != nil {
				served <- err
				return
			}
		}
	}()
	c, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		return nil, err
	}
	// A read has no context of its own: closing the connection when ctx
	// ends is what bounds one.
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	req := make([]byte, o.Size)
	answer := make([]byte, min(answerBytes, o.Size))
	d, err := loop(ctx, o, func(int) error {
		if _, err := c.Write(req); err != nil {
			return err
		}
		_, err := io.ReadFull(c, answer)
		return err
	})
	c.Close()
	if serr := <-served; err == nil && serr != nil && !errors.Is(serr, net.ErrClosed) {
		err = serr
	}
	return d, err
}

// loop times o.Count calls of roundTrip with o.Pause between them.
func loop(ctx context.Context, o Options, roundTrip func(i int) error) ([]time.Duration, error) {
	out := make([]time.Duration, 0, o.Count)
	for i := range o.Count {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		t0 := time.Now()
		if err := roundTrip(i); err != nil {
			return out, err
		}
		out = append(out, time.Since(t0))
		if o.Pause > 0 {
			time.Sleep(o.Pause)
		}
	}
	return out, nil
}
