package clients

import (
	"context"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/robustmq/robustmq-go/common/leaderclient"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
	"github.com/robustmq/robustmq-go/tests/bench/internal/load"
)

// Pool is a set of putters and the means to close what they hold.
type Pool struct {
	Putters []load.Putter
	closers []func() error
}

// Close closes every client of the pool.
func (p *Pool) Close() error {
	var errs []error
	for _, c := range p.closers {
		errs = append(errs, c())
	}
	return errors.Join(errs...)
}

type placementPutter struct {
	api placementpb.PlacementServiceClient
}

func (p placementPutter) Put(ctx context.Context, key string, value []byte) error {
	_, err := p.api.PutKV(ctx, &placementpb.PutKVRequest{Key: key, Value: value})
	return err
}

// NewPlacementPool returns size leader-following clients over addrs.
// callTimeout bounds a call including its leader-following retries.
func NewPlacementPool(addrs []string, size int, callTimeout time.Duration) (*Pool, error) {
	if size <= 0 {
		return nil, fmt.Errorf("clients: pool size %d", size)
	}
	p := &Pool{}
	for range size {
		c, err := leaderclient.Dial(addrs, leaderclient.Options{CallTimeout: callTimeout})
		if err != nil {
			return nil, errors.Join(fmt.Errorf("clients: placement: %w", err), p.Close())
		}
		p.closers = append(p.closers, c.Close)
		p.Putters = append(p.Putters, placementPutter{api: placementpb.NewPlacementServiceClient(c)})
	}
	return p, nil
}

type etcdPutter struct {
	kv clientv3.KV
}

func (p etcdPutter) Put(ctx context.Context, key string, value []byte) error {
	_, err := p.kv.Put(ctx, key, string(value))
	return err
}

// NewEtcdPool returns size etcd clients over endpoints (http://host:port).
func NewEtcdPool(endpoints []string, size int) (*Pool, error) {
	if size <= 0 {
		return nil, fmt.Errorf("clients: pool size %d", size)
	}
	p := &Pool{}
	for range size {
		c, err := NewEtcdClient(endpoints)
		if err != nil {
			return nil, errors.Join(err, p.Close())
		}
		p.closers = append(p.closers, c.Close)
		p.Putters = append(p.Putters, etcdPutter{kv: c.KV})
	}
	return p, nil
}

// NewEtcdClient is one quiet etcd client over endpoints.
func NewEtcdClient(endpoints []string) (*clientv3.Client, error) {
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("clients: etcd: %w", err)
	}
	return c, nil
}
