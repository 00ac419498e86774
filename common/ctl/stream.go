package ctl

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/robustmq/robustmq-go/common/streamclient"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// streams returns the stream client of this invocation, in cmd's tenant.
// watch starts a metadata cache (for commands that produce or consume).
func (e *env) streams(cmd *cobra.Command, watch bool) (*streamclient.Client, error) {
	if e.sc != nil {
		return e.sc, nil
	}
	c, err := e.dial()
	if err != nil {
		return nil, err
	}
	e.sc = streamclient.New(c, streamclient.Options{Tenant: tenantOf(cmd), WatchMetadata: watch, MetadataTimeout: min(e.timeout, 5*time.Second)})
	return e.sc, nil
}

// printValue writes v as one indented JSON document.
func printValue(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode JSON: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// streamView is the JSON form of a described stream.
type streamView struct {
	Tenant     string            `json:"tenant"`
	Name       string            `json:"name"`
	Partitions int               `json:"partitions"`
	Replicas   uint32            `json:"replicas"`
	AckQuorum  uint32            `json:"ackQuorum"`
	Config     map[string]string `json:"config,omitempty"`
	Parts      []partitionView   `json:"partitionList"`
}

type partitionView struct {
	Partition     int           `json:"partition"`
	Shard         string        `json:"shard"`
	ActiveSegment uint32        `json:"activeSegment"`
	Segments      []segmentView `json:"segments"`
}

type segmentView struct {
	Seq         uint32   `json:"seq"`
	Status      string   `json:"status"`
	Replicas    []uint64 `json:"replicas"`
	Leader      uint64   `json:"leader"`
	Epoch       uint64   `json:"epoch"`
	AckQuorum   uint32   `json:"ackQuorum"`
	StartOffset uint64   `json:"startOffset"`
	// EndOffset is set once sealed.
	EndOffset *uint64 `json:"endOffset,omitempty"`
	// LAC and LogEnd come from the journal's Describe (the leader's, else
	// another replica's: DescribedBy); DescribeError says why they are
	// missing.
	LAC           *uint64 `json:"lac,omitempty"`
	LogEnd        *uint64 `json:"logEnd,omitempty"`
	DescribedBy   uint64  `json:"describedBy,omitempty"`
	DescribeError string  `json:"describeError,omitempty"`
}

// viewStream builds the view, asking the journal about every segment (in
// parallel) when journal is set.
func viewStream(ctx context.Context, sc *streamclient.Client, st *streamclient.Stream, journal bool) streamView {
	v := streamView{Tenant: st.Tenant, Name: st.Name, Partitions: st.PartitionCount, Replicas: st.Replicas, AckQuorum: st.AckQuorum, Parts: []partitionView{}}
	if len(st.Config) > 0 {
		v.Config = st.Config
	}
	var wg sync.WaitGroup
	for _, p := range st.Partitions {
		pv := partitionView{Partition: p.Index, Shard: p.Shard.GetName(), ActiveSegment: p.Shard.GetActiveSegment(), Segments: make([]segmentView, len(p.Segments))}
		for i, s := range p.Segments {
			sv := &pv.Segments[i]
			*sv = segmentView{Seq: s.GetSeq(), Status: enumName(s.GetStatus().String(), "SEGMENT_STATUS_"), Replicas: s.GetReplicas(),
				Leader: s.GetLeader(), Epoch: s.GetEpoch(), AckQuorum: s.GetAckQuorum(), StartOffset: s.GetStartOffset()}
			if sv.Replicas == nil {
				sv.Replicas = []uint64{}
			}
			if s.GetStatus() == placementpb.SegmentStatus_SEGMENT_STATUS_SEALED {
				end := s.GetEndOffset()
				sv.EndOffset = &end
			}
			if !journal {
				continue
			}
			wg.Add(1)
			go func(s *placementpb.Segment) {
				defer wg.Done()
				d, err := sc.DescribeSegment(ctx, s)
				if err != nil {
					sv.DescribeError = describe(err)
					return
				}
				lac, end := d.GetLac(), d.GetLogEnd()
				sv.LAC, sv.LogEnd, sv.DescribedBy = &lac, &end, d.Node
			}(s)
		}
		v.Parts = append(v.Parts, pv)
	}
	wg.Wait()
	return v
}

func optU64(p *uint64) string {
	if p == nil {
		return "-"
	}
	return u64(*p)
}

// streamTable prints the stream line, then a row per segment of every
// partition.
func streamTable(w io.Writer, v streamView) error {
	line := fmt.Sprintf("stream %s/%s  partitions %d  replicas %d  ack-quorum %d", v.Tenant, v.Name, v.Partitions, v.Replicas, v.AckQuorum)
	keys := make([]string, 0, len(v.Config))
	for k := range v.Config {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		line += fmt.Sprintf("  %s %s", k, v.Config[k])
	}
	if _, err := fmt.Fprintf(w, "%s\n\n", line); err != nil {
		return err
	}
	var rows [][]string
	var problems []string
	for _, p := range v.Parts {
		for _, s := range p.Segments {
			rows = append(rows, []string{fmt.Sprint(p.Partition), u32(s.Seq), s.Status, replicas(s.Replicas), u64(s.Leader), u64(s.Epoch),
				u64(s.StartOffset), optU64(s.EndOffset), optU64(s.LAC), optU64(s.LogEnd)})
			if s.DescribeError != "" {
				problems = append(problems, fmt.Sprintf("partition %d segment %d: %s", p.Partition, s.Seq, strings.ReplaceAll(s.DescribeError, "\n", " ")))
			}
		}
	}
	if err := table(w, []string{"PARTITION", "SEQ", "STATUS", "REPLICAS", "LEADER", "EPOCH", "START", "END", "LAC", "LOG-END"}, rows); err != nil {
		return err
	}
	if len(problems) > 0 {
		_, err := fmt.Fprintf(w, "\njournal describe failed:\n  %s\n", strings.Join(problems, "\n  "))
		return err
	}
	return nil
}

func streamCmd(e *env) *cobra.Command {
	c := group("stream", "Streams (alias topic, as Kafka calls them): named sets of partitions (one shard each) written through the journal",
		"  robustctl stream create orders --partitions 4 --replicas 3\n  robustctl stream describe orders\n  robustctl topic list")
	// A Kafka topic is a stream: "topic" reaches the same commands.
	c.Aliases = []string{"topic"}
	var cfg streamclient.StreamConfig
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a stream: one shard NAME/<i> per partition, each with its first segment placed on journal nodes",
		Example: "  robustctl stream create orders --partitions 4 --replicas 3 --ack-quorum 2\n" +
			"  robustctl stream create audit --partitions 1 --replicas 1 --retention-time 168h",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sc, err := e.streams(cmd, false)
			if err != nil {
				return err
			}
			ctx, cancel := e.ctx(cmd)
			defer cancel()
			st, warnings, err := sc.CreateStream(ctx, args[0], cfg)
			for _, w := range warnings {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning:", w)
			}
			if err != nil {
				return err
			}
			v := viewStream(ctx, sc, st, false)
			if e.output == outputJSON {
				return printValue(e.out, v)
			}
			return streamTable(e.out, v)
		},
	}
	f := create.Flags()
	f.IntVar(&cfg.Partitions, "partitions", 1, "number of partitions")
	f.Uint32Var(&cfg.Replicas, "replicas", 0, "replicas per segment (0: default 3, clamped to live journals)")
	f.Uint32Var(&cfg.AckQuorum, "ack-quorum", 0, "replicas that must store a batch before it is acknowledged (0: default 2)")
	f.Uint64Var(&cfg.SegmentMaxBytes, "segment-max-bytes", 0, "roll a segment at this size (0: journal default)")
	f.DurationVar(&cfg.SegmentMaxAge, "segment-max-age", 0, "roll a segment at this age (0: journal default)")
	f.DurationVar(&cfg.RetentionTime, "retention-time", 0, "delete sealed segments older than this (0: journal default)")
	f.Uint64Var(&cfg.RetentionBytes, "retention-bytes", 0, "keep at most this many bytes per partition (0: journal default)")

	describeCmd := &cobra.Command{
		Use:     "describe NAME",
		Short:   "Show a stream's partitions and segments, with each segment's LAC and log end from the journal",
		Example: "  robustctl stream describe orders\n  robustctl stream describe orders -o json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sc, err := e.streams(cmd, false)
			if err != nil {
				return err
			}
			ctx, cancel := e.ctx(cmd)
			defer cancel()
			st, err := sc.DescribeStream(ctx, args[0])
			if err != nil {
				return err
			}
			v := viewStream(ctx, sc, st, true)
			if e.output == outputJSON {
				return printValue(e.out, v)
			}
			return streamTable(e.out, v)
		},
	}
	list := &cobra.Command{
		Use: "list", Short: "List the tenant's streams", Example: "  robustctl stream list\n  robustctl stream list --tenant acme -o json",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sc, err := e.streams(cmd, false)
			if err != nil {
				return err
			}
			ctx, cancel := e.ctx(cmd)
			defer cancel()
			list, err := sc.ListStreams(ctx)
			if err != nil {
				return err
			}
			type row struct {
				Tenant          string `json:"tenant"`
				Name            string `json:"name"`
				Partitions      int    `json:"partitions"`
				PartitionsFound int    `json:"partitionsFound"`
				Replicas        uint32 `json:"replicas"`
				AckQuorum       uint32 `json:"ackQuorum"`
			}
			rows := make([]row, 0, len(list))
			var cells [][]string
			for _, s := range list {
				rows = append(rows, row{s.Tenant, s.Name, s.PartitionCount, s.PartitionsFound, s.Replicas, s.AckQuorum})
				parts := fmt.Sprint(s.PartitionCount)
				if s.PartitionsFound != s.PartitionCount {
					parts = fmt.Sprintf("%d (%d found)", s.PartitionCount, s.PartitionsFound)
				}
				cells = append(cells, []string{s.Name, parts, u32(s.Replicas), u32(s.AckQuorum)})
			}
			if e.output == outputJSON {
				return printValue(e.out, rows)
			}
			return table(e.out, []string{"NAME", "PARTITIONS", "REPLICAS", "ACK-QUORUM"}, cells)
		},
	}
	del := &cobra.Command{
		Use: "delete NAME", Short: "Delete a stream's partitions (the journal nodes then drop their replicas)",
		Example: "  robustctl stream delete orders", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sc, err := e.streams(cmd, false)
			if err != nil {
				return err
			}
			ctx, cancel := e.ctx(cmd)
			defer cancel()
			n, err := sc.DeleteStream(ctx, args[0])
			if err != nil {
				return err
			}
			return done(e, fmt.Sprintf("deleted stream %s (%d partitions)", args[0], n))
		},
	}
	for _, sub := range []*cobra.Command{create, describeCmd, list, del} {
		addTenantFlag(sub, "default", "the stream's tenant")
	}
	c.AddCommand(create, describeCmd, list, del)
	return c
}
